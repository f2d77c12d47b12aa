//! Request translation details: refusals name the offending field, options and parameter
//! mappings, pass-through, and the error bodies in each client's shape.

mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::{
    request, response, Dialect, Endpoint, Options, Reply, TranslateError, Upstream,
};
use translate_support::json;
use Dialect::{Anthropic, Gemini, OpenAi};

fn up(
    client: Dialect,
    provider: Dialect,
    body: &Value,
    model: &str,
) -> Result<Upstream, TranslateError> {
    let bytes = serde_json::to_vec(body).expect("serialisable");
    request(
        Endpoint::Chat,
        client,
        provider,
        &bytes,
        model,
        &Options::default(),
    )
}

fn sent(client: Dialect, provider: Dialect, body: &Value, model: &str) -> Value {
    json(
        &up(client, provider, body, model)
            .unwrap_or_else(|e| panic!("refused: {e}"))
            .body,
    )
}

/// The `param` of the refusal.
fn param(client: Dialect, provider: Dialect, body: &Value) -> String {
    let e = up(client, provider, body, "m").expect_err("must be refused");
    assert_eq!(e.status, 400);
    assert!(
        e.message.starts_with(e.param.as_deref().unwrap_or("")),
        "{}",
        e.message
    );
    e.param.unwrap_or_default()
}

fn user(content: Value) -> Value {
    json!({"messages": [{"role": "user", "content": content}]})
}

#[test]
fn bad_bodies_are_refused_with_the_client_shape() {
    let e = request(
        Endpoint::Chat,
        OpenAi,
        Anthropic,
        b"{\"messages\": [",
        "m",
        &Options::default(),
    )
    .expect_err("invalid JSON");
    assert_eq!((e.status, e.param.as_deref()), (400, None));
    assert!(e.message.starts_with("the request body is not valid JSON"));
    let body = json(&e.body(OpenAi));
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        (&body["error"]["param"], &body["error"]["code"]),
        (&Value::Null, &Value::Null)
    );
    let body = json(&e.body(Anthropic));
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": e.message}})
    );
    let body = json(&e.body(Gemini));
    assert_eq!(
        (&body["error"]["code"], &body["error"]["status"]),
        (&json!(400), &json!("INVALID_ARGUMENT"))
    );

    let e = request(
        Endpoint::Chat,
        OpenAi,
        Gemini,
        b"[1]",
        "m",
        &Options::default(),
    )
    .expect_err("array");
    assert_eq!(e.message, "the request body must be a JSON object");
}

#[test]
fn openai_fields_are_type_checked_with_their_path() {
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "messages"),
        (json!({"messages": []}), "messages"),
        (json!({"messages": "hi"}), "messages"),
        (json!({"messages": [5]}), "messages[0]"),
        (json!({"messages": [{"content": "x"}]}), "messages[0].role"),
        (
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (user(json!(5)), "messages[0].content"),
        (
            user(json!([{"text": "no type"}])),
            "messages[0].content[0].type",
        ),
        (
            user(json!([{"type": "video", "video": {}}])),
            "messages[0].content[0].type",
        ),
        (
            user(json!([{"type": "text", "text": 3}])),
            "messages[0].content[0].text",
        ),
        (
            user(json!([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}])),
            "messages[0].content[0].image_url.url",
        ),
        (
            user(json!([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])),
            "messages[0].content[0].image_url.url",
        ),
        (
            user(json!([{"type": "image_url"}])),
            "messages[0].content[0].image_url",
        ),
        (
            user(json!([{"type": "file", "file": {"file_id": "file-abc"}}])),
            "messages[0].content[0].file.file_id",
        ),
        (
            json!({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"messages": [{"role": "tool", "content": "r"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]}),
            "messages[0].tool_calls[0].function",
        ),
        (
            json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}),
            "messages[0].role",
        ),
    ];
    let extra: Vec<(&str, Value, &str)> = vec![
        ("temperature", json!("hot"), "temperature"),
        ("top_p", json!([]), "top_p"),
        ("max_tokens", json!(-1), "max_tokens"),
        ("max_tokens", json!(1e20), "max_tokens"),
        ("max_completion_tokens", json!(1.5), "max_completion_tokens"),
        ("stop", json!([1]), "stop[0]"),
        ("stop", json!(7), "stop"),
        ("n", json!(0), "n"),
        ("stream", json!("yes"), "stream"),
        (
            "stream_options",
            json!({"include_usage": "yes"}),
            "stream_options.include_usage",
        ),
        ("tools", json!({}), "tools"),
        ("tools", json!([{"type": "function"}]), "tools[0].function"),
        (
            "tools",
            json!([{"type": "function", "function": {"name": 5}}]),
            "tools[0].function.name",
        ),
        (
            "tools",
            json!([{"type": "custom", "custom": {"name": "x"}}]),
            "tools[0].type",
        ),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
            "tools[0].function.parameters",
        ),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "json_response"}}]),
            "tools[0].function.name",
        ),
        ("tool_choice", json!("sometimes"), "tool_choice"),
        (
            "tool_choice",
            json!({"type": "function"}),
            "tool_choice.function",
        ),
        (
            "tool_choice",
            json!({"type": "allowed_tools"}),
            "tool_choice.type",
        ),
        (
            "response_format",
            json!({"type": "xml"}),
            "response_format.type",
        ),
        (
            "response_format",
            json!({"type": "json_schema"}),
            "response_format.json_schema",
        ),
        (
            "response_format",
            json!({"type": "json_schema", "json_schema": {"schema": {}}}),
            "response_format.json_schema.name",
        ),
        ("user", json!(42), "user"),
        ("parallel_tool_calls", json!(1), "parallel_tool_calls"),
        ("seed", json!("s"), "seed"),
    ];
    for provider in [Anthropic, Gemini] {
        for (body, want) in &cases {
            assert_eq!(param(OpenAi, provider, body), *want, "{provider:?} {body}");
        }
        for (k, v, want) in &extra {
            let mut body = user(json!("hi"));
            body[*k] = v.clone();
            assert_eq!(
                param(OpenAi, provider, &body),
                *want,
                "{provider:?} {k}={v}"
            );
        }
    }
}

#[test]
fn nulls_read_as_absent() {
    let body = json!({"messages": [{"role": "user", "content": "hi", "name": null}], "temperature": null,
        "max_tokens": null, "stop": null, "tools": null, "tool_choice": null, "n": null,
        "response_format": null, "stream_options": null, "user": null});
    assert_eq!(
        sent(OpenAi, Anthropic, &body, "c"),
        json!({"model": "c", "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}]})
    );
    assert_eq!(
        sent(OpenAi, Gemini, &body, "g"),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn anthropic_max_tokens_and_n() {
    let mut body = user(json!("hi"));
    let opts = Options {
        default_max_tokens: 1000,
        ..Options::default()
    };
    let bytes = serde_json::to_vec(&body).expect("serialisable");
    let u = request(Endpoint::Chat, OpenAi, Anthropic, &bytes, "c", &opts).expect("ok");
    assert_eq!(json(&u.body)["max_tokens"], 1000);
    body["max_tokens"] = json!(50);
    body["max_completion_tokens"] = json!(60);
    assert_eq!(sent(OpenAi, Anthropic, &body, "c")["max_tokens"], 60);
    body["max_completion_tokens"] = json!(0);
    assert_eq!(param(OpenAi, Anthropic, &body), "max_completion_tokens");
    assert_eq!(param(OpenAi, Gemini, &body), "max_completion_tokens");

    // Anthropic clients' limit, for providers that want `max_completion_tokens`.
    let anthropic = br#"{"max_tokens": 300, "messages": [{"role": "user", "content": "hi"}]}"#;
    for (flag, field) in [(false, "max_tokens"), (true, "max_completion_tokens")] {
        let opts = Options {
            max_completion_tokens: flag,
            ..Options::default()
        };
        let u = request(Endpoint::Chat, Anthropic, OpenAi, anthropic, "gpt-5", &opts).expect("ok");
        let b = json(&u.body);
        assert_eq!(b[field], 300);
        assert_eq!(b.as_object().map(|o| o.len()), Some(3));
    }

    let mut body = user(json!("hi"));
    body["n"] = json!(1);
    assert!(up(OpenAi, Anthropic, &body, "c").is_ok());
    body["n"] = json!(3);
    let e = up(OpenAi, Anthropic, &body, "c").expect_err("n > 1");
    assert_eq!(e.param.as_deref(), Some("n"));
    assert_eq!(
        e.message,
        "n: Anthropic answers with one message; n must be 1"
    );
    assert_eq!(
        sent(OpenAi, Gemini, &body, "g")["generationConfig"]["candidateCount"],
        3
    );
}

#[test]
fn sampling_parameters() {
    let mut body = user(json!("hi"));
    body["temperature"] = json!(1.7);
    body["seed"] = json!(7);
    body["presence_penalty"] = json!(0.5);
    body["frequency_penalty"] = json!(-0.5);
    body["stop"] = json!("###");
    let a = sent(OpenAi, Anthropic, &body, "c");
    assert_eq!(
        (&a["temperature"], &a["stop_sequences"]),
        (&json!(1.0), &json!(["###"]))
    );
    assert!(a.get("seed").is_none() && a.get("presence_penalty").is_none());
    let g = sent(OpenAi, Gemini, &body, "g");
    assert_eq!(
        g["generationConfig"],
        json!({"stopSequences": ["###"], "temperature": 1.7, "seed": 7,
        "presencePenalty": 0.5, "frequencyPenalty": -0.5})
    );
}

#[test]
fn stop_sequences_providers_refuse_are_left_out() {
    let mut body = user(json!("hi"));
    body["stop"] = json!(["", " ", "\n\n", "END", " x "]);
    assert_eq!(
        sent(OpenAi, Anthropic, &body, "c")["stop_sequences"],
        json!(["END", " x "])
    );
    assert_eq!(
        sent(OpenAi, Gemini, &body, "g")["generationConfig"]["stopSequences"],
        json!([" ", "\n\n", "END", " x "])
    );
    // Nothing left: no stop_sequences at all (an empty list is refused too).
    body["stop"] = json!(["\n", ""]);
    assert!(sent(OpenAi, Anthropic, &body, "c")
        .get("stop_sequences")
        .is_none());
    body["stop"] = json!("");
    assert!(sent(OpenAi, Gemini, &body, "g")
        .get("generationConfig")
        .is_none_or(|c| c.get("stopSequences").is_none()));
}

#[test]
fn anthropic_gets_temperature_or_top_p_not_both() {
    let mut body = user(json!("hi"));
    body["temperature"] = json!(0.7);
    body["top_p"] = json!(1);
    let a = sent(OpenAi, Anthropic, &body, "c");
    assert_eq!((&a["temperature"], a.get("top_p")), (&json!(0.7), None));
    let mut body = user(json!("hi"));
    body["top_p"] = json!(0.8);
    let a = sent(OpenAi, Anthropic, &body, "c");
    assert_eq!((a.get("temperature"), &a["top_p"]), (None, &json!(0.8)));
    // Gemini takes both.
    body["temperature"] = json!(0.7);
    let g = sent(OpenAi, Gemini, &body, "g");
    assert_eq!(
        (
            &g["generationConfig"]["temperature"],
            &g["generationConfig"]["topP"]
        ),
        (&json!(0.7), &json!(0.8))
    );
}

#[test]
fn only_system_messages_are_refused_for_translated_providers() {
    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Answer in French."}]});
    for to in [Anthropic, Gemini] {
        let e = up(OpenAi, to, &body, "m").expect_err("must be refused");
        assert_eq!(
            (e.status, e.param.as_deref()),
            (400, Some("messages")),
            "{to:?}"
        );
        assert!(e.message.contains("user message"), "{}", e.message);
    }
}

#[test]
fn tool_choice_mappings() {
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                       {"type": "function", "function": {"name": "g"}}]);
    let with = |choice: Value, parallel: Option<bool>| {
        let mut b = user(json!("hi"));
        b["tools"] = tools.clone();
        if !choice.is_null() {
            b["tool_choice"] = choice;
        }
        if let Some(p) = parallel {
            b["parallel_tool_calls"] = json!(p);
        }
        b
    };
    let cases = [
        (
            json!("none"),
            None,
            json!({"type": "none"}),
            json!({"mode": "NONE"}),
        ),
        (
            json!("auto"),
            None,
            json!({"type": "auto"}),
            json!({"mode": "AUTO"}),
        ),
        (
            json!("required"),
            None,
            json!({"type": "any"}),
            json!({"mode": "ANY"}),
        ),
        (
            json!({"type": "function", "function": {"name": "g"}}),
            None,
            json!({"type": "tool", "name": "g"}),
            json!({"mode": "ANY", "allowedFunctionNames": ["g"]}),
        ),
        (
            json!("required"),
            Some(false),
            json!({"type": "any", "disable_parallel_tool_use": true}),
            json!({"mode": "ANY"}),
        ),
        (
            Value::Null,
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
            Value::Null,
        ),
    ];
    for (choice, parallel, anthropic, gemini) in cases {
        let body = with(choice.clone(), parallel);
        assert_eq!(
            sent(OpenAi, Anthropic, &body, "c")["tool_choice"],
            anthropic,
            "{choice}"
        );
        let g = sent(OpenAi, Gemini, &body, "g");
        let got = g
            .pointer("/toolConfig/functionCallingConfig")
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(got, gemini, "{choice}");
    }
    // No tools: no tool_choice at all.
    let mut body = user(json!("hi"));
    body["tool_choice"] = json!("auto");
    assert!(sent(OpenAi, Anthropic, &body, "c")
        .get("tool_choice")
        .is_none());
    // Functions without arguments have no Gemini `parameters`; Anthropic gets an empty object schema.
    let g = sent(OpenAi, Gemini, &with(Value::Null, None), "g");
    assert_eq!(
        g["tools"][0]["functionDeclarations"][1],
        json!({"name": "g"})
    );
    let a = sent(OpenAi, Anthropic, &with(Value::Null, None), "c");
    assert_eq!(
        a["tools"][1],
        json!({"name": "g", "input_schema": {"type": "object", "properties": {}}})
    );
}

#[test]
fn anthropic_tool_ids_are_made_valid_consistently() {
    let body = json!({"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call:1/x", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "call:1/x", "content": ""}]});
    let a = sent(OpenAi, Anthropic, &body, "c");
    assert_eq!(
        a["messages"][1]["content"],
        json!([{"type": "tool_use", "id": "call_1_x", "name": "f", "input": {}}])
    );
    assert_eq!(
        a["messages"][2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "call_1_x"}])
    );
}

#[test]
fn json_schema_without_an_object_root_uses_an_instruction() {
    let mut body = user(json!("List three colors"));
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "colors", "schema": {"type": "array", "items": {"type": "string"}}}});
    let a = sent(OpenAi, Anthropic, &body, "c");
    assert!(a.get("tools").is_none());
    assert_eq!(a["system"], "Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else: no prose, no code fences.\n{\"type\":\"array\",\"items\":{\"type\":\"string\"}}");
    let g = sent(OpenAi, Gemini, &body, "g");
    assert_eq!(
        g["generationConfig"]["responseSchema"],
        json!({"type": "ARRAY", "items": {"type": "STRING"}})
    );
}

#[test]
fn files_and_pdfs() {
    let pdf = user(
        json!([{"type": "file", "file": {"filename": "paper.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}}]),
    );
    let a = sent(OpenAi, Anthropic, &pdf, "c");
    assert_eq!(
        a["messages"][0]["content"],
        json!([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}}])
    );
    let g = sent(OpenAi, Gemini, &pdf, "g");
    assert_eq!(
        g["contents"][0]["parts"],
        json!([{"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQK"}}])
    );
    let txt =
        user(json!([{"type": "file", "file": {"filename": "notes.txt", "file_data": "aGVsbG8="}}]));
    assert_eq!(
        param(OpenAi, Anthropic, &txt),
        "messages[0].content[0].file"
    );
    assert_eq!(
        sent(OpenAi, Gemini, &txt, "g")["contents"][0]["parts"][0]["inlineData"]["mimeType"],
        "text/plain"
    );
}

#[test]
fn gemini_model_names_and_tool_names() {
    let body = user(json!("hi"));
    let u = up(OpenAi, Gemini, &body, "models/gemini-2.5-pro").expect("ok");
    assert_eq!(u.path, "v1beta/models/gemini-2.5-pro:generateContent");
    for bad in ["", "a/b", "x?alt=json", "../etc", "gemini 2"] {
        let e = up(OpenAi, Gemini, &body, bad).expect_err(bad);
        assert_eq!(e.param.as_deref(), Some("model"), "{bad}");
    }
    let orphan = json!({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_9", "content": "r"}]});
    assert_eq!(param(OpenAi, Gemini, &orphan), "messages[1].tool_call_id");
    // A tool message's own name is enough.
    let named = json!({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_9", "name": "lookup", "content": "[1,2]"}]});
    assert_eq!(
        sent(OpenAi, Gemini, &named, "g")["contents"][0]["parts"][1],
        json!({"functionResponse": {"name": "lookup", "response": {"result": [1, 2]}}})
    );
}

#[test]
fn anthropic_client_fields_are_checked() {
    let base = |messages: Value| json!({"model": "x", "max_tokens": 10, "messages": messages});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"max_tokens": 10}), "messages"),
        (base(json!([])), "messages"),
        (
            base(json!([{"role": "system", "content": "x"}])),
            "messages[0].role",
        ),
        (base(json!([{"role": "user"}])), "messages[0].content"),
        (
            base(json!([{"role": "user", "content": [{"type": "search_result"}]}])),
            "messages[0].content[0].type",
        ),
        (
            base(json!([{"role": "user", "content": [{"type": "text"}]}])),
            "messages[0].content[0].text",
        ),
        (
            base(
                json!([{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}]),
            ),
            "messages[0].content[0].source.type",
        ),
        (
            base(json!([{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}])),
            "messages[0].content[0].tool_use_id",
        ),
        (
            base(
                json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}]}]),
            ),
            "messages[0].content[0].content[0].type",
        ),
        (
            base(
                json!([{"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}]),
            ),
            "messages[0].content[0].id",
        ),
        (
            base(
                json!([{"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "web_search"}]}]),
            ),
            "messages[0].content[0].type",
        ),
    ];
    for (body, want) in &cases {
        for provider in [OpenAi, Gemini] {
            assert_eq!(
                param(Anthropic, provider, body),
                *want,
                "{provider:?} {body}"
            );
        }
    }
    let mut body = base(json!([{"role": "user", "content": "hi"}]));
    body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]);
    assert_eq!(param(Anthropic, OpenAi, &body), "tools[0].type");
    body["tools"] = json!([{"name": "f"}]);
    assert_eq!(param(Anthropic, OpenAi, &body), "tools[0].input_schema");
    body["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    body["tool_choice"] = json!({"type": "sometimes"});
    assert_eq!(param(Anthropic, OpenAi, &body), "tool_choice.type");
    body["tool_choice"] = json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true});
    let o = sent(Anthropic, OpenAi, &body, "grok-4");
    assert_eq!(
        (&o["tool_choice"], &o["parallel_tool_calls"]),
        (
            &json!({"type": "function", "function": {"name": "f"}}),
            &json!(false)
        )
    );
    body["output_format"] = json!({"type": "text"});
    assert_eq!(param(Anthropic, OpenAi, &body), "output_format.type");
    body["max_tokens"] = json!("many");
    assert_eq!(param(Anthropic, OpenAi, &body), "max_tokens");
}

#[test]
fn anthropic_client_tool_result_images_join_the_user_turn() {
    let body = json!({"max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "text", "text": "Here is the chart"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}}]}]});
    assert_eq!(
        sent(Anthropic, OpenAi, &body, "grok-4")["messages"],
        json!([
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Here is the chart"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "plain notes"}]}])
    );
}

#[test]
fn same_dialect_is_passed_through_with_the_model_rewritten() {
    let body = br#"{"model":"grok/grok-4", "messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;
    let u = request(
        Endpoint::Chat,
        OpenAi,
        OpenAi,
        body,
        "grok-4",
        &Options::default(),
    )
    .expect("ok");
    assert_eq!(&u.body[..], br#"{"model":"grok-4", "messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#);
    assert_eq!(
        (u.path.as_str(), u.stream, u.include_usage),
        ("chat/completions", true, true)
    );
    let u = request(
        Endpoint::Chat,
        Anthropic,
        Anthropic,
        br#"{"model":"anthropic/claude-x","max_tokens":5,"messages":[]}"#,
        "claude-x",
        &Options::default(),
    )
    .expect("ok");
    assert_eq!(
        (&u.body[..], u.path.as_str()),
        (
            &br#"{"model":"claude-x","max_tokens":5,"messages":[]}"#[..],
            "v1/messages"
        )
    );
    let u = request(
        Endpoint::Embeddings,
        OpenAi,
        OpenAi,
        br#"{"model":"openai/text-embedding-3-small","input":"x"}"#,
        "text-embedding-3-small",
        &Options::default(),
    )
    .expect("ok");
    assert_eq!(u.path, "embeddings");
    let e = request(
        Endpoint::Chat,
        OpenAi,
        OpenAi,
        br#"{"model":"x","stream":"yes"}"#,
        "x",
        &Options::default(),
    )
    .expect_err("bad stream");
    assert_eq!(e.param.as_deref(), Some("stream"));

    let answer = br#"{"id":"chatcmpl-1","choices":[]}"#;
    let (s, b) = response(
        Endpoint::Chat,
        OpenAi,
        OpenAi,
        200,
        answer,
        "x",
        Reply::default(),
    );
    assert_eq!((s, &b[..]), (200, &answer[..]));
    let (s, b) = response(
        Endpoint::Chat,
        Anthropic,
        Anthropic,
        529,
        b"{}",
        "x",
        Reply::default(),
    );
    assert_eq!((s, &b[..]), (529, &b"{}"[..]));
}

#[test]
fn unsupported_combinations_are_refused() {
    for (endpoint, client, provider) in [
        (Endpoint::Chat, Gemini, OpenAi),
        (Endpoint::Chat, Gemini, Gemini),
        (Endpoint::Embeddings, Anthropic, OpenAi),
        (Endpoint::Embeddings, OpenAi, Anthropic),
        (Endpoint::Embeddings, Anthropic, Gemini),
    ] {
        let e = request(
            endpoint,
            client,
            provider,
            b"{\"model\":\"a\",\"input\":\"x\"}",
            "a",
            &Options::default(),
        )
        .expect_err("unsupported");
        assert_eq!(e.status, 400);
        if client != provider {
            let (s, _) = response(
                endpoint,
                client,
                provider,
                200,
                b"{}",
                "a",
                Reply::default(),
            );
            assert_eq!(s, 400);
        }
    }
}

#[test]
fn unreadable_success_answers_become_502() {
    for (client, provider, body) in [
        (OpenAi, Anthropic, &b"<html>oops</html>"[..]),
        (OpenAi, Anthropic, b"{\"type\":\"message\"}"),
        (OpenAi, Gemini, b"[]"),
        (
            OpenAi,
            Gemini,
            b"{\"error\":{\"code\":500,\"message\":\"x\"}}",
        ),
        (Anthropic, OpenAi, b"{\"choices\":[]}"),
        (Anthropic, Gemini, b"not json"),
    ] {
        let (s, b) = response(
            Endpoint::Chat,
            client,
            provider,
            200,
            body,
            "m",
            Reply::default(),
        );
        assert_eq!(s, 502, "{client:?} {provider:?}");
        let b = json(&b);
        // Both error shapes keep the message at `error.message`.
        if client == Anthropic {
            assert_eq!(b["type"], "error");
        }
        assert!(b["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("the provider's answer could not be translated"));
    }
}

#[test]
fn a_system_messages_text_parts_stay_apart() {
    let body = json!({"messages": [
        {"role": "system", "content": [{"type": "text", "text": "You are terse."},
                                       {"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"}
    ]});
    let a = sent(OpenAi, Anthropic, &body, "claude-sonnet-4-5");
    assert_eq!(a["system"], "You are terse.\n\nAnswer in French.");
    let g = sent(OpenAi, Gemini, &body, "gemini-2.5-flash");
    let parts = g["systemInstruction"]["parts"].as_array().expect("parts");
    let text: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(text.concat(), "You are terse.\n\nAnswer in French.");
}

#[test]
fn an_empty_last_user_message_is_refused_not_dropped() {
    for provider in [Anthropic, Gemini] {
        let body = json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": ""}
        ]});
        assert_eq!(param(OpenAi, provider, &body), "messages[2].content");
        let parts =
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]});
        assert_eq!(param(OpenAi, provider, &parts), "messages[0].content");
        // An empty message before others is still left out.
        let earlier = json!({"messages": [
            {"role": "user", "content": ""},
            {"role": "user", "content": "hello"}
        ]});
        assert!(up(OpenAi, provider, &earlier, "m").is_ok());
    }
}

#[test]
fn an_openai_refusal_becomes_anthropic_text_with_stop_reason_refusal() {
    let answer = json!({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
        "finish_reason": "stop"}]});
    let bytes = serde_json::to_vec(&answer).expect("serialisable");
    let (status, body) = response(
        Endpoint::Chat,
        Anthropic,
        OpenAi,
        200,
        &bytes,
        "gpt-4o",
        Reply::default(),
    );
    assert_eq!(status, 200);
    let m = json(&body);
    assert_eq!(m["stop_reason"], "refusal");
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "I can't help with that."}])
    );
}

#[test]
fn top_k_and_reasoning_effort_reach_their_native_fields() {
    let body = |effort: &str| {
        json!({"messages": [{"role": "user", "content": "Hi"}], "top_k": 40,
               "reasoning_effort": effort})
    };
    let a = sent(OpenAi, Anthropic, &body("none"), "claude-sonnet-4-5");
    assert_eq!(a["top_k"], 40);
    assert!(a.get("thinking").is_none());
    let a = sent(OpenAi, Anthropic, &body("high"), "claude-sonnet-4-5");
    assert_eq!(
        a["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert!(a.get("top_k").is_none(), "thinking takes no top_k");
    let g = |effort: &str, model: &str| sent(OpenAi, Gemini, &body(effort), model);
    let c = &g("medium", "gemini-2.5-flash")["generationConfig"];
    assert_eq!(c["topK"], 40);
    assert_eq!(
        c["thinkingConfig"],
        json!({"thinkingBudget": 8192, "includeThoughts": true})
    );
    assert_eq!(
        g("none", "gemini-2.5-flash")["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 0})
    );
    assert_eq!(
        g("high", "gemini-3-pro-preview")["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "high", "includeThoughts": true})
    );
    assert_eq!(
        g("none", "gemini-3-flash-preview")["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "minimal"})
    );
    // Each Gemini 3 model gets a level it takes: Pro only low and high, Flash up to high.
    let level = |effort: &str, model: &str| {
        g(effort, model)["generationConfig"]["thinkingConfig"]["thinkingLevel"].clone()
    };
    for (effort, pro, flash) in [
        ("none", "low", "minimal"),
        ("minimal", "low", "minimal"),
        ("low", "low", "low"),
        ("medium", "high", "medium"),
        ("high", "high", "high"),
        ("xhigh", "high", "high"),
    ] {
        assert_eq!(level(effort, "gemini-3-pro-preview"), pro, "{effort}");
        assert_eq!(level(effort, "gemini-3-flash-preview"), flash, "{effort}");
    }
    // Gemini 2.5 Pro cannot stop thinking: its least budget.
    assert_eq!(
        g("none", "gemini-2.5-pro")["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 128})
    );
    let plain = sent(
        OpenAi,
        Gemini,
        &json!({"messages": [{"role": "user", "content": "Hi"}]}),
        "gemini-2.5-flash",
    );
    assert!(plain.get("generationConfig").is_none(), "{plain}");
    assert_eq!(
        param(
            OpenAi,
            Gemini,
            &json!({"messages": [{"role": "user", "content": "Hi"}], "top_k": "40"})
        ),
        "top_k"
    );
}

//! Nothing lost without a word: what the client asked for reaches the provider or is refused
//! (400 naming the field), and what the provider said reaches the client: tool-call turns
//! whatever their finish text, Gemini's log probabilities, Gemini's failures as errors, a
//! PDF's name.

mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::{response, Dialect, Endpoint, Reply, StreamTranslator};
use translate_support::*;
use Dialect::{Anthropic, Gemini, OpenAi};

/// The model requests name (Gemini's, so every provider takes it).
const MODEL: &str = "gemini-2.5-flash";

/// The refusal's `param` (a 400 naming it).
fn refused_param(client: Dialect, provider: Dialect, body: &Value) -> String {
    refused(client, provider, body, MODEL).0
}

/// A whole answer: (status, body).
fn answer(client: Dialect, provider: Dialect, body: &Value, reply: Reply) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).expect("serialisable");
    let (status, out) = response(Endpoint::Chat, client, provider, 200, &bytes, "m", reply);
    (status, json(&out))
}

fn hi() -> Value {
    json!([{"role": "user", "content": "Weather in Paris?"}])
}

// F1 --------------------------------------------------------------------------------------

fn openai_answer(finish: &str, calls: bool) -> Value {
    let mut message = json!({"role": "assistant", "content": ""});
    if calls {
        message["tool_calls"] = json!([{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]);
    }
    json!({"id": "x1", "object": "chat.completion", "model": "grok-3",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})
}

#[test]
fn tool_use_blocks_make_stop_reason_tool_use_whatever_the_finish_text() {
    for (finish, calls, want) in [
        ("tool_calls", true, "tool_use"),
        // Older xAI, Google's compatible endpoint and self-hosted servers.
        ("stop", true, "tool_use"),
        ("", true, "tool_use"),
        ("content_filter", true, "tool_use"),
        // The calls may be cut short: the length limit is what the client must hear.
        ("length", true, "max_tokens"),
        ("stop", false, "end_turn"),
        ("length", false, "max_tokens"),
    ] {
        let (status, m) = answer(
            Anthropic,
            OpenAi,
            &openai_answer(finish, calls),
            Reply::default(),
        );
        assert_eq!(status, 200);
        assert_eq!(m["stop_reason"], want, "finish {finish:?}, calls {calls}");
    }
}

/// The `stop_reason` of an Anthropic client's stream translated from OpenAI chunks.
fn streamed_stop_reason(finish: &str, calls: bool) -> String {
    let chunk = |delta: Value, finish: Value| json!({"id": "c1", "model": "grok-3", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if calls {
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"location\":"}}]}),
            Value::Null,
        ));
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            Value::Null,
        ));
    } else {
        chunks.push(chunk(json!({"content": "Sunny."}), Value::Null));
    }
    chunks.push(chunk(json!({}), json!(finish)));
    let input = openai_sse(&chunks);
    let events = anthropic_events(&events(&run_stream(
        Anthropic,
        OpenAi,
        "m",
        false,
        input.as_bytes(),
        &[],
    )));
    let delta = events
        .iter()
        .find(|e| e.0 == "message_delta")
        .expect("message_delta");
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
    delta.1["delta"]["stop_reason"]
        .as_str()
        .expect("stop_reason")
        .to_owned()
}

#[test]
fn a_streamed_tool_call_turn_stops_with_tool_use_whatever_the_finish_text() {
    assert_eq!(streamed_stop_reason("tool_calls", true), "tool_use");
    assert_eq!(streamed_stop_reason("stop", true), "tool_use");
    assert_eq!(streamed_stop_reason("", true), "tool_use");
    assert_eq!(streamed_stop_reason("length", true), "max_tokens");
    assert_eq!(streamed_stop_reason("stop", false), "end_turn");
    assert_eq!(streamed_stop_reason("length", false), "max_tokens");
}

// F2 --------------------------------------------------------------------------------------

#[test]
fn fields_that_would_change_the_answer_are_refused_not_dropped() {
    let tools = json!([{"name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}]);
    for provider in [Anthropic, Gemini] {
        let with = |k: &str, v: Value| {
            let mut b = json!({"messages": hi()});
            b[k] = v;
            b
        };
        // Legacy function calling, as the `role: "function"` message already is.
        assert_eq!(
            refused_param(OpenAi, provider, &with("functions", tools.clone())),
            "functions"
        );
        // An empty list asks for nothing: not refused.
        upstream_of(OpenAi, provider, &with("functions", json!([])), MODEL);
        assert_eq!(
            refused_param(
                OpenAi,
                provider,
                &with("function_call", json!({"name": "get_weather"}))
            ),
            "function_call"
        );
        let history = json!({"messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null,
             "function_call": {"name": "get_weather", "arguments": "{}"}},
            {"role": "user", "content": "Well?"}]});
        assert_eq!(
            refused_param(OpenAi, provider, &history),
            "messages[1].function_call"
        );
        let role = json!({"messages": [{"role": "function", "name": "f", "content": "1"}]});
        assert_eq!(refused_param(OpenAi, provider, &role), "messages[0].role");
        // Audio out.
        assert_eq!(
            refused_param(
                OpenAi,
                provider,
                &with("modalities", json!(["text", "audio"]))
            ),
            "modalities"
        );
        upstream_of(
            OpenAi,
            provider,
            &with("modalities", json!(["text"])),
            MODEL,
        );
        // Logit bias, unless empty (it then asks for nothing).
        assert_eq!(
            refused_param(
                OpenAi,
                provider,
                &with("logit_bias", json!({"50256": -100}))
            ),
            "logit_bias"
        );
        upstream_of(OpenAi, provider, &with("logit_bias", json!({})), MODEL);
        // `top_logprobs` without `logprobs`, as OpenAI itself refuses it.
        assert_eq!(
            refused_param(OpenAi, provider, &with("top_logprobs", json!(3))),
            "top_logprobs"
        );
        // Fields that change no answer stay ignored.
        let quiet = json!({"messages": hi(), "store": true, "service_tier": "auto",
            "metadata": {"k": "v"}, "user": "u1", "logprobs": false,
            "prediction": {"type": "content", "content": "x"}, "functions": null, "function_call": null});
        upstream_of(OpenAi, provider, &quiet, MODEL);
    }
    // Anthropic reports no log probabilities.
    let logprobs = json!({"messages": hi(), "logprobs": true, "top_logprobs": 2});
    assert_eq!(refused_param(OpenAi, Anthropic, &logprobs), "logprobs");
    // The error body names the field, as for `n > 1`.
    let (_, body) = refused(OpenAi, Anthropic, &logprobs, MODEL);
    assert_eq!(
        (&body["error"]["param"], &body["error"]["type"]),
        (&json!("logprobs"), &json!("invalid_request_error"))
    );
}

#[test]
fn gemini_log_probabilities_are_asked_for_and_come_back_in_openai_form() {
    let body = json!({"messages": hi(), "logprobs": true, "top_logprobs": 1});
    let u = upstream_of(OpenAi, Gemini, &body, MODEL);
    let config = &json(&u.body)["generationConfig"];
    assert_eq!(
        (&config["responseLogprobs"], &config["logprobs"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(u.reply.top_logprobs, 1);
    // Without the ask, nothing is asked of Gemini.
    let plain = req_value(
        OpenAi,
        Gemini,
        &json!({"messages": hi(), "logprobs": false}),
        MODEL,
    );
    assert!(plain.get("generationConfig").is_none(), "{plain}");
    // A stream would lose them: refused.
    let streamed = json!({"messages": hi(), "logprobs": true, "stream": true});
    assert_eq!(refused_param(OpenAi, Gemini, &streamed), "logprobs");

    let gemini = json!({"candidates": [{"index": 0, "finishReason": "STOP",
        "content": {"role": "model", "parts": [{"text": "Hé!"}]},
        "logprobsResult": {
            "chosenCandidates": [
                {"token": "Hé", "tokenId": 7, "logProbability": -0.25},
                // A certain token: Google's JSON leaves the zero out.
                {"token": "!", "tokenId": 8}],
            "topCandidates": [
                {"candidates": [{"token": "Hé", "logProbability": -0.25},
                                {"token": "Hi", "logProbability": -1.5}]},
                {"candidates": [{"token": "!", "logProbability": 0.0},
                                {"token": ".", "logProbability": -9.0}]}]}}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
        "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
    let (status, v) = answer(OpenAi, Gemini, &gemini, u.reply);
    assert_eq!(status, 200);
    assert_eq!(
        v["choices"][0]["logprobs"],
        json!({"content": [
            {"token": "Hé", "logprob": -0.25, "bytes": [72, 195, 169],
             "top_logprobs": [{"token": "Hé", "logprob": -0.25, "bytes": [72, 195, 169]}]},
            {"token": "!", "logprob": 0.0, "bytes": [33],
             "top_logprobs": [{"token": "!", "logprob": 0.0, "bytes": [33]}]}],
            "refusal": null})
    );
    assert_eq!(v["choices"][0]["message"]["content"], "Hé!");
    // No `top_logprobs` asked: none given, the chosen tokens still are.
    let u = upstream_of(
        OpenAi,
        Gemini,
        &json!({"messages": hi(), "logprobs": true}),
        MODEL,
    );
    let (_, v) = answer(OpenAi, Gemini, &gemini, u.reply);
    assert_eq!(
        v["choices"][0]["logprobs"]["content"][1]["top_logprobs"],
        json!([])
    );
    assert_eq!(v["choices"][0]["logprobs"]["content"][1]["token"], "!");
}

// F4 --------------------------------------------------------------------------------------

#[test]
fn a_pdf_document_sent_as_an_openai_file_carries_a_filename() {
    let pdf = |title: Option<&str>| {
        let mut block = json!({"type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}});
        if let Some(t) = title {
            block["title"] = json!(t);
        }
        json!({"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user",
            "content": [block, {"type": "text", "text": "Summarize."}]}]})
    };
    let part = |title| {
        req_value(Anthropic, OpenAi, &pdf(title), MODEL)["messages"][0]["content"][0].clone()
    };
    assert_eq!(
        part(Some("report.pdf")),
        json!({"type": "file", "file": {"filename": "report.pdf",
            "file_data": "data:application/pdf;base64,JVBERi0x"}})
    );
    assert_eq!(part(None)["file"]["filename"], "document.pdf");
    assert_eq!(part(Some(" "))["file"]["filename"], "document.pdf");
}

// F5 --------------------------------------------------------------------------------------

fn gemini_failure(reason: &str, parts: Value) -> Value {
    json!({"candidates": [{"index": 0, "content": {"role": "model", "parts": parts},
        "finishReason": reason,
        "finishMessage": "Malformed function call: print(default_api.get_weather(location=Paris)"}],
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash", "responseId": "r1"})
}

const FAILURES: [&str; 3] = [
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
];

#[test]
fn a_gemini_answer_that_failed_at_the_provider_is_a_502_in_the_clients_shape() {
    for reason in FAILURES {
        let body = gemini_failure(reason, json!([]));
        let (status, v) = answer(OpenAi, Gemini, &body, Reply::default());
        assert_eq!(status, 502, "{reason}");
        assert_eq!(v["error"]["code"], reason);
        assert_eq!(v["error"]["type"], "server_error");
        let message = v["error"]["message"].as_str().expect("message");
        assert!(message.contains(reason), "{message}");
        assert!(
            message.contains("print(default_api.get_weather"),
            "{message}"
        );

        let (status, v) = answer(Anthropic, Gemini, &body, Reply::default());
        assert_eq!(status, 502);
        assert_eq!(
            (&v["type"], &v["error"]["type"]),
            (&json!("error"), &json!("api_error"))
        );
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(reason)));
    }
    // Only thoughts: still nothing usable.
    let thoughts = gemini_failure(
        "MALFORMED_FUNCTION_CALL",
        json!([{"text": "Let me call it", "thought": true}]),
    );
    assert_eq!(answer(OpenAi, Gemini, &thoughts, Reply::default()).0, 502);
    // With text in it, the candidate is an answer.
    let text = gemini_failure("MALFORMED_FUNCTION_CALL", json!([{"text": "Sunny."}]));
    let (status, v) = answer(OpenAi, Gemini, &text, Reply::default());
    assert_eq!(status, 200);
    assert_eq!(
        (
            &v["choices"][0]["finish_reason"],
            &v["choices"][0]["message"]["content"]
        ),
        (&json!("stop"), &json!("Sunny."))
    );
}

fn gemini_sse(events: &[Value]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

#[test]
fn a_gemini_stream_that_failed_at_the_provider_ends_with_the_streams_error_event() {
    for reason in FAILURES {
        let input = gemini_sse(&[gemini_failure(reason, json!([]))]);
        // OpenAI client: the error chunk, then `[DONE]`; no finish reason made up.
        let (chunks, done) = openai_chunks(&events(&run_stream(
            OpenAi,
            Gemini,
            "m",
            true,
            input.as_bytes(),
            &[],
        )));
        assert!(done);
        let last = chunks.last().expect("a chunk");
        assert_eq!(last["error"]["code"], reason, "{chunks:?}");
        assert!(last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("print(default_api.get_weather")));
        assert!(chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null()));
        let mut t = StreamTranslator::new(OpenAi, Gemini, "m", false, Reply::default());
        let _ = t.feed(input.as_bytes());
        let _ = t.finish();
        assert!(t.failed());

        // Anthropic client: an `error` event, no `message_delta`.
        let events = anthropic_events(&events(&run_stream(
            Anthropic,
            Gemini,
            "m",
            false,
            input.as_bytes(),
            &[],
        )));
        let (name, error) = events.last().expect("an event");
        assert_eq!(name, "error");
        assert!(error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(reason)));
        assert!(events.iter().all(|e| e.0 != "message_delta"));
    }
    // Text streamed before the reason: the answer stands, with its usual finish.
    let input = gemini_sse(&[
        json!({"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "Sunny."}]}}],
            "responseId": "r1"}),
        gemini_failure("MALFORMED_FUNCTION_CALL", json!([])),
    ]);
    let (chunks, done) = openai_chunks(&events(&run_stream(
        OpenAi,
        Gemini,
        "m",
        false,
        input.as_bytes(),
        &[],
    )));
    assert!(done);
    assert!(
        chunks.iter().all(|c| c.get("error").is_none()),
        "{chunks:?}"
    );
    assert_eq!(streamed_text(&chunks), "Sunny.");
    assert_eq!(
        chunks.last().expect("a chunk")["choices"][0]["finish_reason"],
        "stop"
    );
}

//! Hostile inputs of the size an attacker would send, from a client or from a provider: each
//! is refused with a clear error, or translated, in a fraction of a second, and an answer that
//! is not one of the provider's API never becomes an invented success.
#![allow(clippy::unwrap_used)]

mod translate_support;

use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use switchyard_providers::translate::{
    request, Dialect, Endpoint, Options, Reply, StreamTranslator, TranslateError,
};
use translate_support::{json, status_and_body};
use Dialect::{Anthropic, Gemini, OpenAi};

/// Well above what the bounded work takes in a debug build on a busy machine, and well below
/// what the unbounded work took (tens of seconds to hours).
const QUICK: Duration = Duration::from_secs(3);

fn translate(client: Dialect, body: &Value) -> (Result<Vec<u8>, TranslateError>, Duration) {
    let bytes = serde_json::to_vec(body).unwrap();
    let started = Instant::now();
    let got = request(
        Endpoint::Chat,
        client,
        Gemini,
        &bytes,
        "gemini-2.5-flash",
        &Options::default(),
    )
    .map(|up| up.body.to_vec());
    (got, started.elapsed())
}

/// `$defs` `a0` … `a{levels}`, each an `anyOf` of `fan_out` references to the next: the
/// audit's schema bomb (`schema_bomb.py`).
fn ref_bomb(levels: usize, fan_out: usize) -> Value {
    let mut defs = Map::new();
    for i in 0..levels {
        let next = json!({"$ref": format!("#/$defs/a{}", i + 1)});
        defs.insert(format!("a{i}"), json!({"anyOf": vec![next; fan_out]}));
    }
    defs.insert(format!("a{levels}"), json!({"type": "string"}));
    json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/a0"}}, "$defs": defs})
}

fn refused(got: Result<Vec<u8>, TranslateError>) -> TranslateError {
    let e = got.expect_err("must be refused");
    assert_eq!(e.status, 400);
    assert!(
        e.message.contains("too large once its $refs are expanded"),
        "{}",
        e.message
    );
    e
}

#[test]
fn a_ref_bomb_response_schema_is_refused_at_once() {
    // 1.6 KB of schema; expanded, 4^12 (16 million) copies of the last definition.
    let schema = ref_bomb(12, 4);
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "bomb", "schema": schema}}});
    assert!(body.to_string().len() < 2_000);
    let (got, took) = translate(OpenAi, &body);
    let e = refused(got);
    assert_eq!(
        e.param.as_deref(),
        Some("response_format.json_schema.schema")
    );
    assert!(took < QUICK, "{took:?}");
}

#[test]
fn ref_bombs_in_tools_share_one_budget_and_name_the_tool() {
    // Each tool alone expands to about 22,000 nodes, within the budget; their sum is not, so
    // a request cannot multiply the work by sending the bomb many times.
    let tool = |i: usize| json!({"type": "function", "function": {"name": format!("f{i}"), "parameters": ref_bomb(7, 4)}});
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
        "tools": (0..50).map(tool).collect::<Vec<_>>()});
    let (got, took) = translate(OpenAi, &body);
    let e = refused(got);
    let param = e.param.unwrap();
    assert!(
        param.starts_with("tools[") && param.ends_with("].function.parameters"),
        "{param}"
    );
    assert_ne!(param, "tools[0].function.parameters");
    assert!(took < QUICK, "{took:?}");
    // One of them is translated whole.
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "tools": [tool(0)]});
    let sent = json(&translate(OpenAi, &body).0.unwrap());
    let x = &sent["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]["x"];
    assert_eq!(x["anyOf"].as_array().unwrap().len(), 4);
}

#[test]
fn an_anthropic_clients_ref_bomb_names_its_own_fields() {
    let (got, took) = translate(
        Anthropic,
        &json!({"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "ok", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
                      {"name": "bomb", "input_schema": ref_bomb(14, 4)}]}),
    );
    let e = refused(got);
    assert_eq!(e.param.as_deref(), Some("tools[1].input_schema"));
    assert!(
        e.message.starts_with("tools[1].input_schema: "),
        "{}",
        e.message
    );
    assert!(took < QUICK, "{took:?}");
    for (format, param) in [
        ("output_config", "output_config.format.schema"),
        ("output_format", "output_format.schema"),
    ] {
        let schema = json!({"type": "json_schema", "schema": ref_bomb(14, 4)});
        let mut body = json!({"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
        body[format] = if format == "output_config" {
            json!({"format": schema})
        } else {
            schema
        };
        let e = refused(translate(Anthropic, &body).0);
        assert_eq!(e.param.as_deref(), Some(param));
    }
}

#[test]
fn a_long_required_list_is_translated_in_linear_time() {
    // The audit's `required_bomb.py`: properties p0…pN and a required list of other names
    // (q0…qN), which a name-by-name search of the properties costs N² comparisons for.
    let n = 30_000;
    let properties: Map<String, Value> = (0..n)
        .map(|i| (format!("p{i}"), json!({"type": "string"})))
        .collect();
    let mut required: Vec<Value> = (0..n).map(|i| json!(format!("q{i}"))).collect();
    required.push(json!("p7"));
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters":
            {"type": "object", "properties": properties, "required": required}}}]});
    let (got, took) = translate(OpenAi, &body);
    assert!(took < QUICK, "{took:?}");
    let sent = json(&got.unwrap());
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["parameters"]["required"],
        json!(["p7"])
    );
}

/// Feeds `input` in 64 KB pieces, as a provider's body arrives; the output and how long it
/// took.
fn stream(client: Dialect, provider: Dialect, input: &str) -> (Vec<u8>, bool, Duration) {
    let mut t = StreamTranslator::new(client, provider, "m", false, Reply::default());
    let started = Instant::now();
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(64 * 1024) {
        for b in t.feed(piece) {
            out.extend_from_slice(&b);
        }
    }
    for b in t.finish() {
        out.extend_from_slice(&b);
    }
    (out, t.failed(), started.elapsed())
}

#[test]
fn a_gemini_stream_of_ever_new_candidates_ends_with_an_error() {
    // The audit's `gen_gemini.py 40000`: every event a new finished candidate (3.8 MB).
    let input: String = (0..40_000)
        .map(|i| format!("data: {{\"candidates\":[{{\"index\":{i},\"content\":{{\"parts\":[{{\"text\":\"x\"}}]}},\"finishReason\":\"STOP\"}}]}}\r\n\r\n"))
        .collect();
    for client in [OpenAi, Anthropic] {
        let (out, failed, took) = stream(client, Gemini, &input);
        assert!(took < QUICK, "{client:?}: {took:?}");
        assert!(failed, "{client:?}");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("more than 128 candidates"), "{client:?}");
        // At most the cap's worth of candidates reached the client.
        assert!(text.len() < 128 * 1024, "{client:?}: {} bytes", text.len());
    }
    // A stream with the candidates the request asked for is whole, as before.
    let two: String = (0..2)
        .map(|i| format!("data: {{\"candidates\":[{{\"index\":{i},\"content\":{{\"parts\":[{{\"text\":\"x\"}}]}},\"finishReason\":\"STOP\"}}],\"usageMetadata\":{{\"promptTokenCount\":1}}}}\r\n\r\n"))
        .collect();
    let (out, failed, _) = stream(OpenAi, Gemini, &two);
    assert!(!failed);
    assert!(String::from_utf8(out)
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
}

#[test]
fn an_openai_stream_of_ever_new_tool_calls_ends_with_an_error() {
    // The audit's `gen_tools.py 20000`: every chunk text and a new tool call (2.6 MB).
    let mut input: String = (0..20_000)
        .map(|i| format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"a\",\"tool_calls\":[{{\"index\":{i},\"id\":\"c{i}\",\"function\":{{\"name\":\"f\",\"arguments\":\"\"}}}}]}}}}]}}\n\n"))
        .collect();
    input.push_str("data: [DONE]\n\n");
    let (out, failed, took) = stream(Anthropic, OpenAi, &input);
    assert!(took < QUICK, "{took:?}");
    assert!(failed);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("more than 4096 tool calls"));
    assert!(
        !text.contains("message_stop"),
        "an answer cut short is not whole"
    );
    // Calls that begin while another streams are held and sent whole when it closes, each
    // once, also when the stream alternates text and calls.
    let mut input: String = (0..3)
        .map(|i| format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":{i},\"id\":\"c{i}\",\"function\":{{\"name\":\"f\",\"arguments\":\"{{}}\"}}}}]}}}}]}}\n\n"))
        .collect();
    input.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
    input.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"x\"}}]}}]}\n\n");
    input.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
    let (out, failed, _) = stream(Anthropic, OpenAi, &input);
    assert!(!failed);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("\"type\":\"tool_use\"").count(), 3, "{text}");
    assert!(
        !text.contains("\"partial_json\":\"x\""),
        "a closed call takes no more"
    );
    assert!(text.contains("message_stop"));
}

#[test]
fn an_anthropic_stream_of_ever_new_blocks_ends_with_an_error() {
    let mut input = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":1}}}\n\n");
    for _ in 0..20_000 {
        input.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"abc\"}}\n\n");
    }
    input.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n");
    let (out, failed, took) = stream(OpenAi, Anthropic, &input);
    assert!(took < QUICK, "{took:?}");
    assert!(failed);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("more than 4096 content blocks"));
    assert!(
        !text.contains("redacted_thinking"),
        "no blocks gathered for the finish"
    );
}

fn untranslatable(client: Dialect, provider: Dialect, body: &Value) -> String {
    let (status, b) = status_and_body(client, provider, 200, &serde_json::to_vec(body).unwrap());
    assert_eq!(status, 502, "{client:?} {provider:?} {body}: {b}");
    let message = b["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("the provider's answer could not be translated"),
        "{message}"
    );
    message
}

#[test]
fn answers_that_are_not_of_the_providers_api_are_not_made_into_successes() {
    // The audit's `spec_big.json`, small: content blocks that are not blocks.
    let m = untranslatable(OpenAi, Anthropic, &json!({"content": [[], [], []]}));
    assert!(m.contains("content[0]"), "{m}");
    for body in [
        json!({"content": [{"text": "no type"}], "stop_reason": "end_turn"}),
        json!({"content": [{"type": "text"}], "stop_reason": "end_turn"}),
        json!({"content": [{"type": "tool_use", "input": {}}], "stop_reason": "tool_use"}),
    ] {
        untranslatable(OpenAi, Anthropic, &body);
    }
    for body in [
        json!({"usageMetadata": {"promptTokenCount": 3}, "modelVersion": "gemini-2.5-flash"}),
        json!({"candidates": {"0": {}}}),
        json!({"candidates": [[]]}),
        json!({"candidates": [{"content": [], "finishReason": "STOP"}]}),
        json!({"candidates": [{"content": {"parts": [[]]}, "finishReason": "STOP"}]}),
    ] {
        untranslatable(OpenAi, Gemini, &body);
        untranslatable(Anthropic, Gemini, &body);
    }
    for body in [
        json!({"choices": [{"index": 0, "finish_reason": "stop"}]}),
        json!({"choices": [{"message": {"content": 7}, "finish_reason": "stop"}]}),
        json!({"choices": [{"message": {"tool_calls": [[]]}, "finish_reason": "tool_calls"}]}),
        json!({"object": "chat.completion", "model": "m"}),
    ] {
        untranslatable(Anthropic, OpenAi, &body);
    }
}

/// Anthropic's `stop_reason: tool_use` with no `tool_use` block: the OpenAI client is told
/// `stop`, not `tool_calls` with no calls to run, in a whole answer and in a stream.
#[test]
fn a_tool_use_stop_without_tool_calls_finishes_as_stop() {
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "text", "text": "Let me think."}], "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 3}});
    let (status, v) = status_and_body(OpenAi, Anthropic, 200, &serde_json::to_vec(&body).unwrap());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
    assert!(
        v["choices"][0]["message"].get("tool_calls").is_none(),
        "{v}"
    );

    let events = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hm.\"}}\n\n\
        event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":2}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let (out, failed, _) = stream(OpenAi, Anthropic, events);
    assert!(!failed);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(!text.contains("tool_calls"), "{text}");
}

#[test]
fn valid_answers_without_content_are_still_translated() {
    // Anthropic: an end_turn with no blocks, and a server tool's block the translation skips.
    for content in [
        json!([]),
        json!([{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, {"type": "text", "text": "ok"}]),
    ] {
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": content, "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 0}});
        let (status, v) =
            status_and_body(OpenAi, Anthropic, 200, &serde_json::to_vec(&body).unwrap());
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }
    // Gemini: a candidate stopped by safety has no content; one cut at its limit has content
    // without parts; a blocked prompt has no candidates but its feedback.
    for (body, finish) in [
        (
            json!({"candidates": [{"finishReason": "SAFETY", "index": 0}]}),
            "content_filter",
        ),
        (
            json!({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]}),
            "length",
        ),
        (
            json!({"promptFeedback": {"blockReason": "SAFETY"}}),
            "content_filter",
        ),
    ] {
        let (status, v) = status_and_body(OpenAi, Gemini, 200, &serde_json::to_vec(&body).unwrap());
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["finish_reason"], finish, "{body}");
        let (status, _) =
            status_and_body(Anthropic, Gemini, 200, &serde_json::to_vec(&body).unwrap());
        assert_eq!(status, 200);
    }
    // OpenAI: a message of only tool calls, content null.
    let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]});
    let (status, v) = status_and_body(Anthropic, OpenAi, 200, &serde_json::to_vec(&body).unwrap());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stop_reason"], "tool_use");
}

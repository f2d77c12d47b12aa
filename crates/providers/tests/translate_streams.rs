//! Stream translation at the edges: streams cut short, missing final events, non-stream error
//! bodies, several candidates, pass-through, and calls after the end.

mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::{Dialect, StreamTranslator};
use translate_support::*;
use Dialect::{Anthropic, Gemini, OpenAi};

fn truncated_chunk() -> Value {
    json!({"error": {"message": "the provider's stream ended before its final event",
        "type": "server_error", "param": null, "code": null}})
}

fn out(client: Dialect, provider: Dialect, input: &[u8], include_usage: bool) -> Vec<Out> {
    events(&run_stream(
        client,
        provider,
        "m",
        include_usage,
        input,
        &[],
    ))
}

/// The fixture up to (not including) the first event containing `marker`.
fn cut_before(path: &str, marker: &str) -> Vec<u8> {
    let text = String::from_utf8(fixture(path)).expect("utf-8");
    let at = text.find(marker).expect("marker");
    let start = text[..at].rfind("\n\n").map(|i| i + 2).unwrap_or(0);
    text.as_bytes()[..start].to_vec()
}

#[test]
fn anthropic_stream_cut_short_ends_with_an_error() {
    let input = cut_before("anthropic/stream_text.sse", "message_delta");
    let (chunks, done) = openai_chunks(&out(OpenAi, Anthropic, &input, true));
    assert!(done);
    assert_eq!(streamed_text(&chunks), "Hello! How can I help? ☀️");
    assert_eq!(chunks.last(), Some(&truncated_chunk()));
    assert!(chunks.iter().all(|c| c
        .pointer("/choices/0/finish_reason")
        .is_none_or(Value::is_null)));
}

#[test]
fn anthropic_stream_without_message_stop_still_finishes() {
    let input = cut_before("anthropic/stream_text.sse", "message_stop");
    let (chunks, done) = openai_chunks(&out(OpenAi, Anthropic, &input, true));
    assert!(done);
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["usage"]["completion_tokens"], 15);
}

#[test]
fn gemini_stream_without_a_finish_reason_ends_with_an_error() {
    let input = cut_before("gemini/stream_text.sse", "STOP");
    let (chunks, done) = openai_chunks(&out(OpenAi, Gemini, &input, true));
    assert!(done);
    assert_eq!(chunks.last(), Some(&truncated_chunk()));
    let events = anthropic_events(&out(Anthropic, Gemini, &input, false));
    assert_eq!(
        events.last().map(|e| &e.1),
        Some(&json!({"type": "error", "error": {"type": "api_error",
        "message": "the provider's stream ended before its final event"}}))
    );
}

#[test]
fn openai_stream_endings_for_anthropic_clients() {
    // Finish reason and usage but no [DONE]: a complete message.
    let input = cut_before("openai/stream_text.sse", "[DONE]");
    let events = anthropic_events(&out(Anthropic, OpenAi, &input, false));
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    // Cut in the middle: the error event, no message_stop.
    let input = cut_before("openai/stream_text.sse", "finish_reason\":\"stop");
    let events = anthropic_events(&out(Anthropic, OpenAi, &input, false));
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("error"));
    assert!(!events.iter().any(|e| e.0 == "message_stop"));
    // Only [DONE]: an empty but whole message.
    let events = anthropic_events(&out(Anthropic, OpenAi, b"data: [DONE]\n\n", false));
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
    assert_eq!(events[1].1["delta"]["stop_reason"], "end_turn");
}

#[test]
fn empty_streams_are_errors() {
    for (client, provider) in [
        (OpenAi, Anthropic),
        (OpenAi, Gemini),
        (Anthropic, OpenAi),
        (Anthropic, Gemini),
    ] {
        let o = out(client, provider, b"", false);
        assert_eq!(
            o.len(),
            1 + usize::from(client == OpenAi),
            "{client:?} {provider:?}: {o:?}"
        );
        let first = o[0].value();
        let message = first["error"]["message"].as_str().expect("error");
        assert_eq!(
            message,
            "the provider's stream ended before its final event"
        );
    }
}

#[test]
fn an_error_body_instead_of_a_stream_becomes_an_error_event() {
    let (chunks, done) = openai_chunks(&out(
        OpenAi,
        Anthropic,
        &fixture("anthropic/error_overloaded.json"),
        false,
    ));
    assert!(done);
    assert_eq!(
        chunks,
        vec![
            json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded_error"}})
        ]
    );
    let wrapped = format!(
        "[{}]",
        String::from_utf8(fixture("gemini/error_429.json")).expect("utf-8")
    );
    let (chunks, _) = openai_chunks(&out(OpenAi, Gemini, wrapped.as_bytes(), false));
    assert_eq!(chunks[0]["error"]["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(chunks[0]["error"]["type"], "rate_limit_error");
    let events = anthropic_events(&out(
        Anthropic,
        OpenAi,
        &fixture("openai/error_429.json"),
        false,
    ));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["error"]["type"], "rate_limit_error");
}

#[test]
fn gemini_candidates_stream_as_choices() {
    let mut input = String::new();
    for (i, text, finish) in [
        (0, "A", None),
        (1, "B", None),
        (0, "A2", Some("STOP")),
        (1, "", Some("MAX_TOKENS")),
    ] {
        let mut c = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": i});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        input.push_str(&format!(
            "data: {}\r\n\r\n",
            json!({"candidates": [c], "responseId": "r1", "modelVersion": "gemini-2.5-flash"})
        ));
    }
    let (chunks, _) = openai_chunks(&out(OpenAi, Gemini, input.as_bytes(), false));
    let summary: Vec<(u64, Value, Value)> = chunks
        .iter()
        .map(|c| {
            let ch = &c["choices"][0];
            (
                ch["index"].as_u64().expect("index"),
                ch["delta"].clone(),
                ch["finish_reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, json!({"role": "assistant", "content": "A"}), Value::Null),
            (1, json!({"role": "assistant", "content": "B"}), Value::Null),
            (0, json!({"content": "A2"}), Value::Null),
            (0, json!({}), json!("stop")),
            (1, json!({}), json!("length")),
        ]
    );
}

#[test]
fn a_blocked_prompt_streams_a_filtered_choice() {
    let blocked = format!(
        "data: {}\r\n\r\n",
        json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}, "responseId": "b1"})
    );
    let (chunks, done) = openai_chunks(&out(OpenAi, Gemini, blocked.as_bytes(), true));
    assert!(done);
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(chunks[2]["usage"]["prompt_tokens"], 8);
}

#[test]
fn whole_tool_calls_in_one_chunk_and_ignored_extras() {
    // xAI sends each tool call whole; DeepSeek-style `reasoning_content` has no Anthropic block.
    let input = [
        json!({"id": "x1", "model": "grok-4", "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "thinking..."}}]}),
        json!({"id": "x1", "model": "grok-4", "choices": [{"index": 0, "delta": {"tool_calls": [{"id": "call_1", "type": "function", "index": 0, "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}]}),
        json!({"id": "x1", "model": "grok-4", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}),
    ]
    .iter()
    .map(|c| format!("data: {c}\n\n"))
    .collect::<String>()
        + "data: [DONE]\n\n";
    let events = anthropic_events(&out(Anthropic, OpenAi, input.as_bytes(), false));
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[0].1["message"]["id"], "msg_x1");
    assert_eq!(
        events[2].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"a\":1}"})
    );
    assert_eq!(events[4].1["usage"]["output_tokens"], 3);
}

#[test]
fn same_dialect_streams_pass_through_untouched() {
    let input = fixture("openai/stream_text.sse");
    let mut t = StreamTranslator::new(OpenAi, OpenAi, "m", true, Default::default());
    let mut got = Vec::new();
    for piece in input.chunks(7) {
        let out = t.feed(piece);
        assert_eq!(out.concat(), piece);
        got.extend(out);
    }
    assert!(t.finish().is_empty());
    assert_eq!(got.concat(), input);
    let input = fixture("anthropic/stream_text.sse");
    assert_eq!(
        run_stream(Anthropic, Anthropic, "m", false, &input, &[10, 300]),
        input
    );
}

#[test]
fn unsupported_pairs_say_so_once() {
    let mut t = StreamTranslator::new(Gemini, OpenAi, "m", false, Default::default());
    let first = t.feed(b"data: {}\n\n").concat();
    assert!(String::from_utf8_lossy(&first).contains("cannot be translated"));
    assert!(t.feed(b"data: {}\n\n").is_empty());
    assert!(t.finish().is_empty());
}

#[test]
fn events_after_the_end_are_ignored() {
    let mut input = fixture("anthropic/stream_text.sse");
    input.extend_from_slice(&fixture("anthropic/stream_text.sse"));
    let (chunks, done) = openai_chunks(&out(OpenAi, Anthropic, &input, true));
    assert!(done);
    assert_eq!(streamed_text(&chunks), "Hello! How can I help? ☀️");
    // Nothing follows [DONE].
    let raw = run_stream(OpenAi, Anthropic, "m", true, &input, &[]);
    assert!(raw.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(raw.windows(12).filter(|w| w == b"data: [DONE]").count(), 1);
}

/// Every block of an Anthropic stream: (start event's content block, its input JSON), checking
/// that blocks run one after another: start, deltas of that block only, stop.
fn sequential_blocks(events: &[(String, Value)]) -> Vec<(Value, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(u64, Value, String)> = None;
    for (name, v) in events {
        match name.as_str() {
            "content_block_start" => {
                assert!(
                    open.is_none(),
                    "a block started before the last one stopped"
                );
                let i = v["index"].as_u64().expect("index");
                assert_eq!(i, blocks.len() as u64, "blocks are numbered in order");
                open = Some((i, v["content_block"].clone(), String::new()));
            }
            "content_block_delta" => {
                let (i, _, json) = open.as_mut().expect("a delta outside any block");
                assert_eq!(
                    v["index"].as_u64(),
                    Some(*i),
                    "a delta for a block not open"
                );
                json.push_str(v["delta"]["partial_json"].as_str().unwrap_or(""));
            }
            "content_block_stop" => {
                let (i, block, json) = open.take().expect("a stop outside any block");
                assert_eq!(v["index"].as_u64(), Some(i));
                blocks.push((block, json));
            }
            _ => assert!(open.is_none(), "{name} inside a block"),
        }
    }
    blocks
}

#[test]
fn interleaved_parallel_tool_calls_become_whole_blocks_one_after_another() {
    let chunk = |delta: Value, finish: Value| json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let call = |i: u64, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut c = json!({"index": i, "function": {"arguments": args}});
        if let Some(id) = id {
            c["id"] = json!(id);
            c["type"] = json!("function");
        }
        if let Some(name) = name {
            c["function"]["name"] = json!(name);
        }
        chunk(json!({"tool_calls": [c]}), Value::Null)
    };
    let input = openai_sse(&[
        chunk(
            json!({"role": "assistant", "content": "Checking."}),
            Value::Null,
        ),
        call(0, Some("call_A"), Some("weather"), "{\"ci"),
        call(1, Some("call_B"), Some("time"), "{\"tz\""),
        call(0, None, None, "ty\":\"Paris\"}"),
        call(1, None, None, ":\"CET\"}"),
        chunk(json!({}), json!("tool_calls")),
    ]);
    let events = anthropic_events(&out(Anthropic, OpenAi, input.as_bytes(), false));
    let blocks = sequential_blocks(&events);
    assert_eq!(blocks.len(), 3, "{events:?}");
    assert_eq!(blocks[0].0["type"], "text");
    assert_eq!(blocks[1].0["id"], "call_A");
    assert_eq!(blocks[1].0["name"], "weather");
    assert_eq!(blocks[1].1, "{\"city\":\"Paris\"}");
    assert_eq!(blocks[2].0["id"], "call_B");
    assert_eq!(blocks[2].0["name"], "time");
    assert_eq!(blocks[2].1, "{\"tz\":\"CET\"}");
    let stop = events
        .iter()
        .find(|e| e.0 == "message_delta")
        .expect("message_delta");
    assert_eq!(stop.1["delta"]["stop_reason"], "tool_use");

    // Deltas without `index` (loosely compatible upstreams): a new `id` is a new call, and a
    // piece with neither continues the latest.
    let no_index = |id: Option<&str>, name: Option<&str>, args: &str| {
        let mut c = call(0, id, name, args);
        c["choices"][0]["delta"]["tool_calls"][0]
            .as_object_mut()
            .expect("object")
            .remove("index");
        c
    };
    let input = openai_sse(&[
        no_index(Some("call_A"), Some("weather"), "{\"city\":"),
        no_index(None, None, "\"Paris\"}"),
        no_index(Some("call_B"), Some("time"), "{}"),
        chunk(json!({}), json!("tool_calls")),
    ]);
    let events = anthropic_events(&out(Anthropic, OpenAi, input.as_bytes(), false));
    let blocks = sequential_blocks(&events);
    let got: Vec<(&str, &str)> = blocks
        .iter()
        .map(|(b, json)| (b["id"].as_str().unwrap_or(""), json.as_str()))
        .collect();
    assert_eq!(got, [("call_A", "{\"city\":\"Paris\"}"), ("call_B", "{}")]);
}

#[test]
fn an_anthropic_tool_called_without_input_streams_empty_json_arguments() {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Oslo\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        json!({"type": "message_stop"}),
    ];
    let input: String = events
        .iter()
        .map(|e| {
            format!(
                "event: {}\ndata: {e}\n\n",
                e["type"].as_str().expect("type")
            )
        })
        .collect();
    let (chunks, done) = openai_chunks(&out(OpenAi, Anthropic, input.as_bytes(), false));
    assert!(done);
    // An answer of tool calls only has no text: its first delta says `content: null`, as
    // OpenAI's does, so an accumulating client ends with `content: None`, not "".
    assert_eq!(
        chunks[0].pointer("/choices/0/delta"),
        Some(
            &json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "now", "arguments": ""}}]})
        ),
        "{chunks:?}"
    );
    assert!(
        chunks.iter().all(|c| c
            .pointer("/choices/0/delta/content")
            .is_none_or(Value::is_null)),
        "{chunks:?}"
    );
    let mut args = [String::new(), String::new()];
    for c in &chunks {
        for call in c
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let i = call["index"].as_u64().expect("index") as usize;
            args[i].push_str(call["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(args, ["{}", "{\"city\":\"Oslo\"}"]);
}

#[test]
fn an_openai_refusal_reaches_anthropic_clients_as_text_with_stop_reason_refusal() {
    let chunk = |delta: Value, finish: Value| json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let input = openai_sse(&[
        chunk(
            json!({"role": "assistant", "content": null, "refusal": ""}),
            Value::Null,
        ),
        chunk(json!({"refusal": "I can't help "}), Value::Null),
        chunk(json!({"refusal": "with that."}), Value::Null),
        chunk(json!({}), json!("stop")),
    ]);
    let events = anthropic_events(&out(Anthropic, OpenAi, input.as_bytes(), false));
    let text: String = events
        .iter()
        .filter_map(|(_, v)| v.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(text, "I can't help with that.");
    let stop = events
        .iter()
        .find(|e| e.0 == "message_delta")
        .expect("message_delta");
    assert_eq!(stop.1["delta"]["stop_reason"], "refusal");
}

/// `failed()` after feeding `input` whole and finishing.
fn failed(client: Dialect, provider: Dialect, input: &[u8]) -> bool {
    let mut t = StreamTranslator::new(client, provider, "m", true, Default::default());
    let _ = t.feed(input);
    let _ = t.finish();
    t.failed()
}

#[test]
fn failed_says_whether_the_client_was_told_of_an_error() {
    // Whole streams, in every translated direction: not failed.
    let anthropic = fixture("anthropic/stream_text.sse");
    let gemini = fixture("gemini/stream_text.sse");
    let openai = fixture("openai/stream_text.sse");
    assert!(!failed(OpenAi, Anthropic, &anthropic));
    assert!(!failed(OpenAi, Gemini, &gemini));
    assert!(!failed(Anthropic, OpenAi, &openai));
    assert!(!failed(Anthropic, Gemini, &gemini));
    // The provider's own error event.
    assert!(failed(
        OpenAi,
        Anthropic,
        &fixture("anthropic/stream_error.sse")
    ));
    // Cut before the final event.
    let cut = cut_before("anthropic/stream_text.sse", "message_delta");
    assert!(failed(OpenAi, Anthropic, &cut));
    let cut = cut_before("openai/stream_text.sse", "\"finish_reason\":\"stop\"");
    assert!(failed(Anthropic, OpenAi, &cut));
    // An error body instead of a stream.
    assert!(failed(
        OpenAi,
        Anthropic,
        &fixture("anthropic/error_overloaded.json")
    ));
    // Same dialect on both sides: bytes pass untouched and nothing is judged here.
    assert!(!failed(OpenAi, OpenAi, b"data: {\"error\":{}}\n\n"));
}

#[test]
fn a_stream_is_complete_once_its_client_has_the_last_event() {
    let input = fixture("anthropic/stream_text.sse");
    let mut t = StreamTranslator::new(OpenAi, Anthropic, "m", true, Default::default());
    let before_stop = cut_before("anthropic/stream_text.sse", "message_stop");
    let _ = t.feed(&before_stop);
    assert!(!t.complete(), "message_stop not seen yet");
    let _ = t.feed(&input[before_stop.len()..]);
    assert!(t.complete(), "[DONE] went out with message_stop");
    assert!(!t.failed());
    // An OpenAI stream to an Anthropic client: complete at `[DONE]`.
    let mut t = StreamTranslator::new(Anthropic, OpenAi, "m", true, Default::default());
    let _ = t.feed(b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n");
    assert!(!t.complete());
    let _ = t.feed(b"data: [DONE]\n\n");
    assert!(t.complete());
}

#[test]
fn an_event_too_large_to_translate_fails_the_stream_instead_of_vanishing() {
    let text = "x".repeat(17 * 1024 * 1024);
    let anthropic = format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
    );
    let openai = format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
    );
    let anthropic_start = cut_before("anthropic/stream_text.sse", "content_block_delta");
    let openai_start = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n".to_vec();
    for (client, provider, start, huge) in [
        (OpenAi, Anthropic, anthropic_start, anthropic),
        (Anthropic, OpenAi, openai_start, openai),
    ] {
        let mut t = StreamTranslator::new(client, provider, "m", true, Default::default());
        let mut sent: Vec<u8> = Vec::new();
        for b in t.feed(&start) {
            sent.extend_from_slice(&b);
        }
        for piece in huge.as_bytes().chunks(1 << 20) {
            for b in t.feed(piece) {
                sent.extend_from_slice(&b);
            }
        }
        for b in t.finish() {
            sent.extend_from_slice(&b);
        }
        let out = String::from_utf8(sent).expect("utf-8");
        assert!(t.failed(), "{client:?}");
        assert!(t.complete(), "{client:?}");
        assert!(out.contains("too large to translate"), "{client:?}: {out}");
        if client == OpenAi {
            assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        } else {
            assert!(out.contains("event: error"), "{out}");
        }
    }
}

#[test]
fn a_gemini_stream_is_complete_at_its_last_finish_reason() {
    let input = fixture("gemini/stream_text.sse");
    for client in [OpenAi, Anthropic] {
        let mut t = StreamTranslator::new(client, Gemini, "m", true, Default::default());
        let mut sent = Vec::new();
        for b in t.feed(&input) {
            sent.extend_from_slice(&b);
        }
        // Before the provider's body has ended: the client already has its last event.
        assert!(t.complete(), "{client:?}");
        assert!(!t.failed(), "{client:?}");
        let text = String::from_utf8(sent).expect("utf-8");
        if client == OpenAi {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            assert!(
                text.contains("\"completion_tokens\""),
                "usage before [DONE]: {text}"
            );
        } else {
            assert!(text.contains("event: message_stop"), "{text}");
        }
        // The end of the body adds nothing.
        assert!(t.finish().is_empty(), "{client:?}");
    }
}

#[test]
fn an_event_too_large_to_translate_fails_the_stream_even_with_the_final_event_beside_it() {
    let text = "x".repeat(17 * 1024 * 1024);
    let huge = format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
    );
    let whole = String::from_utf8(fixture("anthropic/stream_text.sse")).expect("utf-8");
    let start = cut_before("anthropic/stream_text.sse", "content_block_delta");
    let end = &whole[whole.find("event: message_delta").expect("message_delta")..];
    let mut t = StreamTranslator::new(OpenAi, Anthropic, "m", true, Default::default());
    let mut sent = Vec::new();
    for b in t.feed(&start) {
        sent.extend_from_slice(&b);
    }
    // The oversized event and the final events in one read.
    for b in t.feed(format!("{huge}{end}").as_bytes()) {
        sent.extend_from_slice(&b);
    }
    let out = String::from_utf8(sent).expect("utf-8");
    assert!(t.failed());
    assert!(out.contains("too large to translate"), "{out}");
    assert!(!out.contains("\"finish_reason\":\"stop\""), "{out}");
}

#[test]
fn a_gemini_stream_that_may_go_on_waits_for_its_end() {
    // Two candidates: the first one's finish is not the end of the answer.
    let two = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}],\"role\":\"model\"},\"index\":0,\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":1,\"totalTokenCount\":5}}\n\n\
        data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\"}],\"role\":\"model\"},\"index\":1,\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2,\"totalTokenCount\":6}}\n\n";
    // A finish without usage: the usage may follow.
    let no_usage = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}],\"role\":\"model\"},\"index\":0,\"finishReason\":\"STOP\"}]}\n\n";
    for (input, candidates) in [(two, 2), (no_usage, 1)] {
        let first_event = &input[..input.find("\n\n").expect("an event") + 2];
        let reply = switchyard_providers::translate::Reply {
            candidates,
            ..Default::default()
        };
        let mut t = StreamTranslator::new(OpenAi, Gemini, "m", true, reply);
        let _ = t.feed(first_event.as_bytes());
        assert!(!t.complete(), "{first_event}");
        let mut rest: Vec<u8> = t.feed(&input.as_bytes()[first_event.len()..]).concat();
        rest.extend(t.finish().concat());
        assert!(t.complete());
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
        assert!(!rest.contains("\"error\""), "{rest}");
    }
}

//! A whole answer, already in the client's format, sent as the client's stream: for a
//! streaming request that the provider answered with one JSON document (a proxy in front of it
//! may do that), so that a streaming client still reads a stream it can parse instead of an
//! empty one.
//!
//! - OpenAI chat completion → one `chat.completion.chunk` per choice holding its whole message
//!   (tool calls with their `index`), one with each choice's `finish_reason`, the usage chunk
//!   when the client asked for it, then `data: [DONE]`.
//! - Anthropic message → `message_start`, a start, one delta and a stop per content block
//!   (`text_delta`, `input_json_delta`, `thinking_delta` and `signature_delta`), `message_delta`
//!   with the stop reason and output tokens, `message_stop`.

use super::Dialect;
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// `answer` (a translated whole answer for `client`) as that client's event stream.
/// `include_usage`: an OpenAI client asked for the usage chunk. `None` when the answer is not
/// the object expected.
pub fn as_stream(client: Dialect, answer: &[u8], include_usage: bool) -> Option<Bytes> {
    let v: Value = serde_json::from_slice(answer).ok()?;
    let o = v.as_object()?;
    let mut out = Vec::with_capacity(answer.len() + 512);
    match client {
        Dialect::OpenAi => openai(o, include_usage, &mut out)?,
        Dialect::Anthropic => anthropic(o, &mut out)?,
        Dialect::Gemini => return None,
    }
    Some(Bytes::from(out))
}

fn data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn event(out: &mut Vec<u8>, name: &str, v: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    data(out, v);
}

fn openai(o: &Map<String, Value>, include_usage: bool, out: &mut Vec<u8>) -> Option<()> {
    let choices = o.get("choices")?.as_array()?;
    let chunk = |choices: Value| {
        let mut c = json!({
            "id": o.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion.chunk",
            "created": o.get("created").cloned().unwrap_or(Value::Null),
            "model": o.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    for choice in choices {
        let mut delta = choice.get("message").cloned().unwrap_or_else(|| json!({}));
        if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for (i, call) in calls.iter_mut().enumerate() {
                if let Some(call) = call.as_object_mut() {
                    call.insert("index".into(), json!(i));
                }
            }
        }
        let index = choice.get("index").cloned().unwrap_or(json!(0));
        data(
            out,
            &chunk(json!([{"index": index, "delta": delta, "finish_reason": null}])),
        );
    }
    for choice in choices {
        let index = choice.get("index").cloned().unwrap_or(json!(0));
        let reason = choice.get("finish_reason").cloned().unwrap_or(Value::Null);
        data(
            out,
            &chunk(json!([{"index": index, "delta": {}, "finish_reason": reason}])),
        );
    }
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = o.get("usage").cloned().unwrap_or(Value::Null);
        data(out, &last);
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    Some(())
}

fn anthropic(o: &Map<String, Value>, out: &mut Vec<u8>) -> Option<()> {
    let blocks = o.get("content")?.as_array()?;
    let usage = o.get("usage").cloned().unwrap_or_else(|| json!({}));
    let mut start = o.clone();
    start.insert("content".into(), json!([]));
    start.insert("stop_reason".into(), Value::Null);
    start.insert("stop_sequence".into(), Value::Null);
    let mut start_usage = usage.clone();
    if let Some(u) = start_usage.as_object_mut() {
        u.insert("output_tokens".into(), json!(0));
    }
    start.insert("usage".into(), start_usage);
    event(
        out,
        "message_start",
        &json!({"type": "message_start", "message": start}),
    );
    for (index, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        let text = |k: &str| {
            block
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (opening, deltas) = match kind {
            "text" => (
                json!({"type": "text", "text": ""}),
                vec![json!({"type": "text_delta", "text": text("text")})],
            ),
            "tool_use" => {
                let mut opening = block.clone();
                opening["input"] = json!({});
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                (
                    opening,
                    vec![json!({"type": "input_json_delta", "partial_json": input.to_string()})],
                )
            }
            "thinking" => (
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                vec![
                    json!({"type": "thinking_delta", "thinking": text("thinking")}),
                    json!({"type": "signature_delta", "signature": text("signature")}),
                ],
            ),
            // Whole already (redacted thinking, anything newer): sent in its start.
            _ => (block.clone(), Vec::new()),
        };
        event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": opening}),
        );
        for delta in deltas {
            event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            );
        }
        event(
            out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
    }
    event(
        out,
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {
                "stop_reason": o.get("stop_reason").cloned().unwrap_or(Value::Null),
                "stop_sequence": o.get("stop_sequence").cloned().unwrap_or(Value::Null),
            },
            "usage": {"output_tokens": usage.get("output_tokens").cloned().unwrap_or(json!(0))},
        }),
    );
    event(out, "message_stop", &json!({"type": "message_stop"}));
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    fn events(b: &[u8]) -> Vec<(Option<String>, String)> {
        let mut p = SseParser::new();
        p.feed(b).map(|e| (e.event, e.data)).collect()
    }

    #[test]
    fn an_openai_answer_becomes_chunks_that_add_up_to_it() {
        let answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 7,
            "model": "m", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
        let out = as_stream(Dialect::OpenAi, answer.to_string().as_bytes(), true).unwrap();
        let ev = events(&out);
        assert_eq!(ev.last().unwrap().1, "[DONE]");
        let chunks: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(chunks.len(), 3);
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == "chatcmpl-1"));
        let delta = &chunks[0]["choices"][0]["delta"];
        assert_eq!(delta["role"], "assistant");
        assert_eq!(delta["content"], Value::Null);
        assert_eq!(delta["tool_calls"][0]["index"], 0);
        assert_eq!(delta["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[0]["usage"], Value::Null);
        assert_eq!(chunks[2]["choices"], json!([]));
        assert_eq!(chunks[2]["usage"]["total_tokens"], 5);
        // Without include_usage: no usage chunk, no usage field.
        let out = as_stream(Dialect::OpenAi, answer.to_string().as_bytes(), false).unwrap();
        let ev = events(&out);
        assert_eq!(ev.len(), 3);
        assert!(!ev[0].1.contains("usage"));
    }

    #[test]
    fn an_anthropic_answer_becomes_its_event_sequence() {
        let answer = json!({"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 4, "output_tokens": 9}});
        let out = as_stream(Dialect::Anthropic, answer.to_string().as_bytes(), false).unwrap();
        let ev = events(&out);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(names.last(), Some(&"message_stop"));
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "content_block_start")
                .count(),
            3
        );
        let data: Vec<Value> = ev
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(data[0]["message"]["content"], json!([]));
        assert_eq!(data[0]["message"]["usage"]["input_tokens"], 4);
        let deltas: Vec<&Value> = data
            .iter()
            .filter(|d| d["type"] == "content_block_delta")
            .map(|d| &d["delta"])
            .collect();
        assert_eq!(deltas[0]["thinking"], "hmm");
        assert_eq!(deltas[1]["signature"], "sig");
        assert_eq!(deltas[2]["text"], "Hi");
        let input: Value =
            serde_json::from_str(deltas[3]["partial_json"].as_str().unwrap()).unwrap();
        assert_eq!(input, json!({"a": 1}));
        let md = data.iter().find(|d| d["type"] == "message_delta").unwrap();
        assert_eq!(md["delta"]["stop_reason"], "tool_use");
        assert_eq!(md["usage"]["output_tokens"], 9);
    }

    #[test]
    fn anything_else_is_not_replayed() {
        assert!(as_stream(Dialect::OpenAi, b"[1]", false).is_none());
        assert!(as_stream(Dialect::Anthropic, b"{\"content\": 5}", false).is_none());
        assert!(as_stream(Dialect::OpenAi, b"not json", false).is_none());
    }
}

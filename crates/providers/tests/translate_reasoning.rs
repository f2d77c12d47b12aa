//! Reasoning across the translations: OpenAI `reasoning_effort` ↔ Anthropic extended thinking
//! and Gemini thought summaries, and the model's reasoning text back in the client's shape
//! (`reasoning_content` and `thinking_blocks` for OpenAI clients, `thinking` blocks for
//! Anthropic clients that asked for them), in whole answers and in streams.

mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::{Dialect, Reply, Upstream};
use translate_support::*;
use Dialect::{Anthropic, Gemini, OpenAi};

fn up(client: Dialect, provider: Dialect, body: &Value) -> Upstream {
    upstream_of(client, provider, body, "m")
}

fn sse(events: &[(Option<&str>, Value)]) -> Vec<u8> {
    let mut out = String::new();
    for (name, data) in events {
        if let Some(n) = name {
            out.push_str(&format!("event: {n}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    out.into_bytes()
}

fn chat(extra: Value) -> Value {
    let mut b = json!({"messages": [{"role": "user", "content": "Why is the sky blue?"}]});
    for (k, v) in extra.as_object().expect("object") {
        b[k] = v.clone();
    }
    b
}

#[test]
fn reasoning_effort_becomes_an_anthropic_thinking_budget_within_max_tokens() {
    // No limit from the client: the default, with the budget on top.
    let a = json(
        &up(
            OpenAi,
            Anthropic,
            &chat(json!({"reasoning_effort": "medium"})),
        )
        .body,
    );
    assert_eq!(
        a["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    assert_eq!(a["max_tokens"], 4096 + 4096);
    // A client limit stays, and the budget fits under it.
    let a = json(
        &up(
            OpenAi,
            Anthropic,
            &chat(json!({"reasoning_effort": "high", "max_completion_tokens": 3000})),
        )
        .body,
    );
    assert_eq!(a["max_tokens"], 3000);
    assert_eq!(a["thinking"]["budget_tokens"], 2999);
    // Thinking's sampling rules: no temperature or top_k, top_p at least 0.95.
    let a = json(
        &up(
            OpenAi,
            Anthropic,
            &chat(json!({"reasoning_effort": "low", "temperature": 0.2, "top_k": 5, "top_p": 0.5})),
        )
        .body,
    );
    assert_eq!(a["thinking"]["budget_tokens"], 1024);
    assert!(
        a.get("temperature").is_none() && a.get("top_k").is_none(),
        "{a}"
    );
    assert_eq!(a["top_p"], 0.95);
    // Without reasoning, sampling goes as before.
    let a = json(&up(OpenAi, Anthropic, &chat(json!({"temperature": 0.2}))).body);
    assert_eq!(a["temperature"], 0.2);
    assert!(a.get("thinking").is_none());
    // JSON mode cannot force a tool while thinking: the instruction carries it instead.
    let a = json(
        &up(
            OpenAi,
            Anthropic,
            &chat(json!({"reasoning_effort": "low", "response_format": {"type": "json_object"}})),
        )
        .body,
    );
    assert!(
        a.get("tool_choice").is_none() && a.get("tools").is_none(),
        "{a}"
    );
    assert!(
        a["system"].as_str().unwrap_or_default().contains("JSON"),
        "{a}"
    );
}

#[test]
fn reasoning_that_cannot_be_carried_is_refused_naming_the_field() {
    let (param, body) = refused(
        OpenAi,
        Anthropic,
        &chat(json!({"reasoning_effort": "low", "max_tokens": 1024})),
        "m",
    );
    assert_eq!(param, "max_completion_tokens");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("1024"));
    let (param, _) = refused(
        OpenAi,
        Anthropic,
        &chat(json!({"reasoning_effort": "extreme"})),
        "m",
    );
    assert_eq!(param, "reasoning_effort");
    let bad_block = json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "thinking_blocks": [{"type": "thinking", "thinking": "x"}]},
        {"role": "user", "content": "Again"}]});
    let (param, _) = refused(OpenAi, Anthropic, &bad_block, "m");
    assert_eq!(param, "messages[1].thinking_blocks[0].signature");
}

#[test]
fn anthropic_thinking_comes_back_as_reasoning_content_and_thinking_blocks() {
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Rayleigh scattering.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Short wavelengths scatter more."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 50}});
    let a = answer_with(OpenAi, Anthropic, &message, Reply::default());
    let m = &a["choices"][0]["message"];
    assert_eq!(m["content"], "Short wavelengths scatter more.");
    assert_eq!(m["reasoning_content"], "Rayleigh scattering.");
    assert_eq!(
        m["thinking_blocks"],
        json!([{"type": "thinking", "thinking": "Rayleigh scattering.", "signature": "sig-1"},
               {"type": "redacted_thinking", "data": "opaque"}])
    );

    // Handed back in a tool loop, they lead the assistant turn, as Anthropic requires.
    let next = json!({"reasoning_effort": "low", "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "thinking_blocks": m["thinking_blocks"],
         "tool_calls": [{"id": "toolu_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"}]});
    let sent = json(&up(OpenAi, Anthropic, &next).body);
    let turn = &sent["messages"][1];
    assert_eq!(turn["role"], "assistant");
    assert_eq!(turn["content"][0]["type"], "thinking");
    assert_eq!(turn["content"][0]["signature"], "sig-1");
    assert_eq!(turn["content"][1]["type"], "redacted_thinking");
    assert_eq!(turn["content"][2]["type"], "tool_use");
}

#[test]
fn anthropic_thinking_streams_as_reasoning_deltas_then_the_whole_block() {
    let upstream = [
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Rayleigh "}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "scattering."}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig-1"}}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "text", "text": ""}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "text_delta", "text": "Blue."}}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            Some("message_delta"),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 40}}),
        ),
        (Some("message_stop"), json!({"type": "message_stop"})),
    ];
    let input = sse(&upstream);
    let (chunks, done) = openai_chunks(&events(&run_stream(
        OpenAi,
        Anthropic,
        "m",
        false,
        &input,
        &[],
    )));
    assert!(done);
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/reasoning_content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(reasoning, "Rayleigh scattering.");
    // Every block once, whole, in the chunk that finishes: the OpenAI SDKs' stream helpers
    // merge list deltas by `index`, so the list must come in one piece.
    let with_blocks: Vec<&Value> = chunks
        .iter()
        .filter(|c| c.pointer("/choices/0/delta/thinking_blocks").is_some())
        .collect();
    assert_eq!(with_blocks.len(), 1);
    assert_eq!(with_blocks[0]["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        with_blocks[0]["choices"][0]["delta"]["thinking_blocks"],
        json!([{"type": "thinking", "thinking": "Rayleigh scattering.", "signature": "sig-1"}])
    );
    assert_eq!(streamed_text(&chunks), "Blue.");
}

#[test]
fn thinking_streams_give_the_same_output_however_the_bytes_are_split() {
    let upstream = [
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_2", "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "redacted_thinking", "data": "opaque=="}}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "thinking_delta", "thinking": "Café ☕ "}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "thinking_delta", "thinking": "naïve 🤔"}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "signature_delta", "signature": "c2ln"}}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 2,
            "content_block": {"type": "text", "text": ""}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 2,
            "delta": {"type": "text_delta", "text": "Réponse."}}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            Some("message_delta"),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 9}}),
        ),
        (Some("message_stop"), json!({"type": "message_stop"})),
    ];
    let input = sse(&upstream);
    let (client, provider, reply) = (OpenAi, Anthropic, Reply::default());
    {
        let whole = events(&run_stream_with(
            client,
            provider,
            "m",
            true,
            reply,
            &input,
            &[],
        ));
        let (chunks, _) = openai_chunks(&whole);
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/reasoning_content")
                    .and_then(Value::as_str)
            })
            .collect();
        assert_eq!(reasoning, "Café ☕ naïve 🤔");
        assert_eq!(streamed_text(&chunks), "Réponse.");
        let blocks: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c.pointer("/choices/0/delta/thinking_blocks"))
            .collect();
        assert_eq!(
            blocks,
            [&json!([{"type": "redacted_thinking", "data": "opaque=="},
                     {"type": "thinking", "thinking": "Café ☕ naïve 🤔", "signature": "c2ln"}])]
        );
        // Cut at every byte, one at a time.
        for at in 1..input.len() {
            assert_eq!(
                events(&run_stream_with(
                    client,
                    provider,
                    "m",
                    true,
                    reply,
                    &input,
                    &[at]
                )),
                whole,
                "cut at {at}"
            );
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            events(&run_stream_with(
                client, provider, "m", true, reply, &input, &every
            )),
            whole
        );
    }
}

#[test]
fn a_forced_tool_cannot_go_with_thinking_and_handed_back_blocks_keep_only_their_fields() {
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    for choice in [
        json!("required"),
        json!({"type": "function", "function": {"name": "get_weather"}}),
    ] {
        let (param, _) = refused(
            OpenAi,
            Anthropic,
            &chat(json!({"reasoning_effort": "low", "tools": tools, "tool_choice": choice})),
            "m",
        );
        assert_eq!(param, "tool_choice");
    }
    // `auto` goes with thinking.
    let a = json(
        &up(
            OpenAi,
            Anthropic,
            &chat(json!({"reasoning_effort": "low", "tools": tools, "tool_choice": "auto"})),
        )
        .body,
    );
    assert_eq!(a["tool_choice"], json!({"type": "auto"}));
    let next = json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "thinking_blocks": [
            {"type": "thinking", "thinking": "t", "signature": "s", "index": 0, "extra": true}]},
        {"role": "user", "content": "Again"}]});
    let sent = json(&up(OpenAi, Anthropic, &next).body);
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "t", "signature": "s"})
    );
}

#[test]
fn gemini_thought_summaries_come_back_as_reasoning_content() {
    let body = json!({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "Thinking about light.", "thought": true},
            {"text": "Blue light scatters most."}]}}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 6, "thoughtsTokenCount": 20, "totalTokenCount": 31}});
    let a = answer_with(OpenAi, Gemini, &body, Reply::default());
    let m = &a["choices"][0]["message"];
    assert_eq!(m["content"], "Blue light scatters most.");
    assert_eq!(m["reasoning_content"], "Thinking about light.");

    let input = sse(&[
        (
            None,
            json!({"candidates": [{"index": 0, "content": {"role": "model", "parts": [
            {"text": "Thinking about light.", "thought": true}]}}]}),
        ),
        (
            None,
            json!({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "Blue."}]}}]}),
        ),
    ]);
    let (chunks, _) = openai_chunks(&events(&run_stream(
        OpenAi,
        Gemini,
        "m",
        false,
        &input,
        &[],
    )));
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/reasoning_content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(reasoning, "Thinking about light.");
    assert_eq!(streamed_text(&chunks), "Blue.");
}

#[test]
fn anthropic_clients_that_ask_for_thinking_get_the_providers_reasoning_as_a_thinking_block() {
    let ask = json!({"model": "m", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Why is the sky blue?"}]});
    let u = up(Anthropic, OpenAi, &ask);
    assert!(u.reply.thinking);
    let sent = json(&u.body);
    assert!(
        sent.get("thinking").is_none() && sent.get("reasoning_effort").is_none(),
        "not sent to OpenAI-shaped providers: {sent}"
    );
    let completion = json!({"id": "c1", "object": "chat.completion", "model": "grok-3-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "Blue.", "reasoning_content": "Rayleigh scattering."}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}});
    let m = answer_with(Anthropic, OpenAi, &completion, u.reply);
    assert_eq!(
        m["content"],
        json!([{"type": "thinking", "thinking": "Rayleigh scattering.", "signature": ""},
               {"type": "text", "text": "Blue."}])
    );
    // A client that did not ask gets no thinking block.
    let m = answer_with(Anthropic, OpenAi, &completion, Reply::default());
    assert_eq!(m["content"], json!([{"type": "text", "text": "Blue."}]));

    // Streams: a thinking block, closed before the text block opens.
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "grok-3-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut input = sse(&[
        (
            None,
            chunk(
                json!({"role": "assistant", "reasoning_content": "Rayleigh "}),
                Value::Null,
            ),
        ),
        (
            None,
            chunk(json!({"reasoning_content": "scattering."}), Value::Null),
        ),
        (None, chunk(json!({"content": "Blue."}), Value::Null)),
        (None, chunk(json!({}), json!("stop"))),
    ]);
    input.extend_from_slice(b"data: [DONE]\n\n");
    let out = anthropic_events(&events(&run_stream_with(
        Anthropic,
        OpenAi,
        "m",
        false,
        u.reply,
        &input,
        &[],
    )));
    let kinds: Vec<String> = out
        .iter()
        .map(|(name, v)| {
            match v
                .pointer("/content_block/type")
                .or(v.pointer("/delta/type"))
            {
                Some(t) => format!("{name}:{}", t.as_str().unwrap_or_default()),
                None => name.clone(),
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start:thinking",
            "content_block_delta:thinking_delta",
            "content_block_delta:thinking_delta",
            "content_block_stop",
            "content_block_start:text",
            "content_block_delta:text_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(out[2].1["delta"]["thinking"], "Rayleigh ");
    assert_eq!(out[5].1["index"], 1);
    // Without the ask, the reasoning is left out of the stream.
    let out = anthropic_events(&events(&run_stream(
        Anthropic,
        OpenAi,
        "m",
        false,
        &input,
        &[],
    )));
    assert!(out
        .iter()
        .all(|(_, v)| v.pointer("/content_block/type") != Some(&json!("thinking"))));
}

#[test]
fn anthropic_thinking_reaches_gemini_as_an_effort_with_thoughts_included() {
    let ask = |thinking: Value| {
        json!({"model": "m", "max_tokens": 20000, "thinking": thinking,
            "messages": [{"role": "user", "content": "Hi"}]})
    };
    let u = up(
        Anthropic,
        Gemini,
        &ask(json!({"type": "enabled", "budget_tokens": 10000})),
    );
    assert!(u.reply.thinking);
    assert_eq!(
        json(&u.body)["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 10000, "includeThoughts": true}),
        "the client's own budget"
    );
    let g3 = upstream_of(
        Anthropic,
        Gemini,
        &ask(json!({"type": "enabled", "budget_tokens": 10000})),
        "gemini-3-pro-preview",
    );
    assert_eq!(
        json(&g3.body)["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "high", "includeThoughts": true}),
        "Gemini 3 takes a level"
    );
    let u = up(
        Anthropic,
        Gemini,
        &ask(json!({"type": "enabled", "budget_tokens": 1024})),
    );
    assert_eq!(
        json(&u.body)["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        1024
    );
    let u = up(Anthropic, Gemini, &ask(json!({"type": "disabled"})));
    assert!(!u.reply.thinking);
    assert!(json(&u.body)["generationConfig"]
        .get("thinkingConfig")
        .is_none());
    let (param, _) = refused(Anthropic, Gemini, &ask(json!({"type": "sometimes"})), "m");
    assert_eq!(param, "thinking.type");

    let body = json!({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "Considering.", "thought": true}, {"text": "Hello."}]}}]});
    let m = answer_with(
        Anthropic,
        Gemini,
        &body,
        up(Anthropic, Gemini, &ask(json!({"type": "adaptive"}))).reply,
    );
    assert_eq!(m["content"][0]["type"], "thinking");
    assert_eq!(m["content"][0]["thinking"], "Considering.");
    assert_eq!(m["content"][1], json!({"type": "text", "text": "Hello."}));
}

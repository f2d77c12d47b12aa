//! Conformance suite, Anthropic client → OpenAI-shaped provider: the same cases as every other direction
//! (simple, multi-turn, system prompt, stream, tool call round trip, JSON mode, image input,
//! provider error, 429, usage) on fixtures recorded in each provider's wire format. Streams
//! are checked whole, byte by byte and in random splits (see `translate_support::stream`).

#[macro_use]
mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::Dialect;
use translate_support::*;
use Dialect::{Anthropic, OpenAi};

conformance!(cases, AnthropicToOpenAi);

struct AnthropicToOpenAi;

const GROK: &str = "grok-4";

impl Direction for AnthropicToOpenAi {
    fn simple() {
        let up = req(Anthropic, OpenAi, "anthropic/request_simple.json", GROK);
        assert_eq!((up.path.as_str(), up.stream), ("chat/completions", false));
        assert_eq!(
            json(&up.body),
            json!({"model": GROK, "messages": [{"role": "user", "content": "Hello, world"}], "max_tokens": 1024})
        );
        assert_eq!(
            resp(Anthropic, OpenAi, 200, "openai/response_text.json", GROK),
            (
                200,
                anthropic_message(
                    "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
                    "grok-4-0709",
                    json!([{"type": "text", "text": "Hello! How can I assist you today?"}]),
                    "end_turn",
                    [19, 0, 10]
                )
            )
        );
    }

    fn multi_turn() {
        let up = req(Anthropic, OpenAi, "anthropic/request_multi_turn.json", GROK);
        assert_eq!(
            json(&up.body)["messages"],
            json!([
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is Paris."},
            {"role": "user", "content": [{"type": "text", "text": "And its population?"},
                                         {"type": "text", "text": "Answer in one sentence."}]}])
        );
    }

    fn system_prompt() {
        let up = req(Anthropic, OpenAi, "anthropic/request_system.json", GROK);
        assert_eq!(
            json(&up.body),
            json!({"model": GROK, "messages": [
            {"role": "system", "content": "You are a terse assistant.\n\nNever use emoji."},
            {"role": "user", "content": "Name three primary colors."}],
            "max_tokens": 512, "temperature": 0.2, "top_p": 0.9, "stop": ["END"],
            // `metadata.user_id`; `top_k` is left out (OpenAI refuses it).
            "user": "user-1234"})
        );
    }

    fn stream() {
        let up = req(Anthropic, OpenAi, "anthropic/request_stream.json", GROK);
        assert!(up.stream);
        let body = json(&up.body);
        assert_eq!(
            (&body["stream"], &body["stream_options"]),
            (&json!(true), &json!({"include_usage": true}))
        );
        let events = anthropic_events(&stream(
            Anthropic,
            OpenAi,
            "openai/stream_text.sse",
            GROK,
            false,
        ));
        assert_eq!(
            events,
            anthropic_text_events(
                "msg_C9f3KfRcYpEaOq2h1pXcQ7vUe6s",
                "gpt-4.1-2025-04-14",
                &["Hello", "! How can", " I help?"],
                "end_turn",
                0,
                anthropic_usage(9, 0, 6)
            )
        );
    }

    fn tool_round_trip() {
        let up = req(Anthropic, OpenAi, "anthropic/request_tools.json", GROK);
        assert_eq!(
            json(&up.body),
            json!({"model": GROK, "messages": [
            {"role": "user", "content": "What's the weather in San Francisco and Paris?"},
            {"role": "assistant", "content": "I'll check both cities.", "tool_calls": [
                {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function", "function": {"name": "get_weather",
                 "arguments": "{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"}},
                {"id": "toolu_01B2kx8vYqT5w3nFhEzR7cPd", "type": "function", "function": {"name": "get_weather",
                 "arguments": "{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "{\"temperature\":18,\"condition\":\"fog\"}"},
            {"role": "tool", "tool_call_id": "toolu_01B2kx8vYqT5w3nFhEzR7cPd", "content": "22 degrees\nsunny"},
            {"role": "user", "content": "Which is warmer?"}],
            "max_tokens": 1024,
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "description": "Get the current weather in a given location", "parameters": weather_schema()}}],
            "tool_choice": "auto"})
        );

        let (_, answer) = resp(
            Anthropic,
            OpenAi,
            200,
            "openai/response_tool_calls.json",
            GROK,
        );
        assert_eq!(answer["stop_reason"], "tool_use");
        let content = answer["content"].clone();
        assert_eq!(
            content,
            json!([
            {"type": "text", "text": "I'll check both cities."},
            {"type": "tool_use", "id": "call_79284157", "name": "get_weather", "input": {"location": "San Francisco, CA", "unit": "celsius"}},
            {"type": "tool_use", "id": "call_02491823", "name": "get_weather", "input": {"location": "Paris, France", "unit": "celsius"}}])
        );
        // The Anthropic SDK sends the content back with tool_result blocks.
        let follow_up = json!({"max_tokens": 100, "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_79284157", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_02491823", "content": "boom", "is_error": true}]}]});
        let sent = req_value(Anthropic, OpenAi, &follow_up, GROK);
        let ids: Vec<&Value> = sent["messages"][1]["tool_calls"]
            .as_array()
            .expect("calls")
            .iter()
            .map(|c| &c["id"])
            .collect();
        assert_eq!(ids, [&json!("call_79284157"), &json!("call_02491823")]);
        assert_eq!(
            sent["messages"][2],
            json!({"role": "tool", "tool_call_id": "call_79284157", "content": "18C"})
        );
        assert_eq!(
            sent["messages"][3],
            json!({"role": "tool", "tool_call_id": "call_02491823", "content": "Error: boom"})
        );
        assert_eq!(sent["messages"].as_array().expect("messages").len(), 4);

        let events = anthropic_events(&stream(
            Anthropic,
            OpenAi,
            "openai/stream_tool_calls.sse",
            GROK,
            false,
        ));
        let mut want = vec![ev(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_C9f4TqXw2mR8sL0kVb3nJ5hY1zA", "type": "message", "role": "assistant",
            "model": "gpt-4.1-2025-04-14", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": anthropic_usage(0, 0, 0)}}),
        )];
        want.extend(tool_use_events(
            0,
            "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "get_weather",
            &["{\"lo", "cation\": \"San Francisco, CA\"}"],
        ));
        want.extend(tool_use_events(
            1,
            "call_ABqT7u8dL0pWc5x2yZk4Nm1R",
            "get_weather",
            &["{\"location\": \"Paris, France\"}"],
        ));
        want.push(ev("message_delta", json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": anthropic_usage(18, 64, 47)})));
        want.push(ev("message_stop", json!({"type": "message_stop"})));
        assert_eq!(events, want);
    }

    fn json_mode() {
        let up = req(Anthropic, OpenAi, "anthropic/request_json.json", GROK);
        assert_eq!(
            json(&up.body)["response_format"],
            json!({"type": "json_schema", "json_schema": {
            "name": "output", "schema": {"type": "object", "properties": {"name": {"type": "string"},
            "born": {"type": "integer"}}, "required": ["name", "born"], "additionalProperties": false}}})
        );
        let (_, b) = resp(Anthropic, OpenAi, 200, "openai/response_json.json", GROK);
        assert_eq!(
            b["content"],
            json!([{"type": "text", "text": "{\"name\":\"Ada Lovelace\",\"born\":1815}"}])
        );
    }

    fn image_input() {
        let up = req(Anthropic, OpenAi, "anthropic/request_image.json", GROK);
        assert_eq!(
            json(&up.body)["messages"],
            json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": ANT_URL}},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
            {"type": "text", "text": "What is in these images?"}]}])
        );
        let file_source = json!({"max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}]}]});
        let (param, body) = refused(Anthropic, OpenAi, &file_source, GROK);
        assert_eq!(param, "messages[0].content[0].source.type");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    fn provider_error() {
        let (s, b) = resp(Anthropic, OpenAi, 400, "openai/error_400.json", GROK);
        assert_eq!(
            (s, b),
            (
                400,
                json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "Invalid 'messages[1].content': string too long. Expected a string with maximum length 10485760, but got a string with length 10485761 instead."}})
            )
        );
        // xAI's own shape: {"code": "...", "error": "..."}.
        let (s, b) = resp(Anthropic, OpenAi, 401, "openai/error_xai_400.json", GROK);
        assert_eq!(s, 401);
        assert_eq!(b["error"]["type"], "authentication_error");
        assert!(b["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Incorrect API key provided"));
        let (s, b) = status_and_body(Anthropic, OpenAi, 503, b"upstream connect error");
        assert_eq!(
            (s, b["error"]["type"].as_str()),
            (503, Some("overloaded_error"))
        );
        // Mid-stream: the open text block, then the error event.
        let events = anthropic_events(&stream(
            Anthropic,
            OpenAi,
            "openai/stream_error.sse",
            GROK,
            false,
        ));
        assert_eq!(
            events.last(),
            Some(&ev(
                "error",
                json!({"type": "error", "error": {"type": "api_error",
            "message": "The server had an error while processing your request. Sorry about that!"}})
            ))
        );
        assert!(events.iter().all(|(name, _)| name != "message_stop"));
    }

    fn rate_limited() {
        let (s, b) = resp(Anthropic, OpenAi, 429, "openai/error_429.json", GROK);
        assert_eq!(
            (s, b["error"]["type"].as_str()),
            (429, Some("rate_limit_error"))
        );
        assert!(b["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Rate limit reached"));
    }

    fn usage() {
        // xAI reports reasoning apart from completion_tokens: output_tokens bills both.
        let (_, b) = resp(Anthropic, OpenAi, 200, "openai/response_usage.json", GROK);
        assert_eq!(b["usage"], anthropic_usage(37, 128, 141));
        assert_eq!(b["stop_reason"], "max_tokens");
        let (_, b) = resp(
            Anthropic,
            OpenAi,
            200,
            "openai/response_tool_calls.json",
            GROK,
        );
        assert_eq!(b["usage"], anthropic_usage(28, 384, 64));
    }
}

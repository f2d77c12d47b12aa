//! Conformance suite, Anthropic client → Gemini provider (through the OpenAI form): the same cases as every other direction
//! (simple, multi-turn, system prompt, stream, tool call round trip, JSON mode, image input,
//! provider error, 429, usage) on fixtures recorded in each provider's wire format. Streams
//! are checked whole, byte by byte and in random splits (see `translate_support::stream`).

#[macro_use]
mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::Dialect;
use translate_support::*;
use Dialect::{Anthropic, Gemini};

conformance!(cases, AnthropicToGemini);

struct AnthropicToGemini;

const GEMINI3: &str = "gemini-3-pro-preview";

impl Direction for AnthropicToGemini {
    fn simple() {
        let up = req(Anthropic, Gemini, "anthropic/request_simple.json", GEMINI3);
        assert_eq!(
            up.path,
            "v1beta/models/gemini-3-pro-preview:generateContent"
        );
        assert_eq!(
            json(&up.body),
            json!({"contents": [{"role": "user", "parts": [{"text": "Hello, world"}]}],
            "generationConfig": {"maxOutputTokens": 1024}})
        );
        assert_eq!(
            resp(Anthropic, Gemini, 200, "gemini/response_text.json", GEMINI3),
            (
                200,
                anthropic_message(
                    "msg_o4y5aK2tGq2Ez7IPvYqLqAU",
                    "gemini-2.5-flash",
                    json!([{"type": "text", "text": "Hello! How can I help you today?"}]),
                    "end_turn",
                    [5, 0, 35]
                )
            )
        );
    }

    fn multi_turn() {
        let up = req(
            Anthropic,
            Gemini,
            "anthropic/request_multi_turn.json",
            GEMINI3,
        );
        assert_eq!(
            json(&up.body)["contents"],
            json!([
            {"role": "user", "parts": [{"text": "What is the capital of France?"}]},
            {"role": "model", "parts": [{"text": "The capital of France is Paris."}]},
            {"role": "user", "parts": [{"text": "And its population?"}, {"text": "Answer in one sentence."}]}])
        );
    }

    fn system_prompt() {
        let up = req(Anthropic, Gemini, "anthropic/request_system.json", GEMINI3);
        assert_eq!(
            json(&up.body),
            json!({
            "systemInstruction": {"parts": [{"text": "You are a terse assistant.\n\nNever use emoji."}]},
            "contents": [{"role": "user", "parts": [{"text": "Name three primary colors."}]}],
            // `top_k` reaches Gemini; `metadata.user_id` has no field there.
            "generationConfig": {"topK": 40, "stopSequences": ["END"], "maxOutputTokens": 512, "temperature": 0.2, "topP": 0.9}})
        );
    }

    fn stream() {
        let up = req(Anthropic, Gemini, "anthropic/request_stream.json", GEMINI3);
        assert_eq!(
            (up.path.as_str(), up.stream),
            (
                "v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse",
                true
            )
        );
        let events = anthropic_events(&stream(
            Anthropic,
            Gemini,
            "gemini/stream_text.sse",
            GEMINI3,
            false,
        ));
        assert_eq!(
            events,
            anthropic_text_events(
                "msg_ZJm5aM3xL4uBz7IPhd6B2Qo",
                "gemini-2.5-flash",
                &["Hello", "! How can I help", " you today? ☀️"],
                "end_turn",
                4,
                anthropic_usage(4, 0, 31)
            )
        );
    }

    fn tool_round_trip() {
        let up = req(Anthropic, Gemini, "anthropic/request_tools.json", GEMINI3);
        assert_eq!(
            json(&up.body),
            json!({"contents": [
            {"role": "user", "parts": [{"text": "What's the weather in San Francisco and Paris?"}]},
            {"role": "model", "parts": [{"text": "I'll check both cities."},
                {"functionCall": {"name": "get_weather", "args": {"location": "San Francisco, CA", "unit": "celsius"}},
                 "thoughtSignature": "skip_thought_signature_validator"},
                {"functionCall": {"name": "get_weather", "args": {"location": "Paris, France", "unit": "celsius"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 18, "condition": "fog"}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "22 degrees\nsunny"}}},
                {"text": "Which is warmer?"}]}],
            "tools": [{"functionDeclarations": [gemini_weather_decl()]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
            "generationConfig": {"maxOutputTokens": 1024}})
        );

        let (_, answer) = resp(
            Anthropic,
            Gemini,
            200,
            "gemini/response_function_call.json",
            GEMINI3,
        );
        assert_eq!(answer["stop_reason"], "tool_use");
        assert_eq!(
            answer["content"],
            json!([
            {"type": "tool_use", "id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_0", "name": "get_weather", "input": {"location": "San Francisco, CA", "unit": "celsius"}},
            {"type": "tool_use", "id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_1", "name": "get_weather", "input": {"location": "Paris, France", "unit": "celsius"}}])
        );
        let follow_up = json!({"max_tokens": 100, "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": answer["content"].clone()},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_0", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_1", "content": "22C"}]}]});
        let sent = req_value(Anthropic, Gemini, &follow_up, GEMINI3);
        assert_eq!(
            sent["contents"][2],
            json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "22C"}}}]})
        );

        let events = anthropic_events(&stream(
            Anthropic,
            Gemini,
            "gemini/stream_function_call.sse",
            GEMINI3,
            false,
        ));
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events[4].1["content_block"],
            json!({"type": "tool_use", "id": "call_k5q5aOP2F4WBz7IPkM7xwQ4_0", "name": "get_weather", "input": {}})
        );
        assert_eq!(
            events[8].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"location\":\"Paris, France\"}"})
        );
        assert_eq!(events[10].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[10].1["usage"], anthropic_usage(96, 0, 91));
    }

    fn json_mode() {
        let up = req(Anthropic, Gemini, "anthropic/request_json.json", GEMINI3);
        assert_eq!(
            json(&up.body)["generationConfig"],
            json!({"maxOutputTokens": 1024,
            "responseMimeType": "application/json", "responseSchema": {"type": "OBJECT",
            "properties": {"name": {"type": "STRING"}, "born": {"type": "INTEGER"}},
            "required": ["name", "born"], "propertyOrdering": ["name", "born"]}})
        );
        let (_, b) = resp(Anthropic, Gemini, 200, "gemini/response_json.json", GEMINI3);
        let text = b["content"][0]["text"].as_str().expect("text");
        assert_eq!(
            serde_json::from_str::<Value>(text).expect("JSON")["born"],
            1815
        );
    }

    fn image_input() {
        let up = req(Anthropic, Gemini, "anthropic/request_image.json", GEMINI3);
        assert_eq!(
            json(&up.body)["contents"],
            json!([{"role": "user", "parts": [
            {"fileData": {"mimeType": "image/jpeg", "fileUri": ANT_URL}},
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
            {"text": "What is in these images?"}]}])
        );
    }

    fn provider_error() {
        let (s, b) = resp(Anthropic, Gemini, 400, "gemini/error_400.json", GEMINI3);
        assert_eq!(
            (s, b),
            (
                400,
                json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "API key not valid. Please pass a valid API key."}})
            )
        );
        let (s, b) = resp(Anthropic, Gemini, 503, "gemini/error_503.json", GEMINI3);
        assert_eq!(
            (s, b["error"]["type"].as_str()),
            (503, Some("overloaded_error"))
        );
    }

    fn rate_limited() {
        let (s, b) = resp(Anthropic, Gemini, 429, "gemini/error_429.json", GEMINI3);
        assert_eq!(
            (s, b["error"]["type"].as_str()),
            (429, Some("rate_limit_error"))
        );
    }

    fn usage() {
        let (_, b) = resp(
            Anthropic,
            Gemini,
            200,
            "gemini/response_usage.json",
            GEMINI3,
        );
        assert_eq!(b["usage"], anthropic_usage(209, 2048, 523));
        assert_eq!(b["stop_reason"], "max_tokens");
        let events = anthropic_events(&stream(
            Anthropic,
            Gemini,
            "gemini/stream_text.sse",
            GEMINI3,
            false,
        ));
        let delta = events
            .iter()
            .find(|(n, _)| n == "message_delta")
            .expect("message_delta");
        assert_eq!(delta.1["usage"], anthropic_usage(4, 0, 31));
    }
}

//! Conformance suite, OpenAI client → Gemini provider: the same cases as every other direction
//! (simple, multi-turn, system prompt, stream, tool call round trip, JSON mode, image input,
//! provider error, 429, usage) on fixtures recorded in each provider's wire format. Streams
//! are checked whole, byte by byte and in random splits (see `translate_support::stream`).

#[macro_use]
mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::Dialect;
use translate_support::*;
use Dialect::{Gemini, OpenAi};

conformance!(cases, OpenAiToGemini);

struct OpenAiToGemini;

const GEMINI: &str = "gemini-2.5-flash";

impl Direction for OpenAiToGemini {
    fn simple() {
        let up = req(OpenAi, Gemini, "openai/request_simple.json", GEMINI);
        assert_eq!(
            (up.path.as_str(), up.stream),
            ("v1beta/models/gemini-2.5-flash:generateContent", false)
        );
        assert_eq!(
            json(&up.body),
            json!({"contents": [{"role": "user", "parts": [{"text": "Hello!"}]}]})
        );
        assert_eq!(
            resp(OpenAi, Gemini, 200, "gemini/response_text.json", GEMINI),
            (
                200,
                completion(
                    "chatcmpl-o4y5aK2tGq2Ez7IPvYqLqAU",
                    "gemini-2.5-flash",
                    json!({"role": "assistant", "content": "Hello! How can I help you today?"}),
                    "stop",
                    json!({"prompt_tokens": 5, "completion_tokens": 35, "total_tokens": 40,
                       "prompt_tokens_details": {"cached_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 26}})
                )
            )
        );
    }

    fn multi_turn() {
        let up = req(OpenAi, Gemini, "openai/request_multi_turn.json", GEMINI);
        assert_eq!(
            json(&up.body),
            json!({"contents": [
            {"role": "user", "parts": [{"text": "What is the capital of France?"}]},
            {"role": "model", "parts": [{"text": "The capital of France is Paris."}]},
            {"role": "user", "parts": [{"text": "And its population?"}, {"text": "Answer in one sentence."}]}],
            "generationConfig": {"maxOutputTokens": 256}})
        );
    }

    fn system_prompt() {
        let up = req(OpenAi, Gemini, "openai/request_system.json", GEMINI);
        assert_eq!(
            json(&up.body),
            json!({
            "systemInstruction": {"parts": [{"text": "You are a terse assistant."}, {"text": "Never use emoji."}]},
            "contents": [{"role": "user", "parts": [{"text": "Name three primary colors."}]}],
            "generationConfig": {"stopSequences": ["\n\n"], "maxOutputTokens": 100, "temperature": 0.2, "topP": 0.9}})
        );
    }

    fn stream() {
        let up = req(OpenAi, Gemini, "openai/request_stream.json", GEMINI);
        assert_eq!(
            (up.path.as_str(), up.stream, up.include_usage),
            (
                "v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                true,
                true
            )
        );
        let id = "chatcmpl-ZJm5aM3xL4uBz7IPhd6B2Qo";
        let m = GEMINI;
        let (chunks, done) = openai_chunks(&stream(
            OpenAi,
            Gemini,
            "gemini/stream_text.sse",
            GEMINI,
            true,
        ));
        assert!(done);
        assert_eq!(
            chunks,
            vec![
                chunk(
                    id,
                    m,
                    json!({"role": "assistant", "content": "Hello"}),
                    None,
                    true
                ),
                chunk(id, m, json!({"content": "! How can I help"}), None, true),
                chunk(id, m, json!({"content": " you today? ☀️"}), None, true),
                chunk(id, m, json!({}), Some("stop"), true),
                usage_chunk(
                    id,
                    m,
                    json!({"prompt_tokens": 4, "completion_tokens": 31, "total_tokens": 35,
                "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 20}})
                ),
            ]
        );
    }

    fn tool_round_trip() {
        let up = req(OpenAi, Gemini, "openai/request_tools.json", GEMINI);
        assert_eq!(
            json(&up.body),
            json!({"contents": [
            {"role": "user", "parts": [{"text": "What's the weather in San Francisco and Paris?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"location": "San Francisco, CA", "unit": "celsius"}}},
                {"functionCall": {"name": "get_weather", "args": {"location": "Paris, France", "unit": "celsius"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 18, "condition": "fog"}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "22 degrees and sunny"}}}]}],
            "tools": [{"functionDeclarations": [gemini_weather_decl()]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}})
        );

        let (_, answer) = resp(
            OpenAi,
            Gemini,
            200,
            "gemini/response_function_call.json",
            GEMINI,
        );
        assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
        let message = answer["choices"][0]["message"].clone();
        assert_eq!(
            message,
            json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_0", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"},
             "extra_content": {"google": {"thought_signature": "CiQB0e2Kb7sPq4mXJ8vA2nTzR1yQ=="}}},
            {"id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"}}]})
        );
        // Sent back: the signature returns on its call, the names come from the call ids.
        let follow_up = json!({"messages": [
            {"role": "user", "content": "Weather in SF and Paris?"},
            message,
            {"role": "tool", "tool_call_id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_0", "content": "18C fog"},
            {"role": "tool", "tool_call_id": "call_x5W5aO7KOfuFz7IP8rnGsQ4_1", "content": "{\"temp\":22}"}]});
        for model in [GEMINI, "gemini-3-pro-preview"] {
            let sent = req_value(OpenAi, Gemini, &follow_up, model);
            assert_eq!(
                sent["contents"][1],
                json!({"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"location": "San Francisco, CA", "unit": "celsius"}},
                 "thoughtSignature": "CiQB0e2Kb7sPq4mXJ8vA2nTzR1yQ=="},
                {"functionCall": {"name": "get_weather", "args": {"location": "Paris, France", "unit": "celsius"}}}]})
            );
            assert_eq!(
                sent["contents"][2],
                json!({"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "18C fog"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 22}}}]})
            );
        }
        // Gemini 3 needs a signature on the first call of a turn; a lost one gets the placeholder.
        let unsigned = json(&fixture("openai/request_tools.json"));
        let sent = req_value(OpenAi, Gemini, &unsigned, "gemini-3-flash-preview");
        assert_eq!(
            sent["contents"][1]["parts"][0]["thoughtSignature"],
            "skip_thought_signature_validator"
        );
        assert!(sent["contents"][1]["parts"][1]
            .get("thoughtSignature")
            .is_none());

        let id = "chatcmpl-k5q5aOP2F4WBz7IPkM7xwQ4";
        let (chunks, _) = openai_chunks(&stream(
            OpenAi,
            Gemini,
            "gemini/stream_function_call.sse",
            GEMINI,
            false,
        ));
        assert_eq!(
            chunks,
            vec![
                chunk(
                    id,
                    GEMINI,
                    json!({"role": "assistant", "content": "Checking both cities."}),
                    None,
                    false
                ),
                chunk(
                    id,
                    GEMINI,
                    json!({"tool_calls": [
                {"index": 0, "id": "call_k5q5aOP2F4WBz7IPkM7xwQ4_0", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"San Francisco, CA\"}"},
                 "extra_content": {"google": {"thought_signature": "CiQB0e2Kb7sPq4mXJ8vA2nTzR1yQ=="}}},
                {"index": 1, "id": "call_k5q5aOP2F4WBz7IPkM7xwQ4_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}}]}),
                    None,
                    false
                ),
                chunk(id, GEMINI, json!({}), Some("tool_calls"), false),
            ]
        );
    }

    fn json_mode() {
        let up = json(&req(OpenAi, Gemini, "openai/request_json_object.json", GEMINI).body);
        assert_eq!(
            up["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
        let up = json(&req(OpenAi, Gemini, "openai/request_json_schema.json", GEMINI).body);
        assert_eq!(
            up["generationConfig"],
            json!({"responseMimeType": "application/json", "responseSchema": {
            "type": "OBJECT", "properties": {"name": {"type": "STRING"}, "born": {"type": "INTEGER"}},
            "required": ["name", "born"], "propertyOrdering": ["name", "born"]}})
        );
        let (_, b) = resp(OpenAi, Gemini, 200, "gemini/response_json.json", GEMINI);
        let text = b["choices"][0]["message"]["content"]
            .as_str()
            .expect("text");
        assert_eq!(
            serde_json::from_str::<Value>(text).expect("JSON"),
            json!({"name": "Ada Lovelace", "born": 1815})
        );
    }

    fn image_input() {
        let up = req(OpenAi, Gemini, "openai/request_image.json", GEMINI);
        assert_eq!(
            json(&up.body)["contents"],
            json!([{"role": "user", "parts": [
            {"text": "What is in these images?"},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": ANT_URL}},
            {"inlineData": {"mimeType": "image/png", "data": PNG}}]}])
        );
        // Gemini takes audio.
        let up = req(OpenAi, Gemini, "openai/request_audio.json", GEMINI);
        assert_eq!(
            json(&up.body),
            json!({
            "systemInstruction": {"parts": [{"text": "Transcribe."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Listen to this."}]},
                {"role": "model", "parts": [{"text": "Sure, send it."}]},
                {"role": "user", "parts": [{"inlineData": {"mimeType": "audio/wav",
                    "data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="}}]}]})
        );
    }

    fn provider_error() {
        let (s, b) = resp(OpenAi, Gemini, 400, "gemini/error_400.json", GEMINI);
        assert_eq!(
            (s, b),
            (
                400,
                json!({"error": {"message": "API key not valid. Please pass a valid API key.",
            "type": "invalid_request_error", "param": null, "code": "INVALID_ARGUMENT"}})
            )
        );
        let (s, b) = resp(OpenAi, Gemini, 503, "gemini/error_503.json", GEMINI);
        assert_eq!(
            (s, b["error"]["type"].clone(), b["error"]["code"].clone()),
            (503, json!("server_error"), json!("UNAVAILABLE"))
        );
        // A blocked prompt is an answer, filtered.
        let (s, b) = resp(OpenAi, Gemini, 200, "gemini/response_blocked.json", GEMINI);
        assert_eq!(s, 200);
        assert_eq!(
            b["choices"],
            json!([{"index": 0, "message": {"role": "assistant", "content": null},
            "logprobs": null, "finish_reason": "content_filter"}])
        );
    }

    fn rate_limited() {
        let (s, b) = resp(OpenAi, Gemini, 429, "gemini/error_429.json", GEMINI);
        assert_eq!(s, 429);
        assert_eq!(
            (b["error"]["type"].as_str(), b["error"]["code"].as_str()),
            (Some("rate_limit_error"), Some("RESOURCE_EXHAUSTED"))
        );
        assert!(b["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("You exceeded your current quota"));
    }

    fn usage() {
        let (_, b) = resp(OpenAi, Gemini, 200, "gemini/response_usage.json", GEMINI);
        assert_eq!(b["model"], "gemini-2.5-pro");
        assert_eq!(
            b["usage"],
            json!({"prompt_tokens": 2257, "completion_tokens": 523, "total_tokens": 2780,
            "prompt_tokens_details": {"cached_tokens": 2048}, "completion_tokens_details": {"reasoning_tokens": 130}})
        );
        let finishes: Vec<&Value> = b["choices"]
            .as_array()
            .expect("choices")
            .iter()
            .map(|c| &c["finish_reason"])
            .collect();
        assert_eq!(finishes, [&json!("length"), &json!("stop")]);
        // n → candidateCount.
        let up = req_value(
            OpenAi,
            Gemini,
            &json!({"messages": [{"role": "user", "content": "Hi"}], "n": 2}),
            GEMINI,
        );
        assert_eq!(up["generationConfig"], json!({"candidateCount": 2}));
    }
}

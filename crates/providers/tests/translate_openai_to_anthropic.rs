//! Conformance suite, OpenAI client → Anthropic provider: the same cases as every other direction
//! (simple, multi-turn, system prompt, stream, tool call round trip, JSON mode, image input,
//! provider error, 429, usage) on fixtures recorded in each provider's wire format. Streams
//! are checked whole, byte by byte and in random splits (see `translate_support::stream`).

#[macro_use]
mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::Dialect;
use translate_support::*;
use Dialect::{Anthropic, OpenAi};

conformance!(cases, OpenAiToAnthropic);

struct OpenAiToAnthropic;

const CLAUDE: &str = "claude-sonnet-4-5";
const CLAUDE_ANSWERED: &str = "claude-sonnet-4-5-20250929";

impl Direction for OpenAiToAnthropic {
    fn simple() {
        let up = req(OpenAi, Anthropic, "openai/request_simple.json", CLAUDE);
        assert_eq!(
            (up.path.as_str(), up.stream, up.include_usage),
            ("v1/messages", false, false)
        );
        assert_eq!(
            json(&up.body),
            json!({"model": CLAUDE, "max_tokens": 4096, "messages": [{"role": "user", "content": "Hello!"}]})
        );
        assert_eq!(
            resp(
                OpenAi,
                Anthropic,
                200,
                "anthropic/response_text.json",
                CLAUDE
            ),
            (
                200,
                completion(
                    "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL",
                    CLAUDE_ANSWERED,
                    json!({"role": "assistant", "content": "Hello! How can I help you today?"}),
                    "stop",
                    json!({"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22,
                       "prompt_tokens_details": {"cached_tokens": 0}})
                )
            )
        );
    }

    fn multi_turn() {
        let up = req(OpenAi, Anthropic, "openai/request_multi_turn.json", CLAUDE);
        // The two consecutive user messages are merged: Anthropic alternates roles.
        assert_eq!(
            json(&up.body),
            json!({"model": CLAUDE, "max_tokens": 256, "messages": [
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "The capital of France is Paris."},
                {"role": "user", "content": [{"type": "text", "text": "And its population?"},
                                             {"type": "text", "text": "Answer in one sentence."}]}]})
        );
    }

    fn system_prompt() {
        let up = req(OpenAi, Anthropic, "openai/request_system.json", CLAUDE);
        assert_eq!(
            json(&up.body),
            json!({"model": CLAUDE, "max_tokens": 100,
                "system": [{"type": "text", "text": "You are a terse assistant."},
                           {"type": "text", "text": "Never use emoji."}],
                "messages": [{"role": "user", "content": "Name three primary colors."}],
                // "\n\n" is left out (Anthropic refuses whitespace-only stop sequences) and
                // top_p too (current models refuse it beside temperature).
                "temperature": 0.2,
                "metadata": {"user_id": "user-1234"}})
        );
        // One system message stays a string.
        let one = req_value(
            OpenAi,
            Anthropic,
            &json!({"messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}),
            CLAUDE,
        );
        assert_eq!(one["system"], "Be brief.");
    }

    fn stream() {
        let up = req(OpenAi, Anthropic, "openai/request_stream.json", CLAUDE);
        assert_eq!((up.stream, up.include_usage), (true, true));
        assert_eq!(json(&up.body)["stream"], true);
        let id = "chatcmpl-msg_01Fz3h9vQ6t7cRwLx2kJmN8p";
        let m = CLAUDE_ANSWERED;
        let (chunks, done) = openai_chunks(&stream(
            OpenAi,
            Anthropic,
            "anthropic/stream_text.sse",
            CLAUDE,
            true,
        ));
        assert!(done);
        assert_eq!(
            chunks,
            vec![
                chunk(
                    id,
                    m,
                    json!({"role": "assistant", "content": ""}),
                    None,
                    true
                ),
                chunk(id, m, json!({"content": "Hello"}), None, true),
                chunk(id, m, json!({"content": "! How can I"}), None, true),
                chunk(id, m, json!({"content": " help? ☀️"}), None, true),
                chunk(id, m, json!({}), Some("stop"), true),
                usage_chunk(
                    id,
                    m,
                    json!({"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 0}})
                ),
            ]
        );
        // Without include_usage: no usage chunk, no `usage` fields.
        let (plain, done) = openai_chunks(&stream(
            OpenAi,
            Anthropic,
            "anthropic/stream_text.sse",
            CLAUDE,
            false,
        ));
        assert!(done);
        assert_eq!(plain.len(), 5);
        assert!(plain.iter().all(|c| c.get("usage").is_none()));
        assert_eq!(streamed_text(&plain), "Hello! How can I help? ☀️");
    }

    fn tool_round_trip() {
        let up = req(OpenAi, Anthropic, "openai/request_tools.json", CLAUDE);
        assert_eq!(
            json(&up.body),
            json!({"model": CLAUDE, "max_tokens": 4096, "messages": [
                {"role": "user", "content": "What's the weather in San Francisco and Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_sf", "name": "get_weather",
                     "input": {"location": "San Francisco, CA", "unit": "celsius"}},
                    {"type": "tool_use", "id": "call_paris", "name": "get_weather",
                     "input": {"location": "Paris, France", "unit": "celsius"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_sf", "content": "{\"temperature\":18,\"condition\":\"fog\"}"},
                    {"type": "tool_result", "tool_use_id": "call_paris", "content": "22 degrees and sunny"}]}],
                "tools": [{"name": "get_weather", "description": "Get the current weather in a given location",
                           "input_schema": weather_schema()}],
                "tool_choice": {"type": "auto"}})
        );

        // The answer's tool calls ...
        let (status, answer) = resp(
            OpenAi,
            Anthropic,
            200,
            "anthropic/response_tool_use.json",
            CLAUDE,
        );
        assert_eq!(status, 200);
        assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
        let message = answer["choices"][0]["message"].clone();
        assert_eq!(
            message,
            json!({"role": "assistant", "content": "I'll check the weather in both cities.",
            "tool_calls": [
                {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function", "function": {"name": "get_weather",
                 "arguments": "{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"}},
                {"id": "toolu_01B2kx8vYqT5w3nFhEzR7cPd", "type": "function", "function": {"name": "get_weather",
                 "arguments": "{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"}}]})
        );
        // ... sent back with their results reach Anthropic as the same tool_use / tool_result.
        let follow_up = json!({"messages": [
            {"role": "user", "content": "Weather in SF and Paris?"},
            message,
            {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "18C fog"},
            {"role": "tool", "tool_call_id": "toolu_01B2kx8vYqT5w3nFhEzR7cPd", "content": [{"type": "text", "text": "22C sun"}]}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": weather_schema()}}]});
        let sent = req_value(OpenAi, Anthropic, &follow_up, CLAUDE);
        assert_eq!(
            sent["messages"][1]["content"],
            json!([
            {"type": "text", "text": "I'll check the weather in both cities."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"location": "San Francisco, CA", "unit": "celsius"}},
            {"type": "tool_use", "id": "toolu_01B2kx8vYqT5w3nFhEzR7cPd", "name": "get_weather",
             "input": {"location": "Paris, France", "unit": "celsius"}}])
        );
        assert_eq!(
            sent["messages"][2],
            json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18C fog"},
            {"type": "tool_result", "tool_use_id": "toolu_01B2kx8vYqT5w3nFhEzR7cPd", "content": "22C sun"}]})
        );

        // Streamed: the text, then two tool calls with their arguments in pieces.
        let id = "chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U";
        let m = CLAUDE_ANSWERED;
        let (chunks, _) = openai_chunks(&stream(
            OpenAi,
            Anthropic,
            "anthropic/stream_tool_use.sse",
            CLAUDE,
            false,
        ));
        assert_eq!(
            chunks,
            vec![
                chunk(
                    id,
                    m,
                    json!({"role": "assistant", "content": ""}),
                    None,
                    false
                ),
                chunk(
                    id,
                    m,
                    json!({"content": "Okay, let's check the weather."}),
                    None,
                    false
                ),
                chunk(
                    id,
                    m,
                    json!({"tool_calls": [{"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
                    None,
                    false
                ),
                chunk(
                    id,
                    m,
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\": \"San Fra"}}]}),
                    None,
                    false
                ),
                chunk(
                    id,
                    m,
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "ncisco, CA\", \"unit\": \"fahrenheit\"}"}}]}),
                    None,
                    false
                ),
                chunk(
                    id,
                    m,
                    json!({"tool_calls": [{"index": 1, "id": "toolu_01Kq9Wc3ZbV8xH2nY5rT4uLp", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
                    None,
                    false
                ),
                chunk(
                    id,
                    m,
                    json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"location\": \"Paris, France\"}"}}]}),
                    None,
                    false
                ),
                chunk(id, m, json!({}), Some("tool_calls"), false),
            ]
        );
    }

    fn json_mode() {
        let forced = |schema: Value, description: &str| {
            json!({"tools": [{"name": "json_response", "description": description, "input_schema": schema}],
                   "tool_choice": {"type": "tool", "name": "json_response"}})
        };
        let up = json(&req(OpenAi, Anthropic, "openai/request_json_object.json", CLAUDE).body);
        let want = forced(
            json!({"type": "object"}),
            "Give your final answer to the user as this tool's input: any JSON object.",
        );
        assert_eq!(
            (&up["tools"], &up["tool_choice"]),
            (&want["tools"], &want["tool_choice"])
        );
        let up = json(&req(OpenAi, Anthropic, "openai/request_json_schema.json", CLAUDE).body);
        let want = forced(
            json!({"type": "object", "properties": {"name": {"type": "string"}, "born": {"type": "integer"}},
                   "required": ["name", "born"], "additionalProperties": false}),
            "Give your final answer to the user as this tool's input (person).",
        );
        assert_eq!(
            (&up["tools"], &up["tool_choice"]),
            (&want["tools"], &want["tool_choice"])
        );
        assert!(up.get("system").is_none());

        // The forced tool's input comes back as the message text, finish "stop".
        assert_eq!(
            resp(
                OpenAi,
                Anthropic,
                200,
                "anthropic/response_json_tool.json",
                CLAUDE
            ),
            (
                200,
                completion(
                    "chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U",
                    CLAUDE_ANSWERED,
                    json!({"role": "assistant", "content": "{\"name\":\"Ada Lovelace\",\"born\":1815}"}),
                    "stop",
                    json!({"prompt_tokens": 389, "completion_tokens": 58, "total_tokens": 447,
                       "prompt_tokens_details": {"cached_tokens": 0}})
                )
            )
        );
        let (chunks, _) = openai_chunks(&stream(
            OpenAi,
            Anthropic,
            "anthropic/stream_json_tool.sse",
            CLAUDE,
            false,
        ));
        assert_eq!(
            streamed_text(&chunks),
            "{\"name\": \"Ada Lovelace\", \"born\": 1815}"
        );
        assert!(chunks
            .iter()
            .all(|c| c.pointer("/choices/0/delta/tool_calls").is_none()));
        assert_eq!(
            chunks.last().expect("chunks")["choices"][0]["finish_reason"],
            "stop"
        );

        // With client tools the forced tool would shut them out: a system instruction instead.
        let mut with_tools = json(&fixture("openai/request_json_schema.json"));
        with_tools["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
        let up = req_value(OpenAi, Anthropic, &with_tools, CLAUDE);
        assert_eq!(up["tools"][0]["name"], "lookup");
        let system = up["system"].as_str().expect("instruction");
        assert!(system.starts_with(
            "Respond with a single valid JSON value that conforms to this JSON Schema"
        ));
        assert!(system.contains("\"born\":{\"type\":\"integer\"}"));
    }

    fn image_input() {
        let up = req(OpenAi, Anthropic, "openai/request_image.json", CLAUDE);
        assert_eq!(
            json(&up.body)["messages"],
            json!([{"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image", "source": {"type": "url", "url": ANT_URL}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}])
        );
        // Audio has no Anthropic counterpart: refused, naming the part.
        let (param, body) = refused(
            OpenAi,
            Anthropic,
            &json(&fixture("openai/request_audio.json")),
            CLAUDE,
        );
        assert_eq!(param, "messages[3].content[0].type");
        assert_eq!(body["error"]["param"], "messages[3].content[0].type");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        // Image types Anthropic cannot read are refused too.
        let bmp = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]}]});
        assert_eq!(
            refused(OpenAi, Anthropic, &bmp, CLAUDE).0,
            "messages[0].content[0].image_url"
        );
        // A JPEG named by its file's extension, or with parameters, is a JPEG.
        for url in [
            "data:image/jpg;base64,/9j/",
            "data:image/JPG;base64,/9j/",
            "data:image/pjpeg;base64,/9j/",
            "data:image/jpeg;name=a.jpg;base64,/9j/",
        ] {
            let body = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
            let up = upstream_of(OpenAi, Anthropic, &body, CLAUDE);
            assert_eq!(
                json(&up.body)["messages"][0]["content"][0]["source"],
                json!({"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}),
                "{url}"
            );
        }
    }

    fn provider_error() {
        let (s, b) = resp(
            OpenAi,
            Anthropic,
            400,
            "anthropic/error_invalid_request.json",
            CLAUDE,
        );
        assert_eq!(
            (s, b),
            (
                400,
                json!({"error": {
            "message": "messages.0.content.1.image.source.base64: image exceeds 5 MB maximum",
            "type": "invalid_request_error", "param": null, "code": "invalid_request_error"}})
            )
        );
        let (s, b) = resp(
            OpenAi,
            Anthropic,
            529,
            "anthropic/error_overloaded.json",
            CLAUDE,
        );
        assert_eq!(
            (s, b),
            (
                503,
                json!({"error": {"message": "Overloaded", "type": "server_error",
            "param": null, "code": "overloaded_error"}})
            )
        );
        // Mid-stream: the error chunk, then [DONE].
        let (chunks, done) = openai_chunks(&stream(
            OpenAi,
            Anthropic,
            "anthropic/stream_error.sse",
            CLAUDE,
            true,
        ));
        assert!(done);
        assert_eq!(
            chunks.last(),
            Some(
                &json!({"error": {"message": "Overloaded", "type": "server_error",
            "param": null, "code": "overloaded_error"}})
            )
        );
        assert_eq!(streamed_text(&chunks), "Once upon");
    }

    fn rate_limited() {
        let (s, b) = resp(
            OpenAi,
            Anthropic,
            429,
            "anthropic/error_rate_limit.json",
            CLAUDE,
        );
        assert_eq!(s, 429);
        assert_eq!(b["error"]["type"], "rate_limit_error");
        assert_eq!(b["error"]["code"], "rate_limit_error");
        assert!(b["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("This request would exceed the rate limit"));
    }

    fn usage() {
        // Cache reads and writes are part of prompt_tokens; reads are also cached_tokens.
        let (_, b) = resp(
            OpenAi,
            Anthropic,
            200,
            "anthropic/response_cache_usage.json",
            CLAUDE,
        );
        assert_eq!(
            b["usage"],
            json!({"prompt_tokens": 2257, "completion_tokens": 393, "total_tokens": 2650,
            "prompt_tokens_details": {"cached_tokens": 2048}})
        );
        assert_eq!(b["choices"][0]["finish_reason"], "length");
        let (chunks, _) = openai_chunks(&stream(
            OpenAi,
            Anthropic,
            "anthropic/stream_tool_use.sse",
            CLAUDE,
            true,
        ));
        assert_eq!(
            chunks.last().expect("usage chunk")["usage"],
            json!({"prompt_tokens": 728,
            "completion_tokens": 89, "total_tokens": 817, "prompt_tokens_details": {"cached_tokens": 256}})
        );
    }
}

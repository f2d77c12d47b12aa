//! The Gemini API (AI Studio): generateContent (JSON), streamGenerateContent
//! (SSE and JSON array), embeddings, countTokens, validation, credentials,
//! tools, generation config and scripting.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::{FakeConfig, FakeProvider, Script, ScriptUsage};

use crate::client::{gemini_body, gemini_post, post, post_raw, raw_exchange, Reply};

const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM_SSE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
const STREAM_ARRAY: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";

fn text_of(response: &Value) -> String {
    response["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default()
}

fn google_error(reply: &Reply, code: u16, status: &str) -> Value {
    assert_eq!(reply.status, code, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    let body = reply.json();
    assert_eq!(body["error"]["code"], code);
    assert_eq!(body["error"]["status"], status);
    body["error"].clone()
}

#[tokio::test]
async fn generate_content_has_the_google_shape() {
    let fake = FakeProvider::start().await;
    let reply = gemini_post(GENERATE, gemini_body()).send(&fake).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert!(
        reply.text().contains("\n  \""),
        "pretty-printed like Google"
    );
    let body = reply.json();
    assert_eq!(
        body["candidates"],
        json!([{
            "content": {"parts": [{"text": "Hello from the fake provider."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }])
    );
    assert_eq!(
        body["usageMetadata"],
        json!({
            "promptTokenCount": 6,
            "candidatesTokenCount": 5,
            "totalTokenCount": 11,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
        })
    );
    assert_eq!(body["modelVersion"], "gemini-2.5-flash");
    let id = body["responseId"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    // v1, the key in the query, and prettyPrint=false.
    let reply = post(
        "/v1/models/gemini-2.0-flash:generateContent?key=k&prettyPrint=false",
        gemini_body(),
    )
    .without_auth()
    .send(&fake)
    .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.text().contains('\n'));
    assert_eq!(reply.json()["modelVersion"], "gemini-2.0-flash");
    assert_eq!(
        fake.hits_for("/v1/models/gemini-2.0-flash:generateContent"),
        1
    );
    assert_eq!(
        fake.last_request().unwrap().query(),
        Some("key=k&prettyPrint=false")
    );
}

#[tokio::test]
async fn sse_stream_sends_cumulative_chunks_with_crlf_framing() {
    let fake = FakeProvider::start().await;
    let reply = gemini_post(STREAM_SSE, gemini_body()).send(&fake).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = reply.gemini_events();
    assert_eq!(events.len(), 5, "one response per chunk, no [DONE]");
    let id = events[0]["responseId"].as_str().unwrap();
    let mut text = String::new();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["responseId"], id);
        assert_eq!(event["modelVersion"], "gemini-2.5-flash");
        let candidate = &event["candidates"][0];
        assert_eq!(candidate["content"]["role"], "model");
        assert_eq!(candidate["index"], 0);
        assert_eq!(candidate.get("finishReason").is_some(), i == 4);
        text.push_str(&text_of(event));
        let usage = &event["usageMetadata"];
        assert_eq!(usage["promptTokenCount"], 6);
        assert_eq!(usage["candidatesTokenCount"], i + 1, "cumulative usage");
        assert_eq!(usage["totalTokenCount"], 6 + i + 1);
    }
    assert_eq!(text, "Hello from the fake provider.");
    assert_eq!(events[4]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn stream_without_alt_sse_is_one_json_array() {
    let fake = FakeProvider::start().await;
    let reply = gemini_post(STREAM_ARRAY, gemini_body()).send(&fake).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    let items = reply.json();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 5);
    let text: String = items.iter().map(text_of).collect();
    assert_eq!(text, "Hello from the fake provider.");
    assert_eq!(items[4]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(items[4]["usageMetadata"]["totalTokenCount"], 11);
}

#[tokio::test]
async fn credentials_are_checked_first_google_style() {
    let fake = FakeProvider::start().await;
    // No key at all: 403, even with a broken body.
    let reply = post_raw(GENERATE, "{broken")
        .without_auth()
        .send(&fake)
        .await;
    let error = google_error(&reply, 403, "PERMISSION_DENIED");
    assert_eq!(
        error["message"],
        "Method doesn't allow unregistered callers (callers without established identity). \
         Please use API Key or other form of API consumer identity to call this API."
    );

    let reply = post(GENERATE, gemini_body())
        .without_auth()
        .header("x-goog-api-key", "bad-key")
        .send(&fake)
        .await;
    let error = google_error(&reply, 400, "INVALID_ARGUMENT");
    assert_eq!(
        error["message"],
        "API key not valid. Please pass a valid API key."
    );
    assert_eq!(error["details"][0]["reason"], "API_KEY_INVALID");
    assert_eq!(
        error["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );

    // A bearer token is not an API key.
    let reply = post(GENERATE, gemini_body()).send(&fake).await;
    let error = google_error(&reply, 401, "UNAUTHENTICATED");
    assert_eq!(
        error["details"][0]["reason"],
        "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    );

    // On a JSON-array stream the error comes inside the array.
    let reply = post(STREAM_ARRAY, gemini_body())
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()[0]["error"]["status"], "PERMISSION_DENIED");
    let reply = post(STREAM_SSE, gemini_body())
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reply.json()["error"]["code"], 403);

    let open = FakeProvider::start_with(FakeConfig {
        require_auth: false,
        ..FakeConfig::default()
    })
    .await;
    let reply = post(GENERATE, gemini_body())
        .without_auth()
        .send(&open)
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn requests_are_validated_like_google() {
    let fake = FakeProvider::start().await;
    let reply = post_raw(GENERATE, "{\"contents\": [")
        .without_auth()
        .header("x-goog-api-key", "k")
        .send(&fake)
        .await;
    let error = google_error(&reply, 400, "INVALID_ARGUMENT");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid JSON payload received."));

    let cases = [
        (
            json!({}),
            "* GenerateContentRequest.contents: contents is not specified\n",
        ),
        (
            json!({"contents": []}),
            "* GenerateContentRequest.contents: contents is not specified\n",
        ),
        (
            json!({"contents": [{"role": "user", "parts": []}]}),
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{}]}]}),
            "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' \
             must have one initialized field\n",
        ),
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}),
            "Please use a valid role: user, model.",
        ),
        (
            json!({"contents": [{"role": "system", "parts": [{"text": "hi"}]}]}),
            "Please use a valid role: user, model.",
        ),
    ];
    for (body, message) in cases {
        let reply = gemini_post(GENERATE, body.clone()).send(&fake).await;
        let error = google_error(&reply, 400, "INVALID_ARGUMENT");
        assert_eq!(error["message"], message, "{body}");
    }

    // Unknown names are rejected, all at once, with field violations.
    let mut body = gemini_body();
    body["temperature"] = json!(0.2);
    body["contents"][0]["content"] = json!("x");
    let reply = gemini_post(GENERATE, body).send(&fake).await;
    let error = google_error(&reply, 400, "INVALID_ARGUMENT");
    assert_eq!(
        error["message"],
        "Invalid JSON payload received. Unknown name \"temperature\": Cannot find field.\n\
         Invalid JSON payload received. Unknown name \"content\" at 'contents[0]': Cannot find \
         field."
    );
    let details = &error["details"][0];
    assert_eq!(
        details["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(details["fieldViolations"][1]["field"], "contents[0]");

    // proto JSON: snake_case names, a role-less turn and a non-array root.
    let body = json!({
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"parts": [{"text": "Say hello to me"}]}],
        "generation_config": {"candidate_count": 1},
    });
    let reply = gemini_post(GENERATE, body).send(&fake).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["usageMetadata"]["promptTokenCount"], 6);
    let reply = gemini_post(GENERATE, json!([1])).send(&fake).await;
    let error = google_error(&reply, 400, "INVALID_ARGUMENT");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("Root element must be a message"));

    // Image parts are accepted.
    let body = json!({"contents": [{"role": "user", "parts": [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
    ]}]});
    assert_eq!(gemini_post(GENERATE, body).send(&fake).await.status, 200);
}

fn tool_body() -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "tools": [{"functionDeclarations": [
            {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {"type": "OBJECT", "properties": {
                    "city": {"type": "STRING"},
                    "days": {"type": "INTEGER"},
                    "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
                }, "required": ["city"]},
            },
            {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
        ]}],
    })
}

#[tokio::test]
async fn tools_give_a_function_call_part() {
    let fake = FakeProvider::start().await;
    let body = gemini_post(GENERATE, tool_body()).send(&fake).await.json();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather",
                                  "args": {"city": "fake", "days": 1, "unit": "celsius"}}}])
    );

    let events = gemini_post(STREAM_SSE, tool_body())
        .send(&fake)
        .await
        .gemini_events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(events[0]["candidates"][0]["finishReason"], "STOP");

    // allowedFunctionNames picks the function; NONE disables calling.
    let mut forced = tool_body();
    forced["toolConfig"] =
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}});
    let body = gemini_post(GENERATE, forced).send(&fake).await.json();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "get_time", "args": {"zone": "fake"}})
    );
    let mut none = tool_body();
    none["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let body = gemini_post(GENERATE, none).send(&fake).await.json();
    assert_eq!(text_of(&body), "Hello from the fake provider.");

    // After the function answered, the model talks.
    let mut answered = tool_body();
    answered["contents"].as_array_mut().unwrap().extend([
        json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}),
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]}),
    ]);
    let body = gemini_post(GENERATE, answered).send(&fake).await.json();
    assert_eq!(text_of(&body), "Hello from the fake provider.");
}

#[tokio::test]
async fn generation_config_is_honoured() {
    let fake = FakeProvider::start().await;
    let with = |config: Value| {
        let mut body = gemini_body();
        body["generationConfig"] = config;
        body
    };

    let body = gemini_post(GENERATE, with(json!({"candidateCount": 2})))
        .send(&fake)
        .await
        .json();
    let candidates = body["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    assert_eq!(candidates[1]["index"], 1);
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 10);

    let body = gemini_post(GENERATE, with(json!({"stopSequences": ["fake"]})))
        .send(&fake)
        .await
        .json();
    assert_eq!(text_of(&body), "Hello from the ");
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 4);

    let body = gemini_post(GENERATE, with(json!({"maxOutputTokens": 2})))
        .send(&fake)
        .await
        .json();
    assert_eq!(text_of(&body), "Hello from");
    assert_eq!(body["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 2);

    let events = gemini_post(STREAM_SSE, with(json!({"maxOutputTokens": 3})))
        .send(&fake)
        .await
        .gemini_events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2]["candidates"][0]["finishReason"], "MAX_TOKENS");

    let schema = json!({"type": "OBJECT", "properties": {
        "name": {"type": "STRING"}, "age": {"type": "INTEGER"}, "note": {"type": "STRING"},
    }, "required": ["name", "age"]});
    let body = gemini_post(
        GENERATE,
        with(json!({"responseMimeType": "application/json", "responseSchema": schema})),
    )
    .send(&fake)
    .await
    .json();
    let object: Value = serde_json::from_str(&text_of(&body)).unwrap();
    assert_eq!(object, json!({"name": "fake", "age": 1}));
}

#[tokio::test]
async fn embeddings_and_count_tokens() {
    let fake = FakeProvider::start().await;
    let content = json!({"parts": [{"text": "Hello world"}]});
    let reply = gemini_post(
        "/v1beta/models/text-embedding-004:embedContent",
        json!({"model": "models/text-embedding-004", "content": content}),
    )
    .send(&fake)
    .await;
    assert_eq!(reply.status, 200);
    let one = reply.json()["embedding"]["values"].clone();
    assert_eq!(one.as_array().unwrap().len(), 8);

    let reply = gemini_post(
        "/v1/models/text-embedding-004:batchEmbedContents",
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": content},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "Other"}]},
             "outputDimensionality": 4},
        ]}),
    )
    .send(&fake)
    .await;
    assert_eq!(reply.status, 200);
    let embeddings = reply.json()["embeddings"].clone();
    assert_eq!(embeddings[0]["values"], one, "deterministic per text");
    assert_eq!(embeddings[1]["values"].as_array().unwrap().len(), 4);

    // Google takes at most 100 entries in one batch.
    let entry = json!({"model": "models/text-embedding-004", "content": content});
    let reply = gemini_post(
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        json!({"requests": vec![entry.clone(); 101]}),
    )
    .send(&fake)
    .await;
    let error = google_error(&reply, 400, "INVALID_ARGUMENT");
    assert_eq!(
        error["message"],
        "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
    );
    let reply = gemini_post(
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        json!({"requests": vec![entry; 100]}),
    )
    .send(&fake)
    .await;
    assert_eq!(reply.status, 200);

    let reply = gemini_post(
        "/v1beta/models/text-embedding-004:embedContent",
        json!({"model": "models/text-embedding-004"}),
    )
    .send(&fake)
    .await;
    let error = google_error(&reply, 400, "INVALID_ARGUMENT");
    assert_eq!(
        error["message"],
        "* EmbedContentRequest.content: content is not specified\n"
    );

    let reply = gemini_post(
        "/v1beta/models/gemini-2.5-flash:countTokens",
        json!({"contents": gemini_body()["contents"]}),
    )
    .send(&fake)
    .await;
    assert_eq!(reply.json()["totalTokens"], 4);
}

#[tokio::test]
async fn scripted_errors_use_the_google_shape() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().status(429));
    let reply = post(GENERATE, gemini_body())
        .without_auth()
        .send(&fake)
        .await;
    let error = google_error(&reply, 429, "RESOURCE_EXHAUSTED");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("You exceeded your current quota"));
    let retry = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .unwrap();
    assert_eq!(retry["retryDelay"], "1s");
    assert_eq!(reply.header("retry-after"), None);

    for (status, name, message) in [
        (500, "INTERNAL", "An internal error has occurred."),
        (
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
    ] {
        let reply = gemini_post(STREAM_SSE, gemini_body())
            .header("x-fake-status", &status.to_string())
            .send(&fake)
            .await;
        let error = google_error(&reply, status, name);
        assert!(error["message"].as_str().unwrap().starts_with(message));
    }
    let reply = gemini_post(STREAM_ARRAY, gemini_body())
        .header("x-fake-status", "503")
        .send(&fake)
        .await;
    assert_eq!(reply.json()[0]["error"]["status"], "UNAVAILABLE");

    // A raw body goes out untouched, streamed for a stream call.
    fake.push_script(Script::new().body("data: {\"x\":1}\r\n\r\n").chunks(2));
    let reply = gemini_post(STREAM_SSE, gemini_body()).send(&fake).await;
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.text(), "data: {\"x\":1}\r\n\r\n");
    fake.push_script(Script::new().status(400).body("{\"raw\":true}"));
    let reply = gemini_post(STREAM_ARRAY, gemini_body()).send(&fake).await;
    assert_eq!(reply.text(), "{\"raw\":true}");
}

#[tokio::test]
async fn chunks_usage_model_and_stream_overrides() {
    let fake = FakeProvider::start().await;
    let events = gemini_post(STREAM_SSE, gemini_body())
        .header("x-fake-chunks", "7")
        .header("x-fake-chunk-bytes", "20")
        .send(&fake)
        .await
        .gemini_events();
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| text_of(e).len() == 20));

    fake.push_script(
        Script::new()
            .chunks(0)
            .model("gemini-2.5-pro")
            .usage(ScriptUsage {
                prompt_tokens: Some(100),
                cached_tokens: Some(40),
                reasoning_tokens: Some(30),
                ..ScriptUsage::default()
            }),
    );
    let events = gemini_post(STREAM_SSE, gemini_body())
        .send(&fake)
        .await
        .gemini_events();
    assert_eq!(events.len(), 1, "a finish-only response");
    assert_eq!(events[0]["modelVersion"], "gemini-2.5-pro");
    assert_eq!(events[0]["candidates"][0]["finishReason"], "STOP");
    assert!(events[0]["candidates"][0]["content"].get("parts").is_none());
    assert_eq!(
        events[0]["usageMetadata"],
        json!({
            "promptTokenCount": 100,
            "totalTokenCount": 130,
            "cachedContentTokenCount": 40,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
            "thoughtsTokenCount": 30,
        })
    );

    // Force JSON on a stream call, and a stream on generateContent.
    let reply = gemini_post(STREAM_SSE, gemini_body())
        .header("x-fake-stream", "false")
        .send(&fake)
        .await;
    assert_eq!(text_of(&reply.json()), "Hello from the fake provider.");
    let reply = gemini_post(&format!("{GENERATE}?alt=sse"), gemini_body())
        .header("x-fake-stream", "true")
        .send(&fake)
        .await;
    assert_eq!(reply.gemini_events().len(), 5);
}

#[tokio::test]
async fn chunk_delay_paces_the_sse_stream() {
    let fake = FakeProvider::start().await;
    let started = Instant::now();
    let reply = gemini_post(STREAM_SSE, gemini_body())
        .header("x-fake-chunks", "3")
        .header("x-fake-chunk-delay-ms", "60")
        .send(&fake)
        .await;
    // Waits before responses 2 and 3.
    assert!(started.elapsed() >= Duration::from_millis(120));
    assert_eq!(reply.gemini_events().len(), 3);
}

#[tokio::test]
async fn drop_after_cuts_the_stream_before_the_finish() {
    let fake = FakeProvider::start().await;
    let body = gemini_body().to_string();
    for (path, drop_after, expected) in
        [(STREAM_SSE, 2, 2), (STREAM_SSE, 4, 4), (STREAM_ARRAY, 3, 3)]
    {
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nx-goog-api-key: k\r\nx-fake-drop-after: \
             {drop_after}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let text = String::from_utf8(raw_exchange(fake.addr(), &request).await).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert_eq!(text.matches("\"responseId\"").count(), expected, "{text}");
        assert!(!text.contains("finishReason"), "{text}");
        assert!(!text.ends_with("0\r\n\r\n"), "no clean end: {text}");
    }
    assert_eq!(fake.disconnects(), 0);
}

#[tokio::test]
async fn requests_are_recorded_and_counted() {
    let fake = FakeProvider::start().await;
    gemini_post(STREAM_SSE, gemini_body())
        .header("x-goog-api-client", "google-genai-sdk/1.0")
        .send(&fake)
        .await;
    let request = fake.last_request().unwrap();
    assert_eq!(
        request.path(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(request.query(), Some("alt=sse"));
    assert_eq!(request.header("x-goog-api-key"), Some("test-key"));
    assert_eq!(
        request.header("x-goog-api-client"),
        Some("google-genai-sdk/1.0")
    );
    assert_eq!(request.json().unwrap(), gemini_body());
    assert_eq!(fake.hits_for(STREAM_SSE), 1);
}

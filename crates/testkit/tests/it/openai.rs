//! xAI/OpenAI-compatible chat completions, model list, routing and auth.

use serde_json::{json, Value};
use switchyard_testkit::{FakeConfig, FakeProvider};

use crate::client::{chat_body, get, post, post_raw, Reply};

fn assert_uuid(id: &str) {
    assert_eq!(id.len(), 36, "{id}");
    for (i, c) in id.chars().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            assert_eq!(c, '-', "{id}");
        } else {
            assert!(c.is_ascii_hexdigit(), "{id}");
        }
    }
}

fn assert_usage(usage: &Value, prompt: u64, completion: u64) {
    let reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert_eq!(usage["prompt_tokens"], prompt);
    assert_eq!(usage["completion_tokens"], completion);
    assert_eq!(usage["total_tokens"], prompt + completion + reasoning);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["num_sources_used"], 0);
    // grok-4-fast prices: 2000 ticks per input token, 5000 per output token.
    assert_eq!(
        usage["cost_in_usd_ticks"],
        prompt * 2000 + (completion + reasoning) * 5000
    );
}

/// The `data:` payloads of a chat stream, checking the framing.
fn data_events(reply: &Reply) -> Vec<String> {
    reply
        .events()
        .into_iter()
        .map(|e| {
            assert_eq!(e.name, None, "chat streams have no event names");
            e.data
        })
        .collect()
}

#[tokio::test]
async fn non_stream_completion_has_the_xai_shape() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-request-id").is_some());
    assert!(reply.header("content-length").is_some());
    let body = reply.json();
    assert_uuid(body["id"].as_str().unwrap());
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "grok-4-fast");
    assert!(body["system_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("fp_"));
    let choice = &body["choices"][0];
    assert_eq!(body["choices"].as_array().unwrap().len(), 1);
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Hello from the fake provider."
    );
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert!(choice["message"].get("tool_calls").is_none());
    // "Be brief." + "Say hello to me" = 6 words; 5 chunks of reply.
    assert_usage(&body["usage"], 6, 5);
}

#[tokio::test]
async fn stream_follows_the_xai_chunk_rules() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/chat/completions", chat_body(true))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.header("content-length").is_none());
    let events = data_events(&reply);
    // 5 content chunks, the finish chunk, [DONE]; no usage without include_usage.
    assert_eq!(events.len(), 7, "{events:#?}");
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..6]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert_uuid(id);
    let mut text = String::new();
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "grok-4-fast");
        assert!(chunk["system_fingerprint"].is_string());
        assert!(
            chunk.get("usage").is_none(),
            "no usage without include_usage"
        );
        let choice = &chunk["choices"][0];
        if i < 5 {
            assert!(
                choice.get("finish_reason").is_none(),
                "key absent mid-stream"
            );
            assert_eq!(choice["delta"].get("role").is_some(), i == 0);
            text.push_str(choice["delta"]["content"].as_str().unwrap());
        } else {
            assert_eq!(choice["delta"], json!({}));
            assert_eq!(choice["finish_reason"], "stop");
        }
    }
    assert_eq!(text, "Hello from the fake provider.");
}

#[tokio::test]
async fn include_usage_adds_a_usage_chunk_before_done() {
    let fake = FakeProvider::start().await;
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post("/v1/chat/completions", body).send(&fake).await;
    let events = data_events(&reply);
    assert_eq!(events.len(), 8);
    assert_eq!(events[7], "[DONE]");
    let usage_chunk: Value = serde_json::from_str(&events[6]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_usage(&usage_chunk["usage"], 6, 5);
    let finish: Value = serde_json::from_str(&events[5]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

fn tool_request(stream: bool) -> Value {
    json!({
        "model": "grok-4",
        "stream": stream,
        "messages": [{"role": "user", "content": "What is 2+3?"}],
        "tools": [{"type": "function", "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {
                "a": {"type": "integer"}, "b": {"type": "integer"}, "note": {"type": "string"}
            }, "required": ["a", "b"]},
        }}],
    })
}

#[tokio::test]
async fn tools_and_a_user_turn_give_a_tool_call() {
    let fake = FakeProvider::start().await;
    let body = post("/v1/chat/completions", tool_request(false))
        .send(&fake)
        .await
        .json();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "");
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert!(call.get("index").is_none(), "no index outside streams");
    assert_eq!(call["function"]["name"], "add");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"a": 1, "b": 1, "note": "fake"}));

    let reply = post("/v1/chat/completions", tool_request(true))
        .send(&fake)
        .await;
    let events = data_events(&reply);
    assert_eq!(events.len(), 3, "{events:#?}");
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    let delta = &first["choices"][0]["delta"];
    assert_eq!(delta["role"], "assistant");
    assert_eq!(delta["tool_calls"][0]["index"], 0);
    assert_eq!(delta["tool_calls"][0]["function"]["name"], "add");
    let finish: Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");

    // After the tool answered, the model talks again.
    let mut follow_up = tool_request(false);
    follow_up["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "tool", "tool_call_id": "call_1", "content": "5"}));
    let body = post("/v1/chat/completions", follow_up)
        .send(&fake)
        .await
        .json();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn openai_routes_answer_with_and_without_v1() {
    let fake = FakeProvider::start().await;
    for path in [
        "/v1/chat/completions",
        "/chat/completions",
        "/openai/v1/chat/completions",
    ] {
        let reply = post(path, chat_body(false)).send(&fake).await;
        assert_eq!(reply.status, 200, "{path}");
    }
    assert_eq!(fake.hits(), 3);
    assert_eq!(fake.hits_for("/chat/completions"), 1);
}

#[tokio::test]
async fn unknown_routes_get_the_xai_404() {
    let fake = FakeProvider::start().await;
    for req in [
        post("/v1/v1/chat/completions", chat_body(false)),
        get("/v1/chat/completions"),
        get("/nothing/here"),
    ] {
        let reply = req.send(&fake).await;
        assert_eq!(reply.status, 404);
        let body = reply.json();
        assert_eq!(body["code"], "not-found");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .starts_with("No handler found on route"));
    }
}

#[tokio::test]
async fn models_are_listed() {
    let fake = FakeProvider::start().await;
    let body = get("/v1/models").send(&fake).await.json();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    assert!(data.len() >= 2);
    assert!(data
        .iter()
        .all(|m| m["object"] == "model" && m["owned_by"] == "xai"));
    let one = get("/v1/models/grok-beta").send(&fake).await;
    assert_eq!(one.json()["id"], "grok-beta");
    assert_eq!(get("/v1/models/nope").send(&fake).await.status, 404);
}

#[tokio::test]
async fn credentials_are_checked_xai_style() {
    let fake = FakeProvider::start().await;
    let missing = post("/v1/chat/completions", chat_body(false))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], "unauthenticated");
    assert!(missing.json()["error"].is_string());

    let bad = post("/v1/chat/completions", chat_body(false))
        .without_auth()
        .header("authorization", "Bearer bad-key")
        .send(&fake)
        .await;
    assert_eq!(bad.status, 400, "xAI answers a wrong key with 400");
    assert_eq!(bad.json()["code"], "invalid-argument");
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("Incorrect API key provided"));

    let api_key = post("/v1/chat/completions", chat_body(false))
        .without_auth()
        .header("x-api-key", "xai-123")
        .send(&fake)
        .await;
    assert_eq!(api_key.status, 200);
    assert_eq!(
        get("/v1/models").without_auth().send(&fake).await.status,
        401
    );
}

#[tokio::test]
async fn auth_can_be_switched_off() {
    let fake = FakeProvider::start_with(FakeConfig {
        require_auth: false,
        ..FakeConfig::default()
    })
    .await;
    let reply = post("/v1/chat/completions", chat_body(false))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn bad_json_is_a_400_and_wrong_types_a_422() {
    let fake = FakeProvider::start().await;
    let reply = post_raw("/v1/chat/completions", "{not json")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "invalid-argument");

    let reply = post("/v1/chat/completions", json!({"model": 5, "messages": []}))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 422);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("Failed to deserialize the JSON body"));

    // Unknown fields are ignored, as xAI does.
    let mut body = chat_body(false);
    body["no_such_field"] = json!({"x": 1});
    assert_eq!(
        post("/v1/chat/completions", body).send(&fake).await.status,
        200
    );
}

#[tokio::test]
async fn h2c_prior_knowledge_works() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/chat/completions", chat_body(true))
        .send_h2(&fake)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(data_events(&reply).last().unwrap(), "[DONE]");
    assert_eq!(fake.requests()[0].version, http::Version::HTTP_2);
}

/// Decodes standard base64 (the tests' own, to check the fake's encoder).
fn unbase64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::new();
    for group in digits.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..group.len()]);
    }
    out
}

#[tokio::test]
async fn embeddings_answer_a_list_of_vectors() {
    let fake = FakeProvider::start().await;
    let reply = post(
        "/v1/embeddings",
        json!({"model": "text-embedding-3-small", "input": "Hello world"}),
    )
    .send(&fake)
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("x-request-id").is_some());
    let body = reply.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 2, "total_tokens": 2})
    );
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["object"], "embedding");
    assert_eq!(data[0]["index"], 0);
    let vector = data[0]["embedding"].as_array().unwrap();
    assert_eq!(vector.len(), 8);
    let norm: f64 = vector.iter().map(|v| v.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");

    // A list of inputs, without /v1, and the base64 encoding the SDKs ask for.
    let reply = post(
        "/embeddings",
        json!({"model": "m", "input": ["Hello world", "Other text here"], "encoding_format": "base64"}),
    )
    .send(&fake)
    .await;
    let body = reply.json();
    assert_eq!(body["usage"]["prompt_tokens"], 5);
    assert_eq!(body["data"][1]["index"], 1);
    let bytes = unbase64(body["data"][0]["embedding"].as_str().unwrap());
    let floats: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let listed: Vec<f32> = vector.iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(floats, listed, "same vector, other encoding");

    let body = post(
        "/v1/embeddings",
        json!({"input": [[1, 2, 3]], "dimensions": 3}),
    )
    .send(&fake)
    .await
    .json();
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 3);
    assert_eq!(body["usage"]["prompt_tokens"], 3);

    let reply = post("/v1/embeddings", json!({"model": "m"}))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 422, "input is required");
    let reply = post("/v1/embeddings", json!({"input": []}))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "invalid-argument");
    let reply = post("/v1/embeddings", json!({"input": "x"}))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn n_gives_that_many_choices() {
    let fake = FakeProvider::start().await;
    let mut body = chat_body(false);
    body["n"] = json!(3);
    let reply = post("/v1/chat/completions", body.clone())
        .send(&fake)
        .await
        .json();
    let choices = reply["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(
            choice["message"]["content"],
            "Hello from the fake provider."
        );
        assert_eq!(choice["finish_reason"], "stop");
    }
    assert_usage(&reply["usage"], 6, 15);

    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post("/v1/chat/completions", body).send(&fake).await;
    let events = data_events(&reply);
    // 5 chunks x 3 choices, 3 finish chunks, usage, [DONE].
    assert_eq!(events.len(), 20, "{events:#?}");
    let mut texts = vec![String::new(); 3];
    let mut finished = Vec::new();
    for event in &events[..18] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        let choice = &chunk["choices"][0];
        let index = choice["index"].as_u64().unwrap() as usize;
        if let Some(text) = choice["delta"]["content"].as_str() {
            texts[index].push_str(text);
        } else {
            assert_eq!(choice["finish_reason"], "stop");
            finished.push(index);
        }
    }
    assert!(texts.iter().all(|t| t == "Hello from the fake provider."));
    assert_eq!(finished, [0, 1, 2]);
    let usage: Value = serde_json::from_str(&events[18]).unwrap();
    assert_usage(&usage["usage"], 6, 15);

    let mut zero = chat_body(false);
    zero["n"] = json!(0);
    let reply = post("/v1/chat/completions", zero).send(&fake).await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn response_format_gives_json_content() {
    let fake = FakeProvider::start().await;
    let mut body = chat_body(false);
    body["response_format"] = json!({"type": "json_object"});
    let reply = post("/v1/chat/completions", body).send(&fake).await.json();
    let content: Value =
        serde_json::from_str(reply["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"answer": "Hello from the fake provider."}));

    let mut body = chat_body(true);
    body["response_format"] = json!({"type": "json_schema", "json_schema": {
        "name": "person", "strict": true,
        "schema": {"type": "object", "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "nickname": {"type": "string"},
        }, "required": ["name", "age", "address"], "additionalProperties": false},
    }});
    let reply = post("/v1/chat/completions", body).send(&fake).await;
    let text: String = data_events(&reply)
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            let chunk: Value = serde_json::from_str(e).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let content: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        content,
        json!({"name": "fake", "age": 1, "address": {"city": "fake"}})
    );
}

#[tokio::test]
async fn image_parts_are_accepted() {
    let fake = FakeProvider::start().await;
    let body = json!({
        "model": "grok-4",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ]}],
    });
    let reply = post("/v1/chat/completions", body).send(&fake).await;
    assert_eq!(reply.status, 200);
    assert_usage(&reply.json()["usage"], 5, 5);
}

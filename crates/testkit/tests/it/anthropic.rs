//! Anthropic Messages: JSON, the SSE event sequence, validation and auth.

use serde_json::{json, Value};
use switchyard_testkit::{FakeProvider, Script, ScriptUsage};

use crate::client::{messages_body, post};

#[tokio::test]
async fn message_json_has_the_anthropic_shape() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/messages", messages_body(false))
        .without_auth()
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("request-id").unwrap().starts_with("req_"));
    let body = reply.json();
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-sonnet-4");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hello from the fake provider."}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 6, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 0,
               "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
               "output_tokens": 5, "service_tier": "standard"})
    );
}

#[tokio::test]
async fn stream_sends_the_named_event_sequence() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/messages", messages_body(true)).send(&fake).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = reply.events();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);

    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    for (event, json) in events.iter().zip(&data) {
        assert_eq!(json["type"], event.name.as_deref().unwrap());
    }
    let start = &data[0]["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["input_tokens"], 6);
    assert_eq!(
        data[1]["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = data[3..8]
        .iter()
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            assert_eq!(d["index"], 0);
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Hello from the fake provider.");
    assert_eq!(data[9]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[9]["usage"]["output_tokens"], 5);
    assert!(!reply.text().contains("[DONE]"));
}

#[tokio::test]
async fn missing_max_tokens_is_an_anthropic_400() {
    let fake = FakeProvider::start().await;
    let mut body = messages_body(false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let reply = post("/v1/messages", body).send(&fake).await;
    assert_eq!(reply.status, 400);
    let error = reply.json();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));
}

#[tokio::test]
async fn auth_errors_use_the_anthropic_shape() {
    let fake = FakeProvider::start().await;
    let reply = post("/messages", messages_body(false))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["type"], "authentication_error");
    let reply = post("/v1/messages", messages_body(false))
        .without_auth()
        .header("x-api-key", "bad-key")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn tools_give_a_tool_use_block() {
    let fake = FakeProvider::start().await;
    let mut body = messages_body(false);
    body["tools"] = json!([{
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]);
    let reply = post("/v1/messages", body.clone()).send(&fake).await.json();
    assert_eq!(reply["stop_reason"], "tool_use");
    let block = &reply["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"city": "fake"}));

    body["stream"] = json!(true);
    let events = post("/v1/messages", body.clone())
        .send(&fake)
        .await
        .events();
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert_eq!(data[1]["content_block"]["type"], "tool_use");
    assert_eq!(data[1]["content_block"]["input"], json!({}));
    let deltas: Vec<&Value> = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .collect();
    assert!(deltas.len() > 2, "the input comes in pieces: {deltas:#?}");
    assert_eq!(
        deltas[0]["delta"]["partial_json"], "",
        "an empty piece first"
    );
    let mut json_text = String::new();
    for delta in &deltas {
        assert_eq!(delta["delta"]["type"], "input_json_delta");
        assert_eq!(delta["index"], 0);
        let piece = delta["delta"]["partial_json"].as_str().unwrap();
        assert!(piece.len() <= 12, "{piece:?}");
        json_text.push_str(piece);
    }
    let input: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(input, json!({"city": "fake"}));
    let stop = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(stop["delta"]["stop_reason"], "tool_use");

    // A tool result from the user gets a text answer.
    body["stream"] = json!(false);
    body["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}),
    ]);
    let reply = post("/v1/messages", body).send(&fake).await.json();
    assert_eq!(reply["stop_reason"], "end_turn");
}

#[tokio::test]
async fn images_are_accepted_and_checked() {
    let fake = FakeProvider::start().await;
    let mut body = messages_body(false);
    body["messages"][0]["content"] = json!([
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "Describe these"},
    ]);
    let reply = post("/v1/messages", body.clone()).send(&fake).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["usage"]["input_tokens"], 4);

    body["messages"][0]["content"][0]["source"]["media_type"] = json!("image/bmp");
    let reply = post("/v1/messages", body.clone()).send(&fake).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    assert_eq!(
        reply.json()["error"]["message"],
        "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', \
         'image/png', 'image/gif' or 'image/webp'"
    );
    body["messages"][0]["content"][0] = json!({"type": "image"});
    let reply = post("/v1/messages", body).send(&fake).await;
    assert_eq!(
        reply.json()["error"]["message"],
        "messages.0.content.0.image.source: Field required"
    );
}

#[tokio::test]
async fn system_blocks_count_and_stop_sequences_cut() {
    let fake = FakeProvider::start().await;
    let mut body = messages_body(false);
    body["system"] =
        json!([{"type": "text", "text": "Be very brief.", "cache_control": {"type": "ephemeral"}}]);
    body["stop_sequences"] = json!(["never", "fake"]);
    let reply = post("/v1/messages", body.clone()).send(&fake).await.json();
    assert_eq!(reply["usage"]["input_tokens"], 7);
    assert_eq!(reply["content"][0]["text"], "Hello from the ");
    assert_eq!(reply["stop_reason"], "stop_sequence");
    assert_eq!(reply["stop_sequence"], "fake");
    assert_eq!(reply["usage"]["output_tokens"], 4);

    body["stream"] = json!(true);
    let events = post("/v1/messages", body).send(&fake).await.events();
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    let text: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hello from the ");
    let stop = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(
        stop["delta"],
        json!({"stop_reason": "stop_sequence", "stop_sequence": "fake"})
    );
    assert_eq!(stop["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn cache_usage_and_scripted_errors() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().usage(ScriptUsage {
        prompt_tokens: Some(100),
        cached_tokens: Some(60),
        cache_creation_tokens: Some(30),
        ..ScriptUsage::default()
    }));
    let reply = post("/v1/messages", messages_body(false))
        .send(&fake)
        .await
        .json();
    assert_eq!(
        reply["usage"],
        json!({"input_tokens": 10, "cache_creation_input_tokens": 30,
               "cache_read_input_tokens": 60,
               "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 0},
               "output_tokens": 5, "service_tier": "standard"})
    );

    fake.push_script(Script::new().status(429));
    let reply = post("/v1/messages", messages_body(true)).send(&fake).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.json()["error"]["type"], "rate_limit_error");

    let reply = post("/v1/messages", messages_body(false))
        .header("x-fake-status", "529")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 529);
    assert_eq!(
        reply.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
}

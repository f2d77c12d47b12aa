//! The unified endpoint with translation (SPEC 2.2): OpenAI-shaped requests to Anthropic and
//! Gemini, Anthropic-shaped requests to OpenAI-shaped providers, embeddings to Gemini.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::{json, Value};

fn gemini_config(fake: &FakeProvider) -> String {
    format!(
        "[providers.google-ai-studio]\nbase_url = \"{}\"\n",
        fake.url()
    )
}

fn sse_json(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The `event:` names of an event stream, in order.
fn event_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect()
}

#[tokio::test]
async fn openai_requests_reach_anthropic_translated_and_come_back_openai_shaped() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"}
        ],
        "temperature": 0.2
    });
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[
            ("authorization", "Bearer sk-ant-test"),
            ("openai-organization", "org-123"),
            ("openai-project", "proj-9"),
        ],
        &body.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let j = a.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        j["choices"][0]["message"]["content"],
        "Hello from the fake provider."
    );
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
    assert!(j["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(j["usage"]["completion_tokens"], 5);

    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/v1/messages");
    assert_eq!(got.headers.get("x-api-key").unwrap(), "sk-ant-test");
    assert!(got.headers.get("authorization").is_none());
    assert_eq!(got.headers.get("anthropic-version").unwrap(), "2023-06-01");
    // The client's OpenAI account is no business of Anthropic's.
    assert!(got.headers.get("openai-organization").is_none());
    assert!(got.headers.get("openai-project").is_none());
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(
        sent["max_tokens"], 4096,
        "Anthropic needs max_tokens: the documented default"
    );
    assert_eq!(sent["messages"][0]["role"], "user");

    // The log names the real provider and model, with usage priced.
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["provider"], "anthropic");
    assert_eq!(rows[0]["request_type"], "compat");
    assert!(rows[0]["model"]
        .as_str()
        .unwrap()
        .starts_with("claude-sonnet-4-5"));
    assert!(rows[0]["tokens_out"].as_u64().is_some());
}

#[tokio::test]
async fn anthropic_streams_are_translated_event_by_event() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(4)
            .chunk_delay(std::time::Duration::from_millis(150)),
    );
    let body = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    let s = stream(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer sk-ant-test")],
        &body.to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.headers.get("content-type").unwrap(), "text/event-stream");
    let text = s.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = sse_json(&text);
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.is_empty());
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert!(chunks.last().unwrap()["usage"]["completion_tokens"]
        .as_u64()
        .is_some());
    // Translated as it arrived: the first text long before the end.
    let first = s.time_of("delta").unwrap();
    let done = s.time_of("[DONE]").unwrap();
    assert!(done.duration_since(first) >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn gemini_plain_and_streaming() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer goog-key")],
        &json!({"model": "google-ai-studio/gemini-2.5-flash", "messages": [{"role": "user", "content": "Say hello"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.json()["choices"][0]["message"]["content"],
        "Hello from the fake provider."
    );
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.path_and_query,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(got.headers.get("x-goog-api-key").unwrap(), "goog-key");

    let s = stream(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer goog-key")],
        &json!({"model": "google/gemini-2.5-flash", "stream": true, "messages": [{"role": "user", "content": "Say hello"}]}).to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(s.text().ends_with("data: [DONE]\n\n"));
    let content: String = sse_json(&s.text())
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "Hello from the fake provider.");
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn tool_calls_round_trip_through_anthropic() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer k")],
        &json!({"model": "anthropic/claude-sonnet-4-5", "tools": tools, "messages": [{"role": "user", "content": "Weather in Paris?"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let msg = &a.json()["choices"][0]["message"];
    let call = &msg["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string());
    assert_eq!(a.json()["choices"][0]["finish_reason"], "tool_calls");
    let sent: Value = serde_json::from_slice(&fake.last_request().unwrap().body).unwrap();
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert!(sent["tools"][0]["input_schema"].is_object());

    // Second turn: the tool's result goes back as a tool_result block.
    let id = call["id"].as_str().unwrap();
    let turn2 = json!({"model": "anthropic/claude-sonnet-4-5", "tools": tools, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "18C and sunny"}
    ]});
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer k")],
        &turn2.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let sent: Value = serde_json::from_slice(&fake.last_request().unwrap().body).unwrap();
    let last = sent["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], id);
}

#[tokio::test]
async fn the_anthropic_api_on_compat_reaches_openai_shaped_providers() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body = json!({"model": "grok/grok-4", "max_tokens": 64, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello"}]});
    let a = post(
        &format!("{}/compat/v1/messages", gw.base()),
        &[
            ("x-api-key", "xai-key"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("x-trace", "t-1"),
        ],
        &body.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let j = a.json();
    assert_eq!(j["type"], "message");
    assert_eq!(j["role"], "assistant");
    assert_eq!(j["content"][0]["type"], "text");
    assert_eq!(j["content"][0]["text"], "Hello from the fake provider.");
    assert_eq!(j["stop_reason"], "end_turn");
    assert!(j["usage"]["output_tokens"].as_u64().is_some());
    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/v1/chat/completions");
    assert_eq!(got.headers.get("authorization").unwrap(), "Bearer xai-key");
    // Anthropic's own headers name Anthropic's API, not the provider's; others go on.
    assert!(got.headers.get("anthropic-version").is_none());
    assert!(got.headers.get("anthropic-beta").is_none());
    assert_eq!(got.headers.get("x-trace").unwrap(), "t-1");
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["model"], "grok-4");
    assert_eq!(sent["messages"][0]["role"], "system");

    let s = stream(
        &format!("{}/compat/v1/messages", gw.base()),
        &[("authorization", "Bearer xai-key")],
        &json!({"model": "grok/grok-4", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "Hi"}]}).to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    let text = s.text();
    let order = event_names(&text);
    assert_eq!(order.first(), Some(&"message_start"));
    assert_eq!(order.last(), Some(&"message_stop"));
    assert!(order.contains(&"content_block_delta"));
    assert!(order.contains(&"message_delta"));
}

/// Anthropic's token counting on `/compat`: passed to a provider with Anthropic's API, the
/// model name stripped of its prefix; refused, with nothing sent, for the others.
#[tokio::test]
async fn count_tokens_reaches_anthropic_and_is_refused_elsewhere() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/compat/v1/messages/count_tokens", gw.base());
    let body = json!({"model": "anthropic/claude-sonnet-4-5", "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello to everyone"}]});
    let a = post(
        &url,
        &[
            ("x-api-key", "sk-ant-test"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // The provider's count, as it gave it (the fake counts the words of the system prompt
    // and the messages: 2 + 4).
    assert_eq!(a.json(), json!({"input_tokens": 6}));
    fake.push_script(Script::new().usage(ScriptUsage {
        prompt_tokens: Some(1234),
        ..ScriptUsage::default()
    }));
    let scripted = post(
        &url,
        &[
            ("x-api-key", "sk-ant-test"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body.to_string(),
    )
    .await;
    assert_eq!(scripted.json(), json!({"input_tokens": 1234}));
    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/v1/messages/count_tokens");
    assert_eq!(got.headers.get("x-api-key").unwrap(), "sk-ant-test");
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["messages"], body["messages"]);
    let before = fake.hits();
    let grok = post(
        &url,
        &[("x-api-key", "xai-key")],
        &json!({"model": "grok/grok-4", "messages": [{"role": "user", "content": "Hi"}]})
            .to_string(),
    )
    .await;
    grok.assert_gateway_error(400, 2008);
    assert_eq!(fake.hits(), before, "nothing was sent");
}

/// A streaming request the provider answers with one JSON document still reaches its client
/// as a stream the SDKs can read: OpenAI chunks from Anthropic's message, Anthropic events
/// from an OpenAI-shaped completion.
#[tokio::test]
async fn a_whole_answer_to_a_streaming_request_is_sent_as_a_stream() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let s = stream(
        &format!("{}/compat/chat/completions", gw.base()),
        &[
            ("authorization", "Bearer sk-ant-test"),
            ("x-fake-stream", "false"),
        ],
        &json!({"model": "anthropic/claude-sonnet-4-5", "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "Say hello"}]})
        .to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(
        s.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        s.headers
    );
    let text = s.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = sse_json(&text);
    let said: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(said, "Hello from the fake provider.");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 5);
    // Cached, it is replayed the same way.
    let cached_call = |url: String| async move {
        stream(
            &url,
            &[
                ("authorization", "Bearer sk-ant-test"),
                ("x-fake-stream", "false"),
                ("cf-aig-cache-ttl", "60"),
            ],
            &json!({"model": "anthropic/claude-sonnet-4-5", "stream": true,
                    "messages": [{"role": "user", "content": "Cache me"}]})
            .to_string(),
        )
        .await
    };
    let url = format!("{}/compat/chat/completions", gw.base());
    let first = cached_call(url.clone()).await;
    let mut hit = None;
    for _ in 0..50 {
        let again = cached_call(url.clone()).await;
        if again
            .headers
            .get("cf-aig-cache-status")
            .map(|v| v.as_bytes())
            == Some(b"HIT")
        {
            hit = Some(again);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let hit = hit.expect("a cache hit");
    assert!(hit.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text_of = |t: &str| -> String {
        sse_json(t)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    assert_eq!(text_of(&hit.text()), text_of(&first.text()));
    assert!(hit.text().ends_with("data: [DONE]\n\n"));

    let s = stream(
        &format!("{}/compat/v1/messages", gw.base()),
        &[("x-api-key", "xai-key"), ("x-fake-stream", "false")],
        &json!({"model": "grok/grok-4", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "Hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(s.status, 200);
    let text = s.text();
    let order = event_names(&text);
    assert_eq!(order.first(), Some(&"message_start"), "{text}");
    assert_eq!(order.last(), Some(&"message_stop"), "{text}");
    let said: String = sse_json(&text)
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(said, "Hello from the fake provider.");
}

#[tokio::test]
async fn embeddings_reach_gemini_translated() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    let a = post(
        &format!("{}/compat/embeddings", gw.base()),
        &[("authorization", "Bearer goog-key")],
        &json!({"model": "google-ai-studio/text-embedding-004", "input": ["one", "two"]})
            .to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let j = a.json();
    assert_eq!(j["object"], "list");
    assert_eq!(j["data"].as_array().unwrap().len(), 2);
    assert_eq!(j["data"][1]["index"], 1);
    assert!(j["data"][0]["embedding"].as_array().unwrap().len() >= 8);
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    // OpenAI-shaped providers get the body as sent, model rewritten.
    let a = post(
        &format!("{}/compat/embeddings", gw.base()),
        &[AUTH],
        &json!({"model": "openai/text-embedding-3-small", "input": "hello"}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/v1/embeddings"
    );
    // Anthropic has no embeddings API: the gateway says so in its own error shape.
    let hits = fake.hits();
    let a = post(
        &format!("{}/compat/embeddings", gw.base()),
        &[AUTH],
        &json!({"model": "anthropic/claude-sonnet-4-5", "input": "hello"}).to_string(),
    )
    .await;
    assert_eq!(a.status, 400);
    let j = a.json();
    assert_eq!(j["success"], false);
    assert_eq!(j["error"][0]["code"], 2008);
    assert!(
        j["error"][0]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic"),
        "{j}"
    );
    assert_eq!(fake.hits(), hits, "nothing sent");
}

/// OpenAI takes 2,048 texts in one embeddings request, Gemini 100 in one batch: a longer
/// request reaches Gemini as several batches, one after another, and its client gets one
/// answer with every vector in order. A batch that fails is the answer.
#[tokio::test]
async fn embeddings_over_geminis_batch_limit_go_in_several_calls() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    let url = format!("{}/compat/embeddings", gw.base());
    let key = [("authorization", "Bearer goog-key")];
    let inputs: Vec<String> = (0..250).map(|i| format!("text number {i}")).collect();
    let body = json!({"model": "google-ai-studio/text-embedding-004", "input": inputs});
    let a = post(&url, &key, &body.to_string()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let sent: Vec<usize> = fake
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(
                r.path_and_query,
                "/v1beta/models/text-embedding-004:batchEmbedContents"
            );
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["requests"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sent, [100, 100, 50]);
    let all = a.json();
    let data = all["data"].as_array().unwrap();
    assert_eq!(data.len(), 250);
    // Each vector is the one its own text gets alone, at its own index.
    for i in [0, 99, 100, 249] {
        assert_eq!(data[i]["index"], i);
        let alone = post(
            &url,
            &key,
            &json!({"model": "google-ai-studio/text-embedding-004", "input": inputs[i]})
                .to_string(),
        )
        .await;
        assert_eq!(
            data[i]["embedding"],
            alone.json()["data"][0]["embedding"],
            "{i}"
        );
    }
    // The second batch is refused: that is the answer, and no third is sent.
    fake.reset();
    fake.push_script(Script::new());
    fake.push_script(Script::new().status(429));
    let a = post(&url, &key, &body.to_string()).await;
    assert_eq!(a.status, 429, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.json()["error"]["type"],
        "rate_limit_error",
        "{}",
        a.json()
    );
    assert_eq!(fake.hits(), 2);
    // One record for the client's request, with the status it got.
    let rows = gw.wait_for_logs("gw", 6).await;
    assert_eq!(record_of(&rows, &a)["status_code"], 429);

    // On the universal endpoint a batch that fails fails its step, which moves on to the next
    // step (SPEC 2.3) rather than answering with the failure.
    fake.reset();
    fake.push_script(Script::new());
    fake.push_script(Script::new().status(500));
    let query = json!({"model": "google-ai-studio/text-embedding-004", "input": &inputs[..150]});
    let step = json!({"provider": "compat", "endpoint": "embeddings",
        "headers": {"authorization": "Bearer goog-key"}, "query": query});
    let a = post(&gw.base(), &[], &json!([step, step]).to_string()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");
    assert_eq!(a.json()["data"].as_array().unwrap().len(), 150);
    assert_eq!(fake.hits(), 4, "two batches for each step");
}

#[tokio::test]
async fn untranslatable_input_gets_an_openai_shaped_400_naming_the_field() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for (body, field) in [
        (
            json!({"model": "anthropic/claude-sonnet-4-5", "messages": "hi"}),
            "messages",
        ),
        (
            json!({"model": "anthropic/claude-sonnet-4-5", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
            "n",
        ),
        (
            json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
            "messages[0].content[0]",
        ),
    ] {
        let a = post(
            &format!("{}/compat/chat/completions", gw.base()),
            &[("authorization", "Bearer k")],
            &body.to_string(),
        )
        .await;
        assert_eq!(a.status, 400, "{body}");
        let j = a.json();
        assert!(j["error"]["message"].is_string(), "{j}");
        let named = j["error"]["param"].as_str().unwrap_or_default().to_owned()
            + j["error"]["message"].as_str().unwrap();
        assert!(named.contains(field), "{field} not named in {j}");
    }
    assert_eq!(fake.hits(), 0);
}

/// The status line of a POST with `authorization: Bearer k`, read off the socket.
async fn status_line(url: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_answer_that_cannot_be_translated_is_logged_as_the_failure_the_client_saw() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().body("<html>oops</html>"));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer k")],
        &json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 502, "{}", String::from_utf8_lossy(&a.body));
    let rows = gw.wait_for_logs("gw", 1).await;
    let row = record_of(&rows, &a);
    assert_eq!(row["status_code"], 502, "{row}");
    assert_eq!(row["success"], false, "{row}");
}

#[tokio::test]
async fn provider_errors_map_to_the_openai_error_shape() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    fake.push_script(Script::new().status(529));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer k")],
        &json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 503, "Anthropic's 529 overloaded maps to 503");
    assert!(a.json()["error"]["message"].is_string());
    // The status line is the 503's own, not 503 with the 529's placeholder phrase.
    fake.push_script(Script::new().status(529));
    let line = status_line(
        &format!("{}/compat/chat/completions", gw.base()),
        &json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(line, "HTTP/1.1 503 Service Unavailable");
    fake.push_script(Script::new().status(429));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer k")],
        &json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 429);
    assert!(a.json()["error"]["message"].is_string());
    // Google puts its retry delay in the body; the OpenAI client gets it as Retry-After.
    fake.push_script(Script::new().status(429));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer k")],
        &json!({"model": "google-ai-studio/gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 429);
    assert_eq!(a.json()["error"]["type"], "rate_limit_error");
    assert_eq!(a.headers.get("retry-after").unwrap(), "1");
}

/// Google's 429 says when to come back in its body only; a retry waits that long, whatever
/// shorter delay the policy has (as it would for a `Retry-After` header).
#[tokio::test]
async fn a_retry_waits_as_long_as_geminis_429_body_asks() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    fake.push_script(Script::new().status(429));
    let t = std::time::Instant::now();
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[
            ("authorization", "Bearer k"),
            ("cf-aig-max-attempts", "2"),
            ("cf-aig-retry-delay", "0"),
        ],
        &json!({"model": "google-ai-studio/gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(fake.hits(), 2);
    let took = t.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(950),
        "retried after {took:?}"
    );
}

#[tokio::test]
async fn translated_answers_are_cached_and_replayed_translated() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body = json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "cache me"}]}).to_string();
    let url = format!("{}/compat/chat/completions", gw.base());
    let first = post(
        &url,
        &[("authorization", "Bearer k"), ("cf-aig-cache-ttl", "60")],
        &body,
    )
    .await;
    assert_eq!(first.headers.get("cf-aig-cache-status").unwrap(), "MISS");
    let mut second = None;
    for _ in 0..40 {
        let a = post(
            &url,
            &[("authorization", "Bearer k"), ("cf-aig-cache-ttl", "60")],
            &body,
        )
        .await;
        if a.headers.get("cf-aig-cache-status").unwrap() == "HIT" {
            second = Some(a);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let second = second.expect("a HIT");
    assert_eq!(second.json()["choices"], first.json()["choices"]);
    assert_eq!(second.json()["object"], "chat.completion");
    let hits = send(Method::GET, &format!("{}/metrics", gw.url), &[], "").await;
    assert!(String::from_utf8_lossy(&hits.body)
        .contains("switchyard_cache_hits_total{account=\"acct\",gateway=\"gw\"} 1"));
}

#[tokio::test]
async fn a_translated_stream_cut_before_its_final_event_is_a_failure_and_not_cached() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    let anthropic_cut = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
    let openai_cut = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"grok-4\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
    let cases = [
        (
            "chat/completions",
            json!({"model": "anthropic/claude-sonnet-4-5", "stream": true,
                   "messages": [{"role": "user", "content": "cut"}]}),
            anthropic_cut,
        ),
        (
            "v1/messages",
            json!({"model": "grok/grok-4", "stream": true, "max_tokens": 10,
                   "messages": [{"role": "user", "content": "cut"}]}),
            openai_cut,
        ),
    ];
    for (endpoint, body, cut) in cases {
        let url = format!("{}/compat/{endpoint}", gw.base());
        let headers = [("authorization", "Bearer k"), ("cf-aig-cache-ttl", "60")];
        let hits = fake.hits();
        fake.push_script(Script::new().body(cut).stream(true));
        let first = post(&url, &headers, &body.to_string()).await;
        assert_eq!(first.status, 200);
        let text = String::from_utf8_lossy(&first.body).to_string();
        assert!(
            text.contains("ended before its final event"),
            "{endpoint}: {text}"
        );
        let before = if endpoint == "chat/completions" { 1 } else { 3 };
        let rows = gw.wait_for_logs("gw", before).await;
        let row = record_of(&rows, &first);
        assert_eq!(row["success"], false, "{endpoint}: {row}");
        // Not stored: the same request goes to the provider again (and now gets a whole answer).
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let second = post(&url, &headers, &body.to_string()).await;
        assert_eq!(
            second.headers.get("cf-aig-cache-status").unwrap(),
            "MISS",
            "{endpoint}"
        );
        assert_eq!(fake.hits(), hits + 2, "{endpoint}");
    }
}

#[tokio::test]
async fn a_translated_stream_ends_with_its_final_event_not_with_the_providers_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An Anthropic stream whose last event comes at once, after which the provider holds its
    // body open (no closing chunk) for 10 s.
    let events = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
        event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n",
        events.len()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<std::time::Instant>();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = s.read(&mut buf).await;
        s.write_all(answer.as_bytes()).await.unwrap();
        // Whether (and when) the gateway lets go of this connection.
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            let _ = closed_tx.send(std::time::Instant::now());
        }
    });
    let gw = Gateway::start_raw(&format!(
        "[providers.anthropic]\nbase_url = \"http://127.0.0.1:{port}\"\n"
    ))
    .await;
    let body = json!({"model": "anthropic/claude-sonnet-4-5", "stream": true,
                      "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Say hi"}]});
    let started = std::time::Instant::now();
    let s = stream(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer sk-ant-test")],
        &body.to_string(),
    )
    .await;
    assert!(s.error.is_none(), "{:?}", s.error);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the client's stream ended after {:?}",
        started.elapsed()
    );
    let text = s.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(
        sse_json(&text).last().unwrap()["usage"]["completion_tokens"],
        3
    );
    // The provider's connection was let go, and the record is a complete answer.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(3), closed_rx)
        .await
        .expect("the gateway closed the provider's connection")
        .unwrap();
    assert!(closed.duration_since(started) < std::time::Duration::from_secs(3));
    let rows = gw.wait_for_logs("gw", 1).await;
    let id = s.headers.get("cf-aig-log-id").unwrap().to_str().unwrap();
    let row = rows
        .iter()
        .find(|r| r["id"] == id)
        .expect("the stream's record");
    assert_eq!(row["success"], true, "{row}");
    assert_eq!(row["cancelled"], false, "{row}");
    assert_eq!(row["tokens_out"], 3, "{row}");
}

/// The remaining conformance cases through the running gateway, for both translated
/// providers: multi-turn history with a system prompt, image input, JSON mode.
#[tokio::test]
async fn conformance_cases_through_the_gateway() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &gemini_config(&fake)).await;
    let url = format!("{}/compat/chat/completions", gw.base());
    let image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    for model in [
        "anthropic/claude-sonnet-4-5",
        "google-ai-studio/gemini-2.5-flash",
    ] {
        // Multi-turn with a system prompt.
        let body = json!({"model": model, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Again"}
        ]});
        let a = post(&url, &[("authorization", "Bearer k")], &body.to_string()).await;
        assert_eq!(
            a.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(
            a.json()["choices"][0]["message"]["content"],
            "Hello from the fake provider."
        );
        let sent: Value = serde_json::from_slice(&fake.last_request().unwrap().body).unwrap();
        let turns = sent
            .get("messages")
            .or_else(|| sent.get("contents"))
            .unwrap()
            .as_array()
            .unwrap()
            .len();
        assert_eq!(
            turns, 3,
            "{model}: system prompt lifted out, three turns left: {sent}"
        );

        // Image input.
        let body = json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": image}}
        ]}]});
        let a = post(&url, &[("authorization", "Bearer k")], &body.to_string()).await;
        assert_eq!(
            a.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let sent = String::from_utf8_lossy(&fake.last_request().unwrap().body).into_owned();
        assert!(
            sent.contains("iVBORw0KGgo"),
            "{model}: the image bytes reach the provider: {sent}"
        );

        // JSON mode with a schema.
        let body = json!({"model": model, "messages": [{"role": "user", "content": "Give JSON"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
                "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}});
        let a = post(&url, &[("authorization", "Bearer k")], &body.to_string()).await;
        assert_eq!(
            a.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let content = a.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        let parsed: Value = serde_json::from_str(&content)
            .unwrap_or_else(|_| panic!("{model}: not JSON: {content}"));
        assert!(parsed["answer"].is_string(), "{model}: {parsed}");
    }
}

//! Scripting through the queue and through `x-fake-*` headers: status,
//! delays, chunk count and size, aborts, raw bodies, compression.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::{FakeProvider, Script, ScriptUsage};

use crate::client::{chat_body, messages_body, post, raw_chat_request, raw_exchange, Reply};

fn contents(reply: &Reply) -> Vec<String> {
    reply
        .events()
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn queued_scripts_are_used_once_in_order() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().status(429));
    fake.push_script(Script::new().status(503));
    let first = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(first.status, 429);
    assert_eq!(first.header("retry-after"), Some("1"));
    assert_eq!(first.json()["code"], "resource-exhausted");
    assert!(first.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("Too many requests"));
    let second = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(second.status, 503);
    assert_eq!(second.json()["code"], "unavailable");
    let third = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(third.status, 200);
    assert_eq!(fake.queued_scripts(), 0);
}

#[tokio::test]
async fn scripted_errors_skip_auth_and_follow_the_route_dialect() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().status(529));
    let reply = post("/v1/messages", messages_body(true))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reply.status, 529);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json()["type"], "error");
    assert_eq!(reply.json()["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn the_queue_wins_over_headers_field_by_field() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().status(503));
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-status", "429")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 503);

    fake.push_script(Script::new().chunk_bytes(3));
    let reply = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-chunks", "2")
        .send(&fake)
        .await;
    assert_eq!(contents(&reply), ["Hello", " from"]);
}

#[tokio::test]
async fn header_status_and_delay() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-status", "500")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.json(),
        json!({"code": "internal", "error": "Internal server error"})
    );

    let started = Instant::now();
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-delay-ms", "150")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Recorded before the delay elapsed, not after.
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn requests_are_recorded_before_the_delay() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().delay(Duration::from_secs(5)));
    let pending = post("/v1/chat/completions", chat_body(false)).send_lenient(&fake);
    tokio::select! {
        _ = pending => panic!("the delay should still be running"),
        seen = fake.wait_for_hits(1, Duration::from_secs(2)) => assert!(seen),
    }
    assert_eq!(fake.requests().len(), 1);
    // The client gave up during the delay: that is a disconnect.
    assert!(fake.wait_for_disconnects(1, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn chunk_count_size_and_zero() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-chunks", "7")
        .send(&fake)
        .await;
    let chunks = contents(&reply);
    assert_eq!(chunks.len(), 7);
    assert_eq!(chunks[5], " Hello");

    let reply = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-chunks", "3")
        .header("x-fake-chunk-bytes", "1000")
        .send(&fake)
        .await;
    let chunks = contents(&reply);
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(|c| c.len() == 1000));

    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post("/v1/chat/completions", body)
        .header("x-fake-chunks", "0")
        .send(&fake)
        .await;
    let events = reply.events();
    assert_eq!(events.len(), 3, "finish, usage, [DONE]: {events:#?}");
    let usage: Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 0);

    // The JSON answer follows the same plan.
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-chunks", "2")
        .send(&fake)
        .await;
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Hello from"
    );
}

#[tokio::test]
async fn chunk_delay_paces_the_stream() {
    let fake = FakeProvider::start().await;
    let started = Instant::now();
    let reply = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-chunks", "3")
        .header("x-fake-chunk-delay-ms", "60")
        .send(&fake)
        .await;
    // Waits before chunks 2 and 3 and before the finish chunk.
    assert!(started.elapsed() >= Duration::from_millis(180));
    assert_eq!(contents(&reply).len(), 3);
}

#[tokio::test]
async fn drop_after_truncates_the_stream_for_a_hyper_client() {
    let fake = FakeProvider::start().await;
    let (status, _, body) = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-drop-after", "2")
        .send_lenient(&fake)
        .await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "the client must see an incomplete body");
    assert_eq!(
        fake.disconnects(),
        0,
        "a scripted abort is not a disconnect"
    );
}

#[tokio::test]
async fn drop_after_sends_exactly_n_chunks_and_no_chunked_terminator() {
    let fake = FakeProvider::start().await;
    let raw = raw_exchange(
        fake.addr(),
        &raw_chat_request("x-fake-drop-after: 2\r\n", &chat_body(true).to_string()),
    )
    .await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert_eq!(text.matches("data: ").count(), 2, "{text}");
    assert!(!text.contains("finish_reason"));
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "no clean end of the chunked body"
    );

    // A JSON answer is cut short of its declared content-length.
    let raw = raw_exchange(
        fake.addr(),
        &raw_chat_request("x-fake-drop-after: 10\r\n", &chat_body(false).to_string()),
    )
    .await;
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), 10);
    assert!(declared > 10);
}

#[tokio::test]
async fn drop_after_in_anthropic_streams_keeps_the_preamble() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().drop_after(1));
    let (_, _, body) = post("/v1/messages", messages_body(true))
        .send_lenient(&fake)
        .await;
    assert!(body.is_err());
    let fake2 = FakeProvider::start().await;
    let raw = raw_exchange(
        fake2.addr(),
        &format!(
            "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nx-fake-drop-after: 1\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{}",
            messages_body(true).to_string().len(),
            messages_body(true)
        ),
    )
    .await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("event: message_start"));
    assert!(text.contains("event: ping"));
    assert_eq!(text.matches("event: content_block_delta").count(), 1);
    assert!(!text.contains("message_stop"));
}

#[tokio::test]
async fn raw_body_headers_stream_model_and_usage_overrides() {
    let fake = FakeProvider::start().await;
    fake.push_script(
        Script::new()
            .status(418)
            .body("{\"teapot\":true}")
            .header("x-custom", "yes")
            .header("content-type", "application/problem+json"),
    );
    let reply = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 418);
    assert_eq!(reply.text(), "{\"teapot\":true}");
    assert_eq!(reply.header("x-custom"), Some("yes"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );

    // A raw body for a stream request is an event stream, in pieces.
    let raw_sse = "data: {\"code\":\"internal\",\"error\":\"boom\"}\n\n";
    fake.push_script(Script::new().body(raw_sse).chunks(3));
    let reply = post("/v1/chat/completions", chat_body(true))
        .send(&fake)
        .await;
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.text(), raw_sse);

    // Force a stream for a JSON request, report another model and usage.
    fake.push_script(
        Script::new()
            .stream(true)
            .model("grok-4-fast-reasoning")
            .usage(ScriptUsage {
                prompt_tokens: Some(165),
                cached_tokens: Some(156),
                cache_creation_tokens: None,
                completion_tokens: Some(2),
                reasoning_tokens: Some(125),
                cost_in_usd_ticks: None,
            }),
    );
    let mut body = chat_body(false);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post("/v1/chat/completions", body).send(&fake).await;
    let events = reply.events();
    let usage: Value = serde_json::from_str(&events[events.len() - 2].data).unwrap();
    assert_eq!(usage["model"], "grok-4-fast-reasoning");
    assert_eq!(usage["usage"]["total_tokens"], 292);
    assert_eq!(usage["usage"]["cost_in_usd_ticks"], 731_000);

    // And the other way round: JSON for a stream request.
    let reply = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-stream", "false")
        .send(&fake)
        .await;
    assert_eq!(reply.json()["object"], "chat.completion");
}

#[tokio::test]
async fn a_low_scripted_status_keeps_the_normal_answer() {
    let fake = FakeProvider::start().await;
    fake.push_script(Script::new().status(201));
    let reply = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["object"], "chat.completion");
}

#[tokio::test]
async fn malformed_fake_headers_are_reported() {
    let fake = FakeProvider::start().await;
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-chunks", "many")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 400);
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("x-fake-chunks"), "{error}");

    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-script", r#"{"status":502,"chunks":1}"#)
        .send(&fake)
        .await;
    assert_eq!(reply.status, 502);
}

#[tokio::test]
async fn answers_are_compressed_only_in_a_coding_the_request_accepts() {
    use std::io::Read;
    let fake = FakeProvider::start().await;
    let decode = |coding: &str, body: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
            "deflate" => flate2::read::ZlibDecoder::new(body).read_to_end(&mut out),
            "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out),
            _ => ruzstd::decoding::StreamingDecoder::new(body)
                .unwrap()
                .read_to_end(&mut out),
        }
        .unwrap();
        out
    };
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let reply = post("/v1/chat/completions", chat_body(false))
            .header("x-fake-encoding", coding)
            .header("accept-encoding", &format!("identity, {coding};q=0.9"))
            .send(&fake)
            .await;
        assert_eq!(reply.status, 200, "{coding}");
        assert_eq!(reply.header("content-encoding"), Some(coding));
        let plain: Value = serde_json::from_slice(&decode(coding, &reply.body)).unwrap();
        assert_eq!(plain["object"], "chat.completion", "{coding}");
    }
    // Not accepted: identity. A stream is never compressed.
    fake.push_script(Script::new().encoding("br"));
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("accept-encoding", "gzip")
        .send(&fake)
        .await;
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.json()["object"], "chat.completion");
    let reply = post("/v1/chat/completions", chat_body(true))
        .header("x-fake-encoding", "gzip")
        .header("accept-encoding", "gzip")
        .send(&fake)
        .await;
    assert_eq!(reply.header("content-encoding"), None);
    assert!(!contents(&reply).is_empty());
    // A coding the fake cannot produce is a harness error.
    let reply = post("/v1/chat/completions", chat_body(false))
        .header("x-fake-encoding", "compress")
        .header("accept-encoding", "compress")
        .send(&fake)
        .await;
    assert_eq!(reply.status, 400);
}

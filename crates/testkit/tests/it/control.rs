//! Recording, counters, the `/__fake/*` endpoints and disconnect counting.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::{FakeConfig, FakeProvider, Script};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{chat_body, get, post, post_raw, raw_chat_request};

#[tokio::test]
async fn requests_are_recorded_raw() {
    let fake = FakeProvider::start().await;
    let body = chat_body(false).to_string();
    post_raw("/v1/chat/completions?q=a%2Fb&x=1", body.clone())
        .header("x-stainless-retry-count", "0")
        .header("x-grok-conv-id", "conv-1")
        .send(&fake)
        .await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, http::Method::POST);
    assert_eq!(request.path_and_query, "/v1/chat/completions?q=a%2Fb&x=1");
    assert_eq!(request.path(), "/v1/chat/completions");
    assert_eq!(request.query(), Some("q=a%2Fb&x=1"));
    assert_eq!(request.header("X-Stainless-Retry-Count"), Some("0"));
    assert_eq!(request.header("x-grok-conv-id"), Some("conv-1"));
    assert_eq!(request.header("authorization"), Some("Bearer test-key"));
    assert_eq!(request.body, body.as_bytes());
    assert_eq!(request.json().unwrap()["model"], "grok-4-fast");
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        request.path_and_query
    );
    assert_eq!(fake.hits_for("/v1/chat/completions"), 1);
    assert_eq!(fake.hits_for("/v1/chat/completions?other=1"), 1);
    assert_eq!(fake.hits_for("/v1/messages"), 0);

    fake.reset();
    assert_eq!(fake.hits(), 0);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn no_record_keeps_counting_only() {
    let fake = FakeProvider::start_with(FakeConfig {
        record: false,
        ..FakeConfig::default()
    })
    .await;
    for _ in 0..3 {
        post("/v1/chat/completions", chat_body(false))
            .send(&fake)
            .await;
    }
    assert_eq!(fake.hits(), 3);
    assert_eq!(fake.hits_for("/v1/chat/completions"), 3);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn control_endpoints_work_without_auth_and_are_not_recorded() {
    let fake = FakeProvider::start().await;
    // Push two scripts (one object, then an array of one).
    let queued = post("/__fake/script", json!({"status": 429, "delay_ms": 1}))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(queued.status, 200);
    assert_eq!(queued.json()["queued"], 1);
    let queued = post("/__fake/script", json!([{"chunks": 1}]))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(queued.json()["queued"], 2);
    let typo = post("/__fake/script", json!({"stauts": 500}))
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(typo.status, 400);
    assert!(typo.json()["error"].as_str().unwrap().contains("stauts"));

    let first = post("/v1/chat/completions?trace=1", chat_body(false))
        .header("x-stainless-lang", "python")
        .send(&fake)
        .await;
    assert_eq!(first.status, 429);
    let second = post("/v1/chat/completions", chat_body(false))
        .send(&fake)
        .await;
    assert_eq!(second.json()["choices"][0]["message"]["content"], "Hello");

    let hits = get("/__fake/hits").without_auth().send(&fake).await.json();
    assert_eq!(hits["hits"], 2);
    assert_eq!(hits["disconnects"], 0);
    assert_eq!(hits["paths"]["/v1/chat/completions"], 2);

    let requests = get("/__fake/requests")
        .without_auth()
        .send(&fake)
        .await
        .json();
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 2, "control requests are not recorded");
    let first = &requests[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/v1/chat/completions?trace=1");
    assert_eq!(first["headers"]["x-stainless-lang"], "python");
    assert_eq!(first["headers"]["authorization"], "Bearer test-key");
    let body: Value = serde_json::from_str(first["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, chat_body(false));

    let reset = post_raw("/__fake/reset", "")
        .without_auth()
        .send(&fake)
        .await;
    assert_eq!(reset.status, 200);
    let hits = get("/__fake/hits").without_auth().send(&fake).await.json();
    assert_eq!(hits["hits"], 0);
    assert_eq!(get("/__fake/nope").send(&fake).await.status, 404);
    assert_eq!(fake.hits(), 0);
}

/// Reads from `stream` until `needle` has arrived.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_counted() {
    let fake = FakeProvider::start().await;
    let mut stream = TcpStream::connect(fake.addr()).await.unwrap();
    let request = raw_chat_request(
        "x-fake-chunks: 50\r\nx-fake-chunk-delay-ms: 5000\r\n",
        &chat_body(true).to_string(),
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until(&mut stream, "Hello").await;
    drop(stream);
    // Noticed well before the next chunk is due: the fake watches for the
    // client's EOF, it does not wait for a write to fail.
    assert!(
        fake.wait_for_disconnects(1, Duration::from_secs(1)).await,
        "the fake must notice the client went away"
    );
    assert_eq!(fake.disconnects(), 1);
}

#[tokio::test]
async fn a_complete_stream_is_not_a_disconnect() {
    let fake = FakeProvider::start().await;
    for stream in [true, false] {
        post("/v1/chat/completions", chat_body(stream))
            .send(&fake)
            .await;
    }
    fake.push_script(
        Script::new()
            .chunks(2)
            .chunk_delay(Duration::from_millis(10)),
    );
    post("/v1/chat/completions", chat_body(true))
        .send(&fake)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.disconnects(), 0);
    let hits = get("/__fake/hits").send(&fake).await.json();
    assert_eq!(hits["disconnects"], 0);
}

#[tokio::test]
async fn dropping_the_fake_closes_its_port() {
    let fake = FakeProvider::start().await;
    let addr = fake.addr();
    fake.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

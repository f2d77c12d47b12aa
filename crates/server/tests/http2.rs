//! HTTP/2 without TLS (prior knowledge), as gRPC-style clients and `curl --http2-prior-knowledge`
//! speak it: the gateway serves it as it serves HTTP/1.1, streams included, and records the
//! request's host from its `:authority`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

async fn h2(addr: &str) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("an HTTP/2 connection");
    tokio::spawn(conn);
    send
}

fn chat(gw: &Gateway, stream: bool) -> http::Request<Full<Bytes>> {
    let body = json!({"model": "grok-beta", "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]});
    http::Request::post(format!(
        "http://{}/v1/acct/gw/grok/v1/chat/completions",
        gw.addr
    ))
    .header("authorization", "Bearer k")
    .header("content-type", "application/json")
    .body(Full::new(Bytes::from(body.to_string())))
    .unwrap()
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_like_http1() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let mut send = h2(&gw.addr).await;

    let resp = send.send_request(chat(&gw, false)).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let log_id = resp.headers()["cf-aig-log-id"].to_str().unwrap().to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/v1/chat/completions");
    assert_eq!(got.headers.get("authorization").unwrap(), "Bearer k");

    // A stream on the same connection, relayed event by event to its [DONE].
    let resp = send.send_request(chat(&gw, true)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(text.contains("data: [DONE]"), "{text}");

    // The record names the host as an HTTP/1.1 request's does.
    let rows = gw.wait_for_logs("gw", 2).await;
    assert!(rows.iter().any(|r| r["id"] == log_id.as_str()));
    let url = gw.cp(&format!("/gateways/gw/logs/{log_id}"));
    let a = send_request(&url).await;
    assert_eq!(
        a["result"]["request_headers"]["host"],
        gw.addr.as_str(),
        "{a}"
    );
    assert_eq!(a["result"]["request_headers"]["authorization"], "REDACTED");
}

async fn send_request(url: &str) -> serde_json::Value {
    let a = send(http::Method::GET, url, &[], "").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    a.json()
}

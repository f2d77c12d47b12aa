//! On-demand throughput smoke check (`cargo test --release -p
//! switchyard-testkit -- --ignored perf --nocapture`): sequential requests
//! over one keep-alive connection, client and fake on one thread.

use std::time::Instant;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use switchyard_testkit::{FakeConfig, FakeProvider};
use tokio::net::TcpStream;

async fn run(fake: &FakeProvider, stream: Option<bool>, n: u32) -> f64 {
    let tcp = TcpStream::connect(fake.addr()).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = stream.map_or_else(Bytes::new, |s| {
        Bytes::from(crate::client::chat_body(s).to_string())
    });
    let started = Instant::now();
    for _ in 0..n {
        let request = Request::builder()
            .method(if stream.is_some() { "POST" } else { "GET" })
            .uri(if stream.is_some() {
                "/v1/chat/completions"
            } else {
                "/v1/models"
            })
            .header("host", "fake")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(!bytes.is_empty());
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

#[ignore = "throughput smoke check; run on demand in release mode"]
#[tokio::test]
async fn perf_sequential_requests() {
    let fake = FakeProvider::start_with(FakeConfig {
        record: false,
        require_auth: false,
        ..FakeConfig::default()
    })
    .await;
    run(&fake, Some(false), 2_000).await;
    let models = run(&fake, None, 20_000).await;
    let json = run(&fake, Some(false), 20_000).await;
    let sse = run(&fake, Some(true), 20_000).await;
    println!(
        "per request, client included: models {models:.1} µs, json {json:.1} µs, stream {sse:.1} µs"
    );
}

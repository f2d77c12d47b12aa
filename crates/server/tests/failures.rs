//! Upstream failures (502/504), mid-stream deaths, client disconnects and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn connection_refused_is_502_2005() {
    // A port that was just free: nothing listens there.
    let port = closed_port();
    let gw = Gateway::start_raw(&format!(
        "[providers.grok]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
    ))
    .await;
    let a = post(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    a.assert_gateway_error(502, 2005);
}

#[tokio::test]
async fn no_response_headers_in_time_is_504_2005() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "upstream_timeout_ms = 300").await;
    fake.push_script(Script::new().delay(Duration::from_secs(3)));
    let t = Instant::now();
    let a = post(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    a.assert_gateway_error(504, 2005);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn an_upstream_that_dies_mid_stream_ends_the_clients_stream() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(10)
            .chunk_delay(Duration::from_millis(50))
            .drop_after(2),
    );
    let t = Instant::now();
    let s = tokio::time::timeout(
        Duration::from_secs(5),
        stream(
            &format!("{}/grok/v1/chat/completions", gw.base()),
            &[AUTH],
            CHAT_STREAM,
        ),
    )
    .await
    .expect("the client's stream must end, not hang");
    assert_eq!(s.status, 200);
    assert!(
        s.text().contains("chat.completion.chunk"),
        "chunks before the drop arrive"
    );
    assert!(!s.text().contains("[DONE]"));
    assert!(s.error.is_some(), "the truncation is visible to the client");
    assert!(t.elapsed() < Duration::from_secs(2));
    // The gateway keeps serving.
    let a = post(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn an_upstream_that_goes_quiet_mid_stream_is_cut_after_the_idle_limit() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "upstream_timeout_ms = 1000").await;
    // Headers at once, then a chunk every 10 s: the first gap is over the limit.
    fake.push_script(Script::new().chunks(3).chunk_delay(Duration::from_secs(10)));
    let t = Instant::now();
    let s = tokio::time::timeout(
        Duration::from_secs(8),
        stream(
            &format!("{}/grok/v1/chat/completions", gw.base()),
            &[AUTH],
            CHAT_STREAM,
        ),
    )
    .await
    .expect("a silent provider must not hold the client's stream open");
    assert_eq!(s.status, 200);
    assert!(s.error.is_some(), "the cut is visible to the client");
    assert!(!s.text().contains("[DONE]"));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["success"], false, "{}", rows[0]);
    assert_eq!(rows[0]["cancelled"], false, "{}", rows[0]);
    // Gaps under the limit are relayed whole, however long the stream lasts (1.8 s here).
    fake.push_script(
        Script::new()
            .chunks(6)
            .chunk_delay(Duration::from_millis(300)),
    );
    let s = stream(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT_STREAM,
    )
    .await;
    assert!(s.error.is_none(), "{:?}", s.error);
    assert!(s.text().ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_request() {
    use http_body_util::BodyExt;
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(100)
            .chunk_delay(Duration::from_millis(50)),
    );
    let resp = client()
        .request(request(
            http::Method::POST,
            &format!("{}/grok/v1/chat/completions", gw.base()),
            &[AUTH],
            CHAT_STREAM,
        ))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    assert!(
        fake.wait_for_disconnects(1, Duration::from_secs(3)).await,
        "the provider never saw the cancellation"
    );
    // The stream was cut long before its 100 chunks (5 s) were sent.
    let log = gw.stderr();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = if log.contains("cancelled") {
        log
    } else {
        gw.stderr()
    };
    assert!(log.contains("outcome=\"cancelled\""), "{log}");
}

#[tokio::test]
async fn sigterm_lets_in_flight_streams_finish_then_exits_zero() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(8)
            .chunk_delay(Duration::from_millis(150)),
    );
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let in_flight = tokio::spawn(async move { stream(&url, &[AUTH], CHAT_STREAM).await });
    assert!(fake.wait_for_hits(1, Duration::from_secs(3)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    gw.terminate();
    // New connections are refused once the signal is handled.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::net::TcpStream::connect(&gw.addr).await;
    assert!(refused.is_err(), "still accepting after SIGTERM");
    let s = in_flight.await.unwrap();
    assert!(s.error.is_none(), "{:?}", s.error);
    assert!(
        s.text().ends_with("data: [DONE]\n\n"),
        "the stream was cut: {}",
        s.text()
    );
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test]
async fn the_grace_period_bounds_shutdown() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, "shutdown_grace_secs = 1").await;
    fake.push_script(
        Script::new()
            .chunks(100)
            .chunk_delay(Duration::from_millis(100)),
    );
    // And a call still waiting for the provider's headers when the grace period ends.
    fake.push_script(Script::new().delay(Duration::from_secs(20)));
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let stuck = {
        let url = url.clone();
        tokio::spawn(async move { stream(&url, &[AUTH], CHAT_STREAM).await })
    };
    assert!(fake.wait_for_hits(1, Duration::from_secs(3)).await);
    let waiting = tokio::spawn(async move { post(&url, &[AUTH], CHAT).await });
    assert!(fake.wait_for_hits(2, Duration::from_secs(3)).await);
    let t = Instant::now();
    gw.terminate();
    assert_eq!(gw.wait_exit(Duration::from_secs(6)).await, Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );
    let cut = stuck.await.unwrap();
    assert!(!cut.text().ends_with("data: [DONE]\n\n"));
    let _ = waiting.await;
    // Both are in the log, as cancelled: stopping loses no record of a call that was made.
    let page = gw
        .open_store()
        .await
        .list_logs(
            &switchyard_core::AccountId::parse("acct").unwrap(),
            &switchyard_core::GatewayId::parse("gw").unwrap(),
            &Default::default(),
        )
        .await
        .expect("readable");
    let mut seen: Vec<(u16, bool)> = page
        .records
        .iter()
        .map(|r| (r.status_code, r.cancelled))
        .collect();
    seen.sort();
    assert_eq!(seen, vec![(200, true), (499, true)]);
    let id = cut.headers.get("cf-aig-log-id").unwrap().to_str().unwrap();
    assert!(page.records.iter().any(|r| r.id == id));
}

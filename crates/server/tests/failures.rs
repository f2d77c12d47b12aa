//! Upstream failures (502/504), mid-stream deaths, client disconnects and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use std::time::{Duration, Instant};

#[tokio::test]
async fn connection_refused_is_502_2005() {
    // A port that was just free: nothing listens there.
    let port = closed_port();
    let gw = Gateway::start_raw(&format!(
        "[providers.grok]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
    ))
    .await;
    let a = gw.chat(&[AUTH]).await;
    a.assert_gateway_error(502, 2005);
}

#[tokio::test]
async fn no_response_headers_in_time_is_504_2005() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "upstream_timeout_ms = 300").await;
    fake.push_script(Script::new().delay(Duration::from_secs(3)));
    let t = Instant::now();
    let a = gw.chat(&[AUTH]).await;
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
    let a = gw.chat(&[AUTH]).await;
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

/// A connection that has not sent a whole request when shutdown begins (it trickles its first
/// headers) is closed then, not waited for through the grace period.
#[tokio::test]
async fn a_connection_still_sending_its_first_headers_does_not_hold_up_shutdown() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, "shutdown_grace_secs = 20").await;
    let mut half = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut half,
        b"POST /v1/acct/gw/grok/v1/chat/completions HTTP/1.1\r\nhost: x\r\n",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.stop_within(Duration::from_secs(5)).await;
    drop(half);
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
    gw.stop_within(Duration::from_secs(4)).await;
    let cut = stuck.await.unwrap();
    assert!(!cut.text().ends_with("data: [DONE]\n\n"));
    let _ = waiting.await;
    // Both are in the log, as cancelled: stopping loses no record of a call that was made. The
    // one that had no answer yet was ended by the gateway (503), not by its client (499).
    let records = gw.stored_records().await;
    // Neither is a success: the gateway cut the stream its client was still reading.
    let mut seen: Vec<(u16, bool, bool)> = records
        .iter()
        .map(|r| (r.status_code, r.cancelled, r.success))
        .collect();
    seen.sort();
    assert_eq!(seen, vec![(200, true, false), (503, true, false)]);
    let id = cut.headers.get("cf-aig-log-id").unwrap().to_str().unwrap();
    assert!(records.iter().any(|r| r.id == id));
}

/// A second signal ends the grace period at once; what was in flight is still recorded.
#[tokio::test]
async fn a_second_signal_ends_the_grace_period() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, "shutdown_grace_secs = 30").await;
    fake.push_script(
        Script::new()
            .chunks(100)
            .chunk_delay(Duration::from_millis(200)),
    );
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let in_flight = tokio::spawn(async move { stream(&url, &[AUTH], CHAT_STREAM).await });
    assert!(fake.wait_for_hits(1, Duration::from_secs(3)).await);
    let t = Instant::now();
    gw.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    gw.terminate();
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).await, Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    let cut = in_flight.await.unwrap();
    assert!(!cut.text().ends_with("data: [DONE]\n\n"));
    assert!(
        gw.stderr().contains("second shutdown signal"),
        "{}",
        gw.stderr()
    );
    let id = cut.headers.get("cf-aig-log-id").unwrap().to_str().unwrap();
    let records = gw.stored_records().await;
    let r = records.iter().find(|r| r.id == id).expect("recorded");
    assert!(r.cancelled);
}

/// A raw HTTP/1.1 upstream: answers every request with 1,500 header lines, more than the
/// gateway reads, and counts the requests for `/many`.
async fn header_heavy_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let extra: String = (0..1_500).map(|i| format!("x-h{i}: v\r\n")).collect();
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n{extra}\r\n{{}}"
    );
    canned_upstream(answer.into_bytes(), "/many").await
}

#[tokio::test]
async fn an_unreadable_answer_is_502_and_not_sent_again() {
    let fake = FakeProvider::start().await;
    let (raw, many) = header_heavy_upstream().await;
    let gw = Gateway::start(
        &fake,
        &format!("[providers.custom-raw]\nbase_url = \"{raw}\"\n"),
    )
    .await;
    // Too many to read: 502, and the request (which the provider had) is not sent again.
    let a = post(
        &format!("{}/custom-raw/many", gw.base()),
        &[AUTH, ("cf-aig-max-attempts", "3")],
        CHAT,
    )
    .await;
    a.assert_gateway_error(502, 2005);
    assert_eq!(many.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreadable_answer_moves_the_universal_endpoint_to_its_next_step() {
    let fake = FakeProvider::start().await;
    let (raw, many) = header_heavy_upstream().await;
    let gw = Gateway::start(
        &fake,
        &format!("[providers.custom-raw]\nbase_url = \"{raw}\"\n"),
    )
    .await;
    let chat = serde_json::json!({"model":"grok-beta","messages":[{"role":"user","content":"Hi"}]});
    let steps = serde_json::json!([
        {"provider":"custom-raw","endpoint":"many","headers":{},"query":chat},
        {"provider":"grok","endpoint":"v1/chat/completions",
         "headers":{"authorization":"Bearer k"},"query":chat},
    ]);
    let a = post(
        &gw.base(),
        &[("cf-aig-max-attempts", "3")],
        &steps.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");
    assert_eq!(
        many.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the step that answered unreadably is not tried again"
    );
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn a_retried_answer_whose_body_trickles_does_not_hold_up_the_next_attempt() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    // A 500 whose body comes in three pieces ten seconds apart, then a good answer.
    fake.push_script(
        Script::new()
            .status(500)
            .body("{\"error\":\"busy\"}")
            .stream(true)
            .chunks(3)
            .chunk_delay(Duration::from_secs(10)),
    );
    let started = std::time::Instant::now();
    let a = gw
        .chat(&[
            AUTH,
            ("cf-aig-max-attempts", "2"),
            ("cf-aig-retry-delay", "0"),
        ])
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(fake.hits(), 2);
    // Both attempts are logged, the first with what arrived of its body.
    let rows = gw.wait_for_logs("gw", 2).await;
    let failed = rows
        .iter()
        .find(|r| r["status_code"] == 500)
        .expect("the first attempt's record");
    let stored = send(
        Method::GET,
        &gw.cp(&format!(
            "/gateways/gw/logs/{}/response",
            failed["id"].as_str().unwrap()
        )),
        &[],
        "",
    )
    .await;
    assert_eq!(stored.status, 200);
    let body = "{\"error\":\"busy\"}";
    assert!(
        !stored.body.is_empty() && body.as_bytes().starts_with(&stored.body),
        "{:?}",
        String::from_utf8_lossy(&stored.body)
    );
}

/// A client that stops reading its answer is cut after client_write_timeout_ms without progress:
/// the provider's stream is dropped and the record says cancelled (without a write timeout
/// it held both connections and the answer for as long as the client stayed).
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_the_write_timeout() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "client_write_timeout_ms = 1000\n").await;
    // Far more than the sockets between them buffer.
    fake.push_script(
        Script::new()
            .stream(true)
            .chunks(4_000)
            .chunk_bytes(16 * 1024),
    );
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = r#"{"model":"grok-beta","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let request = format!(
        "POST /v1/acct/gw/grok/v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut s, request.as_bytes())
        .await
        .unwrap();
    // Never read; the record comes once the gateway gives up on this client.
    let deadline = Instant::now() + Duration::from_secs(20);
    let record = loop {
        let records = gw.stored_records().await;
        if let Some(r) = records.into_iter().next() {
            break r;
        }
        assert!(Instant::now() < deadline, "the client was never cut");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(record.cancelled, "{record:?}");
    drop(s);
}

/// A raw HTTP/1.1 upstream that keeps its connections open and counts them: every request
/// on them is answered `{}`.
async fn keep_alive_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    keep_alive_upstream_answering(None, Duration::ZERO).await
}

/// As [`keep_alive_upstream`], answering with `stream` when given: an event stream in one
/// chunk, whose body ends (the zero-length chunk) `end_after` after its last event.
async fn keep_alive_upstream_answering(
    stream: Option<&'static str>,
    end_after: Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match s.read(&mut chunk).await {
                            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match s.read(&mut chunk).await {
                            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                    }
                    buf.drain(..end + 4 + len);
                    if let Some(events) = stream {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                             transfer-encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n",
                            events.len()
                        );
                        if s.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(end_after).await;
                        if s.write_all(b"0\r\n\r\n").await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

/// `upstream_idle_timeout_ms` is how long an idle provider connection is kept for reuse: a
/// request soon after another reuses its connection, one after the timeout opens a new one.
#[tokio::test]
async fn idle_provider_connections_are_let_go_after_the_idle_timeout() {
    use std::sync::atomic::Ordering;
    let fake = FakeProvider::start().await;
    let (upstream, accepted) = keep_alive_upstream().await;
    let gw = Gateway::start(
        &fake,
        &format!(
            "upstream_idle_timeout_ms = 300\n[providers.custom-ka]\nbase_url = \"{upstream}\"\n"
        ),
    )
    .await;
    let url = format!("{}/custom-ka/v1/chat/completions", gw.base());
    for _ in 0..2 {
        assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "kept and reused");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "let go after 300 ms idle"
    );
}

/// A translated stream is over for its client at the provider's last event; the provider's
/// own end of body follows, and is read in the background so that its connection is kept
/// for the next call instead of closed.
#[tokio::test]
async fn a_translated_streams_provider_connection_is_kept_for_the_next_call() {
    use std::sync::atomic::Ordering;
    const EVENTS: &str = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",",
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],",
        "\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,",
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,",
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":",
        "\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let fake = FakeProvider::start().await;
    let (upstream, accepted) =
        keep_alive_upstream_answering(Some(EVENTS), Duration::from_millis(30)).await;
    let gw = Gateway::start(
        &fake,
        &format!("[providers.custom-ka]\nbase_url = \"{upstream}\"\napi = \"anthropic\"\n"),
    )
    .await;
    let url = format!("{}/compat/chat/completions", gw.base());
    let body = r#"{"model":"custom-ka/claude-x","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    for _ in 0..3 {
        let a = post(&url, &[AUTH], body).await;
        assert_eq!(a.status, 200);
        let text = String::from_utf8_lossy(&a.body).into_owned();
        assert!(
            text.contains("\"Hi\"") && text.ends_with("data: [DONE]\n\n"),
            "{text}"
        );
        // The provider's end of body comes 30 ms after its last event.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one provider connection for all three"
    );
}

/// A stream whose client has its closing event (`data: [DONE]`) is whole, even when the
/// shutdown cuts it because the provider had not yet ended its body: complete and successful.
#[tokio::test]
async fn a_stream_cut_by_shutdown_after_its_closing_event_is_a_whole_answer() {
    const CHUNKS: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",",
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let fake = FakeProvider::start().await;
    let (upstream, _) = keep_alive_upstream_answering(Some(CHUNKS), Duration::from_secs(30)).await;
    let mut gw = Gateway::start(
        &fake,
        &format!("shutdown_grace_secs = 1\n[providers.custom-open]\nbase_url = \"{upstream}\"\n"),
    )
    .await;
    let url = format!("{}/custom-open/v1/chat/completions", gw.base());
    let reading = tokio::spawn(async move { stream(&url, &[AUTH], CHAT_STREAM).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    gw.stop_within(Duration::from_secs(4)).await;
    let got = reading.await.unwrap();
    assert!(got.text().contains("data: [DONE]"), "{}", got.text());
    let records = gw.stored_records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.status_code, r.success, r.cancelled),
        (200, true, false),
        "{r:?}"
    );
}

//! Bad input: unsafe paths, bad ids, unknown providers, oversized bodies. Each gets the
//! gateway's JSON error and nothing reaches the provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn unsafe_paths_are_refused_and_never_sent() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let paths = [
        "/v1/acct/gw/grok/../../etc/passwd",
        "/v1/acct/gw/grok/v1/../../x",
        "/v1/acct/gw/grok/v1/%2e%2e/admin",
        "/v1/acct/gw/grok/v1/%2E%2E/admin",
        "/v1/acct/gw/grok/v1/.%2e/admin",
        "/v1/acct/gw/grok/v1/a%2fb",
        "/v1/acct/gw/grok/v1/a%2Fb",
        "/v1/acct/gw/grok//evil.example/x",
        "/v1/acct/gw/grok/v1//evil.example/x",
        "/v1/acct/gw/grok/v1\\..\\x",
        "/v1/acct/gw/grok/v1/a%5cb",
        "/v1/acct/gw/grok/user@evil.example/x",
        "/v1/acct/gw/grok/v1/a%40b",
        "/v1/acct/gw/grok/https://evil.example/x",
        "/v1/acct/gw/grok/http:%2f%2fevil.example",
        "/v1/acct/gw/grok/v1/a%00b",
        "/v1/acct/gw/grok/v1/a%0d%0aHost:%20evil",
        "/v1/acct/gw/grok/v1/%zz",
        "/v1/acct/gw/azure-openai/evil.example%2f/dep/chat",
        "/v1/acct/gw/azure-openai/evil.example/dep/chat",
    ];
    for path in paths {
        let req = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        let answer = raw(&gw.addr, req.as_bytes()).await;
        assert_eq!(raw_status(&answer), 400, "{path}: {answer}");
        assert!(answer.contains("\"code\":2000"), "{path}: {answer}");
        assert!(answer.contains("\"name\":\"AiGatewayError\""), "{path}");
    }
    // An absolute-form request target is refused too.
    let answer = raw(
        &gw.addr,
        b"GET http://evil.example/v1/acct/gw/grok/v1/models HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 400, "{answer}");
    // TRACE (an echo of the request, credentials included) and CONNECT (a tunnel) are no
    // API calls.
    for request in [
        "TRACE /v1/acct/gw/grok/v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\nconnection: close\r\n\r\n",
        "CONNECT /v1/acct/gw/grok/v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    ] {
        let answer = raw(&gw.addr, request.as_bytes()).await;
        assert_eq!(raw_status(&answer), 400, "{answer}");
        assert!(answer.contains("requests are not forwarded"), "{answer}");
        assert!(answer.contains("\"success\":false"), "{answer}");
    }
    // CONNECT's usual authority-form target names no route at all.
    let answer = raw(
        &gw.addr,
        b"CONNECT x:443 HTTP/1.1\r\nhost: x:443\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 404, "{answer}");
    assert!(answer.contains("\"success\":false"), "{answer}");
    assert_eq!(fake.hits(), 0, "an unsafe request reached the provider");
}

#[tokio::test]
async fn invalid_ids_and_unknown_providers() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let long = "a".repeat(65);
    for path in [
        format!("/v1/{long}/gw/grok/v1/chat/completions"),
        "/v1/acct/g.w/grok/v1/chat/completions".to_owned(),
        "/v1/ac%20ct/gw/grok/v1/chat/completions".to_owned(),
        "/v1/acct/g%2Fw/grok/v1/chat/completions".to_owned(),
        // No account id at all.
        "/v1".to_owned(),
        "/v1/".to_owned(),
        "/v1//gw/grok/v1/chat/completions".to_owned(),
    ] {
        let a = post(&format!("{}{path}", gw.url), &[AUTH], CHAT).await;
        a.assert_gateway_error(400, 2000);
        assert!(a.headers.contains_key("cf-aig-log-id"), "{path}");
    }
    let a = post(
        &format!("{}/v1/acct/gw/nope/v1/chat", gw.url),
        &[AUTH],
        CHAT,
    )
    .await;
    a.assert_gateway_error(400, 2008);
    assert!(a.json()["error"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
    let a = post(&format!("{}/elsewhere", gw.url), &[], "").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["success"], false);
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn bodies_announced_over_the_limit_get_413_before_they_arrive() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    // Claim 30 MiB and send none of it: the answer must come at once.
    let req = "POST /v1/acct/gw/grok/v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 31457280\r\n\r\n";
    let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("413 must not wait for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(raw_status(&answer), 413, "{answer}");
    assert!(answer.contains("\"code\":2000"));
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn a_client_that_sends_its_whole_body_first_still_reads_the_refusal() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "max_body_bytes = 1024").await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Far more than the socket buffers hold: unless the gateway reads it, writing it fails.
    let body = vec![b'x'; 8 << 20];
    // Too large, and refused before the body is read at all (an unknown provider).
    let cases = [
        ("/v1/acct/gw/grok/v1/chat/completions", 413, 2000),
        ("/v1/acct/gw/nope/v1/chat/completions", 400, 2008),
    ];
    for (chunked, (path, status, code)) in [false, true]
        .into_iter()
        .flat_map(|c| cases.into_iter().map(move |case| (c, case)))
    {
        let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
        let head = if chunked {
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        } else {
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
        };
        s.write_all(head.as_bytes()).await.unwrap();
        if chunked {
            for part in body.chunks(64 << 10) {
                s.write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await
                    .unwrap();
                s.write_all(part).await.unwrap();
                s.write_all(b"\r\n").await.unwrap();
            }
            s.write_all(b"0\r\n\r\n").await.unwrap();
        } else {
            s.write_all(&body)
                .await
                .expect("the body is read, not refused");
        }
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 4096];
        while !answer.ends_with(b"}") {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("the answer comes")
                .expect("the answer is read, not reset");
            assert!(n > 0, "closed before the answer");
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(raw_status(&answer), status, "{answer}");
        assert!(answer.contains(&format!("\"code\":{code}")), "{answer}");
    }
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_get_413() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "max_body_bytes = 1024").await;
    let big = format!(
        "{{\"model\":\"grok-beta\",\"pad\":\"{}\"}}",
        "x".repeat(4096)
    );
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(
        big.into_bytes()
            .chunks(512)
            .map(|c| {
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(
                    bytes::Bytes::copy_from_slice(c),
                ))
            })
            .collect::<Vec<_>>(),
    ));
    let req = http::Request::post(format!("{}/grok/v1/chat/completions", gw.base()))
        .header("authorization", "Bearer k")
        .body(body)
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(fake.hits(), 0);
    // Within the limit is fine.
    let a = gw.chat(&[AUTH]).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn unknown_gateways_are_refused_when_auto_create_is_off() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "auto_create_gateways = false\n[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\n",
    )
    .await;
    let a = post(
        &format!("{}/v1/acct/other/grok/v1/chat/completions", gw.url),
        &[AUTH],
        CHAT,
    )
    .await;
    a.assert_gateway_error(400, 2001);
    assert_eq!(fake.hits(), 0);
    let a = gw.chat(&[AUTH]).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn a_client_that_trickles_its_request_is_dropped_after_client_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "client_timeout_ms = 1000").await;

    // A connection that sends nothing, and one that sends too little to tell HTTP/1 from
    // HTTP/2: both closed.
    for start in [&b""[..], b"P"] {
        let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
        s.write_all(start).await.unwrap();
        assert!(
            closed_within(&mut s, Duration::from_secs(6)).await,
            "a silent connection ({start:?}) must be closed"
        );
    }

    // Headers that never end: the connection is closed.
    let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
    s.write_all(b"POST /v1/acct/gw/grok/v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "unfinished headers must not hold the connection"
    );
    let mut buf = vec![0u8; 4096];

    // A body that stops half-way: 408 in the gateway's error shape, nothing sent upstream.
    let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
    s.write_all(
        b"POST /v1/acct/gw/grok/v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("a stalled body gets an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert!(answer.contains("\"code\":2000"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(fake.hits(), 0);

    // A client that keeps sending is served, however long it takes in all.
    let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
    let body = CHAT.as_bytes();
    s.write_all(
        format!(
            "POST /v1/acct/gw/grok/v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Six pauses of 300 ms: 1.8 s in all, each pause well under the 1 s limit.
    for part in body.chunks(body.len() / 6 + 1) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.write_all(part).await.unwrap();
    }
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut all))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&all);
    assert_eq!(raw_status(&answer), 200, "{answer}");
}

/// Whether the gateway closes `s` (end of stream or an error) within `limit`, reading and
/// dropping whatever it sends before that.
async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

/// The headers of every gateway-plane answer (SPEC 2.5 and the sandbox policy), in a raw answer.
fn stamped(answer: &str) {
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "cf-aig-log-id: ",
        "cf-aig-request-id: ",
        "cf-aig-event-id: ",
        "content-security-policy: sandbox",
        "x-content-type-options: nosniff",
    ] {
        assert!(head.contains(name), "{name}: {answer}");
    }
}

#[tokio::test]
async fn requests_framed_in_ways_the_gateway_cannot_read_are_refused_before_routing() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let path = "/v1/acct/gw/grok/v1/chat/completions";
    // HTTP/1.1 without a Host, and with two; the client sends its whole body (1 MiB) before
    // it reads, and still reads the refusal.
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    for head in ["", "host: a\r\nhost: b\r\n"] {
        let a = raw(
            &gw.addr,
            format!("POST {path} HTTP/1.1\r\n{head}authorization: Bearer k\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
                .as_bytes(),
        )
        .await;
        assert_eq!(raw_status(&a), 400, "{a}");
        assert!(a.contains("\"code\":2000") && a.contains("Host"), "{a}");
        stamped(&a);
    }
    // A body in a transfer coding other than chunked would reach the provider still encoded.
    let a = raw(
        &gw.addr,
        format!("POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer k\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(raw_status(&a), 501, "{a}");
    assert!(a.contains("gzip") && a.contains("\"code\":2000"), "{a}");
    stamped(&a);
    // The control plane answers in its envelope.
    let a = raw(
        &gw.addr,
        b"GET /client/v4/accounts/acct/ai-gateway/gateways HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&a), 400, "{a}");
    assert!(
        a.contains("\"errors\"") && a.contains("\"success\":false"),
        "{a}"
    );
    // HTTP/1.0 needs no Host.
    let a = raw(&gw.addr, b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(raw_status(&a), 200, "{a}");
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn provider_answers_that_cannot_be_relayed_are_502() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answers = [
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ];
    for answer in answers {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let fake = FakeProvider::start().await;
        let gw = Gateway::start(
            &fake,
            &format!("[providers.custom-raw]\nbase_url = \"http://127.0.0.1:{port}\""),
        )
        .await;
        let a = post(
            &format!("{}/v1/acct/gw/custom-raw/v1/chat/completions", gw.url),
            &[("authorization", "Bearer k")],
            "{}",
        )
        .await;
        assert_eq!(
            a.status,
            502,
            "{answer}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["error"][0]["code"], 2005, "{answer}");
    }
}

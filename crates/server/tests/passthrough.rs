//! Provider pass-through (SPEC 2.1): what the provider receives and what the client gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use std::time::Duration;

#[tokio::test]
async fn forwards_method_query_headers_and_body_bytes_unchanged() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    // Odd but valid JSON spacing must survive byte for byte.
    let body = "{ \"model\" :\"grok-beta\",\n \"messages\":[{\"role\":\"user\",\"content\":\"Hi \\u00e9\"}] }";
    let answer = post(
        &format!("{}/grok/v1/chat/completions?trace=1&x=%20y", gw.base()),
        &[
            AUTH,
            ("x-custom", "kept"),
            ("user-agent", "test-agent/1"),
            ("cf-aig-cache-ttl", "60"),
            ("cf-aig-metadata", "{\"a\":1}"),
            ("cf-skip-cache", "true"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "dropped"),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(fake.hits(), 1);
    let got = fake.last_request().unwrap();
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.path_and_query, "/v1/chat/completions?trace=1&x=%20y");
    assert_eq!(&got.body[..], body.as_bytes());
    let h = &got.headers;
    assert_eq!(h.get("authorization").unwrap(), "Bearer xai-test-key");
    assert_eq!(h.get("x-custom").unwrap(), "kept");
    assert_eq!(h.get("user-agent").unwrap(), "test-agent/1");
    assert_eq!(h.get("content-type").unwrap(), "application/json");
    assert!(
        h.get("x-hop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    for (name, _) in h {
        assert!(
            !name.as_str().starts_with("cf-aig-"),
            "{name} leaked upstream"
        );
        assert_ne!(name.as_str(), "cf-skip-cache");
    }
    // The client gets the provider's answer unchanged.
    let j = answer.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["model"], "grok-beta");
    assert!(j["usage"]["prompt_tokens"].as_u64().is_some());
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn the_three_documented_grok_paths_reach_v1() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    // curl from the docs, OpenAI SDK (base_url=.../grok), Anthropic SDK (base_url=.../grok).
    let cases = [
        (
            "grok/v1/chat/completions",
            "/v1/chat/completions",
            CHAT.to_owned(),
        ),
        (
            "grok/chat/completions",
            "/v1/chat/completions",
            CHAT.to_owned(),
        ),
        (
            "grok/v1/messages",
            "/v1/messages",
            r#"{"model":"grok-beta","max_tokens":32,"messages":[{"role":"user","content":"Hi"}]}"#
                .to_owned(),
        ),
    ];
    for (path, upstream, body) in cases {
        fake.reset();
        let a = post(&format!("{}/{path}", gw.base()), &[AUTH], &body).await;
        assert_eq!(
            a.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(
            fake.last_request().unwrap().path_and_query,
            upstream,
            "{path}"
        );
    }
}

#[tokio::test]
async fn other_methods_and_empty_bodies_pass_through() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let a = send(
        Method::GET,
        &format!("{}/grok/v1/models?limit=2", gw.base()),
        &[AUTH],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["object"], "list");
    let got = fake.last_request().unwrap();
    assert_eq!(got.method, Method::GET);
    assert_eq!(got.path_and_query, "/v1/models?limit=2");
    assert!(got.body.is_empty());

    let a = send(
        Method::DELETE,
        &format!("{}/openai/v1/files/abc", gw.base()),
        &[AUTH],
        "",
    )
    .await;
    assert_eq!(a.status, 404, "the provider's own 404 comes back");
    assert_eq!(fake.last_request().unwrap().method, Method::DELETE);
    assert_eq!(fake.last_request().unwrap().path_and_query, "/v1/files/abc");
}

#[tokio::test]
async fn provider_errors_come_back_untouched() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body = r#"{"code":"Some resource has been exhausted","error":"slow down"}"#;
    fake.push_script(
        Script::new()
            .status(429)
            .body(body)
            .header("x-ratelimit-remaining-requests", "0"),
    );
    let a = gw.chat(&[AUTH]).await;
    assert_eq!(a.status, 429);
    assert_eq!(&a.body[..], body.as_bytes());
    assert_eq!(
        a.headers.get("x-ratelimit-remaining-requests").unwrap(),
        "0"
    );

    // The fake's own auth error for a missing key, with its body shape.
    let a = gw.chat(&[]).await;
    assert!(a.status.is_client_error());
    assert!(a.json().get("error").is_some());
    assert!(
        a.json().get("httpCode").is_none(),
        "not the gateway's error shape"
    );
}

#[tokio::test]
async fn other_providers_use_their_base_urls() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let a = post(
        &format!("{}/groq/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/openai/v1/chat/completions"
    );
    let a = post(
        &format!("{}/mistral/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/v1/chat/completions"
    );
}

#[tokio::test]
async fn streams_are_relayed_chunk_by_chunk_as_they_arrive() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(4)
            .chunk_delay(Duration::from_millis(400)),
    );
    let s = stream(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT_STREAM,
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(s.error.is_none(), "{:?}", s.error);
    assert_eq!(s.headers.get("content-type").unwrap(), "text/event-stream");
    let text = s.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(text.contains("\"usage\""), "include_usage chunk relayed");
    // The first content chunk reaches the client long before the stream ends: nothing is
    // buffered. The fake sends chunk k at about k*400 ms.
    let first = s.time_of("chat.completion.chunk").expect("a chunk");
    let done = s.time_of("[DONE]").expect("[DONE]");
    assert!(
        first.duration_since(s.sent_at) < Duration::from_millis(300),
        "first chunk after {:?}",
        first.duration_since(s.sent_at)
    );
    assert!(
        done.duration_since(first) > Duration::from_millis(1000),
        "chunks arrived together: {:?}",
        done.duration_since(first)
    );
    assert!(s.frames.len() >= 4, "{} frames", s.frames.len());
}

#[tokio::test]
async fn anthropic_streams_keep_their_event_lines() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body = r#"{"model":"grok-beta","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let s = stream(
        &format!("{}/grok/v1/messages", gw.base()),
        &[
            ("x-api-key", "xai-test-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        body,
    )
    .await;
    assert_eq!(s.status, 200);
    let text = s.text();
    for event in [
        "event: message_start",
        "event: content_block_delta",
        "event: message_stop",
    ] {
        assert!(text.contains(event), "missing {event} in {text}");
    }
    let got = fake.last_request().unwrap();
    assert_eq!(got.headers.get("x-api-key").unwrap(), "xai-test-key");
    assert_eq!(got.headers.get("anthropic-version").unwrap(), "2023-06-01");
}

#[tokio::test]
async fn bedrock_and_vertex_paths_name_their_hosts_and_signed_requests_pass_unchanged() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    // The fake stands for every region: the region placeholder goes into its path instead.
    let gw = Gateway::start(
        &fake,
        &format!(
            "[providers.aws-bedrock]\nbase_url = \"{u}/bedrock/{{region}}\"\n\n[providers.google-vertex-ai]\nbase_url = \"{u}/vertex/{{region}}\"\n"
        ),
    )
    .await;
    let claude = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":3}}"#;
    fake.push_script(Script::new().body(claude));
    let body = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;
    let signed = [
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261126/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"),
        ("x-amz-date", "20261126T000000Z"),
        ("x-amz-security-token", "session-secret"),
        ("content-type", "application/json"),
    ];
    let a = post(
        &format!(
            "{}/aws-bedrock/bedrock-runtime/us-west-2/model/anthropic.claude-sonnet-4-5-v1:0/invoke",
            gw.base()
        ),
        &signed,
        body,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.path_and_query,
        "/bedrock/us-west-2/model/anthropic.claude-sonnet-4-5-v1:0/invoke"
    );
    assert_eq!(&got.body[..], body.as_bytes());
    for (name, value) in signed {
        assert_eq!(got.headers.get(name).unwrap(), value, "{name}");
    }

    let gemini = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1000000,"candidatesTokenCount":0,"totalTokenCount":1000000},"modelVersion":"gemini-2.5-flash"}"#;
    fake.push_script(Script::new().body(gemini));
    let v = post(
        &format!(
            "{}/google-vertex-ai/v1/projects/p1/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
            gw.base()
        ),
        &[("authorization", "Bearer ya29.token")],
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
    )
    .await;
    assert_eq!(
        fake.hits(),
        2,
        "the Vertex call went upstream ({})",
        v.status
    );
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/vertex/europe-west4/v1/projects/p1/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    // Without the region in the path there is no host: refused, nothing sent.
    let before = fake.hits();
    let no_region = post(
        &format!(
            "{}/google-vertex-ai/v1/projects/p1/models/x:generateContent",
            gw.base()
        ),
        &[("authorization", "Bearer ya29.token")],
        "{}",
    )
    .await;
    assert_eq!(no_region.status, 400);
    assert_eq!(no_region.json()["error"][0]["code"], 2000);
    assert_eq!(fake.hits(), before);

    // The Bedrock answer (Anthropic's format) has its usage read.
    let rows = gw.wait_for_logs("gw", 2).await;
    let bedrock = rows.iter().find(|r| r["id"] == a.log_id()).expect("logged");
    assert_eq!(bedrock["provider"], "aws-bedrock");
    assert_eq!(bedrock["tokens_in"], 12);
    assert_eq!(bedrock["tokens_out"], 3);
    // The signed request's credentials are stored redacted (read straight from the database:
    // no API serves stored headers).
    let stored = gw
        .open_store()
        .await
        .get_log(
            &switchyard_core::AccountId::parse("acct").unwrap(),
            &switchyard_core::GatewayId::parse("gw").unwrap(),
            a.log_id(),
        )
        .await
        .expect("readable")
        .expect("stored");
    let headers: serde_json::Value =
        serde_json::from_str(stored.request_headers.as_deref().expect("headers kept")).unwrap();
    assert_eq!(headers["x-amz-security-token"], "REDACTED");
    assert_eq!(headers["authorization"], "REDACTED");
    assert_eq!(headers["x-amz-date"], "20261126T000000Z");
    // Vertex AI serves Gemini at Google AI Studio's prices ($0.30 per 1M input tokens).
    let vertex = rows.iter().find(|r| r["id"] == v.log_id()).expect("logged");
    assert_eq!(vertex["provider"], "google-vertex-ai");
    assert_eq!(vertex["model"], "gemini-2.5-flash");
    assert_eq!(vertex["tokens_in"], 1_000_000);
    let cost = vertex["cost"].as_f64().expect("a cost");
    assert!((cost - 0.30).abs() < 1e-9, "{cost}");
}

#[tokio::test]
async fn fal_takes_the_whole_url_from_x_fal_target_url_on_its_own_hosts_only() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        &format!("[providers.fal]\nbase_url = \"{}/fal\"\n", fake.url()),
    )
    .await;
    let target = format!("{}/queue/fal-ai/flux/dev?sync=0", fake.url());
    let a = post(
        &format!("{}/fal", gw.base()),
        &[("authorization", "Key k"), ("x-fal-target-url", &target)],
        r#"{"prompt":"a cat"}"#,
    )
    .await;
    // The fake answers its own 404 for a route it does not serve; what it received counts.
    assert_eq!(a.status, 404, "{}", String::from_utf8_lossy(&a.body));
    assert!(
        a.json().get("success").is_none(),
        "the provider's answer, not the gateway's"
    );
    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/queue/fal-ai/flux/dev?sync=0");
    assert!(
        got.headers.get("x-fal-target-url").is_none(),
        "not forwarded"
    );
    assert_eq!(got.headers.get("authorization").unwrap(), "Key k");
    // A universal step names it in its own headers.
    let steps = serde_json::json!([{"provider": "fal", "endpoint": "",
        "headers": {"authorization": "Key k", "x-fal-target-url": format!("{}/queue/step", fake.url())},
        "query": {"prompt": "a dog"}}]);
    post(&gw.base(), &[], &steps.to_string()).await;
    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/queue/step");
    assert!(
        got.headers.get("x-fal-target-url").is_none(),
        "not forwarded"
    );
    // Without the header, the path as usual.
    post(
        &format!("{}/fal/fal-ai/fast-sdxl", gw.base()),
        &[("authorization", "Key k")],
        "{}",
    )
    .await;
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/fal/fal-ai/fast-sdxl"
    );
    // Another host, user-info, or a path that climbs: refused, nothing sent.
    let hits = fake.hits();
    for bad in [
        "https://evil.example/x".to_owned(),
        format!("{}/a/../../x", fake.url()),
        fake.url().replace("http://", "http://user@"),
    ] {
        let a = post(
            &format!("{}/fal", gw.base()),
            &[("authorization", "Key k"), ("x-fal-target-url", &bad)],
            "{}",
        )
        .await;
        a.assert_gateway_error(400, 2000);
    }
    assert_eq!(fake.hits(), hits);
}

/// An answer opened as a page in a browser (a provider's HTML error page, a hostile
/// upstream's) runs sandboxed, away from the dashboard's and control plane's origin; a
/// provider's own policy is kept beside it.
#[tokio::test]
async fn answers_carry_a_sandbox_policy_whatever_they_are() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .status(502)
            .header("content-type", "text/html")
            .header("content-security-policy", "default-src 'none'")
            .body("<script>alert(1)</script>"),
    );
    let url = format!("{}/v1/acct/gw/grok/v1/chat/completions", gw.url);
    let html = post(&url, &[("authorization", "Bearer k")], CHAT).await;
    let ok = post(&url, &[("authorization", "Bearer k")], CHAT).await;
    let refused = post(&format!("{}/v1/acct/gw/nope/x", gw.url), &[], "").await;
    for (what, a) in [("html", &html), ("ok", &ok), ("refused", &refused)] {
        let policies: Vec<&str> = a
            .headers
            .get_all("content-security-policy")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(policies.contains(&"sandbox"), "{what}: {policies:?}");
        assert_eq!(
            a.headers
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{what}"
        );
    }
    assert_eq!(
        (
            html.status.as_u16(),
            ok.status.as_u16(),
            refused.status.as_u16()
        ),
        (502, 200, 400)
    );
    let theirs: Vec<_> = html
        .headers
        .get_all("content-security-policy")
        .iter()
        .collect();
    assert_eq!(theirs.len(), 2, "the provider's policy is kept");
}

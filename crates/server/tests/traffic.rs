//! Who may call and with which key, retries, timeouts and the universal endpoint
//! (SPEC 2.3, 2.4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::json;
use std::time::{Duration, Instant};

const AUTHED: &str = "[[tokens]]\naccount_id = \"acct\"\nvalue = \"gw-token-1\"\n\n[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\nauthentication = true\n";

#[tokio::test]
async fn a_declared_gateway_deleted_at_run_time_comes_back_with_its_declared_settings() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, AUTHED).await;
    let del = send(http::Method::DELETE, &gw.cp("/gateways/gw"), &[], "").await;
    assert_eq!(del.status, 200, "{}", String::from_utf8_lossy(&del.body));
    // The next request creates it again, as the config declares it: still authenticated.
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    post(&url, &[AUTH], CHAT)
        .await
        .assert_gateway_error(401, 2009);
    assert_eq!(fake.hits(), 0);
    let a = post(&url, &[AUTH, ("cf-aig-authorization", "gw-token-1")], CHAT).await;
    assert_eq!(a.status, 200);
    let got = send(http::Method::GET, &gw.cp("/gateways/gw"), &[], "").await;
    assert_eq!(got.json()["result"]["authentication"], true);
    // An undeclared gateway is still created with the defaults.
    let open = format!("{}/grok/v1/chat/completions", gw.base_for("acct", "other"));
    assert_eq!(post(&open, &[AUTH], CHAT).await.status, 200);
}

#[tokio::test]
async fn authenticated_gateways_need_a_valid_token() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, AUTHED).await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let a = post(&url, &[AUTH], CHAT).await;
    a.assert_gateway_error(401, 2009);
    let a = post(
        &url,
        &[AUTH, ("cf-aig-authorization", "Bearer wrong")],
        CHAT,
    )
    .await;
    a.assert_gateway_error(401, 2009);
    assert_eq!(
        fake.hits(),
        0,
        "nothing reaches the provider without a valid token"
    );
    for value in ["Bearer gw-token-1", "BEARER gw-token-1", "gw-token-1"] {
        let a = post(&url, &[AUTH, ("cf-aig-authorization", value)], CHAT).await;
        assert_eq!(a.status, 200, "{value}");
    }
    let got = fake.last_request().unwrap();
    assert!(got.headers.get("cf-aig-authorization").is_none());
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer xai-test-key"
    );
    // A token of another account does not open this gateway.
    let other = Gateway::start(
        &fake,
        "[[tokens]]\naccount_id = \"other\"\nvalue = \"other-token\"\n\n[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\nauthentication = true\n",
    )
    .await;
    let a = post(
        &format!("{}/grok/v1/chat/completions", other.base()),
        &[AUTH, ("cf-aig-authorization", "other-token")],
        CHAT,
    )
    .await;
    a.assert_gateway_error(401, 2009);
}

/// A caller without a valid token costs the gateway no more than its headers: refused before
/// its body is read (a body still on its way does not hold the answer up) or parsed, on every
/// route; a universal request's steps are checked in order, before any is shaped.
#[tokio::test]
async fn a_caller_without_access_is_refused_before_its_body_is_read() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, &format!("client_timeout_ms = 10000\n{AUTHED}")).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    for path in [
        "/v1/acct/gw/grok/v1/chat/completions",
        "/v1/acct/gw/compat/chat/completions",
    ] {
        // Headers announcing a megabyte, and only a few bytes of it.
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{{\"mo"
        );
        let t = std::time::Instant::now();
        let head = raw_head(&addr, request.as_bytes()).await;
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{path}: waited {:?}",
            t.elapsed()
        );
        assert_eq!(raw_status(&head), 401, "{path}: {head}");
    }
    // What is refused first is the caller, whatever the body holds.
    let compat = format!("{}/compat/chat/completions", gw.base());
    post(&compat, &[AUTH], "not json")
        .await
        .assert_gateway_error(401, 2009);
    // Universal: step 0 has no token, step 1 is malformed: the caller is what is refused.
    let steps = json!([
        {"provider": "grok", "endpoint": "v1/chat/completions", "headers": {}, "query": {}},
        {"provider": 5},
    ]);
    post(&gw.base(), &[], &steps.to_string())
        .await
        .assert_gateway_error(401, 2009);
    // With the token, the malformed step is the problem.
    post(
        &gw.base(),
        &[("cf-aig-authorization", "gw-token-1")],
        &steps.to_string(),
    )
    .await
    .assert_gateway_error(400, 2000);
    assert_eq!(fake.hits(), 0);
}

/// A universal step's `query` is sent as the client wrote it, byte for byte; its `headers`
/// are bounded (a step naming tens of thousands is refused as bad input, not a 500).
#[tokio::test]
async fn universal_steps_are_read_without_rewriting_their_query() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let query = r#"{ "model" : "grok-beta",  "messages": [{"role": "user", "content": "Hi"}], "temperature": 1.0 }"#;
    let body = format!(
        r#"[{{"provider": "grok", "endpoint": "v1/chat/completions", "headers": {{"authorization": "Bearer k"}}, "query": {query}}}]"#
    );
    let a = post(&gw.base(), &[], &body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(fake.last_request().unwrap().body, query.as_bytes());
    let many: serde_json::Map<String, serde_json::Value> = (0..40_000)
        .map(|i| (format!("x-h{i}"), json!("v")))
        .collect();
    let steps = json!([{"provider": "grok", "endpoint": "v1/chat/completions", "headers": many, "query": {}}]);
    let a = post(&gw.base(), &[], &steps.to_string()).await;
    a.assert_gateway_error(400, 2000);
    assert!(
        a.json()["error"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 256"),
        "{}",
        a.json()
    );
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn stored_keys_fill_in_when_the_client_sends_none() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"grok\"\nkey = \"xai-from-config\"\n\n[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"anthropic\"\nalias = \"team-b\"\nkey = \"sk-ant-b\"\n",
    )
    .await;
    let a = gw.chat(&[]).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request()
            .unwrap()
            .headers
            .get("authorization")
            .unwrap(),
        "Bearer xai-from-config"
    );
    // The client's own key wins.
    gw.chat(&[AUTH]).await;
    assert_eq!(
        fake.last_request()
            .unwrap()
            .headers
            .get("authorization")
            .unwrap(),
        "Bearer xai-test-key"
    );
    // Aliases pick the key, in the header the provider expects.
    let msg = r#"{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}"#;
    let messages = format!("{}/anthropic/v1/messages", gw.base());
    let sent_key = || {
        fake.last_request()
            .unwrap()
            .headers
            .get("x-api-key")
            .unwrap()
            .clone()
    };
    let a = post(&messages, &[("cf-aig-byok-alias", "team-b")], msg).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(sent_key(), "sk-ant-b");
    let hits = fake.hits();
    let a = post(&messages, &[("cf-aig-byok-alias", "nope")], msg).await;
    a.assert_gateway_error(400, 2040);
    assert_eq!(fake.hits(), hits);
    // An alias that does not exist is refused even when the client sends its own key; one
    // that exists leaves the client's key in place.
    let own = ("x-api-key", "sk-client");
    let a = post(&messages, &[("cf-aig-byok-alias", "nope"), own], msg).await;
    a.assert_gateway_error(400, 2040);
    assert_eq!(fake.hits(), hits);
    let a = post(&messages, &[("cf-aig-byok-alias", "team-b"), own], msg).await;
    assert_eq!(a.status, 200);
    assert_eq!(sent_key(), "sk-client");
}

#[tokio::test]
async fn keys_stored_through_the_control_plane_are_used_and_a_gateway_token_in_the_key_slot_is_swapped(
) {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, AUTHED).await;
    let a = cp_send(
        Method::POST,
        &gw.cp("/gateways/gw/provider_configs"),
        json!({"provider_slug":"grok","alias":"default","secret":"xai-stored-in-db"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // The OpenAI SDK with apiKey = the gateway token: Authorization carries the gateway token.
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[("authorization", "Bearer gw-token-1")],
        r#"{"model":"grok/grok-beta","messages":[]}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request()
            .unwrap()
            .headers
            .get("authorization")
            .unwrap(),
        "Bearer xai-stored-in-db"
    );
    // The Anthropic SDK with base_url=.../grok sends its key (the gateway token) as
    // x-api-key: that is the gateway credential too, swapped for the stored key, and it
    // never reaches the provider.
    let msg = r#"{"model":"grok-4","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}"#;
    let a = post(
        &format!("{}/grok/v1/messages", gw.base()),
        &[("x-api-key", "gw-token-1")],
        msg,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let sent = fake.last_request().unwrap();
    assert!(sent.headers.get("x-api-key").is_none());
    assert_eq!(
        sent.headers.get("authorization").unwrap(),
        "Bearer xai-stored-in-db"
    );
    // The same token sent twice, in cf-aig-authorization and in the SDK's key slot: the slot's
    // copy is not sent either, and the stored key is used.
    for slot in [
        ("authorization", "Bearer gw-token-1"),
        ("x-api-key", "gw-token-1"),
    ] {
        let a = gw
            .chat(&[("cf-aig-authorization", "Bearer gw-token-1"), slot])
            .await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        let sent = fake.last_request().unwrap();
        assert!(sent.headers.get("x-api-key").is_none(), "{slot:?}");
        assert_eq!(
            sent.headers.get("authorization").unwrap(),
            "Bearer xai-stored-in-db",
            "{slot:?}"
        );
    }
    // Nor in another scheme or spelling, in a second value of a header, or in a stored
    // token's form (held back even unchecked).
    let stored_form = format!("sy_{}", "A".repeat(43));
    let cases: [&[(&str, &str)]; 6] = [
        &[("authorization", "Token gw-token-1")],
        &[("authorization", "bearer\tgw-token-1")],
        &[("authorization", "gw-token-1")],
        &[("x-api-key", "Bearer gw-token-1")],
        &[("x-api-key", "sk-own"), ("x-api-key", "gw-token-1")],
        &[("api-key", &stored_form)],
    ];
    for slots in cases {
        let mut headers = vec![("cf-aig-authorization", "Bearer gw-token-1")];
        headers.extend_from_slice(slots);
        let a = gw.chat(&headers).await;
        assert_eq!(
            a.status,
            200,
            "{slots:?}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let sent = fake.last_request().unwrap();
        for name in ["x-api-key", "api-key"] {
            assert!(sent.headers.get(name).is_none(), "{slots:?}: {name}");
        }
        assert_eq!(
            sent.headers.get("authorization").unwrap(),
            "Bearer xai-stored-in-db",
            "{slots:?}"
        );
    }
    // A wrong cf-aig-authorization is not made good by a valid token in the key slot.
    let a = gw
        .chat(&[
            ("cf-aig-authorization", "Bearer wrong"),
            ("authorization", "Bearer gw-token-1"),
        ])
        .await;
    a.assert_gateway_error(401, 2009);
    // A provider key beside a valid cf-aig-authorization is the client's own and goes as sent.
    let a = gw
        .chat(&[
            ("cf-aig-authorization", "Bearer gw-token-1"),
            ("authorization", "Bearer xai-client-own"),
        ])
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        fake.last_request()
            .unwrap()
            .headers
            .get("authorization")
            .unwrap(),
        "Bearer xai-client-own"
    );
}

#[tokio::test]
async fn on_an_open_gateway_gateway_tokens_are_kept_from_the_provider_too() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[tokens]]\naccount_id = \"other\"\nvalue = \"cfg-token-of-other\"\n",
    )
    .await;
    let stored_form = format!("sy_{}", "b".repeat(43));
    for (name, value) in [
        ("x-api-key", stored_form.as_str()),
        ("x-api-key", "cfg-token-of-other"),
        ("api-key", "Bearer cfg-token-of-other"),
    ] {
        let a = gw.chat(&[AUTH, (name, value)]).await;
        assert_eq!(
            a.status,
            200,
            "{value}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let sent = fake.last_request().unwrap();
        assert!(sent.headers.get(name).is_none(), "{name}: {value}");
        // The client's own key, in another header, goes as sent.
        assert_eq!(sent.headers.get("authorization").unwrap(), AUTH.1);
    }
}

#[tokio::test]
async fn on_compat_a_gateway_token_as_the_sdk_key_leaves_the_real_key_in_the_other_header() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[tokens]]\naccount_id = \"acct\"\nvalue = \"gw-token-1\"\n",
    )
    .await;
    let url = format!("{}/compat/chat/completions", gw.base());
    let cases = [
        (
            "anthropic/claude-haiku-4-5",
            "sk-ant-real",
            "x-api-key",
            "sk-ant-real",
        ),
        (
            "grok/grok-beta",
            "xai-real",
            "authorization",
            "Bearer xai-real",
        ),
    ];
    for (model, key, header, expected) in cases {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let a = post(
            &url,
            &[("authorization", "Bearer gw-token-1"), ("x-api-key", key)],
            &body.to_string(),
        )
        .await;
        assert_eq!(
            a.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let sent = fake.last_request().unwrap();
        assert_eq!(sent.headers.get(header).unwrap(), expected, "{model}");
        for (name, value) in sent.headers.iter() {
            assert!(
                !value.to_str().unwrap_or("").contains("gw-token-1"),
                "{model}: {name}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_credential_in_another_key_header_is_not_joined_by_a_stored_key() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"anthropic\"\nkey = \"sk-ant-stored\"\n",
    )
    .await;
    let msg = r#"{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}"#;
    let messages = format!("{}/anthropic/v1/messages", gw.base());
    // An OAuth bearer token to Anthropic is the client's own credential.
    post(
        &messages,
        &[("authorization", "Bearer client-oauth-token")],
        msg,
    )
    .await;
    let sent = fake.last_request().unwrap();
    assert!(sent.headers.get("x-api-key").is_none());
    assert_eq!(
        sent.headers.get("authorization").unwrap(),
        "Bearer client-oauth-token"
    );
    // Without one, the stored key fills in.
    post(&messages, &[], msg).await;
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.headers.get("x-api-key").unwrap(), "sk-ant-stored");
}

#[tokio::test]
async fn retries_on_5xx_and_429_then_answer_with_the_success() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().status(503));
    fake.push_script(Script::new().status(429));
    let t = Instant::now();
    let a = gw
        .chat(&[
            AUTH,
            ("cf-aig-max-attempts", "3"),
            ("cf-aig-retry-delay", "100"),
            ("cf-aig-backoff", "linear"),
        ])
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(fake.hits(), 3);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "linear backoff: 100 + 200 ms"
    );
    let log_id = a
        .headers
        .get("cf-aig-log-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let request_id = a
        .headers
        .get("cf-aig-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        log_id, request_id,
        "a single-step request's request id is the answer's log id, retried or not"
    );
    let rows = gw.wait_for_logs("gw", 3).await;
    let statuses: Vec<u64> = rows
        .iter()
        .map(|r| r["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec![200, 429, 503],
        "one record per attempt, newest first"
    );
    assert_eq!(rows[0]["id"], log_id.as_str());
    assert_ne!(
        rows[2]["id"],
        log_id.as_str(),
        "each attempt has its own record"
    );
    // An attempt's duration is its own: the pause before it (100 or 200 ms) is not in it.
    for r in &rows[..2] {
        let ms = r["duration"].as_u64().unwrap();
        assert!(ms < 100, "attempt {} took {ms} ms", r["status_code"]);
    }
}

/// A 429 that says when to come back (the fake's carries `retry-after: 1`) is retried no
/// sooner, whatever shorter delay the policy has.
#[tokio::test]
async fn a_retry_waits_as_long_as_the_429_asks() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().status(429));
    let t = Instant::now();
    let a = gw
        .chat(&[
            AUTH,
            ("cf-aig-max-attempts", "2"),
            ("cf-aig-retry-delay", "0"),
        ])
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(fake.hits(), 2);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(950), "retried after {took:?}");
}

#[tokio::test]
async fn the_last_failure_comes_back_as_it_came() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\nretry_max_attempts = 2\nretry_delay = 0\n").await;
    fake.push_script(Script::new().status(500));
    fake.push_script(Script::new().status(502).body(r#"{"error":"last"}"#));
    let a = gw.chat(&[AUTH]).await;
    assert_eq!(a.status, 502);
    assert_eq!(&a.body[..], br#"{"error":"last"}"#);
    assert_eq!(fake.hits(), 2, "the gateway's retry settings apply");
    // 4xx other than 429 is not retried.
    fake.reset();
    fake.push_script(Script::new().status(400));
    let a = gw.chat(&[AUTH]).await;
    assert_eq!(a.status, 400);
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn request_timeout_bounds_each_attempt() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().delay(Duration::from_secs(3)));
    let t = Instant::now();
    let a = gw
        .chat(&[
            AUTH,
            ("cf-aig-request-timeout", "200"),
            ("cf-aig-max-attempts", "2"),
        ])
        .await;
    assert_eq!(a.status, 200, "the second attempt answers");
    assert!(t.elapsed() < Duration::from_secs(2));
    // The attempt that timed out is recorded with the gateway's verdict on it, as JSON, the
    // same shape as a last attempt's error.
    let rows = gw.wait_for_logs("gw", 2).await;
    let timed_out = rows
        .iter()
        .find(|r| r["status_code"] == 504)
        .expect("the first attempt's record");
    assert_eq!(
        timed_out["response_content_type"], "application/json",
        "{timed_out}"
    );
    let id = timed_out["id"].as_str().unwrap();
    let stored = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{id}/response")),
        &[],
        "",
    )
    .await;
    assert_eq!(stored.status, 200);
    assert_eq!(
        stored.headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(stored.json()["internalCode"], 2005);
    fake.push_script(Script::new().delay(Duration::from_secs(3)));
    let a = gw.chat(&[AUTH, ("cf-aig-request-timeout", "200")]).await;
    a.assert_gateway_error(504, 2005);
}

#[tokio::test]
async fn bad_traffic_headers_are_refused_before_anything_is_sent() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for (name, value) in [
        ("cf-aig-max-attempts", "9"),
        ("cf-aig-retry-delay", "6000"),
        ("cf-aig-backoff", "sometimes"),
        ("cf-aig-request-timeout", "abc"),
        ("cf-aig-cache-ttl", "-5"),
        ("cf-aig-metadata", "{oops"),
    ] {
        let a = gw.chat(&[AUTH, (name, value)]).await;
        a.assert_gateway_error(400, 2000);
        assert!(
            a.json()["error"][0]["message"]
                .as_str()
                .unwrap()
                .contains(name),
            "{name}"
        );
    }
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn universal_steps_fall_back_in_order() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().status(500));
    let steps = json!([
        {"provider":"grok","endpoint":"v1/chat/completions","headers":{"authorization":"Bearer k1"},
         "query":{"model":"grok-4","messages":[{"role":"user","content":"Hi"}]}},
        {"provider":"openai","endpoint":"chat/completions","headers":{"authorization":"Bearer k2","x-step":"two"},
         "query":{"model":"gpt-5-mini","messages":[{"role":"user","content":"Hi"}]}}
    ]);
    let a = post(&gw.base(), &[("x-shared", "all")], &steps.to_string()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");
    assert_eq!(a.json()["model"], "gpt-5-mini");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].headers.get("authorization").unwrap(), "Bearer k1");
    assert_eq!(reqs[1].headers.get("authorization").unwrap(), "Bearer k2");
    assert_eq!(reqs[1].headers.get("x-step").unwrap(), "two");
    assert_eq!(
        reqs[1].headers.get("x-shared").unwrap(),
        "all",
        "request headers apply to all steps"
    );
    let sent: serde_json::Value = serde_json::from_slice(&reqs[1].body).unwrap();
    assert_eq!(sent["model"], "gpt-5-mini");
    let rows = gw.wait_for_logs("gw", 2).await;
    assert_eq!(rows[0]["step"], 1);
    assert_eq!(rows[1]["step"], 0);
    assert_eq!(rows[0]["request_type"], "universal");
}

/// A universal request of one step is single-step (SPEC 2.5): retried, its answer's request
/// id is still its log id. With several steps the request id stays the first attempt's.
#[tokio::test]
async fn a_one_step_universal_request_has_its_log_id_as_request_id() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let step = json!({"provider":"grok","endpoint":"v1/chat/completions",
        "headers":{"authorization":"Bearer k1","cf-aig-max-attempts":"2"},
        "query":{"model":"grok-4","messages":[{"role":"user","content":"Hi"}]}});
    let ids = |a: &Answer| {
        let h = |n: &str| a.headers.get(n).unwrap().to_str().unwrap().to_owned();
        (h("cf-aig-log-id"), h("cf-aig-request-id"))
    };
    fake.push_script(Script::new().status(500));
    let a = post(&gw.base(), &[], &json!([step]).to_string()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(fake.hits(), 2, "retried once");
    let (log, request) = ids(&a);
    assert_eq!(log, request);
    fake.push_script(Script::new().status(500));
    fake.push_script(Script::new().status(500));
    let a = post(&gw.base(), &[], &json!([step, step]).to_string()).await;
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");
    let (log, request) = ids(&a);
    assert_ne!(log, request, "several steps: the first attempt's id");
}

#[tokio::test]
async fn a_step_body_is_sent_as_json_whatever_the_request_said() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().status(500));
    let chat = json!({"model":"m","messages":[{"role":"user","content":"Hi"}]});
    // `config: null` is no config; the second step names its own media type.
    let steps = json!([
        {"provider":"grok","endpoint":"chat/completions","headers":{"authorization":"Bearer k"},
         "config":null,"query":chat},
        {"provider":"grok","endpoint":"chat/completions",
         "headers":{"authorization":"Bearer k","content-type":"application/json; charset=utf-8"},
         "query":chat},
    ]);
    // curl -d sends form encoding unless told otherwise.
    let a = post(
        &gw.base(),
        &[("content-type", "application/x-www-form-urlencoded")],
        &steps.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(
        reqs[1].headers.get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
}

#[tokio::test]
async fn a_step_endpoint_outside_ascii_goes_upstream_percent_encoded() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let chat = json!({"model":"m","messages":[{"role":"user","content":"Hi"}]});
    let steps = json!([
        {"provider":"grok","endpoint":"chat/completions?note=café&x=1","headers":{"authorization":"Bearer k"},
         "query":chat},
    ]);
    let a = post(&gw.base(), &[], &steps.to_string()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path_and_query,
        "/v1/chat/completions?note=caf%C3%A9&x=1"
    );
    // Encoded, a dot segment is still one: refused, nothing sent.
    let steps = json!([
        {"provider":"grok","endpoint":"v1/é/../../x","headers":{"authorization":"Bearer k"},"query":chat},
    ]);
    let a = post(&gw.base(), &[], &steps.to_string()).await;
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(fake.requests().len(), 1);
}

/// The same on the provider route: a request line with raw UTF-8 (which some clients send)
/// goes upstream percent-encoded, path and query.
#[tokio::test]
async fn a_provider_path_outside_ascii_goes_upstream_percent_encoded() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let mut req = b"GET /v1/acct/gw/grok/v1/files/caf".to_vec();
    req.extend_from_slice("é?note=naïve&x=1 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\nconnection: close\r\n\r\n".as_bytes());
    let answer = raw(&gw.addr, &req).await;
    // The fake knows no such file: its own 404 comes back.
    assert_eq!(raw_status(&answer), 404, "{answer}");
    assert!(!answer.contains("AiGatewayError"), "{answer}");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path_and_query,
        "/v1/files/caf%C3%A9?note=na%C3%AFve&x=1"
    );
}

#[tokio::test]
async fn the_requests_own_credentials_reach_no_step() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"openai\"\nalias = \"default\"\nkey = \"sk-stored\"\n",
    )
    .await;
    fake.push_script(Script::new().status(500));
    let chat = json!({"model":"m","messages":[{"role":"user","content":"Hi"}]});
    let steps = json!([
        {"provider":"grok","endpoint":"chat/completions","headers":{"authorization":"Bearer xai-step"},"query":chat},
        {"provider":"openai","endpoint":"chat/completions","query":chat},
    ]);
    let a = post(
        &gw.base(),
        &[
            ("authorization", "Bearer xai-outer"),
            ("x-api-key", "outer-key"),
            ("cookie", "session=outer"),
            ("x-shared", "all"),
        ],
        &steps.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].headers.get("authorization").unwrap(),
        "Bearer xai-step"
    );
    assert_eq!(
        reqs[1].headers.get("authorization").unwrap(),
        "Bearer sk-stored",
        "a step without credentials gets the stored key, not the request's"
    );
    for r in &reqs {
        assert!(r.headers.get("x-api-key").is_none(), "{:?}", r.headers);
        assert!(r.headers.get("cookie").is_none(), "{:?}", r.headers);
        assert_eq!(r.headers.get("x-shared").unwrap(), "all");
    }
}

#[tokio::test]
async fn a_steps_own_cf_aig_headers_win_over_the_requests() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"grok\"\nalias = \"team-b\"\nkey = \"xai-team-b\"\n",
    )
    .await;
    let chat = json!({"model":"grok-4","messages":[{"role":"user","content":"Hi"}]});
    // Step 0 fails; step 1 answers. Each step carries its own log directives.
    fake.push_script(Script::new().status(500));
    let steps = json!([
        {"provider":"grok","endpoint":"chat/completions","query":chat,
         "headers":{"authorization":"Bearer k","cf-aig-event-id":"step-0","cf-aig-metadata":"{\"s\":0}"}},
        {"provider":"grok","endpoint":"chat/completions","query":chat,
         "headers":{"cf-aig-event-id":"step-1","cf-aig-metadata":"{\"s\":1}",
                    "cf-aig-custom-cost":"{\"total_cost\":0.7}","cf-aig-byok-alias":"team-b"}}
    ]);
    let a = post(
        &gw.base(),
        &[
            ("cf-aig-event-id", "outer"),
            ("cf-aig-metadata", r#"{"outer":true}"#),
        ],
        &steps.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");
    assert_eq!(a.headers.get("cf-aig-event-id").unwrap(), "step-1");
    // The step's alias picked the stored key; no cf-aig header went upstream.
    let sent = fake.last_request().unwrap();
    assert_eq!(
        sent.headers.get("authorization").unwrap(),
        "Bearer xai-team-b"
    );
    assert!(sent
        .headers
        .keys()
        .all(|k| !k.as_str().starts_with("cf-aig-")));
    let rows = gw.wait_for_logs("gw", 2).await;
    let by_step = |n: u64| rows.iter().find(|r| r["step"] == n).unwrap().clone();
    let (r0, r1) = (by_step(0), by_step(1));
    assert_eq!(r0["event_id"], "step-0");
    assert_eq!(r0["metadata"], r#"{"s":0}"#);
    assert_eq!(r0["custom_cost"], false);
    assert_eq!(r1["event_id"], "step-1");
    assert_eq!(r1["metadata"], r#"{"s":1}"#);
    assert_eq!(
        (r1["cost"].as_f64(), &r1["custom_cost"]),
        (Some(0.7), &json!(true))
    );

    // A step may turn its own record off, and an unknown alias in a step is refused.
    let steps = json!([{"provider":"grok","endpoint":"chat/completions","query":chat,
        "headers":{"authorization":"Bearer k","cf-aig-collect-log":"false"}}]);
    let a = post(
        &gw.base(),
        &[("cf-aig-event-id", "unlogged")],
        &steps.to_string(),
    )
    .await;
    assert_eq!(a.status, 200);
    let steps = json!([{"provider":"grok","endpoint":"chat/completions","query":chat,
        "headers":{"cf-aig-byok-alias":"nope"}}]);
    let hits = fake.hits();
    let a = post(&gw.base(), &[], &steps.to_string()).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"][0]["code"], 2040);
    assert_eq!(fake.hits(), hits, "nothing sent");
    // A marker request, logged after the unlogged one: only three rows in all.
    gw.chat(&[AUTH]).await;
    let rows = gw.wait_for_logs("gw", 3).await;
    assert!(rows.iter().all(|r| r["event_id"] != "unlogged"), "{rows:?}");
}

#[tokio::test]
async fn universal_all_steps_failing_returns_the_last_answer_or_502() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().status(500));
    fake.push_script(Script::new().status(503).body(r#"{"error":"second"}"#));
    let steps = json!([
        {"provider":"grok","endpoint":"chat/completions","headers":{"authorization":"Bearer k"},"query":{"model":"a"}},
        {"provider":"grok","endpoint":"chat/completions","headers":{"authorization":"Bearer k"},"query":{"model":"b"}}
    ]);
    let a = post(&gw.base(), &[], &steps.to_string()).await;
    assert_eq!(a.status, 503);
    assert_eq!(&a.body[..], br#"{"error":"second"}"#);
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");

    // Per-step config: a timeout on step 0, then an unreachable step 1.
    let port = closed_port();
    let gw2 = Gateway::start_raw(&format!(
        "[providers.grok]\nbase_url = \"{}/v1\"\n[providers.openai]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n",
        fake.url()
    ))
    .await;
    fake.push_script(Script::new().delay(Duration::from_secs(3)));
    let steps = json!([
        {"provider":"grok","endpoint":"chat/completions","headers":{"authorization":"Bearer k"},"query":{"model":"a"},"config":{"requestTimeout":200}},
        {"provider":"openai","endpoint":"chat/completions","headers":{"authorization":"Bearer k"},"query":{"model":"b"}}
    ]);
    let t = Instant::now();
    let a = post(&gw2.base(), &[], &steps.to_string()).await;
    a.assert_gateway_error(502, 2005);
    assert_eq!(a.headers.get("cf-aig-step").unwrap(), "1");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn malformed_universal_bodies_are_refused() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for body in [
        "not json".to_owned(),
        "[]".to_owned(),
        "5".to_owned(),
        json!([{"endpoint":"x","query":{}}]).to_string(),
        json!([{"provider":"grok","query":{}}]).to_string(),
        json!([{"provider":"grok","endpoint":"chat/completions"}]).to_string(),
        json!([{"provider":"grok","endpoint":"chat/completions","query":null}]).to_string(),
        json!([{"provider":"grok","endpoint":"../x","query":{}}]).to_string(),
        json!([{"provider":"grok","endpoint":"//evil.example/x","query":{}}]).to_string(),
        json!([{"provider":"grok","endpoint":"chat","query":{},"headers":{"a":{"b":1}}}])
            .to_string(),
        json!([{"provider":"grok","endpoint":"chat","query":{},"config":{"maxAttempts":9}}])
            .to_string(),
    ] {
        let a = post(&gw.base(), &[], &body).await;
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(a.json()["error"][0]["code"], 2000, "{body}");
    }
    let a = post(
        &gw.base(),
        &[],
        &json!([{"provider":"nope","endpoint":"x","query":{}}]).to_string(),
    )
    .await;
    a.assert_gateway_error(400, 2008);
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn a_steps_own_gateway_token_counts_and_every_step_needs_one() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, AUTHED).await;
    let chat = json!({"model":"m","messages":[{"role":"user","content":"Hi"}]});
    let step = |token: Option<&str>| {
        let mut headers = json!({"authorization": "Bearer k"});
        if let Some(t) = token {
            headers["cf-aig-authorization"] = json!(format!("Bearer {t}"));
        }
        json!({"provider":"grok","endpoint":"chat/completions","headers":headers,"query":chat})
    };
    // The token only in the step's headers.
    let a = post(
        &gw.base(),
        &[],
        &json!([step(Some("gw-token-1"))]).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(fake
        .last_request()
        .unwrap()
        .headers
        .get("cf-aig-authorization")
        .is_none());
    let sent = fake.hits();
    // A step's wrong token wins over the request's good one; nothing is sent.
    let a = post(
        &gw.base(),
        &[("cf-aig-authorization", "Bearer gw-token-1")],
        &json!([step(None), step(Some("wrong"))]).to_string(),
    )
    .await;
    a.assert_gateway_error(401, 2009);
    // One step without any token fails the request too.
    let a = post(
        &gw.base(),
        &[],
        &json!([step(Some("gw-token-1")), step(None)]).to_string(),
    )
    .await;
    a.assert_gateway_error(401, 2009);
    assert_eq!(fake.hits(), sent, "nothing sent for a refused request");
}

#[tokio::test]
async fn early_refusals_echo_the_callers_event_id() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, AUTHED).await;
    let ev = ("cf-aig-event-id", "my-event-7");
    let cases = [
        // Failed authentication.
        (
            format!("{}/grok/v1/chat/completions", gw.base()),
            vec![AUTH, ev],
            401,
        ),
        // Unknown provider.
        (
            format!("{}/nope/v1/chat/completions", gw.base()),
            vec![AUTH, ev],
            400,
        ),
        // A bad header value.
        (
            format!("{}/grok/v1/chat/completions", gw.base()),
            vec![AUTH, ev, ("cf-aig-cache-ttl", "soon")],
            400,
        ),
    ];
    for (url, headers, status) in cases {
        let a = post(&url, &headers, CHAT).await;
        assert_eq!(a.status, status, "{url}");
        assert_eq!(
            a.headers.get("cf-aig-event-id").unwrap(),
            "my-event-7",
            "{url}"
        );
        assert_ne!(a.log_id(), "my-event-7");
    }
    // Without one, the log id stands in.
    let a = post(&format!("{}/nope/x", gw.base()), &[AUTH], CHAT).await;
    assert_eq!(
        a.headers.get("cf-aig-event-id").unwrap().to_str().unwrap(),
        a.log_id()
    );
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn only_post_starts_a_universal_or_unified_call() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let chat =
        json!({"model":"grok/grok-4","messages":[{"role":"user","content":"Hi"}]}).to_string();
    let steps = json!([{"provider":"grok","endpoint":"chat/completions","query":{"model":"m"}}])
        .to_string();
    let compat = format!("{}/compat/chat/completions", gw.base());
    for method in [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        for (url, body) in [(&compat, &chat), (&gw.base(), &steps)] {
            let a = send(
                method.clone(),
                url,
                &[AUTH, ("content-type", "application/json")],
                body.clone(),
            )
            .await;
            assert_eq!(a.status, 405, "{method} {url}");
            assert_eq!(a.headers.get("allow").unwrap(), "POST", "{method} {url}");
            if method != Method::HEAD {
                assert_eq!(a.json()["error"][0]["code"], 2000, "{method} {url}");
            }
        }
    }
    assert_eq!(fake.hits(), 0, "nothing was sent upstream");
    // A provider route passes every method through.
    let a = send(
        Method::GET,
        &format!("{}/grok/v1/models", gw.base()),
        &[AUTH],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
}

fn token_cli(gw: &Gateway, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("token")
        .args(args)
        .arg("--config")
        .arg(gw.dir.path().join("switchyard.toml"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tokens_made_with_the_cli_open_the_gateway_until_revoked() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\nauthentication = true\n",
    )
    .await;
    let (ok, out, err) = token_cli(&gw, &["create", "--account", "acct", "--name", "ci"]);
    assert!(ok, "{err}");
    let token = out.trim().to_owned();
    assert!(token.starts_with("sy_"), "{token}");
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let a = post(
        &url,
        &[AUTH, ("cf-aig-authorization", &format!("Bearer {token}"))],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // Gateway tokens in provider key headers beside it, the same one and another stored one
    // (looked up), in two headers at once: none of them reaches the provider.
    let (_, second, _) = token_cli(&gw, &["create", "--account", "acct"]);
    let second = second.trim().to_owned();
    let a = post(
        &url,
        &[
            ("cf-aig-authorization", &format!("Bearer {token}")),
            ("authorization", &format!("Bearer {second}")),
            ("x-api-key", &token),
        ],
        CHAT,
    )
    .await;
    // Let in, and sent without a key: the 401 is the provider's own.
    assert_eq!(a.status, 401);
    assert!(a.json().get("internalCode").is_none(), "{:?}", a.body);
    let sent = fake.last_request().unwrap();
    assert!(
        sent.headers.get("authorization").is_none(),
        "{:?}",
        sent.headers
    );
    assert!(
        sent.headers.get("x-api-key").is_none(),
        "{:?}",
        sent.headers
    );
    // The database never holds the token itself.
    let db = std::fs::read(gw.dir.path().join("switchyard.db")).unwrap_or_default();
    let wal = std::fs::read(gw.dir.path().join("switchyard.db-wal")).unwrap_or_default();
    assert!(![db, wal]
        .concat()
        .windows(token.len())
        .any(|w| w == token.as_bytes()));
    let (ok, list, _) = token_cli(&gw, &["list", "--account", "acct"]);
    assert!(ok);
    assert!(!list.contains(&token), "list shows previews only");
    let id = list.split('\t').next().unwrap().to_owned();
    let (ok, _, err) = token_cli(&gw, &["revoke", "--account", "acct", &id]);
    assert!(ok, "{err}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = post(
        &url,
        &[AUTH, ("cf-aig-authorization", &format!("Bearer {token}"))],
        CHAT,
    )
    .await;
    a.assert_gateway_error(401, 2009);
    // A token of this account does not open another account's gateways.
    let (_, other, _) = token_cli(&gw, &["create", "--account", "other"]);
    let a = post(&url, &[AUTH, ("cf-aig-authorization", other.trim())], CHAT).await;
    a.assert_gateway_error(401, 2009);
    let (ok, _, err) = token_cli(&gw, &["create", "--account", "bad id"]);
    assert!(!ok && err.contains("account"), "{err}");
}

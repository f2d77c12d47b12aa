//! The control plane (SPEC section 3): auth, gateways, logs, provider keys, analytics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::json;

#[tokio::test]
async fn admin_token_is_required_when_configured() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "admin_token = \"adm-secret\"").await;
    let url = gw.cp("/gateways");
    let a = send(Method::GET, &url, &[], "").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["success"], false);
    // The challenge names both ways in: a bearer token, and Basic, so that a browser opening
    // a stored body's URL asks for the token as the dashboard does.
    let challenge = a.headers.get("www-authenticate").expect("a challenge");
    let challenge = challenge.to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"Switchyard\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("Basic realm=\"Switchyard\""),
        "{challenge}"
    );
    let a = send(Method::GET, &url, &[("authorization", "Bearer wrong")], "").await;
    assert_eq!(a.status, 401);
    let a = send(
        Method::POST,
        &url,
        &[("authorization", "Bearer adm-secret")],
        r#"{"id":"g1"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["success"], true);
    // The gateway plane does not need the admin token.
    let p = gw.chat(&[AUTH]).await;
    assert_eq!(p.status, 200);
}

#[tokio::test]
async fn without_an_admin_token_a_request_forwarded_by_a_proxy_is_refused() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = gw.cp("/gateways");
    let created = cp_send(Method::POST, &url, json!({"id": "g1"})).await;
    assert_eq!(created.status, 200);
    assert_eq!(send(Method::GET, &url, &[], "").await.status, 200);
    for h in ["x-forwarded-for", "x-real-ip", "forwarded"] {
        let a = send(Method::GET, &url, &[(h, "203.0.113.7")], "").await;
        assert_eq!(a.status, 401, "{h}");
        assert_eq!(a.json()["success"], false);
    }
    // With a token, forwarded requests that carry it are served.
    let gw = Gateway::start(&fake, "admin_token = \"adm\"").await;
    let a = send(
        Method::GET,
        &format!("{}/client/v4/accounts", gw.url),
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("authorization", "Bearer adm"),
        ],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn gateway_crud_with_the_cloudflare_envelope() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let a = cp_send(
        Method::POST,
        &gw.cp("/gateways"),
        json!({"id":"g1","cache_ttl":60,"cache_invalidate_on_update":true,"collect_logs":true,
               "rate_limiting_interval":10,"rate_limiting_limit":5,"rate_limiting_technique":"sliding",
               "logpush":false}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let j = a.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["errors"], json!([]));
    assert_eq!(j["result"]["id"], "g1");
    assert_eq!(j["result"]["cache_ttl"], 60);
    assert_eq!(j["result"]["rate_limiting_technique"], "sliding");
    assert!(j["result"]["created_at"].is_string());

    let dup = cp_send(Method::POST, &gw.cp("/gateways"), json!({"id":"g1"})).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["success"], false);
    // The SDKs would send it twice more otherwise.
    assert_eq!(dup.headers.get("x-should-retry").unwrap(), "false");

    let got = send(Method::GET, &gw.cp("/gateways/g1"), &[], "").await;
    assert_eq!(got.json()["result"]["rate_limiting_limit"], 5);

    let upd = cp_send(Method::PUT, &gw.cp("/gateways/g1"), json!({"cache_ttl":0,"collect_logs":false,"log_management":1000,"log_management_strategy":"DELETE_OLDEST"})).await;
    assert_eq!(upd.status, 200, "{}", String::from_utf8_lossy(&upd.body));
    assert_eq!(upd.json()["result"]["collect_logs"], false);
    assert_eq!(upd.json()["result"]["log_management"], 1000);
    assert_eq!(
        upd.json()["result"]["rate_limiting_limit"],
        5,
        "untouched fields are kept"
    );

    let list = send(Method::GET, &gw.cp("/gateways?per_page=1&page=1"), &[], "").await;
    let lj = list.json();
    assert_eq!(lj["result"].as_array().unwrap().len(), 1);
    assert_eq!(lj["result_info"]["total_count"], 1);
    assert_eq!(lj["result_info"]["per_page"], 1);

    let del = send(Method::DELETE, &gw.cp("/gateways/g1"), &[], "").await;
    assert_eq!(del.json()["result"]["id"], "g1");
    let gone = send(Method::GET, &gw.cp("/gateways/g1"), &[], "").await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["success"], false);

    // The account outlives its last gateway: its list is empty, not "account not found".
    let empty = send(Method::GET, &gw.cp("/gateways"), &[], "").await;
    assert_eq!(
        empty.status,
        200,
        "{}",
        String::from_utf8_lossy(&empty.body)
    );
    assert_eq!(empty.json()["result"], json!([]));
    assert_eq!(empty.json()["result_info"]["total_count"], 0);
    let accounts = send(
        Method::GET,
        &format!("{}/client/v4/accounts", gw.url),
        &[],
        "",
    )
    .await;
    assert!(accounts.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == "acct"));
}

#[tokio::test]
async fn cloudflare_fields_without_a_feature_behind_them_are_type_checked_and_never_switched_on() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    cp_send(Method::POST, &gw.cp("/gateways"), json!({"id":"g1"})).await;
    let url = gw.cp("/gateways/g1");
    for ok in [
        json!({"zdr": true, "byok_only": true, "logpush": false, "otel": null}),
        json!({"dlp": {"enabled": false, "action": "FLAG", "profiles": []}}),
        json!({"guardrails": null, "spend_limits": {"enabled": false, "rules": []}}),
        json!({"guardrails": {"prompt": {}, "response": {}}}),
        json!({"workers_ai_billing_mode": "postpaid", "store_id": null}),
    ] {
        let a = cp_send(Method::PUT, &url, ok.clone()).await;
        assert_eq!(a.status, 200, "{ok}: {}", String::from_utf8_lossy(&a.body));
    }
    for (bad, says) in [
        (json!({"zdr": "notabool"}), "'zdr' must be a bool"),
        (json!({"otel": {"url": "x"}}), "'otel' must be an array"),
        (
            json!({"dlp": {"enabled": true, "action": "BLOCK"}}),
            "not supported",
        ),
        (
            json!({"guardrails": {"prompt": {"S1": "BLOCK"}}}),
            "not supported",
        ),
        (
            json!({"spend_limits": {"rules": [{"limit": 10, "window": 86400}]}}),
            "not supported",
        ),
    ] {
        let a = cp_send(Method::PUT, &url, bad.clone()).await;
        assert_eq!(a.status, 400, "{bad}");
        let text = String::from_utf8_lossy(&a.body).into_owned();
        assert!(text.contains(says), "{bad}: {text}");
        assert_eq!(a.json()["success"], false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_different_settings_both_take_effect() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    cp_send(Method::POST, &gw.cp("/gateways"), json!({"id":"g1"})).await;
    let url = gw.cp("/gateways/g1");
    for i in 0..10u64 {
        let (one, two) = tokio::join!(
            cp_send(Method::PUT, &url, json!({"cache_ttl": 100 + i})),
            cp_send(Method::PUT, &url, json!({"retry_delay": 200 + i})),
        );
        assert_eq!((one.status.as_u16(), two.status.as_u16()), (200, 200));
        let now = send(Method::GET, &url, &[], "").await.json();
        assert_eq!(now["result"]["cache_ttl"], 100 + i, "{now}");
        assert_eq!(now["result"]["retry_delay"], 200 + i, "{now}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_gets_the_envelope_too() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let big = format!("{{\"id\":\"g1\",\"pad\":\"{}\"}}", "x".repeat(3 << 20));
    let a = send(
        Method::POST,
        &gw.cp("/gateways"),
        &[("content-type", "application/json")],
        big,
    )
    .await;
    assert_eq!(a.status, 413);
    let j = a.json();
    assert_eq!(j["success"], false, "{j}");
    assert_eq!(j["errors"][0]["code"], 1002, "{j}");
}

#[tokio::test]
async fn bad_control_plane_input_gets_the_envelope_never_a_500() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    cp_send(Method::POST, &gw.cp("/gateways"), json!({"id":"g1"})).await;
    for (method, path, body) in [
        (Method::POST, "/gateways", json!({"id":"bad id"})),
        (Method::POST, "/gateways", json!({"cache_ttl":5})),
        (
            Method::POST,
            "/gateways",
            json!({"id":"g2","cache_ttl":"soon"}),
        ),
        (Method::POST, "/gateways", json!({"id":"g2","surprise":1})),
        (
            Method::PUT,
            "/gateways/g1",
            json!({"rate_limiting_technique":"leaky"}),
        ),
        (Method::PUT, "/gateways/g1", json!({"retry_max_attempts":9})),
        (Method::PUT, "/gateways/g1", json!({"retry_max_attempts":0})),
        (Method::PUT, "/gateways/g1", json!({"retry_delay":60001})),
        (
            Method::PATCH,
            "/gateways/g1/logs/nope",
            json!({"feedback":5}),
        ),
    ] {
        let a = cp_send(method.clone(), &gw.cp(path), body.clone()).await;
        assert!(
            a.status.is_client_error(),
            "{method} {path} {body}: {}",
            a.status
        );
        let j = a.json();
        assert_eq!(j["success"], false);
        assert!(
            j["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{j}"
        );
    }
    let a = send(Method::POST, &gw.cp("/gateways"), &[], "{not json").await;
    assert_eq!(a.status, 400);
    // A method a path does not take: 405, still with the envelope.
    for (method, path) in [
        (Method::PATCH, "/gateways/g1"),
        (Method::POST, "/gateways/g1/logs"),
        (Method::DELETE, "/gateways"),
        (Method::GET, "/gateways/g1/provider_configs/some-id"),
    ] {
        let a = send(method.clone(), &gw.cp(path), &[], "").await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.json()["success"], false, "{method} {path}");
        assert_eq!(a.json()["errors"][0]["code"], 10405);
    }
    for path in [
        "/gateways/nope",
        "/gateways/nope/logs",
        "/gateways/g1/logs/unknown-id",
    ] {
        let a = send(Method::GET, &gw.cp(path), &[], "").await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.json()["success"], false);
    }
    let a = send(
        Method::GET,
        &format!("{}/client/v4/accounts/nobody/ai-gateway/gateways", gw.url),
        &[],
        "",
    )
    .await;
    assert_eq!(a.status, 404);
    let a = send(
        Method::GET,
        &gw.cp("/gateways/g1/logs?order_by=nonsense"),
        &[],
        "",
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["success"], false);
    let a = send(
        Method::GET,
        &gw.cp("/gateways/g1/logs?filters=%5B%7B%22key%22%3A%22nope%22%7D%5D"),
        &[],
        "",
    )
    .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn a_settings_change_applies_to_the_next_request() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    post(&url, &[AUTH], CHAT).await;
    gw.wait_for_logs("gw", 1).await;
    let upd = cp_send(
        Method::PUT,
        &gw.cp("/gateways/gw"),
        json!({"collect_logs": false}),
    )
    .await;
    assert_eq!(upd.status, 200);
    post(&url, &[AUTH], CHAT).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows.len(), 1, "collect_logs=false still stored a row");
}

#[tokio::test]
async fn logs_list_filter_order_patch_and_delete() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let base = gw.base();
    post(
        &format!("{base}/grok/v1/chat/completions"),
        &[AUTH, ("cf-aig-metadata", r#"{"team":"a"}"#)],
        CHAT,
    )
    .await;
    post(
        &format!("{base}/openai/v1/chat/completions"),
        &[AUTH, ("cf-aig-metadata", r#"{"team":"b"}"#)],
        r#"{"model":"gpt-5-mini","messages":[{"role":"user","content":"one two three"}]}"#,
    )
    .await;
    fake.push_script(Script::new().status(500));
    post(&format!("{base}/grok/v1/chat/completions"), &[AUTH], CHAT).await;
    let rows = gw.wait_for_logs("gw", 3).await;
    assert_eq!(rows.len(), 3);
    // Newest first by default.
    assert_eq!(rows[0]["status_code"], 500);
    assert_eq!(rows[0]["success"], false);

    let q = |query: &str| {
        let url = gw.cp(&format!("/gateways/gw/logs?{query}"));
        async move { send(Method::GET, &url, &[], "").await.json() }
    };
    let j = q("provider=openai").await;
    assert_eq!(j["result"].as_array().unwrap().len(), 1);
    assert_eq!(j["result"][0]["model"], "gpt-5-mini");
    let j = q("success=false").await;
    assert_eq!(j["result_info"]["total_count"], 1);
    let filters = urlencode(r#"[{"key":"provider","operator":"eq","value":["grok"]}]"#);
    let j = q(&format!("filters={filters}")).await;
    assert_eq!(j["result_info"]["total_count"], 2);
    let filters = urlencode(r#"[{"key":"metadata.value","operator":"eq","value":["b"]}]"#);
    let j = q(&format!("filters={filters}")).await;
    assert_eq!(j["result_info"]["total_count"], 1);
    let j = q("order_by=created_at&order_by_direction=asc&per_page=1&page=2").await;
    assert_eq!(j["result"].as_array().unwrap().len(), 1);
    assert_eq!(j["result"][0]["provider"], "openai");
    assert_eq!(j["result_info"]["page"], 2);
    assert_eq!(j["result_info"]["total_count"], 3);

    // Feedback and score.
    let id = rows[1]["id"].as_str().unwrap().to_owned();
    let log = gw.cp(&format!("/gateways/gw/logs/{id}"));
    let get_log = || async { send(Method::GET, &log, &[], "").await.json() };
    let p = cp_send(Method::PATCH, &log, json!({"feedback": 1, "score": 87})).await;
    assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
    let one = get_log().await;
    assert_eq!(one["result"]["feedback"], 1);
    assert_eq!(one["result"]["score"], 87.0);
    // Feedback is -1, 1 or null: 0 is refused and changes nothing.
    let p = cp_send(Method::PATCH, &log, json!({"feedback": 0})).await;
    assert_eq!(p.status, 400);
    // Metadata set by PATCH follows the header's rules: no `cf.` keys, at most five entries.
    let forged = json!({"cf.user_id": "forged", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6});
    let p = cp_send(Method::PATCH, &log, json!({ "metadata": forged })).await;
    assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
    let one = get_log().await;
    assert_eq!(one["result"]["feedback"], 1);
    let meta: serde_json::Value =
        serde_json::from_str(one["result"]["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(meta, json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}));

    // Delete by filter.
    let d = send(
        Method::DELETE,
        &gw.cp("/gateways/gw/logs?provider=grok"),
        &[],
        "",
    )
    .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.json()["success"], true);
    let j = q("").await;
    assert_eq!(j["result_info"]["total_count"], 1);
    assert_eq!(j["result"][0]["provider"], "openai");
}

#[tokio::test]
async fn lists_analytics_and_deletes_right_after_requests_see_their_records() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let list = |query: &'static str| {
        let url = gw.cp(&format!("/gateways/gw/logs?{query}"));
        async move { send(Method::GET, &url, &[], "").await.json() }
    };
    // No waiting between the answers and the reads: the records are still in the writer's
    // gathering window when the list comes.
    for _ in 0..3 {
        assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    }
    let j = list("").await;
    assert_eq!(j["result_info"]["total_count"], 3, "{j}");

    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    let a = send(
        Method::GET,
        &gw.cp("/gateways/gw/analytics?bucket=day"),
        &[],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        total(&a, "requests"),
        4.0,
        "{}",
        String::from_utf8_lossy(&a.body)
    );

    // A delete of everything takes the records still queued too: none shows up after it.
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    let d = send(Method::DELETE, &gw.cp("/gateways/gw/logs"), &[], "").await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.json()["result"]["deleted"],
        5,
        "{}",
        String::from_utf8_lossy(&d.body)
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(list("").await["result_info"]["total_count"], 0);
}

#[tokio::test]
async fn what_a_list_would_ignore_is_refused_by_a_delete_and_values_keep_their_types() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let base = gw.base();
    let costs = [r#"{"total_cost":0.1}"#, r#"{"total_cost":0.2}"#];
    for cost in costs {
        let a = post(
            &format!("{base}/grok/v1/chat/completions"),
            &[AUTH, ("cf-aig-custom-cost", cost)],
            CHAT,
        )
        .await;
        assert_eq!(a.status, 200);
    }
    // A request naming no model.
    let models = send(Method::GET, &format!("{base}/grok/v1/models"), &[AUTH], "").await;
    assert_eq!(models.status, 200);
    let rows = gw.wait_for_logs("gw", 3).await;
    let no_model = record_of(&rows, &models);
    assert_eq!(
        no_model["model"], "",
        "the SDKs type it as a string: {no_model}"
    );

    // Each of these would delete every record if it were ignored.
    for query in [
        "filters.value=nothing-matches",
        "filters%5Bvalue%5D%5B%5D=nothing-matches",
        "provider=",
        "search=",
        "filter=%5B%7B%22key%22%3A%22provider%22%7D%5D",
    ] {
        let d = send(
            Method::DELETE,
            &gw.cp(&format!("/gateways/gw/logs?{query}")),
            &[],
            "",
        )
        .await;
        assert_eq!(
            d.status,
            400,
            "{query}: {}",
            String::from_utf8_lossy(&d.body)
        );
        assert_eq!(d.json()["success"], false);
    }
    let all = send(Method::GET, &gw.cp("/gateways/gw/logs"), &[], "").await;
    assert_eq!(all.json()["result_info"]["total_count"], 3);

    // Summed costs are shown to the tick: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
    let a = send(
        Method::GET,
        &gw.cp("/gateways/gw/analytics?bucket=day"),
        &[],
        "",
    )
    .await;
    assert_eq!(total(&a, "cost"), 0.3);
    let by_model = send(
        Method::GET,
        &gw.cp("/gateways/gw/analytics?bucket=day&group_by=model"),
        &[],
        "",
    )
    .await
    .json();
    let mut models: Vec<String> = by_model["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["model"]
                .as_str()
                .expect("grouped rows name a model")
                .to_owned()
        })
        .collect();
    models.sort();
    assert_eq!(models.len(), 2, "{models:?}");
    assert_eq!(models[0], "", "{models:?}");

    // Values outside a field's type or set are refused, in lists and bodies alike.
    let list = |q: &str| {
        let url = gw.cp(&format!("/custom-providers?{q}"));
        async move { send(Method::GET, &url, &[], "").await }
    };
    assert_eq!(list("enable=TRUE").await.status, 200);
    for bad in ["enable=1", "enable=", "enable=yes"] {
        assert_eq!(list(bad).await.status, 400, "{bad}");
    }
    let provider = |extra: serde_json::Value| {
        let mut body = json!({"name": "x", "slug": "typed", "base_url": "https://example.com"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let url = gw.cp("/custom-providers");
        async move { cp_send(Method::POST, &url, body).await }
    };
    for bad in [
        json!({"position": "1"}),
        json!({"beta": "yes"}),
        json!({"logo": 5}),
    ] {
        let r = provider(bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    let r = provider(json!({"position": 3, "beta": false})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let g = cp_send(
        Method::POST,
        &gw.cp("/gateways"),
        json!({"id": "billing", "workers_ai_billing_mode": "bogus"}),
    )
    .await;
    assert_eq!(g.status, 400);
}

/// A field summed over every row of an analytics answer.
fn total(answer: &Answer, field: &str) -> f64 {
    answer.json()["result"]
        .as_array()
        .expect("analytics rows")
        .iter()
        .map(|row| row[field].as_f64().expect("a number"))
        .sum()
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn provider_keys_are_stored_encrypted_and_never_returned() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    cp_send(Method::POST, &gw.cp("/gateways"), json!({"id":"g1"})).await;
    let secret = "xai-stored-secret-0123456789";
    let a = cp_send(
        Method::POST,
        &gw.cp("/gateways/g1/provider_configs"),
        json!({"provider_slug":"grok","alias":"main","secret":secret,"default_config":true}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let j = a.json();
    assert!(!a.body.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert_eq!(j["result"]["secret_preview"], "xa****89");
    assert_eq!(j["result"]["alias"], "main");
    let id = j["result"]["id"].as_str().unwrap().to_owned();
    // A string, as the SDKs type it: the secret is kept with the config, which names it.
    assert_eq!(j["result"]["secret_id"], id.as_str());

    let dup = cp_send(
        Method::POST,
        &gw.cp("/gateways/g1/provider_configs"),
        json!({"provider_slug":"grok","alias":"main","secret":"x"}),
    )
    .await;
    assert_eq!(dup.status, 409);
    let bad = cp_send(
        Method::POST,
        &gw.cp("/gateways/g1/provider_configs"),
        json!({"provider_slug":"nope","secret":"x"}),
    )
    .await;
    assert_eq!(bad.status, 400);

    let list = send(
        Method::GET,
        &gw.cp("/gateways/g1/provider_configs"),
        &[],
        "",
    )
    .await;
    assert_eq!(list.json()["result"].as_array().unwrap().len(), 1);
    assert!(!list
        .body
        .windows(secret.len())
        .any(|w| w == secret.as_bytes()));
    // Marked default_config, it is the key used when the request names no alias.
    let a = post(
        &format!("{}/v1/acct/g1/grok/v1/chat/completions", gw.url),
        &[],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request()
            .unwrap()
            .headers
            .get("authorization")
            .unwrap(),
        &format!("Bearer {secret}")
    );
    let db = std::fs::read(gw.dir.path().join("switchyard.db")).unwrap_or_default();
    let wal = std::fs::read(gw.dir.path().join("switchyard.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(
        !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "secret stored in clear"
    );

    let del = send(
        Method::DELETE,
        &gw.cp(&format!("/gateways/g1/provider_configs/{id}")),
        &[],
        "",
    )
    .await;
    assert_eq!(del.status, 200);
    let list = send(
        Method::GET,
        &gw.cp("/gateways/g1/provider_configs"),
        &[],
        "",
    )
    .await;
    assert_eq!(list.json()["result"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn analytics_buckets_requests_tokens_and_cost() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for _ in 0..3 {
        gw.chat(&[AUTH]).await;
    }
    fake.push_script(Script::new().status(503));
    gw.chat(&[AUTH]).await;
    gw.wait_for_logs("gw", 4).await;
    let a = send(
        Method::GET,
        &gw.cp("/gateways/gw/analytics?bucket=minute&group_by=provider"),
        &[],
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let rows = a.json()["result"].as_array().unwrap().clone();
    assert_eq!(total(&a, "requests"), 4.0);
    assert_eq!(total(&a, "errors"), 1.0);
    assert_eq!(
        total(&a, "tokens_out"),
        15.0,
        "three answers of five chunks"
    );
    assert!(rows.iter().all(|r| r["provider"] == "grok"));
    // A range that starts inside a bucket, after a request in it, still counts that bucket
    // whole.
    let logged = gw.wait_for_logs("gw", 4).await;
    let at = logged[0]["created_at"].as_str().unwrap();
    let start = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap()
        + time::Duration::milliseconds(1);
    let inside = send(
        Method::GET,
        &gw.cp(&format!(
            "/gateways/gw/analytics?bucket=minute&start={}",
            start
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        )),
        &[],
        "",
    )
    .await;
    assert_eq!(inside.status, 200);
    let from_inside = total(&inside, "requests");
    assert!(from_inside >= 1.0, "start {start}: {:?}", inside.json());
    // Only `end`: the 24 hours before it. Thirty hours ago holds nothing; a minute from now
    // holds every request.
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = time::OffsetDateTime::now_utc();
    for (end, want) in [
        (now - time::Duration::hours(30), 0),
        (now + time::Duration::minutes(1), 4),
    ] {
        let a = send(
            Method::GET,
            &gw.cp(&format!(
                "/gateways/gw/analytics?bucket=hour&end={}",
                rfc(end)
            )),
            &[],
            "",
        )
        .await;
        assert_eq!(a.status, 200, "{:?}", a.json());
        assert_eq!(
            total(&a, "requests"),
            want as f64,
            "end {end}: {:?}",
            a.json()
        );
    }
    let bad = send(
        Method::GET,
        &gw.cp("/gateways/gw/analytics?bucket=week"),
        &[],
        "",
    )
    .await;
    assert_eq!(bad.status, 400);
    // A time its offset puts past year 9999 in UTC is bad input, on analytics and on the
    // log filters alike (it must not read as some other time: a delete would take the rest).
    for path in [
        "/gateways/gw/analytics?start=9999-12-31T23:59:58-23:59&end=9999-12-31T23:59:59-23:59",
        "/gateways/gw/logs?start_date=9999-12-31T23:59:59-23:59",
    ] {
        let a = send(Method::GET, &gw.cp(path), &[], "").await;
        assert_eq!(
            a.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["success"], false);
    }
    let del = send(
        Method::DELETE,
        &gw.cp("/gateways/gw/logs?start_date=9999-12-31T23:59:59-23:59"),
        &[],
        "",
    )
    .await;
    assert_eq!(del.status, 400);
    let left = send(Method::GET, &gw.cp("/gateways/gw/logs"), &[], "").await;
    assert!(left.json()["result_info"]["total_count"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn a_rate_limit_per_zero_seconds_is_refused_and_the_bare_root_has_the_envelope() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let create = |body: serde_json::Value| {
        let url = gw.cp("/gateways");
        async move { send(Method::POST, &url, &[], body.to_string()).await }
    };
    let bad = create(json!({"id":"iv0","rate_limiting_interval":0,"rate_limiting_limit":5})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("rate_limiting_interval"));
    // 0 and 0 is how SDKs say "off".
    let off = create(json!({"id":"off","rate_limiting_interval":0,"rate_limiting_limit":0})).await;
    assert_eq!(off.status, 200, "{:?}", off.json());

    for root in ["/client/v4", "/client/v4/"] {
        let a = send(Method::GET, &format!("{}{root}", gw.url), &[], "").await;
        assert_eq!(a.status, 404, "{root}");
        assert_eq!(a.json()["success"], false, "{root}");
        assert!(a.json()["errors"][0]["message"].is_string(), "{root}");
    }
}

#[tokio::test]
async fn a_control_plane_body_that_stops_arriving_gets_408_in_the_envelope() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "client_timeout_ms = 500").await;
    let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
    s.write_all(
        b"POST /client/v4/accounts/acct/ai-gateway/gateways HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{\"id\":",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("a stalled body gets an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"success\":false"), "{answer}");
    // Nothing was created from the half body.
    let list = send(Method::GET, &gw.cp("/gateways"), &[], "").await;
    assert_eq!(list.status, 404, "{}", String::from_utf8_lossy(&list.body));
}

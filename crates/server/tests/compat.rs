//! The unified endpoint for OpenAI-shaped providers (SPEC 2.2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[tokio::test]
async fn rewrites_only_the_model_and_reaches_the_chat_path() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body = r#"{"messages":[{"role":"user","content":"grok/grok-beta"}], "model": "grok/grok-beta","temperature":0.5}"#;
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[AUTH, ("cf-aig-event-id", "e1")],
        body,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["model"], "grok-beta");
    let got = fake.last_request().unwrap();
    assert_eq!(got.method, http::Method::POST);
    assert_eq!(got.path_and_query, "/v1/chat/completions");
    assert_eq!(
        std::str::from_utf8(&got.body).unwrap(),
        r#"{"messages":[{"role":"user","content":"grok/grok-beta"}], "model": "grok-beta","temperature":0.5}"#
    );
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer xai-test-key"
    );
    assert_eq!(
        got.headers.get("content-length").unwrap().to_str().unwrap(),
        got.body.len().to_string()
    );
    assert!(got.headers.get("cf-aig-event-id").is_none());
    assert_eq!(got.headers.get("content-type").unwrap(), "application/json");
}

#[tokio::test]
async fn the_body_goes_upstream_labelled_json_whatever_the_client_said() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let chat = r#"{"model":"MODEL","messages":[{"role":"user","content":"Hi"}]}"#;
    // `curl -d` labels a body form-urlencoded; translated or not, the provider gets JSON.
    for model in ["grok/grok-beta", "anthropic/claude-haiku-4-5"] {
        let a = post(
            &format!("{}/compat/chat/completions", gw.base()),
            &[AUTH, ("content-type", "application/x-www-form-urlencoded")],
            &chat.replace("MODEL", model),
        )
        .await;
        assert_eq!(
            a.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let got = fake.last_request().unwrap();
        assert_eq!(
            got.headers.get("content-type").unwrap(),
            "application/json",
            "{model}"
        );
    }
}

#[tokio::test]
async fn aliases_and_other_openai_shaped_providers() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for (model, path, sent) in [
        ("xai/grok-4", "/v1/chat/completions", "grok-4"),
        ("openai/gpt-5-mini", "/v1/chat/completions", "gpt-5-mini"),
        (
            "groq/llama-3.3-70b",
            "/openai/v1/chat/completions",
            "llama-3.3-70b",
        ),
        (
            "mistral/mistral-large",
            "/v1/chat/completions",
            "mistral-large",
        ),
    ] {
        let body =
            format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"Hi"}}]}}"#);
        let a = post(
            &format!("{}/compat/chat/completions", gw.base()),
            &[AUTH],
            &body,
        )
        .await;
        assert_eq!(a.status, 200, "{model}");
        let got = fake.last_request().unwrap();
        assert_eq!(got.path_and_query, path, "{model}");
        let j: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(j["model"], sent);
    }
}

#[tokio::test]
async fn streams_through_compat() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let body =
        r#"{"model":"grok/grok-beta","messages":[{"role":"user","content":"Hi"}],"stream":true}"#;
    let s = stream(
        &format!("{}/compat/chat/completions", gw.base()),
        &[AUTH],
        body,
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.headers.get("content-type").unwrap(), "text/event-stream");
    assert!(s.text().ends_with("data: [DONE]\n\n"));
    let got = fake.last_request().unwrap();
    assert_eq!(
        std::str::from_utf8(&got.body).unwrap(),
        r#"{"model":"grok-beta","messages":[{"role":"user","content":"Hi"}],"stream":true}"#
    );
}

#[tokio::test]
async fn bad_models_and_bodies_are_refused_before_anything_is_sent() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/compat/chat/completions", gw.base());
    for (body, status, code, needle) in [
        (
            r#"{"model":"grok-beta","messages":[]}"#,
            400,
            2008,
            "grok-beta",
        ),
        (r#"{"model":"nope/x","messages":[]}"#, 400, 2008, "nope"),
        (r#"{"model":"/x","messages":[]}"#, 400, 2008, "/x"),
        (
            r#"{"model":"replicate/x","messages":[]}"#,
            400,
            2008,
            "replicate",
        ),
        (r#"{"messages":[]}"#, 400, 2000, "model"),
        (r#"{"model":5}"#, 400, 2000, "model"),
        (r#"{"model":"grok/x","stream":"yes"}"#, 400, 2000, "stream"),
        ("not json", 400, 2000, "JSON"),
        ("[]", 400, 2000, "JSON"),
    ] {
        let a = post(&url, &[AUTH], body).await;
        a.assert_gateway_error(status, code);
        let msg = a.json()["error"][0]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    assert_eq!(fake.hits(), 0);
}

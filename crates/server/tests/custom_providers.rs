//! Custom providers (SPEC 2.1): defined in the config or through the control plane, reachable
//! by pass-through, `/compat` and universal steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::json;

#[tokio::test]
async fn config_defined_custom_providers_take_the_path_verbatim() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        &format!(
            "[providers.custom-mine]\nbase_url = \"{}/v1\"\nheaders = {{ x-org = \"o1\" }}\n",
            fake.url()
        ),
    )
    .await;
    let a = post(
        &format!("{}/custom-mine/chat/completions?x=1", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.path_and_query, "/v1/chat/completions?x=1");
    // A custom provider's configured headers go with pass-through requests too.
    assert_eq!(sent.header("x-org"), Some("o1"));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[AUTH],
        r#"{"model":"custom-mine/my-model","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    let sent: serde_json::Value =
        serde_json::from_slice(&fake.last_request().unwrap().body).unwrap();
    assert_eq!(sent["model"], "my-model");
}

#[tokio::test]
async fn control_plane_custom_providers_crud_and_use() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = gw.cp("/custom-providers");
    let a = cp_send(
        Method::POST,
        &url,
        json!({"name":"My LLM","slug":"my-llm","base_url": format!("{}/v1", fake.url())}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let created = a.json()["result"].clone();
    assert_eq!(created["slug"], "my-llm");
    assert_eq!(created["enable"], true);
    let id = created["id"].as_str().unwrap().to_owned();
    // Text with a NUL is refused on every backend (PostgreSQL cannot store it).
    for field in ["name", "description", "link"] {
        let mut body =
            json!({"name":"Other","slug":"other","base_url": format!("{}/v1", fake.url())});
        body[field] = json!("a\u{0}b");
        let a = cp_send(Method::POST, &url, body).await;
        assert_eq!(
            a.status,
            400,
            "{field}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert!(a.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("'{field}' must not contain a NUL")));
    }
    let a = cp_send(
        Method::PUT,
        &format!("{url}/{id}"),
        json!({"description": "\u{0}"}),
    )
    .await;
    assert_eq!(a.status, 400);
    // An id with one names nothing.
    let a = cp_send(Method::GET, &format!("{url}/{id}%00"), json!(null)).await;
    assert_eq!(a.status, 404);

    let a = post(
        &format!("{}/custom-my-llm/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request().unwrap().path_and_query,
        "/v1/chat/completions"
    );
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[AUTH],
        r#"{"model":"custom-my-llm/m1","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    let rows = gw.wait_for_logs("gw", 2).await;
    assert_eq!(rows[0]["provider"], "custom-my-llm");

    // A stored key for it, used by a call that brings none.
    let k = cp_send(
        Method::POST,
        &gw.cp("/gateways/gw/provider_configs"),
        json!({"provider_slug":"custom-my-llm","secret":"sk-custom-stored"}),
    )
    .await;
    assert_eq!(k.status, 200, "{}", String::from_utf8_lossy(&k.body));
    assert_eq!(
        keyless_chat_sends(&gw, &fake, "custom-my-llm").await,
        "Bearer sk-custom-stored"
    );
    let unknown = cp_send(
        Method::POST,
        &gw.cp("/gateways/gw/provider_configs"),
        json!({"provider_slug":"custom-nobody","secret":"x"}),
    )
    .await;
    assert_eq!(unknown.status, 400);

    // Duplicate slug, bad URL, unknown id.
    let dup = cp_send(
        Method::POST,
        &url,
        json!({"name":"x","slug":"my-llm","base_url":"https://a.example"}),
    )
    .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["errors"][0]["code"], 1003);
    let bad = cp_send(
        Method::POST,
        &url,
        json!({"name":"x","slug":"plain","base_url":"http://a.example"}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["errors"][0]["code"], 1002);
    let prefixed = cp_send(
        Method::POST,
        &url,
        json!({"name":"x","slug":"custom-dup","base_url":"https://a.example"}),
    )
    .await;
    assert_eq!(prefixed.status, 400, "the slug is given without its prefix");
    let missing = send(Method::GET, &gw.cp("/custom-providers/nope"), &[], "").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["errors"][0]["code"], 1004);

    let list = send(Method::GET, &url, &[], "").await.json();
    assert_eq!(list["result_info"]["total_count"], 1);

    // Disabled: unknown to the gateway plane.
    let p = cp_send(
        Method::PATCH,
        &gw.cp(&format!("/custom-providers/{id}")),
        json!({"enable": false}),
    )
    .await;
    assert_eq!(p.status, 200);
    let a = post(
        &format!("{}/custom-my-llm/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    a.assert_gateway_error(400, 2008);

    let d = send(
        Method::DELETE,
        &gw.cp(&format!("/custom-providers/{id}")),
        &[],
        "",
    )
    .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.json()["result"]["id"], id.as_str());
    let hits = fake.hits();
    let a = post(
        &format!("{}/custom-my-llm/chat/completions", gw.base()),
        &[AUTH],
        CHAT,
    )
    .await;
    a.assert_gateway_error(400, 2008);
    assert_eq!(fake.hits(), hits);
}

#[tokio::test]
async fn an_account_is_known_from_its_first_custom_provider_on() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let root = format!("{}/client/v4/accounts", gw.url);
    // Never seen: 404, as its gateway list says.
    let never = send(
        Method::GET,
        &format!("{root}/nobody/ai-gateway/custom-providers"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        never.status,
        404,
        "{}",
        String::from_utf8_lossy(&never.body)
    );
    assert_eq!(never.json()["success"], false);

    let url = format!("{root}/only-custom/ai-gateway/custom-providers");
    let created = cp_send(
        Method::POST,
        &url,
        json!({"name":"n","slug":"solo","base_url":"https://a.example"}),
    )
    .await;
    assert_eq!(created.status, 200);
    let id = created.json()["result"]["id"].as_str().unwrap().to_owned();
    let d = send(Method::DELETE, &format!("{url}/{id}"), &[], "").await;
    assert_eq!(d.status, 200);
    // Known from then on: an empty page, and listed among the accounts.
    let list = send(Method::GET, &url, &[], "").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["result_info"]["total_count"], 0);
    let gateways = send(
        Method::GET,
        &format!("{root}/only-custom/ai-gateway/gateways"),
        &[],
        "",
    )
    .await;
    assert_eq!(gateways.status, 200);
    let accounts = send(Method::GET, &root, &[], "").await.json();
    assert!(accounts["result"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == "only-custom"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_different_fields_both_take_effect() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let created = create_custom(
        &gw,
        json!({"name":"n","slug":"race","base_url":"https://a.example"}),
    )
    .await;
    let url = gw.cp(&format!(
        "/custom-providers/{}",
        created["id"].as_str().unwrap()
    ));
    for i in 0..10 {
        let (one, two) = tokio::join!(
            cp_send(Method::PATCH, &url, json!({"name": format!("name-{i}")})),
            cp_send(
                Method::PATCH,
                &url,
                json!({"description": format!("d-{i}")})
            ),
        );
        assert_eq!((one.status.as_u16(), two.status.as_u16()), (200, 200));
        let now = send(Method::GET, &url, &[], "").await.json();
        assert_eq!(now["result"]["name"], format!("name-{i}"), "{now}");
        assert_eq!(now["result"]["description"], format!("d-{i}"), "{now}");
    }
}

/// A `[[provider_keys]]` entry may name a custom provider that is created later through the
/// control plane; the key is then used for requests to it that bring none.
#[tokio::test]
async fn a_config_key_serves_a_custom_provider_created_later() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"custom-later\"\nkey = \"sk-later\"\n",
    )
    .await;
    create_custom(
        &gw,
        json!({"name":"Later","slug":"later","base_url": format!("{}/v1", fake.url())}),
    )
    .await;
    assert_eq!(
        keyless_chat_sends(&gw, &fake, "custom-later").await,
        "Bearer sk-later"
    );
}

/// A chat to `slug` without a key of the client's own must succeed; the `Authorization` the
/// provider got (the stored key's).
async fn keyless_chat_sends(gw: &Gateway, fake: &FakeProvider, slug: &str) -> String {
    let a = post(&format!("{}/{slug}/chat/completions", gw.base()), &[], CHAT).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    fake.last_request()
        .unwrap()
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_custom_providers_headers_go_with_every_request_and_are_never_shown() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = gw.cp("/custom-providers");
    let secret = "hdr-secret-0123456789abcdef";
    // As the Cloudflare SDKs send it: a JSON object in a string.
    let headers = json!({"X-Tenant-Key": secret, "x-region": "eu"}).to_string();
    let a = cp_send(
        Method::POST,
        &url,
        json!({"name":"H","slug":"hdr","base_url": format!("{}/v1", fake.url()), "headers": headers}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let shown = a.json()["result"].clone();
    assert_eq!(shown["headers"], serde_json::Value::Null);
    assert_eq!(shown["header_names"], json!(["x-region", "x-tenant-key"]));
    let id = shown["id"].as_str().unwrap().to_owned();
    let listed = send(Method::GET, &url, &[], "").await;
    for body in [&a.body, &listed.body] {
        assert!(!body.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    // Sealed at rest: the database file does not hold the value.
    let db = std::fs::read(gw.dir.path().join("switchyard.db")).unwrap();
    let wal = std::fs::read(gw.dir.path().join("switchyard.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    // Pass-through, /compat and a universal step all send them; the client's own header wins.
    let chat = format!("{}/custom-hdr/chat/completions", gw.base());
    assert_eq!(post(&chat, &[AUTH], CHAT).await.status, 200);
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.header("x-tenant-key"), Some(secret));
    assert_eq!(sent.header("x-region"), Some("eu"));
    assert_eq!(
        post(&chat, &[AUTH, ("x-region", "us")], CHAT).await.status,
        200
    );
    assert_eq!(fake.last_request().unwrap().header("x-region"), Some("us"));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[AUTH],
        r#"{"model":"custom-hdr/m1","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        fake.last_request().unwrap().header("x-tenant-key"),
        Some(secret)
    );
    let steps = json!([{"provider":"custom-hdr","endpoint":"chat/completions",
        "headers":{"authorization":"Bearer k"},"query":{"model":"m","messages":[]}}]);
    let a = post(&gw.base(), &[], &steps.to_string()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request().unwrap().header("x-tenant-key"),
        Some(secret)
    );
    // Nor are they stored in the log with the request's headers.
    let rows = gw.wait_for_logs("gw", 4).await;
    let one = send(
        Method::GET,
        &gw.cp(&format!(
            "/gateways/gw/logs/{}",
            rows[0]["id"].as_str().unwrap()
        )),
        &[],
        "",
    )
    .await;
    assert!(!one
        .body
        .windows(secret.len())
        .any(|w| w == secret.as_bytes()));

    // Written back as read (headers: null), they stay; an empty text removes them.
    let put = cp_send(Method::PUT, &format!("{url}/{id}"), shown.clone()).await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(
        put.json()["result"]["header_names"],
        json!(["x-region", "x-tenant-key"])
    );
    let cleared = cp_send(Method::PUT, &format!("{url}/{id}"), json!({"headers": ""})).await;
    assert_eq!(cleared.json()["result"]["header_names"], json!([]));
    // Within a second (the resolved provider is cached that long), requests go without them.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(post(&chat, &[AUTH], CHAT).await.status, 200);
    assert_eq!(fake.last_request().unwrap().header("x-tenant-key"), None);

    // Headers HTTP cannot carry, or that belong to the connection or the gateway: refused.
    for bad in [
        json!("not json"),
        json!("[1]"),
        json!(5),
        json!({"x-n": 5}),
        json!({"bad name": "v"}),
        json!({"x-v": "a\nb"}),
        json!({"host": "elsewhere"}),
        json!({"content-length": "1"}),
        json!({"transfer-encoding": "chunked"}),
        json!({"cf-aig-skip-cache": "true"}),
        json!({"X-Tenant": "a", "x-tenant": "b"}),
    ] {
        let a = cp_send(
            Method::PUT,
            &format!("{url}/{id}"),
            json!({ "headers": bad }),
        )
        .await;
        assert_eq!(a.status, 400, "{bad}: {}", String::from_utf8_lossy(&a.body));
    }
}

/// A client whose provider key is its gateway token (an SDK's `api_key`) sends no provider
/// credential of its own: the custom provider's configured `authorization` is what reaches the
/// provider, on pass-through and on `/compat` alike.
#[tokio::test]
async fn a_custom_providers_credential_header_is_sent_when_the_client_key_is_its_gateway_token() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[tokens]]\naccount_id = \"acct\"\nvalue = \"gw-token-1\"\n\n[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\nauthentication = true\n",
    )
    .await;
    create_custom(
        &gw,
        json!({"name": "K", "slug": "keyed", "base_url": format!("{}/v1", fake.url()),
            "headers": {"authorization": "Bearer provider-key", "x-extra": "e1"}}),
    )
    .await;
    let token = ("authorization", "Bearer gw-token-1");
    let a = post(
        &format!("{}/custom-keyed/chat/completions", gw.base()),
        &[token],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer provider-key"));
    assert_eq!(sent.header("x-extra"), Some("e1"));
    let a = post(
        &format!("{}/compat/chat/completions", gw.base()),
        &[token],
        r#"{"model":"custom-keyed/m1","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request().unwrap().header("authorization"),
        Some("Bearer provider-key")
    );
}

/// Headers sealed with another secret key (the gateway restarted with a new key file, or
/// another replica's key) are reported as such, with a 500, not taken for an unknown provider.
#[tokio::test]
async fn headers_sealed_with_another_secret_key_are_reported() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, SECRET_KEY).await;
    create_custom(
        &gw,
        json!({"name": "S", "slug": "sealed", "base_url": format!("{}/v1", fake.url()),
            "headers": {"x-tenant-key": "t1"}}),
    )
    .await;
    let database = gw.stop_keeping_store().await;
    let wrong = Gateway::start(&fake, &format!("{database}{OTHER_SECRET_KEY}")).await;
    let url = format!("{}/custom-sealed/chat/completions", wrong.base());
    let a = post(&url, &[AUTH], CHAT).await;
    a.assert_gateway_error(500, 2000);
    let message = a.json()["error"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("cannot be decrypted"), "{message}");
    assert_eq!(fake.requests().len(), 0, "nothing sent without its headers");
    // With the key they were sealed with, the same store works.
    let right = Gateway::start(&fake, &format!("{database}{SECRET_KEY}")).await;
    let url = format!("{}/custom-sealed/chat/completions", right.base());
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    assert_eq!(
        fake.last_request().unwrap().header("x-tenant-key"),
        Some("t1")
    );
}

/// Creates a custom provider through the control plane; its object as answered (200 asserted).
async fn create_custom(gw: &Gateway, body: serde_json::Value) -> serde_json::Value {
    let a = cp_send(Method::POST, &gw.cp("/custom-providers"), body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    a.json()["result"].clone()
}

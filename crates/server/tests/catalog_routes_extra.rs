//! Catalog routes beyond one base URL per provider: Bedrock's mantle endpoint beside its
//! runtime, a Baseten model's own endpoint beside Baseten's OpenAI-compatible API, and
//! Anthropic's models on Azure. What the provider received (path, key headers), and that a
//! value which would name another host is refused with nothing sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

const CLAUDE: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":3}}"#;
const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;

/// Each path is refused with 400 code 2000 and nothing reaches the fake.
async fn refused(fake: &FakeProvider, gw: &Gateway, paths: &[String], headers: &[(&str, &str)]) {
    for path in paths {
        let before = fake.hits();
        let a = post(&format!("{}/{path}", gw.base()), headers, MESSAGES).await;
        assert_eq!(
            a.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["error"][0]["code"], 2000, "{path}");
        assert_eq!(fake.hits(), before, "{path} reached the provider");
    }
}

#[tokio::test]
async fn bedrock_mantle_takes_the_bearer_key_as_x_api_key_beside_the_runtime() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    // The fake stands for every region: the region goes into its path instead of the host.
    let gw = Gateway::start(
        &fake,
        &format!(
            "[[provider_keys]]\naccount_id = \"acct\"\ngateway_id = \"gw\"\nprovider = \"aws-bedrock\"\nkey = \"stored-bedrock-key\"\n\n\
             [providers.aws-bedrock]\nbase_url = \"{u}/runtime/{{region}}\"\n\n\
             [providers.aws-bedrock.forms.bedrock-mantle]\nbase_url = \"{u}/mantle/{{region}}\"\n"
        ),
    )
    .await;

    // Cloudflare's documented form: the Bedrock API key as a bearer token.
    fake.push_script(Script::new().body(CLAUDE));
    let a = post(
        &format!(
            "{}/aws-bedrock/bedrock-mantle/us-east-1/anthropic/v1/messages?beta=true",
            gw.base()
        ),
        &[
            ("authorization", "Bearer bedrock-api-key"),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        MESSAGES,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["content"][0]["text"], "hi");
    let mantle_log = a.log_id().to_owned();
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.path_and_query,
        "/mantle/us-east-1/anthropic/v1/messages?beta=true"
    );
    assert_eq!(got.header("x-api-key"), Some("bedrock-api-key"));
    assert!(
        got.headers.get("authorization").is_none(),
        "the key went as x-api-key only"
    );
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(&got.body[..], MESSAGES.as_bytes());

    // A client that sends x-api-key itself is passed as it is.
    fake.push_script(Script::new().body(CLAUDE));
    let a = post(
        &format!(
            "{}/aws-bedrock/bedrock-mantle/eu-west-1/anthropic/v1/messages",
            gw.base()
        ),
        &[
            ("x-api-key", "own-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        MESSAGES,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(got.path(), "/mantle/eu-west-1/anthropic/v1/messages");
    assert_eq!(got.header("x-api-key"), Some("own-key"));
    assert!(got.headers.get("authorization").is_none());

    // Without a key of its own, the stored key goes where mantle takes it.
    fake.push_script(Script::new().body(CLAUDE));
    let a = post(
        &format!(
            "{}/aws-bedrock/bedrock-mantle/us-west-2/anthropic/v1/messages",
            gw.base()
        ),
        &[("anthropic-version", "2023-06-01")],
        MESSAGES,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(got.header("x-api-key"), Some("stored-bedrock-key"));
    assert!(got.headers.get("authorization").is_none());

    // A request the client signed with SigV4 passes as it was signed.
    fake.push_script(Script::new().body(CLAUDE));
    let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIA/20261126/us-east-1/bedrock-mantle/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
    let a = post(
        &format!(
            "{}/aws-bedrock/bedrock-mantle/us-east-1/anthropic/v1/messages",
            gw.base()
        ),
        &[
            ("authorization", sigv4),
            ("x-amz-date", "20261126T000000Z"),
            ("anthropic-version", "2023-06-01"),
        ],
        MESSAGES,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(got.header("authorization"), Some(sigv4));
    assert!(
        got.headers.get("x-api-key").is_none(),
        "no stored key beside a signature"
    );

    // The universal endpoint reaches the same form, the step's key moved the same way.
    fake.push_script(Script::new().body(CLAUDE));
    let steps = format!(
        r#"[{{"provider":"aws-bedrock","endpoint":"bedrock-mantle/ap-south-1/anthropic/v1/messages","headers":{{"authorization":"Bearer step-key","anthropic-version":"2023-06-01"}},"query":{MESSAGES}}}]"#
    );
    let a = post(&gw.base(), &[("content-type", "application/json")], &steps).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(got.path(), "/mantle/ap-south-1/anthropic/v1/messages");
    assert_eq!(got.header("x-api-key"), Some("step-key"));
    assert!(got.headers.get("authorization").is_none());

    // The runtime form is as it was: the bearer key stays a bearer key.
    fake.push_script(Script::new().body(CLAUDE));
    let a = post(
        &format!(
            "{}/aws-bedrock/bedrock-runtime/us-west-2/model/anthropic.claude-sonnet-4-5-v1:0/invoke",
            gw.base()
        ),
        &[("authorization", "Bearer runtime-key")],
        r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.path(),
        "/runtime/us-west-2/model/anthropic.claude-sonnet-4-5-v1:0/invoke"
    );
    assert_eq!(got.header("authorization"), Some("Bearer runtime-key"));
    assert!(got.headers.get("x-api-key").is_none());

    // Mantle's calls are logged as Bedrock's, with the Anthropic answer's usage.
    let rows = gw.wait_for_logs("gw", 6).await;
    let mantle = rows
        .iter()
        .find(|r| r["id"] == mantle_log.as_str())
        .unwrap_or_else(|| panic!("the mantle record in {rows:?}"));
    assert_eq!(mantle["provider"], "aws-bedrock");
    assert_eq!(mantle["tokens_in"], 12);
    assert_eq!(mantle["tokens_out"], 3);

    // A region is letters, digits and hyphens: anything that could name another host, or no
    // region at all, is refused before anything is sent.
    let bad: Vec<String> = [
        "us-east-1.evil.example",
        "evil.example%2f",
        "us_east_1",
        "us-east-1:443",
        "us-east-1%40evil.example",
        "-us-east-1",
        "%2e%2e",
    ]
    .iter()
    .map(|r| format!("aws-bedrock/bedrock-mantle/{r}/anthropic/v1/messages"))
    .chain([
        "aws-bedrock/bedrock-mantle".to_owned(),
        "aws-bedrock/bedrock-mantle/".to_owned(),
        "aws-bedrock/us-east-1/anthropic/v1/messages".to_owned(),
    ])
    .collect();
    refused(
        &fake,
        &gw,
        &bad,
        &[("authorization", "Bearer bedrock-api-key")],
    )
    .await;
}

#[tokio::test]
async fn baseten_model_ids_name_the_model_host_and_the_openai_route_stays() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    let gw = Gateway::start(
        &fake,
        &format!(
            "[providers.baseten]\nbase_url = \"{u}/v1\"\n\n\
             [providers.baseten.forms.model]\nbase_url = \"{u}/model/{{model_id}}/production/predict\"\n"
        ),
    )
    .await;

    fake.push_script(Script::new().body(r#"{"output":"hello"}"#));
    let a = post(
        &format!("{}/baseten/model/abcd1234", gw.base()),
        &[
            ("authorization", "Bearer baseten-key"),
            ("content-type", "application/json"),
        ],
        r#"{"prompt":"hi"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["output"], "hello");
    let got = fake.last_request().unwrap();
    assert_eq!(got.path_and_query, "/model/abcd1234/production/predict");
    assert_eq!(got.header("authorization"), Some("Bearer baseten-key"));
    assert_eq!(&got.body[..], br#"{"prompt":"hi"}"#);

    // The OpenAI-compatible API, as before.
    let a = post(
        &format!("{}/baseten/v1/chat/completions", gw.base()),
        &[AUTH, ("content-type", "application/json")],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["object"], "chat.completion");
    assert_eq!(fake.last_request().unwrap().path(), "/v1/chat/completions");

    // Model ids are lowercase letters and digits, and nothing follows them.
    let bad: Vec<String> = [
        "ABCD1234",
        "abc-1234",
        "abc.evil.example",
        "abc_1234",
        "abc%2fx",
        "abc%40evil.example",
        "abc:443",
        "abcd1234/async_predict",
        "",
    ]
    .iter()
    .map(|id| format!("baseten/model/{id}"))
    .chain(["baseten/model".to_owned()])
    .collect();
    refused(&fake, &gw, &bad, &[AUTH]).await;
}

#[tokio::test]
async fn azure_anthropic_reaches_the_resource_with_the_clients_key() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    let gw = Gateway::start(
        &fake,
        &format!("[providers.azure]\nbase_url = \"{u}/foundry/{{resource}}\"\n"),
    )
    .await;

    fake.push_script(Script::new().body(CLAUDE));
    let a = post(
        &format!("{}/azure/my-resource/anthropic/v1/messages", gw.base()),
        &[
            ("x-api-key", "azure-key"),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        MESSAGES,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.path_and_query,
        "/foundry/my-resource/anthropic/v1/messages"
    );
    assert_eq!(got.header("x-api-key"), Some("azure-key"));
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert!(got.headers.get("authorization").is_none());
    assert_eq!(&got.body[..], MESSAGES.as_bytes());
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["provider"], "azure");
    assert_eq!(rows[0]["tokens_in"], 12);

    // A resource is a host label, as Azure OpenAI's is (also where a config moved it into
    // the path, as here).
    let bad: Vec<String> = [
        "evil.example",
        "evil.example%2f",
        "my_resource",
        "-res",
        "res:443",
        "%40evil.example",
        "..",
    ]
    .iter()
    .map(|r| format!("azure/{r}/anthropic/v1/messages"))
    .chain(["azure".to_owned(), "azure/".to_owned()])
    .collect();
    refused(
        &fake,
        &gw,
        &bad,
        &[
            ("x-api-key", "azure-key"),
            ("anthropic-version", "2023-06-01"),
        ],
    )
    .await;
}

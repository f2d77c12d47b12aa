//! Every request logged (SPEC 2.4, 2.5, 3): records, their fields, the cf-aig headers that
//! shape them, and nothing lost on shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::json;
use std::time::Duration;

/// Gateway `acct/gw` with a rate limit of one request a minute.
const ONE_PER_MINUTE: &str =
    "[[gateways]]\naccount_id = \"acct\"\nid = \"gw\"\nrate_limiting_limit = 1\nrate_limiting_interval = 60\n";

#[tokio::test]
async fn a_request_yields_one_record_with_usage_cost_and_ids() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let a = gw
        .chat(&[
            AUTH,
            ("user-agent", "ua-test/1"),
            ("content-type", "application/json"),
        ])
        .await;
    assert_eq!(a.status, 200);
    let log_id = a.log_id().to_owned();
    assert_eq!(log_id.len(), 36);
    assert_eq!(&log_id[14..15], "7", "a UUIDv7: {log_id}");
    assert_eq!(log_id, log_id.to_lowercase());
    assert_eq!(a.headers.get("cf-aig-request-id").unwrap(), log_id.as_str());
    assert_eq!(a.headers.get("cf-aig-event-id").unwrap(), log_id.as_str());
    let usage = a.json()["usage"].clone();

    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["id"], log_id.as_str());
    assert_eq!(r["provider"], "grok");
    assert_eq!(r["model"], "grok-beta");
    assert_eq!(r["path"], "/v1/chat/completions");
    assert_eq!(r["request_type"], "provider");
    assert_eq!(r["status_code"], 200);
    assert_eq!(r["success"], true);
    assert_eq!(r["cached"], false);
    assert_eq!(r["cancelled"], false);
    assert_eq!(r["tokens_in"], usage["prompt_tokens"]);
    assert_eq!(r["tokens_out"], usage["completion_tokens"]);
    // The provider reported its own bill: ticks / 1e10 USD.
    let ticks = usage["cost_in_usd_ticks"].as_f64().unwrap();
    assert!(
        (r["cost"].as_f64().unwrap() - ticks / 1e10).abs() < 1e-12,
        "{r}"
    );
    assert_eq!(r["custom_cost"], false);
    assert_eq!(r["user_agent"], "ua-test/1");
    assert_eq!(r["request_content_type"], "application/json");
    assert_eq!(r["response_content_type"], "application/json");
    assert_eq!(r["request_size"], CHAT.len());
    assert_eq!(r["response_size"], a.body.len());
    assert!(r["duration"].as_u64().is_some());
    assert!(r["ttft"].as_u64().is_some());
    assert!(r["created_at"].as_str().unwrap().ends_with('Z'));

    // The stored bodies and redacted headers.
    let one = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{log_id}")),
        &[],
        "",
    )
    .await;
    assert_eq!(one.status, 200);
    let req = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{log_id}/request")),
        &[],
        "",
    )
    .await;
    assert_eq!(&req.body[..], CHAT.as_bytes());
    let resp = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{log_id}/response")),
        &[],
        "",
    )
    .await;
    assert_eq!(resp.body, a.body);
}

/// A chat answer naming `model`, with `usage` as given.
fn answer(model: &str, usage: serde_json::Value) -> String {
    answer_value(model, usage).to_string()
}

fn answer_value(model: &str, usage: serde_json::Value) -> serde_json::Value {
    json!({"id": "x", "object": "chat.completion", "created": 1, "model": model,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop"}],
           "usage": usage})
}

#[tokio::test]
async fn a_record_can_be_read_and_patched_right_after_its_answer() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for round in 0..5 {
        let a = gw.chat(&[AUTH]).await;
        assert_eq!(a.status, 200);
        let url = gw.cp(&format!("/gateways/gw/logs/{}", a.log_id()));
        // At once: the record is still in the writer's batch window.
        let (got, patched) = if round % 2 == 0 {
            let got = send(Method::GET, &url, &[], "").await;
            let patched = cp_send(Method::PATCH, &url, json!({"feedback": 1})).await;
            (got, patched)
        } else {
            let patched = cp_send(Method::PATCH, &url, json!({"feedback": 1})).await;
            let got = send(Method::GET, &url, &[], "").await;
            (got, patched)
        };
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        let record = got.json()["result"].clone();
        assert_eq!(record["id"], a.log_id());
        // One record shows its stored headers, credentials redacted.
        assert_eq!(record["request_headers"]["authorization"], "REDACTED");
        assert!(record["response_headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(
            patched.status,
            200,
            "{}",
            String::from_utf8_lossy(&patched.body)
        );
        assert_eq!(patched.json()["result"]["feedback"], 1);
    }
    // An id that was never given out is still 404, at once when it cannot be a recent one
    // (an old one, or one from the future).
    let in_a_year = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 365 * 86_400;
    let future = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, in_a_year, 0));
    for id in [
        "0190c5e2-0000-7000-8000-000000000000".to_owned(),
        future.to_string(),
    ] {
        let started = std::time::Instant::now();
        let unknown = send(
            Method::GET,
            &gw.cp(&format!("/gateways/gw/logs/{id}")),
            &[],
            "",
        )
        .await;
        assert_eq!(unknown.status, 404);
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "{id}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn provider_bills_in_usd_and_the_requested_models_price_are_used() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    let gw = Gateway::start(
        &fake,
        &format!(
            "[providers.openrouter]\nbase_url = \"{u}/api/v1\"\n\n[providers.perplexity-ai]\nbase_url = \"{u}\"\n\n\
             [providers.custom-router]\nbase_url = \"{u}/api/v1\"\nreports_cost = true\n"
        ),
    )
    .await;
    let chat_to = |provider: &str, path: &str, model: &str| {
        let url = format!("{}/{provider}/{path}", gw.base());
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        async move { post(&url, &[AUTH], &body.to_string()).await }
    };
    let cost_of = |rows: &[serde_json::Value], id: &str| {
        let r = rows.iter().find(|r| r["id"] == id).expect("row");
        (r["cost"].as_f64().unwrap(), r["model"].clone())
    };
    let tokens = |extra: serde_json::Value| {
        let mut u =
            json!({"prompt_tokens": 100_000, "completion_tokens": 0, "total_tokens": 100_000});
        u.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        u
    };

    // OpenRouter's `usage.cost` and Perplexity's `usage.cost.total_cost`, in USD.
    fake.push_script(
        Script::new().body(answer("openai/gpt-4o", tokens(json!({"cost": 0.000125})))),
    );
    let or = chat_to("openrouter", "v1/chat/completions", "openai/gpt-4o").await;
    assert_eq!(or.status, 200);
    let px_usage = tokens(json!({"cost": {"request_cost": 0.005, "total_cost": 0.00502}}));
    fake.push_script(Script::new().body(answer("sonar", px_usage)));
    let px = chat_to("perplexity-ai", "chat/completions", "sonar").await;
    assert_eq!(px.status, 200);
    // An answer naming a snapshot the table does not know: priced as the model asked for
    // (grok-4: $3 per million input tokens), logged under the answer's name.
    fake.push_script(Script::new().body(answer("internal-snapshot-x", tokens(json!({})))));
    let snap = chat_to("grok", "v1/chat/completions", "grok-4").await;
    assert_eq!(snap.status, 200);

    // The same field from a provider that sends no bill of its own (a proxy's figure, say) is
    // not the cost: the table's gpt-4o-mini price is ($0.15 per million input tokens). A
    // custom provider in front of one that does can say so (`reports_cost`).
    fake.push_script(Script::new().body(answer("gpt-4o-mini", tokens(json!({"cost": 5.0})))));
    let proxied = chat_to("openai", "v1/chat/completions", "gpt-4o-mini").await;
    assert_eq!(proxied.status, 200);
    fake.push_script(
        Script::new().body(answer("openai/gpt-4o", tokens(json!({"cost": 0.000125})))),
    );
    let routed = chat_to("custom-router", "chat/completions", "openai/gpt-4o").await;
    assert_eq!(routed.status, 200);

    let rows = gw.wait_for_logs("gw", 5).await;
    let (c, _) = cost_of(&rows, proxied.log_id());
    assert!(
        (c - 0.015).abs() < 1e-12,
        "openai's table, not the answer's figure: {c}"
    );
    let (c, _) = cost_of(&rows, routed.log_id());
    assert!(
        (c - 0.000125).abs() < 1e-12,
        "custom-router's own bill: {c}"
    );
    let (c, _) = cost_of(&rows, or.log_id());
    assert!((c - 0.000125).abs() < 1e-12, "openrouter cost {c}");
    let (c, _) = cost_of(&rows, px.log_id());
    assert!((c - 0.00502).abs() < 1e-12, "perplexity cost {c}");
    let (c, model) = cost_of(&rows, snap.log_id());
    assert_eq!(model, "internal-snapshot-x");
    assert!(
        (c - 0.3).abs() < 1e-9,
        "grok-4's input price for 100,000 tokens, got {c}"
    );
}

/// The model of a call that names it only in a multipart form field (audio transcriptions),
/// or in the path (Hugging Face), is logged.
#[tokio::test]
async fn models_named_in_a_form_field_or_the_path_are_logged() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    let gw = Gateway::start(
        &fake,
        &format!("[providers.huggingface]\nbase_url = \"{u}/models\"\n"),
    )
    .await;
    let answer = json!({"text": "hello"}).to_string();
    fake.push_script(Script::new().body(answer.clone()));
    let form = "--b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\x00\x01\r\n--b0undary--\r\n";
    let a = post(
        &format!("{}/openai/v1/audio/transcriptions", gw.base()),
        &[
            AUTH,
            ("content-type", "multipart/form-data; boundary=b0undary"),
        ],
        form,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    fake.push_script(Script::new().body(answer));
    let a = post(
        &format!("{}/huggingface/meta-llama/Llama-3.1-8B-Instruct", gw.base()),
        &[AUTH],
        r#"{"inputs": "hi"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let rows = gw.wait_for_logs("gw", 2).await;
    let mut models: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    models.sort_unstable();
    assert_eq!(models, ["meta-llama/Llama-3.1-8B-Instruct", "whisper-1"]);
}

#[tokio::test]
async fn workers_ai_cohere_replicate_and_azure_answers_are_counted_and_priced() {
    let fake = FakeProvider::start().await;
    let u = fake.url();
    let gw = Gateway::start(
        &fake,
        &format!(
            "[providers.workers-ai]\nbase_url = \"{u}/client/v4/accounts/{{account_id}}/ai/run\"\n\n\
             [providers.cohere]\nbase_url = \"{u}\"\n\n\
             [providers.replicate]\nbase_url = \"{u}/v1\"\n\n\
             [providers.azure-openai]\nbase_url = \"{u}/openai/deployments/{{deployment}}\"\n\n\
             [prices.azure-openai.\"gpt-4o\"]\ninput = 1.0\noutput = 1.0\n"
        ),
    )
    .await;
    let send = |path: &str, body: serde_json::Value, answer: serde_json::Value| {
        fake.push_script(Script::new().body(answer.to_string()));
        let url = format!("{}/{path}", gw.base());
        async move { post(&url, &[AUTH], &body.to_string()).await }
    };
    // Workers AI's envelope; the model is in the path only.
    let workers = send(
        "workers-ai/@cf/meta/llama-3.1-8b-instruct",
        json!({"prompt": "hi"}),
        json!({"result": {"response": "hi", "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}},
               "success": true, "errors": [], "messages": []}),
    )
    .await;
    // Cohere v1 (`meta.billed_units`) and v2 (`usage.billed_units`): what is billed.
    let cohere_v1 = send(
        "cohere/v1/chat",
        json!({"model": "command-r-08-2024", "message": "hi"}),
        json!({"text": "hi", "meta": {"billed_units": {"input_tokens": 1_000_000, "output_tokens": 0},
                                       "tokens": {"input_tokens": 1_000_100, "output_tokens": 2}}}),
    )
    .await;
    let cohere_v2 = send(
        "cohere/v2/chat",
        json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}]}),
        json!({"id": "x", "finish_reason": "COMPLETE",
               "usage": {"billed_units": {"input_tokens": 0, "output_tokens": 100_000},
                         "tokens": {"input_tokens": 50, "output_tokens": 100_000}}}),
    )
    .await;
    let replicate = send(
        "replicate/predictions",
        json!({"version": "v", "input": {"prompt": "hi"}}),
        json!({"id": "p", "model": "meta/meta-llama-3-70b-instruct", "status": "succeeded", "output": ["hi"],
               "metrics": {"input_token_count": 30, "output_token_count": 20, "predict_time": 1.2}}),
    )
    .await;
    // Azure OpenAI at OpenAI's list prices (gpt-4o-mini, $0.15 per million input tokens),
    // except where the config prices a model for Azure itself (gpt-4o here, $1).
    let million =
        json!({"prompt_tokens": 1_000_000, "completion_tokens": 0, "total_tokens": 1_000_000});
    let azure = send(
        "azure-openai/res/mini/chat/completions?api-version=2024-10-21",
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        answer_value("gpt-4o-mini-2024-07-18", million.clone()),
    )
    .await;
    let azure_own = send(
        "azure-openai/res/big/chat/completions?api-version=2024-10-21",
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        answer_value("gpt-4o-2024-08-06", million),
    )
    .await;
    for a in [
        &workers, &cohere_v1, &cohere_v2, &replicate, &azure, &azure_own,
    ] {
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }
    let rows = gw.wait_for_logs("gw", 6).await;
    let row = |a: &Answer| {
        rows.iter()
            .find(|r| r["id"] == a.log_id())
            .expect("row")
            .clone()
    };
    let r = row(&workers);
    assert_eq!(r["model"], "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(
        (r["tokens_in"].clone(), r["tokens_out"].clone()),
        (json!(1000), json!(500))
    );
    let r = row(&cohere_v1);
    assert_eq!(
        (r["tokens_in"].clone(), r["tokens_out"].clone()),
        (json!(1_000_000), json!(0))
    );
    assert!((r["cost"].as_f64().unwrap() - 0.15).abs() < 1e-9, "{r}");
    let r = row(&cohere_v2);
    assert_eq!(
        (r["tokens_in"].clone(), r["tokens_out"].clone()),
        (json!(0), json!(100_000))
    );
    assert!((r["cost"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{r}");
    let r = row(&replicate);
    assert_eq!(r["model"], "meta/meta-llama-3-70b-instruct");
    assert_eq!(
        (r["tokens_in"].clone(), r["tokens_out"].clone()),
        (json!(30), json!(20))
    );
    let r = row(&azure);
    assert!((r["cost"].as_f64().unwrap() - 0.15).abs() < 1e-9, "{r}");
    let r = row(&azure_own);
    assert!((r["cost"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{r}");
}

#[tokio::test]
async fn streams_are_logged_with_usage_ttft_and_the_body_as_received() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(3)
            .chunk_delay(Duration::from_millis(100)),
    );
    let s = stream(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        CHAT_STREAM,
    )
    .await;
    assert_eq!(s.status, 200);
    let rows = gw.wait_for_logs("gw", 1).await;
    let r = &rows[0];
    assert_eq!(r["tokens_out"], 3);
    assert!(r["tokens_in"].as_u64().unwrap() >= 1);
    assert!(r["cost"].as_f64().unwrap() > 0.0);
    let ttft = r["ttft"].as_u64().unwrap();
    let duration = r["duration"].as_u64().unwrap();
    assert!(
        duration >= 200 && ttft < duration,
        "ttft {ttft} duration {duration}"
    );
    let id = r["id"].as_str().unwrap();
    let body = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{id}/response")),
        &[],
        "",
    )
    .await;
    assert_eq!(body.body, s.text().into_bytes());
}

#[tokio::test]
async fn compressed_answers_pass_through_and_are_priced_and_stored_readable() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let plain = post(&url, &[AUTH], CHAT).await;
    assert_eq!(plain.status, 200);
    assert!(plain.headers.get("content-encoding").is_none());
    let reference = gw.wait_for_logs("gw", 1).await[0].clone();
    assert!(reference["tokens_out"].as_u64().unwrap() > 0, "{reference}");

    for (n, coding) in ["gzip", "deflate", "br", "zstd"].into_iter().enumerate() {
        fake.push_script(Script::new().encoding(coding));
        let a = post(&url, &[AUTH, ("accept-encoding", coding)], CHAT).await;
        assert_eq!(a.status, 200, "{coding}");
        // The client gets the provider's bytes untouched, still compressed.
        assert_eq!(a.headers.get("content-encoding").unwrap(), coding);
        assert!(serde_json::from_slice::<serde_json::Value>(&a.body).is_err());
        let log_id = a.log_id();

        let rows = gw.wait_for_logs("gw", n + 2).await;
        let r = rows.iter().find(|r| r["id"] == log_id).unwrap();
        for field in ["tokens_in", "tokens_out", "cost", "model"] {
            assert_eq!(r[field], reference[field], "{coding}: {field} in {r}");
        }
        assert_eq!(
            r["response_size"],
            a.body.len(),
            "{coding}: bytes on the wire"
        );
        // The stored answer is the decoded JSON.
        let stored = send(
            Method::GET,
            &gw.cp(&format!("/gateways/gw/logs/{log_id}/response")),
            &[],
            "",
        )
        .await;
        let stored = stored.json();
        assert_eq!(stored["object"], "chat.completion", "{coding}: {stored}");
        assert_eq!(stored["usage"], plain.json()["usage"], "{coding}");
    }
    // An encoding the client did not accept is never sent.
    fake.push_script(Script::new().encoding("br"));
    let a = post(&url, &[AUTH, ("accept-encoding", "gzip")], CHAT).await;
    assert!(a.headers.get("content-encoding").is_none());
    assert_eq!(a.json()["object"], "chat.completion");
}

#[tokio::test]
async fn a_compressed_answer_is_cached_decoded_so_every_client_can_read_the_hit() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    fake.push_script(
        Script::new()
            .encoding("br")
            .header("etag", "\"of-the-br-bytes\""),
    );
    let first = post(
        &url,
        &[AUTH, ("accept-encoding", "br"), ("cf-aig-cache-ttl", "60")],
        CHAT,
    )
    .await;
    assert_eq!(first.headers.get("content-encoding").unwrap(), "br");
    assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
    // The entry is put before the record is written (the writer does both).
    gw.wait_for_logs("gw", 1).await;
    // A client that accepts no br at all still gets a readable hit.
    let hit = post(&url, &[AUTH, ("cf-aig-cache-ttl", "60")], CHAT).await;
    assert_eq!(cache_status(&hit.headers).as_deref(), Some("HIT"));
    assert!(hit.headers.get("content-encoding").is_none());
    assert!(
        hit.headers.get("etag").is_none(),
        "it named the encoded bytes"
    );
    // The very answer the first client got (its id and all), decoded.
    let first_decoded =
        switchyard_providers::usage::decode(Some("br"), std::slice::from_ref(&first.body))
            .unwrap()
            .unwrap();
    assert_eq!(hit.body, first_decoded.body);
    assert_eq!(hit.json()["object"], "chat.completion");
}

#[tokio::test]
async fn a_cached_answer_is_there_for_the_same_request_right_after() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let headers = [AUTH, ("cf-aig-cache-ttl", "60")];
    // The second request follows the first answer at once, every time: the entry is put as
    // the answer's last bytes go out, not by the log writer some milliseconds later. Both a
    // JSON answer (its length known) and a stream (ended by its last chunk).
    for n in 0..5 {
        for body in [CHAT, CHAT_STREAM] {
            let body = body.replace("Hello", &format!("Hello {n}"));
            let first = post(&url, &headers, &body).await;
            assert_eq!(first.status, 200);
            assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
            let second = post(&url, &headers, &body).await;
            assert_eq!(
                cache_status(&second.headers).as_deref(),
                Some("HIT"),
                "try {n}, {}",
                &body[..40]
            );
            assert_eq!(second.body, first.body);
        }
    }
    assert_eq!(fake.requests().len(), 10);
}

#[tokio::test]
async fn a_cached_answer_does_not_wait_for_the_log_writer() {
    use sqlx::Connection;
    let fake = FakeProvider::start().await;
    let gw = Gateway::start_with_database(&fake, &postgres_url(), "").await;
    let account = unique_id("slowlog");
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    gw.wait_for_logs_in(&account, "gw", 1, Duration::from_secs(10))
        .await;
    // The database holds the writer up: the gateway's counter row, which every batch for it
    // locks, is held by another transaction.
    let mut db = sqlx::PgConnection::connect(&postgres_url()).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SELECT gkey FROM log_gateways WHERE account_id = $1 FOR UPDATE")
        .bind(&account)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    // Past the gathering window: the writer is stuck writing that record.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let headers = [AUTH, ("cf-aig-cache-ttl", "60")];
    let body = CHAT.replace("Hello", "Hello again");
    let first = post(&url, &headers, &body).await;
    assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
    let second = post(&url, &headers, &body).await;
    assert_eq!(cache_status(&second.headers).as_deref(), Some("HIT"));
    tx.rollback().await.unwrap();
    // Nothing was lost meanwhile.
    gw.wait_for_logs_in(&account, "gw", 4, Duration::from_secs(10))
        .await;
}

/// The body of a streamed grok chat through the gateway, frame by frame as it comes.
async fn grok_stream_body(gw: &Gateway) -> hyper::body::Incoming {
    client()
        .request(request(
            Method::POST,
            &format!("{}/grok/v1/chat/completions", gw.base()),
            &[AUTH],
            CHAT_STREAM,
        ))
        .await
        .unwrap()
        .into_body()
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_still_yields_a_cancelled_record() {
    use http_body_util::BodyExt;
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(
        Script::new()
            .chunks(50)
            .chunk_delay(Duration::from_millis(50)),
    );
    let mut body = grok_stream_body(&gw).await;
    body.frame().await.unwrap().unwrap();
    drop(body);
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["cancelled"], true);
    assert!(rows[0]["response_size"].as_u64().unwrap() > 0);
}

/// A client that closes once it has read `[DONE]`, while the provider keeps its body open,
/// had the whole answer: its record is complete, not cancelled.
#[tokio::test]
async fn a_client_that_leaves_after_the_closing_event_yields_a_complete_record() {
    use http_body_util::BodyExt;
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let answer = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"grok-4\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\ndata: [DONE]\n\n";
    // Sent in two equal halves 5 s apart: the answer, then a comment the client never waits for.
    let comment = format!(":{}\n\n", "x".repeat(answer.len() - 3));
    fake.push_script(
        Script::new()
            .body(format!("{answer}{comment}"))
            .stream(true)
            .chunks(2)
            .chunk_delay(Duration::from_secs(5)),
    );
    let started = std::time::Instant::now();
    let mut body = grok_stream_body(&gw).await;
    let mut got = Vec::new();
    while !got.ends_with(b"data: [DONE]\n\n") {
        let frame = body.frame().await.unwrap().unwrap();
        got.extend_from_slice(frame.data_ref().unwrap());
    }
    drop(body);
    let rows = gw.wait_for_logs("gw", 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the record waited for the provider"
    );
    assert_eq!(rows[0]["cancelled"], false, "{}", rows[0]);
    assert_eq!(rows[0]["success"], true, "{}", rows[0]);
    assert_eq!(rows[0]["tokens_out"], 2, "{}", rows[0]);
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_begins_still_yields_a_cancelled_record() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().delay(Duration::from_millis(1500)));
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let call = tokio::spawn(async move {
        client()
            .request(request(Method::POST, &url, &[AUTH], CHAT))
            .await
    });
    // The provider has the request; the client gives up before its answer starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.hits() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    call.abort();
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["cancelled"], true, "{}", rows[0]);
    assert_eq!(rows[0]["status_code"], 499, "{}", rows[0]);
    assert_eq!(rows[0]["success"], false);
    assert_eq!(rows[0]["provider"], "grok");
    assert!(rows[0]["duration"].as_u64().unwrap() < 1500, "{}", rows[0]);
}

#[tokio::test]
async fn a_client_that_leaves_in_the_pause_before_a_retry_yields_a_cancelled_record() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    fake.push_script(Script::new().status(500));
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let call = tokio::spawn(async move {
        client()
            .request(request(
                Method::POST,
                &url,
                &[
                    AUTH,
                    ("cf-aig-max-attempts", "3"),
                    ("cf-aig-retry-delay", "3000"),
                ],
                CHAT,
            ))
            .await
    });
    // The first attempt failed; the client gives up during the pause before the second.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.hits() == 0 {
        assert!(std::time::Instant::now() < deadline, "no first attempt");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    let rows = gw.wait_for_logs("gw", 2).await;
    assert_eq!(fake.hits(), 1, "no attempt after the client left");
    // Newest first: the abandoned second attempt, then the failed first one.
    assert_eq!(rows[0]["status_code"], 499, "{}", rows[0]);
    assert_eq!(rows[0]["cancelled"], true, "{}", rows[0]);
    assert_eq!(rows[0]["provider"], "grok", "{}", rows[0]);
    assert_eq!(rows[1]["status_code"], 500, "{}", rows[1]);
}

#[tokio::test]
async fn a_stream_that_reports_an_error_is_logged_unsuccessful() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n\
               event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    fake.push_script(Script::new().body(sse).stream(true));
    let a = post(
        &format!("{}/anthropic/v1/messages", gw.base()),
        &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
        r#"{"model":"claude-x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        String::from_utf8_lossy(&a.body).contains("overloaded_error"),
        "relayed as sent"
    );
    let rows = gw.wait_for_logs("gw", 1).await;
    let row = record_of(&rows, &a);
    assert_eq!(row["status_code"], 200, "{row}");
    assert_eq!(row["success"], false, "{row}");
    assert_eq!(row["tokens_in"], 7, "what was used still counts: {row}");
}

#[tokio::test]
async fn a_model_name_postgres_cannot_store_holds_up_no_record() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start_with_database(&fake, &postgres_url(), "").await;
    let account = format!("nul-{}", uuid::Uuid::now_v7().simple());
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    let odd = post(
        &url,
        &[AUTH],
        r#"{"model":"grok\u0000beta","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    let plain = post(&url, &[AUTH], CHAT).await;
    assert_eq!(plain.status, 200);
    let rows = gw
        .wait_for_logs_in(&account, "gw", 2, Duration::from_secs(10))
        .await;
    let stored = record_of(&rows, &odd);
    assert_eq!(stored["model"], "grok\u{fffd}beta", "{stored}");
    record_of(&rows, &plain);
}

#[tokio::test]
async fn metadata_event_id_and_custom_cost_are_recorded() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let a = gw
        .chat(&[
            AUTH,
            (
                "cf-aig-metadata",
                r#"{"user":"u1","n":3,"ok":true,"cf.secret":"x"}"#,
            ),
            ("cf-aig-event-id", "evt-42"),
            ("cf-aig-custom-cost", r#"{"total_cost":0.25}"#),
        ])
        .await;
    assert_eq!(a.headers.get("cf-aig-event-id").unwrap(), "evt-42");
    let rows = gw.wait_for_logs("gw", 1).await;
    let r = &rows[0];
    assert_eq!(r["event_id"], "evt-42");
    assert_eq!(r["custom_cost"], true);
    assert_eq!(r["cost"], 0.25);
    let meta: serde_json::Value =
        serde_json::from_str(r["metadata"].as_str().expect("metadata is a JSON string")).unwrap();
    assert_eq!(meta, json!({"user":"u1","n":3,"ok":true}));

    // A failed request costs nothing, custom cost or not.
    fake.push_script(Script::new().status(500));
    let a = gw
        .chat(&[AUTH, ("cf-aig-custom-cost", r#"{"total_cost":0.25}"#)])
        .await;
    assert_eq!(a.status, 500);
    let log_id = a.log_id();
    let rows = gw.wait_for_logs("gw", 2).await;
    let r = rows.iter().find(|r| r["id"] == log_id).unwrap();
    assert_eq!(r["success"], false);
    assert_eq!(r["cost"], 0.0);
    assert_eq!(r["custom_cost"], false);

    // A stream that failed after its usage was reported is billed by the provider: at the
    // custom prices when they were sent, never at the table's.
    let failed_stream = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"grok-beta\",",
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],",
        "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500}}\n\n",
        "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
    );
    for (i, (custom, cost)) in [
        (r#"{"total_cost":0.25}"#, 0.25),
        (r#"{"per_token_in":0,"per_token_out":0}"#, 0.0),
        (
            r#"{"per_token_in":0.000001,"per_token_out":0.000002}"#,
            0.002,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        fake.push_script(
            Script::new()
                .header("content-type", "text/event-stream")
                .body(failed_stream),
        );
        let a = gw.chat(&[AUTH, ("cf-aig-custom-cost", custom)]).await;
        assert_eq!(a.status, 200);
        let log_id = a.log_id();
        let rows = gw.wait_for_logs("gw", 3 + i).await;
        let r = rows.iter().find(|r| r["id"] == log_id).expect("stored");
        assert_eq!(r["success"], false, "{r}");
        assert_eq!(r["tokens_in"], 1000, "{r}");
        assert_eq!(r["custom_cost"], true, "{custom}: {r}");
        let got = r["cost"].as_f64().expect("cost");
        assert!((got - cost).abs() < 1e-12, "{custom}: {r}");
    }
}

#[tokio::test]
async fn collect_log_headers_control_the_row_and_its_payload() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let skipped = post(&url, &[AUTH, ("cf-aig-collect-log", "false")], CHAT).await;
    assert_eq!(skipped.status, 200);
    assert!(
        skipped.headers.get("cf-aig-log-id").is_some(),
        "the id is sent even without a row"
    );
    let bare = post(&url, &[AUTH, ("cf-aig-collect-log-payload", "false")], CHAT).await;
    let rows = gw.wait_for_logs("gw", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows_after = gw.wait_for_logs("gw", 1).await;
    assert_eq!(
        rows_after.len(),
        1,
        "collect-log false stored a row: {rows:?}"
    );
    let id = bare.log_id();
    assert_eq!(rows_after[0]["id"], id);
    assert!(
        rows_after[0]["tokens_in"].as_u64().is_some(),
        "usage kept without payload"
    );
    let req = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{id}/request")),
        &[],
        "",
    )
    .await;
    assert_eq!(req.status, 404, "no body stored");

    // Analytics count both requests: an uncollected log is still traffic.
    let analytics = send(
        Method::GET,
        &gw.cp("/gateways/gw/analytics?bucket=minute"),
        &[],
        "",
    )
    .await;
    assert_eq!(analytics.status, 200);
    let buckets = analytics.json()["result"].as_array().unwrap().clone();
    let sum = |f: &str| -> u64 { buckets.iter().map(|b| b[f].as_u64().unwrap()).sum() };
    assert_eq!(sum("requests"), 2, "{buckets:?}");
    assert_eq!(
        sum("tokens_in"),
        2 * rows_after[0]["tokens_in"].as_u64().unwrap(),
        "{buckets:?}"
    );

    let bad = post(&url, &[AUTH, ("cf-aig-collect-log", "maybe")], CHAT).await;
    bad.assert_gateway_error(400, 2000);
    assert!(bad.json()["error"][0]["message"]
        .as_str()
        .unwrap()
        .contains("cf-aig-collect-log"));
}

#[tokio::test]
async fn stored_request_headers_are_redacted() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let secret = "xai-do-not-store-me";
    let a = gw
        .chat(&[
            ("authorization", &format!("Bearer {secret}")),
            ("x-api-key", secret),
            ("x-trace", "t1"),
        ])
        .await;
    assert_eq!(a.status, 200);
    gw.wait_for_logs("gw", 1).await;
    let db = std::fs::read(gw.dir.path().join("switchyard.db")).unwrap_or_default();
    let wal = std::fs::read(gw.dir.path().join("switchyard.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(
        !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "a credential reached the database"
    );
    assert!(hay.windows(2).any(|w| w == b"t1"));
}

#[tokio::test]
async fn gateway_errors_after_resolution_are_logged_too() {
    let port = closed_port();
    let gw = Gateway::start_raw(&format!(
        "[providers.grok]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
    ))
    .await;
    let a = gw.chat(&[AUTH]).await;
    a.assert_gateway_error(502, 2005);
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["status_code"], 502);
    assert_eq!(rows[0]["success"], false);
    assert_eq!(rows[0]["id"], a.log_id());
}

#[tokio::test]
async fn log_management_caps_rows_per_gateway() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        "[[gateways]]\naccount_id = \"acct\"\nid = \"stop\"\nlog_management = 2\nlog_management_strategy = \"STOP_INSERTING\"\n\n[[gateways]]\naccount_id = \"acct\"\nid = \"roll\"\nlog_management = 2\nlog_management_strategy = \"DELETE_OLDEST\"\n",
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        post(
            &format!("{}/v1/acct/stop/grok/v1/chat/completions", gw.url),
            &[AUTH],
            CHAT,
        )
        .await;
        let a = post(
            &format!("{}/v1/acct/roll/grok/v1/chat/completions", gw.url),
            &[AUTH],
            CHAT,
        )
        .await;
        ids.push(a.log_id().to_owned());
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = gw.wait_for_logs("stop", 2).await;
    assert_eq!(stop.len(), 2);
    let roll = gw.wait_for_logs("roll", 2).await;
    let kept: Vec<&str> = roll.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        kept,
        vec![ids[3].as_str(), ids[2].as_str()],
        "the newest two remain"
    );
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_on_shutdown() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, "").await;
    let n = 200;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = format!("{}/grok/v1/chat/completions", gw.base());
        tasks.push(tokio::spawn(async move {
            post(&url, &[AUTH], CHAT).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    gw.terminate();
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).await, Some(0));
    // Reopen the same database: every record is there.
    let db = gw.dir.path().join("switchyard.db");
    let again = Gateway::start(&fake, &format!("database = \"sqlite://{}\"", db.display())).await;
    let a = send(
        Method::GET,
        &again.cp("/gateways/gw/logs?per_page=1"),
        &[],
        "",
    )
    .await;
    assert_eq!(a.json()["result_info"]["total_count"], n);
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_the_log_queue() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    gw.chat(&[AUTH]).await;
    gw.wait_for_logs("gw", 1).await;
    let m = send(Method::GET, &format!("{}/metrics", gw.url), &[], "").await;
    assert_eq!(m.status, 200);
    let text = String::from_utf8_lossy(&m.body).into_owned();
    for needle in [
        "switchyard_requests_total{account=\"acct\",gateway=\"gw\",provider=\"grok\",status=\"200\"} 1",
        "switchyard_tokens_total{provider=\"grok\",model=\"grok-beta\",direction=\"in\"}",
        "switchyard_cost_usd_total{provider=\"grok\",model=\"grok-beta\"}",
        "switchyard_log_queue_depth",
        "switchyard_log_records_dropped_total 0",
        "switchyard_log_records_written_total 1",
        "switchyard_time_to_first_byte_seconds_bucket",
        // Classic Prometheus text: a counter family is named as its samples are.
        "# TYPE switchyard_requests_total counter",
        "# TYPE switchyard_upstream_duration_seconds histogram",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(!text.contains("# EOF") && !text.contains("# TYPE switchyard_requests counter"));
    assert!(m.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    // A scraper that asks for OpenMetrics gets it.
    let om = send(
        Method::GET,
        &format!("{}/metrics", gw.url),
        &[("accept", "application/openmetrics-text; version=1.0.0")],
        "",
    )
    .await;
    let om_text = String::from_utf8_lossy(&om.body).into_owned();
    assert!(om_text.contains("# TYPE switchyard_requests counter") && om_text.ends_with("# EOF\n"));
    assert!(om.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));

    // A cache hit counts as a request, not as upstream time.
    let upstream_count = |text: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("switchyard_upstream_duration_seconds_count{provider=\"grok\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = upstream_count(&text);
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let cached = [AUTH, ("cf-aig-cache-ttl", "60")];
    post(&url, &cached, CHAT).await;
    gw.wait_for_logs("gw", 2).await;
    let hit = post(&url, &cached, CHAT).await;
    assert_eq!(cache_status(&hit.headers).as_deref(), Some("HIT"));
    gw.wait_for_logs("gw", 3).await;
    let text = String::from_utf8_lossy(
        &send(Method::GET, &format!("{}/metrics", gw.url), &[], "")
            .await
            .body,
    )
    .into_owned();
    assert_eq!(upstream_count(&text), before + 1, "{text}");
    assert!(text
        .contains("switchyard_requests_total{account=\"acct\",gateway=\"gw\",provider=\"grok\",status=\"200\"} 3"));
}

#[tokio::test]
async fn requests_refused_after_the_gateway_is_known_are_counted_under_it() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, ONE_PER_MINUTE).await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 429);
    // Scraped at once: a scrape counts every request answered before it.
    let want = "switchyard_requests_total{account=\"acct\",gateway=\"gw\",provider=\"grok\",status=\"429\"} 1";
    let m = send(Method::GET, &format!("{}/metrics", gw.url), &[], "").await;
    let text = String::from_utf8_lossy(&m.body).into_owned();
    assert!(text.contains(want), "missing {want} in\n{text}");
    // The refusal never reached the provider: only the first request is upstream time.
    assert!(
        text.contains("switchyard_upstream_duration_seconds_count{provider=\"grok\"} 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn rate_limited_and_unknown_alias_refusals_are_logged_but_unauthenticated_ones_are_not() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        &format!(
            "{ONE_PER_MINUTE}[[gateways]]\naccount_id = \"acct\"\nid = \"locked\"\nauthentication = true\n"
        ),
    )
    .await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    assert_eq!(post(&url, &[AUTH], CHAT).await.status, 200);
    let limited = post(&url, &[AUTH], CHAT).await;
    limited.assert_gateway_error(429, 2003);
    let alias = post(&url, &[("cf-aig-byok-alias", "nope")], CHAT).await;
    alias.assert_gateway_error(400, 2040);
    let rows = gw.wait_for_logs("gw", 3).await;
    assert_eq!(
        fake.requests().len(),
        1,
        "only the first reached the provider"
    );
    for (resp, status) in [(&limited, 429), (&alias, 400)] {
        let r = record_of(&rows, resp);
        assert_eq!(r["status_code"], status);
        assert_eq!(r["success"], false);
        assert_eq!(r["provider"], "grok");
        assert_eq!(r["model"], "grok-beta");
        assert_eq!(r["cost"], 0.0);
        assert!(r["tokens_in"].is_null());
    }
    let id = limited.log_id();
    let body = send(
        Method::GET,
        &gw.cp(&format!("/gateways/gw/logs/{id}/response")),
        &[],
        "",
    )
    .await;
    assert_eq!(body.status, 200);
    assert!(String::from_utf8_lossy(&body.body).contains("2003"));

    // Without a valid gateway token nothing is written: anyone could fill the log.
    let locked = format!("{}/v1/acct/locked/grok/v1/chat/completions", gw.url);
    post(&locked, &[AUTH], CHAT)
        .await
        .assert_gateway_error(401, 2009);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = send(Method::GET, &gw.cp("/gateways/locked/logs"), &[], "").await;
    assert_eq!(
        list.json()["result_info"]["total_count"],
        0,
        "{:?}",
        list.json()
    );
}

#[tokio::test]
async fn universal_refusals_are_logged_under_the_step_and_its_own_headers() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, ONE_PER_MINUTE).await;
    let steps = |second_alias: Option<&str>| {
        let mut second = json!({"cf-aig-event-id":"second-ev","authorization":"Bearer k2"});
        if let Some(alias) = second_alias {
            second["cf-aig-byok-alias"] = json!(alias);
        }
        json!([
            {"provider":"grok","endpoint":"v1/chat/completions",
             "headers":{"authorization":"Bearer k1","cf-aig-event-id":"step-ev","cf-aig-metadata":"{\"st\":1}"},
             "query":{"model":"grok-4","messages":[{"role":"user","content":"Hi"}]}},
            {"provider":"grok","endpoint":"v1/chat/completions","headers":second,
             "query":{"model":"grok-3","messages":[{"role":"user","content":"Hi"}]}}
        ])
        .to_string()
    };
    let ev = ("cf-aig-event-id", "req-ev");
    // An unknown alias on step 1: refused as step 1, with step 1's own event id.
    let alias = post(&gw.base(), &[ev], &steps(Some("nope"))).await;
    alias.assert_gateway_error(400, 2040);
    assert_eq!(alias.headers.get("cf-aig-step").unwrap(), "1");
    assert_eq!(alias.headers.get("cf-aig-event-id").unwrap(), "second-ev");
    // The first request uses the limit; the second is refused as step 0.
    assert_eq!(post(&gw.base(), &[ev], &steps(None)).await.status, 200);
    let limited = post(&gw.base(), &[ev], &steps(None)).await;
    limited.assert_gateway_error(429, 2003);
    assert_eq!(limited.headers.get("cf-aig-step").unwrap(), "0");
    assert_eq!(limited.headers.get("cf-aig-event-id").unwrap(), "step-ev");

    let rows = gw.wait_for_logs("gw", 3).await;
    let r = record_of(&rows, &alias);
    assert_eq!(
        (r["step"].clone(), r["event_id"].clone()),
        (json!(1), json!("second-ev"))
    );
    assert_eq!(r["model"], "grok-3");
    let r = record_of(&rows, &limited);
    assert_eq!(
        (r["step"].clone(), r["event_id"].clone()),
        (json!(0), json!("step-ev"))
    );
    assert_eq!(r["metadata"], "{\"st\":1}");
    assert_eq!(r["model"], "grok-4");
}

#[tokio::test]
async fn a_refused_json_body_names_its_model_whatever_its_content_type() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let url = format!("{}/grok/v1/chat/completions", gw.base());
    let a = post(
        &url,
        &[
            AUTH,
            ("content-type", "application/x-www-form-urlencoded"),
            ("cf-aig-byok-alias", "nope"),
        ],
        CHAT,
    )
    .await;
    a.assert_gateway_error(400, 2040);
    let rows = gw.wait_for_logs("gw", 1).await;
    assert_eq!(rows[0]["model"], "grok-beta", "{rows:?}");
}

/// A Gemini answer that names no model (or one the price table does not know) is priced, and
/// logged, by the model its request path names; a cached-token count above the input is not
/// believed beyond it.
#[tokio::test]
async fn gemini_answers_are_priced_by_the_model_in_the_path() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":300,"cachedContentTokenCount":4000,"totalTokenCount":1300}}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(answer.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        &format!("[providers.google-ai-studio]\nbase_url = \"http://127.0.0.1:{port}\""),
    )
    .await;
    let a = post(
        &format!(
            "{}/v1/acct/gem/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent",
            gw.url
        ),
        &[
            ("x-goog-api-key", "k"),
            ("content-type", "application/json"),
        ],
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let rows = gw
        .wait_for_logs_in("acct", "gem", 1, Duration::from_secs(5))
        .await;
    let row = &rows[0];
    assert_eq!(row["model"], "gemini-2.5-flash");
    assert_eq!(row["tokens_in"], 1000);
    assert_eq!(row["cached_tokens_in"], 1000, "capped at the input: {row}");
    // gemini-2.5-flash: 1,000 cached input at $0.03 and 300 output at $2.50 per million.
    let cost = row["cost"].as_f64().unwrap_or(0.0);
    assert!(
        (cost - 0.00078).abs() < 1e-12,
        "priced by the path's model: {row}"
    );
}

/// A compressed answer larger than the stored 10 MB (a big embeddings batch, asked for with
/// `Accept-Encoding: gzip` as the SDKs do) still yields its usage, which comes at its end.
#[tokio::test]
async fn usage_at_the_end_of_a_large_compressed_answer_is_read() {
    use std::io::Write;
    let vector = "A".repeat(12 * 1024 * 1024);
    let json = format!(
        r#"{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":"{vector}"}}],"model":"text-embedding-3-small","usage":{{"prompt_tokens":7,"total_tokens":7}}}}"#
    );
    // Stored blocks: as large compressed as plain, and cheap to make.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(json.as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    assert!(body.len() > 10 * 1024 * 1024);
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    let (upstream, hits) = canned_upstream(answer, "/v1/embeddings").await;
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        &format!("[providers.custom-big]\nbase_url = \"{upstream}\"\n"),
    )
    .await;
    let a = post(
        &format!("{}/custom-big/v1/embeddings", gw.base()),
        &[AUTH, ("accept-encoding", "gzip")],
        r#"{"model":"text-embedding-3-small","input":"hello"}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body.len(), body.len(), "relayed as it came");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let rows = gw.wait_for_logs("gw", 1).await;
    let r = record_of(&rows, &a);
    assert_eq!(r["tokens_in"], 7, "{r}");
    assert_eq!(r["response_size"], body.len(), "{r}");
}

/// An Anthropic stream whose body ends cleanly but without `message_stop` was cut short: the
/// record says it failed, and it is not cached as an answer.
#[tokio::test]
async fn a_stream_ended_without_its_closing_event_is_logged_failed_and_not_cached() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let start = r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":12,"output_tokens":1}}}"#;
    let delta =
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#;
    let cut = format!(
        "event: message_start\ndata: {start}\n\nevent: content_block_delta\ndata: {delta}\n\n"
    );
    let url = format!("{}/anthropic/v1/messages", gw.base());
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let headers = [("x-api-key", "k"), ("cf-aig-cache-ttl", "60")];
    for _ in 0..2 {
        fake.push_script(
            Script::new()
                .header("content-type", "text/event-stream")
                .body(cut.clone()),
        );
    }
    let first = post(&url, &headers, body).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&first.body),
        cut,
        "relayed as it came"
    );
    let rows = gw.wait_for_logs("gw", 1).await;
    let r = record_of(&rows, &first);
    assert_eq!(r["success"], false, "{r}");
    assert_eq!(r["cancelled"], false, "{r}");
    assert_eq!(r["tokens_in"], 12, "usage so far is kept: {r}");
    let again = post(&url, &headers, body).await;
    assert_eq!(cache_status(&again.headers).as_deref(), Some("MISS"));
    assert_eq!(fake.hits(), 2, "the cut stream was not cached");
}

/// A model name longer than any model's (from a client's body) is cut to 256 bytes in its
/// record and its metrics label, at a character boundary.
#[tokio::test]
async fn an_overlong_model_name_is_cut_in_the_record_and_the_metrics() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let model = format!("é{}", "a-".repeat(50_000));
    let body = json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]});
    let a = post(
        &format!("{}/grok/v1/chat/completions", gw.base()),
        &[AUTH],
        &body.to_string(),
    )
    .await;
    assert_eq!(a.status, 200);
    let rows = gw.wait_for_logs("gw", 1).await;
    let stored = record_of(&rows, &a)["model"].as_str().unwrap().to_owned();
    assert!(
        stored.len() <= 256 && stored.len() >= 253,
        "{}",
        stored.len()
    );
    assert!(model.starts_with(&stored));
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.lines().all(|l| l.len() < 1024),
        "no label holds the whole name"
    );
}

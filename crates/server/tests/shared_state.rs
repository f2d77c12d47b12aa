//! Gateway rate limits and the response cache in one process (SPEC 2.4–2.6, 5, 6), run
//! against both backends (in memory, the default, and Redis), and what happens when Redis or
//! PostgreSQL go away while the gateway runs.
//!
//! Every test uses its own account and gateway ids (random suffix): Redis keys and
//! PostgreSQL rows outlive a run, and the tests run in parallel. The tests that need Redis
//! or PostgreSQL fail when `SWITCHYARD_TEST_REDIS` / `SWITCHYARD_TEST_POSTGRES` are unset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::json;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// Harness for this file
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Memory,
    Redis,
}

impl Backend {
    /// Top-level config lines selecting the backend.
    fn config(self) -> String {
        match self {
            Backend::Memory => String::new(),
            Backend::Redis => format!("redis = \"{}\"\n", redis_url()),
        }
    }
}

/// One fake provider, one gateway process, one fresh account with a default gateway.
struct Setup {
    fake: FakeProvider,
    gw: Gateway,
    account: String,
    gateway: String,
}

/// A `[[gateways]]` table for `account/gateway` with `fields` (TOML lines).
fn gateway_table(account: &str, gateway: &str, fields: &str) -> String {
    format!("\n[[gateways]]\naccount_id = \"{account}\"\nid = \"{gateway}\"\n{fields}\n")
}

impl Setup {
    /// `top` holds extra top-level keys; `fields` the default gateway's settings.
    async fn start(backend: Backend, top: &str, fields: &str) -> Setup {
        let account = unique_id("acct");
        let gateway = "gw".to_owned();
        Self::start_with(
            backend,
            top,
            &gateway_table(&account, &gateway, fields),
            account,
        )
        .await
    }

    /// Like [`Setup::start`] but with the whole `[[gateways]]` text given (use `{A}` for the
    /// account id).
    async fn start_with(backend: Backend, top: &str, tables: &str, account: String) -> Setup {
        let fake = FakeProvider::start().await;
        let tables = tables.replace("{A}", &account);
        let gw = Gateway::start(&fake, &format!("{}{top}\n{tables}", backend.config())).await;
        Setup {
            fake,
            gw,
            account,
            gateway: "gw".into(),
        }
    }

    fn chat_url(&self) -> String {
        self.chat_url_on(&self.account, &self.gateway)
    }

    fn chat_url_on(&self, account: &str, gateway: &str) -> String {
        format!(
            "{}/grok/v1/chat/completions",
            self.gw.base_for(account, gateway)
        )
    }

    fn cp(&self, path: &str) -> String {
        self.gw.cp_for(&self.account, path)
    }

    /// POSTs a chat body to the default gateway.
    async fn chat(&self, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut h = vec![AUTH];
        h.extend_from_slice(headers);
        post(&self.chat_url(), &h, body).await
    }

    /// Waits until the answer's log row exists, then a little longer: the cache entry is
    /// stored by the same log-writer batch, off the response path.
    async fn stored(&self, a: &Answer) {
        self.stored_in(&self.account.clone(), &self.gateway.clone(), a)
            .await
    }

    /// [`Setup::stored`] for an answer known by its headers (a stream); returns its row.
    async fn stored_by_headers(&self, h: &http::HeaderMap) -> serde_json::Value {
        let id = h.get("cf-aig-log-id").expect("a log id").to_str().unwrap();
        let row = wait_for_log_id(
            &self.gw,
            &self.account,
            &self.gateway,
            id,
            Duration::from_secs(5),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        row
    }

    async fn stored_in(&self, account: &str, gateway: &str, a: &Answer) {
        wait_for_log_id(
            &self.gw,
            account,
            gateway,
            &log_id(a),
            Duration::from_secs(5),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// A chat body that differs by `tag` (so it has its own cache key).
fn chat(tag: &str) -> String {
    format!(r#"{{"model":"grok-beta","messages":[{{"role":"user","content":"Hello {tag}"}}]}}"#)
}

fn chat_stream(tag: &str) -> String {
    format!(
        r#"{{"model":"grok-beta","messages":[{{"role":"user","content":"Hello {tag}"}}],"stream":true,"stream_options":{{"include_usage":true}}}}"#
    )
}

fn log_id(a: &Answer) -> String {
    a.headers
        .get("cf-aig-log-id")
        .expect("every answer has cf-aig-log-id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn body_text(a: &Answer) -> String {
    String::from_utf8_lossy(&a.body).into_owned()
}

/// Polls the logs until the row with `id` exists; returns it.
async fn wait_for_log_id(
    gw: &Gateway,
    account: &str,
    gateway: &str,
    id: &str,
    within: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(rows) = gw.logs_in(account, gateway).await {
            if let Some(r) = rows.iter().find(|r| r["id"] == id) {
                return r.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "log row {id} of {account}/{gateway} not written within {within:?}; stderr:\n{}",
            gw.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts a 200 answered from the cache: `cf-aig-cache-status: HIT` and `expected`'s body.
fn assert_hit(a: &Answer, expected: &Answer) {
    assert_eq!(a.status, 200, "{}", body_text(a));
    assert_eq!(
        cache_status(&a.headers).as_deref(),
        Some("HIT"),
        "expected a cache HIT; headers {:?}",
        a.headers
    );
    assert_eq!(
        a.body, expected.body,
        "a HIT must replay the stored answer byte for byte"
    );
    assert_eq!(
        a.headers.get("content-type"),
        expected.headers.get("content-type")
    );
    assert_ne!(
        log_id(a),
        log_id(expected),
        "a HIT is its own request with its own log id"
    );
}

/// Asserts a fresh 200 from the provider marked `MISS`.
fn assert_miss(a: &Answer) {
    assert_eq!(a.status, 200, "{}", body_text(a));
    assert_eq!(
        cache_status(&a.headers).as_deref(),
        Some("MISS"),
        "expected a cache MISS; headers {:?}",
        a.headers
    );
}

/// `Retry-After` of a refusal: an integer number of seconds, at least 1, at most `max`.
fn retry_after(a: &Answer, max: u64) -> u64 {
    let v = a
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("a 429 needs Retry-After; headers {:?}", a.headers))
        .to_str()
        .unwrap();
    let secs: u64 = v
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After must be integer seconds, got {v:?}"));
    assert!(
        (1..=max).contains(&secs),
        "Retry-After {secs} not in 1..={max}"
    );
    secs
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Windows start at multiples of the interval since the epoch: when fewer than `margin`
/// remain in the current window, wait for the next one, so a burst never straddles two.
async fn clear_of_window_edge(interval: Duration, margin: Duration) {
    let w = interval.as_millis() as u64;
    let left = w - now_ms() % w;
    if left < margin.as_millis() as u64 {
        tokio::time::sleep(Duration::from_millis(left + 30)).await;
    }
}

/// Waits until just after the next window of `interval` starts.
async fn at_window_start(interval: Duration) {
    let w = interval.as_millis() as u64;
    let left = w - now_ms() % w;
    tokio::time::sleep(Duration::from_millis(left + 30)).await;
}

// ---------------------------------------------------------------------------------------
// Both backends run the same scenarios
// ---------------------------------------------------------------------------------------

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Redis).await
                }
            )*
        }
    };
}

on_both_backends!(
    rate_limit_from_config_refuses_with_2003_and_retry_after,
    rate_limit_set_through_the_control_plane_sliding,
    a_gateway_created_again_under_the_same_id_starts_with_its_limit_unused,
    a_sliding_limit_admits_again_as_each_request_leaves_the_interval,
    fixed_window_reopens_when_the_next_window_starts,
    cache_hits_are_not_counted_against_the_rate_limit,
    gateway_cache_ttl_answers_repeats_from_the_cache,
    cache_key_covers_account_gateway_provider_method_path_key_and_body,
    cache_ttl_header_opts_in_and_zero_opts_out,
    skip_cache_skips_the_read_only,
    legacy_cache_headers_are_honoured,
    named_cache_key_replaces_the_request_in_the_key,
    only_whole_answers_are_stored,
    streams_that_fail_after_their_200_are_not_stored,
    streams_are_cached_when_complete_and_replayed_event_for_event,
    cache_hits_are_logged_as_cached_with_cost_zero,
    cache_invalidate_on_update_clears_entries_on_a_settings_change,
    entries_expire_after_their_ttl,
    universal_steps_are_cached_each_under_its_own_step,
);

// ---------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------

async fn rate_limit_from_config_refuses_with_2003_and_retry_after(b: Backend) {
    let interval = Duration::from_secs(3600);
    let s = Setup::start(
        b,
        "",
        "rate_limiting_limit = 3\nrate_limiting_interval = 3600\nrate_limiting_technique = \"fixed\"",
    )
    .await;
    clear_of_window_edge(interval, Duration::from_secs(10)).await;
    for i in 0..3 {
        let a = s.chat(&[], &chat(&format!("rl{i}"))).await;
        assert_eq!(a.status, 200, "request {i}: {}", body_text(&a));
    }
    assert_eq!(s.fake.hits(), 3);
    for i in 3..5 {
        let a = s.chat(&[], &chat(&format!("rl{i}"))).await;
        a.assert_gateway_error(429, 2003);
        retry_after(&a, 3600);
        assert!(
            a.headers.get("cf-aig-log-id").is_some(),
            "gateway errors carry the ids too"
        );
        // A wait the SDKs would not honour: they are told not to retry at once.
        assert_eq!(a.headers.get("x-should-retry").unwrap(), "false");
    }
    assert_eq!(
        s.fake.hits(),
        3,
        "a refused request must not reach the provider"
    );

    // Another gateway of the same account has its own (unlimited) budget.
    let other = post(&s.chat_url_on(&s.account, "other"), &[AUTH], CHAT).await;
    assert_eq!(other.status, 200);
    assert_eq!(s.fake.hits(), 4);
}

/// A sliding limit counts the requests of the last interval exactly: once the first of two
/// leaves it, one more is admitted, not two, wherever the fixed windows fall.
async fn a_sliding_limit_admits_again_as_each_request_leaves_the_interval(b: Backend) {
    let s = Setup::start(b, "", "").await;
    let g = unique_id("sl");
    let created = cp_send(
        Method::POST,
        &s.cp("/gateways"),
        json!({"id": g, "rate_limiting_limit": 2, "rate_limiting_interval": 2,
               "rate_limiting_technique": "sliding"}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", body_text(&created));
    let url = s.chat_url_on(&s.account, &g);
    let started = std::time::Instant::now();
    assert_eq!(post(&url, &[AUTH], &chat("a")).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(post(&url, &[AUTH], &chat("b")).await.status, 200);
    let full = post(&url, &[AUTH], &chat("c")).await;
    full.assert_gateway_error(429, 2003);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "too slow to tell"
    );
    // Until "a" leaves, at 2 s.
    assert_eq!(retry_after(&full, 2), 1);
    assert!(
        full.headers.get("x-should-retry").is_none(),
        "a short wait is the SDKs' to honour"
    );
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(started.elapsed())).await;
    assert_eq!(post(&url, &[AUTH], &chat("d")).await.status, 200);
    post(&url, &[AUTH], &chat("e"))
        .await
        .assert_gateway_error(429, 2003);
    assert!(
        started.elapsed() < Duration::from_millis(3200),
        "too slow to tell: \"b\" may have left"
    );
    assert_eq!(s.fake.hits(), 3);
}

/// A deleted gateway takes its rate-limit counts with it: created again under the same id, it
/// starts with its whole limit, as it starts with no logs and no cache.
async fn a_gateway_created_again_under_the_same_id_starts_with_its_limit_unused(b: Backend) {
    let s = Setup::start(b, "", "").await;
    let g = unique_id("again");
    let settings = json!({"id": g, "rate_limiting_limit": 1, "rate_limiting_interval": 3600,
        "rate_limiting_technique": "fixed"});
    let url = s.chat_url_on(&s.account, &g);
    clear_of_window_edge(Duration::from_secs(3600), Duration::from_secs(10)).await;
    for round in 0..2 {
        let created = cp_send(Method::POST, &s.cp("/gateways"), settings.clone()).await;
        assert_eq!(created.status, 200, "{}", body_text(&created));
        let a = post(&url, &[AUTH], &chat(&format!("again{round}"))).await;
        assert_eq!(a.status, 200, "round {round}: {}", body_text(&a));
        post(&url, &[AUTH], &chat(&format!("over{round}")))
            .await
            .assert_gateway_error(429, 2003);
        let deleted = cp_send(
            Method::DELETE,
            &s.cp(&format!("/gateways/{g}")),
            json!(null),
        )
        .await;
        assert_eq!(deleted.status, 200);
        // Creation times are to the microsecond; two within one would share their counts.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn rate_limit_set_through_the_control_plane_sliding(b: Backend) {
    let s = Setup::start(b, "", "").await;
    let g = unique_id("cp");
    let created = cp_send(Method::POST, &s.cp("/gateways"), json!({ "id": g })).await;
    assert_eq!(created.status, 200, "{}", body_text(&created));
    let put = cp_send(
        Method::PUT,
        &s.cp(&format!("/gateways/{g}")),
        json!({"rate_limiting_limit": 2, "rate_limiting_interval": 3600, "rate_limiting_technique": "sliding"}),
    )
    .await;
    assert_eq!(put.status, 200, "{}", body_text(&put));
    assert_eq!(put.json()["result"]["rate_limiting_limit"], 2);
    assert_eq!(put.json()["result"]["rate_limiting_technique"], "sliding");

    clear_of_window_edge(Duration::from_secs(3600), Duration::from_secs(10)).await;
    let url = s.chat_url_on(&s.account, &g);
    for i in 0..2 {
        let a = post(&url, &[AUTH], &chat(&format!("s{i}"))).await;
        assert_eq!(a.status, 200, "request {i}: {}", body_text(&a));
    }
    let a = post(&url, &[AUTH], &chat("s2")).await;
    a.assert_gateway_error(429, 2003);
    // Full: the wait is until the first of the two leaves the hour.
    let wait = retry_after(&a, 3600);
    assert!((3590..=3600).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        s.fake.hits(),
        2,
        "only the admitted requests reach the provider"
    );

    // Turning the limit off through the control plane lets requests through at once.
    let off = cp_send(
        Method::PUT,
        &s.cp(&format!("/gateways/{g}")),
        json!({"rate_limiting_limit": 0}),
    )
    .await;
    assert_eq!(off.status, 200);
    let a = post(&url, &[AUTH], &chat("s3")).await;
    assert_eq!(a.status, 200, "{}", body_text(&a));
    assert_eq!(s.fake.hits(), 3);
}

async fn fixed_window_reopens_when_the_next_window_starts(b: Backend) {
    let s = Setup::start(
        b,
        "",
        "rate_limiting_limit = 2\nrate_limiting_interval = 1\nrate_limiting_technique = \"fixed\"",
    )
    .await;
    // A cold first request (connections, gateway look-up) outside the measured window, on
    // a gateway without a limit.
    let warm = post(&s.chat_url_on(&s.account, "warm"), &[AUTH], CHAT).await;
    assert_eq!(warm.status, 200);
    at_window_start(Duration::from_secs(1)).await;
    let started = Instant::now();
    for i in 0..2 {
        let a = s.chat(&[], &chat(&format!("w{i}"))).await;
        assert_eq!(a.status, 200, "{}", body_text(&a));
    }
    let refused = s.chat(&[], &chat("w2")).await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the burst took {:?}, longer than the 1 s window",
        started.elapsed()
    );
    refused.assert_gateway_error(429, 2003);
    assert_eq!(retry_after(&refused, 1), 1);
    assert_eq!(s.fake.hits(), 3);
    at_window_start(Duration::from_secs(1)).await;
    let a = s.chat(&[], &chat("w3")).await;
    assert_eq!(
        a.status,
        200,
        "the next window admits again: {}",
        body_text(&a)
    );
    assert_eq!(s.fake.hits(), 4);
}

async fn cache_hits_are_not_counted_against_the_rate_limit(b: Backend) {
    let s = Setup::start(
        b,
        "",
        "cache_ttl = 60\nrate_limiting_limit = 2\nrate_limiting_interval = 3600",
    )
    .await;
    clear_of_window_edge(Duration::from_secs(3600), Duration::from_secs(15)).await;
    let first = s.chat(&[], &chat("a")).await;
    assert_miss(&first);
    s.stored(&first).await;
    for _ in 0..4 {
        let hit = s.chat(&[], &chat("a")).await;
        assert_hit(&hit, &first);
    }
    assert_eq!(s.fake.hits(), 1);
    let second = s.chat(&[], &chat("b")).await;
    assert_miss(&second);
    assert_eq!(
        s.fake.hits(),
        2,
        "four hits left the budget at one request used"
    );
    let third = s.chat(&[], &chat("c")).await;
    third.assert_gateway_error(429, 2003);
    retry_after(&third, 3600);
    assert_eq!(
        cache_status(&third.headers).as_deref(),
        Some("MISS"),
        "the gateway's own refusal still says the cache was looked up and missed"
    );
    assert_eq!(s.fake.hits(), 2);
}

// ---------------------------------------------------------------------------------------
// The response cache
// ---------------------------------------------------------------------------------------

async fn gateway_cache_ttl_answers_repeats_from_the_cache(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    let first = s.chat(&[], CHAT).await;
    assert_miss(&first);
    assert_eq!(s.fake.hits(), 1);
    s.stored(&first).await;
    let second = s.chat(&[], CHAT).await;
    assert_hit(&second, &first);
    let third = s.chat(&[], CHAT).await;
    assert_hit(&third, &first);
    assert_eq!(s.fake.hits(), 1, "hits must not reach the provider");
    // The provider's own headers come back on a HIT too.
    assert_eq!(
        second.headers.get("x-request-id"),
        first.headers.get("x-request-id")
    );
}

async fn cache_key_covers_account_gateway_provider_method_path_key_and_body(b: Backend) {
    let account = unique_id("acct");
    let other_account = unique_id("acct");
    let mut tables = String::new();
    for (a, g) in [
        (account.as_str(), "gw"),
        (account.as_str(), "gw2"),
        (other_account.as_str(), "gw"),
    ] {
        tables.push_str(&gateway_table(a, g, "cache_ttl = 60"));
    }
    let s = Setup::start_with(b, "", &tables, account.clone()).await;
    let base = s.gw.base_for(&account, "gw");
    let grok = format!("{base}/grok/v1/chat/completions");

    let first = post(&grok, &[AUTH], CHAT).await;
    assert_miss(&first);
    s.stored(&first).await;
    assert_hit(&post(&grok, &[AUTH], CHAT).await, &first);
    assert_eq!(s.fake.hits(), 1);

    // Each variation is its own entry: a MISS that reaches the provider.
    let other_gw = s.chat_url_on(&account, "gw2");
    let other_acct = s.chat_url_on(&other_account, "gw");
    let openai = format!("{base}/openai/v1/chat/completions");
    let with_query = format!("{grok}?variant=1");
    let variations: Vec<(&str, &str, String)> = vec![
        ("body", grok.as_str(), chat("other body")),
        ("provider", openai.as_str(), CHAT.to_owned()),
        ("query", with_query.as_str(), CHAT.to_owned()),
        ("gateway", other_gw.as_str(), CHAT.to_owned()),
        ("account", other_acct.as_str(), CHAT.to_owned()),
    ];
    let mut misses = Vec::new();
    for (what, url, body) in &variations {
        let before = s.fake.hits();
        let a = post(url, &[AUTH], body).await;
        assert_miss(&a);
        assert_ne!(a.body, first.body, "{what}");
        assert_eq!(
            s.fake.hits(),
            before + 1,
            "a different {what} must not be served the cached answer"
        );
        misses.push(a);
    }
    let provider_sent = s.fake.requests();
    assert_eq!(provider_sent.last().unwrap().path(), "/v1/chat/completions");
    // ... and each was stored under its own key.
    for ((what, url, body), miss) in variations.iter().zip(&misses) {
        let (acct, gwid) = if *what == "account" {
            (other_account.as_str(), "gw")
        } else if *what == "gateway" {
            (account.as_str(), "gw2")
        } else {
            (account.as_str(), "gw")
        };
        s.stored_in(acct, gwid, miss).await;
        let again = post(url, &[AUTH], body).await;
        assert_hit(&again, miss);
    }
    assert_eq!(s.fake.hits(), 1 + variations.len());

    // So is the caller's provider key: another key is another entry, and a caller with no
    // key is not served an answer made for one.
    let before = s.fake.hits();
    let other_key = [("authorization", "Bearer xai-someone-else")];
    let theirs = post(&grok, &other_key, CHAT).await;
    assert_miss(&theirs);
    assert_eq!(
        s.fake.hits(),
        before + 1,
        "another key reached the provider"
    );
    s.stored(&theirs).await;
    assert_hit(&post(&grok, &other_key, CHAT).await, &theirs);
    let keyless = post(&grok, &[], CHAT).await;
    assert_ne!(
        cache_status(&keyless.headers).as_deref(),
        Some("HIT"),
        "a caller without a key must not be served a cached answer"
    );
    assert_eq!(s.fake.hits(), before + 2);

    // The method is part of the key: GET answers are cached apart from POST ones.
    let models = format!("{base}/grok/v1/models");
    let g1 = send(Method::GET, &models, &[AUTH], "").await;
    assert_miss(&g1);
    s.stored(&g1).await;
    let g2 = send(Method::GET, &models, &[AUTH], "").await;
    assert_hit(&g2, &g1);
    let p = send(Method::POST, &models, &[AUTH], "").await;
    assert_ne!(
        cache_status(&p.headers).as_deref(),
        Some("HIT"),
        "a POST must not be served the GET's entry"
    );
    assert_eq!(s.fake.hits_for("/v1/models"), 2);
}

async fn cache_ttl_header_opts_in_and_zero_opts_out(b: Backend) {
    let account = unique_id("acct");
    let tables = gateway_table(&account, "gw", "cache_ttl = 0")
        + &gateway_table(&account, "cached", "cache_ttl = 60");
    let s = Setup::start_with(b, "", &tables, account.clone()).await;

    // Caching off: no cache status, every request reaches the provider.
    for _ in 0..2 {
        let a = s.chat(&[], CHAT).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            cache_status(&a.headers),
            None,
            "no cf-aig-cache-status when caching does not apply"
        );
    }
    assert_eq!(s.fake.hits(), 2);

    // The header opts this request in (any N >= 1).
    let first = s.chat(&[("cf-aig-cache-ttl", "60")], &chat("opt-in")).await;
    assert_miss(&first);
    s.stored(&first).await;
    let again = s.chat(&[("CF-AIG-CACHE-TTL", "60")], &chat("opt-in")).await;
    assert_hit(&again, &first);
    assert_eq!(s.fake.hits(), 3);

    // On a caching gateway, `cf-aig-cache-ttl: 0` turns caching off for the request: no
    // read (an entry exists) and no status header.
    let cached = s.chat_url_on(&account, "cached");
    let c1 = post(&cached, &[AUTH], CHAT).await;
    assert_miss(&c1);
    s.stored_in(&account, "cached", &c1).await;
    assert_hit(&post(&cached, &[AUTH], CHAT).await, &c1);
    let off = post(&cached, &[AUTH, ("cf-aig-cache-ttl", "0")], CHAT).await;
    assert_eq!(off.status, 200);
    assert_eq!(cache_status(&off.headers), None);
    assert_ne!(off.body, c1.body, "ttl 0 must not read the cache");
    assert_eq!(s.fake.hits(), 5);
}

async fn skip_cache_skips_the_read_only(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    let first = s.chat(&[], CHAT).await;
    assert_miss(&first);
    s.stored(&first).await;
    let skipped = s.chat(&[("cf-aig-skip-cache", "true")], CHAT).await;
    assert_miss(&skipped);
    assert_ne!(
        skipped.body, first.body,
        "skip-cache must not read the cache"
    );
    assert_eq!(s.fake.hits(), 2);
    s.stored(&skipped).await;
    // The next plain request is a HIT: of the first answer, or of the fresh one (which may
    // have been stored).
    let after = s.chat(&[], CHAT).await;
    assert_eq!(cache_status(&after.headers).as_deref(), Some("HIT"));
    assert!(
        after.body == first.body || after.body == skipped.body,
        "a HIT must be one of the stored answers"
    );
    assert_eq!(s.fake.hits(), 2);
    // `false` is the same as absent.
    let not_skipped = s.chat(&[("cf-aig-skip-cache", "false")], CHAT).await;
    assert_eq!(cache_status(&not_skipped.headers).as_deref(), Some("HIT"));
    assert_eq!(s.fake.hits(), 2);
}

async fn legacy_cache_headers_are_honoured(b: Backend) {
    let s = Setup::start(b, "", "").await;
    let first = s.chat(&[("cf-cache-ttl", "60")], CHAT).await;
    assert_miss(&first);
    s.stored(&first).await;
    assert_hit(&s.chat(&[("cf-cache-ttl", "60")], CHAT).await, &first);
    assert_eq!(s.fake.hits(), 1);
    let skipped = s
        .chat(&[("cf-cache-ttl", "60"), ("cf-skip-cache", "true")], CHAT)
        .await;
    assert_miss(&skipped);
    assert_ne!(skipped.body, first.body);
    assert_eq!(s.fake.hits(), 2);
    for sent in s.fake.requests() {
        for name in sent.headers.keys() {
            assert!(
                !name.as_str().starts_with("cf-"),
                "{name} must not be forwarded"
            );
        }
    }
}

async fn named_cache_key_replaces_the_request_in_the_key(b: Backend) {
    let s = Setup::start(b, "", "").await;
    let key = unique_id("key-");
    let first = s.chat(&[("cf-aig-cache-key", &key)], &chat("one")).await;
    assert_miss(&first);
    s.stored(&first).await;
    // Another body (and provider) with the same key: the key alone decides; the default TTL
    // (300 s) applies without any TTL header or gateway setting.
    let same_key = s.chat(&[("cf-aig-cache-key", &key)], &chat("two")).await;
    assert_hit(&same_key, &first);
    let openai = format!(
        "{}/openai/v1/chat/completions",
        s.gw.base_for(&s.account, &s.gateway)
    );
    let via_openai = post(&openai, &[AUTH, ("cf-aig-cache-key", &key)], &chat("three")).await;
    assert_hit(&via_openai, &first);
    assert_eq!(s.fake.hits(), 1);
    // Another key is another entry.
    let other = s
        .chat(&[("cf-aig-cache-key", &unique_id("key-"))], &chat("one"))
        .await;
    assert_miss(&other);
    assert_eq!(s.fake.hits(), 2);
    // Without the key header, the same body is not the keyed entry (caching is off here).
    let plain = s.chat(&[], &chat("one")).await;
    assert_eq!(cache_status(&plain.headers), None);
    assert_eq!(s.fake.hits(), 3);
}

async fn only_whole_answers_are_stored(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    // The gateway's own 504 says MISS too, and nothing is stored.
    s.fake
        .push_script(Script::new().delay(Duration::from_millis(400)));
    let late = s
        .chat(&[("cf-aig-request-timeout", "100")], &chat("late"))
        .await;
    late.assert_gateway_error(504, 2005);
    assert_eq!(cache_status(&late.headers).as_deref(), Some("MISS"));
    // Errors, and 2xx answers that are not a whole answer (part of one, a job accepted).
    for status in [500u16, 400, 429, 206, 202] {
        let body = chat(&format!("status {status}"));
        for _ in 0..2 {
            s.fake.push_script(Script::new().status(status));
        }
        let before = s.fake.hits();
        let a1 = s.chat(&[], &body).await;
        assert_eq!(a1.status.as_u16(), status);
        s.stored(&a1).await;
        let a2 = s.chat(&[], &body).await;
        assert_eq!(a2.status.as_u16(), status);
        assert_ne!(
            cache_status(&a2.headers).as_deref(),
            Some("HIT"),
            "a {status} must not be stored"
        );
        assert_eq!(
            s.fake.hits(),
            before + 2,
            "both {status}s reach the provider"
        );
        // Once the provider answers 200, that answer is stored.
        let ok = s.chat(&[], &body).await;
        assert_miss(&ok);
        s.stored(&ok).await;
        assert_hit(&s.chat(&[], &body).await, &ok);
        assert_eq!(s.fake.hits(), before + 3);
    }
    // A cookie the provider set reaches its caller, not the callers served from the cache.
    s.fake
        .push_script(Script::new().header("set-cookie", "__cf_bm=abc; Path=/"));
    let body = chat("cookie");
    let first = s.chat(&[], &body).await;
    assert_eq!(
        first.headers.get("set-cookie").unwrap(),
        "__cf_bm=abc; Path=/"
    );
    s.stored(&first).await;
    let hit = s.chat(&[], &body).await;
    assert_hit(&hit, &first);
    assert!(hit.headers.get("set-cookie").is_none());
}

async fn streams_that_fail_after_their_200_are_not_stored(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    let url = s.chat_url();
    // An OpenAI error chunk, and xAI's `{"code": …, "error": "…"}` event.
    for (name, error_event) in [
        (
            "openai",
            "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
        ),
        (
            "xai",
            "data: {\"code\":\"Internal error\",\"error\":\"The service is currently unavailable\"}\n\n",
        ),
    ] {
        let body = chat_stream(&format!("{name} fails"));
        let failing = format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hel\"}}}}]}}\n\n{error_event}"
        );
        s.fake.push_script(Script::new().body(failing).chunks(2));
        let before = s.fake.hits();
        let first = stream(&url, &[AUTH], &body).await;
        assert_eq!(first.status, 200, "{name}");
        assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
        let row = s.stored_by_headers(&first.headers).await;
        assert_eq!(row["success"], false, "{name}: {row}");
        // The same request goes upstream again and gets a good answer, which is stored.
        let second = stream(&url, &[AUTH], &body).await;
        assert_eq!(cache_status(&second.headers).as_deref(), Some("MISS"));
        assert_eq!(
            s.fake.hits(),
            before + 2,
            "{name}: a failed stream must not be replayed"
        );
        s.stored_by_headers(&second.headers).await;
        let third = stream(&url, &[AUTH], &body).await;
        assert_eq!(cache_status(&third.headers).as_deref(), Some("HIT"));
        assert_eq!(third.text(), second.text());
        assert_eq!(s.fake.hits(), before + 2);
    }
}

async fn streams_are_cached_when_complete_and_replayed_event_for_event(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    let url = s.chat_url();
    s.fake.push_script(
        Script::new()
            .chunks(4)
            .chunk_delay(Duration::from_millis(20)),
    );
    let first = stream(&url, &[AUTH], CHAT_STREAM).await;
    assert_eq!(first.status, 200);
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
    let first_events = sse_events(&first.text());
    assert!(
        first_events.len() >= 6 && first_events.last().unwrap() == "data: [DONE]\n\n",
        "{first_events:?}"
    );
    let first_id = first
        .headers
        .get("cf-aig-log-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    wait_for_log_id(
        &s.gw,
        &s.account,
        &s.gateway,
        &first_id,
        Duration::from_secs(5),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    let hit = stream(&url, &[AUTH], CHAT_STREAM).await;
    assert_eq!(hit.status, 200);
    assert!(hit.error.is_none(), "{:?}", hit.error);
    assert_eq!(cache_status(&hit.headers).as_deref(), Some("HIT"));
    assert!(hit
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        sse_events(&hit.text()),
        first_events,
        "the replay must carry the same events, byte for byte"
    );
    assert!(
        hit.frames.len() >= 2,
        "a cached stream is replayed as a stream, not one blob ({} frames)",
        hit.frames.len()
    );
    assert_eq!(s.fake.hits(), 1);

    // A stream cut off before its end is not stored.
    let cut_body = chat_stream("cut");
    s.fake.push_script(Script::new().chunks(4).drop_after(2));
    let cut = stream(&url, &[AUTH], &cut_body).await;
    assert!(
        cut.error.is_some(),
        "the provider's abort reaches the client"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_cut = stream(&url, &[AUTH], &cut_body).await;
    assert_eq!(after_cut.status, 200);
    assert_eq!(
        cache_status(&after_cut.headers).as_deref(),
        Some("MISS"),
        "an incomplete stream must not be stored"
    );
    assert_eq!(s.fake.hits(), 3);
}

async fn cache_hits_are_logged_as_cached_with_cost_zero(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    let miss = s.chat(&[], CHAT).await;
    assert_miss(&miss);
    s.stored(&miss).await;
    let hit = s.chat(&[], CHAT).await;
    assert_hit(&hit, &miss);

    let m = wait_for_log_id(
        &s.gw,
        &s.account,
        &s.gateway,
        &log_id(&miss),
        Duration::from_secs(5),
    )
    .await;
    let h = wait_for_log_id(
        &s.gw,
        &s.account,
        &s.gateway,
        &log_id(&hit),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(m["cached"], false);
    assert!(m["cost"].as_f64().unwrap() > 0.0, "{m}");
    assert_eq!(h["cached"], true, "{h}");
    assert_eq!(h["cost"].as_f64(), Some(0.0), "{h}");
    assert_eq!(h["status_code"], 200);
    assert_eq!(h["success"], true);
    assert_eq!(h["provider"], "grok");
    let only_cached = send(
        Method::GET,
        &s.cp(&format!("/gateways/{}/logs?cached=true", s.gateway)),
        &[],
        "",
    )
    .await;
    assert_eq!(only_cached.status, 200);
    let rows = only_cached.json()["result"].as_array().cloned().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], log_id(&hit).as_str());
}

async fn cache_invalidate_on_update_clears_entries_on_a_settings_change(b: Backend) {
    let account = unique_id("acct");
    let tables = gateway_table(
        &account,
        "gw",
        "cache_ttl = 60\ncache_invalidate_on_update = true",
    ) + &gateway_table(&account, "keep", "cache_ttl = 60");
    let s = Setup::start_with(b, "", &tables, account.clone()).await;
    let mut firsts = Vec::new();
    for g in ["gw", "keep"] {
        let url = s.chat_url_on(&account, g);
        let first = post(&url, &[AUTH], CHAT).await;
        assert_miss(&first);
        s.stored_in(&account, g, &first).await;
        assert_hit(&post(&url, &[AUTH], CHAT).await, &first);
        let put = cp_send(
            Method::PUT,
            &s.gw.cp_for(&account, &format!("/gateways/{g}")),
            json!({"retry_delay": 10}),
        )
        .await;
        assert_eq!(put.status, 200, "{}", body_text(&put));
        firsts.push((g, url, first));
    }
    assert_eq!(s.fake.hits(), 2);
    let (_, url, first) = &firsts[0];
    let after = post(url, &[AUTH], CHAT).await;
    assert_miss(&after);
    assert_ne!(after.body, first.body);
    assert_eq!(
        s.fake.hits(),
        3,
        "with cache_invalidate_on_update, a settings change empties the gateway's cache"
    );
    let (_, url, first) = &firsts[1];
    assert_hit(&post(url, &[AUTH], CHAT).await, first);
    assert_eq!(
        s.fake.hits(),
        3,
        "without cache_invalidate_on_update, entries survive a settings change"
    );
}

/// Universal steps `[grok chat tag0, grok chat tag1]`, `extra` added to each step's headers.
fn two_steps(tag: &str, extra: [serde_json::Value; 2]) -> String {
    let step = |i: usize| {
        let mut headers = json!({"authorization": "Bearer k"});
        if let (Some(h), Some(e)) = (headers.as_object_mut(), extra[i].as_object()) {
            h.extend(e.clone());
        }
        json!({"provider": "grok", "endpoint": "v1/chat/completions", "headers": headers,
               "query": {"model": "grok-beta",
                         "messages": [{"role": "user", "content": format!("{tag} step {i}")}]}})
    };
    json!([step(0), step(1)]).to_string()
}

fn step_of(a: &Answer) -> Option<String> {
    a.headers
        .get("cf-aig-step")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn universal_steps_are_cached_each_under_its_own_step(b: Backend) {
    let s = Setup::start(b, "", "cache_ttl = 60").await;
    let url = s.gw.base_for(&s.account, &s.gateway);
    let none = [json!({}), json!({})];

    // The first step answers: a MISS, then the same request is a HIT of step 0.
    let plain = two_steps("plain", none.clone());
    let first = post(&url, &[], &plain).await;
    assert_miss(&first);
    assert_eq!(step_of(&first).as_deref(), Some("0"));
    s.stored_in(&s.account, &s.gateway, &first).await;
    let again = post(&url, &[], &plain).await;
    assert_hit(&again, &first);
    assert_eq!(step_of(&again).as_deref(), Some("0"));
    assert_eq!(s.fake.hits(), 1);

    // The first step fails (not stored), the fallback answers and is stored; next time the
    // first step goes upstream again, fails again, and the fallback is served from the cache.
    let fallback = two_steps("fallback", none.clone());
    s.fake.push_script(Script::new().status(500));
    let f1 = post(&url, &[], &fallback).await;
    assert_miss(&f1);
    assert_eq!(step_of(&f1).as_deref(), Some("1"));
    s.stored_in(&s.account, &s.gateway, &f1).await;
    s.fake.push_script(Script::new().status(500));
    let f2 = post(&url, &[], &fallback).await;
    assert_hit(&f2, &f1);
    assert_eq!(step_of(&f2).as_deref(), Some("1"));
    assert_eq!(s.fake.hits(), 4, "step 0 twice, step 1 once");
    let hit_row = wait_for_log_id(
        &s.gw,
        &s.account,
        &s.gateway,
        &log_id(&f2),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(hit_row["cached"], true);
    assert_eq!(hit_row["step"], 1);

    // One cache key for the whole request: each step still has its own entry, so step 1's
    // stored answer is never handed to step 0 (whose client would parse it as step 0's).
    let key = unique_id("key-");
    let keyed = two_steps("keyed", none);
    s.fake.push_script(Script::new().status(500));
    let k1 = post(&url, &[("cf-aig-cache-key", &key)], &keyed).await;
    assert_miss(&k1);
    assert_eq!(step_of(&k1).as_deref(), Some("1"));
    s.stored_in(&s.account, &s.gateway, &k1).await;
    let k2 = post(&url, &[("cf-aig-cache-key", &key)], &keyed).await;
    assert_miss(&k2);
    assert_eq!(step_of(&k2).as_deref(), Some("0"));
    assert_ne!(k2.body, k1.body);
    assert_eq!(s.fake.hits(), 7);

    // A step's own `cf-aig-cache-ttl: 0` turns caching off for that step only.
    let off = two_steps("off", [json!({"cf-aig-cache-ttl": "0"}), json!({})]);
    let o1 = post(&url, &[], &off).await;
    assert_eq!(o1.status, 200);
    assert_eq!(cache_status(&o1.headers), None);
    s.stored_in(&s.account, &s.gateway, &o1).await;
    let o2 = post(&url, &[], &off).await;
    assert_eq!(cache_status(&o2.headers), None);
    assert_ne!(o2.body, o1.body);
    assert_eq!(s.fake.hits(), 9);
}

async fn entries_expire_after_their_ttl(b: Backend) {
    let account = unique_id("acct");
    let tables =
        gateway_table(&account, "gw", "") + &gateway_table(&account, "short", "cache_ttl = 1");
    let s = Setup::start_with(b, "", &tables, account.clone()).await;
    let by_header = s.chat(&[("cf-aig-cache-ttl", "1")], CHAT).await;
    let short = s.chat_url_on(&account, "short");
    let by_gateway = post(&short, &[AUTH], CHAT).await;
    assert_miss(&by_header);
    assert_miss(&by_gateway);
    s.stored(&by_header).await;
    s.stored_in(&account, "short", &by_gateway).await;
    assert_hit(
        &s.chat(&[("cf-aig-cache-ttl", "1")], CHAT).await,
        &by_header,
    );
    assert_hit(&post(&short, &[AUTH], CHAT).await, &by_gateway);
    assert_eq!(s.fake.hits(), 2);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let expired = s.chat(&[("cf-aig-cache-ttl", "1")], CHAT).await;
    assert_miss(&expired);
    assert_ne!(expired.body, by_header.body);
    let expired = post(&short, &[AUTH], CHAT).await;
    assert_miss(&expired);
    assert_ne!(expired.body, by_gateway.body);
    assert_eq!(s.fake.hits(), 4, "expired entries are fetched again");
}

// ---------------------------------------------------------------------------------------
// Faults: Redis unreachable, Redis or PostgreSQL lost and restored
// ---------------------------------------------------------------------------------------

fn unreachable_redis() -> String {
    format!("redis = \"redis://{}\"\n", refused_addr())
}

#[tokio::test]
async fn redis_unreachable_requests_are_served_without_the_cache() {
    let fake = FakeProvider::start().await;
    let account = unique_id("acct");
    let gw = Gateway::start(
        &fake,
        &format!(
            "{}{}",
            unreachable_redis(),
            gateway_table(&account, "gw", "cache_ttl = 60")
        ),
    )
    .await;
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    let mut answers = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let a = post(&url, &[AUTH], CHAT).await;
        assert_eq!(a.status, 200, "{}", body_text(&a));
        assert_ne!(cache_status(&a.headers).as_deref(), Some("HIT"));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a dead Redis must not stall requests ({:?})",
            started.elapsed()
        );
        answers.push(a);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        fake.hits(),
        3,
        "without a cache every request reaches the provider"
    );
    assert_ne!(answers[0].body, answers[1].body);
    let text = gw.metrics_text().await;
    assert!(
        metric_sum(&text, "switchyard_shared_state_errors_total") > 0.0,
        "switchyard_shared_state_errors_total must count the failures:\n{text}"
    );
    // A stream is relayed in full as well.
    let s = stream(&url, &[AUTH], CHAT_STREAM).await;
    assert_eq!(s.status, 200);
    assert!(s.error.is_none());
    assert!(s.text().ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn redis_unreachable_rate_limit_fails_open_by_default() {
    let fake = FakeProvider::start().await;
    let account = unique_id("acct");
    let gw = Gateway::start(
        &fake,
        &format!(
            "{}{}",
            unreachable_redis(),
            gateway_table(
                &account,
                "gw",
                "cache_ttl = 60\nrate_limiting_limit = 1\nrate_limiting_interval = 3600"
            )
        ),
    )
    .await;
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    let started = Instant::now();
    for i in 0..5 {
        let a = post(&url, &[AUTH], &chat(&format!("open{i}"))).await;
        assert_eq!(
            a.status,
            200,
            "fail-open: request {i} is served: {}",
            body_text(&a)
        );
    }
    // Redis is skipped while it is down (the start-up PING found it so), not tried per
    // command: a connection attempt with its retry cost ~150 ms per cache lookup and per
    // limit check, ~300 ms a request.
    assert!(
        started.elapsed() < Duration::from_millis(750),
        "five requests took {:?} with Redis down",
        started.elapsed()
    );
    assert_eq!(fake.hits(), 5);
    let text = gw.metrics_text().await;
    assert!(
        metric_sum(&text, "switchyard_shared_state_errors_total") >= 3.0,
        "{text}"
    );
}

#[tokio::test]
async fn redis_unreachable_rate_limit_fails_closed_when_configured() {
    let fake = FakeProvider::start().await;
    let account = unique_id("acct");
    let gw = Gateway::start(
        &fake,
        &format!(
            "{}rate_limit_fail_open = false\n{}{}",
            unreachable_redis(),
            gateway_table(
                &account,
                "gw",
                "rate_limiting_limit = 100\nrate_limiting_interval = 60"
            ),
            gateway_table(&account, "unlimited", "")
        ),
    )
    .await;
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    for _ in 0..2 {
        let a = post(&url, &[AUTH], CHAT).await;
        a.assert_gateway_error(429, 2003);
        retry_after(&a, 60);
        let message = a.json()["error"][0]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("unavailable") && !message.contains("exceeded"),
            "the refusal says why: {message}"
        );
    }
    assert_eq!(
        fake.hits(),
        0,
        "a refused request must not reach the provider"
    );
    // A gateway without a limit does not need the limiter.
    let free = post(
        &format!(
            "{}/grok/v1/chat/completions",
            gw.base_for(&account, "unlimited")
        ),
        &[AUTH],
        CHAT,
    )
    .await;
    assert_eq!(free.status, 200, "{}", body_text(&free));
    assert_eq!(fake.hits(), 1);
}

/// A caching gateway (`{account}/gw`: `cache_ttl` 60, a rate limit never reached) whose
/// Redis is reached through a [`CutProxy`], with `top` config lines, and the answer to its
/// first request already cached there.
struct CutRedis {
    proxy: CutProxy,
    fake: FakeProvider,
    gw: Gateway,
    /// Chat completions through that gateway.
    url: String,
    /// The cached answer (a MISS when it was made).
    first: Answer,
}

async fn cached_behind_cut_redis(top: &str) -> CutRedis {
    let proxy = CutProxy::start(&url_authority(&redis_url(), 6379)).await;
    let fake = FakeProvider::start().await;
    let account = unique_id("acct");
    let gw = Gateway::start(
        &fake,
        &format!(
            "redis = \"{}\"\n{top}{}",
            url_via(&redis_url(), &proxy.addr),
            gateway_table(
                &account,
                "gw",
                "cache_ttl = 60\nrate_limiting_limit = 1000\nrate_limiting_interval = 3600"
            )
        ),
    )
    .await;
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    let first = post(&url, &[AUTH], CHAT).await;
    assert_miss(&first);
    wait_for_log_id(&gw, &account, "gw", &log_id(&first), Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_hit(&post(&url, &[AUTH], CHAT).await, &first);
    CutRedis {
        proxy,
        fake,
        gw,
        url,
        first,
    }
}

/// A gateway (`{account}/gw`, returned with its account) whose PostgreSQL is reached through a
/// [`CutProxy`].
async fn behind_cut_postgres() -> (CutProxy, FakeProvider, String, Gateway) {
    let pg = postgres_url();
    let proxy = CutProxy::start(&url_authority(&pg, 5432)).await;
    let fake = FakeProvider::start().await;
    let account = unique_id("acct");
    let gw = Gateway::start_with_database(
        &fake,
        &url_via(&pg, &proxy.addr),
        &gateway_table(&account, "gw", ""),
    )
    .await;
    (proxy, fake, account, gw)
}

#[tokio::test]
async fn redis_lost_and_restored_caching_resumes() {
    let CutRedis {
        proxy,
        fake,
        gw,
        url,
        first: _,
    } = cached_behind_cut_redis("").await;
    assert_eq!(fake.hits(), 1);

    proxy.cut();
    for _ in 0..2 {
        let started = Instant::now();
        let a = post(&url, &[AUTH], CHAT).await;
        assert_eq!(
            a.status,
            200,
            "served while Redis is away: {}",
            body_text(&a)
        );
        assert_ne!(cache_status(&a.headers).as_deref(), Some("HIT"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    assert_eq!(fake.hits(), 3);
    let text = gw.metrics_text().await;
    assert!(
        metric_sum(&text, "switchyard_shared_state_errors_total") > 0.0,
        "{text}"
    );

    // Once Redis is back, the entry stored before the outage is served again.
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = post(&url, &[AUTH], CHAT).await;
        assert_eq!(a.status, 200);
        if cache_status(&a.headers).as_deref() == Some("HIT") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "caching did not resume within 5 s of Redis coming back; stderr:\n{}",
            gw.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Redis restart (or a server that closes idle connections) leaves each replica holding a
/// dead connection to a Redis that answers: the first command after it must go through on a
/// new connection, not skip the cache or refuse with "limiter unavailable".
#[tokio::test]
async fn redis_connection_closed_while_redis_is_up_is_reopened_at_once() {
    let CutRedis {
        proxy,
        fake,
        gw,
        url,
        first,
    } = cached_behind_cut_redis("rate_limit_fail_open = false\n").await;

    for round in 0..2 {
        // Redis "restarts": every open connection is closed, new ones are served again.
        proxy.cut();
        proxy.restore();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = post(&url, &[AUTH], CHAT).await;
        assert_eq!(
            a.status,
            200,
            "round {round}: refused after the connection was lost: {}; stderr:\n{}",
            body_text(&a),
            gw.stderr()
        );
        assert_hit(&a, &first);
    }
    assert_eq!(fake.hits(), 1, "every repeat came from the cache");
    assert!(
        !gw.stderr().contains("Redis is not answering"),
        "Redis was taken out of use although it answered:\n{}",
        gw.stderr()
    );
}

/// Through a database outage longer than the settings cache's second, a gateway in use goes
/// on serving with the settings and stored key it had, without waiting on the database for
/// each request; its records are written once the database is back.
#[tokio::test]
async fn postgres_outage_gateways_in_use_keep_their_settings_and_stored_keys() {
    let (proxy, fake, account, gw) = behind_cut_postgres().await;
    let secret = "xai-stored-during-outage-42";
    let made = cp_send(
        Method::POST,
        &gw.cp_for(&account, "/gateways/gw/provider_configs"),
        json!({"provider_slug": "grok", "alias": "default", "secret": secret}),
    )
    .await;
    assert_eq!(made.status, 200, "{}", body_text(&made));
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    let stored_key_sent = || {
        fake.last_request()
            .and_then(|r| r.headers.get("authorization").cloned())
            .is_some_and(|v| v == format!("Bearer {secret}"))
    };
    let first = post(&url, &[], CHAT).await;
    assert_eq!(first.status, 200, "{}", body_text(&first));
    assert!(stored_key_sent());

    proxy.cut();
    let cut_at = Instant::now();
    let mut ids = vec![log_id(&first)];
    let mut slow = 0;
    let until = cut_at + Duration::from_secs(5);
    let mut i = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let a = post(&url, &[], &chat(&format!("outage {i}"))).await;
        assert_eq!(
            a.status,
            200,
            "request {i}, {:?} into the outage: {}",
            cut_at.elapsed(),
            body_text(&a)
        );
        assert!(stored_key_sent(), "request {i} lost the stored key");
        // The first read that finds the database gone waits for its connection (up to 3 s);
        // after it, none waits.
        if started.elapsed() > Duration::from_millis(500) {
            slow += 1;
        }
        ids.push(log_id(&a));
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slow <= 1, "{slow} requests waited on the database");
    assert!(i >= 10, "only {i} requests in 5 s");

    proxy.restore();
    let rows = gw
        .wait_for_logs_in(&account, "gw", ids.len(), Duration::from_secs(20))
        .await;
    assert_eq!(
        rows.len(),
        ids.len(),
        "every record written after the outage"
    );
    // The outage is over for the replica too: copies are read afresh again.
    assert!(
        gw.stderr().contains("the database answers again"),
        "{}",
        gw.stderr()
    );
}

#[tokio::test]
async fn postgres_lost_after_start_requests_are_served_and_every_record_is_written_later() {
    let (proxy, fake, account, gw) = behind_cut_postgres().await;
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    let first = post(&url, &[AUTH], CHAT).await;
    assert_eq!(first.status, 200);
    wait_for_log_id(&gw, &account, "gw", &log_id(&first), Duration::from_secs(5)).await;

    proxy.cut();
    let mut ids = vec![log_id(&first)];
    for i in 0..3 {
        let started = Instant::now();
        let a = post(&url, &[AUTH], &chat(&format!("pg-down {i}"))).await;
        assert_eq!(
            a.status,
            200,
            "served while PostgreSQL is away: {}",
            body_text(&a)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "log writes must not slow the response path ({:?})",
            started.elapsed()
        );
        ids.push(log_id(&a));
    }
    let s = stream(&url, &[AUTH], CHAT_STREAM).await;
    assert_eq!(s.status, 200);
    assert!(s.error.is_none());
    assert!(s.text().ends_with("data: [DONE]\n\n"));
    ids.push(
        s.headers
            .get("cf-aig-log-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(fake.hits(), 5);
    // The outage is real: the control plane cannot read the logs, and the writer has tried,
    // and failed, at least once.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        gw.logs_in(&account, "gw").await.is_none(),
        "the control plane still reads PostgreSQL through the cut proxy"
    );
    let text = gw.metrics_text().await;
    assert!(
        metric_sum(&text, "switchyard_log_write_failures_total") > 0.0,
        "no failed log write was counted during the outage:\n{text}"
    );

    proxy.restore();
    let rows = gw
        .wait_for_logs_in(&account, "gw", ids.len(), Duration::from_secs(20))
        .await;
    for id in &ids {
        assert!(
            rows.iter().any(|r| r["id"] == id.as_str()),
            "record {id} was lost during the outage"
        );
    }
    assert_eq!(rows.len(), ids.len(), "no record may be written twice");
}

#[tokio::test]
async fn records_postgres_would_not_take_at_exit_are_saved_and_stored_at_the_next_start() {
    let pg = postgres_url();
    let proxy = CutProxy::start(&url_authority(&pg, 5432)).await;
    let fake = FakeProvider::start().await;
    let account = unique_id("acct");
    let spill = tempfile::tempdir().unwrap();
    let extra = format!(
        "shutdown_grace_secs = 1\nlog_spill_dir = \"{}\"\n{}",
        spill.path().display(),
        gateway_table(&account, "gw", "")
    );
    let db = url_via(&pg, &proxy.addr);
    let mut gw = Gateway::start_with_database(&fake, &db, &extra).await;
    let url = format!("{}/grok/v1/chat/completions", gw.base_for(&account, "gw"));
    // The gateway's settings are read (and kept for a second) before PostgreSQL goes away.
    let first = post(&url, &[AUTH], &chat("spill warm-up")).await;
    assert_eq!(first.status, 200);
    proxy.cut();
    let mut ids = Vec::new();
    for i in 0..4 {
        let a = post(&url, &[AUTH], &chat(&format!("spill {i}"))).await;
        assert_eq!(a.status, 200, "{}", body_text(&a));
        ids.push(log_id(&a));
    }
    // Stopped while PostgreSQL is away: a clean exit, soon (the writer's failed write starts
    // the saving), the records in a spill file.
    gw.stop_within(Duration::from_secs(4)).await;
    let spilled = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(spill.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("switchyard-unwritten-") && name.ends_with(".jsonl")
            })
            .collect()
    };
    let files = spilled();
    assert!(!files.is_empty(), "no spill file; stderr:\n{}", gw.stderr());
    let saved: String = files.iter().map(|f| read_file(f)).collect();
    for id in &ids {
        assert!(
            saved.contains(id.as_str()),
            "{id} is not in the spill files"
        );
    }
    // The warm-up's record was written before the cut, or saved with the others.
    ids.push(log_id(&first));

    // The next start, with PostgreSQL back, stores them (bodies included) and removes the files.
    proxy.restore();
    let next = Gateway::start_with_database(&fake, &db, &extra).await;
    let rows = next
        .wait_for_logs_in(&account, "gw", ids.len(), Duration::from_secs(10))
        .await;
    assert_eq!(rows.len(), ids.len(), "{rows:?}");
    for id in &ids {
        assert!(rows.iter().any(|r| r["id"] == id.as_str()), "{id} was lost");
    }
    let body = send(
        Method::GET,
        &next.cp_for(&account, &format!("/gateways/gw/logs/{}/request", ids[0])),
        &[],
        "",
    )
    .await;
    assert_eq!(body.status, 200);
    assert!(String::from_utf8_lossy(&body.body).contains("spill 0"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !spilled().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the spill files are removed once stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

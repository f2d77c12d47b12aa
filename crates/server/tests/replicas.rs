//! Past one machine (SPEC 5): two `switchyard` processes sharing PostgreSQL
//! (`SWITCHYARD_TEST_POSTGRES`) and Redis (`SWITCHYARD_TEST_REDIS`) behave as one gateway:
//! one rate limit, one cache, one log, one set of settings.
//!
//! Both replicas get the same config (only the port and working directory differ) and talk
//! to the same fake provider, so `fake.hits()` counts what reached the provider through
//! either. Every test uses its own account id (random suffix): rows and keys outlive a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use http::Method;
use serde_json::json;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One fake provider and two replicas of one config.
struct Pair {
    fake: FakeProvider,
    a: Gateway,
    b: Gateway,
    account: String,
}

impl Pair {
    /// Two replicas with `database` and `redis` from the environment, and a `[[gateways]]`
    /// table for `{account}/gw` with `fields`.
    async fn start(fields: &str) -> Pair {
        let fake = FakeProvider::start().await;
        let account = unique_id("acct");
        let extra = format!(
            "redis = \"{}\"\n\n[[gateways]]\naccount_id = \"{account}\"\nid = \"gw\"\n{fields}\n",
            redis_url()
        );
        let db = postgres_url();
        let a = Gateway::start_with_database(&fake, &db, &extra).await;
        let b = Gateway::start_with_database(&fake, &db, &extra).await;
        assert_ne!(a.url, b.url);
        Pair {
            fake,
            a,
            b,
            account,
        }
    }

    fn url(&self, replica: &Gateway) -> String {
        format!(
            "{}/grok/v1/chat/completions",
            replica.base_for(&self.account, "gw")
        )
    }

    fn replicas(&self) -> [&Gateway; 2] {
        [&self.a, &self.b]
    }

    async fn chat(&self, replica: &Gateway, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut h = vec![AUTH];
        h.extend_from_slice(headers);
        post(&self.url(replica), &h, body).await
    }

    async fn put_settings(&self, replica: &Gateway, body: serde_json::Value) {
        let put = cp_send(
            Method::PUT,
            &replica.cp_for(&self.account, "/gateways/gw"),
            body,
        )
        .await;
        assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    }

    /// Waits until `replica` lists the row with `id`, then a little longer (the cache entry
    /// is stored by the same writer batch).
    async fn stored(&self, replica: &Gateway, id: &str) {
        wait_for_row(replica, &self.account, id).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn chat(tag: &str) -> String {
    format!(r#"{{"model":"grok-beta","messages":[{{"role":"user","content":"Hello {tag}"}}]}}"#)
}

fn log_id(headers: &http::HeaderMap) -> String {
    headers
        .get("cf-aig-log-id")
        .expect("every answer has cf-aig-log-id")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn wait_for_row(replica: &Gateway, account: &str, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(rows) = replica.logs_in(account, "gw").await {
            if let Some(r) = rows.iter().find(|r| r["id"] == id) {
                return r.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "row {id} not listed by {} within 5 s; stderr:\n{}",
            replica.url,
            replica.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits, when fewer than `margin` remain, for the next window of `interval` (windows start
/// at multiples of the interval since the epoch), so a burst never straddles two.
async fn clear_of_window_edge(interval: Duration, margin: Duration) {
    let w = interval.as_millis() as u64;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let left = w - now % w;
    if left < margin.as_millis() as u64 {
        tokio::time::sleep(Duration::from_millis(left + 30)).await;
    }
}

// ---------------------------------------------------------------------------------------
// One rate limit
// ---------------------------------------------------------------------------------------

async fn limit_holds_across_replicas(technique: &str) {
    let p = Pair::start(&format!(
        "rate_limiting_limit = 4\nrate_limiting_interval = 3600\nrate_limiting_technique = \"{technique}\""
    ))
    .await;
    clear_of_window_edge(Duration::from_secs(3600), Duration::from_secs(15)).await;
    let mut admitted = 0;
    let mut refused = 0;
    for i in 0..10 {
        let replica = p.replicas()[i % 2];
        let a = p
            .chat(replica, &[], &chat(&format!("{technique} {i}")))
            .await;
        match a.status.as_u16() {
            200 => admitted += 1,
            429 => {
                a.assert_gateway_error(429, 2003);
                let ra: u64 = a
                    .headers
                    .get("retry-after")
                    .expect("Retry-After on a 429")
                    .to_str()
                    .unwrap()
                    .parse()
                    .expect("Retry-After in integer seconds");
                // A fixed window admits again when it ends, a sliding one when its first
                // request leaves the hour.
                assert!((1..=3600).contains(&ra), "Retry-After {ra}");
                refused += 1;
            }
            s => panic!(
                "unexpected status {s}: {}",
                String::from_utf8_lossy(&a.body)
            ),
        }
        if i < 4 {
            assert_eq!(a.status, 200, "request {i} is within the limit");
        }
    }
    assert_eq!(
        (admitted, refused),
        (4, 6),
        "a limit of 4 admits 4 requests in all across both replicas"
    );
    assert_eq!(
        p.fake.hits(),
        4,
        "only the admitted requests reach the provider"
    );
}

#[tokio::test]
async fn a_fixed_rate_limit_holds_across_replicas() {
    limit_holds_across_replicas("fixed").await;
}

#[tokio::test]
async fn a_sliding_rate_limit_holds_across_replicas() {
    limit_holds_across_replicas("sliding").await;
}

// ---------------------------------------------------------------------------------------
// One cache, one log
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_answer_cached_through_one_replica_is_a_hit_through_the_other() {
    let p = Pair::start("cache_ttl = 60").await;
    let first = p.chat(&p.a, &[], CHAT).await;
    assert_eq!(first.status, 200);
    assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
    p.stored(&p.a, &log_id(&first.headers)).await;
    let hit = p.chat(&p.b, &[], CHAT).await;
    assert_eq!(hit.status, 200);
    assert_eq!(cache_status(&hit.headers).as_deref(), Some("HIT"));
    assert_eq!(
        hit.body, first.body,
        "B replays A's stored answer byte for byte"
    );
    assert_eq!(p.fake.hits(), 1);

    // The same for a stream, the other way round.
    let url_b = p.url(&p.b);
    let s1 = stream(&url_b, &[AUTH], CHAT_STREAM).await;
    assert_eq!(s1.status, 200);
    assert_eq!(cache_status(&s1.headers).as_deref(), Some("MISS"));
    p.stored(&p.b, &log_id(&s1.headers)).await;
    let s2 = stream(&p.url(&p.a), &[AUTH], CHAT_STREAM).await;
    assert_eq!(s2.status, 200);
    assert_eq!(cache_status(&s2.headers).as_deref(), Some("HIT"));
    assert_eq!(sse_events(&s2.text()), sse_events(&s1.text()));
    assert_eq!(p.fake.hits(), 2);

    // The HIT is logged as cached, with cost 0, and both replicas list it.
    for replica in p.replicas() {
        let r = wait_for_row(replica, &p.account, &log_id(&hit.headers)).await;
        assert_eq!(r["cached"], true, "{r}");
        assert_eq!(r["cost"].as_f64(), Some(0.0), "{r}");
    }
}

#[tokio::test]
async fn logs_written_by_either_replica_are_listed_by_both() {
    let p = Pair::start("").await;
    let mut ids = Vec::new();
    for (i, replica) in p.replicas().into_iter().enumerate() {
        let ev = format!("ev-{i}");
        let a = p
            .chat(replica, &[("cf-aig-event-id", &ev)], &chat(&ev))
            .await;
        assert_eq!(a.status, 200);
        ids.push((log_id(&a.headers), ev));
    }
    assert_eq!(p.fake.hits(), 2);
    for replica in p.replicas() {
        let rows = replica
            .wait_for_logs_in(&p.account, "gw", 2, Duration::from_secs(5))
            .await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        for (id, ev) in &ids {
            let r = rows
                .iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{} does not list {id}", replica.url));
            assert_eq!(r["event_id"], ev.as_str());
        }
        // One record each, by id, through the other replica too.
        for (id, _) in &ids {
            let one = send(
                Method::GET,
                &replica.cp_for(&p.account, &format!("/gateways/gw/logs/{id}")),
                &[],
                "",
            )
            .await;
            assert_eq!(one.status, 200, "{}", String::from_utf8_lossy(&one.body));
        }
    }
}

#[tokio::test]
async fn a_record_can_be_patched_through_the_other_replica_right_after_its_answer() {
    let p = Pair::start("").await;
    for round in 0..3 {
        let a = p.chat(&p.a, &[], &chat(&format!("patch-{round}"))).await;
        assert_eq!(a.status, 200);
        let id = log_id(&a.headers);
        // At once, through B: A's writer may not have written it yet.
        let url = p.b.cp_for(&p.account, &format!("/gateways/gw/logs/{id}"));
        let patched = cp_send(Method::PATCH, &url, json!({"feedback": -1})).await;
        assert_eq!(
            patched.status,
            200,
            "{}",
            String::from_utf8_lossy(&patched.body)
        );
        assert_eq!(patched.json()["result"]["feedback"], -1);
    }
}

// ---------------------------------------------------------------------------------------
// One set of settings: a change through A applies on B within a second
// ---------------------------------------------------------------------------------------

/// How long a change made through one replica may take to apply on another.
const PROPAGATION: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_rate_limit_set_through_one_replica_applies_on_the_other() {
    let p = Pair::start("rate_limiting_interval = 3600").await;
    clear_of_window_edge(Duration::from_secs(3600), Duration::from_secs(15)).await;
    // B has served this gateway (and knows its settings: no limit).
    for i in 0..2 {
        assert_eq!(
            p.chat(&p.b, &[], &chat(&format!("before {i}")))
                .await
                .status,
            200
        );
    }
    p.put_settings(&p.a, json!({"rate_limiting_limit": 1}))
        .await;
    let changed = Instant::now();
    // Through A at once: one admitted, then refused.
    assert_eq!(p.chat(&p.a, &[], &chat("a0")).await.status, 200);
    p.chat(&p.a, &[], &chat("a1"))
        .await
        .assert_gateway_error(429, 2003);
    // Through B, within the propagation bound.
    let mut i = 0;
    loop {
        let a = p.chat(&p.b, &[], &chat(&format!("b{i}"))).await;
        if a.status == 429 {
            a.assert_gateway_error(429, 2003);
            break;
        }
        assert_eq!(a.status, 200);
        assert!(
            changed.elapsed() < PROPAGATION,
            "replica B still admits requests {:?} after rate_limiting_limit = 1 was set \
             through replica A ({} requests reached the provider)",
            changed.elapsed(),
            p.fake.hits()
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn collect_logs_set_through_one_replica_applies_on_the_other() {
    let p = Pair::start("").await;
    let before = p.chat(&p.b, &[], &chat("before")).await;
    assert_eq!(before.status, 200);
    wait_for_row(&p.b, &p.account, &log_id(&before.headers)).await;
    p.put_settings(&p.a, json!({"collect_logs": false})).await;
    tokio::time::sleep(PROPAGATION).await;
    let mut probes = Vec::new();
    for replica in p.replicas() {
        for i in 0..2 {
            let a = p.chat(replica, &[], &chat(&format!("after {i}"))).await;
            assert_eq!(a.status, 200);
            probes.push((replica.url.clone(), log_id(&a.headers)));
        }
    }
    assert_eq!(p.fake.hits(), 5);
    // The writer batches for up to 50 ms; give it ample time to write what it would.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = p.a.logs_in(&p.account, "gw").await.unwrap();
    let stored: Vec<&(String, String)> = probes
        .iter()
        .filter(|(_, id)| rows.iter().any(|r| r["id"] == id.as_str()))
        .collect();
    assert!(
        stored.is_empty(),
        "collect_logs = false (set through replica A {PROPAGATION:?} earlier) still stored rows \
         for requests through: {stored:?} (replica A is {}, B is {})",
        p.a.url,
        p.b.url
    );
}

#[tokio::test]
async fn a_settings_change_through_one_replica_invalidates_the_cache_on_the_other() {
    let p = Pair::start("cache_ttl = 60\ncache_invalidate_on_update = true").await;
    let first = p.chat(&p.b, &[], CHAT).await;
    assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
    p.stored(&p.b, &log_id(&first.headers)).await;
    for replica in p.replicas() {
        let hit = p.chat(replica, &[], CHAT).await;
        assert_eq!(
            cache_status(&hit.headers).as_deref(),
            Some("HIT"),
            "{}",
            replica.url
        );
    }
    assert_eq!(p.fake.hits(), 1);

    p.put_settings(&p.a, json!({"retry_delay": 10})).await;
    let changed = Instant::now();
    let through_a = p.chat(&p.a, &[], CHAT).await;
    assert_eq!(
        cache_status(&through_a.headers).as_deref(),
        Some("MISS"),
        "replica A: the change empties the cache"
    );
    assert_ne!(through_a.body, first.body);
    // B must stop serving the old entry within the propagation bound. (A's fresh answer may
    // be stored and served to B as a HIT: that is fine; the old one is not.)
    loop {
        let a = p.chat(&p.b, &[], CHAT).await;
        assert_eq!(a.status, 200);
        if a.body != first.body {
            break;
        }
        assert!(
            changed.elapsed() < PROPAGATION,
            "replica B still serves the entry cached before the settings change {:?} after it \
             was made through replica A",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_replica_starting_with_the_same_config_changes_no_settings() {
    let fields = "cache_ttl = 60\ncache_invalidate_on_update = true";
    let p = Pair::start(fields).await;
    let settings = || async {
        let got = send(
            Method::GET,
            &p.a.cp_for(&p.account, "/gateways/gw"),
            &[],
            "",
        )
        .await;
        assert_eq!(got.status, 200);
        got.json()["result"].clone()
    };
    let before = settings().await;
    let first = p.chat(&p.a, &[], CHAT).await;
    assert_eq!(cache_status(&first.headers).as_deref(), Some("MISS"));
    p.stored(&p.a, &log_id(&first.headers)).await;

    // A third replica starts (or one restarts) with the very same config.
    let extra = format!(
        "redis = \"{}\"\n\n[[gateways]]\naccount_id = \"{}\"\nid = \"gw\"\n{fields}\n",
        redis_url(),
        p.account
    );
    let c = Gateway::start_with_database(&p.fake, &postgres_url(), &extra).await;
    assert_eq!(
        settings().await["modified_at"],
        before["modified_at"],
        "an unchanged [[gateways]] table is not written again"
    );
    tokio::time::sleep(PROPAGATION).await;
    for replica in [&p.a, &c] {
        let again = p.chat(replica, &[], CHAT).await;
        assert_eq!(
            cache_status(&again.headers).as_deref(),
            Some("HIT"),
            "{}: the cache survives a start with the same settings",
            replica.url
        );
    }
    assert_eq!(p.fake.hits(), 1);
}

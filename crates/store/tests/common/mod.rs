//! What every store suite needs: the two backends, unique account ids, and log records.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use switchyard_core::{AccountId, GatewayId, LogRecord, RequestType};
use switchyard_store::Store;

/// A store on a fresh SQLite file (the directory lives as long as the guard).
pub async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (switchyard_store::open(&url).await.unwrap(), dir)
}

/// The URL of the test PostgreSQL database. Missing → the test fails (CI always sets it).
pub fn postgres_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES").expect(
        "SWITCHYARD_TEST_POSTGRES must name a PostgreSQL database for the store suites \
         (e.g. postgres://postgres@127.0.0.1:5432/test)",
    )
}

/// A store on the test PostgreSQL database. Tests share it: each uses its own account ids.
pub async fn postgres() -> Store {
    let url = postgres_url();
    switchyard_store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at SWITCHYARD_TEST_POSTGRES is unusable: {e}"))
}

/// An account id no other test (or earlier run) uses.
pub fn unique_account(prefix: &str) -> AccountId {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    AccountId::parse(&format!("{prefix}-{suffix}")).unwrap()
}

pub fn gw(s: &str) -> GatewayId {
    GatewayId::parse(s).unwrap()
}

/// A UUIDv7-shaped id that sorts with `n`.
pub fn log_id(n: u64) -> String {
    format!("01900000-0000-7000-8000-{n:012x}")
}

/// A plain successful record.
pub fn record(a: &AccountId, g: &GatewayId, n: u64, created_at: &str) -> LogRecord {
    LogRecord {
        id: log_id(n),
        account_id: a.clone(),
        gateway_id: g.clone(),
        created_at: created_at.to_owned(),
        provider: "grok".into(),
        model: Some("grok-beta".into()),
        path: "/v1/chat/completions".into(),
        request_type: RequestType::Provider,
        status_code: 200,
        success: true,
        cached: false,
        duration: 100,
        ttft: Some(20),
        tokens_in: Some(10),
        tokens_out: Some(5),
        cached_tokens_in: None,
        reasoning_tokens: None,
        cost: 0.001,
        custom_cost: false,
        metadata: None,
        event_id: None,
        feedback: None,
        score: None,
        step: None,
        request_content_type: Some("application/json".into()),
        response_content_type: Some("application/json".into()),
        request_size: 20,
        response_size: 40,
        user_agent: Some("test".into()),
        cancelled: false,
        request_headers: None,
        response_headers: None,
        request_body: None,
        response_body: None,
    }
}

/// `base` plus `secs` seconds, formatted as the gateway formats timestamps.
pub fn at(base: &str, secs: f64) -> String {
    use time::format_description::well_known::Rfc3339;
    let t =
        time::OffsetDateTime::parse(base, &Rfc3339).unwrap() + time::Duration::seconds_f64(secs);
    switchyard_core::clock::format_rfc3339(t)
}

/// The record as a list returns it (no headers or bodies).
pub fn listed(r: &LogRecord) -> LogRecord {
    LogRecord {
        request_headers: None,
        response_headers: None,
        request_body: None,
        response_body: None,
        ..r.clone()
    }
}

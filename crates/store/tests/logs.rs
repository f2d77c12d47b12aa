//! The log suite (`LogSink` + `LogQuery`), run against every backend: batch writes, get, list
//! with every filter key and operator, search, flat params, the SDKs' filter encodings,
//! ordering and paging, patch, delete by filter (and with a limit), caps, duplicates,
//! concurrency, analytics.
//!
//! Expected answers come from an oracle: the same predicate or ordering evaluated in Rust over
//! the records that were written.
#![allow(clippy::unwrap_used)]

mod common;

use common::{at, gw, listed, log_id, record, unique_account};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use switchyard_core::{AccountId, GatewayId, LogRecord, LogStrategy, RequestType};
use switchyard_store::{
    AnalyticsQuery, AnalyticsRow, Bucket, GroupBy, LogCap, LogDelete, LogFilter, LogListQuery,
    LogPatch, LogQuery, OrderBy, PendingLog, Store, StoreError, WriteOutcome,
};

/// Runs one suite against SQLite (temp file) and PostgreSQL.
macro_rules! on_both_backends {
    ($suite:ident) => {
        mod $suite {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = super::common::sqlite().await;
                super::$suite(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$suite(super::common::postgres().await).await;
            }
        }
    };
}

on_both_backends!(queries);
on_both_backends!(patch_and_delete);
on_both_backends!(limited_deletes);
on_both_backends!(caps);
on_both_backends!(duplicates_and_payloads);
on_both_backends!(analytics);
on_both_backends!(metadata_values);

const BASE: &str = "2026-03-01T10:00:00Z";

fn meta(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("metadata fixtures are objects"),
    }
}

/// Ten records that differ in every filterable field.
fn fixture(a: &AccountId, g: &GatewayId) -> Vec<LogRecord> {
    (0..10u64)
        .map(|n| {
            // r3 and r4 share a timestamp: the id breaks the tie.
            let secs = if n == 4 { 3.0 } else { n as f64 };
            let mut r = record(a, g, n, &at(BASE, secs));
            r.provider = ["grok", "openai", "anthropic"][(n % 3) as usize].into();
            r.model = match n {
                9 => None,
                n if n % 2 == 0 => Some("m-even".into()),
                _ => Some("m-odd".into()),
            };
            r.success = n % 4 != 3;
            r.status_code = if r.success { 200 } else { 500 };
            r.cached = n % 5 == 0;
            r.cost = n as f64 * 0.25;
            r.tokens_in = if n == 8 { None } else { Some(n * 10) };
            r.tokens_out = Some(n * 5);
            r.duration = 100 + n * 10;
            r.feedback = match n {
                1 => Some(1),
                2 => Some(-1),
                _ => None,
            };
            r.event_id = (n == 4).then(|| "evt-4".into());
            r.metadata = match n {
                1 => Some(meta(json!({"user": "alice", "n": 42}))),
                2 => Some(meta(json!({"user": "bob", "vip": true}))),
                _ => None,
            };
            r.request_type = if n == 6 {
                RequestType::Compat
            } else {
                RequestType::Provider
            };
            r.response_content_type = Some(
                if n % 2 == 0 {
                    "text/event-stream"
                } else {
                    "application/json"
                }
                .into(),
            );
            r.user_agent = Some(if n < 5 { "python-httpx/0.27" } else { "node" }.into());
            if n == 7 {
                r.path = "/v1/embeddings".into();
            }
            if n == 0 {
                r.request_headers = Some(r#"{"authorization":"[REDACTED]"}"#.into());
                r.response_headers = Some(r#"{"content-type":"text/event-stream"}"#.into());
                r.request_body = Some(bytes::Bytes::from_static(b"{\"model\":\"grok-beta\"}"));
                r.response_body = Some(bytes::Bytes::from_static(b"data: [DONE]\n\n"));
            }
            r
        })
        .collect()
}

fn n_of(r: &LogRecord) -> u64 {
    u64::from_str_radix(&r.id[24..], 16).unwrap()
}

fn pending(records: &[LogRecord], cap: Option<LogCap>) -> Vec<PendingLog> {
    records
        .iter()
        .map(|r| PendingLog {
            record: r.clone(),
            cap,
            keep_row: true,
        })
        .collect()
}

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Lists with the given query string; returns the records and the total.
async fn list(
    store: &Store,
    a: &AccountId,
    g: &GatewayId,
    q: &[(&str, &str)],
) -> (Vec<LogRecord>, u64) {
    let query = LogListQuery::from_query_pairs(&pairs(q)).unwrap();
    let page = store.list_logs(a, g, &query).await.unwrap();
    (page.records, page.total_count)
}

fn ids(records: &[LogRecord]) -> Vec<u64> {
    records.iter().map(n_of).collect()
}

fn cmp_by(o: OrderBy, a: &LogRecord, b: &LogRecord) -> Ordering {
    let primary = match o {
        OrderBy::CreatedAt => Ordering::Equal,
        OrderBy::Provider => a.provider.cmp(&b.provider),
        OrderBy::Model => a.model.cmp(&b.model),
        OrderBy::Success => a.success.cmp(&b.success),
        OrderBy::Cached => a.cached.cmp(&b.cached),
        OrderBy::Cost => a.cost.total_cmp(&b.cost),
        OrderBy::Duration => a.duration.cmp(&b.duration),
        OrderBy::TokensIn => a.tokens_in.cmp(&b.tokens_in),
        OrderBy::TokensOut => a.tokens_out.cmp(&b.tokens_out),
        OrderBy::Feedback => a.feedback.unwrap_or(0).cmp(&b.feedback.unwrap_or(0)),
    };
    primary
        .then_with(|| a.created_at.cmp(&b.created_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// The oracle: matching records, newest first.
fn expect(all: &[LogRecord], pred: impl Fn(&LogRecord) -> bool) -> Vec<u64> {
    let mut m: Vec<&LogRecord> = all.iter().filter(|r| pred(r)).collect();
    m.sort_by(|a, b| cmp_by(OrderBy::CreatedAt, b, a));
    m.into_iter().map(n_of).collect()
}

fn f(key: &str, op: &str, values: Value) -> String {
    json!([{"key": key, "operator": op, "value": values}]).to_string()
}

type Pred = fn(&LogRecord) -> bool;

fn filter_cases() -> Vec<(String, Pred)> {
    let t3 = at(BASE, 3.0);
    vec![
        (f("id", "eq", json!([log_id(3)])), |r| n_of(r) == 3),
        (f("id", "neq", json!([log_id(3), log_id(4)])), |r| {
            !matches!(n_of(r), 3 | 4)
        }),
        (f("id", "contains", json!(["-000000000005"])), |r| {
            n_of(r) == 5
        }),
        (f("created_at", "lt", json!([t3])), |r| n_of(r) < 3),
        (f("created_at", "gt", json!([t3])), |r| n_of(r) >= 5),
        (f("created_at", "eq", json!([t3])), |r| {
            matches!(n_of(r), 3 | 4)
        }),
        (f("created_at", "neq", json!([t3])), |r| {
            !matches!(n_of(r), 3 | 4)
        }),
        (f("provider", "eq", json!(["grok"])), |r| {
            r.provider == "grok"
        }),
        (f("provider", "neq", json!(["grok"])), |r| {
            r.provider != "grok"
        }),
        (f("provider", "contains", json!(["OPEN"])), |r| {
            r.provider == "openai"
        }),
        (f("provider", "eq", json!(["grok", "anthropic"])), |r| {
            r.provider != "openai"
        }),
        (f("model", "eq", json!(["m-even"])), |r| {
            r.model.as_deref() == Some("m-even")
        }),
        (f("model", "neq", json!(["m-even"])), |r| {
            r.model.as_deref() != Some("m-even")
        }),
        (f("model", "eq", json!([null])), |r| r.model.is_none()),
        (f("model", "neq", json!([null])), |r| r.model.is_some()),
        (f("model", "contains", json!(["odd"])), |r| {
            r.model.as_deref() == Some("m-odd")
        }),
        (f("success", "eq", json!([false])), |r| !r.success),
        (f("success", "neq", json!(["true"])), |r| !r.success),
        (f("cached", "eq", json!(["true"])), |r| r.cached),
        (f("cost", "gt", json!([1.0])), |r| r.cost > 1.0),
        (f("cost", "lt", json!(["0.5"])), |r| r.cost < 0.5),
        (f("cost", "eq", json!([0.5])), |r| r.cost == 0.5),
        (f("cost", "neq", json!([0.5])), |r| r.cost != 0.5),
        (f("tokens_in", "gt", json!([40])), |r| {
            r.tokens_in.is_some_and(|t| t > 40)
        }),
        (f("tokens_in", "gt", json!([40.5])), |r| {
            r.tokens_in.is_some_and(|t| t > 40)
        }),
        (f("tokens_in", "lt", json!([40.5])), |r| {
            r.tokens_in.is_some_and(|t| t <= 40)
        }),
        // Whole numbers written as floats (typed SDKs send 40.0) are those integers.
        (f("tokens_in", "gt", json!([40.0])), |r| {
            r.tokens_in.is_some_and(|t| t > 40)
        }),
        (f("tokens_in", "lt", json!([40.0])), |r| {
            r.tokens_in.is_some_and(|t| t < 40)
        }),
        (f("tokens_in", "eq", json!([40.0])), |r| {
            r.tokens_in == Some(40)
        }),
        (f("tokens_in", "neq", json!([40.0])), |r| {
            r.tokens_in != Some(40)
        }),
        (f("tokens_in", "eq", json!([null])), |r| {
            r.tokens_in.is_none()
        }),
        (f("tokens_in", "neq", json!([0])), |r| {
            r.tokens_in != Some(0)
        }),
        (f("tokens_out", "eq", json!(["15"])), |r| {
            r.tokens_out == Some(15)
        }),
        (f("tokens", "gt", json!([60])), |r| {
            r.tokens_in.unwrap_or(0) + r.tokens_out.unwrap_or(0) > 60
        }),
        (f("duration", "lt", json!([130])), |r| r.duration < 130),
        (f("duration", "gt", json!(["150"])), |r| r.duration > 150),
        (f("feedback", "eq", json!([1])), |r| r.feedback == Some(1)),
        (f("feedback", "eq", json!([-1])), |r| r.feedback == Some(-1)),
        (f("feedback", "eq", json!([0])), |r| r.feedback.is_none()),
        (f("feedback", "eq", json!([null])), |r| r.feedback.is_none()),
        (f("feedback", "neq", json!([0])), |r| r.feedback.is_some()),
        (f("feedback", "gt", json!([0])), |r| r.feedback == Some(1)),
        (f("feedback", "lt", json!([0])), |r| r.feedback == Some(-1)),
        (f("event_id", "eq", json!(["evt-4"])), |r| n_of(r) == 4),
        (f("event_id", "neq", json!(["evt-4"])), |r| n_of(r) != 4),
        (f("event_id", "contains", json!(["evt"])), |r| n_of(r) == 4),
        (f("metadata.key", "eq", json!(["user"])), |r| {
            matches!(n_of(r), 1 | 2)
        }),
        (f("metadata.key", "neq", json!(["user"])), |r| {
            !matches!(n_of(r), 1 | 2)
        }),
        (f("metadata.key", "contains", json!(["VI"])), |r| {
            n_of(r) == 2
        }),
        (f("metadata.value", "eq", json!(["alice"])), |r| {
            n_of(r) == 1
        }),
        (f("metadata.value", "eq", json!([42])), |r| n_of(r) == 1),
        (f("metadata.value", "eq", json!([true])), |r| n_of(r) == 2),
        (f("metadata.value", "contains", json!(["LIC"])), |r| {
            n_of(r) == 1
        }),
        (f("metadata.value", "neq", json!(["alice"])), |r| {
            n_of(r) != 1
        }),
        (f("status_code", "eq", json!([500])), |r| {
            r.status_code == 500
        }),
        (f("status_code", "gt", json!([299])), |r| {
            r.status_code > 299
        }),
        (f("request_type", "eq", json!(["compat"])), |r| {
            r.request_type == RequestType::Compat
        }),
        (
            f("request_content_type", "eq", json!(["application/json"])),
            |_| true,
        ),
        (
            f("response_content_type", "contains", json!(["event-stream"])),
            |r| matches!(n_of(r), 0 | 2 | 4 | 6 | 8),
        ),
        (f("user_agent", "contains", json!(["HTTPX"])), |r| {
            n_of(r) < 5
        }),
        (f("user_agent", "neq", json!(["node"])), |r| n_of(r) < 5),
        // Cloudflare fields Switchyard does not record: missing on every row.
        (f("model_type", "eq", json!(["text-generation"])), |_| false),
        (f("authentication", "eq", json!([true, false])), |_| false),
        (f("wholesale", "contains", json!(["t"])), |_| false),
        (f("compatibilityMode", "lt", json!([5])), |_| false),
        (f("dlp_action", "gt", json!(["A"])), |_| false),
        (f("dlp_action", "neq", json!(["BLOCK", "FLAG"])), |_| true),
        (f("authentication", "eq", json!([null])), |_| true),
        (f("authentication", "neq", json!([null])), |_| false),
        (
            json!([
                {"key": "provider", "operator": "eq", "value": ["grok"]},
                {"key": "model_type", "operator": "neq", "value": ["text-generation"]}
            ])
            .to_string(),
            |r| r.provider == "grok",
        ),
        (
            json!([
                {"key": "provider", "operator": "eq", "value": ["grok"]},
                {"key": "success", "operator": "eq", "value": [true]}
            ])
            .to_string(),
            |r| r.provider == "grok" && r.success,
        ),
    ]
}

async fn queries(store: Store) {
    let a = unique_account("q");
    let g = gw("main");
    let all = fixture(&a, &g);
    // Written in two batches, out of order.
    let (first, second) = all.split_at(4);
    let out = store.write_batch(&pending(second, None)).await.unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 6,
            skipped: 0
        }
    );
    store.write_batch(&pending(first, None)).await.unwrap();

    // get: everything, headers and bodies included.
    for r in &all {
        let got = store.get_log(&a, &g, &r.id).await.unwrap().unwrap();
        assert_eq!(&got, r);
    }
    assert!(store.get_log(&a, &g, &log_id(99)).await.unwrap().is_none());
    assert!(store
        .get_log(&a, &gw("other"), &log_id(1))
        .await
        .unwrap()
        .is_none());
    let other_account = unique_account("q-other");
    assert!(store
        .get_log(&other_account, &g, &log_id(1))
        .await
        .unwrap()
        .is_none());

    // Default list: newest first, no payloads, total from the counter.
    let (records, total) = list(&store, &a, &g, &[("per_page", "100")]).await;
    assert_eq!(total, 10);
    let want = expect(&all, |_| true);
    assert_eq!(ids(&records), want);
    assert_eq!(
        ids(&records)[5..7],
        [4, 3],
        "same created_at: id breaks the tie"
    );
    for r in &records {
        let original = &all[n_of(r) as usize];
        assert_eq!(r, &listed(original));
    }

    // Paging.
    let mut paged = Vec::new();
    for page in 1..=4 {
        let p = page.to_string();
        let (records, total) = list(&store, &a, &g, &[("per_page", "3"), ("page", &p)]).await;
        assert_eq!(total, 10, "page {page}");
        assert_eq!(records.len(), if page == 4 { 1 } else { 3 });
        paged.extend(ids(&records));
    }
    assert_eq!(paged, want);
    let (records, total) = list(&store, &a, &g, &[("per_page", "3"), ("page", "5")]).await;
    assert!(records.is_empty());
    assert_eq!(total, 10);

    // Every sort column, both directions.
    for o in OrderBy::ALL {
        for desc in [false, true] {
            let dir = if desc { "desc" } else { "asc" };
            let (records, _) = list(
                &store,
                &a,
                &g,
                &[
                    ("order_by", o.as_str()),
                    ("order_by_direction", dir),
                    ("per_page", "100"),
                ],
            )
            .await;
            let mut sorted: Vec<&LogRecord> = all.iter().collect();
            sorted.sort_by(|x, y| {
                let c = cmp_by(o, x, y);
                if desc {
                    c.reverse()
                } else {
                    c
                }
            });
            let want: Vec<u64> = sorted.into_iter().map(n_of).collect();
            assert_eq!(ids(&records), want, "order_by {} {dir}", o.as_str());
        }
    }

    // Every filter key and operator (JSON encoding), with totals counted by the database.
    for (filters, pred) in filter_cases() {
        let want = expect(&all, pred);
        let (records, total) = list(
            &store,
            &a,
            &g,
            &[("filters", &filters), ("per_page", "100")],
        )
        .await;
        assert_eq!(ids(&records), want, "filters={filters}");
        assert_eq!(total, want.len() as u64, "filters={filters}");
        let (records, total) =
            list(&store, &a, &g, &[("filters", &filters), ("per_page", "2")]).await;
        assert_eq!(
            ids(&records),
            want[..want.len().min(2)],
            "filters={filters}"
        );
        assert_eq!(total, want.len() as u64, "counted, filters={filters}");
    }

    // Search: id, provider, model, path, event id, metadata; case-insensitive; literal.
    let search_cases: Vec<(&str, Pred)> = vec![
        ("embeddings", |r| n_of(r) == 7),
        ("ALICE", |r| n_of(r) == 1),
        ("evt-4", |r| n_of(r) == 4),
        ("-000000000005", |r| n_of(r) == 5),
        ("m-odd", |r| r.model.as_deref() == Some("m-odd")),
        ("anth", |r| r.provider == "anthropic"),
        ("%", |_| false),
        ("_", |_| false),
        // The metadata's JSON syntax is not searched: no key or value holds these.
        ("\"", |_| false),
        ("\\", |_| false),
        ("\"user\"", |_| false),
        (":", |_| false),
        (",", |_| false),
        ("{", |_| false),
        ("}", |_| false),
        ("alice", |r| n_of(r) == 1),
        // Keys and every kind of value: a number, a boolean.
        ("vip", |r| n_of(r) == 2),
        ("42", |r| n_of(r) == 1),
        ("TRU", |r| n_of(r) == 2),
        // Not across an entry's key and value.
        ("user\":\"bob", |_| false),
    ];
    for (s, pred) in search_cases {
        let (records, total) = list(&store, &a, &g, &[("search", s), ("per_page", "2")]).await;
        let want = expect(&all, pred);
        assert_eq!(ids(&records), want[..want.len().min(2)], "search={s}");
        assert_eq!(total, want.len() as u64, "search={s}");
    }

    // Flat params.
    let t3 = at(BASE, 3.0);
    let t5 = at(BASE, 5.0);
    let flat_cases: Vec<(Vec<(&str, &str)>, Pred)> = vec![
        (vec![("provider", "grok"), ("success", "true")], |r| {
            r.provider == "grok" && r.success
        }),
        (vec![("start_date", &t3), ("end_date", &t5)], |r| {
            (3..=5).contains(&n_of(r))
        }),
        (vec![("min_cost", "0.5"), ("max_cost", "1")], |r| {
            (0.5..=1.0).contains(&r.cost)
        }),
        (vec![("min_total_tokens", "60")], |r| {
            r.tokens_in.unwrap_or(0) + r.tokens_out.unwrap_or(0) >= 60
        }),
        (vec![("max_duration", "120")], |r| r.duration <= 120),
        (vec![("min_duration", "120.5")], |r| r.duration >= 121),
        (vec![("feedback", "1")], |r| r.feedback == Some(1)),
        (vec![("feedback", "0")], |r| r.feedback.is_none()),
        (vec![("cached", "true")], |r| r.cached),
        (
            vec![("min_tokens_in", "30"), ("max_tokens_in", "50")],
            |r| r.tokens_in.is_some_and(|t| (30..=50).contains(&t)),
        ),
        (vec![("max_tokens_out", "10")], |r| {
            r.tokens_out.is_some_and(|t| t <= 10)
        }),
        (
            vec![
                ("model", "m-odd"),
                ("response_content_type", "application/json"),
            ],
            |r| r.model.as_deref() == Some("m-odd"),
        ),
    ];
    for (mut q, pred) in flat_cases {
        let label = format!("{q:?}");
        q.push(("per_page", "100"));
        let (records, total) = list(&store, &a, &g, &q).await;
        let want = expect(&all, pred);
        assert_eq!(ids(&records), want, "{label}");
        assert_eq!(total, want.len() as u64, "{label}");
    }

    // The SDKs' query-string encodings of `filters`.
    let grok_ok = expect(&all, |r| r.provider == "grok" && r.success);
    let python = [
        ("filters.key", "provider"),
        ("filters.key", "success"),
        ("filters.operator", "eq"),
        ("filters.operator", "eq"),
        ("filters.value", "grok"),
        ("filters.value", "true"),
        ("per_page", "100"),
    ];
    let node = [
        ("filters.key", "provider"),
        ("filters.operator", "eq"),
        ("filters.value", "grok"),
        ("filters.key", "success"),
        ("filters.operator", "eq"),
        ("filters.value", "true"),
        ("per_page", "100"),
    ];
    let indexed = [
        ("filters[0][key]", "provider"),
        ("filters[0][operator]", "eq"),
        ("filters[0][value][0]", "grok"),
        ("filters[1][key]", "success"),
        ("filters[1][operator]", "eq"),
        ("filters[1][value][0]", "true"),
        ("per_page", "100"),
    ];
    for q in [&python[..], &node[..], &indexed[..]] {
        let (records, _) = list(&store, &a, &g, q).await;
        assert_eq!(ids(&records), grok_ok, "{q:?}");
    }

    // A filter built by hand with a wrong type is refused, not run.
    let bad = LogListQuery {
        filter: LogFilter {
            conditions: vec![switchyard_store::Condition {
                key: switchyard_store::FilterKey::Cost,
                op: switchyard_store::Op::Eq,
                values: vec![json!("cheap")],
            }],
            search: None,
        },
        ..LogListQuery::default()
    };
    assert!(matches!(
        store.list_logs(&a, &g, &bad).await,
        Err(StoreError::InvalidQuery(_))
    ));

    // A gateway without logs lists nothing.
    let (records, total) = list(&store, &a, &gw("empty"), &[]).await;
    assert!(records.is_empty());
    assert_eq!(total, 0);

    // meta_info: the ranges over every matching record, not only the page's.
    let query = LogListQuery::from_query_pairs(&pairs(&[
        ("meta_info", "true"),
        ("per_page", "1"),
        ("provider", "grok"),
    ]))
    .unwrap();
    let page = store.list_logs(&a, &g, &query).await.unwrap();
    assert_eq!(page.records.len(), 1);
    let grok: Vec<&LogRecord> = all.iter().filter(|r| r.provider == "grok").collect();
    let range = |f: &dyn Fn(&LogRecord) -> Option<u64>| {
        let v: Vec<i64> = grok.iter().filter_map(|r| f(r)).map(|n| n as i64).collect();
        (*v.iter().min().unwrap(), *v.iter().max().unwrap())
    };
    let m = page.meta.expect("meta_info asked for");
    assert_eq!(
        (m.min_duration, m.max_duration),
        range(&|r| Some(r.duration))
    );
    assert_eq!((m.min_tokens_in, m.max_tokens_in), range(&|r| r.tokens_in));
    assert_eq!(
        (m.min_tokens_out, m.max_tokens_out),
        range(&|r| r.tokens_out)
    );
    assert_eq!(
        (m.min_total_tokens, m.max_total_tokens),
        range(&|r| Some(r.tokens_in.unwrap_or(0) + r.tokens_out.unwrap_or(0)))
    );
    let costs: Vec<f64> = grok.iter().map(|r| r.cost).collect();
    assert_eq!(m.min_cost, costs.iter().cloned().fold(f64::MAX, f64::min));
    assert_eq!(m.max_cost, costs.iter().cloned().fold(f64::MIN, f64::max));
    assert!(m.min_cost < m.max_cost && m.min_duration < m.max_duration);
    let plain = LogListQuery::from_query_pairs(&pairs(&[("provider", "grok")])).unwrap();
    assert_eq!(store.list_logs(&a, &g, &plain).await.unwrap().meta, None);
    let none =
        LogListQuery::from_query_pairs(&pairs(&[("meta_info", "true"), ("provider", "nobody")]))
            .unwrap();
    let m = store.list_logs(&a, &g, &none).await.unwrap().meta.unwrap();
    assert_eq!((m.max_cost, m.max_tokens_in), (0.0, 0));
}

async fn patch_and_delete(store: Store) {
    let a = unique_account("pd");
    let g = gw("main");
    let all = fixture(&a, &g);
    store.write_batch(&pending(&all, None)).await.unwrap();

    // feedback, score and metadata; untouched fields stay.
    let patch = LogPatch {
        feedback: Some(Some(-1)),
        score: Some(Some(87.5)),
        metadata: Some(Some(meta(json!({"reviewed": true, "by": "carol"})))),
    };
    let got = store
        .patch_log(&a, &g, &log_id(5), &patch)
        .await
        .unwrap()
        .unwrap();
    let mut want = all[5].clone();
    want.feedback = Some(-1);
    want.score = Some(87.5);
    want.metadata = Some(meta(json!({"reviewed": true, "by": "carol"})));
    assert_eq!(got, want);
    // An id with a NUL names no record (PostgreSQL cannot even compare such text).
    let nul = format!("{}\0", log_id(5));
    assert_eq!(store.get_log(&a, &g, &nul).await.unwrap(), None);
    assert_eq!(store.patch_log(&a, &g, &nul, &patch).await.unwrap(), None);
    assert_eq!(
        store.get_log(&a, &g, &log_id(5)).await.unwrap().unwrap(),
        want
    );

    // Only feedback; then clear everything.
    let got = store
        .patch_log(
            &a,
            &g,
            &log_id(5),
            &LogPatch {
                feedback: Some(Some(1)),
                ..LogPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.feedback, Some(1));
    assert_eq!(got.score, Some(87.5));
    let cleared = LogPatch {
        feedback: Some(None),
        score: Some(None),
        metadata: Some(None),
    };
    let got = store
        .patch_log(&a, &g, &log_id(5), &cleared)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, all[5]);
    // An empty patch returns the record; feedback 0 means "none".
    let got = store
        .patch_log(&a, &g, &log_id(1), &LogPatch::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, all[1]);
    let got = store
        .patch_log(
            &a,
            &g,
            &log_id(1),
            &LogPatch {
                feedback: Some(Some(0)),
                ..LogPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.feedback, None);
    // Unknown record or gateway.
    assert!(store
        .patch_log(&a, &g, &log_id(77), &patch)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .patch_log(&a, &gw("nope"), &log_id(1), &patch)
        .await
        .unwrap()
        .is_none());
    // The patched metadata is filterable.
    store.patch_log(&a, &g, &log_id(3), &patch).await.unwrap();
    let (records, _) = list(
        &store,
        &a,
        &g,
        &[("filters", &f("metadata.value", "eq", json!(["carol"])))],
    )
    .await;
    assert_eq!(ids(&records), vec![3]);

    // Delete by filter: the count, the rest, and the counter-based total all agree.
    let grok = LogFilter::from_query_pairs(&pairs(&[("provider", "grok")])).unwrap();
    let n = store.delete_logs(&a, &g, &grok).await.unwrap();
    assert_eq!(n, 4);
    let (records, total) = list(&store, &a, &g, &[("per_page", "3")]).await;
    assert_eq!(total, 6);
    assert_eq!(records.len(), 3);
    let (records, _) = list(&store, &a, &g, &[("per_page", "100")]).await;
    assert_eq!(ids(&records), expect(&all, |r| r.provider != "grok"));
    assert!(store.get_log(&a, &g, &log_id(0)).await.unwrap().is_none());
    assert_eq!(store.delete_logs(&a, &g, &grok).await.unwrap(), 0);

    // Delete with search and JSON filters, then everything.
    let by_search = LogFilter::from_query_pairs(&pairs(&[("search", "embeddings")])).unwrap();
    assert_eq!(store.delete_logs(&a, &g, &by_search).await.unwrap(), 1);
    assert_eq!(
        store
            .delete_logs(&a, &g, &LogFilter::default())
            .await
            .unwrap(),
        5
    );
    let (records, total) = list(&store, &a, &g, &[("per_page", "1")]).await;
    assert!(records.is_empty());
    assert_eq!(total, 0);
    assert_eq!(
        store
            .delete_logs(&a, &gw("nope"), &LogFilter::default())
            .await
            .unwrap(),
        0
    );

    // Writing again after deletes keeps the counter right.
    store.write_batch(&pending(&all[..3], None)).await.unwrap();
    let (_, total) = list(&store, &a, &g, &[("per_page", "1")]).await;
    assert_eq!(total, 3);
}

/// Deletes with `limit`, `order_by` and `order_by_direction` remove exactly the first rows of
/// the list in that order, and keep the row counter right.
async fn limited_deletes(store: Store) {
    let a = unique_account("dl");
    // The records a delete should remove: the first `n` matches in that order.
    let oracle = |all: &[LogRecord], filter: Pred, o: OrderBy, desc: bool, n: usize| {
        let mut m: Vec<&LogRecord> = all.iter().filter(|r| filter(r)).collect();
        m.sort_by(|x, y| {
            let c = cmp_by(o, x, y);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
        let mut gone: Vec<u64> = m.into_iter().take(n).map(n_of).collect();
        gone.sort_unstable();
        gone
    };
    let grok: Pred = |r| r.provider == "grok";
    let every: Pred = |_| true;
    let none: Pred = |_| false;
    let model_type_eq = f("model_type", "eq", json!(["text-generation"]));
    let dlp_neq = f("dlp_action", "neq", json!(["BLOCK"]));
    // (query string, the records it deletes); each case runs on a fresh copy of the fixture.
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<u64>);
    let cases: Vec<Case> = {
        let all = fixture(&a, &gw("x"));
        vec![
            // What the Python SDK sends for logs.delete(limit=1, order_by="created_at",
            // order_by_direction="asc"): the oldest record.
            (
                vec![
                    ("limit", "1"),
                    ("order_by", "created_at"),
                    ("order_by_direction", "asc"),
                ],
                oracle(&all, every, OrderBy::CreatedAt, false, 1),
            ),
            // Default order: newest first.
            (
                vec![("limit", "3")],
                oracle(&all, every, OrderBy::CreatedAt, true, 3),
            ),
            // Filtered, by another column; ties (r3/r4 share created_at) by id.
            (
                vec![
                    ("provider", "grok"),
                    ("limit", "2"),
                    ("order_by", "cost"),
                    ("order_by_direction", "desc"),
                ],
                oracle(&all, grok, OrderBy::Cost, true, 2),
            ),
            (
                vec![
                    ("limit", "4"),
                    ("order_by", "model_type"),
                    ("direction", "asc"),
                ],
                oracle(&all, every, OrderBy::Model, false, 4),
            ),
            (
                vec![("limit", "2"), ("order_by", "feedback")],
                oracle(&all, every, OrderBy::Feedback, true, 2),
            ),
            (
                vec![
                    ("limit", "5"),
                    ("order_by", "tokens_in"),
                    ("order_by_direction", "asc"),
                ],
                oracle(&all, every, OrderBy::TokensIn, false, 5),
            ),
            // A limit above the matches deletes them all; no limit deletes every match.
            (
                vec![("provider", "grok"), ("limit", "10000")],
                oracle(&all, grok, OrderBy::CreatedAt, true, 10),
            ),
            (
                vec![("provider", "grok"), ("order_by", "cost")],
                oracle(&all, grok, OrderBy::CreatedAt, true, 10),
            ),
            // Unrecorded Cloudflare fields: eq matches nothing, neq everything.
            (
                vec![("filters", &model_type_eq), ("limit", "5")],
                oracle(&all, none, OrderBy::CreatedAt, true, 5),
            ),
            (
                vec![
                    ("filters", &dlp_neq),
                    ("limit", "2"),
                    ("order_by_direction", "asc"),
                ],
                oracle(&all, every, OrderBy::CreatedAt, false, 2),
            ),
        ]
    };
    for (i, (q, gone)) in cases.into_iter().enumerate() {
        let g = gw(&format!("case-{i}"));
        let all = fixture(&a, &g);
        store.write_batch(&pending(&all, None)).await.unwrap();
        let delete = LogDelete::from_query_pairs(&pairs(&q)).unwrap();
        let n = store.delete_logs_limited(&a, &g, &delete).await.unwrap();
        assert_eq!(n, gone.len() as u64, "{q:?}");
        let (records, total) = list(&store, &a, &g, &[("per_page", "100")]).await;
        let mut left = ids(&records);
        left.sort_unstable();
        let want: Vec<u64> = (0..10).filter(|n| !gone.contains(n)).collect();
        assert_eq!(left, want, "{q:?}");
        // The counter-based total agrees (page 2 of 1-row pages forces it).
        let (_, total_by_counter) = list(&store, &a, &g, &[("per_page", "1")]).await;
        assert_eq!(
            (total, total_by_counter),
            (want.len() as u64, want.len() as u64)
        );
    }
    // `delete_logs` (no limit) is the same as a LogDelete without one.
    let g = gw("plain");
    store
        .write_batch(&pending(&fixture(&a, &g), None))
        .await
        .unwrap();
    let grok_filter = LogFilter::from_query_pairs(&pairs(&[("provider", "grok")])).unwrap();
    assert_eq!(
        LogQuery::delete_logs(&*store, &a, &g, &grok_filter)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .delete_logs_limited(&a, &gw("nope"), &LogDelete::default())
            .await
            .unwrap(),
        0
    );
}

fn numbered(a: &AccountId, g: &GatewayId, from: u64, count: u64) -> Vec<LogRecord> {
    (from..from + count)
        .map(|n| record(a, g, n, &at(BASE, n as f64)))
        .collect()
}

async fn caps(store: Store) {
    let a = unique_account("cap");

    // STOP_INSERTING: fill up to the cap, then skip; deletes make room again.
    let g = gw("stop");
    let stop = Some(LogCap {
        max_rows: 5,
        strategy: LogStrategy::StopInserting,
    });
    let out = store
        .write_batch(&pending(&numbered(&a, &g, 0, 8), stop))
        .await
        .unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 5,
            skipped: 3
        }
    );
    let out = store
        .write_batch(&pending(&numbered(&a, &g, 8, 2), stop))
        .await
        .unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 0,
            skipped: 2
        }
    );
    let (records, total) = list(&store, &a, &g, &[("per_page", "100")]).await;
    assert_eq!(total, 5);
    assert_eq!(ids(&records), vec![4, 3, 2, 1, 0]);
    let two = LogFilter::from_query_pairs(&pairs(&[(
        "filters",
        &f("id", "eq", json!([log_id(0), log_id(1)])),
    )]))
    .unwrap();
    assert_eq!(store.delete_logs(&a, &g, &two).await.unwrap(), 2);
    let out = store
        .write_batch(&pending(&numbered(&a, &g, 20, 3), stop))
        .await
        .unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 2,
            skipped: 1
        }
    );
    let (_, total) = list(&store, &a, &g, &[("per_page", "1")]).await;
    assert_eq!(total, 5);

    // Skipped records still count in analytics.
    let day = AnalyticsQuery {
        start: "2026-03-01T00:00:00Z".into(),
        end: "2026-03-02T00:00:00Z".into(),
        bucket: Bucket::Day,
        group_by: vec![],
    };
    let rows = store.analytics(&a, &g, &day).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].requests, 13);

    // DELETE_OLDEST: keep the newest max_rows.
    let g = gw("oldest");
    let oldest = Some(LogCap {
        max_rows: 5,
        strategy: LogStrategy::DeleteOldest,
    });
    let out = store
        .write_batch(&pending(&numbered(&a, &g, 0, 8), oldest))
        .await
        .unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 8,
            skipped: 0
        }
    );
    let (records, total) = list(&store, &a, &g, &[("per_page", "100")]).await;
    assert_eq!(total, 5);
    assert_eq!(ids(&records), vec![7, 6, 5, 4, 3]);
    store
        .write_batch(&pending(&numbered(&a, &g, 8, 3), oldest))
        .await
        .unwrap();
    let (records, total) = list(&store, &a, &g, &[("per_page", "100")]).await;
    assert_eq!(total, 5);
    assert_eq!(ids(&records), vec![10, 9, 8, 7, 6]);
    // Lowering the cap trims on the next write.
    let lower = Some(LogCap {
        max_rows: 2,
        strategy: LogStrategy::DeleteOldest,
    });
    store
        .write_batch(&pending(&numbered(&a, &g, 11, 1), lower))
        .await
        .unwrap();
    let (records, total) = list(&store, &a, &g, &[("per_page", "100")]).await;
    assert_eq!(total, 2);
    assert_eq!(ids(&records), vec![11, 10]);

    // No cap: unbounded, and one batch may span gateways with different caps.
    let free = gw("free");
    let mut mixed = pending(&numbered(&a, &free, 0, 4), None);
    mixed.extend(pending(&numbered(&a, &gw("stop"), 30, 1), stop));
    let out = store.write_batch(&mixed).await.unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 4,
            skipped: 1
        }
    );
}

async fn duplicates_and_payloads(store: Store) {
    let a = unique_account("dup");
    let g = gw("main");
    let batch = numbered(&a, &g, 0, 3);
    let out = store.write_batch(&pending(&batch, None)).await.unwrap();
    assert_eq!(out.written, 3);
    // A retried batch (and a repeat inside one batch) stores nothing twice.
    let mut again = pending(&batch, None);
    again.extend(pending(&numbered(&a, &g, 3, 1), None));
    again.extend(pending(&numbered(&a, &g, 3, 1), None));
    let out = store.write_batch(&again).await.unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            written: 1,
            skipped: 0
        }
    );
    let (_, total) = list(&store, &a, &g, &[("per_page", "1")]).await;
    assert_eq!(total, 4);
    // The same id on another gateway is another record.
    let out = store
        .write_batch(&pending(&numbered(&a, &gw("second"), 0, 1), None))
        .await
        .unwrap();
    assert_eq!(out.written, 1);
    assert!(store.write_batch(&[]).await.unwrap() == WriteOutcome::default());

    // Large and binary payloads, and a record with only one of them.
    let mut big = record(&a, &g, 100, &at(BASE, 100.0));
    big.request_body = Some(bytes::Bytes::from(vec![0u8, 159, 146, 150, 255]));
    big.response_body = Some(bytes::Bytes::from(vec![b'x'; 200_000]));
    let mut headers_only = record(&a, &g, 101, &at(BASE, 101.0));
    headers_only.response_headers = Some("{}".into());
    let mut fraction = record(&a, &g, 102, "2026-03-01T10:00:00.000001Z");
    fraction.metadata = Some(meta(json!({"k": "v", "n": 1.5, "b": false})));
    store
        .write_batch(&pending(
            &[big.clone(), headers_only.clone(), fraction.clone()],
            None,
        ))
        .await
        .unwrap();
    assert_eq!(store.get_log(&a, &g, &big.id).await.unwrap().unwrap(), big);
    assert_eq!(
        store
            .get_log(&a, &g, &headers_only.id)
            .await
            .unwrap()
            .unwrap(),
        headers_only
    );
    assert_eq!(
        store.get_log(&a, &g, &fraction.id).await.unwrap().unwrap(),
        fraction
    );
    // A retried batch mixing stored and new records, all with payloads: each new record
    // gets its own payload, the stored ones keep theirs.
    let with_body = |n: u64| {
        let mut r = record(&a, &g, n, &at(BASE, n as f64));
        r.request_body = Some(bytes::Bytes::from(format!("request {n}")));
        r.response_headers = Some(format!("{{\"n\":\"{n}\"}}"));
        r
    };
    let first: Vec<LogRecord> = [200, 201, 202].map(with_body).into();
    store.write_batch(&pending(&first, None)).await.unwrap();
    let mut changed = first.clone();
    for r in &mut changed {
        r.request_body = Some(bytes::Bytes::from_static(b"retried"));
    }
    let mixed = vec![
        changed[0].clone(),
        with_body(203),
        changed[1].clone(),
        with_body(204),
        with_body(203),
        changed[2].clone(),
        with_body(205),
    ];
    let out = store.write_batch(&pending(&mixed, None)).await.unwrap();
    assert_eq!(out.written, 3);
    for n in 200..=205 {
        let got = store.get_log(&a, &g, &log_id(n)).await.unwrap().unwrap();
        assert_eq!(got, with_body(n), "record {n}");
    }
    // Microseconds order after the whole second they follow.
    let (records, _) = list(
        &store,
        &a,
        &g,
        &[("order_by_direction", "asc"), ("per_page", "2")],
    )
    .await;
    assert_eq!(ids(&records), vec![0, 102]);
}

fn row<'a>(rows: &'a [AnalyticsRow], bucket: &str, provider: Option<&str>) -> &'a AnalyticsRow {
    rows.iter()
        .find(|r| r.bucket == bucket && r.provider.as_deref() == provider)
        .unwrap_or_else(|| panic!("no row {bucket} {provider:?} in {rows:#?}"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

async fn analytics(store: Store) {
    let a = unique_account("an");
    let g = gw("main");
    let mk = |n: u64, t: &str, provider: &str, model: Option<&str>| {
        let mut r = record(&a, &g, n, t);
        r.provider = provider.into();
        r.model = model.map(Into::into);
        r
    };
    let mut a0 = mk(0, "2026-03-01T10:00:10Z", "grok", Some("m1"));
    a0.duration = 100;
    a0.cost = 0.5;
    let mut a1 = mk(1, "2026-03-01T10:00:50Z", "grok", Some("m1"));
    a1.success = false;
    a1.cached = true;
    a1.duration = 200;
    a1.tokens_in = None;
    a1.tokens_out = None;
    a1.cost = 0.0;
    let mut a2 = mk(2, "2026-03-01T10:01:30Z", "openai", Some("m2"));
    a2.duration = 300;
    a2.tokens_in = Some(20);
    a2.tokens_out = Some(10);
    a2.cost = 1.0;
    let mut a3 = mk(3, "2026-03-01T11:30:00Z", "grok", Some("m2"));
    a3.duration = 400;
    let mut a4 = mk(4, "2026-03-02T00:10:00Z", "openai", None);
    a4.duration = 500;
    let mut batch = vec![a0, a1, a2, a3, a4];
    // A group with a known latency distribution: 10, 20, ..., 1000 ms.
    for k in 1..=100u64 {
        let t = at("2026-03-03T12:00:00Z", (k % 90) as f64);
        let mut r = mk(1000 + k, &t, "p", Some("pm"));
        r.duration = k * 10;
        batch.push(r);
    }
    // Written in three batches so rollup rows are merged, not just inserted.
    store
        .write_batch(&pending(&batch[..2], None))
        .await
        .unwrap();
    store
        .write_batch(&pending(&batch[2..50], None))
        .await
        .unwrap();
    store
        .write_batch(&pending(&batch[50..], None))
        .await
        .unwrap();

    let q = |start: &str, end: &str, bucket, group_by| AnalyticsQuery {
        start: start.into(),
        end: end.into(),
        bucket,
        group_by,
    };

    // Minutes, ungrouped.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:02:00Z",
                Bucket::Minute,
                vec![],
            ),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let m0 = &rows[0];
    assert_eq!(m0.bucket, "2026-03-01T10:00:00.000000Z");
    assert_eq!((m0.provider.as_deref(), m0.model.as_deref()), (None, None));
    assert_eq!(
        (
            m0.requests,
            m0.errors,
            m0.cache_hits,
            m0.tokens_in,
            m0.tokens_out
        ),
        (2, 1, 1, 10, 5)
    );
    assert!(close(m0.cost, 0.5, 1e-9));
    assert!(close(m0.latency_p50, 100.0, 0.05), "{}", m0.latency_p50);
    assert!(close(m0.latency_p95, 200.0, 0.05), "{}", m0.latency_p95);
    let m1 = &rows[1];
    assert_eq!(m1.bucket, "2026-03-01T10:01:00.000000Z");
    assert_eq!((m1.requests, m1.tokens_in, m1.tokens_out), (1, 20, 10));
    // The end is exclusive.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:01:00Z",
                Bucket::Minute,
                vec![],
            ),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);

    // Hours.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T00:00:00Z",
                "2026-03-03T00:00:00Z",
                Bucket::Hour,
                vec![],
            ),
        )
        .await
        .unwrap();
    let buckets: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| (r.bucket.as_str(), r.requests))
        .collect();
    assert_eq!(
        buckets,
        vec![
            ("2026-03-01T10:00:00.000000Z", 3),
            ("2026-03-01T11:00:00.000000Z", 1),
            ("2026-03-02T00:00:00.000000Z", 1)
        ]
    );

    // A range with ragged ends: whole hours from the hourly rollup, the ends from the minutes.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T10:00:30Z",
                "2026-03-02T00:30:00Z",
                Bucket::Hour,
                vec![],
            ),
        )
        .await
        .unwrap();
    let buckets: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| (r.bucket.as_str(), r.requests))
        .collect();
    assert_eq!(
        buckets,
        vec![
            ("2026-03-01T10:00:00.000000Z", 1),
            ("2026-03-01T11:00:00.000000Z", 1),
            ("2026-03-02T00:00:00.000000Z", 1)
        ]
    );
    assert!(close(rows[0].latency_p50, 300.0, 0.05));
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T10:00:30Z",
                "2026-03-02T00:05:00Z",
                Bucket::Day,
                vec![],
            ),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "a4 (00:10) is after the end: {rows:#?}");
    assert_eq!(rows[0].requests, 2);

    // Days by provider, ordered by bucket then provider.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T00:00:00Z",
                "2026-03-04T00:00:00Z",
                Bucket::Day,
                vec![GroupBy::Provider],
            ),
        )
        .await
        .unwrap();
    let got: Vec<(&str, Option<&str>, Option<&str>, u64)> = rows
        .iter()
        .map(|r| {
            (
                r.bucket.as_str(),
                r.provider.as_deref(),
                r.model.as_deref(),
                r.requests,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-03-01T00:00:00.000000Z", Some("grok"), None, 3),
            ("2026-03-01T00:00:00.000000Z", Some("openai"), None, 1),
            ("2026-03-02T00:00:00.000000Z", Some("openai"), None, 1),
            ("2026-03-03T00:00:00.000000Z", Some("p"), None, 100),
        ]
    );
    let grok = row(&rows, "2026-03-01T00:00:00.000000Z", Some("grok"));
    assert_eq!((grok.errors, grok.cache_hits, grok.tokens_in), (1, 1, 20));
    assert!(close(grok.cost, 0.501, 1e-9), "{}", grok.cost);

    // Days by provider and model: a missing model is its own group.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T00:00:00Z",
                "2026-03-03T00:00:00Z",
                Bucket::Day,
                vec![GroupBy::Provider, GroupBy::Model],
            ),
        )
        .await
        .unwrap();
    let got: Vec<(Option<&str>, Option<&str>, u64)> = rows
        .iter()
        .map(|r| (r.provider.as_deref(), r.model.as_deref(), r.requests))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("grok"), Some("m1"), 2),
            (Some("grok"), Some("m2"), 1),
            (Some("openai"), Some("m2"), 1),
            (Some("openai"), None, 1),
        ]
    );

    // Percentiles of the known distribution, grouped by model only.
    let rows = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-03T00:00:00Z",
                "2026-03-04T00:00:00Z",
                Bucket::Hour,
                vec![GroupBy::Model],
            ),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let p = &rows[0];
    assert_eq!(
        (p.bucket.as_str(), p.provider.as_deref(), p.model.as_deref()),
        ("2026-03-03T12:00:00.000000Z", None, Some("pm"))
    );
    assert_eq!(p.requests, 100);
    assert!(close(p.latency_p50, 500.0, 0.05), "p50 {}", p.latency_p50);
    assert!(close(p.latency_p95, 950.0, 0.05), "p95 {}", p.latency_p95);

    // Deleting logs does not change analytics.
    let before = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T00:00:00Z",
                "2026-03-04T00:00:00Z",
                Bucket::Day,
                vec![],
            ),
        )
        .await
        .unwrap();
    store
        .delete_logs(&a, &g, &LogFilter::default())
        .await
        .unwrap();
    let after = store
        .analytics(
            &a,
            &g,
            &q(
                "2026-03-01T00:00:00Z",
                "2026-03-04T00:00:00Z",
                Bucket::Day,
                vec![],
            ),
        )
        .await
        .unwrap();
    assert_eq!(before, after);

    // Unknown gateway, empty range, bad bounds.
    let day = q(
        "2026-03-01T00:00:00Z",
        "2026-03-04T00:00:00Z",
        Bucket::Day,
        vec![],
    );
    assert!(store
        .analytics(&a, &gw("none"), &day)
        .await
        .unwrap()
        .is_empty());
    let empty = q(
        "2027-01-01T00:00:00Z",
        "2027-01-02T00:00:00Z",
        Bucket::Day,
        vec![],
    );
    assert!(store.analytics(&a, &g, &empty).await.unwrap().is_empty());
    let bad = q("yesterday", "2027-01-02T00:00:00Z", Bucket::Day, vec![]);
    assert!(matches!(
        store.analytics(&a, &g, &bad).await,
        Err(StoreError::InvalidQuery(_))
    ));
}

/// Several writers (two handles on one database, as two replicas or processes would have)
/// race to fill one `STOP_INSERTING` gateway: the cap holds exactly.
async fn concurrent_writers(stores: [Store; 2]) {
    let a = unique_account("race");
    let g = gw("main");
    let cap = Some(LogCap {
        max_rows: 37,
        strategy: LogStrategy::StopInserting,
    });
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = stores[(t % 2) as usize].clone();
        let batch = pending(&numbered(&a, &g, t * 100, 10), cap);
        tasks.push(tokio::spawn(async move {
            let mut sum = WriteOutcome::default();
            for chunk in batch.chunks(5) {
                let out = store.write_batch(chunk).await.unwrap();
                sum.written += out.written;
                sum.skipped += out.skipped;
            }
            sum
        }));
    }
    let mut written = 0;
    let mut skipped = 0;
    for t in tasks {
        let out = t.await.unwrap();
        written += out.written;
        skipped += out.skipped;
    }
    assert_eq!((written, skipped), (37, 43));
    let (_, total) = list(&stores[0], &a, &g, &[("per_page", "1")]).await;
    assert_eq!(total, 37);
    let (records, _) = list(&stores[1], &a, &g, &[("per_page", "100")]).await;
    assert_eq!(records.len(), 37);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let one = switchyard_store::open(&url).await.unwrap();
    let two = switchyard_store::open(&url).await.unwrap();
    concurrent_writers([one, two]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_writers() {
    let one = common::postgres().await;
    let two = common::postgres().await;
    concurrent_writers([one, two]).await;
}

/// A record PostgreSQL cannot store (a NUL character in text) is refused as such: the error
/// says retrying the same rows cannot help, which the log writer needs to tell a poison
/// record from a lost connection. SQLite stores it.
#[tokio::test]
async fn postgres_refuses_text_it_cannot_store_as_a_rejection() {
    let store = common::postgres().await;
    let a = unique_account("nul");
    let g = gw("main");
    let mut bad = record(&a, &g, 1, &at("2026-01-01T00:00:00Z", 0.0));
    bad.model = Some("a\0b".into());
    let err = store
        .write_batch(&pending(&[bad.clone()], None))
        .await
        .expect_err("PostgreSQL refuses NUL in text");
    assert!(err.is_rejection(), "{err}");
    // The same batch without the bad record goes in.
    let good = record(&a, &g, 2, &at("2026-01-01T00:00:00Z", 1.0));
    let out = store.write_batch(&pending(&[good], None)).await.unwrap();
    assert_eq!(out.written, 1);
    let (sqlite, _dir) = common::sqlite().await;
    assert_eq!(
        sqlite
            .write_batch(&pending(&[bad], None))
            .await
            .unwrap()
            .written,
        1
    );
    // A database that cannot be reached, or is too busy, is not a rejection.
    for e in [sqlx::Error::PoolTimedOut, sqlx::Error::WorkerCrashed] {
        assert!(!switchyard_store::StoreError::Database(e).is_rejection());
    }
}

/// Metadata values are found as the record shows them and as the number they are, whatever
/// text each database makes of a number; a NUL in metadata (stored as U+FFFD) breaks no
/// filter.
async fn metadata_values(store: Store) {
    let a = unique_account("meta");
    let g = gw("main");
    let values = [
        json!(0.00001),
        json!(0.30000000000000004),
        json!(1e-7),
        json!(-0.0),
        json!(42),
        json!(2.5),
        json!("0.00001"),
    ];
    let mut records: Vec<LogRecord> = values
        .iter()
        .enumerate()
        .map(|(n, v)| {
            let mut r = record(&a, &g, n as u64, &at(BASE, n as f64));
            r.metadata = Some(meta(json!({ "v": v })));
            r
        })
        .collect();
    let mut nul = record(&a, &g, 50, &at(BASE, 50.0));
    nul.metadata = Some(meta(json!({"user\0": "mallory\0"})));
    records.push(nul);
    store.write_batch(&pending(&records, None)).await.unwrap();
    let found = |filter: String| {
        let store = store.clone();
        let (a, g) = (a.clone(), g.clone());
        async move {
            let (rows, _) = list(&store, &a, &g, &[("filters", &filter), ("per_page", "50")]).await;
            let mut n = ids(&rows);
            n.sort_unstable();
            n
        }
    };
    let eq = |v: Value| f("metadata.value", "eq", json!([v]));
    // The text the API shows for each, and other spellings of the same number. The string
    // "0.00001" is found by its text only.
    for (text, want) in [
        ("0.00001", vec![0, 6]),
        ("1e-05", vec![0]),
        ("0.30000000000000004", vec![1]),
        ("1e-7", vec![2]),
        ("0.0000001", vec![2]),
        ("-0.0", vec![3]),
        ("42", vec![4]),
        ("42.0", vec![4]),
        ("2.5", vec![5]),
    ] {
        assert_eq!(found(eq(json!(text))).await, want, "eq {text}");
    }
    assert!(found(eq(json!(0.00001))).await.contains(&0));
    assert_eq!(found(eq(json!("inf"))).await, Vec::<u64>::new());
    let neq = found(f("metadata.value", "neq", json!(["1e-7"]))).await;
    assert_eq!(neq, vec![0, 1, 3, 4, 5, 6, 50]);
    // The NUL record: stored with U+FFFD, found by it, and no filter fails because of it.
    let stored = store
        .get_log(&a, &g, &records[7].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.metadata,
        Some(meta(json!({"user\u{fffd}": "mallory\u{fffd}"})))
    );
    assert_eq!(found(eq(json!("mallory\u{fffd}"))).await, vec![50]);
    assert_eq!(
        found(f("metadata.key", "eq", json!(["user\u{fffd}"]))).await,
        vec![50]
    );
    // A patch brings the same.
    store
        .patch_log(
            &a,
            &g,
            &records[0].id,
            &LogPatch {
                metadata: Some(Some(meta(json!({"note": "a\0b"})))),
                ..LogPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found(eq(json!("a\u{fffd}b"))).await, vec![0]);
}

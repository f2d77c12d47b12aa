//! `/gateways/{g}/logs...` and `/gateways/{g}/analytics`: the request log as Cloudflare's
//! logs API serves it. `metadata` is returned as a JSON-encoded string, as Cloudflare does.

use super::{account, gateway_id, json_object, ok, page_body, CpError, CpResult};
use crate::app::App;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use switchyard_core::{AccountId, GatewayId, LogRecord};
use switchyard_store::logs::{AnalyticsQuery, Bucket, GroupBy, LogDelete, LogListQuery, LogPatch};

/// Bytes of each stored body shown as `request_head` / `response_head` on a single record.
const HEAD_LEN: usize = 1024;

/// A record as the API shows it.
pub fn record_json(r: &LogRecord, with_heads: bool) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let meta = match &r.metadata {
            Some(map) => Value::String(Value::Object(map.clone()).to_string()),
            None => Value::Null,
        };
        m.insert("metadata".into(), meta);
        // Cloudflare's record always names a model (the SDKs type it as a string): a request
        // whose model is unknown (no body, a body that is not JSON) shows an empty one.
        if r.model.is_none() {
            m.insert("model".into(), Value::String(String::new()));
        }
        m.insert("gateway_id".into(), Value::String(r.gateway_id.to_string()));
        m.insert(
            "tokens".into(),
            match (r.tokens_in, r.tokens_out) {
                (None, None) => Value::Null,
                (i, o) => json!(i.unwrap_or(0) + o.unwrap_or(0)),
            },
        );
        if with_heads {
            for (name, body) in [("request", &r.request_body), ("response", &r.response_body)] {
                let (head, complete) = match body {
                    Some(b) => {
                        let end = b.len().min(HEAD_LEN);
                        (
                            Value::String(String::from_utf8_lossy(&b[..end]).into_owned()),
                            b.len() <= HEAD_LEN,
                        )
                    }
                    None => (Value::Null, false),
                };
                m.insert(format!("{name}_head"), head);
                m.insert(format!("{name}_head_complete"), Value::Bool(complete));
            }
            // The stored headers (credentials redacted), as objects of name → value; null
            // when the record kept no payload.
            for (name, stored) in [
                ("request_headers", &r.request_headers),
                ("response_headers", &r.response_headers),
            ] {
                let headers = stored
                    .as_deref()
                    .and_then(|h| serde_json::from_str::<Value>(h).ok())
                    .unwrap_or(Value::Null);
                m.insert(name.into(), headers);
            }
        }
    }
    v
}

async fn gateway_of(app: &App, acct: &str, gw: &str) -> Result<(AccountId, GatewayId), CpError> {
    let a = account(acct)?;
    let g = gateway_id(gw)?;
    if app.store().get_gateway(&a, &g).await?.is_none() {
        return Err(CpError::not_found(format!("gateway '{gw}' not found")));
    }
    Ok((a, g))
}

pub async fn list(
    State(app): State<App>,
    Path((acct, gw)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    let query =
        LogListQuery::from_query_pairs(&pairs).map_err(|e| CpError::invalid(e.to_string()))?;
    settle(&app).await;
    let page = app.store().list_logs(&a, &g, &query).await?;
    let items = page.records.iter().map(|r| record_json(r, false)).collect();
    let mut answer = page_body(
        items,
        u64::from(query.page),
        u64::from(query.per_page),
        page.total_count,
    );
    if let Some(m) = page.meta {
        answer["result_info"]
            .as_object_mut()
            .expect("page_body writes result_info")
            .extend([
                ("min_cost".to_owned(), json!(m.min_cost)),
                ("max_cost".to_owned(), json!(m.max_cost)),
                ("min_duration".to_owned(), json!(m.min_duration)),
                ("max_duration".to_owned(), json!(m.max_duration)),
                ("min_tokens_in".to_owned(), json!(m.min_tokens_in)),
                ("max_tokens_in".to_owned(), json!(m.max_tokens_in)),
                ("min_tokens_out".to_owned(), json!(m.min_tokens_out)),
                ("max_tokens_out".to_owned(), json!(m.max_tokens_out)),
                ("min_total_tokens".to_owned(), json!(m.min_total_tokens)),
                ("max_total_tokens".to_owned(), json!(m.max_total_tokens)),
            ]);
    }
    Ok(axum::Json(answer).into_response())
}

pub async fn delete(
    State(app): State<App>,
    Path((acct, gw)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    let delete =
        LogDelete::from_query_pairs(&pairs).map_err(|e| CpError::invalid(e.to_string()))?;
    settle(&app).await;
    let deleted = app.store().delete_logs_limited(&a, &g, &delete).await?;
    // Cloudflare answers `{"success": true}`; the count is added.
    ok(json!({ "success": true, "deleted": deleted }))
}

/// Records are written in batches, a few tens of milliseconds after their answer: a log id
/// just returned in `cf-aig-log-id` may not be stored yet. Before answering 404 for an id that
/// could still be queued, this replica's log queue is flushed (every record queued so far
/// written) and the lookup made again, so that reading or patching a request's record right
/// after its answer works on the replica that served it. At most this long is spent waiting
/// for the flush.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Lets the records of requests answered so far reach the store before a list, a delete by
/// filters or the analytics read it: this replica's log queue is flushed first (at most
/// [`FLUSH_WAIT`]), so that a request and then a listing of its gateway's logs find its
/// record, and a delete of everything leaves nothing queued to appear after it. Records of
/// requests still under way (streams) are written when they end.
async fn settle(app: &App) {
    let _ = tokio::time::timeout(FLUSH_WAIT, app.log_queue().flush()).await;
}

/// How recent a log id must be for its record to be looked for in this replica's queue.
const QUEUED_FOR: std::time::Duration = std::time::Duration::from_secs(600);
/// How recent it must be for its record to be waited for when another replica may still be
/// writing it.
const WRITING_FOR: std::time::Duration = std::time::Duration::from_secs(30);
/// How often the store is asked again meanwhile.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// How long ago `id` was given out, when it is a log id (UUIDv7).
fn log_id_age(id: &str) -> Option<std::time::Duration> {
    let ts = uuid::Uuid::try_parse(id)
        .ok()
        .filter(|u| u.get_version_num() == 7)?
        .get_timestamp()?;
    let (secs, nanos) = ts.to_unix();
    let issued = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
    let now = std::time::SystemTime::now();
    match now.duration_since(issued) {
        Ok(age) => Some(age),
        // An id from a replica whose clock runs a little ahead is new; one from further in
        // the future was never given out.
        Err(ahead) if ahead.duration() <= CLOCK_SKEW => Some(std::time::Duration::ZERO),
        Err(_) => None,
    }
}

/// How far ahead of this replica's clock another replica's may run.
const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `lookup`; when it finds nothing and the record may not be written yet, flushes this
/// replica's log queue and looks again; for an id given out in the last [`WRITING_FOR`] (which
/// another replica may be writing), it keeps looking every [`POLL_EVERY`] until
/// [`FLUSH_WAIT`] has passed. Anything else is answered at once.
async fn with_flush<T, F, Fut>(app: &App, id: &str, lookup: F) -> Result<Option<T>, CpError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, switchyard_store::StoreError>>,
{
    if let Some(found) = lookup().await? {
        return Ok(Some(found));
    }
    let Some(age) = log_id_age(id).filter(|&age| age < QUEUED_FOR) else {
        return Ok(None);
    };
    let deadline = tokio::time::Instant::now() + FLUSH_WAIT;
    let _ = tokio::time::timeout_at(deadline, app.log_queue().flush()).await;
    loop {
        if let Some(found) = lookup().await? {
            return Ok(Some(found));
        }
        if age >= WRITING_FOR || tokio::time::Instant::now() + POLL_EVERY > deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn one(app: &App, acct: &str, gw: &str, id: &str) -> Result<LogRecord, CpError> {
    let (a, g) = gateway_of(app, acct, gw).await?;
    with_flush(app, id, || app.store().get_log(&a, &g, id))
        .await?
        .ok_or_else(|| CpError::not_found(format!("log '{id}' not found")))
}

pub async fn get(
    State(app): State<App>,
    Path((acct, gw, id)): Path<(String, String, String)>,
) -> CpResult {
    let r = one(&app, &acct, &gw, &id).await?;
    ok(record_json(&r, true))
}

/// A stored body with the content type it was sent with. What a client or a provider sent
/// is untrusted: a browser that opens it (with the dashboard's credentials) must not run it
/// as a page of this origin, so it is never sniffed and, if rendered, sandboxed.
fn raw(body: Option<Bytes>, content_type: Option<&str>) -> Response {
    let ct = content_type
        .unwrap_or("application/octet-stream")
        .to_owned();
    match body {
        Some(b) => (
            [
                (http::header::CONTENT_TYPE, ct),
                (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
                (
                    http::header::CONTENT_SECURITY_POLICY,
                    "sandbox; default-src 'none'".to_owned(),
                ),
            ],
            Body::from(b),
        )
            .into_response(),
        None => CpError::not_found("no body was stored for this request").into_response(),
    }
}

pub async fn request_body(
    State(app): State<App>,
    Path((acct, gw, id)): Path<(String, String, String)>,
) -> Result<Response, CpError> {
    let r = one(&app, &acct, &gw, &id).await?;
    Ok(raw(r.request_body, r.request_content_type.as_deref()))
}

pub async fn response_body(
    State(app): State<App>,
    Path((acct, gw, id)): Path<(String, String, String)>,
) -> Result<Response, CpError> {
    let r = one(&app, &acct, &gw, &id).await?;
    Ok(raw(r.response_body, r.response_content_type.as_deref()))
}

fn parse_patch(body: &serde_json::Map<String, Value>) -> Result<LogPatch, CpError> {
    let mut patch = LogPatch::default();
    for (k, v) in body {
        match k.as_str() {
            "feedback" => {
                patch.feedback = Some(match v {
                    Value::Null => None,
                    Value::Number(n) => match n.as_f64() {
                        Some(1.0) => Some(1),
                        Some(-1.0) => Some(-1),
                        _ => return Err(CpError::invalid("'feedback' must be -1, 1 or null")),
                    },
                    _ => return Err(CpError::invalid("'feedback' must be -1, 1 or null")),
                })
            }
            "score" => {
                patch.score = Some(match v {
                    Value::Null => None,
                    Value::Number(n) => n.as_f64(),
                    _ => return Err(CpError::invalid("'score' must be a number or null")),
                })
            }
            "metadata" => {
                let map = match v {
                    Value::Null => None,
                    Value::Object(m) => Some(m.clone()),
                    Value::String(s) => match serde_json::from_str::<Value>(s) {
                        Ok(Value::Object(m)) => Some(m),
                        _ => {
                            return Err(CpError::invalid(
                                "'metadata' must be a flat JSON object (or its JSON encoding)",
                            ))
                        }
                    },
                    _ => return Err(CpError::invalid("'metadata' must be a flat JSON object")),
                };
                if let Some(m) = &map {
                    if m.values().any(|x| x.is_object() || x.is_array()) {
                        return Err(CpError::invalid(
                            "'metadata' values must be strings, numbers or booleans",
                        ));
                    }
                }
                // The same entries kept as from the cf-aig-metadata header.
                patch.metadata = Some(map.map(crate::directives::kept_metadata));
            }
            other => return Err(CpError::invalid(format!("unknown field '{other}'"))),
        }
    }
    Ok(patch)
}

pub async fn patch(
    State(app): State<App>,
    Path((acct, gw, id)): Path<(String, String, String)>,
    body: Bytes,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    let patch = parse_patch(&json_object(&body)?)?;
    match with_flush(&app, &id, || app.store().patch_log(&a, &g, &id, &patch)).await? {
        Some(r) => ok(record_json(&r, false)),
        None => Err(CpError::not_found(format!("log '{id}' not found"))),
    }
}

/// The beginning of the bucket (UTC) that holds `t`.
fn floor_to_bucket(t: time::OffsetDateTime, bucket: Bucket) -> time::OffsetDateTime {
    let step = match bucket {
        Bucket::Minute => time::Duration::MINUTE,
        Bucket::Hour => time::Duration::HOUR,
        Bucket::Day => time::Duration::DAY,
    };
    let into = (t - time::OffsetDateTime::UNIX_EPOCH)
        .whole_seconds()
        .rem_euclid(step.whole_seconds());
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        - time::Duration::seconds(into)
}

/// `GET .../analytics?start=&end=&bucket=minute|hour|day&group_by=provider,model`.
/// Defaults: the 24 hours up to `end` (default now) in hourly buckets, ungrouped.
pub async fn analytics(
    State(app): State<App>,
    Path((acct, gw)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    let mut end = None;
    let mut start = None;
    let mut q = AnalyticsQuery {
        start: String::new(),
        end: String::new(),
        bucket: Bucket::Hour,
        group_by: Vec::new(),
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "start" | "end" => {
                let t =
                    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                        .ok()
                        .and_then(switchyard_core::clock::utc_in_range)
                        .ok_or_else(|| {
                            CpError::invalid(format!(
                                "'{k}' must be an RFC 3339 time in years 1 to 9999 (UTC)"
                            ))
                        })?;
                if k == "start" {
                    start = Some(t);
                } else {
                    end = Some(t);
                }
            }
            "bucket" => {
                q.bucket = match v.as_str() {
                    "minute" => Bucket::Minute,
                    "hour" => Bucket::Hour,
                    "day" => Bucket::Day,
                    _ => return Err(CpError::invalid("'bucket' must be minute, hour or day")),
                }
            }
            "group_by" => {
                for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let by = match part {
                        "provider" => GroupBy::Provider,
                        "model" => GroupBy::Model,
                        _ => {
                            return Err(CpError::invalid("'group_by' takes provider and/or model"))
                        }
                    };
                    if !q.group_by.contains(&by) {
                        q.group_by.push(by);
                    }
                }
            }
            other => return Err(CpError::invalid(format!("unknown parameter '{other}'"))),
        }
    }
    let end_given = end.is_some();
    let end = end.unwrap_or_else(time::OffsetDateTime::now_utc);
    let start = start.unwrap_or(end - time::Duration::days(1));
    if start >= end {
        return Err(CpError::invalid(if end_given {
            "'start' must be before 'end'"
        } else {
            "'start' must be before 'end', which is now when not given"
        }));
    }
    // Every bucket that overlaps the range counts whole: `start` moves back to its bucket's
    // beginning (UTC), so a chart's first bucket is not cut short.
    q.start = switchyard_core::clock::format_rfc3339(floor_to_bucket(start, q.bucket));
    q.end = switchyard_core::clock::format_rfc3339(end);
    settle(&app).await;
    let mut rows = app.store().analytics(&a, &g, &q).await?;
    let by_model = q.group_by.contains(&GroupBy::Model);
    for row in &mut rows {
        // Sums of costs in floating point differ in their last digits with the order they
        // were added in (batches, backends): shown to the tick (1e-10 USD), the unit of
        // providers' own bills, they agree.
        row.cost = (row.cost * 1e10).round() / 1e10;
        // Grouped by model, requests whose model is unknown form a group of their own, named
        // as their records name it (not null, which reads as "not grouped").
        if by_model && row.model.is_none() {
            row.model = Some(String::new());
        }
    }
    ok(serde_json::to_value(rows).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_start_at_their_first_buckets_beginning() {
        let t = time::OffsetDateTime::UNIX_EPOCH
            + time::Duration::seconds(1_795_717_414)
            + time::Duration::milliseconds(567);
        let at = |b| switchyard_core::clock::format_rfc3339(floor_to_bucket(t, b));
        assert_eq!(at(Bucket::Minute), "2026-11-26T18:23:00.000000Z");
        assert_eq!(at(Bucket::Hour), "2026-11-26T18:00:00.000000Z");
        assert_eq!(at(Bucket::Day), "2026-11-26T00:00:00.000000Z");
    }
}

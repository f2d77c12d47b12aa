//! Rows to values, written once for both backends: gateway settings, log records and stored
//! keys, read through the small [`Get`] trait that both row types implement.

use crate::keys::StoredKey;
use crate::rollup::format_micros;
use crate::tokens::StoredToken;
use crate::StoreError;
use bytes::Bytes;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use switchyard_core::{
    AccountId, Backoff, GatewayId, GatewaySettings, LogRecord, LogStrategy, RateLimitTechnique,
    RequestType,
};

/// Typed column access common to SQLite and PostgreSQL rows.
pub(crate) trait Get {
    fn i64(&self, c: &str) -> Result<i64, sqlx::Error>;
    fn opt_i64(&self, c: &str) -> Result<Option<i64>, sqlx::Error>;
    fn bool(&self, c: &str) -> Result<bool, sqlx::Error>;
    fn f64(&self, c: &str) -> Result<f64, sqlx::Error>;
    fn opt_f64(&self, c: &str) -> Result<Option<f64>, sqlx::Error>;
    fn text(&self, c: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, c: &str) -> Result<Option<String>, sqlx::Error>;
    fn opt_bytes(&self, c: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
}

macro_rules! impl_get {
    ($row:ty) => {
        impl Get for $row {
            fn i64(&self, c: &str) -> Result<i64, sqlx::Error> {
                self.try_get(c)
            }
            fn opt_i64(&self, c: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(c)
            }
            fn bool(&self, c: &str) -> Result<bool, sqlx::Error> {
                self.try_get(c)
            }
            fn f64(&self, c: &str) -> Result<f64, sqlx::Error> {
                self.try_get(c)
            }
            fn opt_f64(&self, c: &str) -> Result<Option<f64>, sqlx::Error> {
                self.try_get(c)
            }
            fn text(&self, c: &str) -> Result<String, sqlx::Error> {
                self.try_get(c)
            }
            fn opt_text(&self, c: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(c)
            }
            fn opt_bytes(&self, c: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                self.try_get(c)
            }
        }
    };
}

impl_get!(SqliteRow);
impl_get!(PgRow);

fn corrupt(what: &str, v: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} = '{v}'"))
}

fn non_negative(v: i64) -> u64 {
    v.max(0) as u64
}

/// Saturating u64 → i64 for storage.
pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------- gateways

/// Gateway columns in bind order.
pub(crate) const GATEWAY_COLUMNS: &str = "account_id, id, cache_ttl, cache_invalidate_on_update, \
    collect_logs, rate_limiting_interval, rate_limiting_limit, rate_limiting_technique, \
    authentication, log_management, log_management_strategy, retry_max_attempts, retry_delay, \
    retry_backoff, created_at, modified_at";

pub(crate) fn gateway_from_row(row: &impl Get) -> Result<GatewaySettings, StoreError> {
    let account = row.text("account_id")?;
    let id = row.text("id")?;
    let technique = row.text("rate_limiting_technique")?;
    let strategy = row.text("log_management_strategy")?;
    let backoff = row.text("retry_backoff")?;
    Ok(GatewaySettings {
        account_id: AccountId::parse(&account).map_err(|_| corrupt("account_id", &account))?,
        id: GatewayId::parse(&id).map_err(|_| corrupt("id", &id))?,
        cache_ttl: non_negative(row.i64("cache_ttl")?),
        cache_invalidate_on_update: row.bool("cache_invalidate_on_update")?,
        collect_logs: row.bool("collect_logs")?,
        rate_limiting_interval: non_negative(row.i64("rate_limiting_interval")?),
        rate_limiting_limit: non_negative(row.i64("rate_limiting_limit")?),
        rate_limiting_technique: RateLimitTechnique::parse(&technique)
            .ok_or_else(|| corrupt("rate_limiting_technique", &technique))?,
        authentication: row.bool("authentication")?,
        log_management: row.opt_i64("log_management")?.map(non_negative),
        log_management_strategy: LogStrategy::parse(&strategy)
            .ok_or_else(|| corrupt("log_management_strategy", &strategy))?,
        retry_max_attempts: row.i64("retry_max_attempts")?.clamp(1, 5) as u32,
        retry_delay: non_negative(row.i64("retry_delay")?),
        retry_backoff: Backoff::parse(&backoff)
            .ok_or_else(|| corrupt("retry_backoff", &backoff))?,
        created_at: row.text("created_at")?,
        modified_at: row.text("modified_at")?,
    })
}

// ---------------------------------------------------------------- logs

/// The log table's columns after `gkey`, in insert order (29 with `gkey`).
pub(crate) const LOG_INSERT_COLUMNS: &str = "gkey, id, created_at, provider, model, path, \
    request_type, status_code, success, cached, duration, ttft, tokens_in, tokens_out, \
    cached_tokens_in, reasoning_tokens, cost, custom_cost, metadata, event_id, feedback, score, \
    step, request_content_type, response_content_type, request_size, response_size, user_agent, \
    cancelled";

pub(crate) const LOG_INSERT_COUNT: usize = 29;

/// What a list reads (no headers or bodies).
pub(crate) const LOG_SELECT: &str = "l.id, l.created_at, l.provider, l.model, l.path, \
    l.request_type, l.status_code, l.success, l.cached, l.duration, l.ttft, l.tokens_in, \
    l.tokens_out, l.cached_tokens_in, l.reasoning_tokens, l.cost, l.custom_cost, l.metadata, \
    l.event_id, l.feedback, l.score, l.step, l.request_content_type, l.response_content_type, \
    l.request_size, l.response_size, l.user_agent, l.cancelled";

/// What `get_log` reads besides [`LOG_SELECT`] (from `log_payloads p`).
pub(crate) const PAYLOAD_SELECT: &str =
    "p.request_headers, p.response_headers, p.request_body, p.response_body";

/// A record prepared for insertion.
pub(crate) struct Prepared<'a> {
    pub rec: &'a LogRecord,
    pub created_us: i64,
    pub metadata: Option<String>,
}

impl<'a> Prepared<'a> {
    /// A record whose `created_at` is not a timestamp (the pipeline always writes one) is
    /// stored as of now rather than failing the whole batch.
    pub fn new(rec: &'a LogRecord) -> Self {
        let created_us = crate::rollup::parse_micros(&rec.created_at).unwrap_or_else(|| {
            tracing::warn!(log_id = %rec.id, created_at = %rec.created_at, "unparsable created_at; storing the record as of now");
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
            i64::try_from(now).unwrap_or(0)
        });
        Self {
            rec,
            created_us,
            metadata: metadata_text(rec.metadata.as_ref()),
        }
    }

    pub fn has_payload(&self) -> bool {
        let r = self.rec;
        r.request_headers.is_some()
            || r.response_headers.is_some()
            || r.request_body.is_some()
            || r.response_body.is_some()
    }
}

/// Metadata as stored: its JSON text, with any NUL in a key or a text value made U+FFFD
/// (PostgreSQL's JSON, which metadata filters read it as, cannot hold one).
pub(crate) fn metadata_text(
    m: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<String> {
    use serde_json::Value;
    let m = m?;
    let has_nul = |s: &str| s.contains('\0');
    if !m
        .iter()
        .any(|(k, v)| has_nul(k) || v.as_str().is_some_and(has_nul))
    {
        return serde_json::to_string(m).ok();
    }
    let clean = |s: &str| s.replace('\0', "\u{fffd}");
    let cleaned: serde_json::Map<String, Value> = m
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => Value::String(clean(s)),
                other => other.clone(),
            };
            (clean(k), v)
        })
        .collect();
    serde_json::to_string(&cleaned).ok()
}

pub(crate) fn log_from_row(
    row: &impl Get,
    account: &AccountId,
    gateway: &GatewayId,
    with_payload: bool,
) -> Result<LogRecord, StoreError> {
    let id = row.text("id")?;
    let request_type = row.text("request_type")?;
    let metadata = match row.opt_text("metadata")? {
        None => None,
        Some(t) => match serde_json::from_str::<serde_json::Value>(&t) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            _ => return Err(corrupt("metadata", t)),
        },
    };
    let status = row.i64("status_code")?;
    let (request_headers, response_headers, request_body, response_body) = if with_payload {
        (
            row.opt_text("request_headers")?,
            row.opt_text("response_headers")?,
            row.opt_bytes("request_body")?.map(Bytes::from),
            row.opt_bytes("response_body")?.map(Bytes::from),
        )
    } else {
        (None, None, None, None)
    };
    Ok(LogRecord {
        account_id: account.clone(),
        gateway_id: gateway.clone(),
        created_at: format_micros(row.i64("created_at")?),
        provider: row.text("provider")?,
        model: row.opt_text("model")?,
        path: row.text("path")?,
        request_type: RequestType::parse(&request_type)
            .ok_or_else(|| corrupt("request_type", &request_type))?,
        status_code: u16::try_from(status).map_err(|_| corrupt("status_code", status))?,
        success: row.bool("success")?,
        cached: row.bool("cached")?,
        duration: non_negative(row.i64("duration")?),
        ttft: row.opt_i64("ttft")?.map(non_negative),
        tokens_in: row.opt_i64("tokens_in")?.map(non_negative),
        tokens_out: row.opt_i64("tokens_out")?.map(non_negative),
        cached_tokens_in: row.opt_i64("cached_tokens_in")?.map(non_negative),
        reasoning_tokens: row.opt_i64("reasoning_tokens")?.map(non_negative),
        cost: row.f64("cost")?,
        custom_cost: row.bool("custom_cost")?,
        metadata,
        event_id: row.opt_text("event_id")?,
        feedback: row
            .opt_i64("feedback")?
            .map(|f| f.clamp(-1, 1) as i8)
            .filter(|f| *f != 0),
        score: row.opt_f64("score")?,
        step: row
            .opt_i64("step")?
            .map(|s| s.clamp(0, i64::from(u32::MAX)) as u32),
        request_content_type: row.opt_text("request_content_type")?,
        response_content_type: row.opt_text("response_content_type")?,
        request_size: non_negative(row.i64("request_size")?),
        response_size: non_negative(row.i64("response_size")?),
        user_agent: row.opt_text("user_agent")?,
        cancelled: row.bool("cancelled")?,
        id,
        request_headers,
        response_headers,
        request_body,
        response_body,
    })
}

// ---------------------------------------------------------------- keys

pub(crate) const KEY_COLUMNS: &str = "id, account_id, gateway_id, provider_slug, alias, \
    secret_ciphertext, secret_preview, default_config, created_at, modified_at";

pub(crate) fn key_from_row(row: &impl Get) -> Result<StoredKey, StoreError> {
    let account = row.text("account_id")?;
    let gateway = row.text("gateway_id")?;
    Ok(StoredKey {
        id: row.text("id")?,
        account_id: AccountId::parse(&account).map_err(|_| corrupt("account_id", &account))?,
        gateway_id: GatewayId::parse(&gateway).map_err(|_| corrupt("gateway_id", &gateway))?,
        provider_slug: row.text("provider_slug")?,
        alias: row.text("alias")?,
        secret_ciphertext: row.opt_bytes("secret_ciphertext")?.unwrap_or_default(),
        secret_preview: row.text("secret_preview")?,
        default_config: row.bool("default_config")?,
        created_at: row.text("created_at")?,
        modified_at: row.text("modified_at")?,
    })
}

// ---------------------------------------------------------------- tokens

pub(crate) fn token_from_row(row: &impl Get) -> Result<StoredToken, StoreError> {
    let account = row.text("account_id")?;
    Ok(StoredToken {
        id: row.text("id")?,
        account_id: AccountId::parse(&account).map_err(|_| corrupt("account_id", &account))?,
        name: row.opt_text("name")?,
        preview: row.text("preview")?,
        created_at: row.text("created_at")?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain successful record for unit tests.
    pub(crate) fn record(a: &AccountId, g: &GatewayId, id: &str, created_at: &str) -> LogRecord {
        LogRecord {
            id: id.to_owned(),
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
            ttft: None,
            tokens_in: None,
            tokens_out: None,
            cached_tokens_in: None,
            reasoning_tokens: None,
            cost: 0.0,
            custom_cost: false,
            metadata: None,
            event_id: None,
            feedback: None,
            score: None,
            step: None,
            request_content_type: None,
            response_content_type: None,
            request_size: 0,
            response_size: 0,
            user_agent: None,
            cancelled: false,
            request_headers: None,
            response_headers: None,
            request_body: None,
            response_body: None,
        }
    }

    #[test]
    fn bad_timestamps_fall_back_to_now() {
        let a = AccountId::parse("a").unwrap_or_else(|_| unreachable!());
        let g = GatewayId::parse("g").unwrap_or_else(|_| unreachable!());
        let r = record(&a, &g, "x", "not a time");
        assert!(Prepared::new(&r).created_us > 1_700_000_000_000_000);
        let ok = record(&a, &g, "x", "1970-01-01T00:00:01Z");
        assert_eq!(Prepared::new(&ok).created_us, 1_000_000);
    }
}

//! `/accounts/{a}/ai-gateway/gateways[/{id}]`: gateway CRUD. A change takes effect on the
//! next request through the gateway (its cached settings are dropped).

use super::{account, gateway_id, json_object, ok, ok_page, page_params, CpError, CpResult};
use crate::app::App;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value};
use switchyard_core::{
    clock, AccountId, Backoff, GatewayId, GatewaySettings, LogStrategy, RateLimitTechnique,
};

/// Fields of Cloudflare's gateway object for features Switchyard does not have: accepted with
/// their types checked, so the official SDKs can send them, and not stored.
///
/// Protections a caller would rely on (DLP, guardrails, spend limits) are refused when
/// switched on, since nothing would enforce them. `zdr` and `byok_only` concern Cloudflare's
/// own billing of provider calls, which Switchyard never does (every call uses the caller's
/// or a stored key), so either value holds.
fn check_unsupported(field: &str, v: &Value) -> Result<bool, CpError> {
    let kind = match field {
        "logpush" | "log_classification" | "zdr" | "byok_only" | "is_default" => "bool",
        "logpush_public_key"
        | "store_id"
        | "account_id"
        | "account_tag"
        | "workers_ai_billing_mode" => "string",
        "otel" => "array",
        "guardrails" | "dlp" | "spend_limits" | "stripe" => "object",
        _ => return Ok(false),
    };
    let fits = matches!(
        (kind, v),
        (_, Value::Null)
            | ("bool", Value::Bool(_))
            | ("string", Value::String(_))
            | ("array", Value::Array(_))
            | ("object", Value::Object(_))
    );
    // The one string with a fixed set of values (the SDKs type it as `postpaid | unified`).
    if let ("workers_ai_billing_mode", Value::String(mode)) = (field, v) {
        if mode != "postpaid" && mode != "unified" {
            return Err(CpError::invalid(
                "'workers_ai_billing_mode' must be 'postpaid' or 'unified'",
            ));
        }
    }
    if !fits {
        let article = if kind == "array" || kind == "object" {
            "an"
        } else {
            "a"
        };
        return Err(CpError::invalid(format!(
            "'{field}' must be {article} {kind} or null"
        )));
    }
    let switched_on = match (field, v) {
        ("dlp", Value::Object(o)) => o.get("enabled") == Some(&Value::Bool(true)),
        // `{"prompt": {}, "response": {}}` is how an SDK says "none".
        ("guardrails", Value::Object(o)) => o.values().any(|v| match v {
            Value::Null => false,
            Value::Object(categories) => !categories.is_empty(),
            _ => true,
        }),
        ("spend_limits", Value::Object(o)) => {
            o.get("enabled") == Some(&Value::Bool(true))
                || (o.get("enabled").is_none()
                    && o.get("rules")
                        .and_then(Value::as_array)
                        .is_some_and(|r| !r.is_empty()))
        }
        _ => false,
    };
    if switched_on {
        return Err(CpError::invalid(format!(
            "'{field}' is not supported by Switchyard: it can only be off or null"
        )));
    }
    Ok(true)
}

fn to_json(g: &GatewaySettings) -> Value {
    serde_json::to_value(g).unwrap_or(Value::Null)
}

fn uint(field: &str, v: &Value, max: u64) -> Result<Option<u64>, CpError> {
    uint_in(field, v, 0, max)
}

fn uint_in(field: &str, v: &Value, min: u64, max: u64) -> Result<Option<u64>, CpError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
            _ => Err(CpError::invalid(format!(
                "'{field}' must be an integer between {min} and {max}"
            ))),
        },
        _ => Err(CpError::invalid(format!("'{field}' must be an integer"))),
    }
}

fn boolean(field: &str, v: &Value) -> Result<Option<bool>, CpError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(CpError::invalid(format!("'{field}' must be true or false"))),
    }
}

fn choice<T>(
    field: &str,
    v: &Value,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Option<T>, CpError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => parse(s)
            .map(Some)
            .ok_or_else(|| CpError::invalid(format!("'{field}' must be one of {allowed}"))),
        _ => Err(CpError::invalid(format!(
            "'{field}' must be one of {allowed}"
        ))),
    }
}

/// Applies the body's fields to `g`. `null` resets a field to its default.
fn apply(g: &mut GatewaySettings, body: &Map<String, Value>) -> Result<(), CpError> {
    let d = GatewaySettings::new(g.account_id.clone(), g.id.clone(), String::new());
    for (k, v) in body {
        match k.as_str() {
            "id" => {}
            "cache_ttl" => g.cache_ttl = uint(k, v, u64::from(u32::MAX))?.unwrap_or(d.cache_ttl),
            "cache_invalidate_on_update" => {
                g.cache_invalidate_on_update =
                    boolean(k, v)?.unwrap_or(d.cache_invalidate_on_update)
            }
            "collect_logs" => g.collect_logs = boolean(k, v)?.unwrap_or(d.collect_logs),
            "rate_limiting_interval" => {
                g.rate_limiting_interval = uint(k, v, crate::config::MAX_RATE_LIMIT_INTERVAL)?
                    .unwrap_or(d.rate_limiting_interval)
                    .max(1)
            }
            "rate_limiting_limit" => {
                g.rate_limiting_limit =
                    uint(k, v, u64::from(u32::MAX))?.unwrap_or(d.rate_limiting_limit)
            }
            "rate_limiting_technique" => {
                g.rate_limiting_technique =
                    choice(k, v, RateLimitTechnique::parse, "fixed, sliding")?
                        .unwrap_or(d.rate_limiting_technique)
            }
            "authentication" => g.authentication = boolean(k, v)?.unwrap_or(d.authentication),
            "log_management" => g.log_management = uint(k, v, 10_000_000)?,
            "log_management_strategy" => {
                g.log_management_strategy =
                    choice(k, v, LogStrategy::parse, "STOP_INSERTING, DELETE_OLDEST")?
                        .unwrap_or(d.log_management_strategy)
            }
            "retry_max_attempts" => {
                g.retry_max_attempts = match uint_in(k, v, 1, crate::config::MAX_RETRY_ATTEMPTS)? {
                    None => d.retry_max_attempts,
                    Some(n) => n as u32,
                }
            }
            "retry_delay" => {
                g.retry_delay =
                    uint(k, v, crate::config::MAX_GATEWAY_RETRY_DELAY)?.unwrap_or(d.retry_delay)
            }
            "retry_backoff" => {
                g.retry_backoff = choice(k, v, Backoff::parse, "constant, linear, exponential")?
                    .unwrap_or(d.retry_backoff)
            }
            "created_at" | "modified_at" => {}
            other if check_unsupported(other, v)? => {}
            other => return Err(CpError::invalid(format!("unknown field '{other}'"))),
        }
    }
    // An interval of 0 is read as 1 s when no limit is set (SDKs send 0 for "off"), but a
    // limit per 0 s means nothing: refused rather than turned into a per-second limit.
    if g.rate_limiting_limit > 0
        && body.get("rate_limiting_interval").and_then(Value::as_u64) == Some(0)
    {
        return Err(CpError::invalid(
            "'rate_limiting_interval' must be at least 1 (seconds) when 'rate_limiting_limit' is set",
        ));
    }
    Ok(())
}

/// Whether the account is known: named in the config, or remembered from its first gateway
/// or custom provider on (so deleting the last one leaves an empty list, not a missing
/// account).
pub(super) async fn known_account(app: &App, a: &AccountId) -> Result<bool, CpError> {
    if app.config().tokens.iter().any(|t| &t.account_id == a)
        || app.config().gateways.iter().any(|g| &g.account_id == a)
    {
        return Ok(true);
    }
    Ok(app.store().list_accounts().await?.contains(a))
}

/// `GET /client/v4/accounts`: the accounts that have (or had) gateways or custom providers, in Cloudflare's account shape
/// (`id`, `name`, `type`); `page` and `per_page` as for every list.
pub async fn accounts(
    State(app): State<App>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let (page, per_page) = page_params(&pairs, 20, 50)?;
    let all = app.store().list_accounts().await?;
    let total = all.len() as u64;
    let items = all
        .iter()
        .skip(super::skipped(page, per_page))
        .take(per_page as usize)
        .map(|a| serde_json::json!({ "id": a.as_str(), "name": a.as_str(), "type": "standard" }))
        .collect();
    ok_page(items, page, per_page, total)
}

pub async fn list(
    State(app): State<App>,
    Path(acct): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let a = account(&acct)?;
    let (page, per_page) = page_params(&pairs, 20, 100)?;
    let search = pairs
        .iter()
        .find(|(k, _)| k == "search")
        .map(|(_, v)| v.to_lowercase());
    let all = app.store().list_gateways(&a).await?;
    if all.is_empty() && !known_account(&app, &a).await? {
        return Err(CpError::not_found(format!("account '{acct}' not found")));
    }
    let matching: Vec<&GatewaySettings> = all
        .iter()
        .filter(|g| {
            search
                .as_ref()
                .is_none_or(|s| g.id.as_str().to_lowercase().contains(s))
        })
        .collect();
    let total = matching.len() as u64;
    let items = matching
        .into_iter()
        .skip(super::skipped(page, per_page))
        .take(per_page as usize)
        .map(to_json)
        .collect();
    ok_page(items, page, per_page, total)
}

pub async fn create(State(app): State<App>, Path(acct): Path<String>, body: Bytes) -> CpResult {
    let a = account(&acct)?;
    let body = json_object(&body)?;
    let id = match body.get("id") {
        Some(Value::String(s)) => gateway_id(s)?,
        _ => return Err(CpError::invalid("'id' is required: 1-64 of [A-Za-z0-9_-]")),
    };
    let mut g = GatewaySettings::new(a.clone(), id.clone(), clock::now_rfc3339());
    apply(&mut g, &body)?;
    if app.store().get_gateway(&a, &id).await?.is_some() {
        return Err(CpError::conflict(format!("gateway '{id}' already exists")));
    }
    let stored = app.store().create_gateway_if_missing(&g).await?;
    if stored != g {
        return Err(CpError::conflict(format!("gateway '{id}' already exists")));
    }
    app.gateways().invalidate(a.as_str(), id.as_str());
    ok(to_json(&stored))
}

async fn existing(
    app: &App,
    acct: &str,
    gw: &str,
) -> Result<(AccountId, GatewayId, GatewaySettings), CpError> {
    let a = account(acct)?;
    let g = gateway_id(gw)?;
    match app.store().get_gateway(&a, &g).await? {
        Some(s) => Ok((a, g, s)),
        None => Err(CpError::not_found(format!("gateway '{gw}' not found"))),
    }
}

/// `GET .../gateways/{g}/url/{provider}` (the Cloudflare SDK's `urls.get`): the base URL a
/// client of `provider` points at through this gateway, on the host the request came to
/// (`https` when a proxy in front says so in `X-Forwarded-Proto`).
pub async fn url(
    State(app): State<App>,
    Path((acct, gw, provider)): Path<(String, String, String)>,
    headers: http::HeaderMap,
) -> CpResult {
    let (a, g, _) = existing(&app, &acct, &gw).await?;
    // A provider requests can reach: the catalog's, `compat`, or a custom provider defined in
    // the config or stored for the account (and enabled), as routing decides.
    let known = provider == "compat"
        || crate::custom::provider(&app, a.as_str(), &provider)
            .await
            .map_err(|e| CpError {
                status: e.error.kind.status(),
                code: super::codes::INTERNAL,
                message: e.error.message,
            })?
            .is_some();
    if !known {
        return Err(CpError::invalid(format!("unknown provider '{provider}'")));
    }
    let text = |name: http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host = text(http::header::HOST)
        .map(str::to_owned)
        .unwrap_or_else(|| app.config().listen.to_string());
    let scheme = match text(http::header::HeaderName::from_static("x-forwarded-proto")) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    ok(Value::String(format!(
        "{scheme}://{host}/v1/{}/{}/{provider}",
        a.as_str(),
        g.as_str()
    )))
}

pub async fn get(State(app): State<App>, Path((acct, gw)): Path<(String, String)>) -> CpResult {
    let (_, _, g) = existing(&app, &acct, &gw).await?;
    ok(to_json(&g))
}

pub async fn update(
    State(app): State<App>,
    Path((acct, gw)): Path<(String, String)>,
    body: Bytes,
) -> CpResult {
    let body = json_object(&body)?;
    // Read, change, write back only if nobody wrote in between (else read again): two
    // updates of different settings at the same moment both take effect.
    for _ in 0..super::UPDATE_TRIES {
        let (a, id, mut g) = existing(&app, &acct, &gw).await?;
        if let Some(v) = body.get("id") {
            if v.as_str() != Some(id.as_str()) {
                return Err(CpError::invalid("'id' cannot be changed"));
            }
        }
        let read_at = g.modified_at.clone();
        apply(&mut g, &body)?;
        g.modified_at = super::modified_after(&read_at).await;
        if app.store().replace_gateway_if(&g, &read_at).await? {
            app.gateways().invalidate(a.as_str(), id.as_str());
            // What was written is what is stored now.
            return ok(to_json(&g));
        }
    }
    Err(CpError::conflict(
        "the gateway kept changing while this update was applied; try again",
    ))
}

pub async fn delete(State(app): State<App>, Path((acct, gw)): Path<(String, String)>) -> CpResult {
    let a = account(&acct)?;
    let id = gateway_id(&gw)?;
    match app.store().delete_gateway(&a, &id).await? {
        Some(g) => {
            app.gateways().invalidate(a.as_str(), id.as_str());
            // Its stored keys went with it.
            app.keys().clear();
            ok(to_json(&g))
        }
        None => Err(CpError::not_found(format!("gateway '{gw}' not found"))),
    }
}

//! The universal endpoint (SPEC 2.3): `POST /v1/{account}/{gateway}` with a JSON array of
//! steps, each `{provider, endpoint, headers?, query, config?}`, tried in order.
//!
//! A step's `headers` (at most [`MAX_STEP_HEADERS`]) are added to the request's own end-to-end
//! headers (replacing those of the same name). Its body is its `query`, byte for byte as the
//! client wrote it (steps are read field by field, never built into one tree), sent as
//! `application/json` unless the
//! step's own headers name another `Content-Type` (the request's describes the steps). Its `cf-aig-*` headers win over the request's for that step: timeout and
//! retries (also from its `config`), and the log's event id, metadata, custom cost and
//! collection, the stored-key alias, and `cf-aig-authorization` (on a gateway with
//! authentication every step must hold a valid token, its own or the request's), and the
//! cache headers. Each step is cached on its own (its provider, endpoint and body, plus its
//! index): a step whose answer is cached is served from the cache when its turn comes, and a
//! step's `cf-aig-cache-ttl: 0` turns caching off for that step alone.
//!
//! The request's own credentials (`Authorization`, `x-api-key`, `x-goog-api-key`, cookies and
//! the like) reach no step: steps usually name different providers, and one provider's key
//! must not be sent to another. A step authenticates with the credentials in its own
//! `headers`, or else with the gateway's stored key for its provider.

use crate::app::App;
use crate::directives::{AttemptHeaders, Directives};
use crate::error::ApiError;
use crate::forward;
use crate::shape::{self, Call};
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::value::RawValue;
use serde_json::Value;
use std::time::Duration;
use switchyard_core::{Backoff, ErrorKind, GatewayError, GatewaySettings, RequestType};

/// Most steps one request may carry.
pub const MAX_STEPS: usize = 10;

fn bad(i: usize, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, format!("step {i}: {why}"))
}

/// A step's `config` (an absent or `null` one is no config, as clients write unset optional
/// fields so); only the keys it knows are read.
fn config(i: usize, m: Option<StepFields>) -> Result<AttemptHeaders, ApiError> {
    let Some(m) = m else {
        return Ok(AttemptHeaders::default());
    };
    let mut out = AttemptHeaders::default();
    for (k, v) in m {
        if !matches!(
            k.as_str(),
            "requestTimeout" | "maxAttempts" | "retryDelay" | "backoff"
        ) {
            continue;
        }
        let v: Value = serde_json::from_str(v.get()).unwrap_or(Value::Null);
        let n = || {
            v.as_u64()
                .ok_or_else(|| bad(i, format!("config.{k} must be a non-negative integer")))
        };
        match k.as_str() {
            "requestTimeout" => {
                let ms = n()?;
                if ms == 0 {
                    return Err(bad(i, "config.requestTimeout must be at least 1 (ms)"));
                }
                out.request_timeout = Some(Duration::from_millis(ms));
            }
            "maxAttempts" => match n()? {
                a @ 1..=5 => out.max_attempts = Some(a as u32),
                _ => return Err(bad(i, "config.maxAttempts must be between 1 and 5")),
            },
            "retryDelay" => match n()? {
                d @ 0..=5000 => out.retry_delay = Some(Duration::from_millis(d)),
                _ => return Err(bad(i, "config.retryDelay must be at most 5000 (ms)")),
            },
            "backoff" => {
                out.backoff = Some(
                    v.as_str()
                        .and_then(|s| Backoff::parse(&s.to_ascii_lowercase()))
                        .ok_or_else(|| {
                            bad(i, "config.backoff must be constant, linear or exponential")
                        })?,
                )
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Most headers one step may name.
pub const MAX_STEP_HEADERS: usize = 256;

/// A step's fields, each as its JSON text: the step is checked field by field, and its
/// `query` (the body to send, which may be large) is never built into a tree.
type StepFields<'a> = std::collections::BTreeMap<String, &'a RawValue>;

/// A field's JSON read as `T`; `None` when absent or `null`, an error naming it otherwise.
fn field<'a, T: serde::Deserialize<'a>>(
    i: usize,
    s: &StepFields<'a>,
    name: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    match s.get(name) {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|_| bad(i, format!("'{name}' must be {what}"))),
    }
}

/// Parses the steps and shapes one [`Call`] per step. On a gateway with authentication, each
/// step's credential is checked as it is read, before it is shaped.
pub async fn calls(
    app: &App,
    gateway: &GatewaySettings,
    outer: &HeaderMap,
    directives: &Directives,
    body: &Bytes,
) -> Result<Vec<Call>, ApiError> {
    let account = gateway.account_id.as_str();
    let not_steps = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("the universal endpoint takes a JSON array of steps: {e}"),
        )
    };
    // Checked as JSON without building it: the elements stay text until read one by one.
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let steps: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_slice(body).map_err(|e| not_steps(&e))?,
        Some(b'{') => vec![serde_json::from_slice(body).map_err(|e| not_steps(&e))?],
        _ => {
            // Whatever it is, say what is wrong with it as JSON if anything.
            serde_json::from_slice::<&RawValue>(body).map_err(|e| not_steps(&e))?;
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "the universal endpoint takes a JSON array of steps",
            ));
        }
    };
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("between 1 and {MAX_STEPS} steps are allowed"),
        ));
    }
    let mut base = forward::request_headers(outer);
    let credentials: Vec<HeaderName> = base
        .keys()
        .filter(|n| forward::is_credential(n.as_str()))
        .cloned()
        .collect();
    for name in credentials {
        base.remove(name);
    }
    let mut calls = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let s: StepFields =
            serde_json::from_str(step.get()).map_err(|_| bad(i, "must be an object"))?;
        let provider: String = field(i, &s, "provider", "a string")?
            .ok_or_else(|| bad(i, "'provider' is required and must be a string"))?;
        let endpoint: String = field(i, &s, "endpoint", "a string")?
            .ok_or_else(|| bad(i, "'endpoint' is required and must be a string"))?;
        // `null` is what a client's unset variable becomes: sent on, it would be a body the
        // provider refuses with an error of its own, so it is refused here as missing.
        let query = s
            .get("query")
            .filter(|q| q.get() != "null")
            .ok_or_else(|| bad(i, "'query' (the request body) is required and not null"))?;
        // A view of the request body, not a copy (the step's text lies within it).
        let payload = body.slice_ref(query.get().as_bytes());

        let mut headers = base.clone();
        let mut step_own = HeaderMap::new();
        let own: Option<StepFields> = field(i, &s, "headers", "an object")?;
        let own = own.unwrap_or_default();
        if own.len() > MAX_STEP_HEADERS {
            return Err(bad(
                i,
                format!(
                    "'headers' names {} headers; at most {MAX_STEP_HEADERS} are allowed",
                    own.len()
                ),
            ));
        }
        for (k, v) in &own {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| bad(i, format!("header name '{k}' is invalid")))?;
            let text = match serde_json::from_str::<Value>(v.get()) {
                Ok(Value::String(s)) => s,
                Ok(Value::Number(n)) => n.to_string(),
                Ok(Value::Bool(b)) => b.to_string(),
                _ => return Err(bad(i, format!("header '{k}' must be a string"))),
            };
            let value = HeaderValue::try_from(text)
                .map_err(|_| bad(i, format!("header '{k}' has an invalid value")))?;
            step_own.insert(name, value);
        }
        let step_attempts =
            AttemptHeaders::parse(&step_own).map_err(|e| bad(i, e.error.message))?;
        let step_directives = directives
            .for_step(&step_own)
            .map_err(|e| bad(i, e.error.message))?;
        let token = step_directives
            .as_ref()
            .unwrap_or(directives)
            .gateway_token
            .as_deref();
        crate::auth::admits(app, gateway, token, &step_own).await?;
        for (name, value) in forward::request_headers(&step_own).iter() {
            headers.insert(name.clone(), value.clone());
        }
        // The body is the step's `query`, written out here as JSON: the request's own framing
        // and media type describe the array of steps, not this body.
        headers.remove(CONTENT_LENGTH);
        headers.remove(CONTENT_ENCODING);
        if !step_own.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }

        // Characters outside ASCII cannot stand in a request line: sent percent-encoded
        // (as UTF-8), as a browser or curl would send such a URL. The result is checked as any
        // path is.
        let endpoint: std::borrow::Cow<str> =
            percent_encoding::utf8_percent_encode(&endpoint, &percent_encoding::AsciiSet::EMPTY)
                .into();
        let endpoint = endpoint.as_ref();
        let (path, query_string) = match endpoint.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (endpoint, None),
        };
        // One leading slash is optional; `//host/...` is refused as on the provider route.
        let path = path.strip_prefix('/').unwrap_or(path);
        let mut call = if provider == "compat" {
            shape::compat(app, account, path, headers, &payload).await?
        } else {
            let p = crate::custom::provider(app, account, &provider)
                .await?
                .ok_or_else(|| {
                    GatewayError::new(
                        ErrorKind::UnknownProvider,
                        format!("step {i}: unknown provider '{provider}'"),
                    )
                })?;
            shape::passthrough(
                &p,
                account,
                path,
                query_string,
                Method::POST,
                headers,
                payload,
            )
            .map_err(|e| bad(i, e.error.message))?
        };
        call.request_type = RequestType::Universal;
        call.attempts = step_attempts.or(config(i, field(i, &s, "config", "an object")?)?);
        call.directives = step_directives;
        call.step = Some(i as u32);
        calls.push(call);
    }
    Ok(calls)
}

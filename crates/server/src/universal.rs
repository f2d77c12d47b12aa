//! The universal endpoint (SPEC 2.3): `POST /v1/{account}/{gateway}` with a JSON array of
//! steps, each `{provider, endpoint, headers?, query, config?}`, tried in order.
//!
//! A step's `headers` are added to the request's own end-to-end headers (replacing those of
//! the same name). Its body is its `query` as JSON, sent as `application/json` unless the
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
use serde_json::Value;
use std::time::Duration;
use switchyard_core::{Backoff, ErrorKind, GatewayError, RequestType};

/// Most steps one request may carry.
pub const MAX_STEPS: usize = 10;

fn bad(i: usize, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, format!("step {i}: {why}"))
}

fn config(i: usize, v: Option<&Value>) -> Result<AttemptHeaders, ApiError> {
    // `null` is "no config", as an absent key (clients write unset optional fields so).
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(AttemptHeaders::default());
    };
    let Value::Object(m) = v else {
        return Err(bad(i, "'config' must be an object"));
    };
    let mut out = AttemptHeaders::default();
    for (k, v) in m {
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

/// Parses the steps and shapes one [`Call`] per step.
pub async fn calls(
    app: &App,
    account: &str,
    outer: &HeaderMap,
    directives: &Directives,
    body: &Bytes,
) -> Result<Vec<Call>, ApiError> {
    let steps: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("the universal endpoint takes a JSON array of steps: {e}"),
        )
    })?;
    let steps = match steps {
        Value::Array(a) => a,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "the universal endpoint takes a JSON array of steps",
            ))
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
        let Value::Object(s) = step else {
            return Err(bad(i, "must be an object"));
        };
        let provider = s
            .get("provider")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(i, "'provider' is required and must be a string"))?;
        let endpoint = s
            .get("endpoint")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(i, "'endpoint' is required and must be a string"))?;
        let query = s
            .get("query")
            .ok_or_else(|| bad(i, "'query' (the request body) is required"))?;
        let payload = Bytes::from(query.to_string());

        let mut headers = base.clone();
        let mut step_own = HeaderMap::new();
        match s.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    let name = HeaderName::try_from(k.as_str())
                        .map_err(|_| bad(i, format!("header name '{k}' is invalid")))?;
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(bad(i, format!("header '{k}' must be a string"))),
                    };
                    let value = HeaderValue::try_from(text)
                        .map_err(|_| bad(i, format!("header '{k}' has an invalid value")))?;
                    step_own.insert(name, value);
                }
            }
            Some(_) => return Err(bad(i, "'headers' must be an object")),
        }
        let step_attempts =
            AttemptHeaders::parse(&step_own).map_err(|e| bad(i, e.error.message))?;
        let step_directives = directives
            .for_step(&step_own)
            .map_err(|e| bad(i, e.error.message))?;
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
            percent_encoding::utf8_percent_encode(endpoint, &percent_encoding::AsciiSet::EMPTY)
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
            let p = crate::custom::provider(app, account, provider)
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
        call.attempts = step_attempts.or(config(i, s.get("config"))?);
        call.directives = step_directives;
        call.step = Some(i as u32);
        calls.push(call);
    }
    Ok(calls)
}

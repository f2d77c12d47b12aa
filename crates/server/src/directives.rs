//! The per-request `cf-aig-*` headers that shape logging (SPEC 2.4), parsed once.
//!
//! A malformed value is refused with 400 code 2000 naming the header; `cf-aig-metadata` with
//! nested values is ignored, as the contract says.

use crate::error::ApiError;
use http::HeaderMap;
use serde_json::{Map, Value};
use std::time::Duration;
use switchyard_core::headers;
use switchyard_core::{Backoff, ErrorKind};

/// Longest `cf-aig-event-id` kept.
pub(crate) const MAX_EVENT_ID: usize = 256;
/// Entries of `cf-aig-metadata` kept.
const MAX_METADATA: usize = 5;

/// Per-attempt settings a header can set: on the request, or on one universal step (which
/// wins over the request's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptHeaders {
    /// `cf-aig-request-timeout` (ms → duration).
    pub request_timeout: Option<Duration>,
    /// `cf-aig-max-attempts`, 1–5.
    pub max_attempts: Option<u32>,
    /// `cf-aig-retry-delay`, ≤ 5000 ms.
    pub retry_delay: Option<Duration>,
    /// `cf-aig-backoff`.
    pub backoff: Option<Backoff>,
}

impl AttemptHeaders {
    pub fn parse(h: &HeaderMap) -> Result<Self, ApiError> {
        let request_timeout = match uint(h, &headers::REQUEST_TIMEOUT)? {
            None => None,
            Some(0) => {
                return Err(bad(
                    headers::REQUEST_TIMEOUT.as_str(),
                    "must be at least 1 (ms)",
                ))
            }
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        let max_attempts = match uint(h, &headers::MAX_ATTEMPTS)? {
            None => None,
            Some(n @ 1..=5) => Some(n as u32),
            Some(_) => {
                return Err(bad(
                    headers::MAX_ATTEMPTS.as_str(),
                    "must be between 1 and 5",
                ))
            }
        };
        let retry_delay = match uint(h, &headers::RETRY_DELAY)? {
            None => None,
            Some(ms @ 0..=5000) => Some(Duration::from_millis(ms)),
            Some(_) => {
                return Err(bad(
                    headers::RETRY_DELAY.as_str(),
                    "must be at most 5000 (ms)",
                ))
            }
        };
        let backoff = match text(h, &headers::BACKOFF)? {
            None => None,
            Some(s) => Some(Backoff::parse(&s.to_ascii_lowercase()).ok_or_else(|| {
                bad(
                    headers::BACKOFF.as_str(),
                    "expected constant, linear or exponential",
                )
            })?),
        };
        Ok(Self {
            request_timeout,
            max_attempts,
            retry_delay,
            backoff,
        })
    }

    /// `self` where set, else `other`.
    pub fn or(self, other: AttemptHeaders) -> AttemptHeaders {
        AttemptHeaders {
            request_timeout: self.request_timeout.or(other.request_timeout),
            max_attempts: self.max_attempts.or(other.max_attempts),
            retry_delay: self.retry_delay.or(other.retry_delay),
            backoff: self.backoff.or(other.backoff),
        }
    }
}

/// What the client asked of the gateway for this request.
#[derive(Debug, Clone, Default)]
pub struct Directives {
    /// `cf-aig-collect-log`; `None` = the gateway's `collect_logs`.
    pub collect_log: Option<bool>,
    /// `cf-aig-collect-log-payload`; default true.
    pub collect_payload: bool,
    pub metadata: Option<Map<String, Value>>,
    pub event_id: Option<String>,
    /// `cf-aig-custom-cost`, validated.
    pub custom_cost: Option<switchyard_core::cost::CustomCost>,
    /// `cf-aig-authorization`, without `Bearer `.
    pub gateway_token: Option<String>,
    /// `cf-aig-byok-alias`.
    pub byok_alias: Option<String>,
    /// `cf-aig-cache-ttl` (or legacy `cf-cache-ttl`), seconds; `Some(0)` disables caching.
    pub cache_ttl: Option<u64>,
    /// `cf-aig-skip-cache` (or legacy `cf-skip-cache`).
    pub skip_cache: bool,
    /// `cf-aig-cache-key`.
    pub cache_key: Option<String>,
    pub attempts: AttemptHeaders,
}

fn bad(header: &str, why: &str) -> ApiError {
    ApiError::new(
        ErrorKind::BadRequest,
        format!("invalid {header} header: {why}"),
    )
}

fn text<'a>(h: &'a HeaderMap, name: &http::HeaderName) -> Result<Option<&'a str>, ApiError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| bad(name.as_str(), "not visible ASCII")),
    }
}

fn uint(h: &HeaderMap, name: &http::HeaderName) -> Result<Option<u64>, ApiError> {
    match text(h, name)? {
        None => Ok(None),
        // Digits too many to hold read as the largest number (every such setting is capped
        // where it is used).
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(s.parse::<u64>().unwrap_or(u64::MAX)))
        }
        Some(_) => Err(bad(name.as_str(), "expected a non-negative integer")),
    }
}

fn boolean(h: &HeaderMap, name: &http::HeaderName) -> Result<Option<bool>, ApiError> {
    match text(h, name)? {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(bad(name.as_str(), "expected true or false")),
    }
}

/// Flat object, scalar values, keys not starting with `cf.`, first five kept.
fn metadata(h: &HeaderMap) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(raw) = h.get(headers::METADATA) else {
        return Ok(None);
    };
    // Metadata may carry text beyond ASCII: UTF-8 (curl, Python), or one byte per character
    // (Latin-1) as browsers' and Node's fetch send a header holding `é`.
    let raw = match std::str::from_utf8(raw.as_bytes()) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(raw.as_bytes().iter().map(|&b| char::from(b)).collect()),
    };
    let value: Value = serde_json::from_str(&raw)
        .map_err(|_| bad(headers::METADATA.as_str(), "not valid JSON"))?;
    let Value::Object(obj) = value else {
        return Err(bad(headers::METADATA.as_str(), "expected a JSON object"));
    };
    if obj.values().any(|v| v.is_object() || v.is_array()) {
        return Ok(None);
    }
    Ok(Some(kept_metadata(obj)))
}

/// The entries of a flat metadata object that are kept, wherever it comes from (the header,
/// or a PATCH of a log): keys starting with `cf.` and null values dropped, the first five of
/// the rest kept in order.
pub fn kept_metadata(obj: Map<String, Value>) -> Map<String, Value> {
    obj.into_iter()
        .filter(|(k, v)| !k.starts_with("cf.") && !v.is_null())
        .take(MAX_METADATA)
        .collect()
}

impl Directives {
    pub fn parse(h: &HeaderMap) -> Result<Self, ApiError> {
        // Most requests carry no gateway header at all: one pass over the names tells, instead
        // of a lookup for each of the fifteen this reads.
        if !h.keys().any(|k| headers::is_gateway_header(k.as_str())) {
            return Ok(Self {
                collect_payload: true,
                ..Self::default()
            });
        }
        let event_id = match text(h, &headers::EVENT_ID)? {
            None | Some("") => None,
            Some(s) if s.len() > MAX_EVENT_ID => {
                return Err(bad(
                    headers::EVENT_ID.as_str(),
                    "longer than 256 characters",
                ))
            }
            Some(s) => Some(s.to_owned()),
        };
        let custom_cost = match text(h, &headers::CUSTOM_COST)? {
            None => None,
            Some(s) => Some(
                switchyard_core::cost::CustomCost::parse(s)
                    .map_err(|e| bad(headers::CUSTOM_COST.as_str(), &e.to_string()))?,
            ),
        };
        let gateway_token = text(h, &headers::AUTHORIZATION)?
            .map(|v| headers::bearer_token(v).unwrap_or(v).trim().to_owned());
        let byok_alias = match text(h, &headers::BYOK_ALIAS)? {
            None => None,
            Some(a) if valid_alias(a) => Some(a.to_owned()),
            Some(_) => {
                return Err(bad(
                    headers::BYOK_ALIAS.as_str(),
                    "must be 1-64 of [A-Za-z0-9_-]",
                ))
            }
        };
        let cache_ttl = match uint(h, &headers::CACHE_TTL)? {
            Some(v) => Some(v),
            None => uint(h, &headers::LEGACY_CACHE_TTL)?,
        };
        let skip_cache = match boolean(h, &headers::SKIP_CACHE)? {
            Some(v) => v,
            None => boolean(h, &headers::LEGACY_SKIP_CACHE)?.unwrap_or(false),
        };
        let cache_key = match text(h, &headers::CACHE_KEY)? {
            None | Some("") => None,
            Some(k) if k.len() > 1024 => {
                return Err(bad(
                    headers::CACHE_KEY.as_str(),
                    "longer than 1024 characters",
                ))
            }
            Some(k) => Some(k.to_owned()),
        };
        Ok(Self {
            gateway_token,
            byok_alias,
            cache_ttl,
            skip_cache,
            cache_key,
            attempts: AttemptHeaders::parse(h)?,
            collect_log: boolean(h, &headers::COLLECT_LOG)?,
            collect_payload: boolean(h, &headers::COLLECT_LOG_PAYLOAD)?.unwrap_or(true),
            metadata: metadata(h)?,
            event_id,
            custom_cost,
        })
    }

    /// A universal step's directives: the step's own `cf-aig-*` headers over the request's
    /// (SPEC 2.4 precedence), `cf-aig-authorization` and the cache headers included. `None`
    /// when the step sets none of them, so the request's apply as they are. Attempt settings
    /// are handled apart ([`AttemptHeaders`]).
    pub fn for_step(&self, step: &HeaderMap) -> Result<Option<Directives>, ApiError> {
        let own = [
            &headers::AUTHORIZATION,
            &headers::COLLECT_LOG,
            &headers::COLLECT_LOG_PAYLOAD,
            &headers::METADATA,
            &headers::EVENT_ID,
            &headers::CUSTOM_COST,
            &headers::BYOK_ALIAS,
            &headers::CACHE_TTL,
            &headers::LEGACY_CACHE_TTL,
            &headers::SKIP_CACHE,
            &headers::LEGACY_SKIP_CACHE,
            &headers::CACHE_KEY,
        ];
        if !own.iter().any(|name| step.contains_key(*name)) {
            return Ok(None);
        }
        let s = Directives::parse(step)?;
        let mut merged = self.clone();
        merged.collect_log = s.collect_log.or(self.collect_log);
        if step.contains_key(headers::COLLECT_LOG_PAYLOAD) {
            merged.collect_payload = s.collect_payload;
        }
        merged.metadata = s.metadata.or_else(|| self.metadata.clone());
        merged.event_id = s.event_id.or_else(|| self.event_id.clone());
        merged.custom_cost = s.custom_cost.or(self.custom_cost);
        merged.byok_alias = s.byok_alias.or_else(|| self.byok_alias.clone());
        merged.gateway_token = s.gateway_token.or_else(|| self.gateway_token.clone());
        merged.cache_ttl = s.cache_ttl.or(self.cache_ttl);
        if step.contains_key(headers::SKIP_CACHE) || step.contains_key(headers::LEGACY_SKIP_CACHE) {
            merged.skip_cache = s.skip_cache;
        }
        merged.cache_key = s.cache_key.or_else(|| self.cache_key.clone());
        Ok(Some(merged))
    }
}

/// A stored-key alias: 1–64 of `[A-Za-z0-9_-]`.
pub fn valid_alias(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn requests_without_gateway_headers_get_the_defaults() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer k".parse().expect("value"));
        h.insert("content-type", "application/json".parse().expect("value"));
        let quick = Directives::parse(&h).expect("ok");
        // What reading every header one by one gives.
        h.insert("cf-aig-collect-log-payload", "true".parse().expect("value"));
        let read = Directives::parse(&h).expect("ok");
        assert_eq!(format!("{quick:?}"), format!("{read:?}"));
        assert!(quick.collect_payload && quick.collect_log.is_none());
        assert!(quick.gateway_token.is_none() && quick.cache_ttl.is_none());
    }

    #[test]
    fn numbers_too_big_to_hold_read_as_the_largest() {
        let d = Directives::parse(&with("cf-aig-cache-ttl", "99999999999999999999")).expect("ok");
        assert_eq!(d.cache_ttl, Some(u64::MAX));
        let d = Directives::parse(&with("cf-aig-cache-ttl", "60")).expect("ok");
        assert_eq!(d.cache_ttl, Some(60));
        for bad in ["-1", "1e5", "0x10", "+5"] {
            let h = with("cf-aig-cache-ttl", bad);
            assert!(Directives::parse(&h).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_steps_cache_headers_win_over_the_requests_and_the_rest_carry_over() {
        let mut outer = with("cf-aig-cache-ttl", "60");
        outer.insert("cf-aig-cache-key", HeaderValue::from_static("k"));
        outer.insert("cf-aig-skip-cache", HeaderValue::from_static("true"));
        let request = Directives::parse(&outer).expect("ok");
        let step = |name, value| request.for_step(&with(name, value)).expect("ok");

        let off = step("cf-aig-cache-ttl", "0").expect("the step sets a cache header");
        assert_eq!(off.cache_ttl, Some(0));
        assert_eq!(off.cache_key.as_deref(), Some("k"));
        assert!(off.skip_cache);
        let legacy = step("cf-cache-ttl", "5").expect("legacy names count too");
        assert_eq!(legacy.cache_ttl, Some(5));
        let reads = step("cf-skip-cache", "false").expect("set");
        assert!(
            !reads.skip_cache,
            "the step's false wins over the request's true"
        );
        assert_eq!(reads.cache_ttl, Some(60));
        let keyed = step("cf-aig-cache-key", "own").expect("set");
        assert_eq!(keyed.cache_key.as_deref(), Some("own"));
        assert!(
            step("x-other", "1").is_none(),
            "no cf-aig-* header: the request's apply"
        );
    }

    #[test]
    fn metadata_keeps_five_flat_entries_in_order() {
        let d = Directives::parse(&with(
            "cf-aig-metadata",
            r#"{"z":1,"cf.x":"dropped","a":"s","b":true,"c":2.5,"d":"4","e":"fifth-kept?"}"#,
        ))
        .expect("valid");
        let m = d.metadata.expect("kept");
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["z", "a", "b", "c", "d"]);
    }

    #[test]
    fn metadata_is_read_as_utf8_else_latin1() {
        let mut h = HeaderMap::new();
        h.insert(
            "cf-aig-metadata",
            HeaderValue::from_bytes("{\"name\":\"José\"}".as_bytes()).expect("bytes"),
        );
        let m = Directives::parse(&h).expect("ok").metadata.expect("kept");
        assert_eq!(m.get("name"), Some(&Value::from("José")));
        // What Node's fetch sends for the same text: é as the one byte 0xE9.
        let latin1: Vec<u8> = "{\"name\":\"José\"}".chars().map(|c| c as u8).collect();
        h.insert(
            "cf-aig-metadata",
            HeaderValue::from_bytes(&latin1).expect("bytes"),
        );
        let m = Directives::parse(&h).expect("ok").metadata.expect("kept");
        assert_eq!(m.get("name"), Some(&Value::from("José")));
    }

    #[test]
    fn nested_metadata_is_ignored_and_bad_json_refused() {
        let d = Directives::parse(&with("cf-aig-metadata", r#"{"a":{"b":1}}"#)).expect("ok");
        assert!(d.metadata.is_none());
        let e = Directives::parse(&with("cf-aig-metadata", "{nope")).expect_err("bad");
        assert!(e.error.message.contains("cf-aig-metadata"));
        assert_eq!(e.error.kind, ErrorKind::BadRequest);
    }

    #[test]
    fn booleans_are_strict() {
        let d = Directives::parse(&with("cf-aig-collect-log", "FALSE")).expect("ok");
        assert_eq!(d.collect_log, Some(false));
        let e = Directives::parse(&with("cf-aig-collect-log-payload", "no")).expect_err("bad");
        assert!(e.error.message.contains("cf-aig-collect-log-payload"));
        assert!(
            Directives::parse(&HeaderMap::new())
                .expect("ok")
                .collect_payload
        );
    }
}

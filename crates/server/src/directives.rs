//! The per-request `cf-aig-*` headers that shape logging (SPEC 2.4), parsed once.
//!
//! A malformed value is refused with 400 code 2000 naming the header; `cf-aig-metadata` with
//! nested values is ignored, as the contract says.

use crate::error::ApiError;
use http::HeaderMap;
use serde_json::{Map, Value};
use switchyard_core::headers;
use switchyard_core::ErrorKind;

/// Longest `cf-aig-event-id` kept.
const MAX_EVENT_ID: usize = 256;
/// Entries of `cf-aig-metadata` kept.
const MAX_METADATA: usize = 5;

/// What the client asked of the log for this request.
#[derive(Debug, Clone, Default)]
pub struct Directives {
    /// `cf-aig-collect-log`; `None` = the gateway's `collect_logs`.
    pub collect_log: Option<bool>,
    /// `cf-aig-collect-log-payload`; default true.
    pub collect_payload: bool,
    pub metadata: Option<Map<String, Value>>,
    pub event_id: Option<String>,
    /// Raw `cf-aig-custom-cost`, already validated.
    pub custom_cost: Option<switchyard_core::cost::CustomCost>,
}

fn bad(header: &str, why: &str) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, format!("invalid {header} header: {why}"))
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
    // Metadata may carry UTF-8; decode leniently rather than refuse.
    let raw = String::from_utf8_lossy(raw.as_bytes());
    let value: Value = serde_json::from_str(&raw)
        .map_err(|_| bad(headers::METADATA.as_str(), "not valid JSON"))?;
    let Value::Object(obj) = value else {
        return Err(bad(headers::METADATA.as_str(), "expected a JSON object"));
    };
    if obj.values().any(|v| v.is_object() || v.is_array()) {
        return Ok(None);
    }
    let kept: Map<String, Value> = obj
        .into_iter()
        .filter(|(k, v)| !k.starts_with("cf.") && !v.is_null())
        .take(MAX_METADATA)
        .collect();
    Ok(Some(kept))
}

impl Directives {
    pub fn parse(h: &HeaderMap) -> Result<Self, ApiError> {
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
        Ok(Self {
            collect_log: boolean(h, &headers::COLLECT_LOG)?,
            collect_payload: boolean(h, &headers::COLLECT_LOG_PAYLOAD)?.unwrap_or(true),
            metadata: metadata(h)?,
            event_id,
            custom_cost,
        })
    }
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
        assert!(Directives::parse(&HeaderMap::new()).expect("ok").collect_payload);
    }
}

//! Errors in the client's shape: requests refused before anything goes upstream
//! ([`TranslateError`]) and provider errors carried across ([`ProviderError`]).
//!
//! | client | body |
//! |---|---|
//! | OpenAI | `{"error":{"message","type","param","code"}}` |
//! | Anthropic | `{"type":"error","error":{"type","message"}}` |
//! | Gemini | `{"error":{"code","message","status"}}` |
//!
//! The error `type` follows the status (OpenAI: `invalid_request_error`,
//! `authentication_error`, `permission_error`, `not_found_error`, `rate_limit_error`,
//! `server_error`; Anthropic: its documented types, 503 and 529 being `overloaded_error`). For
//! OpenAI clients `code` carries the provider's own error name when it gave one (Anthropic's
//! `error.type`, Gemini's `error.status`, an OpenAI-shaped provider's `error.code`).
//!
//! Status: the provider's is kept for 4xx and 5xx; Anthropic's non-standard 529 becomes 503;
//! anything else carrying an error (1xx–3xx, out of range) becomes 502.

use super::{Dialect, Endpoint};
use bytes::Bytes;
use serde_json::{json, Value};

/// A request the translator refuses; nothing is sent upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    /// 400 for every refusal today.
    pub status: u16,
    /// The offending field's path, e.g. `messages[2].content[0].type`.
    pub param: Option<String>,
    pub message: String,
}

impl TranslateError {
    /// A problem with one field; the message starts with its path.
    pub fn field(param: impl Into<String>, detail: impl AsRef<str>) -> Self {
        let param = param.into();
        Self {
            status: 400,
            message: format!("{param}: {}", detail.as_ref()),
            param: Some(param),
        }
    }

    /// A problem with the body as a whole.
    pub fn body_error(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            param: None,
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(endpoint: Endpoint, client: Dialect, provider: Dialect) -> Self {
        let name = |d: Dialect| match d {
            Dialect::OpenAi => "OpenAI",
            Dialect::Anthropic => "Anthropic",
            Dialect::Gemini => "Gemini",
        };
        let what = match endpoint {
            Endpoint::Chat => "chat",
            Endpoint::Embeddings => "embeddings",
        };
        Self::body_error(format!(
            "{what} requests in the {} format cannot be translated for the {} API",
            name(client),
            name(provider)
        ))
    }

    /// The error body in the client's shape.
    pub fn body(&self, client: Dialect) -> Bytes {
        body(
            client,
            self.status,
            &self.message,
            None,
            self.param.as_deref(),
        )
    }
}

/// A provider's error answer, read leniently from any of the three shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProviderError {
    /// The status for the client.
    pub status: u16,
    /// The provider's own error name (`rate_limit_error`, `RESOURCE_EXHAUSTED`, ...).
    pub code: Option<String>,
    pub message: String,
}

impl ProviderError {
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let parsed = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| read_error(&v));
        let (code, message) = parsed.unwrap_or_else(|| (None, fallback_message(status, body)));
        Self {
            status: client_status(status),
            code,
            message,
        }
    }

    /// A `2xx` answer that cannot be translated.
    pub fn unreadable(why: &str) -> Self {
        Self {
            status: 502,
            code: None,
            message: format!("the provider's answer could not be translated: {why}"),
        }
    }

    /// A `2xx` answer in which the provider says it failed to make the answer (Gemini's
    /// `finishReason: MALFORMED_FUNCTION_CALL` with nothing else): `reason` becomes the code,
    /// as a provider's own error name does.
    pub fn failed(reason: &str, detail: &str) -> Self {
        let mut message = format!("the provider failed to complete the answer: {reason}");
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        Self {
            status: 502,
            code: Some(reason.to_owned()),
            message,
        }
    }

    /// An error event inside a provider stream: `{"error":{...}}` (OpenAI, Gemini) or
    /// `{"type":"error","error":{...}}` (Anthropic).
    pub fn from_event(v: &Value) -> Option<Self> {
        let (code, message) = read_error(v)?;
        let status = code
            .as_deref()
            .map(status_of_code)
            .or_else(|| {
                v.pointer("/error/code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
            })
            .unwrap_or(500);
        Some(Self {
            status: client_status(status),
            code,
            message,
        })
    }

    pub fn body(&self, client: Dialect) -> Bytes {
        body(
            client,
            self.status,
            &self.message,
            self.code.as_deref(),
            None,
        )
    }

    /// The OpenAI error object, as sent inside an OpenAI stream.
    pub fn openai_value(&self) -> Value {
        openai_error(self.status, &self.message, self.code.as_deref(), None)
    }

    /// The Anthropic error object, as sent in an Anthropic `error` event.
    pub fn anthropic_value(&self) -> Value {
        anthropic_error(self.status, &self.message)
    }
}

/// Whole seconds to wait before retrying, from a Google error body's `RetryInfo`
/// (`{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo",
/// "retryDelay":"1.5s"}]}}`), rounded up. Google sends no `Retry-After` header; OpenAI and
/// Anthropic clients look for one.
pub fn retry_after_seconds(body: &[u8]) -> Option<u64> {
    retry_delay(body).map(|secs| secs.ceil() as u64)
}

/// The seconds a Google error body's `RetryInfo` asks for, as written (`"1.5s"` is 1.5).
pub fn retry_delay(body: &[u8]) -> Option<f64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let v = match &v {
        Value::Array(items) => items.first()?,
        _ => &v,
    };
    v.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| {
            let secs: f64 = d
                .get("retryDelay")?
                .as_str()?
                .strip_suffix('s')?
                .parse()
                .ok()?;
            (secs.is_finite() && secs >= 0.0).then_some(secs)
        })
}

/// The status a client sees for a provider status carrying an error.
pub(crate) fn client_status(status: u16) -> u16 {
    match status {
        529 => 503,
        400..=599 => status,
        _ => 502,
    }
}

fn body(
    client: Dialect,
    status: u16,
    message: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Bytes {
    let v = match client {
        Dialect::OpenAi => openai_error(status, message, code, param),
        Dialect::Anthropic => anthropic_error(status, message),
        Dialect::Gemini => json!({"error": {
            "code": status,
            "message": message,
            "status": grpc_status(status),
        }}),
    };
    super::json::to_bytes(&v)
}

pub(crate) fn openai_error(
    status: u16,
    message: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    };
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

pub(crate) fn anthropic_error(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn grpc_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

/// The status an error name implies, for errors that arrive inside a `200` stream.
fn status_of_code(code: &str) -> u16 {
    match code {
        "invalid_request_error" | "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => 400,
        "authentication_error" | "UNAUTHENTICATED" | "invalid_api_key" => 401,
        "billing_error" => 402,
        "permission_error" | "PERMISSION_DENIED" => 403,
        "not_found_error" | "NOT_FOUND" => 404,
        "request_too_large" => 413,
        "rate_limit_error" | "RESOURCE_EXHAUSTED" | "rate_limit_exceeded" => 429,
        "overloaded_error" | "UNAVAILABLE" => 503,
        "timeout_error" | "DEADLINE_EXCEEDED" => 504,
        _ => 500,
    }
}

/// `(code, message)` from `{"error":{...}}`, `{"type":"error","error":{...}}`,
/// `[{"error":{...}}]` (Gemini's array stream), `{"error":"text"}` or `{"message":"text"}`.
fn read_error(v: &Value) -> Option<(Option<String>, String)> {
    let v = match v {
        Value::Array(items) => items.first()?,
        _ => v,
    };
    match v.get("error") {
        Some(Value::Object(e)) => {
            let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            let message = text("message").unwrap_or_default();
            // Gemini's `status`, then OpenAI's string `code`, then the `type` (Anthropic's
            // names are its types; OpenAI's `type` is coarser than its `code`).
            let code = text("status")
                .or_else(|| text("code"))
                .or_else(|| text("type"));
            Some((code, message))
        }
        Some(Value::String(s)) => Some((None, s.clone())),
        _ => {
            let message = v.get("message").or_else(|| v.get("detail"))?.as_str()?;
            Some((None, message.to_owned()))
        }
    }
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("the provider answered with status {status}");
    }
    let mut end = text.len().min(1000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "the provider answered with status {status}: {}",
        &text[..end]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_shape() {
        let a = ProviderError::parse(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
        );
        assert_eq!(a.status, 503);
        assert_eq!(a.code.as_deref(), Some("overloaded_error"));
        let g = ProviderError::parse(
            429,
            br#"[{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(
            (g.status, g.code.as_deref(), g.message.as_str()),
            (429, Some("RESOURCE_EXHAUSTED"), "Quota")
        );
        let o = ProviderError::parse(
            401,
            br#"{"error":{"message":"bad key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(o.code.as_deref(), Some("invalid_api_key"));
        let raw = ProviderError::parse(502, b"<html>Bad gateway</html>");
        assert_eq!(
            raw.message,
            "the provider answered with status 502: <html>Bad gateway</html>"
        );
        assert_eq!(ProviderError::parse(200, b"{}").status, 502);
        let long = "é".repeat(800);
        let cut = ProviderError::parse(500, long.as_bytes());
        assert!(cut.message.len() < 1100);
    }

    #[test]
    fn google_retry_info_becomes_whole_seconds() {
        let body = |delay: &str| {
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
            ]}})
            .to_string()
        };
        assert_eq!(retry_after_seconds(body("22s").as_bytes()), Some(22));
        assert_eq!(retry_after_seconds(body("1.2s").as_bytes()), Some(2));
        assert_eq!(retry_delay(body("1.2s").as_bytes()), Some(1.2));
        assert_eq!(retry_after_seconds(body("0s").as_bytes()), Some(0));
        let array = format!("[{}]", body("3s"));
        assert_eq!(retry_after_seconds(array.as_bytes()), Some(3));
        for bad in [
            body("-1s"),
            body("soon"),
            body("5m"),
            "{}".into(),
            "not json".into(),
        ] {
            assert_eq!(retry_after_seconds(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn stream_errors_get_a_status_from_their_name() {
        let v = json!({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}});
        let e = ProviderError::from_event(&v).expect("an error event");
        assert_eq!(e.status, 429);
        assert_eq!(
            e.openai_value(),
            json!({"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_error"}})
        );
    }
}

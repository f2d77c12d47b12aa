//! Per-request scripting: the [`Script`] type and the `x-fake-*` headers
//! that build one.
//!
//! A request's script is resolved once, field by field, from (highest
//! priority first) the queue filled by [`FakeProvider::push_script`] or
//! `POST /__fake/script`, the individual `x-fake-*` headers, and the
//! `x-fake-script` header (a whole [`Script`] as JSON). Fields left unset
//! keep the default behaviour.
//!
//! [`FakeProvider::push_script`]: crate::FakeProvider::push_script

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// Request header: status to answer with (`x-fake-status: 429`).
pub const STATUS: &str = "x-fake-status";
/// Request header: milliseconds to wait before sending the response headers.
pub const DELAY_MS: &str = "x-fake-delay-ms";
/// Request header: number of content chunks in a stream.
pub const CHUNKS: &str = "x-fake-chunks";
/// Request header: milliseconds to wait between chunks.
pub const CHUNK_DELAY_MS: &str = "x-fake-chunk-delay-ms";
/// Request header: abort the connection after this many content chunks.
pub const DROP_AFTER: &str = "x-fake-drop-after";
/// Request header: pad every content chunk to this many bytes.
pub const CHUNK_BYTES: &str = "x-fake-chunk-bytes";
/// Request header: `true` forces a stream, `false` forces a JSON answer.
pub const STREAM: &str = "x-fake-stream";
/// Request header: compress a whole (non-stream) answer with this coding
/// (`gzip`, `deflate`, `br`, `zstd`) when the request's `Accept-Encoding`
/// lists it, as a real provider behind a CDN does.
pub const ENCODING: &str = "x-fake-encoding";
/// Request header: a whole [`Script`] as JSON; the other headers override it.
pub const SCRIPT: &str = "x-fake-script";

/// How to answer one request. Every field is optional; `None` keeps the
/// default behaviour. Deserialises from JSON with the same field names
/// (unknown fields are rejected, to catch typos).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// Status to answer with. At 400 or above and without [`Script::body`],
    /// the body is the provider-shaped error for that status and route
    /// (xAI `{"code","error"}`, or Anthropic's shape on `/messages`), and
    /// auth and JSON checks are skipped. Below 400 the normal answer is sent
    /// with this status.
    pub status: Option<u16>,
    /// Raw body to send instead of the generated one, on any path (checks
    /// skipped). Sent as `application/json`, or, when the answer is a stream
    /// (the request asked for one and `status` is below 400, or
    /// `stream: true`), as `text/event-stream` in [`Script::chunks`] nearly
    /// equal pieces (default 1), paced like content chunks.
    pub body: Option<String>,
    /// Extra response headers; they replace generated ones of the same name.
    pub headers: BTreeMap<String, String>,
    /// Milliseconds to wait before sending the response headers.
    pub delay_ms: Option<u64>,
    /// Number of content chunks (default 5: "Hello from the fake
    /// provider."). Also sets the JSON answer's text and
    /// `completion_tokens`. 0 is allowed.
    pub chunks: Option<usize>,
    /// Milliseconds to wait before each content chunk after the first, and
    /// before the closing events.
    pub chunk_delay_ms: Option<u64>,
    /// Abort the connection (no clean end of body) after this many content
    /// chunks of a stream, or after this many body bytes of a JSON answer.
    /// A stream is always cut before its closing events, even when this is
    /// at least [`Script::chunks`].
    pub drop_after: Option<usize>,
    /// `true` streams even if the request did not ask; `false` answers with
    /// JSON even if it did.
    pub stream: Option<bool>,
    /// Pad each content chunk's text to this many bytes.
    pub chunk_bytes: Option<usize>,
    /// Model name to report instead of echoing the request's.
    pub model: Option<String>,
    /// Token counts and cost to report instead of the defaults.
    pub usage: Option<ScriptUsage>,
    /// Content coding for a whole (non-stream) answer: `gzip`, `deflate`,
    /// `br` or `zstd`. Applied only when the request's `Accept-Encoding`
    /// lists it (no quality values looked at); otherwise the answer goes out
    /// as identity, as a server that honours `Accept-Encoding` would send it.
    pub encoding: Option<String>,
}

/// Usage numbers to report. Unset fields keep their defaults: prompt tokens
/// = words in the request's message texts (at least 1), cached 0, cache
/// creation 0, completion
/// = number of content chunks, reasoning 0, and the cost computed at
/// grok-4-fast prices ($0.20 in, $0.05 cached, $0.50 out per 1M tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptUsage {
    /// Prompt tokens, cached ones included.
    pub prompt_tokens: Option<u64>,
    /// Of which served from cache.
    pub cached_tokens: Option<u64>,
    /// Of which written to the cache (reported by Anthropic as
    /// `cache_creation_input_tokens`; not part of the cost).
    pub cache_creation_tokens: Option<u64>,
    /// Visible output tokens.
    pub completion_tokens: Option<u64>,
    /// Hidden reasoning tokens (xAI: not part of `completion_tokens`).
    pub reasoning_tokens: Option<u64>,
    /// `cost_in_usd_ticks` (1 USD = 10^10 ticks).
    pub cost_in_usd_ticks: Option<u64>,
}

/// A malformed `x-fake-*` header.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name} header: {reason}")]
pub struct ScriptHeaderError {
    name: &'static str,
    reason: String,
}

impl Script {
    /// An empty script (default behaviour).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Script::status`].
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets [`Script::body`].
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds one response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sets [`Script::delay_ms`].
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay_ms = Some(millis(delay));
        self
    }

    /// Sets [`Script::chunks`].
    pub fn chunks(mut self, chunks: usize) -> Self {
        self.chunks = Some(chunks);
        self
    }

    /// Sets [`Script::chunk_delay_ms`].
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay_ms = Some(millis(delay));
        self
    }

    /// Sets [`Script::drop_after`].
    pub fn drop_after(mut self, chunks: usize) -> Self {
        self.drop_after = Some(chunks);
        self
    }

    /// Sets [`Script::stream`].
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = Some(stream);
        self
    }

    /// Sets [`Script::chunk_bytes`].
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = Some(bytes);
        self
    }

    /// Sets [`Script::model`].
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets [`Script::usage`].
    pub fn usage(mut self, usage: ScriptUsage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Sets [`Script::encoding`].
    pub fn encoding(mut self, coding: impl Into<String>) -> Self {
        self.encoding = Some(coding.into());
        self
    }

    /// Builds a script from the `x-fake-*` request headers.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ScriptHeaderError> {
        let mut script = match headers.get(SCRIPT) {
            Some(value) => {
                serde_json::from_slice(value.as_bytes()).map_err(|e| ScriptHeaderError {
                    name: SCRIPT,
                    reason: e.to_string(),
                })?
            }
            None => Self::default(),
        };
        if let Some(v) = number(headers, STATUS)? {
            script.status = Some(v);
        }
        if let Some(v) = number(headers, DELAY_MS)? {
            script.delay_ms = Some(v);
        }
        if let Some(v) = number(headers, CHUNKS)? {
            script.chunks = Some(v);
        }
        if let Some(v) = number(headers, CHUNK_DELAY_MS)? {
            script.chunk_delay_ms = Some(v);
        }
        if let Some(v) = number(headers, DROP_AFTER)? {
            script.drop_after = Some(v);
        }
        if let Some(v) = number(headers, CHUNK_BYTES)? {
            script.chunk_bytes = Some(v);
        }
        if let Some(v) = header_str(headers, ENCODING)? {
            script.encoding = Some(v.to_owned());
        }
        if let Some(v) = header_str(headers, STREAM)? {
            script.stream = Some(parse_bool(v).ok_or_else(|| ScriptHeaderError {
                name: STREAM,
                reason: format!("{v:?} is not true/false"),
            })?);
        }
        Ok(script)
    }

    /// Field by field, `self` wins and `fallback` fills the gaps. Headers
    /// are merged, `self`'s value winning on a name clash.
    pub fn or(self, fallback: Script) -> Script {
        let mut headers = fallback.headers;
        headers.extend(self.headers);
        Script {
            status: self.status.or(fallback.status),
            body: self.body.or(fallback.body),
            headers,
            delay_ms: self.delay_ms.or(fallback.delay_ms),
            chunks: self.chunks.or(fallback.chunks),
            chunk_delay_ms: self.chunk_delay_ms.or(fallback.chunk_delay_ms),
            drop_after: self.drop_after.or(fallback.drop_after),
            stream: self.stream.or(fallback.stream),
            chunk_bytes: self.chunk_bytes.or(fallback.chunk_bytes),
            model: self.model.or(fallback.model),
            usage: self.usage.or(fallback.usage),
            encoding: self.encoding.or(fallback.encoding),
        }
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Script::default()
    }
}

fn millis(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}

fn header_str<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, ScriptHeaderError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ScriptHeaderError {
                name,
                reason: "not visible ASCII".to_owned(),
            }),
    }
}

fn number<T>(headers: &HeaderMap, name: &'static str) -> Result<Option<T>, ScriptHeaderError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match header_str(headers, name)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|e| ScriptHeaderError {
            name,
            reason: format!("{text:?}: {e}"),
        }),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use http::HeaderValue;

    #[test]
    fn headers_build_a_script_over_the_json_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            SCRIPT,
            HeaderValue::from_static(r#"{"status":500,"chunks":3}"#),
        );
        headers.insert(STATUS, HeaderValue::from_static("429"));
        headers.insert(STREAM, HeaderValue::from_static("TRUE"));
        let script = Script::from_headers(&headers).unwrap();
        assert_eq!(script.status, Some(429));
        assert_eq!(script.chunks, Some(3));
        assert_eq!(script.stream, Some(true));
    }

    #[test]
    fn bad_header_values_are_errors() {
        let mut headers = HeaderMap::new();
        headers.insert(DELAY_MS, HeaderValue::from_static("soon"));
        let err = Script::from_headers(&headers).unwrap_err();
        assert!(err.to_string().contains(DELAY_MS), "{err}");
    }

    #[test]
    fn queue_fields_win_and_headers_fill_gaps() {
        let queued = Script::new().status(503).header("a", "1");
        let from_headers = Script::new().status(429).chunks(2).header("a", "2");
        let merged = queued.or(from_headers);
        assert_eq!(merged.status, Some(503));
        assert_eq!(merged.chunks, Some(2));
        assert_eq!(merged.headers.get("a").map(String::as_str), Some("1"));
    }

    #[test]
    fn unknown_json_fields_are_rejected() {
        assert!(serde_json::from_str::<Script>(r#"{"stauts":500}"#).is_err());
    }
}

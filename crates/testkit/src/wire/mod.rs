//! Provider wire formats: each submodule turns a parsed request and the
//! resolved script into a [`Reply`] (status, headers, whole body or a lazy
//! frame source). Pacing, aborts and scripted headers are applied later, in
//! one place (`handler::finish`).

pub(crate) mod anthropic;
pub(crate) mod content;
pub(crate) mod embeddings;
pub(crate) mod errors;
pub(crate) mod gemini;
pub(crate) mod openai;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::body::FrameSource;
use crate::script::Script;
use crate::state::Shared;

pub(crate) fn json_type() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

pub(crate) fn event_stream_type() -> HeaderValue {
    HeaderValue::from_static("text/event-stream")
}

/// A response before pacing and scripted headers are applied.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: ReplyBody,
}

pub(crate) enum ReplyBody {
    Full(Bytes),
    Stream(Box<dyn FrameSource>),
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, json_type());
        Self {
            status,
            headers,
            body: ReplyBody::Full(body.into()),
        }
    }

    pub(crate) fn stream(source: Box<dyn FrameSource>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, event_stream_type());
        Self {
            status: StatusCode::OK,
            headers,
            body: ReplyBody::Stream(source),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

/// What a wire format needs besides the request body.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) script: &'a Script,
    /// Set when the request's credentials are missing or rejected; a format
    /// reports it after parsing the body, as xAI validates JSON first.
    pub(crate) auth: Option<AuthFailure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Missing,
    Invalid,
    /// Google only: no API key, but an `Authorization: Bearer` header,
    /// which Google reads as an OAuth token of the wrong kind.
    BearerOnly,
}

/// The API key value that is always rejected as invalid.
pub(crate) const BAD_KEY: &str = "bad-key";

/// Checks `Authorization: Bearer …` or `x-api-key`.
pub(crate) fn check_auth(headers: &HeaderMap, require: bool) -> Option<AuthFailure> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match bearer.or(api_key) {
        Some(BAD_KEY) => Some(AuthFailure::Invalid),
        Some(_) => None,
        None if require => Some(AuthFailure::Missing),
        None => None,
    }
}

/// Message content as both APIs send it: a string or a list of parts.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
pub(crate) struct ContentPart {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) text: Option<String>,
    /// An Anthropic `image` block's source.
    pub(crate) source: Option<serde_json::Value>,
}

impl MessageContent {
    pub(crate) fn words(&self) -> u64 {
        match self {
            MessageContent::Text(text) => content::words(text),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .map(content::words)
                .sum(),
            MessageContent::Other(_) => 0,
        }
    }

    /// The list of parts, if the content is one.
    pub(crate) fn parts(&self) -> &[ContentPart] {
        match self {
            MessageContent::Parts(parts) => parts,
            _ => &[],
        }
    }

    pub(crate) fn has_part(&self, kind: &str) -> bool {
        match self {
            MessageContent::Parts(parts) => parts.iter().any(|p| p.kind.as_deref() == Some(kind)),
            _ => false,
        }
    }
}

/// Whether a request body asks for a stream (`"stream": true`); anything
/// unparsable counts as no.
pub(crate) fn asks_for_stream(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Peek {
        stream: Option<bool>,
    }
    serde_json::from_slice::<Peek>(body).is_ok_and(|p| p.stream == Some(true))
}

//! What the fake remembers about one request it received.

use bytes::Bytes;
use http::{HeaderMap, Method, Version};

/// One provider request as the fake received it (control requests to
/// `/__fake/*` are never recorded).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request method.
    pub method: Method,
    /// Path and query exactly as they arrived on the wire (not decoded).
    pub path_and_query: String,
    /// HTTP version the request used.
    pub version: Version,
    /// All request headers, in arrival order per name.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        split_query(&self.path_and_query).0
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        split_query(&self.path_and_query).1
    }

    /// The first value of header `name` (case-insensitive), if it is valid
    /// visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Splits `path?query` into its parts.
pub(crate) fn split_query(path_and_query: &str) -> (&str, Option<&str>) {
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    }
}

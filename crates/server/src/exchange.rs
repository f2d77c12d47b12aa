//! One request's state as it moves through the pipeline: what its log line and log records
//! will say, filled in stage by stage. A request may make several attempts (retries,
//! universal steps); each attempt is an [`Exchange`] with its own log id, all sharing one
//! [`Shared`] and one request id.

use crate::directives::Directives;
use crate::relay::Capture;
use bytes::Bytes;
use http::{HeaderMap, Method};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use switchyard_core::{AccountId, ErrorKind, GatewayId, GatewaySettings, RequestType};
use switchyard_providers::Provider;
use switchyard_store::logs::LogCap;

/// How the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    UpstreamError,
    Cancelled,
    /// The gateway answered itself (an error of SPEC 2.6), of this kind.
    Refused(ErrorKind),
    /// Answered from the cache.
    CacheHit,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Cancelled => "cancelled",
            Outcome::Refused(kind) => kind.label(),
            Outcome::CacheHit => "cache_hit",
        }
    }
}

/// What every attempt of one client request has in common.
pub struct Shared {
    pub account_id: AccountId,
    pub gateway_id: GatewayId,
    pub directives: Directives,
    /// Whether rows are stored (gateway setting, overridden by `cf-aig-collect-log`).
    pub collect: bool,
    pub cap: Option<LogCap>,
    /// The client's headers as JSON with credentials redacted, when rows are stored
    /// (written once, on arrival: the record keeps one string, not the connection's buffer).
    pub request_headers_json: Option<String>,
    pub request_content_type: Option<String>,
    pub user_agent: Option<String>,
}

/// A copy of `h` that owns its bytes. Header values parsed by the HTTP server share the
/// connection's read buffer; a record waiting in the log queue must not keep that buffer
/// alive.
pub fn owned_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(h.len());
    for (name, value) in h {
        // `from_bytes` copies the value into an allocation of its own.
        let mut copy =
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        out.append(name.clone(), copy);
    }
    out
}

/// What the record needs of the response's headers, taken as the head goes out: no copy of
/// the header map (whose values share the connection's read buffer) waits in the log queue.
#[derive(Debug, Default)]
pub struct ResponseHead {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// The headers as JSON, when a row is stored.
    pub json: Option<String>,
    /// An owned copy of the headers, when the answer is to be cached.
    pub headers: Option<HeaderMap>,
}

/// The request side of one attempt's record, known once its call is shaped.
pub struct Draft {
    pub shared: Arc<Shared>,
    pub request_type: RequestType,
    /// Upstream path (no query).
    pub path: String,
    pub requested_model: Option<String>,
    /// The body as the client sent it (or the universal step's `query`).
    pub request_body: Bytes,
    pub step: Option<u32>,
}

/// Everything known about one attempt.
pub struct Exchange {
    /// Lowercase UUIDv7: `cf-aig-log-id`.
    pub log_id: String,
    /// `cf-aig-request-id`: the first attempt's log id, shared by all attempts.
    pub request_id: String,
    pub method: Method,
    /// The client's path, without the query.
    pub path: String,
    pub started: Instant,
    /// Wall-clock start, for `created_at`.
    pub arrived: SystemTime,
    pub ttft: Option<Duration>,
    pub status: u16,
    /// The gateway, once resolved (for metrics of requests refused before a draft exists).
    pub gateway: Option<Arc<GatewaySettings>>,
    pub provider: Option<Arc<Provider>>,
    pub draft: Option<Draft>,
    /// Response side, for the record ([`Exchange::keep_response_headers`]).
    pub response: Option<ResponseHead>,
    /// The answer came from the cache.
    pub cached: bool,
    /// Store the answer under this cache key for this long, if it completes with a 2xx.
    pub cache_put: Option<(String, Duration)>,
    /// The client was told of an error inside the body (a translated stream's error event):
    /// not a complete answer, whatever the status (read beside what the log writer finds in
    /// the provider's own bytes).
    pub stream_failed: bool,
    /// The gateway's shutdown cut the answer while its client was still reading it: a
    /// failure, unless the client already had the stream's closing event.
    pub cut: bool,
    /// The client gets the answer translated to another API: its stream's end is the
    /// translator's, which the relay knows, not the provider's closing event.
    pub translated: bool,
}

impl Exchange {
    pub fn new(method: Method, path: &str) -> Self {
        let log_id = uuid::Uuid::now_v7().to_string();
        Self {
            request_id: log_id.clone(),
            log_id,
            method,
            path: path.to_owned(),
            started: Instant::now(),
            arrived: SystemTime::now(),
            ttft: None,
            status: 0,
            gateway: None,
            provider: None,
            draft: None,
            response: None,
            cached: false,
            cache_put: None,
            stream_failed: false,
            cut: false,
            translated: false,
        }
    }

    /// Starts this attempt's clock now (after a retry's pause, which is no part of it).
    pub fn start_now(&mut self) {
        self.started = Instant::now();
        self.arrived = SystemTime::now();
    }

    /// The next attempt of the same request: a new log id, the same request id.
    pub fn next_attempt(&self) -> Self {
        Self {
            log_id: uuid::Uuid::now_v7().to_string(),
            request_id: self.request_id.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            started: Instant::now(),
            arrived: SystemTime::now(),
            ttft: None,
            status: 0,
            gateway: self.gateway.clone(),
            provider: None,
            draft: None,
            response: None,
            cached: false,
            cache_put: self.cache_put.clone(),
            stream_failed: false,
            cut: false,
            translated: false,
        }
    }

    /// Keeps what the record needs of the response headers `h`.
    pub fn keep_response_headers(&mut self, h: &HeaderMap) {
        let text = |name| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let collect = self.draft.as_ref().is_some_and(|d| d.shared.collect);
        self.response = Some(ResponseHead {
            content_type: text(http::header::CONTENT_TYPE),
            content_encoding: content_coding(h),
            json: collect.then(|| crate::logpipe::headers_json(h)),
            headers: self.cache_put.is_some().then(|| owned_headers(h)),
        });
    }

    /// Marks the first response body byte (once).
    pub fn first_byte(&mut self) {
        if self.ttft.is_none() {
            self.ttft = Some(self.started.elapsed());
        }
    }

    /// Writes the request's one info line (called by the log writer, off the response path).
    pub fn log_line(&self, outcome: Outcome, duration: Duration) {
        tracing::info!(
            target: "switchyard::request",
            method = %self.method,
            path = %self.path,
            provider = self.provider.as_ref().map(|p| p.slug.as_str()).unwrap_or("-"),
            status = self.status,
            duration_us = duration.as_micros() as u64,
            outcome = outcome.label(),
        );
    }

    /// The event id echoed back: the caller's, else the log id.
    pub fn event_id(&self) -> &str {
        self.draft
            .as_ref()
            .and_then(|d| d.shared.directives.event_id.as_deref())
            .unwrap_or(&self.log_id)
    }
}

/// Every `Content-Encoding` line, joined. A value that is not text stands as `?`, a coding
/// nobody knows, so that such a body is never taken for a plain one.
fn content_coding(h: &HeaderMap) -> Option<String> {
    let mut lines = h.get_all(http::header::CONTENT_ENCODING).iter();
    let mut out = lines.next()?.to_str().unwrap_or("?").to_owned();
    for line in lines {
        out.push_str(", ");
        out.push_str(line.to_str().unwrap_or("?"));
    }
    Some(out)
}

/// A finished attempt on its way to the log writer.
pub struct Completed {
    pub exchange: Box<Exchange>,
    pub capture: Capture,
    pub outcome: Outcome,
    pub duration: Duration,
    /// Its bodies were let go while it waited ([`Completed::shed_payload`]): the record is
    /// stored without them.
    pub payload_shed: bool,
    /// The answer as already read, when it was read to be cached as it ended
    /// ([`crate::logpipe::LogQueue::submit`]).
    pub reading: Option<Box<crate::logpipe::Reading>>,
}

impl Completed {
    pub fn new(exchange: Box<Exchange>, mut capture: Capture, outcome: Outcome) -> Self {
        capture.seal();
        let duration = exchange.started.elapsed();
        Self {
            exchange,
            capture,
            outcome,
            duration,
            payload_shed: false,
            reading: None,
        }
    }

    /// Body bytes it holds: the request's and what was captured of the answer.
    pub fn held_bytes(&self) -> usize {
        self.exchange
            .draft
            .as_ref()
            .map_or(0, |d| d.request_body.len())
            + self.capture.held_bytes()
            + self.reading.as_ref().map_or(0, |r| r.held_bytes())
    }

    /// Lets go of the request body and of all of the answer but its start and end (what
    /// usage is read from): the record is then stored without bodies.
    pub fn shed_payload(&mut self) {
        if let Some(d) = self.exchange.draft.as_mut() {
            d.request_body = bytes::Bytes::new();
        }
        self.capture.shed();
        self.reading = None;
        self.payload_shed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_content_encoding_line_counts() {
        use http::header::CONTENT_ENCODING;
        let mut h = HeaderMap::new();
        assert_eq!(content_coding(&h), None);
        h.append(CONTENT_ENCODING, http::HeaderValue::from_static("identity"));
        assert_eq!(content_coding(&h).as_deref(), Some("identity"));
        h.append(CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        assert_eq!(content_coding(&h).as_deref(), Some("identity, gzip"));
        let odd = http::HeaderValue::from_bytes(b"g\xffzip").expect("opaque bytes are a value");
        h.insert(CONTENT_ENCODING, odd);
        assert_eq!(content_coding(&h).as_deref(), Some("?"));
    }

    #[test]
    fn owned_headers_keep_every_value_in_new_memory() {
        let buffer = Bytes::from_static(b"Bearer secretapplication/json");
        let mut h = HeaderMap::new();
        let mut auth =
            http::HeaderValue::from_maybe_shared(buffer.slice(..13)).expect("valid value");
        auth.set_sensitive(true);
        h.insert(http::header::AUTHORIZATION, auth);
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_maybe_shared(buffer.slice(13..)).expect("valid value"),
        );
        h.append("x-multi", http::HeaderValue::from_static("a"));
        h.append("x-multi", http::HeaderValue::from_static("b"));

        let copy = owned_headers(&h);
        assert_eq!(copy, h);
        assert_eq!(copy.get_all("x-multi").iter().count(), 2);
        assert!(copy[http::header::AUTHORIZATION].is_sensitive());
        for (name, value) in &h {
            let copied = copy.get(name).expect("present");
            assert_ne!(
                copied.as_bytes().as_ptr(),
                value.as_bytes().as_ptr(),
                "{name} still points into the original buffer"
            );
        }
    }
}

//! HTTP client side of the load generator: targets, request construction,
//! one-shot (non-streaming) requests and SSE stream readers.
//!
//! Every socket the harness opens has `TCP_NODELAY` set (see the Nagle +
//! delayed-ACK pitfall in the peer survey), and every request is HTTP/1.1.
//! Pooled paths use the hyper-util legacy client (keep-alive pool sized by the
//! caller); the many-streams scenario opens one raw hyper connection per
//! stream so that each stream really owns a TCP connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Request body of a small non-streaming chat completion.
const BODY_UNARY: &[u8] = br#"{"model":"grok-beta","messages":[{"role":"user","content":"hi"}]}"#;
/// Same request, asking for a `text/event-stream` response.
const BODY_STREAM: &[u8] =
    br#"{"model":"grok-beta","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

/// Per-request deadline; a request that takes longer counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The pooled client type used by the latency and throughput scenarios.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Which side of the comparison a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Straight to the fake provider.
    Direct = 0,
    /// Through the gateway, which forwards to the same fake provider.
    Gateway = 1,
}

impl Path {
    /// Both paths, in index order.
    pub const BOTH: [Path; 2] = [Path::Direct, Path::Gateway];

    /// Index into two-element arrays (`[direct, gateway]`).
    pub fn idx(self) -> usize {
        self as usize
    }

    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Gateway => "gateway",
        }
    }

    /// The other path.
    pub fn other(self) -> Path {
        match self {
            Path::Direct => Path::Gateway,
            Path::Gateway => Path::Direct,
        }
    }
}

/// One endpoint to send chat completions to.
#[derive(Clone, Debug)]
pub struct Target {
    /// Full URL of the chat-completions endpoint.
    pub uri: Uri,
    /// `host:port` for the `Host` header.
    pub authority: String,
    /// Path and query, for origin-form requests on raw connections.
    pub path_and_query: String,
    /// Resolved socket address, for raw connections.
    pub addr: SocketAddr,
}

impl Target {
    /// Parses and resolves a `http://host:port/path` URL.
    pub async fn parse(url: &str) -> Result<Target> {
        let uri: Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs are supported: {url}");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("URL without host: {url}"))?
            .to_string();
        let host_port = if uri.port().is_some() {
            authority.clone()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(&host_port)
            .await
            .with_context(|| format!("resolving {host_port}"))?
            .next()
            .ok_or_else(|| anyhow!("no address for {host_port}"))?;
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        Ok(Target {
            uri,
            authority,
            path_and_query,
            addr,
        })
    }
}

/// Shape of a streamed response, sent as `x-fake-*` request headers.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct StreamShape {
    /// Number of content chunks (`x-fake-chunks`).
    pub chunks: u32,
    /// Delay between chunks in milliseconds (`x-fake-chunk-delay-ms`).
    pub chunk_delay_ms: u64,
}

/// Builds a pooled HTTP/1.1 client with `TCP_NODELAY` and `max_idle` idle
/// keep-alive connections per host.
pub fn pooled_client(max_idle: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_idle)
        .pool_idle_timeout(Duration::from_secs(120))
        .build(connector)
}

/// How the body of each request is made.
#[derive(Clone, Debug)]
pub enum BodySpec {
    /// The same bytes every time.
    Fixed(Bytes),
    /// `head` + a number unique within this process + `tail`, so that no two
    /// requests carry the same body (every cache lookup misses). Put a run
    /// nonce in `head` when the cache outlives the run (Redis).
    Unique {
        /// Bytes before the number.
        head: Bytes,
        /// Bytes after the number.
        tail: Bytes,
    },
}

/// Counter behind [`BodySpec::Unique`].
static BODY_SEQ: AtomicU64 = AtomicU64::new(0);

impl BodySpec {
    fn make(&self) -> Bytes {
        match self {
            BodySpec::Fixed(b) => b.clone(),
            BodySpec::Unique { head, tail } => {
                let n = BODY_SEQ.fetch_add(1, Ordering::Relaxed);
                let mut v = Vec::with_capacity(head.len() + tail.len() + 20);
                v.extend_from_slice(head);
                v.extend_from_slice(n.to_string().as_bytes());
                v.extend_from_slice(tail);
                Bytes::from(v)
            }
        }
    }

    /// Splits `json` at the first `{N}` into a [`BodySpec::Unique`].
    pub fn unique(json: &str) -> BodySpec {
        let (head, tail) = json.split_once("{N}").unwrap_or((json, ""));
        BodySpec::Unique {
            head: Bytes::from(head.to_string()),
            tail: Bytes::from(tail.to_string()),
        }
    }
}

/// One kind of request: where it goes, its extra headers, its body, and what
/// the answer must look like to count as a success.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Where the request goes.
    pub target: Target,
    /// Headers added after `Host`, `Content-Type` and `Authorization`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request body.
    pub body: BodySpec,
    /// Stream shape (`x-fake-*` headers and `Accept: text/event-stream`).
    pub stream: Option<StreamShape>,
    /// A response header the answer must carry with this value (or, with
    /// `None`, must not carry); a mismatch counts as an error.
    pub expect: Option<(HeaderName, Option<HeaderValue>)>,
}

impl Endpoint {
    /// The small non-streaming chat completion of scenarios 1–3.
    pub fn chat(target: &Target) -> Endpoint {
        Endpoint {
            target: target.clone(),
            headers: Vec::new(),
            body: BodySpec::Fixed(Bytes::from_static(BODY_UNARY)),
            stream: None,
            expect: None,
        }
    }

    /// The streamed chat completion of scenarios 4–5.
    pub fn chat_stream(target: &Target, shape: StreamShape) -> Endpoint {
        Endpoint {
            body: BodySpec::Fixed(Bytes::from_static(BODY_STREAM)),
            stream: Some(shape),
            ..Endpoint::chat(target)
        }
    }

    /// Adds a request header (names and values here are constants or
    /// numbers, so they are always valid).
    pub fn header(mut self, name: &'static str, value: &str) -> Endpoint {
        let value = HeaderValue::from_str(value).expect("valid header value");
        self.headers.push((HeaderName::from_static(name), value));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: BodySpec) -> Endpoint {
        self.body = body;
        self
    }

    /// Requires response header `name` to be `value` (`None`: absent).
    pub fn expect(mut self, name: &'static str, value: Option<&'static str>) -> Endpoint {
        self.expect = Some((
            HeaderName::from_static(name),
            value.map(HeaderValue::from_static),
        ));
        self
    }

    /// Builds one request. `absolute` selects an absolute URI (for the
    /// pooled client) rather than origin form (for raw connections).
    pub fn request(&self, absolute: bool) -> Request<Full<Bytes>> {
        let target = &self.target;
        let uri = if absolute {
            target.uri.clone()
        } else {
            target
                .path_and_query
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"))
        };
        let mut builder = Request::post(uri)
            .header(header::HOST, target.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, "Bearer bench");
        if let Some(shape) = self.stream {
            builder = builder
                .header(header::ACCEPT, "text/event-stream")
                .header("x-fake-chunks", shape.chunks.to_string())
                .header("x-fake-chunk-delay-ms", shape.chunk_delay_ms.to_string());
        }
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        builder
            .body(Full::new(self.body.make()))
            .expect("request parts are valid")
    }

    /// Checks the expected response header.
    fn check(&self, headers: &HeaderMap) -> Result<()> {
        let Some((name, want)) = &self.expect else {
            return Ok(());
        };
        let got = headers.get(name);
        if got != want.as_ref() {
            let show = |v: Option<&HeaderValue>| {
                v.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_else(|| "(absent)".into())
            };
            bail!("{name}: {} (expected {})", show(got), show(want.as_ref()));
        }
        Ok(())
    }
}

/// Sends one non-streaming request and reads the whole body. Returns the
/// latency from just before sending to the last body byte. A non-2xx status
/// or a missing expected header is an error.
pub async fn unary(client: &HttpClient, ep: &Endpoint) -> Result<Duration> {
    let req = ep.request(true);
    let start = Instant::now();
    let fut = async {
        let resp = client.request(req).await.map_err(|e| anyhow!("{e:?}"))?;
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| anyhow!("body: {e}"))?
            .to_bytes();
        if !status.is_success() {
            bail!("HTTP {}: {}", status.as_u16(), snippet(&body));
        }
        ep.check(&parts.headers)
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => bail!("timeout after {:?}", REQUEST_TIMEOUT),
    }
}

/// Sends one request and returns the status and body, for readiness checks
/// and error messages.
pub async fn probe(client: &HttpClient, ep: &Endpoint) -> Result<(u16, String)> {
    let req = ep.request(true);
    let resp = tokio::time::timeout(REQUEST_TIMEOUT, client.request(req))
        .await
        .map_err(|_| anyhow!("timeout"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow!("body: {e}"))?
        .to_bytes();
    Ok((status, snippet(&body)))
}

/// `GET` or `DELETE` of `url` with an empty body (control plane, `/metrics`):
/// status and body.
pub async fn fetch(client: &HttpClient, method: Method, url: &str) -> Result<(u16, Bytes)> {
    let uri: Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .map_err(|e| anyhow!("{e}"))?;
    let fut = async {
        let resp = client.request(req).await.map_err(|e| anyhow!("{e:?}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("body: {e}"))?
            .to_bytes();
        Ok::<_, anyhow::Error>((status, body))
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .map_err(|_| anyhow!("timeout: {url}"))?
}

/// Shortened, printable body for error messages.
pub fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// What the reader saw of one streamed response.
#[derive(Debug, Default)]
pub struct StreamRecord {
    /// Send → first non-empty body frame.
    pub ttfb: Option<Duration>,
    /// Send → arrival of the first event carrying generated text (an OpenAI
    /// chunk with a non-empty `delta.content`, or an Anthropic `text_delta`).
    pub first_content: Option<Duration>,
    /// Arrival time of each complete SSE event (one entry per event; events
    /// completed by the same frame share a timestamp).
    pub event_times: Vec<Instant>,
    /// `data:` events other than `[DONE]`.
    pub data_events: u32,
    /// Whether `data: [DONE]` (or an Anthropic `message_stop`) arrived.
    pub done: bool,
    /// Transport error, timeout or non-2xx status.
    pub error: Option<String>,
}

impl StreamRecord {
    /// Whether the stream carried at least `chunks` content events and `[DONE]`.
    pub fn complete(&self, chunks: u32) -> bool {
        self.error.is_none() && self.done && self.data_events >= chunks
    }

    /// Gaps between consecutive SSE events.
    pub fn gaps(&self) -> impl Iterator<Item = Duration> + '_ {
        self.event_times.windows(2).map(|w| w[1] - w[0])
    }

    /// Largest gap between consecutive SSE events.
    pub fn max_gap(&self) -> Duration {
        self.gaps().max().unwrap_or_default()
    }
}

/// Sends a streaming request over the pooled client and reads the stream.
pub async fn stream_pooled(client: &HttpClient, ep: &Endpoint, deadline: Duration) -> StreamRecord {
    let req = ep.request(true);
    let start = Instant::now();
    let fut = async {
        let resp = client.request(req).await.map_err(|e| anyhow!("{e:?}"))?;
        Ok::<_, anyhow::Error>(resp)
    };
    read_with_deadline(fut, start, deadline).await
}

/// Opens a fresh TCP connection (nodelay), sends one streaming request on it
/// and reads the stream. The connection closes when the stream ends.
pub async fn stream_raw(ep: &Endpoint, deadline: Duration) -> StreamRecord {
    let req = ep.request(false);
    let start = Instant::now();
    let addr = ep.target.addr;
    let fut = async move {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| anyhow!("connect: {e}"))?;
        tcp.set_nodelay(true)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| anyhow!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| anyhow!("send: {e:?}"))?;
        Ok::<_, anyhow::Error>(resp)
    };
    read_with_deadline(fut, start, deadline).await
}

async fn read_with_deadline<F>(resp_fut: F, start: Instant, deadline: Duration) -> StreamRecord
where
    F: std::future::Future<Output = Result<Response<Incoming>>>,
{
    let mut rec = StreamRecord::default();
    let work = async {
        let resp = resp_fut.await?;
        read_sse(resp, start, &mut rec).await
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => rec.error = Some(e.to_string()),
        Err(_) => rec.error = Some(format!("timeout after {deadline:?}")),
    }
    rec
}

/// Reads an SSE body frame by frame, timestamping each completed event.
async fn read_sse(resp: Response<Incoming>, start: Instant, rec: &mut StreamRecord) -> Result<()> {
    let status = resp.status();
    let mut body = resp.into_body();
    if !status.is_success() {
        let bytes = body
            .collect()
            .await
            .map_err(|e| anyhow!("body: {e}"))?
            .to_bytes();
        bail!("HTTP {}: {}", status.as_u16(), snippet(&bytes));
    }
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow!("body: {e}"))?;
        let now = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if rec.ttfb.is_none() {
            rec.ttfb = Some(now - start);
        }
        buf.extend(data.iter().copied().filter(|&b| b != b'\r'));
        while let Some(pos) = find(&buf, b"\n\n") {
            let event: Vec<u8> = buf.drain(..pos + 2).collect();
            classify_event(&event, rec);
            if rec.first_content.is_none() && carries_text(&event) {
                rec.first_content = Some(now - start);
            }
            rec.event_times.push(now);
        }
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        // A trailing event without the blank line still counts.
        let event = std::mem::take(&mut buf);
        classify_event(&event, rec);
        rec.event_times.push(Instant::now());
    }
    Ok(())
}

fn classify_event(event: &[u8], rec: &mut StreamRecord) {
    for line in event.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"data:") {
            let payload = rest.trim_ascii();
            // OpenAI streams end with `[DONE]`, Anthropic streams with a
            // `message_stop` event.
            if payload == b"[DONE]" || find(payload, br#""type":"message_stop""#).is_some() {
                rec.done = true;
            } else {
                rec.data_events += 1;
            }
        }
    }
}

/// Whether an SSE event carries generated text: an Anthropic `text_delta`, or
/// an OpenAI chunk whose `"content":"…"` is not empty (the first chunk of an
/// OpenAI stream often carries only the role and `"content":""`).
fn carries_text(event: &[u8]) -> bool {
    if find(event, br#""text_delta""#).is_some() {
        return true;
    }
    let key = br#""content":""#;
    let mut rest = event;
    while let Some(pos) = find(rest, key) {
        rest = &rest[pos + key.len()..];
        if rest.first().is_some_and(|&b| b != b'"') {
            return true;
        }
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sse_events() {
        let mut rec = StreamRecord::default();
        classify_event(b"data: {\"a\":1}\n\n", &mut rec);
        classify_event(b": comment\n\n", &mut rec);
        classify_event(b"data: [DONE]\n\n", &mut rec);
        assert_eq!(rec.data_events, 1);
        assert!(rec.done);
    }

    #[test]
    fn spots_generated_text() {
        assert!(!carries_text(
            br#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"#
        ));
        assert!(carries_text(
            br#"data: {"choices":[{"delta":{"content":"Hel"}}]}"#
        ));
        assert!(carries_text(
            br#"event: content_block_delta
data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}"#
        ));
        assert!(!carries_text(
            br#"data: {"type":"message_start","message":{"content":[]}}"#
        ));
    }

    #[test]
    fn unique_bodies_differ() {
        let spec = BodySpec::unique(r#"{"content":"x {N} y"}"#);
        let (a, b) = (spec.make(), spec.make());
        assert_ne!(a, b);
        assert!(a.starts_with(br#"{"content":"x "#) && a.ends_with(br#" y"}"#));
    }

    #[test]
    fn finds_event_boundary() {
        assert_eq!(find(b"data: x\n\ndata: y", b"\n\n"), Some(7));
        assert_eq!(find(b"data: x\n", b"\n\n"), None);
    }
}

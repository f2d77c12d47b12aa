//! HTTP client side of the load generator: targets, request construction,
//! one-shot (non-streaming) requests and SSE stream readers.
//!
//! Every socket the harness opens has `TCP_NODELAY` set (see the Nagle +
//! delayed-ACK pitfall in the peer survey), and every request is HTTP/1.1.
//! Pooled paths use the hyper-util legacy client (keep-alive pool sized by the
//! caller); the many-streams scenario opens one raw hyper connection per
//! stream so that each stream really owns a TCP connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::{header, Request, Response, Uri};
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

/// Builds a chat-completion request. `absolute` selects an absolute URI (for
/// the pooled client) rather than origin form (for raw connections).
pub fn build_request(
    target: &Target,
    stream: Option<StreamShape>,
    absolute: bool,
) -> Request<Full<Bytes>> {
    let uri = if absolute {
        target.uri.clone()
    } else {
        target
            .path_and_query
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"))
    };
    let body = if stream.is_some() {
        BODY_STREAM
    } else {
        BODY_UNARY
    };
    let mut builder = Request::post(uri)
        .header(header::HOST, target.authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer bench");
    if let Some(shape) = stream {
        builder = builder
            .header(header::ACCEPT, "text/event-stream")
            .header("x-fake-chunks", shape.chunks.to_string())
            .header("x-fake-chunk-delay-ms", shape.chunk_delay_ms.to_string());
    }
    builder
        .body(Full::new(Bytes::from_static(body)))
        .expect("static request parts are valid")
}

/// Sends one non-streaming request and reads the whole body. Returns the
/// latency from just before sending to the last body byte.
pub async fn unary(client: &HttpClient, target: &Target) -> Result<Duration> {
    let req = build_request(target, None, true);
    let start = Instant::now();
    let fut = async {
        let resp = client.request(req).await.map_err(|e| anyhow!("{e:?}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("body: {e}"))?
            .to_bytes();
        if !status.is_success() {
            bail!("HTTP {}: {}", status.as_u16(), snippet(&body));
        }
        Ok::<_, anyhow::Error>(())
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => bail!("timeout after {:?}", REQUEST_TIMEOUT),
    }
}

/// Sends one request and returns the status and body, for readiness checks
/// and error messages.
pub async fn probe(client: &HttpClient, target: &Target) -> Result<(u16, String)> {
    let req = build_request(target, None, true);
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
    /// Arrival time of each complete SSE event (one entry per event; events
    /// completed by the same frame share a timestamp).
    pub event_times: Vec<Instant>,
    /// `data:` events other than `[DONE]`.
    pub data_events: u32,
    /// Whether `data: [DONE]` arrived.
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
pub async fn stream_pooled(
    client: &HttpClient,
    target: &Target,
    shape: StreamShape,
    deadline: Duration,
) -> StreamRecord {
    let req = build_request(target, Some(shape), true);
    let start = Instant::now();
    let fut = async {
        let resp = client.request(req).await.map_err(|e| anyhow!("{e:?}"))?;
        Ok::<_, anyhow::Error>(resp)
    };
    read_with_deadline(fut, start, deadline).await
}

/// Opens a fresh TCP connection (nodelay), sends one streaming request on it
/// and reads the stream. The connection closes when the stream ends.
pub async fn stream_raw(target: &Target, shape: StreamShape, deadline: Duration) -> StreamRecord {
    let req = build_request(target, Some(shape), false);
    let start = Instant::now();
    let addr = target.addr;
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
            if payload == b"[DONE]" {
                rec.done = true;
            } else {
                rec.data_events += 1;
            }
        }
    }
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
    fn finds_event_boundary() {
        assert_eq!(find(b"data: x\n\ndata: y", b"\n\n"), Some(7));
        assert_eq!(find(b"data: x\n", b"\n\n"), None);
    }
}

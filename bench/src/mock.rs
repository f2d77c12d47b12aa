//! A minimal stand-in upstream (`loadgen mock`) for checking the harness
//! itself when the real `fake-provider` is not available. It speaks just
//! enough of the fake's protocol: `POST .../chat/completions`, `"stream":true`
//! in the body, and the `x-fake-delay-ms`, `x-fake-chunks`,
//! `x-fake-chunk-delay-ms` and `x-fake-chunk-bytes` request headers. It is not
//! used by `run.sh` for real measurements.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Streamed response body fed by a channel.
struct ChanBody(mpsc::Receiver<Bytes>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

type RespBody = BoxBody<Bytes, Infallible>;

/// Serves until killed. Prints `listening on http://ADDR` first.
pub async fn serve(listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(handle))
                .await;
        });
    }
}

fn header_u64(h: &HeaderMap, name: &str, default: u64) -> u64 {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

async fn handle(req: Request<Incoming>) -> Result<Response<RespBody>, Infallible> {
    let headers = req.headers().clone();
    let path_ok = req.uri().path().ends_with("/chat/completions");
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if !path_ok {
        let resp = Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"{\"error\":\"not found\"}")).boxed())
            .expect("valid response");
        return Ok(resp);
    }
    let delay = header_u64(&headers, "x-fake-delay-ms", 0);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let stream = body.windows(13).any(|w| w == b"\"stream\":true");
    if !stream {
        let json = br#"{"id":"chatcmpl-mock","object":"chat.completion","created":0,"model":"grok-beta","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        let resp = Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(json)).boxed())
            .expect("valid response");
        return Ok(resp);
    }
    let chunks = header_u64(&headers, "x-fake-chunks", 5);
    let gap = Duration::from_millis(header_u64(&headers, "x-fake-chunk-delay-ms", 0));
    let chunk_bytes = header_u64(&headers, "x-fake-chunk-bytes", 3) as usize;
    let content = "x".repeat(chunk_bytes.max(1));
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for i in 0..chunks {
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            let ev = format!(
                "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"grok-beta\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n"
            );
            if tx.send(Bytes::from(ev)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    let resp = Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(ChanBody(rx).boxed())
        .expect("valid response");
    Ok(resp)
}

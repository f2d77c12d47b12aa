//! A bare forwarding proxy (`loadgen forward`), the reference for what any proxy costs on
//! this rig: one hyper HTTP/1 server, one pooled hyper client with `TCP_NODELAY`, the
//! request and the response streamed through untouched (only the URI is re-pointed at the
//! upstream), no routing, no logging, no state. `run.sh --reference` puts it where the
//! gateway would be, pinned the same way, so that the cost of crossing a second core and a
//! second socket pair can be told apart from what Switchyard itself adds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Upstream = Client<HttpConnector, Incoming>;
type RespBody = BoxBody<bytes::Bytes, hyper::Error>;

/// Serves until killed, forwarding every request to `upstream` (`http://IP:PORT`).
/// Prints `listening on http://ADDR` first.
pub async fn serve(listen: SocketAddr, upstream: &str) -> Result<()> {
    let base: Uri = upstream.parse().context("--upstream")?;
    let authority = base
        .authority()
        .cloned()
        .ok_or_else(|| anyhow!("--upstream needs host:port"))?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Arc<Upstream> = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector),
    );
    let listener = TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let client = client.clone();
        let authority = authority.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let client = client.clone();
                let authority = authority.clone();
                async move { Ok::<_, std::convert::Infallible>(forward(&client, authority, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn forward(
    client: &Upstream,
    authority: http::uri::Authority,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let (mut parts, body) = req.into_parts();
    let mut uri = parts.uri.into_parts();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(authority);
    parts.uri = match Uri::from_parts(uri) {
        Ok(u) => u,
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    parts.headers.remove(http::header::HOST);
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    }
}

fn status(code: StatusCode) -> Response<RespBody> {
    let mut resp = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *resp.status_mut() = code;
    resp
}

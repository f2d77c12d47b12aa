//! The pooled upstream client: keep-alive, TCP_NODELAY, rustls with the web roots, HTTP/2
//! where the provider offers it (ALPN), and the classification of its failures.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;
use switchyard_core::{ErrorKind, GatewayError};

/// What an upstream request body is: always fully read first (it may be retried or cached).
pub type UpstreamBody = Full<Bytes>;

/// The shared, pooled client.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, UpstreamBody>,
}

impl Upstream {
    /// A client whose idle connections are kept for `idle_timeout`.
    pub fn new(idle_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            // Kept shorter than the provider's own keep-alive, or a request sent just as
            // the provider closes an idle connection fails (`upstream_idle_timeout_ms`).
            .pool_idle_timeout(idle_timeout)
            // Keep enough warm connections per provider for steady traffic, but do not hold
            // thousands open after a burst of concurrent streams.
            .pool_max_idle_per_host(256)
            // hyper's default of 100 response header lines stands: above it hyper parses
            // every answer into heap buffers instead of the stack.
            .build(https);
        Self { client }
    }

    /// Sends `req`, allowing `timeout` for the response headers.
    pub async fn send(
        &self,
        req: http::Request<UpstreamBody>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, GatewayError> {
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => Err(GatewayError::new(
                ErrorKind::UpstreamTimeout,
                format!(
                    "the provider sent no response within {} ms",
                    timeout.as_millis()
                ),
            )),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "upstream request failed");
                let parse = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<hyper::Error>())
                    .is_some_and(hyper::Error::is_parse);
                if parse {
                    // It answered: sending the request again would repeat its work.
                    return Err(GatewayError::new(
                        ErrorKind::UpstreamMalformed,
                        "the provider's answer was not readable HTTP (malformed, or over 100 header lines)",
                    ));
                }
                let why = if e.is_connect() {
                    "could not connect to the provider"
                } else {
                    "the provider closed the connection before answering"
                };
                Err(GatewayError::new(ErrorKind::UpstreamUnavailable, why))
            }
            Ok(Ok(resp)) => {
                // Neither can be relayed: no client asked to switch protocols (Upgrade is not
                // forwarded), and a body in a coding hyper does not undo would reach the
                // client still encoded with nothing to say so.
                let unreadable = if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                    Some("the provider switched protocols, which no client asked for".to_owned())
                } else {
                    crate::forward::undecodable_transfer_coding(resp.headers()).map(|c| {
                        format!("the provider's answer uses transfer coding '{c}', which the gateway does not decode")
                    })
                };
                match unreadable {
                    Some(why) => Err(GatewayError::new(ErrorKind::UpstreamMalformed, why)),
                    None => Ok(resp),
                }
            }
        }
    }
}

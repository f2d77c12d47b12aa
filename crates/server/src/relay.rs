//! Stage 8: relaying the provider's body to the client frame by frame, as it arrives.
//!
//! [`Relay`] wraps the upstream body without buffering it; it notices how the exchange ended
//! (complete, upstream error, client gone) and writes the request's log line then. Dropping
//! it before the end (the client disconnected) drops the upstream body, which closes that
//! upstream connection and so cancels the provider's work.

use bytes::Bytes;
use http::Method;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use switchyard_providers::Provider;

/// What the request's log line says, filled in as the request runs.
pub struct Exchange {
    pub method: Method,
    pub path: String,
    pub provider: Option<Arc<Provider>>,
    pub status: u16,
    pub started: Instant,
}

impl Exchange {
    /// Writes the one info line of this request.
    pub fn log(&self, outcome: &'static str) {
        tracing::info!(
            target: "switchyard::request",
            method = %self.method,
            path = %self.path,
            provider = self.provider.as_ref().map(|p| p.slug.as_str()).unwrap_or("-"),
            status = self.status,
            duration_us = self.started.elapsed().as_micros() as u64,
            outcome,
        );
    }
}

/// The provider's body on its way to the client.
pub struct Relay {
    inner: Incoming,
    exchange: Option<Exchange>,
}

impl Relay {
    pub fn new(inner: Incoming, exchange: Exchange) -> Self {
        Self {
            inner,
            exchange: Some(exchange),
        }
    }

    fn finish(&mut self, outcome: &'static str) {
        if let Some(x) = self.exchange.take() {
            x.log(outcome);
        }
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.finish("complete"),
            Poll::Ready(Some(Err(_))) => self.finish("upstream_error"),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.exchange.is_some() {
            let outcome = if self.inner.is_end_stream() {
                "complete"
            } else {
                "cancelled"
            };
            self.finish(outcome);
        }
    }
}

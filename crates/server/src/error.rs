//! Where a [`GatewayError`] becomes a response: status and JSON body from its kind alone.
//!
//! One exception: on the unified endpoint, input the translators refuse is answered in the
//! client's own API shape (OpenAI's or Anthropic's error body), as its SDK expects.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::HeaderValue;
use switchyard_core::{ErrorKind, GatewayError};

/// A gateway error on its way to the client; optionally with `Retry-After` seconds.
#[derive(Debug)]
pub struct ApiError {
    pub error: GatewayError,
    pub retry_after: Option<u64>,
    /// A body in the client's API shape, sent instead of the gateway's, with its status.
    pub shaped: Option<(http::StatusCode, Bytes)>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            error: GatewayError::new(kind, message),
            retry_after: None,
            shaped: None,
        }
    }

    /// An error answered in the client's API shape.
    pub fn shaped(
        kind: ErrorKind,
        message: impl Into<String>,
        status: http::StatusCode,
        body: Bytes,
    ) -> Self {
        Self {
            shaped: Some((status, body)),
            ..Self::new(kind, message)
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        // A storage outage passes: the client may try again in a second.
        let retry_after = (error.kind == ErrorKind::StorageUnavailable).then_some(1);
        Self {
            error,
            retry_after,
            shaped: None,
        }
    }
}

impl ApiError {
    /// The response and a copy of its body (for the log).
    pub fn into_response_and_body(self) -> (Response, Bytes) {
        let (status, body) = match self.shaped {
            Some(shaped) => shaped,
            None => (
                self.error.kind.status(),
                Bytes::from(serde_json::to_vec(&self.error.body()).unwrap_or_default()),
            ),
        };
        let mut resp = Response::new(axum::body::Body::from(body.clone()));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
            // The OpenAI and Anthropic SDKs wait out a Retry-After under a minute, but retry a
            // longer one at once with their own short backoff (refused again): told not to.
            if secs >= SDK_LONGEST_WAIT_SECS {
                resp.headers_mut().insert(
                    http::HeaderName::from_static("x-should-retry"),
                    HeaderValue::from_static("false"),
                );
            }
        }
        if self.error.kind == ErrorKind::MethodNotAllowed {
            resp.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        }
        (resp, body)
    }
}

/// The longest `Retry-After` the official SDKs wait out before retrying.
const SDK_LONGEST_WAIT_SECS: u64 = 60;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_and_body().0
    }
}

/// The gateway's answer when its own storage failed while serving a request: 503 when the
/// database cannot be reached or answer in time (it passes), 500 otherwise. `what` says what
/// was being read, for the log line.
pub fn storage_failed(what: &str, e: &switchyard_store::StoreError) -> GatewayError {
    tracing::error!(error = %e, "{what} failed");
    if e.is_unavailable() {
        GatewayError::new(
            ErrorKind::StorageUnavailable,
            "the gateway's storage is unavailable",
        )
    } else {
        GatewayError::new(ErrorKind::Internal, "the gateway's storage failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::StoreError;

    #[test]
    fn storage_that_cannot_answer_is_503_and_a_storage_failure_500() {
        for e in [
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::Database(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))),
        ] {
            let g = storage_failed("test", &e);
            assert_eq!(g.kind, ErrorKind::StorageUnavailable);
            assert_eq!(g.kind.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        }
        let g = storage_failed("test", &StoreError::Corrupt("bad row".into()));
        assert_eq!(g.kind.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}

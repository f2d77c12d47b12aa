//! The gateway's own errors: what went wrong, whose fault it was, and whether a retry may help.
//!
//! The kind alone decides the HTTP status, the numeric code of the JSON error body and the
//! metric label; the message is for people and is never matched on.

use http::StatusCode;
use std::fmt;

/// What went wrong. Each kind has one status and one code (SPEC 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed input: ids, path, headers, JSON. 400 / 2000.
    BadRequest,
    /// Body larger than the configured cap. 413 / 2000.
    PayloadTooLarge,
    /// The gateway does not exist and auto-creation is off. 400 / 2001.
    GatewayNotFound,
    /// The gateway's rate limit is exhausted. 429 / 2003.
    RateLimited,
    /// The upstream could not be reached or failed. 502 / 2005.
    UpstreamUnavailable,
    /// The upstream sent no response headers in time. 504 / 2005.
    UpstreamTimeout,
    /// The upstream answered, but not in HTTP the gateway can read (malformed, or more than
    /// 100 header lines). 502 / 2005; not retried, since the provider had the request.
    UpstreamMalformed,
    /// Unknown provider slug or compat prefix. 400 / 2008.
    UnknownProvider,
    /// `cf-aig-authorization` missing or wrong. 401 / 2009.
    Unauthenticated,
    /// Stored-key alias not found. 400 / 2040.
    UnknownKeyAlias,
    /// A route that does not exist. 404 / 2000.
    NotFound,
    /// A route that exists for other methods (`/compat`, the universal endpoint take POST).
    /// 405 / 2000, with `Allow: POST`.
    MethodNotAllowed,
    /// The client stopped sending its request body for too long. 408 / 2000.
    ClientTimeout,
    /// A request framed in a way the gateway does not take (a transfer coding other than
    /// chunked). 501 / 2000.
    NotImplemented,
    /// The gateway's own storage (its database) cannot answer: a passing condition, worth
    /// retrying later. 503 / 2000.
    StorageUnavailable,
    /// A bug or a failed dependency of the gateway itself. 500 / 2000.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest
            | ErrorKind::GatewayNotFound
            | ErrorKind::UnknownProvider
            | ErrorKind::UnknownKeyAlias => StatusCode::BAD_REQUEST,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::UpstreamUnavailable | ErrorKind::UpstreamMalformed => {
                StatusCode::BAD_GATEWAY
            }
            ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The numeric code of SPEC 2.6.
    pub fn code(self) -> u32 {
        match self {
            ErrorKind::BadRequest
            | ErrorKind::PayloadTooLarge
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::ClientTimeout
            | ErrorKind::NotImplemented
            | ErrorKind::StorageUnavailable
            | ErrorKind::Internal => 2000,
            ErrorKind::GatewayNotFound => 2001,
            ErrorKind::RateLimited => 2003,
            ErrorKind::UpstreamUnavailable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamMalformed => 2005,
            ErrorKind::UnknownProvider => 2008,
            ErrorKind::Unauthenticated => 2009,
            ErrorKind::UnknownKeyAlias => 2040,
        }
    }

    /// Whose fault it was.
    pub fn origin(self) -> Origin {
        match self {
            ErrorKind::UpstreamUnavailable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamMalformed => Origin::Upstream,
            ErrorKind::Internal | ErrorKind::StorageUnavailable => Origin::Internal,
            _ => Origin::Client,
        }
    }

    /// Whether trying again (or the next fallback step) may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::UpstreamUnavailable | ErrorKind::UpstreamTimeout
        )
    }

    /// A stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::GatewayNotFound => "gateway_not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::UpstreamUnavailable => "upstream_unavailable",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::UpstreamMalformed => "upstream_malformed",
            ErrorKind::UnknownProvider => "unknown_provider",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::UnknownKeyAlias => "unknown_key_alias",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::ClientTimeout => "client_timeout",
            ErrorKind::NotImplemented => "not_implemented",
            ErrorKind::StorageUnavailable => "storage_unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Who caused an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    Upstream,
    Internal,
}

/// An error the gateway answers itself, with a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub message: String,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// The JSON body of SPEC 2.6.
    pub fn body(&self) -> serde_json::Value {
        let code = self.kind.code();
        serde_json::json!({
            "success": false,
            "result": [],
            "messages": [],
            "error": [{"code": code, "message": self.message}],
            "name": "AiGatewayError",
            "httpCode": self.kind.status().as_u16(),
            "internalCode": code,
        })
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.label(),
            self.kind.code(),
            self.message
        )
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let e = GatewayError::new(ErrorKind::UnknownProvider, "unknown provider 'nope'");
        let b = e.body();
        assert_eq!(b["success"], false);
        assert_eq!(b["error"][0]["code"], 2008);
        assert_eq!(b["error"][0]["message"], "unknown provider 'nope'");
        assert_eq!(b["name"], "AiGatewayError");
        assert_eq!(b["httpCode"], 400);
        assert_eq!(b["internalCode"], 2008);
        assert_eq!(b["result"], serde_json::json!([]));
    }

    #[test]
    fn statuses_and_codes_follow_the_spec_table() {
        use ErrorKind::*;
        let table = [
            (GatewayNotFound, 400, 2001),
            (RateLimited, 429, 2003),
            (UpstreamUnavailable, 502, 2005),
            (UpstreamTimeout, 504, 2005),
            (UnknownProvider, 400, 2008),
            (Unauthenticated, 401, 2009),
            (UnknownKeyAlias, 400, 2040),
            (BadRequest, 400, 2000),
            (PayloadTooLarge, 413, 2000),
        ];
        for (kind, status, code) in table {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
            assert_eq!(kind.code(), code, "{kind:?}");
        }
    }
}

//! Header names the gateway reads or writes, defined once.
//!
//! All names are lowercase, as `http::HeaderName` stores them.

use http::HeaderName;

/// Every header starting with this prefix is the gateway's own and is never forwarded.
pub const CF_AIG_PREFIX: &str = "cf-aig-";

pub const AUTHORIZATION: HeaderName = HeaderName::from_static("cf-aig-authorization");
pub const CACHE_TTL: HeaderName = HeaderName::from_static("cf-aig-cache-ttl");
pub const SKIP_CACHE: HeaderName = HeaderName::from_static("cf-aig-skip-cache");
pub const CACHE_KEY: HeaderName = HeaderName::from_static("cf-aig-cache-key");
pub const METADATA: HeaderName = HeaderName::from_static("cf-aig-metadata");
pub const COLLECT_LOG: HeaderName = HeaderName::from_static("cf-aig-collect-log");
pub const COLLECT_LOG_PAYLOAD: HeaderName = HeaderName::from_static("cf-aig-collect-log-payload");
pub const CUSTOM_COST: HeaderName = HeaderName::from_static("cf-aig-custom-cost");
pub const REQUEST_TIMEOUT: HeaderName = HeaderName::from_static("cf-aig-request-timeout");
pub const MAX_ATTEMPTS: HeaderName = HeaderName::from_static("cf-aig-max-attempts");
pub const RETRY_DELAY: HeaderName = HeaderName::from_static("cf-aig-retry-delay");
pub const BACKOFF: HeaderName = HeaderName::from_static("cf-aig-backoff");
pub const EVENT_ID: HeaderName = HeaderName::from_static("cf-aig-event-id");
pub const BYOK_ALIAS: HeaderName = HeaderName::from_static("cf-aig-byok-alias");
/// Legacy name of [`CACHE_TTL`].
pub const LEGACY_CACHE_TTL: HeaderName = HeaderName::from_static("cf-cache-ttl");
/// Legacy name of [`SKIP_CACHE`].
pub const LEGACY_SKIP_CACHE: HeaderName = HeaderName::from_static("cf-skip-cache");

pub const LOG_ID: HeaderName = HeaderName::from_static("cf-aig-log-id");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("cf-aig-request-id");
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cf-aig-cache-status");
pub const STEP: HeaderName = HeaderName::from_static("cf-aig-step");

/// Whether `name` is one of the gateway's own headers (never forwarded upstream).
pub fn is_gateway_header(name: &str) -> bool {
    name.len() >= CF_AIG_PREFIX.len()
        && name.as_bytes()[..CF_AIG_PREFIX.len()].eq_ignore_ascii_case(CF_AIG_PREFIX.as_bytes())
        || name.eq_ignore_ascii_case(LEGACY_CACHE_TTL.as_str())
        || name.eq_ignore_ascii_case(LEGACY_SKIP_CACHE.as_str())
}

/// The token of a `Bearer` credential (`Authorization`-style value); the scheme word is
/// matched in any case (RFC 9110 11.1), and the token has surrounding whitespace removed.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bearer_tokens_in_any_case() {
        for v in ["Bearer t1", "bearer t1", "BEARER t1", "  Bearer   t1 "] {
            assert_eq!(super::bearer_token(v), Some("t1"), "{v}");
        }
        for v in ["Basic dTpw", "Bearer", "t1", "Bearert1"] {
            assert_eq!(super::bearer_token(v), None, "{v}");
        }
    }

    use super::*;

    #[test]
    fn recognises_gateway_headers_in_any_case() {
        assert!(is_gateway_header("cf-aig-cache-ttl"));
        assert!(is_gateway_header("CF-AIG-Authorization"));
        assert!(is_gateway_header("cf-skip-cache"));
        assert!(!is_gateway_header("cf-ray"));
        assert!(!is_gateway_header("authorization"));
        assert!(!is_gateway_header("cf-aig"));
    }
}

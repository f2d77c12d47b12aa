//! One log record per proxied request (SPEC section 3), as the pipeline builds it and the
//! store keeps it.

use crate::ids::{AccountId, GatewayId};
use bytes::Bytes;
use serde::Serialize;

/// How the request reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestType {
    /// `/v1/{a}/{g}/{provider}/...`
    Provider,
    /// `/v1/{a}/{g}/compat/...`
    Compat,
    /// `/v1/{a}/{g}` with fallback steps.
    Universal,
}

impl RequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Provider => "provider",
            RequestType::Compat => "compat",
            RequestType::Universal => "universal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "provider" => Some(RequestType::Provider),
            "compat" => Some(RequestType::Compat),
            "universal" => Some(RequestType::Universal),
            _ => None,
        }
    }
}

/// Everything stored about one request. Field names match the control plane's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    /// Lowercase UUIDv7; also `cf-aig-log-id`.
    pub id: String,
    #[serde(skip)]
    pub account_id: AccountId,
    #[serde(skip)]
    pub gateway_id: GatewayId,
    /// RFC 3339 UTC with microseconds; the time the request arrived.
    pub created_at: String,
    /// Provider slug (the real provider, also for `/compat`).
    pub provider: String,
    /// Model as the provider's answer names it, else as requested.
    pub model: Option<String>,
    /// The provider path called (upstream path and query are not logged: keys may ride there).
    pub path: String,
    pub request_type: RequestType,
    /// Status the client got.
    pub status_code: u16,
    pub success: bool,
    pub cached: bool,
    /// Milliseconds from arrival to the end of the response body.
    pub duration: u64,
    /// Milliseconds from arrival to the first response body byte.
    pub ttft: Option<u64>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    pub cached_tokens_in: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// USD.
    pub cost: f64,
    pub custom_cost: bool,
    /// Flat JSON object (at most 5 entries), as the client sent in `cf-aig-metadata`.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub event_id: Option<String>,
    /// -1, 1 or none.
    pub feedback: Option<i8>,
    pub score: Option<f64>,
    /// Universal endpoint step, 0-based.
    pub step: Option<u32>,
    pub request_content_type: Option<String>,
    pub response_content_type: Option<String>,
    pub request_size: u64,
    pub response_size: u64,
    pub user_agent: Option<String>,
    /// The client went away before the response ended.
    pub cancelled: bool,
    /// Request headers as a JSON object of name → value, credentials redacted.
    #[serde(skip)]
    pub request_headers: Option<String>,
    /// Response headers as a JSON object of name → value.
    #[serde(skip)]
    pub response_headers: Option<String>,
    /// Stored request body (capped), unless payload collection is off.
    #[serde(skip)]
    pub request_body: Option<Bytes>,
    /// Stored response body as received (capped), unless payload collection is off.
    #[serde(skip)]
    pub response_body: Option<Bytes>,
}

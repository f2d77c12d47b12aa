//! Switchyard's shared vocabulary, used by every other crate.
//!
//! - [`clock`]: timestamps as stored and served.
//! - [`ids`]: validated identifiers (account, gateway, provider slug).
//! - [`headers`]: every `cf-aig-*` header name, defined once.
//! - [`error`]: the gateway's own error kinds and how each maps to a status and code.
//! - [`gateway`]: per-gateway settings as stored and served by the control plane.
//! - [`secret`]: a wrapper that keeps credentials out of logs.
//! - [`usage`]: token usage normalised across providers.
//! - [`price`]: the price table (embedded `data/prices.toml`, overridable from the config).
//! - [`cost`]: what a request cost: custom header, provider's bill, or the price table.
//! - [`log`]: the log record of one request.
//!
//! Nothing here knows about HTTP servers or databases.

pub mod clock;
pub mod cost;
pub mod error;
pub mod gateway;
pub mod headers;
pub mod ids;
pub mod log;
pub mod price;
pub mod secret;
pub mod usage;

pub use error::{ErrorKind, GatewayError, Origin};
pub use gateway::{Backoff, GatewaySettings, LogStrategy, RateLimitTechnique};
pub use ids::{AccountId, GatewayId, IdError};
pub use log::{LogRecord, RequestType};
pub use secret::Secret;
pub use usage::Usage;

//! Per-gateway settings: the fields of SPEC section 3 with their defaults.

use crate::ids::{AccountId, GatewayId};
use serde::{Deserialize, Serialize};

/// Fixed or sliding window rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitTechnique {
    #[default]
    Fixed,
    Sliding,
}

/// What happens when a gateway's log reaches `log_management` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogStrategy {
    #[default]
    StopInserting,
    DeleteOldest,
}

/// Pacing between retry attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    #[default]
    Constant,
    Linear,
    Exponential,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:path => $s:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($variant),)* _ => None }
            }
        }
    };
}

str_enum!(RateLimitTechnique { RateLimitTechnique::Fixed => "fixed", RateLimitTechnique::Sliding => "sliding" });
str_enum!(LogStrategy { LogStrategy::StopInserting => "STOP_INSERTING", LogStrategy::DeleteOldest => "DELETE_OLDEST" });
str_enum!(Backoff { Backoff::Constant => "constant", Backoff::Linear => "linear", Backoff::Exponential => "exponential" });

/// One gateway's settings. Timestamps are RFC 3339 strings in UTC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewaySettings {
    #[serde(skip)]
    pub account_id: AccountId,
    pub id: GatewayId,
    /// Seconds; 0 = caching off.
    pub cache_ttl: u64,
    pub cache_invalidate_on_update: bool,
    pub collect_logs: bool,
    /// Seconds.
    pub rate_limiting_interval: u64,
    /// Requests per interval; 0 = off.
    pub rate_limiting_limit: u64,
    pub rate_limiting_technique: RateLimitTechnique,
    pub authentication: bool,
    /// Maximum stored rows; `None` = unbounded.
    pub log_management: Option<u64>,
    pub log_management_strategy: LogStrategy,
    pub retry_max_attempts: u32,
    /// Milliseconds.
    pub retry_delay: u64,
    pub retry_backoff: Backoff,
    pub created_at: String,
    pub modified_at: String,
}

impl GatewaySettings {
    /// A new gateway with the default settings.
    pub fn new(account_id: AccountId, id: GatewayId, now: String) -> Self {
        Self {
            account_id,
            id,
            cache_ttl: 0,
            cache_invalidate_on_update: false,
            collect_logs: true,
            rate_limiting_interval: 60,
            rate_limiting_limit: 0,
            rate_limiting_technique: RateLimitTechnique::Fixed,
            authentication: false,
            log_management: None,
            log_management_strategy: LogStrategy::StopInserting,
            retry_max_attempts: 1,
            retry_delay: 0,
            retry_backoff: Backoff::Constant,
            created_at: now.clone(),
            modified_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_wire_names() {
        for t in [RateLimitTechnique::Fixed, RateLimitTechnique::Sliding] {
            assert_eq!(RateLimitTechnique::parse(t.as_str()), Some(t));
        }
        assert_eq!(
            LogStrategy::parse("DELETE_OLDEST"),
            Some(LogStrategy::DeleteOldest)
        );
        assert_eq!(Backoff::parse("exponential"), Some(Backoff::Exponential));
        assert_eq!(Backoff::parse("EXPONENTIAL"), None);
    }
}

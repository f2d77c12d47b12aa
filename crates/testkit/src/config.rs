//! Start-up settings of a fake provider.

use std::net::{Ipv4Addr, SocketAddr};

/// How a [`FakeProvider`](crate::FakeProvider) is started.
///
/// Build it with struct update syntax:
/// `FakeConfig { require_auth: false, ..FakeConfig::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Address to bind; port 0 picks a free one. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Reject provider requests that carry neither `Authorization: Bearer …`
    /// nor `x-api-key` (the `/__fake/*` endpoints never need auth).
    /// Default `true`.
    pub require_auth: bool,
    /// Keep a copy of every request (headers and body). With `false` only the
    /// hit counters move, so memory stays flat under load. Default `true`.
    pub record: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            require_auth: true,
            record: true,
        }
    }
}

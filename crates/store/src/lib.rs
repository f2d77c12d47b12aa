//! Storage: narrow traits and their backends.
//!
//! - [`GatewayStore`]: gateway settings (create on first use, read, replace, list, delete).
//! - [`logs`]: the request log: [`LogSink`] (batched writes with per-gateway caps) and
//!   [`LogQuery`] (list, get, patch, delete, analytics), with the query types the control plane
//!   parses from its query string ([`params`]).
//! - [`keys`]: stored provider keys ([`KeyStore`]).
//! - [`tokens`]: gateway authentication tokens, kept as SHA-256 hashes ([`TokenStore`]).
//! - [`cache`] and [`ratelimit`]: the response cache and gateway rate-limit counters, in
//!   memory or in Redis ([`kv`]), shared by replicas when Redis is configured.
//! - [`sqlite`]: the embedded default backend (one file, WAL), migrations applied at open.
//! - [`postgres`]: the scale-out backend (a pool shared by any number of replicas).
//!
//! Both backends share the SQL they can (`sql` builds the WHERE and ORDER BY of log
//! queries) and the analytics rollup (`rollup`); each owns its schema in
//! `migrations/{sqlite,postgres}`.
//!
//! [`open`] picks the backend from the `database` URL and returns one [`Store`] handle that
//! implements every trait. Nothing here knows about HTTP.

#[cfg(test)]
mod bench;
pub mod cache;
pub mod custom_providers;
mod gateways;
pub mod keys;
pub mod kv;
mod log_query;
pub mod logs;
pub mod params;
mod plan;
pub mod postgres;
pub mod ratelimit;
mod rollup;
mod row;
mod sql;
pub mod sqlite;
pub mod tokens;

pub use custom_providers::{CustomProvider, CustomProviderStore};
pub use keys::{KeyStore, StoredKey};
pub use logs::{
    AnalyticsQuery, AnalyticsRow, Bucket, Condition, FilterKey, GroupBy, LogCap, LogDelete,
    LogFilter, LogListQuery, LogPage, LogPatch, LogQuery, LogSink, Op, OrderBy, PendingLog,
    WriteOutcome,
};
pub use params::QueryError;
pub use tokens::{StoredToken, TokenStore};

use async_trait::async_trait;
use std::sync::Arc;
use switchyard_core::{AccountId, GatewayId, GatewaySettings};

/// A storage failure. The message is for operators, except where a variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    /// A uniqueness rule refused the write (e.g. a provider key alias already taken). The
    /// message names what clashed and may be shown to the client.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A query built by the caller is not well formed (e.g. a filter value of the wrong type).
    /// Queries parsed by [`params`] never produce this.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The operating system gave no random bytes (for a new token).
    #[error("randomness unavailable: {0}")]
    Random(String),
}

/// Whether no stored row can have `key`: every id the gateway stores is its own, none with a
/// NUL character, and PostgreSQL refuses to compare text holding one. A lookup by such a key
/// finds nothing on either backend, without a query.
pub(crate) fn unmatchable(key: &str) -> bool {
    key.contains('\0')
}

impl StoreError {
    /// Whether the database refused the data itself (a value it cannot store, a constraint):
    /// writing the same rows again fails the same way, unlike a lost connection, a timeout or
    /// a busy lock, which pass.
    pub fn is_rejection(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        if !matches!(db.kind(), sqlx::error::ErrorKind::Other) {
            return true;
        }
        let code = db.code().unwrap_or_default();
        match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            // Classes 22 (data exception, e.g. a NUL character in text) and 23 (integrity).
            Some(_) => code.starts_with("22") || code.starts_with("23"),
            // SQLite: TOOBIG (18), CONSTRAINT (19), MISMATCH (20), extended codes included.
            None => code
                .parse::<i32>()
                .is_ok_and(|c| matches!(c & 0xff, 18..=20)),
        }
    }
}

impl StoreError {
    /// Whether the database could not be reached or answer in time (a lost or refused
    /// connection, a full pool, a closed pool): the store is unavailable, not wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // PostgreSQL going away or refusing connections for now: connection exceptions
            // (08), shutting down or starting up (57P01-57P03), too many connections (53300).
            StoreError::Database(sqlx::Error::Database(db)) => db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some_and(|pg| {
                    let code = pg.code();
                    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
                }),
            _ => false,
        }
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`] with `what`.
    pub(crate) fn from_insert(e: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
            _ => StoreError::Database(e),
        }
    }
}

/// Gateway settings, keyed by account and gateway id.
#[async_trait]
pub trait GatewayStore: Send + Sync + 'static {
    /// Whether the store answers a trivial query (a connection is made if need be).
    async fn ping(&self) -> Result<(), StoreError>;

    /// One gateway, if it exists.
    async fn get_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError>;

    /// Inserts `g` unless a gateway with its id exists; returns the stored one either way.
    async fn create_gateway_if_missing(
        &self,
        g: &GatewaySettings,
    ) -> Result<GatewaySettings, StoreError>;

    /// Inserts or replaces `g` (keeping the stored `created_at` when replacing).
    async fn put_gateway(&self, g: &GatewaySettings) -> Result<(), StoreError>;

    /// Replaces the stored gateway with `g` only if its `modified_at` is still `read_at`;
    /// whether it did (false: changed meanwhile, or gone).
    async fn replace_gateway_if(
        &self,
        g: &GatewaySettings,
        read_at: &str,
    ) -> Result<bool, StoreError>;

    /// Every gateway of an account, ordered by id.
    async fn list_gateways(&self, account: &AccountId) -> Result<Vec<GatewaySettings>, StoreError>;

    /// Every account that has or had a gateway (it outlives its last one), ordered by id.
    async fn list_accounts(&self) -> Result<Vec<AccountId>, StoreError>;

    /// Deletes one gateway and everything stored under it (provider keys, logs, analytics);
    /// returns it if it existed.
    async fn delete_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError>;
}

/// Every storage trait at once: what a backend implements and what the server holds.
pub trait Backend:
    GatewayStore + LogSink + LogQuery + KeyStore + TokenStore + CustomProviderStore
{
}

impl<T: GatewayStore + LogSink + LogQuery + KeyStore + TokenStore + CustomProviderStore> Backend
    for T
{
}

/// Everything the server needs from storage, behind one handle.
pub type Store = Arc<dyn Backend>;

/// Whether a `postgres://` URL is one the driver can use (host, port, options), without
/// connecting: the reason when it is not.
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    use std::str::FromStr;
    sqlx::postgres::PgConnectOptions::from_str(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Opens the backend a `database` URL names (`sqlite:...`, `postgres://...` or
/// `postgresql://...`) and applies its migrations. Safe to call from several processes at once
/// against one PostgreSQL database (migrations run under an advisory lock).
pub async fn open(url: &str) -> Result<Store, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

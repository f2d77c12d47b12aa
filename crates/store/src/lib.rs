//! Storage: narrow traits and their backends.
//!
//! - [`GatewayStore`]: gateway settings (create on first use, read, replace, list, delete).
//! - [`sqlite`]: the embedded default backend (one file, WAL), migrations applied at open.
//!
//! [`open`] picks the backend from the `database` URL. Nothing here knows about HTTP.

pub mod sqlite;

use async_trait::async_trait;
use std::sync::Arc;
use switchyard_core::{AccountId, GatewayId, GatewaySettings};

/// A storage failure. The message is for operators; callers only need to know it failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL '{0}': use sqlite://PATH")]
    UnsupportedUrl(String),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
}

/// Gateway settings, keyed by account and gateway id.
#[async_trait]
pub trait GatewayStore: Send + Sync + 'static {
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

    /// Every gateway of an account, ordered by id.
    async fn list_gateways(&self, account: &AccountId) -> Result<Vec<GatewaySettings>, StoreError>;

    /// Deletes one gateway; returns it if it existed.
    async fn delete_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError>;
}

/// Everything the server needs from storage, behind one handle.
pub type Store = Arc<dyn GatewayStore>;

/// Opens the backend a `database` URL names and applies its migrations.
pub async fn open(url: &str) -> Result<Store, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

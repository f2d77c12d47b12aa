//! Stored provider keys (`provider_configs`). The store keeps ciphertext only; encryption
//! happens before a key gets here.

use crate::StoreError;
use async_trait::async_trait;
use switchyard_core::{AccountId, GatewayId};

/// One stored provider key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Lowercase UUID.
    pub id: String,
    pub account_id: AccountId,
    pub gateway_id: GatewayId,
    pub provider_slug: String,
    pub alias: String,
    /// The encrypted secret (nonce and ciphertext, opaque to the store).
    pub secret_ciphertext: Vec<u8>,
    pub secret_preview: String,
    pub default_config: bool,
    pub created_at: String,
    pub modified_at: String,
}

/// What a [`StoreError::Conflict`] from [`KeyStore::create_key`] says.
pub(crate) fn conflict_message(key: &StoredKey) -> String {
    format!(
        "a key with alias '{}' for provider '{}' already exists on gateway '{}'",
        key.alias, key.provider_slug, key.gateway_id
    )
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Inserts a key; `StoreError::Conflict` if the (gateway, provider, alias) is taken.
    async fn create_key(&self, key: &StoredKey) -> Result<(), StoreError>;

    /// Every key of a gateway, oldest first.
    async fn list_keys(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
    ) -> Result<Vec<StoredKey>, StoreError>;

    /// The key for `provider` under `alias`.
    async fn find_key(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        provider: &str,
        alias: &str,
    ) -> Result<Option<StoredKey>, StoreError>;

    /// Deletes one key by id; returns it if it existed.
    async fn delete_key(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        id: &str,
    ) -> Result<Option<StoredKey>, StoreError>;
}

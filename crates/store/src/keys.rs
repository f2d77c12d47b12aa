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

    /// The key for `provider` when the request names no alias: the one with alias
    /// `default`, else the newest marked `default_config`.
    async fn find_default_key(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        provider: &str,
    ) -> Result<Option<StoredKey>, StoreError>;

    /// The most recently stored key of any gateway (to check at start that the secret key
    /// opens what is stored).
    async fn newest_key(&self) -> Result<Option<StoredKey>, StoreError>;

    /// Deletes one key by id; returns it if it existed.
    async fn delete_key(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        id: &str,
    ) -> Result<Option<StoredKey>, StoreError>;
}

/// `impl KeyStore for $store`, binding with `$bind`, reading from `self.$read` and writing
/// to `self.$write`; the statements come from [`crate::sql::key_sql`] in each dialect.
macro_rules! impl_key_store {
    ($store:ty, $d:expr, $bind:path, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::keys::KeyStore for $store {
            async fn create_key(
                &self,
                key: &$crate::keys::StoredKey,
            ) -> Result<(), $crate::StoreError> {
                let args = $crate::sql::key_args(key);
                $bind(sqlx::query(&$crate::sql::key_sql($d).insert), &args)
                    .execute(&self.$write)
                    .await
                    .map_err(|e| {
                        $crate::StoreError::from_insert(e, || $crate::keys::conflict_message(key))
                    })?;
                Ok(())
            }

            async fn list_keys(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
            ) -> Result<Vec<$crate::keys::StoredKey>, $crate::StoreError> {
                let args = $crate::sql::gateway_ids(account, gateway);
                let rows = $bind(sqlx::query(&$crate::sql::key_sql($d).list), &args)
                    .fetch_all(&self.$read)
                    .await?;
                rows.iter().map($crate::row::key_from_row).collect()
            }

            async fn find_key(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                provider: &str,
                alias: &str,
            ) -> Result<Option<$crate::keys::StoredKey>, $crate::StoreError> {
                if $crate::unmatchable(alias) {
                    return Ok(None);
                }
                let mut args = $crate::sql::gateway_ids(account, gateway);
                args.push($crate::sql::Arg::Text(provider.to_owned()));
                args.push($crate::sql::Arg::Text(alias.to_owned()));
                let row = $bind(sqlx::query(&$crate::sql::key_sql($d).find), &args)
                    .fetch_optional(&self.$read)
                    .await?;
                row.as_ref().map($crate::row::key_from_row).transpose()
            }

            async fn newest_key(
                &self,
            ) -> Result<Option<$crate::keys::StoredKey>, $crate::StoreError> {
                let row = sqlx::query(&$crate::sql::key_sql($d).newest)
                    .fetch_optional(&self.$read)
                    .await?;
                row.as_ref().map($crate::row::key_from_row).transpose()
            }

            async fn find_default_key(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                provider: &str,
            ) -> Result<Option<$crate::keys::StoredKey>, $crate::StoreError> {
                let mut args = $crate::sql::gateway_ids(account, gateway);
                args.push($crate::sql::Arg::Text(provider.to_owned()));
                let row = $bind(sqlx::query(&$crate::sql::key_sql($d).find_default), &args)
                    .fetch_optional(&self.$read)
                    .await?;
                row.as_ref().map($crate::row::key_from_row).transpose()
            }

            async fn delete_key(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                id: &str,
            ) -> Result<Option<$crate::keys::StoredKey>, $crate::StoreError> {
                if $crate::unmatchable(id) {
                    return Ok(None);
                }
                let mut args = $crate::sql::gateway_ids(account, gateway);
                args.push($crate::sql::Arg::Text(id.to_owned()));
                let row = $bind(sqlx::query(&$crate::sql::key_sql($d).delete), &args)
                    .fetch_optional(&self.$write)
                    .await?;
                row.as_ref().map($crate::row::key_from_row).transpose()
            }
        }
    };
}

pub(crate) use impl_key_store;

//! `KeyStore` on PostgreSQL.

use super::{bind_args, PgStore, D};
use crate::keys::{conflict_message, KeyStore, StoredKey};
use crate::row::key_from_row;
use crate::sql::{key_args, key_sql, Arg};
use crate::StoreError;
use async_trait::async_trait;
use switchyard_core::{AccountId, GatewayId};

fn scope(account: &AccountId, gateway: &GatewayId) -> Vec<Arg> {
    vec![
        Arg::Text(account.as_str().to_owned()),
        Arg::Text(gateway.as_str().to_owned()),
    ]
}

#[async_trait]
impl KeyStore for PgStore {
    async fn create_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let args = key_args(key);
        bind_args(sqlx::query(&key_sql(D).insert), &args)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_insert(e, || conflict_message(key)))?;
        Ok(())
    }

    async fn list_keys(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
    ) -> Result<Vec<StoredKey>, StoreError> {
        let args = scope(account, gateway);
        let rows = bind_args(sqlx::query(&key_sql(D).list), &args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn find_key(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        provider: &str,
        alias: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        let mut args = scope(account, gateway);
        args.push(Arg::Text(provider.to_owned()));
        args.push(Arg::Text(alias.to_owned()));
        let row = bind_args(sqlx::query(&key_sql(D).find), &args)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn delete_key(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        id: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        let mut args = scope(account, gateway);
        args.push(Arg::Text(id.to_owned()));
        let row = bind_args(sqlx::query(&key_sql(D).delete), &args)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }
}

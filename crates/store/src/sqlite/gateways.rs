//! `GatewayStore` on SQLite.

use super::{bind_args, SqliteStore, D};
use crate::row::gateway_from_row;
use crate::sql::{gateway_args, gateway_sql, Arg};
use crate::{GatewayStore, StoreError};
use async_trait::async_trait;
use switchyard_core::{AccountId, GatewayId, GatewaySettings};

fn ids(account: &AccountId, id: &GatewayId) -> Vec<Arg> {
    vec![
        Arg::Text(account.as_str().to_owned()),
        Arg::Text(id.as_str().to_owned()),
    ]
}

#[async_trait]
impl GatewayStore for SqliteStore {
    async fn get_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError> {
        let sql = gateway_sql(D);
        let args = ids(account, id);
        let row = bind_args(sqlx::query(&sql.get), &args)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(gateway_from_row).transpose()
    }

    async fn create_gateway_if_missing(
        &self,
        g: &GatewaySettings,
    ) -> Result<GatewaySettings, StoreError> {
        let sql = gateway_sql(D);
        let args = gateway_args(g);
        bind_args(sqlx::query(&sql.insert_if_missing), &args)
            .execute(&self.write)
            .await?;
        // Read back on the writer: a reader might not see the insert's snapshot yet.
        let args = ids(&g.account_id, &g.id);
        let row = bind_args(sqlx::query(&sql.get), &args)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref()
            .map(gateway_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("gateway vanished after insert".into()))
    }

    async fn put_gateway(&self, g: &GatewaySettings) -> Result<(), StoreError> {
        let sql = gateway_sql(D);
        let args = gateway_args(g);
        bind_args(sqlx::query(&sql.upsert), &args)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn list_gateways(&self, account: &AccountId) -> Result<Vec<GatewaySettings>, StoreError> {
        let sql = gateway_sql(D);
        let args = [Arg::Text(account.as_str().to_owned())];
        let rows = bind_args(sqlx::query(&sql.list), &args)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(gateway_from_row).collect()
    }

    async fn delete_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError> {
        let sql = gateway_sql(D);
        let args = ids(account, id);
        let row = bind_args(sqlx::query(&sql.delete), &args)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref().map(gateway_from_row).transpose()
    }
}

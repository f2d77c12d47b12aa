//! `GatewayStore` on PostgreSQL.

use super::{bind_args, PgStore, D};
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
impl GatewayStore for PgStore {
    async fn get_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError> {
        let sql = gateway_sql(D);
        let args = ids(account, id);
        let row = bind_args(sqlx::query(&sql.get), &args)
            .fetch_optional(&self.pool)
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
            .execute(&self.pool)
            .await?;
        let args = ids(&g.account_id, &g.id);
        let row = bind_args(sqlx::query(&sql.get), &args)
            .fetch_optional(&self.pool)
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
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_gateways(&self, account: &AccountId) -> Result<Vec<GatewaySettings>, StoreError> {
        let sql = gateway_sql(D);
        let args = [Arg::Text(account.as_str().to_owned())];
        let rows = bind_args(sqlx::query(&sql.list), &args)
            .fetch_all(&self.pool)
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
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(gateway_from_row).transpose()
    }
}

//! `GatewayStore` on both backends: the statements come from [`crate::sql::gateway_sql`] in
//! each dialect, so one body serves both. Deleting a gateway deletes, in the same transaction,
//! everything stored under it: keys, logs and analytics ([`purge_sql`]).

/// `impl GatewayStore for $store`, binding with `$bind`, reading from `self.$read` and
/// writing to `self.$write`.
macro_rules! impl_gateway_store {
    ($store:ty, $d:expr, $bind:path, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::GatewayStore for $store {
            async fn get_gateway(
                &self,
                account: &switchyard_core::AccountId,
                id: &switchyard_core::GatewayId,
            ) -> Result<Option<switchyard_core::GatewaySettings>, $crate::StoreError> {
                let args = $crate::gateways::ids(account, id);
                let row = $bind(sqlx::query(&$crate::sql::gateway_sql($d).get), &args)
                    .fetch_optional(&self.$read)
                    .await?;
                row.as_ref().map($crate::row::gateway_from_row).transpose()
            }

            async fn create_gateway_if_missing(
                &self,
                g: &switchyard_core::GatewaySettings,
            ) -> Result<switchyard_core::GatewaySettings, $crate::StoreError> {
                let sql = $crate::sql::gateway_sql($d);
                let args = $crate::sql::gateway_args(g);
                $bind(sqlx::query(&sql.insert_if_missing), &args)
                    .execute(&self.$write)
                    .await?;
                // Read back where it was written: a reader might not see the insert yet.
                let args = $crate::gateways::ids(&g.account_id, &g.id);
                let row = $bind(sqlx::query(&sql.get), &args)
                    .fetch_optional(&self.$write)
                    .await?;
                row.as_ref()
                    .map($crate::row::gateway_from_row)
                    .transpose()?
                    .ok_or_else(|| {
                        $crate::StoreError::Corrupt("gateway vanished after insert".into())
                    })
            }

            async fn put_gateway(
                &self,
                g: &switchyard_core::GatewaySettings,
            ) -> Result<(), $crate::StoreError> {
                let args = $crate::sql::gateway_args(g);
                $bind(sqlx::query(&$crate::sql::gateway_sql($d).upsert), &args)
                    .execute(&self.$write)
                    .await?;
                Ok(())
            }

            async fn list_gateways(
                &self,
                account: &switchyard_core::AccountId,
            ) -> Result<Vec<switchyard_core::GatewaySettings>, $crate::StoreError> {
                let args = [$crate::sql::Arg::Text(account.as_str().to_owned())];
                let rows = $bind(sqlx::query(&$crate::sql::gateway_sql($d).list), &args)
                    .fetch_all(&self.$read)
                    .await?;
                rows.iter().map($crate::row::gateway_from_row).collect()
            }

            async fn delete_gateway(
                &self,
                account: &switchyard_core::AccountId,
                id: &switchyard_core::GatewayId,
            ) -> Result<Option<switchyard_core::GatewaySettings>, $crate::StoreError> {
                let args = $crate::gateways::ids(account, id);
                let mut tx = self.begin_write().await?;
                let row = $bind(sqlx::query(&$crate::sql::gateway_sql($d).delete), &args)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                for statement in $crate::gateways::purge_sql($d) {
                    $bind(sqlx::query(statement), &args)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                $crate::row::gateway_from_row(&row).map(Some)
            }
        }
    };
}

pub(crate) use impl_gateway_store;

use crate::sql::{Arg, Dialect};
use std::sync::LazyLock;
use switchyard_core::{AccountId, GatewayId};

/// What goes with a deleted gateway (args: account, gateway): its stored keys, its log rows
/// (payloads follow by cascade) and its analytics; its log key stays, with a row count of 0,
/// so a gateway created again under the same id starts empty.
pub(crate) fn purge_sql(d: Dialect) -> &'static [String] {
    static BOTH: LazyLock<[Vec<String>; 2]> =
        LazyLock::new(|| [build(Dialect::Sqlite), build(Dialect::Postgres)]);
    fn build(d: Dialect) -> Vec<String> {
        let p = crate::sql::placeholders(d, 1, 2);
        let (a, g) = p.split_once(", ").unwrap_or_default();
        let gkey =
            format!("(SELECT gkey FROM log_gateways WHERE account_id = {a} AND gateway_id = {g})");
        let mut out = Vec::new();
        if d == Dialect::Postgres {
            // The log writer locks this row before touching rollups; so does the purge, so
            // the two queue instead of deadlocking. (SQLite's write lock is taken whole.)
            out.push(format!(
                "SELECT gkey FROM log_gateways WHERE account_id = {a} AND gateway_id = {g} FOR UPDATE"
            ));
        }
        out.push(format!(
            "DELETE FROM provider_keys WHERE account_id = {a} AND gateway_id = {g}"
        ));
        for table in [
            "logs",
            "log_rollup",
            "log_latency",
            "log_rollup_hourly",
            "log_latency_hourly",
        ] {
            out.push(format!("DELETE FROM {table} WHERE gkey = {gkey}"));
        }
        out.push(format!(
            "UPDATE log_gateways SET row_count = 0 WHERE account_id = {a} AND gateway_id = {g}"
        ));
        out
    }
    match d {
        Dialect::Sqlite => &BOTH[0],
        Dialect::Postgres => &BOTH[1],
    }
}

/// The arguments that name one gateway.
pub(crate) fn ids(account: &AccountId, id: &GatewayId) -> Vec<Arg> {
    vec![
        Arg::Text(account.as_str().to_owned()),
        Arg::Text(id.as_str().to_owned()),
    ]
}

//! `GatewayStore` on both backends: the statements come from [`crate::sql::gateway_sql`] in
//! each dialect, so one body serves both. Deleting a gateway deletes, in the same transaction,
//! everything stored under it: keys, logs and analytics (`GatewaySql::purge`).

/// `impl GatewayStore for $store`, binding with `$bind`, reading from `self.$read` and
/// writing to `self.$write`.
macro_rules! impl_gateway_store {
    ($store:ty, $d:expr, $bind:path, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::GatewayStore for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.$read).await?;
                Ok(())
            }

            async fn get_gateway(
                &self,
                account: &switchyard_core::AccountId,
                id: &switchyard_core::GatewayId,
            ) -> Result<Option<switchyard_core::GatewaySettings>, $crate::StoreError> {
                let args = $crate::sql::gateway_ids(account, id);
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
                let args = $crate::sql::gateway_ids(&g.account_id, &g.id);
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

            async fn replace_gateway_if(
                &self,
                g: &switchyard_core::GatewaySettings,
                read_at: &str,
            ) -> Result<bool, $crate::StoreError> {
                let mut args = $crate::sql::gateway_args(g);
                args.push($crate::sql::Arg::Text(read_at.to_owned()));
                let done = $bind(sqlx::query(&$crate::sql::gateway_sql($d).replace_if), &args)
                    .execute(&self.$write)
                    .await?;
                Ok(done.rows_affected() == 1)
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

            async fn list_accounts(
                &self,
            ) -> Result<Vec<switchyard_core::AccountId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(&$crate::sql::gateway_sql($d).accounts)
                    .fetch_all(&self.$read)
                    .await?;
                let mut ids = ids
                    .into_iter()
                    .map(|id| {
                        switchyard_core::AccountId::try_from(id)
                            .map_err(|e| $crate::StoreError::Corrupt(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Byte order on both backends (PostgreSQL's collation may differ).
                ids.sort();
                Ok(ids)
            }

            async fn delete_gateway(
                &self,
                account: &switchyard_core::AccountId,
                id: &switchyard_core::GatewayId,
            ) -> Result<Option<switchyard_core::GatewaySettings>, $crate::StoreError> {
                let sql = $crate::sql::gateway_sql($d);
                let args = $crate::sql::gateway_ids(account, id);
                let mut tx = self.begin_write().await?;
                let row = $bind(sqlx::query(&sql.delete), &args)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                for statement in &sql.purge {
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

//! The `LogQuery` implementation both backends share: list, get, patch, delete and analytics
//! are the same statements (built by [`crate::sql`]) run on each backend's pools, so they are
//! written once, as a macro over the backend's type, pools and bind function.
//!
//! The total of a list is computed as cheaply as the page allows: from the page itself when it
//! is the last one, from the gateway's row counter when nothing is filtered, else by COUNT(*).
//! With `meta_info`, one more aggregate query gives the ranges of the matching records.

/// `impl LogQuery for $store`, reading from `self.$read` and writing to `self.$write`, with
/// `$bind` binding [`crate::sql::Arg`]s, in dialect `$d`. The store needs a
/// `find_gkey(&self, &AccountId, &GatewayId) -> Result<Option<i64>, StoreError>` method and a
/// `begin_write(&self)` that opens a write transaction.
macro_rules! impl_log_query {
    ($store:ty, $d:expr, $bind:path, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::logs::LogQuery for $store {
            async fn list_logs(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                query: &$crate::logs::LogListQuery,
            ) -> Result<$crate::logs::LogPage, $crate::StoreError> {
                let Some(gkey) = self.find_gkey(account, gateway).await? else {
                    return Ok($crate::logs::LogPage {
                        records: Vec::new(),
                        total_count: 0,
                        meta: query.meta_info.then(Default::default),
                    });
                };
                let s = $crate::sql::list_sql($d, gkey, query)?;
                let rows = $bind(sqlx::query(&s.text), &s.args)
                    .fetch_all(&self.$read)
                    .await?;
                let records = rows
                    .iter()
                    .map(|r| $crate::row::log_from_row(r, account, gateway, false))
                    .collect::<Result<Vec<_>, $crate::StoreError>>()?;
                let offset = u64::from(query.page.max(1) - 1) * u64::from(query.per_page);
                let total_count = if (records.len() as u64) < u64::from(query.per_page)
                    && (query.page <= 1 || !records.is_empty())
                {
                    offset + records.len() as u64
                } else if $crate::sql::matches_all(&query.filter) {
                    let n: i64 = sqlx::query_scalar(&$crate::sql::row_count_sql($d))
                        .bind(gkey)
                        .fetch_one(&self.$read)
                        .await?;
                    n.max(0) as u64
                } else {
                    let c = $crate::sql::count_sql($d, gkey, &query.filter)?;
                    let row = $bind(sqlx::query(&c.text), &c.args)
                        .fetch_one(&self.$read)
                        .await?;
                    let n: i64 = sqlx::Row::try_get(&row, "n")?;
                    n.max(0) as u64
                };
                let meta = if query.meta_info {
                    let m = $crate::sql::meta_sql($d, gkey, &query.filter)?;
                    let row = $bind(sqlx::query(&m.text), &m.args)
                        .fetch_one(&self.$read)
                        .await?;
                    let int = |c: &str| -> Result<i64, $crate::StoreError> {
                        Ok(sqlx::Row::try_get::<Option<i64>, _>(&row, c)?.unwrap_or(0))
                    };
                    let real = |c: &str| -> Result<f64, $crate::StoreError> {
                        Ok(sqlx::Row::try_get::<Option<f64>, _>(&row, c)?.unwrap_or(0.0))
                    };
                    Some($crate::logs::LogMeta {
                        min_cost: real("min_cost")?,
                        max_cost: real("max_cost")?,
                        min_duration: int("min_duration")?,
                        max_duration: int("max_duration")?,
                        min_tokens_in: int("min_tokens_in")?,
                        max_tokens_in: int("max_tokens_in")?,
                        min_tokens_out: int("min_tokens_out")?,
                        max_tokens_out: int("max_tokens_out")?,
                        min_total_tokens: int("min_total_tokens")?,
                        max_total_tokens: int("max_total_tokens")?,
                    })
                } else {
                    None
                };
                Ok($crate::logs::LogPage {
                    records,
                    total_count,
                    meta,
                })
            }

            async fn get_log(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                id: &str,
            ) -> Result<Option<switchyard_core::LogRecord>, $crate::StoreError> {
                if $crate::unmatchable(id) {
                    return Ok(None);
                }
                let Some(gkey) = self.find_gkey(account, gateway).await? else {
                    return Ok(None);
                };
                let s = $crate::sql::get_sql($d, gkey, id);
                let row = $bind(sqlx::query(&s.text), &s.args)
                    .fetch_optional(&self.$read)
                    .await?;
                row.as_ref()
                    .map(|r| $crate::row::log_from_row(r, account, gateway, true))
                    .transpose()
            }

            async fn patch_log(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                id: &str,
                patch: &$crate::logs::LogPatch,
            ) -> Result<Option<switchyard_core::LogRecord>, $crate::StoreError> {
                if $crate::unmatchable(id) {
                    return Ok(None);
                }
                let Some(gkey) = self.find_gkey(account, gateway).await? else {
                    return Ok(None);
                };
                if let Some(s) = $crate::sql::patch_sql($d, gkey, id, patch) {
                    let n = $bind(sqlx::query(&s.text), &s.args)
                        .execute(&self.$write)
                        .await?
                        .rows_affected();
                    if n == 0 {
                        return Ok(None);
                    }
                }
                self.get_log(account, gateway, id).await
            }

            async fn delete_logs_limited(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                delete: &$crate::logs::LogDelete,
            ) -> Result<u64, $crate::StoreError> {
                let Some(gkey) = self.find_gkey(account, gateway).await? else {
                    return Ok(0);
                };
                let s = $crate::sql::delete_limited_sql($d, gkey, delete)?;
                let mut tx = self.begin_write().await?;
                if let Some(lock) = $crate::sql::lock_counter_sql($d) {
                    // The counter row first, as the log writer takes it: the two queue
                    // instead of deadlocking over rows it trims.
                    sqlx::query(lock).bind(gkey).execute(&mut *tx).await?;
                }
                let n = $bind(sqlx::query(&s.text), &s.args)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query(&$crate::sql::counter_sub_sql($d))
                    .bind(gkey)
                    .bind($crate::row::i(n))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn analytics(
                &self,
                account: &switchyard_core::AccountId,
                gateway: &switchyard_core::GatewayId,
                query: &$crate::logs::AnalyticsQuery,
            ) -> Result<Vec<$crate::logs::AnalyticsRow>, $crate::StoreError> {
                let Some(gkey) = self.find_gkey(account, gateway).await? else {
                    return Ok(Vec::new());
                };
                let mut counters = Vec::new();
                let mut latency = Vec::new();
                for (c, l) in $crate::sql::analytics_sql($d, gkey, query)? {
                    counters.extend(
                        $bind(sqlx::query(&c.text), &c.args)
                            .fetch_all(&self.$read)
                            .await?,
                    );
                    latency.extend(
                        $bind(sqlx::query(&l.text), &l.args)
                            .fetch_all(&self.$read)
                            .await?,
                    );
                }
                $crate::sql::analytics_fold(query, &counters, &latency)
            }
        }
    };
}

pub(crate) use impl_log_query;

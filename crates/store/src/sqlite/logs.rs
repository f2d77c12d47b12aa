//! `LogSink` and `LogQuery` on SQLite.
//!
//! A batch is one transaction on the single writer connection: multi-row INSERTs of up to
//! [`ROWS_PER_INSERT`] rows (RETURNING what was really inserted), payloads beside them, the
//! per-gateway counters, `DELETE_OLDEST` trims and the rollup upserts.

use super::{bind_args, SqliteStore, D};
use crate::logs::{LogSink, PendingLog, WriteOutcome};
use crate::plan::{self, GatewayKeys};
use crate::rollup::Rollup;
use crate::row::{i, Prepared, LOG_INSERT_COLUMNS, LOG_INSERT_COUNT};
use crate::sql;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite, SqliteConnection};
use std::collections::HashMap;
use switchyard_core::{AccountId, GatewayId, LogRecord};

/// Rows per multi-row INSERT (29 parameters each, well under SQLite's 32,766).
const ROWS_PER_INSERT: usize = 200;
/// Rows per rollup upsert (10 parameters each).
const ROLLUP_ROWS_PER_UPSERT: usize = 500;

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn values_rows(row_params: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; row_params].join(", "));
    vec![one; rows].join(", ")
}

fn bind_log<'q>(q: Query<'q>, gkey: i64, p: &'q Prepared<'q>) -> Query<'q> {
    let r = p.rec;
    q.bind(gkey)
        .bind(r.id.as_str())
        .bind(p.created_us)
        .bind(r.provider.as_str())
        .bind(r.model.as_deref())
        .bind(r.path.as_str())
        .bind(r.request_type.as_str())
        .bind(i64::from(r.status_code))
        .bind(r.success)
        .bind(r.cached)
        .bind(i(r.duration))
        .bind(r.ttft.map(i))
        .bind(r.tokens_in.map(i))
        .bind(r.tokens_out.map(i))
        .bind(r.cached_tokens_in.map(i))
        .bind(r.reasoning_tokens.map(i))
        .bind(r.cost)
        .bind(r.custom_cost)
        .bind(p.metadata.as_deref())
        .bind(r.event_id.as_deref())
        .bind(r.feedback.filter(|f| *f != 0).map(i64::from))
        .bind(r.score)
        .bind(r.step.map(i64::from))
        .bind(r.request_content_type.as_deref())
        .bind(r.response_content_type.as_deref())
        .bind(i(r.request_size))
        .bind(i(r.response_size))
        .bind(r.user_agent.as_deref())
        .bind(r.cancelled)
}

impl SqliteStore {
    /// The key of a gateway that has logs, if it has any.
    async fn find_gkey(&self, a: &AccountId, g: &GatewayId) -> Result<Option<i64>, StoreError> {
        find_gkey(&self.read, &self.gkeys, a, g).await
    }

    /// The key of a gateway, assigned if it has none (outside any batch transaction, so a
    /// rolled-back batch never leaves a cached key that does not exist).
    async fn ensure_gkey(&self, a: &AccountId, g: &GatewayId) -> Result<i64, StoreError> {
        if let Some(k) = self.gkeys.get(a, g) {
            return Ok(k);
        }
        sqlx::query(
            "INSERT INTO log_gateways (account_id, gateway_id) VALUES (?1, ?2) \
             ON CONFLICT (account_id, gateway_id) DO NOTHING",
        )
        .bind(a.as_str())
        .bind(g.as_str())
        .execute(&self.write)
        .await?;
        find_gkey(&self.write, &self.gkeys, a, g)
            .await?
            .ok_or_else(|| StoreError::Corrupt("log gateway key vanished after insert".into()))
    }
}

async fn find_gkey(
    pool: &sqlx::SqlitePool,
    cache: &GatewayKeys,
    a: &AccountId,
    g: &GatewayId,
) -> Result<Option<i64>, StoreError> {
    if let Some(k) = cache.get(a, g) {
        return Ok(Some(k));
    }
    let k: Option<i64> = sqlx::query_scalar(
        "SELECT gkey FROM log_gateways WHERE account_id = ?1 AND gateway_id = ?2",
    )
    .bind(a.as_str())
    .bind(g.as_str())
    .fetch_optional(pool)
    .await?;
    if let Some(k) = k {
        cache.put(a, g, k);
    }
    Ok(k)
}

async fn upsert_rollup(conn: &mut SqliteConnection, rollup: &Rollup) -> Result<(), StoreError> {
    for (level, (counter_table, latency_table)) in rollup.levels() {
        let counters: Vec<_> = level.counters.iter().collect();
        for chunk in counters.chunks(ROLLUP_ROWS_PER_UPSERT) {
            let sql = format!(
                "INSERT INTO {t} (gkey, minute, provider, model, requests, errors, cache_hits, \
                 tokens_in, tokens_out, cost) VALUES {} \
                 ON CONFLICT (gkey, minute, provider, model) DO UPDATE SET \
                 requests = {t}.requests + excluded.requests, \
                 errors = {t}.errors + excluded.errors, \
                 cache_hits = {t}.cache_hits + excluded.cache_hits, \
                 tokens_in = {t}.tokens_in + excluded.tokens_in, \
                 tokens_out = {t}.tokens_out + excluded.tokens_out, \
                 cost = {t}.cost + excluded.cost",
                values_rows(10, chunk.len()),
                t = counter_table,
            );
            let mut q = sqlx::query(&sql);
            for ((gkey, minute, provider, model), c) in chunk {
                q = q
                    .bind(*gkey)
                    .bind(*minute)
                    .bind(provider.as_str())
                    .bind(model.as_str())
                    .bind(c.requests)
                    .bind(c.errors)
                    .bind(c.cache_hits)
                    .bind(c.tokens_in)
                    .bind(c.tokens_out)
                    .bind(c.cost);
            }
            q.execute(&mut *conn).await?;
        }
        let latency: Vec<_> = level.latency.iter().collect();
        for chunk in latency.chunks(ROLLUP_ROWS_PER_UPSERT) {
            let sql = format!(
                "INSERT INTO {t} (gkey, minute, provider, model, bucket, n) VALUES {} \
                 ON CONFLICT (gkey, minute, provider, model, bucket) DO UPDATE SET \
                 n = {t}.n + excluded.n",
                values_rows(6, chunk.len()),
                t = latency_table,
            );
            let mut q = sqlx::query(&sql);
            for (((gkey, minute, provider, model), bucket), n) in chunk {
                q = q
                    .bind(*gkey)
                    .bind(*minute)
                    .bind(provider.as_str())
                    .bind(model.as_str())
                    .bind(*bucket)
                    .bind(**n);
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl LogSink for SqliteStore {
    async fn write_batch(&self, batch: &[PendingLog]) -> Result<WriteOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let mut keys = Vec::new();
        for (a, g) in plan::distinct_gateways(batch) {
            let k = self.ensure_gkey(&a, &g).await?;
            keys.push(((a, g), k));
        }
        let groups = plan::group(batch, &keys);
        let prepared = plan::prepare(batch);

        let mut tx = self.begin_write().await?;
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for gkey in groups.keys() {
            let n: i64 = sqlx::query_scalar("SELECT row_count FROM log_gateways WHERE gkey = ?1")
                .bind(*gkey)
                .fetch_one(&mut *tx)
                .await?;
            counts.insert(*gkey, n);
        }
        let decided = plan::plan(batch, &groups, &counts);
        let mut rollup = Rollup::default();
        for &(gkey, i) in &decided.skipped {
            rollup.add(gkey, prepared[i].created_us, &batch[i].record);
        }

        let mut inserted: HashMap<i64, i64> = HashMap::new();
        let mut with_payload: Vec<(i64, usize)> = Vec::new();
        for chunk in decided.insert.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO logs ({LOG_INSERT_COLUMNS}) VALUES {} \
                 ON CONFLICT (gkey, id) DO NOTHING RETURNING seq, gkey, id",
                values_rows(LOG_INSERT_COUNT, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for &(gkey, i) in chunk {
                q = bind_log(q, gkey, &prepared[i]);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let index: HashMap<(i64, &str), usize> = chunk
                .iter()
                .map(|&(g, i)| ((g, batch[i].record.id.as_str()), i))
                .collect();
            for r in rows {
                let seq: i64 = r.try_get("seq")?;
                let g: i64 = r.try_get("gkey")?;
                let id: String = r.try_get("id")?;
                let Some(&i) = index.get(&(g, id.as_str())) else {
                    continue;
                };
                *inserted.entry(g).or_default() += 1;
                rollup.add(g, prepared[i].created_us, &batch[i].record);
                if prepared[i].has_payload() {
                    with_payload.push((seq, i));
                }
            }
        }
        for chunk in with_payload.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO log_payloads (seq, request_headers, response_headers, request_body, \
                 response_body) VALUES {}",
                values_rows(5, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for &(seq, i) in chunk {
                let r: &LogRecord = &batch[i].record;
                q = q
                    .bind(seq)
                    .bind(r.request_headers.as_deref())
                    .bind(r.response_headers.as_deref())
                    .bind(r.request_body.as_deref())
                    .bind(r.response_body.as_deref());
            }
            q.execute(&mut *tx).await?;
        }

        for (gkey, idxs) in &groups {
            let mut rows = counts[gkey] + inserted.get(gkey).copied().unwrap_or(0);
            let excess = plan::trim(batch, idxs, rows);
            if excess > 0 {
                let t = sql::trim_sql(D, *gkey, excess);
                let deleted = bind_args(sqlx::query(&t.text), &t.args)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                rows -= i64::try_from(deleted).unwrap_or(0);
            }
            sqlx::query("UPDATE log_gateways SET row_count = ?2 WHERE gkey = ?1")
                .bind(*gkey)
                .bind(rows)
                .execute(&mut *tx)
                .await?;
        }
        if !rollup.is_empty() {
            upsert_rollup(&mut tx, &rollup).await?;
        }
        tx.commit().await?;
        self.after_batch().await?;
        Ok(WriteOutcome {
            written: inserted.values().sum::<i64>().max(0) as u64,
            skipped: decided.skipped.len() as u64,
        })
    }
}

crate::log_query::impl_log_query!(SqliteStore, D, bind_args, read: read, write: write);

//! `LogSink` and `LogQuery` on SQLite.
//!
//! A batch is one transaction on the single writer connection: multi-row INSERTs
//! (RETURNING what was really inserted), payloads beside them, the per-gateway counters,
//! `DELETE_OLDEST` trims and the rollup upserts (one row per key the batch touched, already
//! summed in memory by [`Rollup`]).
//!
//! Multi-row statements come in a few fixed sizes ([`CHUNK_SIZES`]): a batch is cut greedily
//! into chunks of those sizes, so every statement has one of a few texts, each prepared once
//! per connection and reused from sqlx's statement cache. (One statement per batch size would
//! be parsed and planned again for nearly every batch, and crowd the cache.)

use super::{bind_args, SqliteStore, D};
use crate::logs::{LogSink, PendingLog, WriteOutcome};
use crate::plan::{self, GatewayKeys};
use crate::rollup::{Rollup, HOUR_TABLES, MINUTE_TABLES};
use crate::row::{i, Prepared, LOG_INSERT_COLUMNS, LOG_INSERT_COUNT};
use crate::sql;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::sync::OnceLock;
use switchyard_core::{AccountId, GatewayId, LogRecord};

/// Rows per multi-row statement, largest first; the last must be 1. At 29 parameters a log
/// row, 128 rows stay far under SQLite's 32,766 parameters.
const CHUNK_SIZES: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// `items` cut into chunks whose sizes are all in [`CHUNK_SIZES`], largest first, each with
/// its shape (the index of its size in [`CHUNK_SIZES`]).
fn shaped_chunks<T>(mut items: &[T]) -> impl Iterator<Item = (Shape, &[T])> {
    std::iter::from_fn(move || {
        let k = CHUNK_SIZES.iter().position(|&s| s <= items.len())?;
        let (head, tail) = items.split_at(CHUNK_SIZES[k]);
        items = tail;
        Some((Shape(k), head))
    })
}

/// The index of a chunk's size in [`CHUNK_SIZES`].
#[derive(Debug, Clone, Copy)]
struct Shape(usize);

/// One multi-row statement in every size of [`CHUNK_SIZES`], its texts built on first use.
struct Shaped {
    texts: OnceLock<Vec<String>>,
    build: fn(usize) -> String,
}

impl Shaped {
    const fn new(build: fn(usize) -> String) -> Self {
        Self {
            texts: OnceLock::new(),
            build,
        }
    }

    /// The text for a chunk of this shape.
    fn text(&self, shape: Shape) -> &str {
        let texts = self
            .texts
            .get_or_init(|| CHUNK_SIZES.iter().map(|&n| (self.build)(n)).collect());
        &texts[shape.0]
    }
}

fn values_rows(row_params: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; row_params].join(", "));
    vec![one; rows].join(", ")
}

static LOG_INSERT: Shaped = Shaped::new(|n| {
    format!(
        "INSERT INTO logs ({LOG_INSERT_COLUMNS}) VALUES {} \
         ON CONFLICT (gkey, id) DO NOTHING RETURNING seq, gkey, id",
        values_rows(LOG_INSERT_COUNT, n)
    )
});

static PAYLOAD_INSERT: Shaped = Shaped::new(|n| {
    format!(
        "INSERT INTO log_payloads (seq, request_headers, response_headers, request_body, \
         response_body) VALUES {}",
        values_rows(5, n)
    )
});

fn counter_upsert(t: &str, n: usize) -> String {
    format!(
        "INSERT INTO {t} (gkey, minute, provider, model, requests, errors, cache_hits, \
         tokens_in, tokens_out, cost) VALUES {} \
         ON CONFLICT (gkey, minute, provider, model) DO UPDATE SET \
         requests = {t}.requests + excluded.requests, \
         errors = {t}.errors + excluded.errors, \
         cache_hits = {t}.cache_hits + excluded.cache_hits, \
         tokens_in = {t}.tokens_in + excluded.tokens_in, \
         tokens_out = {t}.tokens_out + excluded.tokens_out, \
         cost = {t}.cost + excluded.cost",
        values_rows(10, n)
    )
}

fn latency_upsert(t: &str, n: usize) -> String {
    format!(
        "INSERT INTO {t} (gkey, minute, provider, model, bucket, n) VALUES {} \
         ON CONFLICT (gkey, minute, provider, model, bucket) DO UPDATE SET \
         n = {t}.n + excluded.n",
        values_rows(6, n)
    )
}

/// Counter and latency upserts of the minute and hour tables, in [`Rollup::levels`] order.
static ROLLUP_UPSERTS: [(Shaped, Shaped); 2] = [
    (
        Shaped::new(|n| counter_upsert(MINUTE_TABLES.0, n)),
        Shaped::new(|n| latency_upsert(MINUTE_TABLES.1, n)),
    ),
    (
        Shaped::new(|n| counter_upsert(HOUR_TABLES.0, n)),
        Shaped::new(|n| latency_upsert(HOUR_TABLES.1, n)),
    ),
];

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
    for ((level, _), (counter_sql, latency_sql)) in rollup.levels().into_iter().zip(&ROLLUP_UPSERTS)
    {
        let counters: Vec<_> = level.counters.iter().collect();
        for (shape, chunk) in shaped_chunks(&counters) {
            let mut q = sqlx::query(counter_sql.text(shape));
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
        for (shape, chunk) in shaped_chunks(&latency) {
            let mut q = sqlx::query(latency_sql.text(shape));
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
        for (shape, chunk) in shaped_chunks(&decided.insert) {
            let mut q = sqlx::query(LOG_INSERT.text(shape));
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
        for (shape, chunk) in shaped_chunks(&with_payload) {
            let mut q = sqlx::query(PAYLOAD_INSERT.text(shape));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_in_the_listed_sizes_and_cover_everything() {
        for n in 0..600usize {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = shaped_chunks(&items)
                .map(|(shape, c)| {
                    assert_eq!(c.len(), CHUNK_SIZES[shape.0]);
                    c
                })
                .collect();
            assert_eq!(chunks.concat(), items, "{n}");
            // Greedy: at most one chunk of each size below the largest.
            let small = chunks.iter().filter(|c| c.len() < CHUNK_SIZES[0]).count();
            assert!(small < CHUNK_SIZES.len(), "{n}");
        }
    }

    #[test]
    fn every_shape_has_its_own_text() {
        for (k, n) in CHUNK_SIZES.into_iter().enumerate() {
            let text = LOG_INSERT.text(Shape(k));
            assert_eq!(text.matches('?').count(), n * LOG_INSERT_COUNT);
            assert!(std::ptr::eq(text, LOG_INSERT.text(Shape(k))), "built once");
        }
        let two = Shape(CHUNK_SIZES.len() - 2);
        assert_eq!(ROLLUP_UPSERTS[1].1.text(two).matches('?').count(), 12);
        assert!(ROLLUP_UPSERTS[1].0.text(two).contains("log_rollup_hourly"));
    }
}

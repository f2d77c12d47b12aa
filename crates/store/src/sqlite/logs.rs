//! `LogSink` and `LogQuery` on SQLite.
//!
//! A batch is one transaction on the single writer connection, in as few statements as it
//! can be, because each statement is a round trip to sqlx's SQLite worker thread (two thread
//! wake-ups, tens of microseconds on a busy machine: more than inserting a row costs):
//!
//! 1. `BEGIN IMMEDIATE`; the row counters of the batch's gateways (one SELECT);
//! 2. multi-row INSERTs of the records ([`CHUNK_SIZES`]), then of their payloads;
//! 3. `DELETE_OLDEST` trims, for gateways over their cap (rare);
//! 4. the rollup counters, one row per gateway × period × provider × model the batch touched
//!    (already summed in memory by [`Rollup`]; usually one statement per resolution);
//! 5. one command for the rest: the new row counters and the latency histograms, each fed all
//!    its rows as one JSON array (`json_each`), so the number of statements does not grow
//!    with the number of histogram buckets the batch touched (often more than its records);
//! 6. `COMMIT`.
//!
//! Multi-row INSERTs come in a few fixed sizes: a batch is cut greedily into chunks of those
//! sizes, so every statement has one of a few texts, each prepared once per connection and
//! reused from sqlx's statement cache. (One text per batch size would be parsed and planned
//! again for nearly every batch, and crowd the cache.)
//!
//! Which records a chunk really inserted (a retried batch repeats ids, which are skipped)
//! comes from the INSERT's row count and last rowid, not from RETURNING, which would stream
//! every row back through the worker's channel. SQLite gives a new row the largest rowid so far
//! plus one (<https://sqlite.org/autoinc.html>), inserting a VALUES list in order, and this
//! connection holds the write lock: so the rows a chunk inserted have the consecutive `seq`s
//! ending at the last rowid. When all rows went in, row `j` of `n` has `last - (n - 1 - j)`;
//! when some were duplicates, the new rows are read back by that `seq` range.

use super::{bind_args, SqliteStore, D};
use crate::logs::{LogSink, PendingLog, WriteOutcome};
use crate::plan::{self, GatewayKeys};
use crate::rollup::{Level, Rollup, HOUR_TABLES, MINUTE_TABLES};
use crate::row::{i, Prepared, LOG_INSERT_COLUMNS, LOG_INSERT_COUNT};
use crate::sql;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteArguments, SqliteQueryResult};
use sqlx::{Row, Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};
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
        "INSERT INTO logs ({LOG_INSERT_COLUMNS}) VALUES {} ON CONFLICT (gkey, id) DO NOTHING",
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

/// Counter upserts by minute and by hour, in [`Rollup::levels`] order. Costs are bound as
/// doubles, not sent as JSON: SQLite's text-to-double conversion is not always exact (the
/// bundled 3.46 reads `2.908373027654348e-184` one unit in the last place too high).
static COUNTER_UPSERTS: [Shaped; 2] = [
    Shaped::new(|n| counter_upsert(MINUTE_TABLES.0, n)),
    Shaped::new(|n| counter_upsert(HOUR_TABLES.0, n)),
];

/// The last command of a batch before COMMIT (step 5 of the module doc): ?1 the new row counters
/// (`[[gkey, rows], ...]`), ?2 and ?3 the latency histogram increments by minute and by hour
/// (`[[gkey, minute, provider, model, bucket, n], ...]`), all integers and text. (`WHERE
/// true` is how SQLite tells an upsert's ON CONFLICT from a join's ON.)
static FINISH_BATCH: LazyLock<String> = LazyLock::new(|| {
    let latency = |t: &str, p: &str| {
        format!(
            "INSERT INTO {t} (gkey, minute, provider, model, bucket, n) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
             value ->> 5 FROM json_each({p}) WHERE true \
             ON CONFLICT (gkey, minute, provider, model, bucket) DO UPDATE SET \
             n = {t}.n + excluded.n;"
        )
    };
    [
        "UPDATE log_gateways SET row_count = c.value ->> 1 FROM json_each(?1) AS c \
         WHERE log_gateways.gkey = c.value ->> 0;"
            .to_owned(),
        latency(MINUTE_TABLES.1, "?2"),
        latency(HOUR_TABLES.1, "?3"),
    ]
    .join(" ")
});

/// A level's latency increments as the JSON array [`FINISH_BATCH`] reads.
fn latency_json(level: &Level) -> Result<String, StoreError> {
    let rows: Vec<_> = level
        .latency
        .iter()
        .map(|(((gkey, minute, provider, model), bucket), n)| {
            (gkey, minute, provider, model, bucket, n)
        })
        .collect();
    to_json(&rows)
}

async fn upsert_counters(conn: &mut SqliteConnection, rollup: &Rollup) -> Result<(), StoreError> {
    for ((level, _), upsert) in rollup.levels().into_iter().zip(&COUNTER_UPSERTS) {
        let counters: Vec<_> = level.counters.iter().collect();
        for (shape, chunk) in shaped_chunks(&counters) {
            let mut q = sqlx::query(upsert.text(shape));
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
    }
    Ok(())
}

fn to_json(v: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("rollup as JSON: {e}")))
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

/// The rows one chunk's INSERT really added: (seq, gkey, batch index), in chunk order (see
/// the module doc for why the `seq`s are known).
async fn new_rows(
    conn: &mut SqliteConnection,
    batch: &[PendingLog],
    chunk: &[(i64, usize)],
    done: &SqliteQueryResult,
) -> Result<Vec<(i64, i64, usize)>, StoreError> {
    let k = usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
    let last = done.last_insert_rowid();
    if k == 0 {
        return Ok(Vec::new());
    }
    if k == chunk.len() {
        let first = last - (k as i64 - 1);
        return Ok(chunk
            .iter()
            .enumerate()
            .map(|(j, &(gkey, i))| (first + j as i64, gkey, i))
            .collect());
    }
    // Some ids were stored already: read back the k new rows. A repeated id inside the chunk
    // was inserted from its first occurrence.
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::with_capacity(chunk.len());
    for &(gkey, i) in chunk {
        first_of
            .entry((gkey, batch[i].record.id.as_str()))
            .or_insert(i);
    }
    let rows = sqlx::query("SELECT seq, gkey, id FROM logs WHERE seq > ?1 AND seq <= ?2")
        .bind(last - k as i64)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (seq, gkey, id): (i64, i64, String) =
            (r.try_get("seq")?, r.try_get("gkey")?, r.try_get("id")?);
        if let Some(&i) = first_of.get(&(gkey, id.as_str())) {
            out.push((seq, gkey, i));
        }
    }
    if out.len() != k {
        // Only if SQLite stopped numbering rows as documented: the rows are stored, but the
        // batch's counters and rollup miss (or over-count) the difference. Not worth failing
        // (and retrying forever) a batch for.
        tracing::warn!(
            expected = k,
            found = out.len(),
            "new log rows are not the rowids before the last one; counters may be off"
        );
    }
    out.sort_by_key(|&(seq, _, _)| seq);
    Ok(out)
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
        let gkeys: Vec<i64> = groups.keys().copied().collect();
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for r in sqlx::query(
            "SELECT gkey, row_count FROM log_gateways \
             WHERE gkey IN (SELECT value FROM json_each(?1))",
        )
        .bind(to_json(&gkeys)?)
        .fetch_all(&mut *tx)
        .await?
        {
            counts.insert(r.try_get("gkey")?, r.try_get("row_count")?);
        }
        let decided = plan::plan(batch, &groups, &counts);
        let mut rollup = Rollup::default();
        for &(gkey, i) in decided.rollup_only() {
            rollup.add(gkey, prepared[i].created_us, &batch[i].record);
        }

        let mut inserted: HashMap<i64, i64> = HashMap::new();
        let mut with_payload: Vec<(i64, usize)> = Vec::new();
        for (shape, chunk) in shaped_chunks(&decided.insert) {
            let mut q = sqlx::query(LOG_INSERT.text(shape));
            for &(gkey, i) in chunk {
                q = bind_log(q, gkey, &prepared[i]);
            }
            let done = q.execute(&mut *tx).await?;
            for (seq, gkey, i) in new_rows(&mut tx, batch, chunk, &done).await? {
                *inserted.entry(gkey).or_default() += 1;
                rollup.add(gkey, prepared[i].created_us, &batch[i].record);
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

        let mut rows_now: Vec<(i64, i64)> = Vec::with_capacity(groups.len());
        for (gkey, idxs) in &groups {
            let mut rows =
                counts.get(gkey).copied().unwrap_or(0) + inserted.get(gkey).copied().unwrap_or(0);
            let excess = plan::trim(batch, idxs, rows);
            if excess > 0 {
                let t = sql::trim_sql(D, *gkey, excess);
                let deleted = bind_args(sqlx::query(&t.text), &t.args)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                rows -= i64::try_from(deleted).unwrap_or(0);
            }
            rows_now.push((*gkey, rows));
        }
        upsert_counters(&mut tx, &rollup).await?;
        sqlx::query(&FINISH_BATCH)
            .bind(to_json(&rows_now)?)
            .bind(latency_json(&rollup.minute)?)
            .bind(latency_json(&rollup.hour)?)
            .execute(&mut *tx)
            .await?;
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
        assert_eq!(PAYLOAD_INSERT.text(Shape(1)).matches('?').count(), 64 * 5);
    }
}

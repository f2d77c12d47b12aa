//! `LogSink` and `LogQuery` on PostgreSQL.
//!
//! A batch is one transaction: the counter rows of its gateways locked `FOR UPDATE` (in key
//! order), one `INSERT ... SELECT FROM UNNEST(arrays)` per [`ROWS_PER_INSERT`] rows (one
//! prepared statement whatever the batch size; RETURNING what was really inserted), payloads
//! the same way, counters, `DELETE_OLDEST` trims, and the rollup upserted in key order.

use super::{bind_args, PgStore, D};
use crate::logs::{LogSink, PendingLog, WriteOutcome};
use crate::plan::{self, GatewayKeys};
use crate::rollup::Rollup;
use crate::row::{i, Prepared, LOG_INSERT_COLUMNS};
use crate::sql;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use switchyard_core::{AccountId, GatewayId};

/// Rows per INSERT statement.
const ROWS_PER_INSERT: usize = 2_000;

impl PgStore {
    /// The key of a gateway that has logs, if it has any.
    async fn find_gkey(&self, a: &AccountId, g: &GatewayId) -> Result<Option<i64>, StoreError> {
        find_gkey(&self.pool, &self.gkeys, a, g).await
    }

    /// The key of a gateway, assigned if it has none (in its own transaction, so a rolled-back
    /// batch never leaves a cached key that does not exist).
    async fn ensure_gkey(&self, a: &AccountId, g: &GatewayId) -> Result<i64, StoreError> {
        if let Some(k) = find_gkey(&self.pool, &self.gkeys, a, g).await? {
            return Ok(k);
        }
        sqlx::query(
            "INSERT INTO log_gateways (account_id, gateway_id) VALUES ($1, $2) \
             ON CONFLICT (account_id, gateway_id) DO NOTHING",
        )
        .bind(a.as_str())
        .bind(g.as_str())
        .execute(&self.pool)
        .await?;
        find_gkey(&self.pool, &self.gkeys, a, g)
            .await?
            .ok_or_else(|| StoreError::Corrupt("log gateway key vanished after insert".into()))
    }
}

async fn find_gkey(
    pool: &sqlx::PgPool,
    cache: &GatewayKeys,
    a: &AccountId,
    g: &GatewayId,
) -> Result<Option<i64>, StoreError> {
    if let Some(k) = cache.get(a, g) {
        return Ok(Some(k));
    }
    let k: Option<i64> = sqlx::query_scalar(
        "SELECT gkey FROM log_gateways WHERE account_id = $1 AND gateway_id = $2",
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

/// Column arrays of the rows to insert.
#[derive(Default)]
struct Columns<'a> {
    gkey: Vec<i64>,
    id: Vec<&'a str>,
    created_at: Vec<i64>,
    provider: Vec<&'a str>,
    model: Vec<Option<&'a str>>,
    path: Vec<&'a str>,
    request_type: Vec<&'a str>,
    status_code: Vec<i64>,
    success: Vec<bool>,
    cached: Vec<bool>,
    duration: Vec<i64>,
    ttft: Vec<Option<i64>>,
    tokens_in: Vec<Option<i64>>,
    tokens_out: Vec<Option<i64>>,
    cached_tokens_in: Vec<Option<i64>>,
    reasoning_tokens: Vec<Option<i64>>,
    cost: Vec<f64>,
    custom_cost: Vec<bool>,
    metadata: Vec<Option<&'a str>>,
    event_id: Vec<Option<&'a str>>,
    feedback: Vec<Option<i64>>,
    score: Vec<Option<f64>>,
    step: Vec<Option<i64>>,
    request_content_type: Vec<Option<&'a str>>,
    response_content_type: Vec<Option<&'a str>>,
    request_size: Vec<i64>,
    response_size: Vec<i64>,
    user_agent: Vec<Option<&'a str>>,
    cancelled: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, gkey: i64, p: &'a Prepared<'a>) {
        let r = p.rec;
        self.gkey.push(gkey);
        self.id.push(&r.id);
        self.created_at.push(p.created_us);
        self.provider.push(&r.provider);
        self.model.push(r.model.as_deref());
        self.path.push(&r.path);
        self.request_type.push(r.request_type.as_str());
        self.status_code.push(i64::from(r.status_code));
        self.success.push(r.success);
        self.cached.push(r.cached);
        self.duration.push(i(r.duration));
        self.ttft.push(r.ttft.map(i));
        self.tokens_in.push(r.tokens_in.map(i));
        self.tokens_out.push(r.tokens_out.map(i));
        self.cached_tokens_in.push(r.cached_tokens_in.map(i));
        self.reasoning_tokens.push(r.reasoning_tokens.map(i));
        self.cost.push(r.cost);
        self.custom_cost.push(r.custom_cost);
        self.metadata.push(p.metadata.as_deref());
        self.event_id.push(r.event_id.as_deref());
        self.feedback
            .push(r.feedback.filter(|f| *f != 0).map(i64::from));
        self.score.push(r.score);
        self.step.push(r.step.map(i64::from));
        self.request_content_type
            .push(r.request_content_type.as_deref());
        self.response_content_type
            .push(r.response_content_type.as_deref());
        self.request_size.push(i(r.request_size));
        self.response_size.push(i(r.response_size));
        self.user_agent.push(r.user_agent.as_deref());
        self.cancelled.push(r.cancelled);
    }
}

fn insert_sql() -> String {
    format!(
        "INSERT INTO logs ({LOG_INSERT_COLUMNS}) SELECT * FROM UNNEST(\
         $1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::bigint[], $9::boolean[], $10::boolean[], $11::bigint[], $12::bigint[], \
         $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::float8[], \
         $18::boolean[], $19::text[], $20::text[], $21::bigint[], $22::float8[], $23::bigint[], \
         $24::text[], $25::text[], $26::bigint[], $27::bigint[], $28::text[], $29::boolean[]) \
         ON CONFLICT (gkey, id) DO NOTHING RETURNING seq, gkey, id"
    )
}

/// Column arrays of rollup counter rows.
#[derive(Default)]
struct CounterColumns<'a> {
    gkey: Vec<i64>,
    minute: Vec<i64>,
    provider: Vec<&'a str>,
    model: Vec<&'a str>,
    requests: Vec<i64>,
    errors: Vec<i64>,
    cache_hits: Vec<i64>,
    tokens_in: Vec<i64>,
    tokens_out: Vec<i64>,
    cost: Vec<f64>,
}

/// Column arrays of latency histogram rows.
#[derive(Default)]
struct LatencyColumns<'a> {
    gkey: Vec<i64>,
    minute: Vec<i64>,
    provider: Vec<&'a str>,
    model: Vec<&'a str>,
    bucket: Vec<i64>,
    n: Vec<i64>,
}

async fn upsert_rollup(conn: &mut PgConnection, rollup: &Rollup) -> Result<(), StoreError> {
    for (level, (counter_table, latency_table)) in rollup.levels() {
        let mut c = CounterColumns::default();
        for ((gkey, minute, provider, model), v) in &level.counters {
            c.gkey.push(*gkey);
            c.minute.push(*minute);
            c.provider.push(provider);
            c.model.push(model);
            c.requests.push(v.requests);
            c.errors.push(v.errors);
            c.cache_hits.push(v.cache_hits);
            c.tokens_in.push(v.tokens_in);
            c.tokens_out.push(v.tokens_out);
            c.cost.push(v.cost);
        }
        sqlx::query(&format!(
            "INSERT INTO {t} (gkey, minute, provider, model, requests, errors, cache_hits, \
             tokens_in, tokens_out, cost) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], \
             $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], \
             $9::bigint[], $10::float8[]) \
             ON CONFLICT (gkey, minute, provider, model) DO UPDATE SET \
             requests = {t}.requests + EXCLUDED.requests, \
             errors = {t}.errors + EXCLUDED.errors, \
             cache_hits = {t}.cache_hits + EXCLUDED.cache_hits, \
             tokens_in = {t}.tokens_in + EXCLUDED.tokens_in, \
             tokens_out = {t}.tokens_out + EXCLUDED.tokens_out, \
             cost = {t}.cost + EXCLUDED.cost",
            t = counter_table
        ))
        .bind(&c.gkey)
        .bind(&c.minute)
        .bind(&c.provider)
        .bind(&c.model)
        .bind(&c.requests)
        .bind(&c.errors)
        .bind(&c.cache_hits)
        .bind(&c.tokens_in)
        .bind(&c.tokens_out)
        .bind(&c.cost)
        .execute(&mut *conn)
        .await?;

        let mut l = LatencyColumns::default();
        for (((gkey, minute, provider, model), bucket), n) in &level.latency {
            l.gkey.push(*gkey);
            l.minute.push(*minute);
            l.provider.push(provider);
            l.model.push(model);
            l.bucket.push(*bucket);
            l.n.push(*n);
        }
        sqlx::query(&format!(
            "INSERT INTO {t} (gkey, minute, provider, model, bucket, n) SELECT * FROM \
             UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], \
             $6::bigint[]) \
             ON CONFLICT (gkey, minute, provider, model, bucket) DO UPDATE SET \
             n = {t}.n + EXCLUDED.n",
            t = latency_table
        ))
        .bind(&l.gkey)
        .bind(&l.minute)
        .bind(&l.provider)
        .bind(&l.model)
        .bind(&l.bucket)
        .bind(&l.n)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl LogSink for PgStore {
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
        let rows = sqlx::query(
            "SELECT gkey, row_count FROM log_gateways WHERE gkey = ANY($1) ORDER BY gkey FOR UPDATE",
        )
        .bind(&gkeys)
        .fetch_all(&mut *tx)
        .await?;
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for r in rows {
            counts.insert(r.try_get("gkey")?, r.try_get("row_count")?);
        }
        let decided = plan::plan(batch, &groups, &counts);
        let mut rollup = Rollup::default();
        for &(gkey, i) in &decided.skipped {
            rollup.add(gkey, prepared[i].created_us, &batch[i].record);
        }

        let mut inserted: HashMap<i64, i64> = HashMap::new();
        let mut payload_seq: Vec<i64> = Vec::new();
        let mut payload_idx: Vec<usize> = Vec::new();
        let insert = insert_sql();
        for chunk in decided.insert.chunks(ROWS_PER_INSERT) {
            let mut c = Columns::default();
            for &(gkey, i) in chunk {
                c.push(gkey, &prepared[i]);
            }
            let rows = sqlx::query(&insert)
                .bind(&c.gkey)
                .bind(&c.id)
                .bind(&c.created_at)
                .bind(&c.provider)
                .bind(&c.model)
                .bind(&c.path)
                .bind(&c.request_type)
                .bind(&c.status_code)
                .bind(&c.success)
                .bind(&c.cached)
                .bind(&c.duration)
                .bind(&c.ttft)
                .bind(&c.tokens_in)
                .bind(&c.tokens_out)
                .bind(&c.cached_tokens_in)
                .bind(&c.reasoning_tokens)
                .bind(&c.cost)
                .bind(&c.custom_cost)
                .bind(&c.metadata)
                .bind(&c.event_id)
                .bind(&c.feedback)
                .bind(&c.score)
                .bind(&c.step)
                .bind(&c.request_content_type)
                .bind(&c.response_content_type)
                .bind(&c.request_size)
                .bind(&c.response_size)
                .bind(&c.user_agent)
                .bind(&c.cancelled)
                .fetch_all(&mut *tx)
                .await?;
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
                    payload_seq.push(seq);
                    payload_idx.push(i);
                }
            }
        }
        if !payload_seq.is_empty() {
            let recs: Vec<_> = payload_idx.iter().map(|&i| &batch[i].record).collect();
            let req_h: Vec<Option<&str>> =
                recs.iter().map(|r| r.request_headers.as_deref()).collect();
            let res_h: Vec<Option<&str>> =
                recs.iter().map(|r| r.response_headers.as_deref()).collect();
            let req_b: Vec<Option<&[u8]>> =
                recs.iter().map(|r| r.request_body.as_deref()).collect();
            let res_b: Vec<Option<&[u8]>> =
                recs.iter().map(|r| r.response_body.as_deref()).collect();
            sqlx::query(
                "INSERT INTO log_payloads (seq, request_headers, response_headers, request_body, \
                 response_body) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], \
                 $4::bytea[], $5::bytea[])",
            )
            .bind(&payload_seq)
            .bind(&req_h)
            .bind(&res_h)
            .bind(&req_b)
            .bind(&res_b)
            .execute(&mut *tx)
            .await?;
        }

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
            sqlx::query("UPDATE log_gateways SET row_count = $2 WHERE gkey = $1")
                .bind(*gkey)
                .bind(rows)
                .execute(&mut *tx)
                .await?;
        }
        if !rollup.is_empty() {
            upsert_rollup(&mut tx, &rollup).await?;
        }
        tx.commit().await?;
        Ok(WriteOutcome {
            written: inserted.values().sum::<i64>().max(0) as u64,
            skipped: decided.skipped.len() as u64,
        })
    }
}

crate::log_query::impl_log_query!(PgStore, D, bind_args, read: pool, write: pool);

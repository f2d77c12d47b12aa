//! `LogSink` and `LogQuery` on PostgreSQL.
//!
//! A batch is one transaction of a few round trips, each statement prepared once whatever
//! the batch size (arrays bound as parameters, rows made by `UNNEST`):
//!
//! 1. the counter rows of its gateways locked `FOR UPDATE` (in key order);
//! 2. per [`ROWS_PER_INSERT`] records, one statement that inserts them (skipping ids already
//!    stored), inserts the payloads of those really inserted (a data-modifying CTE joined on
//!    the inserted rows) and returns which they were;
//! 3. `DELETE_OLDEST` trims, for gateways over their cap (rare);
//! 4. one statement for the rest: the new row counters and the four rollup upserts (CTEs),
//!    the rollup rows in key order;
//! 5. `COMMIT`.

use super::{bind_args, PgStore, D};
use crate::logs::{LogSink, PendingLog, WriteOutcome};
use crate::plan::{self, GatewayKeys};
use crate::rollup::{Level, Rollup, HOUR_TABLES, MINUTE_TABLES};
use crate::row::{i, Prepared, LOG_INSERT_COLUMNS};
use crate::sql;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::postgres::PgArguments;
use sqlx::{Postgres, Row};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use switchyard_core::{AccountId, GatewayId};

/// Rows per INSERT statement.
const ROWS_PER_INSERT: usize = 2_000;

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

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
        "WITH ins AS (INSERT INTO logs ({LOG_INSERT_COLUMNS}) SELECT * FROM UNNEST(\
         $1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::bigint[], $9::boolean[], $10::boolean[], $11::bigint[], $12::bigint[], \
         $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::float8[], \
         $18::boolean[], $19::text[], $20::text[], $21::bigint[], $22::float8[], $23::bigint[], \
         $24::text[], $25::text[], $26::bigint[], $27::bigint[], $28::text[], $29::boolean[]) \
         ON CONFLICT (gkey, id) DO NOTHING RETURNING seq, gkey, id), \
         pay AS (INSERT INTO log_payloads (seq, request_headers, response_headers, \
         request_body, response_body) SELECT ins.seq, p.rqh, p.rsh, p.rqb, p.rsb FROM ins \
         JOIN UNNEST($30::bigint[], $31::text[], $32::text[], $33::text[], $34::bytea[], \
         $35::bytea[]) AS p (gkey, id, rqh, rsh, rqb, rsb) \
         ON p.gkey = ins.gkey AND p.id = ins.id) \
         SELECT seq, gkey, id FROM ins"
    )
}

/// Payload arrays of one chunk: one entry per distinct (gateway, id) that has a payload,
/// from its first occurrence (the one an insert keeps).
#[derive(Default)]
struct PayloadColumns<'a> {
    gkey: Vec<i64>,
    id: Vec<&'a str>,
    request_headers: Vec<Option<&'a str>>,
    response_headers: Vec<Option<&'a str>>,
    request_body: Vec<Option<&'a [u8]>>,
    response_body: Vec<Option<&'a [u8]>>,
}

impl<'a> PayloadColumns<'a> {
    fn push(&mut self, gkey: i64, p: &'a Prepared<'a>) {
        let r = p.rec;
        self.gkey.push(gkey);
        self.id.push(&r.id);
        self.request_headers.push(r.request_headers.as_deref());
        self.response_headers.push(r.response_headers.as_deref());
        self.request_body.push(r.request_body.as_deref());
        self.response_body.push(r.response_body.as_deref());
    }
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

/// Step 4 of a batch: the row counters ($1, $2), then per resolution the counters (10
/// arrays) and the latency histogram (6 arrays): $3–$18 by minute, $19–$34 by hour.
fn finish_sql() -> String {
    let counters = |name: &str, t: &str, p: usize| {
        format!(
            "{name} AS (INSERT INTO {t} (gkey, minute, provider, model, requests, errors, \
             cache_hits, tokens_in, tokens_out, cost) SELECT * FROM UNNEST(${}::bigint[], \
             ${}::bigint[], ${}::text[], ${}::text[], ${}::bigint[], ${}::bigint[], \
             ${}::bigint[], ${}::bigint[], ${}::bigint[], ${}::float8[]) \
             ON CONFLICT (gkey, minute, provider, model) DO UPDATE SET \
             requests = {t}.requests + EXCLUDED.requests, \
             errors = {t}.errors + EXCLUDED.errors, \
             cache_hits = {t}.cache_hits + EXCLUDED.cache_hits, \
             tokens_in = {t}.tokens_in + EXCLUDED.tokens_in, \
             tokens_out = {t}.tokens_out + EXCLUDED.tokens_out, \
             cost = {t}.cost + EXCLUDED.cost)",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 8,
            p + 9
        )
    };
    let latency = |name: &str, t: &str, p: usize| {
        format!(
            "{name} AS (INSERT INTO {t} (gkey, minute, provider, model, bucket, n) \
             SELECT * FROM UNNEST(${}::bigint[], ${}::bigint[], ${}::text[], ${}::text[], \
             ${}::bigint[], ${}::bigint[]) \
             ON CONFLICT (gkey, minute, provider, model, bucket) DO UPDATE SET \
             n = {t}.n + EXCLUDED.n)",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        )
    };
    format!(
        "WITH counts AS (UPDATE log_gateways AS g SET row_count = c.n \
         FROM UNNEST($1::bigint[], $2::bigint[]) AS c (gkey, n) WHERE g.gkey = c.gkey), \
         {}, {}, {}, {} SELECT 1",
        counters("minute_counters", MINUTE_TABLES.0, 3),
        latency("minute_latency", MINUTE_TABLES.1, 13),
        counters("hour_counters", HOUR_TABLES.0, 19),
        latency("hour_latency", HOUR_TABLES.1, 29),
    )
}

/// Binds one level's counter and latency arrays.
fn bind_level<'q>(mut q: Query<'q>, level: &'q Level) -> Query<'q> {
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
    let mut l = LatencyColumns::default();
    for (((gkey, minute, provider, model), bucket), n) in &level.latency {
        l.gkey.push(*gkey);
        l.minute.push(*minute);
        l.provider.push(provider);
        l.model.push(model);
        l.bucket.push(*bucket);
        l.n.push(*n);
    }
    q = q
        .bind(c.gkey)
        .bind(c.minute)
        .bind(c.provider)
        .bind(c.model)
        .bind(c.requests)
        .bind(c.errors)
        .bind(c.cache_hits)
        .bind(c.tokens_in)
        .bind(c.tokens_out)
        .bind(c.cost);
    q.bind(l.gkey)
        .bind(l.minute)
        .bind(l.provider)
        .bind(l.model)
        .bind(l.bucket)
        .bind(l.n)
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
        for &(gkey, i) in decided.rollup_only() {
            rollup.add(gkey, prepared[i].created_us, &batch[i].record);
        }

        let mut inserted: HashMap<i64, i64> = HashMap::new();
        let insert = insert_sql();
        for chunk in decided.insert.chunks(ROWS_PER_INSERT) {
            let mut c = Columns::default();
            let mut p = PayloadColumns::default();
            // (gateway, id) → its first occurrence in the chunk: the one the insert keeps.
            let mut first: HashMap<(i64, &str), usize> = HashMap::with_capacity(chunk.len());
            for &(gkey, i) in chunk {
                c.push(gkey, &prepared[i]);
                if let Entry::Vacant(e) = first.entry((gkey, batch[i].record.id.as_str())) {
                    e.insert(i);
                    if prepared[i].has_payload() {
                        p.push(gkey, &prepared[i]);
                    }
                }
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
                .bind(&p.gkey)
                .bind(&p.id)
                .bind(&p.request_headers)
                .bind(&p.response_headers)
                .bind(&p.request_body)
                .bind(&p.response_body)
                .fetch_all(&mut *tx)
                .await?;
            for r in rows {
                let g: i64 = r.try_get("gkey")?;
                let id: String = r.try_get("id")?;
                let Some(&i) = first.get(&(g, id.as_str())) else {
                    continue;
                };
                *inserted.entry(g).or_default() += 1;
                rollup.add(g, prepared[i].created_us, &batch[i].record);
            }
        }

        let mut count_keys: Vec<i64> = Vec::with_capacity(groups.len());
        let mut count_rows: Vec<i64> = Vec::with_capacity(groups.len());
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
            count_keys.push(*gkey);
            count_rows.push(rows);
        }
        let finish = finish_sql();
        let q = sqlx::query(&finish).bind(count_keys).bind(count_rows);
        let q = bind_level(q, &rollup.minute);
        bind_level(q, &rollup.hour).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(WriteOutcome {
            written: inserted.values().sum::<i64>().max(0) as u64,
            skipped: decided.skipped.len() as u64,
        })
    }
}

crate::log_query::impl_log_query!(PgStore, D, bind_args, read: pool, write: pool);

//! SQL shared by the backends: the WHERE clause of a [`LogFilter`] and the ORDER BY of a
//! list, written once for both dialects so that SQLite and PostgreSQL answer alike.
//!
//! Statements refer to the log table as `l`. Arguments are collected as [`Arg`]s and bound by
//! each backend in order; placeholders are `?N` (SQLite) or `$N` (PostgreSQL), so one
//! argument can be referenced more than once.

use crate::keys::StoredKey;
use crate::logs::{
    AnalyticsQuery, AnalyticsRow, Condition, FilterKey, GroupBy, LogDelete, LogFilter,
    LogListQuery, LogPatch, Op, OrderBy,
};
use crate::params::normalize_value;
use crate::rollup::{self, finish, minute_range, parse_micros, Group, GroupKey};
use crate::row::{i, metadata_text, Get, GATEWAY_COLUMNS, KEY_COLUMNS, LOG_SELECT, PAYLOAD_SELECT};
use crate::StoreError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use switchyard_core::{AccountId, GatewayId, GatewaySettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// A statement being assembled.
#[derive(Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
    dialect: Dialect,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            text: String::with_capacity(256),
            args: Vec::new(),
            dialect,
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Adds an argument and returns its placeholder.
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.args.len()),
            Dialect::Postgres => format!("${}", self.args.len()),
        }
    }

    /// Adds an argument and writes its placeholder.
    pub fn bind(&mut self, a: Arg) -> &mut Self {
        let p = self.arg(a);
        self.text.push_str(&p);
        self
    }

    fn like(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }
}

/// A `%s%` LIKE pattern matching `s` literally (with `ESCAPE '\'`).
pub(crate) fn contains_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// How a filter key is stored.
enum Col {
    Text(&'static str),
    Bool(&'static str),
    Int(&'static str),
    Real(&'static str),
    Time(&'static str),
    MetaKey,
    MetaValue,
    /// A field no row has (see `KeyKind::Unrecorded`).
    Unrecorded,
}

fn column(key: FilterKey) -> Col {
    match key {
        FilterKey::Id => Col::Text("l.id"),
        FilterKey::CreatedAt => Col::Time("l.created_at"),
        FilterKey::Provider => Col::Text("l.provider"),
        FilterKey::Model => Col::Text("l.model"),
        FilterKey::Success => Col::Bool("l.success"),
        FilterKey::Cached => Col::Bool("l.cached"),
        FilterKey::Cost => Col::Real("l.cost"),
        FilterKey::TokensIn => Col::Int("l.tokens_in"),
        FilterKey::TokensOut => Col::Int("l.tokens_out"),
        FilterKey::Duration => Col::Int("l.duration"),
        FilterKey::Feedback => Col::Int("COALESCE(l.feedback, 0)"),
        FilterKey::EventId => Col::Text("l.event_id"),
        FilterKey::MetadataKey => Col::MetaKey,
        FilterKey::MetadataValue => Col::MetaValue,
        FilterKey::StatusCode => Col::Int("l.status_code"),
        FilterKey::RequestType => Col::Text("l.request_type"),
        FilterKey::RequestContentType => Col::Text("l.request_content_type"),
        FilterKey::ResponseContentType => Col::Text("l.response_content_type"),
        FilterKey::UserAgent => Col::Text("l.user_agent"),
        FilterKey::Tokens => Col::Int(TOTAL_TOKENS),
        FilterKey::ModelType
        | FilterKey::Authentication
        | FilterKey::Wholesale
        | FilterKey::CompatibilityMode
        | FilterKey::DlpAction => Col::Unrecorded,
    }
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Neq => "<>",
        Op::Lt => "<",
        Op::Gt => ">",
        Op::Gte => ">=",
        Op::Lte => "<=",
        Op::Contains => "LIKE",
    }
}

/// Writes `l.gkey = ? AND ...` for `filter`.
pub(crate) fn where_clause(sql: &mut Sql, gkey: i64, filter: &LogFilter) -> Result<(), StoreError> {
    sql.push("l.gkey = ").bind(Arg::Int(gkey));
    for c in &filter.conditions {
        sql.push(" AND ");
        condition(sql, c)?;
    }
    if let Some(s) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        let p = sql.arg(Arg::Text(contains_pattern(s)));
        // Metadata is stored as JSON text, and the term is looked for in its keys and values,
        // not in its syntax (a `:`, `,` or `"` is in every record's metadata). The stored text
        // is first matched against the term as JSON writes it inside a key or value (cheap,
        // and true of every record that matches); the entries are then read to confirm it.
        let in_json = serde_json::to_string(s).unwrap_or_default();
        let in_json = in_json.get(1..in_json.len().saturating_sub(1)).unwrap_or(s);
        let pm = if in_json == s {
            p.clone()
        } else {
            sql.arg(Arg::Text(contains_pattern(in_json)))
        };
        let like = sql.like();
        let cols = ["l.id", "l.provider", "l.model", "l.path", "l.event_id"];
        let mut parts: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} {like} {p} ESCAPE '\\'"))
            .collect();
        let (source, value) = meta_entries(sql.dialect);
        parts.push(format!(
            "(l.metadata {like} {pm} ESCAPE '\\' AND EXISTS (SELECT 1 FROM {source} WHERE \
             m.key {like} {p} ESCAPE '\\' OR {value} {like} {p} ESCAPE '\\'))"
        ));
        let _ = write!(sql.text, " AND ({})", parts.join(" OR "));
    }
    Ok(())
}

fn condition(sql: &mut Sql, c: &Condition) -> Result<(), StoreError> {
    if !c.key.kind().allows(c.op) {
        return Err(StoreError::InvalidQuery(format!(
            "operator '{}' does not apply to '{}'",
            c.op.as_str(),
            c.key.as_str()
        )));
    }
    if c.values.is_empty() {
        return Err(StoreError::InvalidQuery(format!(
            "the filter on '{}' has no values",
            c.key.as_str()
        )));
    }
    let joiner = if c.op == Op::Neq { " AND " } else { " OR " };
    sql.push("(");
    for (i, v) in c.values.iter().enumerate() {
        if i > 0 {
            sql.push(joiner);
        }
        let v = normalize_value(c.key, c.op, v.clone()).map_err(|m| {
            StoreError::InvalidQuery(format!("filter on '{}': {m}", c.key.as_str()))
        })?;
        atom(sql, c.key, c.op, &v)?;
    }
    sql.push(")");
    Ok(())
}

/// One `field op value` test.
fn atom(sql: &mut Sql, key: FilterKey, op: Op, v: &Value) -> Result<(), StoreError> {
    let col = column(key);
    if matches!(col, Col::Unrecorded) {
        // Missing on every row: it differs from every value, and it is missing.
        let holds = match op {
            Op::Neq => !v.is_null(),
            Op::Eq => v.is_null(),
            _ => false,
        };
        sql.push(if holds { "1 = 1" } else { "1 = 0" });
        return Ok(());
    }
    // A missing value: IS NULL / IS NOT NULL (feedback: none is 0).
    if v.is_null() && key != FilterKey::Feedback {
        let expr = match col {
            Col::Text(e) | Col::Bool(e) | Col::Int(e) | Col::Real(e) | Col::Time(e) => e,
            Col::MetaKey | Col::MetaValue | Col::Unrecorded => {
                return Err(StoreError::InvalidQuery("null metadata filter".into()))
            }
        };
        let test = if op == Op::Neq {
            "IS NOT NULL"
        } else {
            "IS NULL"
        };
        let _ = write!(sql.text, "{expr} {test}");
        return Ok(());
    }
    match col {
        Col::Text(e) => {
            let s = v.as_str().unwrap_or_default();
            text_atom(sql, e, op, s);
        }
        Col::Bool(e) => {
            let b = v.as_bool().unwrap_or_default();
            let p = sql.arg(Arg::Bool(b));
            let _ = write!(sql.text, "{e} {} {p}", sql_op(op));
        }
        Col::Real(e) => {
            let f = v.as_f64().unwrap_or_default();
            let p = sql.arg(Arg::Real(f));
            if op == Op::Neq {
                let _ = write!(sql.text, "({e} IS NULL OR {e} <> {p})");
            } else {
                let _ = write!(sql.text, "{e} {} {p}", sql_op(op));
            }
        }
        Col::Int(e) => {
            // A whole number written as a float (`2.0`, as typed SDKs send every number)
            // is that integer.
            let whole = |f: f64| {
                (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64)
                    .then_some(f as i64)
            };
            let n = if v.is_null() {
                Some(0)
            } else {
                v.as_i64().or_else(|| v.as_f64().and_then(whole))
            };
            match n {
                Some(i) => int_atom(sql, e, op, i),
                None => {
                    let f = v.as_f64().unwrap_or_default();
                    fractional_atom(sql, e, op, f);
                }
            }
        }
        Col::Time(e) => {
            let s = v.as_str().unwrap_or_default();
            let us = parse_micros(s).ok_or_else(|| {
                StoreError::InvalidQuery(format!("'{s}' is not an RFC 3339 timestamp"))
            })?;
            int_atom(sql, e, op, us);
        }
        Col::MetaKey | Col::MetaValue => {
            let s = v.as_str().unwrap_or_default();
            meta_atom(sql, matches!(col, Col::MetaKey), op, s);
        }
        // Answered above, before the null test.
        Col::Unrecorded => {}
    }
    Ok(())
}

fn text_atom(sql: &mut Sql, e: &str, op: Op, s: &str) {
    match op {
        Op::Contains => {
            let p = sql.arg(Arg::Text(contains_pattern(s)));
            let like = sql.like();
            let _ = write!(sql.text, "{e} {like} {p} ESCAPE '\\'");
        }
        Op::Neq => {
            let p = sql.arg(Arg::Text(s.to_owned()));
            let _ = write!(sql.text, "({e} IS NULL OR {e} <> {p})");
        }
        _ => {
            let p = sql.arg(Arg::Text(s.to_owned()));
            let _ = write!(sql.text, "{e} {} {p}", sql_op(op));
        }
    }
}

fn int_atom(sql: &mut Sql, e: &str, op: Op, i: i64) {
    let p = sql.arg(Arg::Int(i));
    if op == Op::Neq {
        let _ = write!(sql.text, "({e} IS NULL OR {e} <> {p})");
    } else {
        let _ = write!(sql.text, "{e} {} {p}", sql_op(op));
    }
}

/// An integer column compared with a fractional number, as the equivalent integer test (so
/// the column's index stays usable and both databases agree).
fn fractional_atom(sql: &mut Sql, e: &str, op: Op, f: f64) {
    let clamp = |x: f64| x.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
    match op {
        Op::Eq | Op::Contains => {
            sql.push("1 = 0");
        }
        Op::Neq => {
            sql.push("1 = 1");
        }
        // x < 2.5 and x <= 2.5 both mean x <= 2
        Op::Lt | Op::Lte => int_atom(sql, e, Op::Lte, clamp(f.floor())),
        Op::Gt | Op::Gte => int_atom(sql, e, Op::Gte, clamp(f.ceil())),
    }
}

/// The metadata's entries as rows `m` of the dialect's JSON table function, and the text of
/// an entry's value (`true`/`false` for booleans, the number as stored for numbers).
fn meta_entries(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Sqlite => (
            "json_each(l.metadata) AS m",
            "(CASE m.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(m.value AS TEXT) END)",
        ),
        Dialect::Postgres => ("jsonb_each(l.metadata::jsonb) AS m", "(m.value #>> '{}')"),
    }
}

/// A metadata entry's key or value against `s`. A value is compared as the text the record
/// shows it as and, when `s` is a number, also as a number: `0.00001`, `1e-05` and `1.0e-5`
/// all find the entry stored as `0.00001`, on both databases (each writes numbers as text its
/// own way).
fn meta_atom(sql: &mut Sql, is_key: bool, op: Op, s: &str) {
    let (source, value) = meta_entries(sql.dialect);
    let field = if is_key { "m.key" } else { value };
    let (p, test) = if op == Op::Contains {
        let p = sql.arg(Arg::Text(contains_pattern(s)));
        (p, format!("{} ", sql.like()))
    } else {
        (sql.arg(Arg::Text(s.to_owned())), "= ".to_owned())
    };
    let escape = if op == Op::Contains {
        " ESCAPE '\\'"
    } else {
        ""
    };
    let numeric = match number(s) {
        Some(n) if !is_key && op != Op::Contains => {
            let n = sql.arg(Arg::Real(n));
            match sql.dialect {
                Dialect::Sqlite => format!(" OR (m.type IN ('integer', 'real') AND m.value = {n})"),
                Dialect::Postgres => format!(
                    " OR (jsonb_typeof(m.value) = 'number' AND (m.value #>> '{{}}')::float8 = {n})"
                ),
            }
        }
        _ => String::new(),
    };
    let not = if op == Op::Neq { "NOT " } else { "" };
    let _ = write!(
        sql.text,
        "{not}EXISTS (SELECT 1 FROM {source} WHERE {field} {test}{p}{escape}{numeric})"
    );
}

/// `s` as a finite number, when it is written as one (JSON's or a programming language's
/// form: not `inf` or `NaN`).
fn number(s: &str) -> Option<f64> {
    let t = s.trim();
    let lead = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !lead.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The stored column an [`OrderBy`] sorts on, and whether it can be missing.
fn order_column(o: OrderBy) -> (&'static str, bool) {
    match o {
        OrderBy::CreatedAt => ("l.created_at", false),
        OrderBy::Provider => ("l.provider", false),
        OrderBy::Model => ("l.model", true),
        OrderBy::Success => ("l.success", false),
        OrderBy::Cached => ("l.cached", false),
        OrderBy::Cost => ("l.cost", false),
        OrderBy::Duration => ("l.duration", false),
        OrderBy::TokensIn => ("l.tokens_in", true),
        OrderBy::TokensOut => ("l.tokens_out", true),
        OrderBy::Feedback => ("COALESCE(l.feedback, 0)", false),
    }
}

/// Writes ` ORDER BY col, created_at, id` in one direction; missing values sort lowest on
/// both databases (the PostgreSQL indexes are declared to match).
pub(crate) fn order_clause(sql: &mut Sql, o: OrderBy, descending: bool) {
    let dir = if descending { "DESC" } else { "ASC" };
    let (col, nullable) = order_column(o);
    let nulls = match (sql.dialect, nullable, descending) {
        (Dialect::Postgres, true, true) => " NULLS LAST",
        (Dialect::Postgres, true, false) => " NULLS FIRST",
        _ => "",
    };
    sql.push(" ORDER BY ");
    if o != OrderBy::CreatedAt {
        let _ = write!(sql.text, "{col} {dir}{nulls}, ");
    }
    let _ = write!(sql.text, "l.created_at {dir}, l.id {dir}");
}

/// `?1, ?2, ...` or `$1, $2, ...` for arguments `from..from+count` (1-based).
pub(crate) fn placeholders(d: Dialect, from: usize, count: usize) -> String {
    let sigil = match d {
        Dialect::Sqlite => '?',
        Dialect::Postgres => '$',
    };
    (from..from + count)
        .map(|n| format!("{sigil}{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- whole statements

/// One page of a list.
pub(crate) fn list_sql(d: Dialect, gkey: i64, q: &LogListQuery) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(LOG_SELECT)
        .push(" FROM logs l WHERE ");
    where_clause(&mut sql, gkey, &q.filter)?;
    order_clause(&mut sql, q.order_by, q.descending);
    let per_page = i64::from(q.per_page);
    let offset = (i64::from(q.page.max(1)) - 1) * per_page;
    sql.push(" LIMIT ")
        .bind(Arg::Int(per_page))
        .push(" OFFSET ")
        .bind(Arg::Int(offset));
    Ok(sql)
}

/// How many rows match (column `n`).
pub(crate) fn count_sql(d: Dialect, gkey: i64, f: &LogFilter) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT COUNT(*) AS n FROM logs l WHERE ");
    where_clause(&mut sql, gkey, f)?;
    Ok(sql)
}

/// A record's input plus output tokens, a missing count read as 0.
const TOTAL_TOKENS: &str = "(COALESCE(l.tokens_in, 0) + COALESCE(l.tokens_out, 0))";

/// The ranges of the matching rows (columns named as [`crate::logs::LogMeta`]'s fields;
/// NULL when no row has a value).
pub(crate) fn meta_sql(d: Dialect, gkey: i64, f: &LogFilter) -> Result<Sql, StoreError> {
    // Records with no token count at all stay out of the total's range.
    let total = format!(
        "CASE WHEN l.tokens_in IS NULL AND l.tokens_out IS NULL THEN NULL ELSE {TOTAL_TOKENS} END"
    );
    let mut sql = Sql::new(d);
    sql.push(&format!(
        "SELECT MIN(l.cost) AS min_cost, MAX(l.cost) AS max_cost, \
         MIN(l.duration) AS min_duration, MAX(l.duration) AS max_duration, \
         MIN(l.tokens_in) AS min_tokens_in, MAX(l.tokens_in) AS max_tokens_in, \
         MIN(l.tokens_out) AS min_tokens_out, MAX(l.tokens_out) AS max_tokens_out, \
         MIN({total}) AS min_total_tokens, MAX({total}) AS max_total_tokens \
         FROM logs l WHERE "
    ));
    where_clause(&mut sql, gkey, f)?;
    Ok(sql)
}

/// Whether a filter matches every row (so the gateway's row counter is the count).
pub(crate) fn matches_all(f: &LogFilter) -> bool {
    f.conditions.is_empty() && f.search.as_deref().is_none_or(str::is_empty)
}

/// One record with its payload.
pub(crate) fn get_sql(d: Dialect, gkey: i64, id: &str) -> Sql {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(LOG_SELECT)
        .push(", ")
        .push(PAYLOAD_SELECT)
        .push(" FROM logs l LEFT JOIN log_payloads p ON p.seq = l.seq WHERE l.gkey = ")
        .bind(Arg::Int(gkey))
        .push(" AND l.id = ")
        .bind(Arg::Text(id.to_owned()));
    sql
}

/// Deletes every matching row.
pub(crate) fn delete_sql(d: Dialect, gkey: i64, f: &LogFilter) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("DELETE FROM logs AS l WHERE ");
    where_clause(&mut sql, gkey, f)?;
    Ok(sql)
}

/// Deletes the matching rows, or with a limit the first `limit` of them in the list order
/// the delete names.
pub(crate) fn delete_limited_sql(
    d: Dialect,
    gkey: i64,
    del: &LogDelete,
) -> Result<Sql, StoreError> {
    let Some(limit) = del.limit else {
        return delete_sql(d, gkey, &del.filter);
    };
    let mut sql = Sql::new(d);
    sql.push("DELETE FROM logs WHERE seq IN (SELECT l.seq FROM logs l WHERE ");
    where_clause(&mut sql, gkey, &del.filter)?;
    order_clause(&mut sql, del.order_by, del.descending);
    sql.push(" LIMIT ").bind(Arg::Int(i(limit))).push(")");
    Ok(sql)
}

/// Deletes a gateway's `n` oldest rows.
pub(crate) fn trim_sql(d: Dialect, gkey: i64, n: i64) -> Sql {
    let mut sql = Sql::new(d);
    sql.push("DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE gkey = ")
        .bind(Arg::Int(gkey))
        .push(" ORDER BY created_at, id LIMIT ")
        .bind(Arg::Int(n))
        .push(")");
    sql
}

/// Applies a patch; `None` when it changes nothing.
pub(crate) fn patch_sql(d: Dialect, gkey: i64, id: &str, patch: &LogPatch) -> Option<Sql> {
    let mut sets: Vec<String> = Vec::new();
    let mut sql = Sql::new(d);
    if let Some(f) = patch.feedback {
        match f.filter(|f| *f != 0) {
            Some(f) => {
                let p = sql.arg(Arg::Int(i64::from(f.clamp(-1, 1))));
                sets.push(format!("feedback = {p}"));
            }
            None => sets.push("feedback = NULL".into()),
        }
    }
    if let Some(score) = patch.score {
        match score.filter(|s| s.is_finite()) {
            Some(s) => {
                let p = sql.arg(Arg::Real(s));
                sets.push(format!("score = {p}"));
            }
            None => sets.push("score = NULL".into()),
        }
    }
    if let Some(m) = &patch.metadata {
        match metadata_text(m.as_ref()) {
            Some(t) => {
                let p = sql.arg(Arg::Text(t));
                sets.push(format!("metadata = {p}"));
            }
            None => sets.push("metadata = NULL".into()),
        }
    }
    if sets.is_empty() {
        return None;
    }
    let g = sql.arg(Arg::Int(gkey));
    let i = sql.arg(Arg::Text(id.to_owned()));
    sql.text = format!(
        "UPDATE logs SET {} WHERE gkey = {g} AND id = {i}",
        sets.join(", ")
    );
    Some(sql)
}

/// The analytics statements, in (counters, latency) pairs, one pair per part of the range
/// (see [`crate::rollup::parts`]). Counters have columns `b`, [`provider`], [`model`],
/// `requests`, `errors`, `cache_hits`, `tokens_in`, `tokens_out`, `cost`; latency `b`,
/// [`provider`], [`model`], `bucket`, `n`.
pub(crate) fn analytics_sql(
    d: Dialect,
    gkey: i64,
    q: &AnalyticsQuery,
) -> Result<Vec<(Sql, Sql)>, StoreError> {
    let (from, to) = minute_range(&q.start, &q.end).map_err(StoreError::InvalidQuery)?;
    let m = q.bucket.minutes();
    let mut dims = String::new();
    if q.group_by.contains(&GroupBy::Provider) {
        dims.push_str(", provider");
    }
    if q.group_by.contains(&GroupBy::Model) {
        dims.push_str(", model");
    }
    let build = |select: &str, table: &str, extra_group: &str, from: i64, to: i64| {
        let mut sql = Sql::new(d);
        let _ = write!(
            sql.text,
            "SELECT (minute / {m}) * {m} AS b{dims}, {select} FROM {table} WHERE gkey = "
        );
        sql.bind(Arg::Int(gkey))
            .push(" AND minute >= ")
            .bind(Arg::Int(from))
            .push(" AND minute < ")
            .bind(Arg::Int(to));
        let _ = write!(sql.text, " GROUP BY b{dims}{extra_group}");
        sql
    };
    Ok(rollup::parts(from, to, m)
        .into_iter()
        .map(|((counters, latency), from, to)| {
            (
                build(
                    "CAST(SUM(requests) AS BIGINT) AS requests, \
                     CAST(SUM(errors) AS BIGINT) AS errors, \
                     CAST(SUM(cache_hits) AS BIGINT) AS cache_hits, \
                     CAST(SUM(tokens_in) AS BIGINT) AS tokens_in, \
                     CAST(SUM(tokens_out) AS BIGINT) AS tokens_out, SUM(cost) AS cost",
                    counters,
                    "",
                    from,
                    to,
                ),
                build(
                    "bucket, CAST(SUM(n) AS BIGINT) AS n",
                    latency,
                    ", bucket",
                    from,
                    to,
                ),
            )
        })
        .collect())
}

/// Folds the rows of [`analytics_sql`] into the answer.
pub(crate) fn analytics_fold(
    q: &AnalyticsQuery,
    counters: &[impl Get],
    latency: &[impl Get],
) -> Result<Vec<AnalyticsRow>, StoreError> {
    let by_provider = q.group_by.contains(&GroupBy::Provider);
    let by_model = q.group_by.contains(&GroupBy::Model);
    let key = |r: &dyn Get| -> Result<GroupKey, StoreError> {
        Ok((
            r.i64("b")?,
            if by_provider {
                Some(r.text("provider")?)
            } else {
                None
            },
            if by_model {
                Some(r.text("model")?)
            } else {
                None
            },
        ))
    };
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for r in counters {
        let c = &mut groups.entry(key(r)?).or_default().counters;
        c.requests += r.i64("requests")?;
        c.errors += r.i64("errors")?;
        c.cache_hits += r.i64("cache_hits")?;
        c.tokens_in += r.i64("tokens_in")?;
        c.tokens_out += r.i64("tokens_out")?;
        c.cost += r.f64("cost")?;
    }
    for r in latency {
        let g = groups.entry(key(r)?).or_default();
        *g.hist.entry(r.i64("bucket")?).or_default() += r.i64("n")?.max(0) as u64;
    }
    Ok(finish(groups))
}

/// A gateway's stored row count (arg: gkey).
pub(crate) fn row_count_sql(d: Dialect) -> String {
    format!(
        "SELECT row_count FROM log_gateways WHERE gkey = {}",
        placeholders(d, 1, 1)
    )
}

/// Locks a gateway's counter row for the transaction (arg: gkey), where the backend locks
/// rows (PostgreSQL); SQLite's write transaction already holds the whole database.
pub(crate) fn lock_counter_sql(d: Dialect) -> Option<&'static str> {
    match d {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some("SELECT gkey FROM log_gateways WHERE gkey = $1 FOR UPDATE"),
    }
}

/// Lowers a gateway's row count (args: gkey, n).
pub(crate) fn counter_sub_sql(d: Dialect) -> String {
    let p = placeholders(d, 1, 2);
    let (g, n) = p.split_once(", ").unwrap_or_default();
    format!("UPDATE log_gateways SET row_count = row_count - {n} WHERE gkey = {g}")
}

// ---------------------------------------------------------------- gateways and keys

/// Every column of `g` in [`GATEWAY_COLUMNS`] order.
pub(crate) fn gateway_args(g: &GatewaySettings) -> Vec<Arg> {
    vec![
        Arg::Text(g.account_id.as_str().to_owned()),
        Arg::Text(g.id.as_str().to_owned()),
        Arg::Int(i(g.cache_ttl)),
        Arg::Bool(g.cache_invalidate_on_update),
        Arg::Bool(g.collect_logs),
        Arg::Int(i(g.rate_limiting_interval)),
        Arg::Int(i(g.rate_limiting_limit)),
        Arg::Text(g.rate_limiting_technique.as_str().to_owned()),
        Arg::Bool(g.authentication),
        Arg::OptInt(g.log_management.map(i)),
        Arg::Text(g.log_management_strategy.as_str().to_owned()),
        Arg::Int(i64::from(g.retry_max_attempts)),
        Arg::Int(i(g.retry_delay)),
        Arg::Text(g.retry_backoff.as_str().to_owned()),
        Arg::Text(g.created_at.clone()),
        Arg::Text(g.modified_at.clone()),
    ]
}

/// Statements of the gateway store.
pub(crate) struct GatewaySql {
    /// args: account, id
    pub get: String,
    /// args: [`gateway_args`]
    pub insert_if_missing: String,
    /// args: [`gateway_args`]
    pub upsert: String,
    /// args: account
    pub list: String,
    /// no args: the accounts that have (or had) gateways
    pub accounts: String,
    /// args: account, id
    pub delete: String,
    /// What goes with a deleted gateway, in the delete's transaction (args: account, id): its
    /// stored keys, its log rows (payloads follow by cascade) and its analytics. Its log key
    /// stays, with a row count of 0, so a gateway created again under the same id starts
    /// empty. On PostgreSQL the counter row is locked first, as the log writer locks it
    /// before it touches rollups, so the two queue instead of deadlocking (SQLite's write
    /// lock is taken whole).
    pub purge: Vec<String>,
    /// Replaces every setting of an existing gateway if its `modified_at` is still the one
    /// read (args: [`gateway_args`], then that `modified_at`): a read-modify-write that
    /// lost a race changes nothing and is tried again.
    pub replace_if: String,
}

/// The arguments that name one gateway (account, id): gateway lookups and its stored keys.
pub(crate) fn gateway_ids(account: &AccountId, id: &GatewayId) -> Vec<Arg> {
    vec![
        Arg::Text(account.as_str().to_owned()),
        Arg::Text(id.as_str().to_owned()),
    ]
}

pub(crate) fn gateway_sql(d: Dialect) -> GatewaySql {
    let two = placeholders(d, 1, 2);
    let p: Vec<String> = two.split(", ").map(str::to_owned).collect();
    let all = placeholders(d, 1, 16);
    let insert = format!(
        "INSERT INTO gateways ({GATEWAY_COLUMNS}) VALUES ({all}) ON CONFLICT (account_id, id)"
    );
    GatewaySql {
        get: format!(
            "SELECT {GATEWAY_COLUMNS} FROM gateways WHERE account_id = {} AND id = {}",
            p[0], p[1]
        ),
        insert_if_missing: format!("{insert} DO NOTHING"),
        upsert: format!(
            "{insert} DO UPDATE SET \
             cache_ttl = excluded.cache_ttl, \
             cache_invalidate_on_update = excluded.cache_invalidate_on_update, \
             collect_logs = excluded.collect_logs, \
             rate_limiting_interval = excluded.rate_limiting_interval, \
             rate_limiting_limit = excluded.rate_limiting_limit, \
             rate_limiting_technique = excluded.rate_limiting_technique, \
             authentication = excluded.authentication, \
             log_management = excluded.log_management, \
             log_management_strategy = excluded.log_management_strategy, \
             retry_max_attempts = excluded.retry_max_attempts, \
             retry_delay = excluded.retry_delay, \
             retry_backoff = excluded.retry_backoff, \
             modified_at = excluded.modified_at"
        ),
        list: format!(
            "SELECT {GATEWAY_COLUMNS} FROM gateways WHERE account_id = {} ORDER BY id",
            p[0]
        ),
        accounts: "SELECT id FROM accounts".to_owned(),
        delete: format!(
            "DELETE FROM gateways WHERE account_id = {} AND id = {} RETURNING {GATEWAY_COLUMNS}",
            p[0], p[1]
        ),
        purge: purge_sql(d, &p[0], &p[1]),
        replace_if: replace_if_sql(d),
    }
}

fn replace_if_sql(d: Dialect) -> String {
    let sigil = match d {
        Dialect::Sqlite => '?',
        Dialect::Postgres => '$',
    };
    let columns: Vec<&str> = GATEWAY_COLUMNS.split(',').map(str::trim).collect();
    let set: Vec<String> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !matches!(**c, "account_id" | "id" | "created_at"))
        .map(|(n, c)| format!("{c} = {sigil}{}", n + 1))
        .collect();
    format!(
        "UPDATE gateways SET {} WHERE account_id = {sigil}1 AND id = {sigil}2 AND modified_at = {sigil}{}",
        set.join(", "),
        columns.len() + 1
    )
}

fn purge_sql(d: Dialect, a: &str, g: &str) -> Vec<String> {
    let this = format!("account_id = {a} AND gateway_id = {g}");
    let mut out = Vec::new();
    if d == Dialect::Postgres {
        out.push(format!(
            "SELECT gkey FROM log_gateways WHERE {this} FOR UPDATE"
        ));
    }
    out.push(format!("DELETE FROM provider_keys WHERE {this}"));
    for table in [
        "logs",
        "log_rollup",
        "log_latency",
        "log_rollup_hourly",
        "log_latency_hourly",
    ] {
        out.push(format!(
            "DELETE FROM {table} WHERE gkey = (SELECT gkey FROM log_gateways WHERE {this})"
        ));
    }
    out.push(format!(
        "UPDATE log_gateways SET row_count = 0 WHERE {this}"
    ));
    out
}

/// Every column of `k` in [`KEY_COLUMNS`] order.
pub(crate) fn key_args(k: &StoredKey) -> Vec<Arg> {
    vec![
        Arg::Text(k.id.clone()),
        Arg::Text(k.account_id.as_str().to_owned()),
        Arg::Text(k.gateway_id.as_str().to_owned()),
        Arg::Text(k.provider_slug.clone()),
        Arg::Text(k.alias.clone()),
        Arg::Bytes(k.secret_ciphertext.clone()),
        Arg::Text(k.secret_preview.clone()),
        Arg::Bool(k.default_config),
        Arg::Text(k.created_at.clone()),
        Arg::Text(k.modified_at.clone()),
    ]
}

/// Statements of the key store.
pub(crate) struct KeySql {
    /// args: [`key_args`]
    pub insert: String,
    /// args: account, gateway
    pub list: String,
    /// args: account, gateway, provider, alias
    pub find: String,
    /// args: account, gateway, provider: the key used when no alias is named (see
    /// [`crate::keys::KeyStore::find_default_key`])
    pub find_default: String,
    /// args: account, gateway, id
    pub delete: String,
    /// no args: the most recently written key of all
    pub newest: String,
}

pub(crate) fn key_sql(d: Dialect) -> KeySql {
    let p: Vec<String> = placeholders(d, 1, 4)
        .split(", ")
        .map(str::to_owned)
        .collect();
    let scope = format!("account_id = {} AND gateway_id = {}", p[0], p[1]);
    KeySql {
        insert: format!(
            "INSERT INTO provider_keys ({KEY_COLUMNS}) VALUES ({})",
            placeholders(d, 1, 10)
        ),
        list: format!("SELECT {KEY_COLUMNS} FROM provider_keys WHERE {scope} ORDER BY created_at, id"),
        find: format!(
            "SELECT {KEY_COLUMNS} FROM provider_keys WHERE {scope} AND provider_slug = {} AND alias = {}",
            p[2], p[3]
        ),
        find_default: format!(
            "SELECT {KEY_COLUMNS} FROM provider_keys WHERE {scope} AND provider_slug = {} \
             AND ({marked} OR alias = 'default') \
             ORDER BY alias = 'default' DESC, default_config DESC, created_at DESC, id DESC \
             LIMIT 1",
            p[2],
            marked = match d {
                Dialect::Sqlite => "default_config <> 0",
                Dialect::Postgres => "default_config",
            }
        ),
        delete: format!(
            "DELETE FROM provider_keys WHERE {scope} AND id = {} RETURNING {KEY_COLUMNS}",
            p[2]
        ),
        newest: format!(
            "SELECT {KEY_COLUMNS} FROM provider_keys ORDER BY created_at DESC, id DESC LIMIT 1"
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(d: Dialect, f: &LogFilter) -> Sql {
        let mut sql = Sql::new(d);
        where_clause(&mut sql, 7, f).unwrap();
        sql
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let f = LogFilter {
            conditions: vec![Condition {
                key: FilterKey::Provider,
                op: Op::Eq,
                values: vec![json!("grok"), json!("openai")],
            }],
            search: None,
        };
        let s = build(Dialect::Sqlite, &f);
        assert_eq!(
            s.text,
            "l.gkey = ?1 AND (l.provider = ?2 OR l.provider = ?3)"
        );
        let p = build(Dialect::Postgres, &f);
        assert_eq!(
            p.text,
            "l.gkey = $1 AND (l.provider = $2 OR l.provider = $3)"
        );
        assert_eq!(p.args.len(), 3);
    }

    #[test]
    fn neq_keeps_missing_values_and_joins_with_and() {
        let f = LogFilter {
            conditions: vec![Condition {
                key: FilterKey::Model,
                op: Op::Neq,
                values: vec![json!("a"), json!("b")],
            }],
            search: None,
        };
        let s = build(Dialect::Sqlite, &f);
        assert!(s.text.contains("(l.model IS NULL OR l.model <> ?2) AND"));
    }

    #[test]
    fn fractional_bounds_on_integers_become_integer_bounds() {
        let f = LogFilter {
            conditions: vec![Condition {
                key: FilterKey::TokensIn,
                op: Op::Gt,
                values: vec![json!(2.5)],
            }],
            search: None,
        };
        let s = build(Dialect::Sqlite, &f);
        assert!(s.text.contains("l.tokens_in >= ?2"));
        assert_eq!(s.args[1], Arg::Int(3));
    }

    #[test]
    fn wrong_types_are_refused() {
        let f = LogFilter {
            conditions: vec![Condition {
                key: FilterKey::Cost,
                op: Op::Contains,
                values: vec![json!("1")],
            }],
            search: None,
        };
        let mut sql = Sql::new(Dialect::Sqlite);
        assert!(matches!(
            where_clause(&mut sql, 1, &f),
            Err(StoreError::InvalidQuery(_))
        ));
    }

    #[test]
    fn unrecorded_fields_match_nothing_except_neq() {
        let one = |key, op, v: Value| LogFilter {
            conditions: vec![Condition {
                key,
                op,
                values: vec![v],
            }],
            search: None,
        };
        let cases = [
            (
                FilterKey::ModelType,
                Op::Eq,
                json!("text-generation"),
                "1 = 0",
            ),
            (
                FilterKey::Authentication,
                Op::Contains,
                json!(true),
                "1 = 0",
            ),
            (FilterKey::Wholesale, Op::Lt, json!(3), "1 = 0"),
            (FilterKey::CompatibilityMode, Op::Gt, json!("x"), "1 = 0"),
            (FilterKey::DlpAction, Op::Neq, json!("BLOCK"), "1 = 1"),
            // null is "missing", which these fields always are.
            (FilterKey::DlpAction, Op::Eq, json!(null), "1 = 1"),
            (FilterKey::DlpAction, Op::Neq, json!(null), "1 = 0"),
        ];
        for (key, op, v, want) in cases {
            let s = build(Dialect::Postgres, &one(key, op, v.clone()));
            assert_eq!(
                s.text,
                format!("l.gkey = $1 AND ({want})"),
                "{key:?} {op:?} {v}"
            );
            assert_eq!(s.args.len(), 1);
        }
    }

    #[test]
    fn limited_deletes_pick_rows_in_list_order() {
        let del = LogDelete {
            filter: LogFilter::default(),
            limit: Some(5),
            order_by: OrderBy::Cost,
            descending: false,
        };
        let s = delete_limited_sql(Dialect::Sqlite, 3, &del).unwrap();
        assert_eq!(
            s.text,
            "DELETE FROM logs WHERE seq IN (SELECT l.seq FROM logs l WHERE l.gkey = ?1 \
             ORDER BY l.cost ASC, l.created_at ASC, l.id ASC LIMIT ?2)"
        );
        assert_eq!(s.args, vec![Arg::Int(3), Arg::Int(5)]);
        let all = LogDelete { limit: None, ..del };
        let s = delete_limited_sql(Dialect::Postgres, 3, &all).unwrap();
        assert_eq!(s.text, "DELETE FROM logs AS l WHERE l.gkey = $1");
        let mut sql = Sql::new(Dialect::Postgres);
        order_clause(&mut sql, OrderBy::Feedback, true);
        assert_eq!(
            sql.text,
            " ORDER BY COALESCE(l.feedback, 0) DESC, l.created_at DESC, l.id DESC"
        );
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}

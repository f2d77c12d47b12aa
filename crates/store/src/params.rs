//! The logs API's query string, parsed into [`LogListQuery`], [`LogDelete`] and [`LogFilter`].
//!
//! Parameters (Cloudflare's `GET/DELETE .../logs`):
//!
//! - `page` (≥ 1, default 1), `per_page` (1–[`MAX_PER_PAGE`], default [`DEFAULT_PER_PAGE`];
//!   Cloudflare documents no maximum for logs, 100 is the maximum it documents for its other
//!   lists), `search`, `order_by` (`created_at`, `provider`, `model`, `success`, `cached`,
//!   `cost`, `duration`, `tokens_in`, `tokens_out`), `order_by_direction` (`asc` | `desc`,
//!   default `desc`; the deprecated `direction` is read when it is absent). `order_by` also
//!   takes `feedback`, and Cloudflare's `model_type`, which orders by model.
//! - Deletes (`DELETE .../logs`, [`LogDelete`]) take the same filters and `limit` (1–
//!   [`MAX_DELETE_LIMIT`], as Cloudflare documents), `order_by` and `order_by_direction`:
//!   with a limit, only the first `limit` matching records in that order are deleted.
//! - `filters`, an array of `{key, operator, value: [..]}`, in any of these encodings:
//!   - JSON: `filters=[{"key":"provider","operator":"eq","value":["grok"]}]` (one parameter;
//!     `filters`/`filters[]` may also repeat, each holding an array or one object).
//!   - The official SDKs' form, `nested_format="dots"`, `array_format="repeat"`:
//!     `filters.key=provider&filters.operator=eq&filters.value=grok`. The Node SDK (`qs`)
//!     sends each filter's fields together; the Python SDK sends them grouped by field,
//!     because httpx regroups repeated names: `filters.key=provider&filters.key=success&
//!     filters.operator=eq&filters.operator=eq&filters.value=grok&filters.value=true`. Both
//!     are read; in the grouped form the values can only be matched to filters when there is
//!     one filter, or one value per filter, or no value at all; anything else is refused as
//!     ambiguous. A filter without a value, or with an empty one, asks for `null`: the
//!     Python SDK drops a `None` value, the Node SDK sends it empty. (An empty text can only
//!     be asked for in the JSON form.)
//!   - The same with brackets (`filters[key]=...`, `filters[value][]=...`) and the indexed
//!     form `filters[0][key]=...&filters[0][operator]=...&filters[0][value][0]=...` (also
//!     `filters[0].key`).
//! - Deprecated flat params, each one more condition: `provider`, `model`,
//!   `request_content_type`, `response_content_type` (eq), `success`, `cached` (eq, `true` |
//!   `false`), `feedback` (eq; 0 = none), `start_date` / `end_date` (created_at ≥ / ≤),
//!   `min_cost`, `max_cost`, `min_duration`, `max_duration`, `min_tokens_in`, `max_tokens_in`,
//!   `min_tokens_out`, `max_tokens_out`, `min_total_tokens`, `max_total_tokens` (≥ / ≤),
//!   `model_type` (eq; matches nothing, see below). Empty flat params are ignored.
//! - Cloudflare's filter keys for fields Switchyard does not record (`model_type`,
//!   `authentication`, `wholesale`, `compatibilityMode`, `dlp_action`) are accepted with every
//!   operator and any scalar value, and treated as missing on every row
//!   ([`crate::logs::KeyKind::Unrecorded`]): `eq`, `contains`, `lt`, `gt` match no row, `neq`
//!   every row. Refusing them would break SDK code written for Cloudflare; pretending to match
//!   them would delete or show records for a reason that is not true of them.
//!
//! Unknown parameter names are ignored by a list (as Cloudflare does, and so the same pairs
//! can be handed to both parsers) but refused by a delete, which also refuses empty flat
//! params and an empty `search` ([`LogDelete::from_query_pairs`]); bad values of known ones, unknown filter keys or operators, an
//! operator that does not fit the key's type, and values of the wrong type are refused with a
//! [`QueryError`] naming the parameter. Values are normalised: booleans become JSON booleans
//! (`"true"`/`"false"` accepted), numbers JSON numbers (numeric strings accepted), timestamps
//! canonical RFC 3339 UTC strings, text stays text (numbers and booleans given for text keys
//! become their text).

use crate::logs::{Condition, FilterKey, KeyKind, LogDelete, LogFilter, LogListQuery, Op, OrderBy};
use crate::rollup::{format_micros, parse_micros};
use serde_json::Value;
use std::collections::BTreeMap;

/// `per_page` when the query names none.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// The largest `per_page` accepted.
pub const MAX_PER_PAGE: u32 = 100;
/// The largest `limit` of a delete (Cloudflare's documented maximum).
pub const MAX_DELETE_LIMIT: u64 = 10_000;

/// The most filter values one query may carry (each is a bound parameter; SQLite allows
/// fewer than 1,000 per statement in some builds).
pub const MAX_FILTER_VALUES: usize = 500;

/// A query parameter that could not be used. The message is meant for the API client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid query parameter '{param}': {message}")]
pub struct QueryError {
    pub param: String,
    pub message: String,
}

impl QueryError {
    fn new(param: &str, message: impl Into<String>) -> Self {
        Self {
            param: param.to_owned(),
            message: message.into(),
        }
    }
}

impl LogListQuery {
    /// Parses the logs list's query string (already percent-decoded pairs, in order).
    pub fn from_query_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let filter = LogFilter::from_query_pairs(pairs)?;
        let mut q = LogListQuery {
            filter,
            ..LogListQuery::default()
        };
        let (order_by, descending) = parse_order(pairs)?;
        q.order_by = order_by;
        q.descending = descending;
        for (name, value) in pairs {
            let v = value.trim();
            match name.as_str() {
                "page" => {
                    q.page = v.parse::<u32>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                        QueryError::new(
                            name,
                            format!("must be a whole number from 1 to {}", u32::MAX),
                        )
                    })?;
                }
                "meta_info" => {
                    q.meta_info = match v {
                        "true" => true,
                        "false" | "" => false,
                        _ => return Err(QueryError::new(name, "must be true or false")),
                    };
                }
                "per_page" => {
                    q.per_page = v
                        .parse::<u32>()
                        .ok()
                        .filter(|p| (1..=MAX_PER_PAGE).contains(p))
                        .ok_or_else(|| {
                            QueryError::new(
                                name,
                                format!("must be a whole number from 1 to {MAX_PER_PAGE}"),
                            )
                        })?;
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

impl LogDelete {
    /// Parses a delete's query string: the filters as [`LogFilter::from_query_pairs`] reads
    /// them, and `limit`, `order_by`, `order_by_direction` (default: newest first).
    ///
    /// Stricter than a list: a parameter it does not know, or a flat filter or `search` left
    /// empty, is refused rather than ignored, since ignoring it would widen the delete (a
    /// misspelt `filter=`, or `provider=` from an unset variable, would delete every record).
    pub fn from_query_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        for (name, value) in pairs {
            let n = name.as_str();
            let flat = n == "search" || FLAT.iter().any(|(f, _, _)| *f == n);
            if flat && value.trim().is_empty() {
                return Err(QueryError::new(
                    name,
                    "is empty; a delete names the value to match (leave the parameter out to \
                     match every record)",
                ));
            }
            let filters = matches!(n, "filters" | "filters[]");
            if filters && matches!(value.trim(), "" | "[]") {
                return Err(QueryError::new(
                    name,
                    "is empty; a delete names the filters to match (leave the parameter out to \
                     match every record)",
                ));
            }
            let known = flat
                || filters
                || n.starts_with("filters.")
                || n.starts_with("filters[")
                || matches!(n, "limit" | "order_by" | "order_by_direction" | "direction");
            if !known {
                return Err(QueryError::new(
                    name,
                    "is not a parameter of a delete (filters, the flat filters, search, limit, \
                     order_by, order_by_direction)",
                ));
            }
        }
        let filter = LogFilter::from_query_pairs(pairs)?;
        let (order_by, descending) = parse_order(pairs)?;
        let mut limit = None;
        for (name, value) in pairs {
            let v = value.trim();
            if name == "limit" && !v.is_empty() {
                limit = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| (1..=MAX_DELETE_LIMIT).contains(n))
                        .ok_or_else(|| {
                            QueryError::new(
                                name,
                                format!("must be a whole number from 1 to {MAX_DELETE_LIMIT}"),
                            )
                        })?,
                );
            }
        }
        Ok(LogDelete {
            filter,
            limit,
            order_by,
            descending,
        })
    }
}

/// `order_by` and the direction (`order_by_direction`, else the deprecated `direction`,
/// else descending).
fn parse_order(pairs: &[(String, String)]) -> Result<(OrderBy, bool), QueryError> {
    let mut order_by = OrderBy::CreatedAt;
    let mut direction = None;
    let mut legacy_direction = None;
    for (name, value) in pairs {
        let v = value.trim();
        match name.as_str() {
            "order_by" => {
                order_by = OrderBy::parse(v).ok_or_else(|| {
                    let all: Vec<&str> = OrderBy::ALL.iter().map(|o| o.as_str()).collect();
                    QueryError::new(
                        name,
                        format!(
                            "'{v}' is not sortable; use one of {}, model_type",
                            all.join(", ")
                        ),
                    )
                })?;
            }
            "order_by_direction" => direction = Some(parse_direction(name, v)?),
            "direction" => legacy_direction = Some(parse_direction(name, v)?),
            _ => {}
        }
    }
    Ok((order_by, direction.or(legacy_direction).unwrap_or(true)))
}

fn parse_direction(name: &str, v: &str) -> Result<bool, QueryError> {
    match v.to_ascii_lowercase().as_str() {
        "asc" => Ok(false),
        "desc" => Ok(true),
        _ => Err(QueryError::new(name, "must be 'asc' or 'desc'")),
    }
}

/// Flat params and the condition each one adds.
const FLAT: &[(&str, FilterKey, Op)] = &[
    ("provider", FilterKey::Provider, Op::Eq),
    ("model", FilterKey::Model, Op::Eq),
    (
        "request_content_type",
        FilterKey::RequestContentType,
        Op::Eq,
    ),
    (
        "response_content_type",
        FilterKey::ResponseContentType,
        Op::Eq,
    ),
    ("success", FilterKey::Success, Op::Eq),
    ("cached", FilterKey::Cached, Op::Eq),
    ("feedback", FilterKey::Feedback, Op::Eq),
    ("start_date", FilterKey::CreatedAt, Op::Gte),
    ("end_date", FilterKey::CreatedAt, Op::Lte),
    ("min_cost", FilterKey::Cost, Op::Gte),
    ("max_cost", FilterKey::Cost, Op::Lte),
    ("min_duration", FilterKey::Duration, Op::Gte),
    ("max_duration", FilterKey::Duration, Op::Lte),
    ("min_tokens_in", FilterKey::TokensIn, Op::Gte),
    ("max_tokens_in", FilterKey::TokensIn, Op::Lte),
    ("min_tokens_out", FilterKey::TokensOut, Op::Gte),
    ("max_tokens_out", FilterKey::TokensOut, Op::Lte),
    ("min_total_tokens", FilterKey::Tokens, Op::Gte),
    ("max_total_tokens", FilterKey::Tokens, Op::Lte),
    ("model_type", FilterKey::ModelType, Op::Eq),
];

/// A field of one filter object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Key,
    Operator,
    Value,
}

impl Field {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "key" => Some(Field::Key),
            "operator" => Some(Field::Operator),
            "value" => Some(Field::Value),
            _ => None,
        }
    }
}

/// One filter being assembled from query-string pieces.
#[derive(Debug, Default)]
struct Partial {
    key: Option<String>,
    operator: Option<String>,
    /// (position for sorting, value)
    values: Vec<(usize, String)>,
}

impl LogFilter {
    /// Parses `search`, `filters` (every encoding in the module doc) and the flat params;
    /// other parameters are ignored, so the list's pairs can be passed as they are.
    pub fn from_query_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let mut filter = LogFilter::default();
        // Pieces of the unindexed form, in order.
        let mut flat_pieces: Vec<(Field, &str)> = Vec::new();
        // Pieces of the indexed form, by filter index.
        let mut indexed: BTreeMap<usize, Partial> = BTreeMap::new();

        for (pos, (name, value)) in pairs.iter().enumerate() {
            if name == "search" {
                let s = value.trim();
                filter.search = (!s.is_empty()).then(|| s.to_owned());
                continue;
            }
            if name == "filters" || name == "filters[]" {
                filter.conditions.extend(parse_json_filters(name, value)?);
                continue;
            }
            if let Some(rest) = name.strip_prefix("filters") {
                if rest.starts_with('.') || rest.starts_with('[') {
                    let segs = segments(rest).ok_or_else(|| {
                        QueryError::new(name, "is not a recognised filters encoding")
                    })?;
                    match route_segments(&segs) {
                        Some(Piece::Unindexed(field)) => flat_pieces.push((field, value)),
                        Some(Piece::Indexed(i, field, vi)) => {
                            if i > 1000 {
                                return Err(QueryError::new(name, "filter index is too large"));
                            }
                            let p = indexed.entry(i).or_default();
                            match field {
                                Field::Key => p.key = Some(value.clone()),
                                Field::Operator => p.operator = Some(value.clone()),
                                Field::Value => p
                                    .values
                                    .push((vi.unwrap_or(usize::MAX / 2 + pos), value.clone())),
                            }
                        }
                        None => {
                            return Err(QueryError::new(
                                name,
                                "is not a recognised filters encoding (expected filters.key, \
                                 filters.operator, filters.value or filters[N][key] ...)",
                            ))
                        }
                    }
                    continue;
                }
            }
            if let Some((_, key, op)) = FLAT.iter().find(|(n, _, _)| n == name) {
                let v = value.trim();
                if v.is_empty() {
                    continue;
                }
                let value = normalize_value(*key, *op, Value::String(v.to_owned()))
                    .map_err(|m| QueryError::new(name, m))?;
                filter.conditions.push(Condition {
                    key: *key,
                    op: *op,
                    values: vec![value],
                });
                continue;
            }
        }

        if !flat_pieces.is_empty() {
            for p in group_unindexed(&flat_pieces)? {
                filter.conditions.push(finish("filters", p)?);
            }
        }
        for (i, mut p) in indexed {
            p.values.sort_by_key(|(k, _)| *k);
            filter.conditions.push(finish(&format!("filters[{i}]"), p)?);
        }
        let values: usize = filter.conditions.iter().map(|c| c.values.len()).sum();
        if values > MAX_FILTER_VALUES {
            return Err(QueryError::new(
                "filters",
                format!("at most {MAX_FILTER_VALUES} values in all (got {values})"),
            ));
        }
        if filter.search.as_deref().is_some_and(|s| s.contains('\0')) {
            return Err(QueryError::new(
                "search",
                "must not contain a NUL character",
            ));
        }
        Ok(filter)
    }
}

/// Splits `.a[b][]` into `["a", "b", ""]`.
fn segments(mut rest: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(&r[..end]);
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(&r[..end]);
            rest = &r[end..];
        } else {
            return None;
        }
    }
    Some(out)
}

enum Piece {
    Unindexed(Field),
    /// filter index, field, value index (None for `[]` or a bare repeated name).
    Indexed(usize, Field, Option<usize>),
}

fn route_segments(segs: &[&str]) -> Option<Piece> {
    let value_index = |s: &str| -> Option<Option<usize>> {
        if s.is_empty() {
            Some(None)
        } else {
            s.parse::<usize>().ok().map(Some)
        }
    };
    match segs {
        [field] => Field::parse(field).map(Piece::Unindexed),
        [field, vi] => {
            let f = Field::parse(field);
            match f {
                Some(Field::Value) => value_index(vi).map(|_| Piece::Unindexed(Field::Value)),
                Some(_) => None,
                None => {
                    let i = field.parse::<usize>().ok()?;
                    Field::parse(vi).map(|f| Piece::Indexed(i, f, None))
                }
            }
        }
        [idx, field, vi] => {
            let i = idx.parse::<usize>().ok()?;
            match Field::parse(field)? {
                Field::Value => Some(Piece::Indexed(i, Field::Value, value_index(vi)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Assembles the unindexed pieces: first as consecutive objects (Node's order); if that does
/// not give every filter one key and one operator, as grouped fields (Python's order).
fn group_unindexed(pieces: &[(Field, &str)]) -> Result<Vec<Partial>, QueryError> {
    let mut consecutive: Vec<Partial> = Vec::new();
    let mut ok = true;
    for (i, (field, value)) in pieces.iter().enumerate() {
        let need_new = match (consecutive.last(), field) {
            (None, _) => true,
            (Some(p), Field::Key) => p.key.is_some(),
            _ => false,
        };
        if need_new {
            consecutive.push(Partial::default());
        }
        let Some(cur) = consecutive.last_mut() else {
            break;
        };
        match field {
            Field::Key => cur.key = Some((*value).to_owned()),
            Field::Operator => {
                if cur.operator.is_some() {
                    ok = false;
                    break;
                }
                cur.operator = Some((*value).to_owned());
            }
            Field::Value => cur.values.push((i, (*value).to_owned())),
        }
    }
    if ok
        && consecutive
            .iter()
            .all(|p| p.key.is_some() && p.operator.is_some())
    {
        return Ok(consecutive);
    }

    let keys: Vec<&str> = field_values(pieces, Field::Key);
    let ops: Vec<&str> = field_values(pieces, Field::Operator);
    let values: Vec<&str> = field_values(pieces, Field::Value);
    if keys.is_empty() && !values.is_empty() {
        // A value alone would filter nothing: a list would show everything, a delete delete it.
        return Err(QueryError::new(
            "filters",
            "filters.value without filters.key and filters.operator: every filter needs both",
        ));
    }
    if keys.len() != ops.len() {
        return Err(QueryError::new(
            "filters",
            format!(
                "{} filters.key but {} filters.operator: every filter needs both",
                keys.len(),
                ops.len()
            ),
        ));
    }
    if keys.len() > 1 && !values.is_empty() && values.len() != keys.len() {
        return Err(QueryError::new(
            "filters",
            format!(
                "cannot tell which of the {} filters.value belong to which of the {} filters; \
                 send one value per filter, or send filters as a JSON array",
                values.len(),
                keys.len()
            ),
        ));
    }
    Ok(keys
        .iter()
        .zip(&ops)
        .enumerate()
        .map(|(i, (k, o))| Partial {
            key: Some((*k).to_owned()),
            operator: Some((*o).to_owned()),
            values: if keys.len() == 1 {
                values
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (j, (*v).to_owned()))
                    .collect()
            } else {
                values
                    .get(i)
                    .map(|v| (0, (*v).to_owned()))
                    .into_iter()
                    .collect()
            },
        })
        .collect())
}

fn field_values<'a>(pieces: &[(Field, &'a str)], want: Field) -> Vec<&'a str> {
    pieces
        .iter()
        .filter(|(f, _)| *f == want)
        .map(|(_, v)| *v)
        .collect()
}

fn finish(param: &str, p: Partial) -> Result<Condition, QueryError> {
    let key = p
        .key
        .ok_or_else(|| QueryError::new(param, "a filter has no key"))?;
    let op = p
        .operator
        .ok_or_else(|| QueryError::new(param, format!("the filter on '{key}' has no operator")))?;
    // The query-string encoders drop a `None` value (the Python SDK's way to ask for a
    // missing one) or send it empty (the Node SDK's `qs`), so a filter that arrives without
    // any value, or with an empty one, asks for `null`.
    let values = if p.values.is_empty() {
        vec![Value::Null]
    } else {
        p.values
            .into_iter()
            .map(|(_, v)| {
                if v.is_empty() {
                    Value::Null
                } else {
                    Value::String(v)
                }
            })
            .collect()
    };
    make_condition(param, &key, &op, values)
}

fn parse_json_filters(param: &str, raw: &str) -> Result<Vec<Condition>, QueryError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let parsed: Value = serde_json::from_str(raw).map_err(|e| {
        QueryError::new(
            param,
            format!("must be a JSON array of {{key, operator, value}} objects ({e})"),
        )
    })?;
    let items = match parsed {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(QueryError::new(
                param,
                "must be a JSON array of {key, operator, value} objects",
            ))
        }
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut obj) = item else {
                return Err(QueryError::new(param, "each filter must be a JSON object"));
            };
            let key = match obj.remove("key") {
                Some(Value::String(k)) => k,
                _ => return Err(QueryError::new(param, "each filter needs a string 'key'")),
            };
            let op = match obj.remove("operator") {
                Some(Value::String(o)) => o,
                _ => {
                    return Err(QueryError::new(
                        param,
                        format!("the filter on '{key}' needs a string 'operator'"),
                    ))
                }
            };
            let values = match obj.remove("value") {
                Some(Value::Array(vs)) => vs,
                Some(v) => vec![v],
                None => Vec::new(),
            };
            make_condition(param, &key, &op, values)
        })
        .collect()
}

/// Builds one validated, normalised condition from its API spelling.
pub fn make_condition(
    param: &str,
    key: &str,
    op: &str,
    values: Vec<Value>,
) -> Result<Condition, QueryError> {
    let k = FilterKey::parse(key).ok_or_else(|| {
        let all: Vec<&str> = FilterKey::ALL.iter().map(|k| k.as_str()).collect();
        QueryError::new(
            param,
            format!("unknown filter key '{key}'; use one of {}", all.join(", ")),
        )
    })?;
    let o = Op::parse(op).ok_or_else(|| {
        QueryError::new(
            param,
            format!("unknown operator '{op}' for '{key}'; use eq, neq, contains, lt or gt"),
        )
    })?;
    if !k.kind().allows(o) {
        return Err(QueryError::new(
            param,
            format!("operator '{op}' does not apply to '{key}'"),
        ));
    }
    if values.is_empty() {
        return Err(QueryError::new(
            param,
            format!("the filter on '{key}' needs at least one value"),
        ));
    }
    let values = values
        .into_iter()
        .map(|v| normalize_value(k, o, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| QueryError::new(param, format!("filter on '{key}': {m}")))?;
    Ok(Condition {
        key: k,
        op: o,
        values,
    })
}

/// Checks one value against its key's type and returns it in canonical form (see the module
/// doc). Backends call this too, so conditions built by hand get the same checks.
pub fn normalize_value(key: FilterKey, op: Op, v: Value) -> Result<Value, String> {
    if !key.kind().allows(op) {
        return Err(format!(
            "operator '{}' does not apply to '{}'",
            op.as_str(),
            key.as_str()
        ));
    }
    if matches!(&v, Value::String(s) if s.contains('\0')) {
        return Err("a value must not contain a NUL character".into());
    }
    if key.kind() == KeyKind::Unrecorded {
        return match v {
            Value::Array(_) | Value::Object(_) => Err(format!("expected a single value, got {v}")),
            Value::Null if !matches!(op, Op::Eq | Op::Neq) => {
                Err(format!("null cannot be compared with '{}'", op.as_str()))
            }
            scalar => Ok(scalar),
        };
    }
    if v.is_null() {
        return match (key.kind(), op) {
            (KeyKind::Metadata, _) => Err("null is not a metadata key or value".into()),
            (_, Op::Eq | Op::Neq) => Ok(Value::Null),
            _ => Err(format!("null cannot be compared with '{}'", op.as_str())),
        };
    }
    match key.kind() {
        KeyKind::Text | KeyKind::Metadata => match v {
            Value::String(s) => Ok(Value::String(s)),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(format!("expected text, got {other}")),
        },
        KeyKind::Bool => match &v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            other => Err(format!("expected true or false, got {other}")),
        },
        KeyKind::Number => {
            let n = match &v {
                Value::Number(n) => n.clone(),
                Value::String(s) => parse_number(s.trim())
                    .ok_or_else(|| format!("expected a number, got \"{s}\""))?,
                other => return Err(format!("expected a number, got {other}")),
            };
            match n.as_f64() {
                Some(f) if f.is_finite() => Ok(Value::Number(n)),
                _ => Err(format!("expected a finite number, got {n}")),
            }
        }
        KeyKind::Time => match &v {
            Value::String(s) => parse_micros(s.trim())
                .map(|us| Value::String(format_micros(us)))
                .ok_or_else(|| format!("expected an RFC 3339 timestamp, got \"{s}\"")),
            other => Err(format!("expected an RFC 3339 timestamp, got {other}")),
        },
        KeyKind::Unrecorded => Ok(v),
    }
}

fn parse_number(s: &str) -> Option<serde_json::Number> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

#[cfg(test)]
mod tests;

//! The request log: what the batch writer hands the store, and what the control plane asks.
//!
//! Query types here are plain data, parsed from the control plane's query-string pairs by
//! `from_query_pairs` (see [`crate::params`]), so every backend answers exactly the same
//! questions.
//!
//! # Semantics every backend keeps
//!
//! - **Writes** ([`LogSink::write_batch`]): one transaction per batch. A record whose id is
//!   already stored for its gateway is ignored (so a retried batch does not duplicate rows).
//!   Caps apply per gateway from the cap carried by each record: `STOP_INSERTING` skips a
//!   record once the gateway holds `max_rows`; `DELETE_OLDEST` inserts, then deletes the
//!   oldest rows beyond `max_rows` (at most [`TRIM_LIMIT_PER_BATCH`] per batch, so lowering a
//!   cap a long way converges over a few batches instead of stalling one). The stored row
//!   count of each gateway is kept in a counter updated in the same transaction (and by
//!   [`LogQuery::delete_logs`]), never by counting the table.
//! - **Filters**: conditions are ANDed; the values of one condition are alternatives: `eq`,
//!   `contains`, `lt`, `gt` (and the flat params' `gte`, `lte`) match when any value does,
//!   `neq` when the field differs from every value (a missing field differs from everything).
//!   A `null` value means "missing" (`eq null` = IS NULL). `contains` and `search` are
//!   case-insensitive substring matches. `feedback` treats "none" as 0 (Cloudflare: 0 = not
//!   evaluated). `metadata.key eq K`: the record's metadata has key K; `metadata.value eq V`:
//!   some metadata value, as text (`true`, `42`, `x`), equals V; `neq` negates, `contains`
//!   matches a substring of some key/value. `tokens` is `tokens_in + tokens_out` (missing = 0).
//! - **Ordering**: by the chosen column, then `created_at`, then `id`, all in the chosen
//!   direction, so pages are stable. A missing value sorts lowest (feedback: none is 0).
//! - **Deletes** ([`LogQuery::delete_logs_limited`]): the matching rows, or the first `limit`
//!   of them in the list order the delete names; the gateway's row counter drops by as many.
//! - **Fields Switchyard does not record** (Cloudflare's `model_type`, `authentication`,
//!   `wholesale`, `compatibilityMode`, `dlp_action`): accepted as filter keys, because the
//!   official SDKs offer them, and treated as missing on every row: see
//!   [`KeyKind::Unrecorded`]. `order_by=model_type` orders by model.
//! - **Analytics** come from a rollup kept by `write_batch` (per gateway × minute and × hour ×
//!   provider × model counters, plus a log-scale latency histogram; see `rollup.rs`), never
//!   from the log rows. They count every record handed to `write_batch`, including those a
//!   `STOP_INSERTING` cap skipped, and are *not* reduced when rows are deleted (by
//!   `delete_logs` or `DELETE_OLDEST`): like Cloudflare's analytics, they describe traffic,
//!   not the stored log. Buckets are UTC; the range `[start, end)` selects the minutes that
//!   start inside it (so it is exact for minute-aligned bounds). p50/p95 are estimated from
//!   the histogram (buckets 2^(1/8) wide: within about 5 % of the exact value).

use crate::StoreError;
use async_trait::async_trait;
use switchyard_core::{AccountId, GatewayId, LogRecord, LogStrategy};

/// The most rows one batch deletes to bring a `DELETE_OLDEST` gateway back under its cap.
pub const TRIM_LIMIT_PER_BATCH: u64 = 50_000;

/// A gateway's cap on stored rows (`log_management`), as it stood when the request ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCap {
    pub max_rows: u64,
    pub strategy: LogStrategy,
}

/// A record waiting to be written.
#[derive(Debug, Clone)]
pub struct PendingLog {
    pub record: LogRecord,
    pub cap: Option<LogCap>,
    /// Whether the record is stored as a log row. A request whose log is not collected
    /// (`collect_logs` off, `cf-aig-collect-log: false`) still counts in analytics: its
    /// record only feeds the rollups.
    pub keep_row: bool,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub written: u64,
    /// Refused by a `STOP_INSERTING` cap.
    pub skipped: u64,
}

/// A filter operator of the logs API. `Gte` and `Lte` are not accepted in `filters`; they
/// come from the flat `min_*`, `max_*`, `start_date` and `end_date` params.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Contains,
    Lt,
    Gt,
    Gte,
    Lte,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Contains => "contains",
            Op::Lt => "lt",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lte => "lte",
        }
    }

    /// The operators a `filters` entry may name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "eq" => Some(Op::Eq),
            "neq" => Some(Op::Neq),
            "contains" => Some(Op::Contains),
            "lt" => Some(Op::Lt),
            "gt" => Some(Op::Gt),
            _ => None,
        }
    }
}

/// A field the logs API filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKey {
    Id,
    CreatedAt,
    Provider,
    Model,
    Success,
    Cached,
    Cost,
    TokensIn,
    TokensOut,
    Duration,
    Feedback,
    EventId,
    MetadataKey,
    MetadataValue,
    StatusCode,
    RequestType,
    RequestContentType,
    ResponseContentType,
    UserAgent,
    /// `tokens_in + tokens_out`.
    Tokens,
    /// Cloudflare's `model_type`, `authentication`, `wholesale`, `compatibilityMode` and
    /// `dlp_action`: accepted because the official SDKs send them, but Switchyard records none
    /// of them, so every row lacks them (see [`KeyKind::Unrecorded`]).
    ModelType,
    Authentication,
    Wholesale,
    CompatibilityMode,
    DlpAction,
}

/// What kind of value a [`FilterKey`] compares, which decides the operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// eq, neq, contains.
    Text,
    /// eq, neq.
    Bool,
    /// eq, neq, lt, gt (and gte, lte).
    Number,
    /// An RFC 3339 timestamp: eq, neq, lt, gt (and gte, lte).
    Time,
    /// `metadata.key` / `metadata.value`: eq, neq, contains.
    Metadata,
    /// A Cloudflare field Switchyard does not record: every operator, any scalar value. No row
    /// has the field, so `eq`, `contains`, `lt`, `gt` (`gte`, `lte`) match no row and `neq`
    /// matches every row; a `null` value means "missing", as everywhere, so `eq null` matches
    /// every row and `neq null` none.
    Unrecorded,
}

impl KeyKind {
    pub fn allows(self, op: Op) -> bool {
        match self {
            KeyKind::Text | KeyKind::Metadata => matches!(op, Op::Eq | Op::Neq | Op::Contains),
            KeyKind::Bool => matches!(op, Op::Eq | Op::Neq),
            KeyKind::Number | KeyKind::Time => !matches!(op, Op::Contains),
            KeyKind::Unrecorded => true,
        }
    }
}

impl FilterKey {
    /// Every key, for docs and tests.
    pub const ALL: [FilterKey; 25] = [
        FilterKey::Id,
        FilterKey::CreatedAt,
        FilterKey::Provider,
        FilterKey::Model,
        FilterKey::Success,
        FilterKey::Cached,
        FilterKey::Cost,
        FilterKey::TokensIn,
        FilterKey::TokensOut,
        FilterKey::Duration,
        FilterKey::Feedback,
        FilterKey::EventId,
        FilterKey::MetadataKey,
        FilterKey::MetadataValue,
        FilterKey::StatusCode,
        FilterKey::RequestType,
        FilterKey::RequestContentType,
        FilterKey::ResponseContentType,
        FilterKey::UserAgent,
        FilterKey::Tokens,
        FilterKey::ModelType,
        FilterKey::Authentication,
        FilterKey::Wholesale,
        FilterKey::CompatibilityMode,
        FilterKey::DlpAction,
    ];

    /// The key's name in the logs API.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterKey::Id => "id",
            FilterKey::CreatedAt => "created_at",
            FilterKey::Provider => "provider",
            FilterKey::Model => "model",
            FilterKey::Success => "success",
            FilterKey::Cached => "cached",
            FilterKey::Cost => "cost",
            FilterKey::TokensIn => "tokens_in",
            FilterKey::TokensOut => "tokens_out",
            FilterKey::Duration => "duration",
            FilterKey::Feedback => "feedback",
            FilterKey::EventId => "event_id",
            FilterKey::MetadataKey => "metadata.key",
            FilterKey::MetadataValue => "metadata.value",
            FilterKey::StatusCode => "status_code",
            FilterKey::RequestType => "request_type",
            FilterKey::RequestContentType => "request_content_type",
            FilterKey::ResponseContentType => "response_content_type",
            FilterKey::UserAgent => "user_agent",
            FilterKey::Tokens => "tokens",
            FilterKey::ModelType => "model_type",
            FilterKey::Authentication => "authentication",
            FilterKey::Wholesale => "wholesale",
            FilterKey::CompatibilityMode => "compatibilityMode",
            FilterKey::DlpAction => "dlp_action",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        FilterKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn kind(self) -> KeyKind {
        match self {
            FilterKey::Id
            | FilterKey::Provider
            | FilterKey::Model
            | FilterKey::EventId
            | FilterKey::RequestType
            | FilterKey::RequestContentType
            | FilterKey::ResponseContentType
            | FilterKey::UserAgent => KeyKind::Text,
            FilterKey::Success | FilterKey::Cached => KeyKind::Bool,
            FilterKey::Cost
            | FilterKey::TokensIn
            | FilterKey::TokensOut
            | FilterKey::Duration
            | FilterKey::Feedback
            | FilterKey::StatusCode
            | FilterKey::Tokens => KeyKind::Number,
            FilterKey::CreatedAt => KeyKind::Time,
            FilterKey::MetadataKey | FilterKey::MetadataValue => KeyKind::Metadata,
            FilterKey::ModelType
            | FilterKey::Authentication
            | FilterKey::Wholesale
            | FilterKey::CompatibilityMode
            | FilterKey::DlpAction => KeyKind::Unrecorded,
        }
    }
}

/// One `{key, operator, value: [...]}`; several values are alternatives (OR).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: FilterKey,
    pub op: Op,
    pub values: Vec<serde_json::Value>,
}

/// All conditions must hold (AND); `search` matches id, provider, model, path, event id or a
/// metadata key or value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub conditions: Vec<Condition>,
    pub search: Option<String>,
}

/// Sort column of the logs list (and of a limited delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    #[default]
    CreatedAt,
    Provider,
    Model,
    Success,
    Cached,
    Cost,
    Duration,
    TokensIn,
    TokensOut,
    /// None sorts as 0, between -1 and 1 (as the filter treats it).
    Feedback,
}

impl OrderBy {
    pub const ALL: [OrderBy; 10] = [
        OrderBy::CreatedAt,
        OrderBy::Provider,
        OrderBy::Model,
        OrderBy::Success,
        OrderBy::Cached,
        OrderBy::Cost,
        OrderBy::Duration,
        OrderBy::TokensIn,
        OrderBy::TokensOut,
        OrderBy::Feedback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderBy::CreatedAt => "created_at",
            OrderBy::Provider => "provider",
            OrderBy::Model => "model",
            OrderBy::Success => "success",
            OrderBy::Cached => "cached",
            OrderBy::Cost => "cost",
            OrderBy::Duration => "duration",
            OrderBy::TokensIn => "tokens_in",
            OrderBy::TokensOut => "tokens_out",
            OrderBy::Feedback => "feedback",
        }
    }

    /// Also takes Cloudflare's `model_type`, which orders by model: Switchyard records no
    /// model type, and the model decides it.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "model_type" {
            return Some(OrderBy::Model);
        }
        OrderBy::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// `GET .../logs`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogListQuery {
    pub filter: LogFilter,
    pub order_by: OrderBy,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
    /// Cloudflare's `meta_info`: also compute [`LogMeta`] over every matching record.
    pub meta_info: bool,
}

impl Default for LogListQuery {
    /// Everything, newest first, first page of [`crate::params::DEFAULT_PER_PAGE`].
    fn default() -> Self {
        Self {
            filter: LogFilter::default(),
            order_by: OrderBy::CreatedAt,
            descending: true,
            page: 1,
            per_page: crate::params::DEFAULT_PER_PAGE,
            meta_info: false,
        }
    }
}

/// `DELETE .../logs`: the matching records, or only the first `limit` of them in the given
/// order (Cloudflare's `limit`, `order_by`, `order_by_direction`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogDelete {
    pub filter: LogFilter,
    /// At most this many records (1–[`crate::params::MAX_DELETE_LIMIT`]); `None`: all.
    pub limit: Option<u64>,
    /// Which records count as "first" when `limit` is set; ties are broken by `created_at`,
    /// then `id`, as in a list.
    pub order_by: OrderBy,
    pub descending: bool,
}

impl Default for LogDelete {
    /// Every record (the order, newest first as in a list, only matters with a limit).
    fn default() -> Self {
        Self {
            filter: LogFilter::default(),
            limit: None,
            order_by: OrderBy::CreatedAt,
            descending: true,
        }
    }
}

impl From<LogFilter> for LogDelete {
    fn from(filter: LogFilter) -> Self {
        Self {
            filter,
            ..Self::default()
        }
    }
}

/// One page of records (without bodies and headers) and the total matching count.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub records: Vec<LogRecord>,
    pub total_count: u64,
    /// Asked for with [`LogListQuery::meta_info`].
    pub meta: Option<LogMeta>,
}

/// The ranges of every record a list's filters match (not only the page's): Cloudflare's
/// `meta_info`. Records without token counts are left out of the token ranges; a range
/// nothing falls in is 0 to 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogMeta {
    pub min_cost: f64,
    pub max_cost: f64,
    pub min_duration: i64,
    pub max_duration: i64,
    pub min_tokens_in: i64,
    pub max_tokens_in: i64,
    pub min_tokens_out: i64,
    pub max_tokens_out: i64,
    pub min_total_tokens: i64,
    pub max_total_tokens: i64,
}

/// `PATCH .../logs/{id}`: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogPatch {
    pub feedback: Option<Option<i8>>,
    pub score: Option<Option<f64>>,
    pub metadata: Option<Option<serde_json::Map<String, serde_json::Value>>>,
}

/// Time bucket of the analytics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    /// Length in minutes.
    pub fn minutes(self) -> i64 {
        match self {
            Bucket::Minute => 1,
            Bucket::Hour => 60,
            Bucket::Day => 1440,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" => Some(Bucket::Minute),
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }
}

/// Optional grouping of the analytics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Provider,
    Model,
}

/// `GET .../analytics`: `[start, end)` as RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsQuery {
    pub start: String,
    pub end: String,
    pub bucket: Bucket,
    pub group_by: Vec<GroupBy>,
}

/// One bucket (and group) of the analytics answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AnalyticsRow {
    /// RFC 3339 UTC start of the bucket.
    pub bucket: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub cache_hits: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: f64,
    /// Milliseconds.
    pub latency_p50: f64,
    pub latency_p95: f64,
}

/// Where the batch writer puts records.
#[async_trait]
pub trait LogSink: Send + Sync + 'static {
    /// Writes one batch in one transaction (see the module doc for caps and duplicates).
    /// Bodies and headers are stored beside the row and only read by `get_log`.
    async fn write_batch(&self, batch: &[PendingLog]) -> Result<WriteOutcome, StoreError>;
}

/// What the control plane asks of the log.
#[async_trait]
pub trait LogQuery: Send + Sync + 'static {
    /// One page of matching records, without headers and bodies, and the total match count.
    async fn list_logs(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        query: &LogListQuery,
    ) -> Result<LogPage, StoreError>;

    /// One record with its headers and bodies.
    async fn get_log(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        id: &str,
    ) -> Result<Option<LogRecord>, StoreError>;

    /// Applies `patch` to one record; returns the updated record (with headers and bodies),
    /// or `None` if there is no such record.
    async fn patch_log(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        id: &str,
        patch: &LogPatch,
    ) -> Result<Option<LogRecord>, StoreError>;

    /// Deletes every matching record; returns how many.
    async fn delete_logs(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        filter: &LogFilter,
    ) -> Result<u64, StoreError> {
        self.delete_logs_limited(account, gateway, &LogDelete::from(filter.clone()))
            .await
    }

    /// Deletes the matching records, only the first `limit` of them in the given order when
    /// a limit is set; returns how many.
    async fn delete_logs_limited(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        delete: &LogDelete,
    ) -> Result<u64, StoreError>;

    /// Rows ordered by bucket, then provider, then model; buckets without traffic are absent.
    async fn analytics(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        query: &AnalyticsQuery,
    ) -> Result<Vec<AnalyticsRow>, StoreError>;
}

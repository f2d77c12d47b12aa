//! The request log: what the batch writer hands the store, and what the control plane asks.
//!
//! Query types here are plain data, parsed from the control plane's query-string pairs by
//! `from_query_pairs`, so every backend answers exactly the same questions.

use crate::StoreError;
use async_trait::async_trait;
use switchyard_core::{AccountId, GatewayId, LogRecord, LogStrategy};

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
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub written: u64,
    /// Refused by a `STOP_INSERTING` cap.
    pub skipped: u64,
}

/// A filter operator of the logs API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Contains,
    Lt,
    Gt,
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
}

/// One `{key, operator, value: [...]}`; several values are alternatives (OR).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: FilterKey,
    pub op: Op,
    pub values: Vec<serde_json::Value>,
}

/// All conditions must hold (AND); `search` matches id, provider, model, path or event id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub conditions: Vec<Condition>,
    pub search: Option<String>,
}

/// Sort column of the logs list.
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
}

/// One page of records (without bodies and headers) and the total matching count.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub records: Vec<LogRecord>,
    pub total_count: u64,
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
    async fn write_batch(&self, batch: &[PendingLog]) -> Result<WriteOutcome, StoreError>;
}

/// What the control plane asks of the log.
#[async_trait]
pub trait LogQuery: Send + Sync + 'static {
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
    ) -> Result<u64, StoreError>;

    async fn analytics(
        &self,
        account: &AccountId,
        gateway: &GatewayId,
        query: &AnalyticsQuery,
    ) -> Result<Vec<AnalyticsRow>, StoreError>;
}

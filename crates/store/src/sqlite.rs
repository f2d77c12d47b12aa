//! The SQLite backend: one file in WAL mode, migrations from `migrations/sqlite`.

use crate::{GatewayStore, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use switchyard_core::{
    AccountId, Backoff, GatewayId, GatewaySettings, LogStrategy, RateLimitTechnique,
};

/// A pool over one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH` or `sqlite::memory:`).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

const COLUMNS: &str = "account_id, id, cache_ttl, cache_invalidate_on_update, collect_logs, \
    rate_limiting_interval, rate_limiting_limit, rate_limiting_technique, authentication, \
    log_management, log_management_strategy, retry_max_attempts, retry_delay, retry_backoff, \
    created_at, modified_at";

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} = '{v}'"))
}

fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<GatewaySettings, StoreError> {
    let account: String = row.try_get("account_id")?;
    let id: String = row.try_get("id")?;
    let technique: String = row.try_get("rate_limiting_technique")?;
    let strategy: String = row.try_get("log_management_strategy")?;
    let backoff: String = row.try_get("retry_backoff")?;
    let log_management: Option<i64> = row.try_get("log_management")?;
    Ok(GatewaySettings {
        account_id: AccountId::parse(&account).map_err(|_| corrupt("account_id", &account))?,
        id: GatewayId::parse(&id).map_err(|_| corrupt("id", &id))?,
        cache_ttl: row.try_get::<i64, _>("cache_ttl")?.max(0) as u64,
        cache_invalidate_on_update: row.try_get("cache_invalidate_on_update")?,
        collect_logs: row.try_get("collect_logs")?,
        rate_limiting_interval: row.try_get::<i64, _>("rate_limiting_interval")?.max(0) as u64,
        rate_limiting_limit: row.try_get::<i64, _>("rate_limiting_limit")?.max(0) as u64,
        rate_limiting_technique: RateLimitTechnique::parse(&technique)
            .ok_or_else(|| corrupt("rate_limiting_technique", &technique))?,
        authentication: row.try_get("authentication")?,
        log_management: log_management.map(|v| v.max(0) as u64),
        log_management_strategy: LogStrategy::parse(&strategy)
            .ok_or_else(|| corrupt("log_management_strategy", &strategy))?,
        retry_max_attempts: row.try_get::<i64, _>("retry_max_attempts")?.clamp(1, 5) as u32,
        retry_delay: row.try_get::<i64, _>("retry_delay")?.max(0) as u64,
        retry_backoff: Backoff::parse(&backoff)
            .ok_or_else(|| corrupt("retry_backoff", &backoff))?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
    })
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Binds every column of `g` in `COLUMNS` order.
fn bind_all<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    g: &'q GatewaySettings,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(g.account_id.as_str())
        .bind(g.id.as_str())
        .bind(i(g.cache_ttl))
        .bind(g.cache_invalidate_on_update)
        .bind(g.collect_logs)
        .bind(i(g.rate_limiting_interval))
        .bind(i(g.rate_limiting_limit))
        .bind(g.rate_limiting_technique.as_str())
        .bind(g.authentication)
        .bind(g.log_management.map(i))
        .bind(g.log_management_strategy.as_str())
        .bind(i64::from(g.retry_max_attempts))
        .bind(i(g.retry_delay))
        .bind(g.retry_backoff.as_str())
        .bind(g.created_at.as_str())
        .bind(g.modified_at.as_str())
}

#[async_trait]
impl GatewayStore for SqliteStore {
    async fn get_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM gateways WHERE account_id = ?1 AND id = ?2");
        let row = sqlx::query(&sql)
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn create_gateway_if_missing(
        &self,
        g: &GatewaySettings,
    ) -> Result<GatewaySettings, StoreError> {
        let sql = format!(
            "INSERT INTO gateways ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
             ON CONFLICT (account_id, id) DO NOTHING"
        );
        bind_all(sqlx::query(&sql), g).execute(&self.pool).await?;
        self.get_gateway(&g.account_id, &g.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("gateway vanished after insert".into()))
    }

    async fn put_gateway(&self, g: &GatewaySettings) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO gateways ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
             ON CONFLICT (account_id, id) DO UPDATE SET \
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
        );
        bind_all(sqlx::query(&sql), g).execute(&self.pool).await?;
        Ok(())
    }

    async fn list_gateways(&self, account: &AccountId) -> Result<Vec<GatewaySettings>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM gateways WHERE account_id = ?1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    async fn delete_gateway(
        &self,
        account: &AccountId,
        id: &GatewayId,
    ) -> Result<Option<GatewaySettings>, StoreError> {
        let existing = self.get_gateway(account, id).await?;
        if existing.is_some() {
            sqlx::query("DELETE FROM gateways WHERE account_id = ?1 AND id = ?2")
                .bind(account.as_str())
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
        }
        Ok(existing)
    }
}

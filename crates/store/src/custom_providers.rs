//! Custom providers defined through the control plane (`custom-{slug}`), per account, on
//! both backends. The SQL is the same for both but for the placeholder style.

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::Row;
use switchyard_core::AccountId;

/// One custom provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomProvider {
    /// Lowercase UUID.
    pub id: String,
    pub account_id: AccountId,
    /// Without the `custom-` prefix.
    pub slug: String,
    pub name: String,
    pub base_url: String,
    pub enable: bool,
    pub description: Option<String>,
    pub link: Option<String>,
    /// Extra headers sent to the provider, as a JSON object sealed by the server (the store
    /// never sees them in the clear).
    pub headers_sealed: Option<Vec<u8>>,
    pub created_at: String,
    pub modified_at: String,
}

#[async_trait]
pub trait CustomProviderStore: Send + Sync + 'static {
    /// `StoreError::Conflict` when the account already has the slug.
    async fn create_custom_provider(&self, p: &CustomProvider) -> Result<(), StoreError>;
    /// Every custom provider of an account, by name.
    async fn list_custom_providers(
        &self,
        account: &AccountId,
    ) -> Result<Vec<CustomProvider>, StoreError>;
    async fn get_custom_provider(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<CustomProvider>, StoreError>;
    async fn find_custom_provider(
        &self,
        account: &AccountId,
        slug: &str,
    ) -> Result<Option<CustomProvider>, StoreError>;
    /// Replaces every field but `id`, `account_id` and `created_at`, if the stored
    /// `modified_at` is still `read_at` (the one read before changing it); false when absent
    /// or changed meanwhile. `StoreError::Conflict` when the new slug is taken.
    async fn update_custom_provider(
        &self,
        p: &CustomProvider,
        read_at: &str,
    ) -> Result<bool, StoreError>;
    async fn delete_custom_provider(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<CustomProvider>, StoreError>;
}

const COLUMNS: &str = "id, account_id, slug, name, base_url, enable, description, link, \
     created_at, modified_at, headers_sealed";

fn row_to<R: Row>(r: &R) -> Result<CustomProvider, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database>,
    for<'q> Option<Vec<u8>>: sqlx::Decode<'q, R::Database>,
    for<'q> Vec<u8>: sqlx::Type<R::Database>,
    for<'q> bool: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let account: String = r.try_get("account_id")?;
    Ok(CustomProvider {
        id: r.try_get("id")?,
        account_id: AccountId::parse(&account)
            .map_err(|_| StoreError::Corrupt(format!("account_id = '{account}'")))?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        base_url: r.try_get("base_url")?,
        enable: r.try_get("enable")?,
        description: r.try_get("description")?,
        link: r.try_get("link")?,
        headers_sealed: r.try_get("headers_sealed")?,
        created_at: r.try_get("created_at")?,
        modified_at: r.try_get("modified_at")?,
    })
}

fn conflict(e: sqlx::Error, slug: &str) -> StoreError {
    StoreError::from_insert(e, || {
        format!("a custom provider with slug '{slug}' already exists")
    })
}

macro_rules! backend {
    ($ty:ty, $pool:ident, $ph:expr) => {
        #[async_trait]
        impl CustomProviderStore for $ty {
            async fn create_custom_provider(&self, p: &CustomProvider) -> Result<(), StoreError> {
                let sql = format!(
                    "INSERT INTO custom_providers ({COLUMNS}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    $ph(1), $ph(2), $ph(3), $ph(4), $ph(5), $ph(6), $ph(7), $ph(8), $ph(9), $ph(10), $ph(11)
                );
                sqlx::query(&sql)
                    .bind(&p.id)
                    .bind(p.account_id.as_str())
                    .bind(&p.slug)
                    .bind(&p.name)
                    .bind(&p.base_url)
                    .bind(p.enable)
                    .bind(&p.description)
                    .bind(&p.link)
                    .bind(&p.created_at)
                    .bind(&p.modified_at)
                    .bind(&p.headers_sealed)
                    .execute(self.$pool())
                    .await
                    .map_err(|e| conflict(e, &p.slug))?;
                Ok(())
            }

            async fn list_custom_providers(&self, account: &AccountId) -> Result<Vec<CustomProvider>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM custom_providers WHERE account_id = {} ORDER BY name, id", $ph(1));
                let rows = sqlx::query(&sql).bind(account.as_str()).fetch_all(self.$pool()).await?;
                rows.iter().map(row_to).collect()
            }

            async fn get_custom_provider(&self, account: &AccountId, id: &str) -> Result<Option<CustomProvider>, StoreError> {
                if crate::unmatchable(id) {
                    return Ok(None);
                }
                let sql = format!("SELECT {COLUMNS} FROM custom_providers WHERE account_id = {} AND id = {}", $ph(1), $ph(2));
                let row = sqlx::query(&sql).bind(account.as_str()).bind(id).fetch_optional(self.$pool()).await?;
                row.as_ref().map(row_to).transpose()
            }

            async fn find_custom_provider(&self, account: &AccountId, slug: &str) -> Result<Option<CustomProvider>, StoreError> {
                if crate::unmatchable(slug) {
                    return Ok(None);
                }
                let sql = format!("SELECT {COLUMNS} FROM custom_providers WHERE account_id = {} AND slug = {}", $ph(1), $ph(2));
                let row = sqlx::query(&sql).bind(account.as_str()).bind(slug).fetch_optional(self.$pool()).await?;
                row.as_ref().map(row_to).transpose()
            }

            async fn update_custom_provider(
                &self,
                p: &CustomProvider,
                read_at: &str,
            ) -> Result<bool, StoreError> {
                let sql = format!(
                    "UPDATE custom_providers SET slug = {}, name = {}, base_url = {}, enable = {}, description = {}, link = {}, modified_at = {}, headers_sealed = {} WHERE account_id = {} AND id = {} AND modified_at = {}",
                    $ph(1), $ph(2), $ph(3), $ph(4), $ph(5), $ph(6), $ph(7), $ph(8), $ph(9), $ph(10), $ph(11)
                );
                let done = sqlx::query(&sql)
                    .bind(&p.slug)
                    .bind(&p.name)
                    .bind(&p.base_url)
                    .bind(p.enable)
                    .bind(&p.description)
                    .bind(&p.link)
                    .bind(&p.modified_at)
                    .bind(&p.headers_sealed)
                    .bind(p.account_id.as_str())
                    .bind(&p.id)
                    .bind(read_at)
                    .execute(self.$pool())
                    .await
                    .map_err(|e| conflict(e, &p.slug))?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_custom_provider(&self, account: &AccountId, id: &str) -> Result<Option<CustomProvider>, StoreError> {
                let found = self.get_custom_provider(account, id).await?;
                if found.is_some() {
                    let sql = format!("DELETE FROM custom_providers WHERE account_id = {} AND id = {}", $ph(1), $ph(2));
                    sqlx::query(&sql).bind(account.as_str()).bind(id).execute(self.$pool()).await?;
                }
                Ok(found)
            }
        }
    };
}

fn sqlite_ph(n: usize) -> String {
    format!("?{n}")
}

fn pg_ph(n: usize) -> String {
    format!("${n}")
}

backend!(SqliteStore, write_pool, sqlite_ph);
backend!(PgStore, pool, pg_ph);

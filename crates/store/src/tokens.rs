//! Gateway authentication tokens: what a client sends in `cf-aig-authorization` when its
//! gateway has `authentication = true`.
//!
//! A token is `sy_` followed by 32 random bytes in unpadded base64url (46 characters in all),
//! made by [`TokenStore::create_token`] and shown to the caller once. The store keeps only its
//! SHA-256 (lowercase hex), under a unique index, and a short preview (`sy_ab…wxyz`) so that
//! people can tell tokens apart; a lookup hashes what the client sent and finds the row by
//! that hash, so nothing compares secrets and nothing can turn a stored row back into a token.
//! Tokens belong to an account (like Cloudflare's API tokens) and are good for every gateway
//! of that account until revoked; revoking deletes the row.

use crate::sql::{placeholders, Dialect};
use crate::StoreError;
use async_trait::async_trait;
use base64::Engine;
use sha2::{Digest, Sha256};
use switchyard_core::AccountId;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "sy_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// Whether `v` has a token's form: the prefix and [`TOKEN_BYTES`] in unpadded base64url. (It may
/// still name no token.)
pub fn has_token_form(v: &str) -> bool {
    v.strip_prefix(TOKEN_PREFIX).is_some_and(|secret| {
        secret.len() == (TOKEN_BYTES * 4).div_ceil(3)
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// One stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Lowercase UUIDv7.
    pub id: String,
    pub account_id: AccountId,
    /// Free text given at creation (a name or a description).
    pub name: Option<String>,
    /// `sy_` and the first two and last four characters of the secret part: `sy_ab…wxyz`.
    pub preview: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// Tokens of the gateway plane, kept hashed.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Makes a new random token for `account`; returns the stored row and the token itself,
    /// which is never available again.
    async fn create_token(
        &self,
        account: &AccountId,
        name: Option<String>,
    ) -> Result<(StoredToken, String), StoreError>;

    /// Every token of an account, oldest first.
    async fn list_tokens(&self, account: &AccountId) -> Result<Vec<StoredToken>, StoreError>;

    /// Deletes one token; returns it if it existed (in this account).
    async fn revoke_token(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<StoredToken>, StoreError>;

    /// The token of `account` whose secret is `token` (exactly as made: the caller strips
    /// `Bearer `), if any.
    async fn find_token(
        &self,
        account: &AccountId,
        token: &str,
    ) -> Result<Option<StoredToken>, StoreError>;
}

/// A fresh token and what is stored of it.
pub(crate) struct NewToken {
    pub row: StoredToken,
    pub hash: String,
    pub plaintext: String,
}

impl NewToken {
    pub fn generate(account: &AccountId, name: Option<String>) -> Result<Self, StoreError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Random(format!("no random bytes for a token: {e}")))?;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let plaintext = format!("{TOKEN_PREFIX}{secret}");
        Ok(Self {
            row: StoredToken {
                id: uuid::Uuid::now_v7().to_string(),
                account_id: account.clone(),
                name,
                preview: preview(&plaintext),
                created_at: switchyard_core::clock::now_rfc3339(),
            },
            hash: token_hash(&plaintext),
            plaintext,
        })
    }
}

/// SHA-256 of the token's UTF-8 bytes, lowercase hex.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `sy_ab…wxyz`: enough to tell tokens apart, far too little to guess one.
fn preview(token: &str) -> String {
    let secret = token.strip_prefix(TOKEN_PREFIX).unwrap_or(token);
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 8 {
        return format!("{TOKEN_PREFIX}…");
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{TOKEN_PREFIX}{head}…{tail}")
}

/// The columns a [`StoredToken`] is read from.
pub(crate) const TOKEN_COLUMNS: &str = "id, account_id, name, preview, created_at";

/// Statements of the token store.
pub(crate) struct TokenSql {
    /// args: id, account, name, token_hash, preview, created_at
    pub insert: String,
    /// args: account
    pub list: String,
    /// args: account, id
    pub delete: String,
    /// args: account, token_hash
    pub find: String,
}

pub(crate) fn token_sql(d: Dialect) -> TokenSql {
    let p: Vec<String> = placeholders(d, 1, 2)
        .split(", ")
        .map(str::to_owned)
        .collect();
    TokenSql {
        insert: format!(
            "INSERT INTO gateway_tokens (id, account_id, name, token_hash, preview, created_at) \
             VALUES ({})",
            placeholders(d, 1, 6)
        ),
        list: format!(
            "SELECT {TOKEN_COLUMNS} FROM gateway_tokens WHERE account_id = {} \
             ORDER BY created_at, id",
            p[0]
        ),
        delete: format!(
            "DELETE FROM gateway_tokens WHERE account_id = {} AND id = {} \
             RETURNING {TOKEN_COLUMNS}",
            p[0], p[1]
        ),
        find: format!(
            "SELECT {TOKEN_COLUMNS} FROM gateway_tokens WHERE token_hash = {} \
             AND account_id = {}",
            p[1], p[0]
        ),
    }
}

/// `impl TokenStore for $store`, reading from `self.$read` and writing to `self.$write`.
macro_rules! impl_token_store {
    ($store:ty, $d:expr, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::tokens::TokenStore for $store {
            async fn create_token(
                &self,
                account: &switchyard_core::AccountId,
                name: Option<String>,
            ) -> Result<($crate::tokens::StoredToken, String), $crate::StoreError> {
                let t = $crate::tokens::NewToken::generate(account, name)?;
                sqlx::query(&$crate::tokens::token_sql($d).insert)
                    .bind(t.row.id.as_str())
                    .bind(account.as_str())
                    .bind(t.row.name.as_deref())
                    .bind(t.hash.as_str())
                    .bind(t.row.preview.as_str())
                    .bind(t.row.created_at.as_str())
                    .execute(&self.$write)
                    .await?;
                Ok((t.row, t.plaintext))
            }

            async fn list_tokens(
                &self,
                account: &switchyard_core::AccountId,
            ) -> Result<Vec<$crate::tokens::StoredToken>, $crate::StoreError> {
                let rows = sqlx::query(&$crate::tokens::token_sql($d).list)
                    .bind(account.as_str())
                    .fetch_all(&self.$read)
                    .await?;
                rows.iter().map($crate::row::token_from_row).collect()
            }

            async fn revoke_token(
                &self,
                account: &switchyard_core::AccountId,
                id: &str,
            ) -> Result<Option<$crate::tokens::StoredToken>, $crate::StoreError> {
                let row = sqlx::query(&$crate::tokens::token_sql($d).delete)
                    .bind(account.as_str())
                    .bind(id)
                    .fetch_optional(&self.$write)
                    .await?;
                row.as_ref().map($crate::row::token_from_row).transpose()
            }

            async fn find_token(
                &self,
                account: &switchyard_core::AccountId,
                token: &str,
            ) -> Result<Option<$crate::tokens::StoredToken>, $crate::StoreError> {
                let hash = $crate::tokens::token_hash(token);
                let row = sqlx::query(&$crate::tokens::token_sql($d).find)
                    .bind(account.as_str())
                    .bind(hash.as_str())
                    .fetch_optional(&self.$read)
                    .await?;
                row.as_ref().map($crate::row::token_from_row).transpose()
            }
        }
    };
}

pub(crate) use impl_token_store;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_previewed() {
        assert!(!has_token_form("sy_short"));
        assert!(!has_token_form(&format!("sy_{}", "a".repeat(42))));
        assert!(!has_token_form(&format!("xx_{}", "a".repeat(43))));
        let a = AccountId::parse("a").unwrap();
        let t1 = NewToken::generate(&a, Some("ci".into())).unwrap();
        let t2 = NewToken::generate(&a, None).unwrap();
        assert_ne!(t1.plaintext, t2.plaintext);
        assert_ne!(t1.hash, t2.hash);
        assert!(t1.plaintext.starts_with("sy_"));
        assert_eq!(t1.plaintext.len(), 3 + 43);
        assert!(t1.plaintext[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let secret = &t1.plaintext[3..];
        assert_eq!(
            t1.row.preview,
            format!("sy_{}…{}", &secret[..2], &secret[secret.len() - 4..])
        );
        assert!(!t1.row.preview.contains(&secret[2..secret.len() - 4]));
        assert_eq!(t1.row.name.as_deref(), Some("ci"));
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn short_or_foreign_strings_preview_without_leaking() {
        assert_eq!(preview("sy_abc"), "sy_…");
        assert_eq!(preview("sy_abcdefghij"), "sy_ab…ghij");
    }
}

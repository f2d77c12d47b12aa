//! Stored gateway tokens (created with `switchyard token create`), checked with a short
//! cache: a token's validity is re-read from the store at most once a second, so a token
//! created or revoked through any replica takes effect everywhere within a second. While the
//! store is unreachable, the answer last read is used whatever its age (see outage.rs).

use sha2::{Digest, Sha256};
use switchyard_core::AccountId;
use switchyard_store::Store;

use crate::outage::{Copies, Held, Outage};

/// (account, SHA-256 of the token).
type Key = (String, [u8; 32]);

/// Validity of (account, token digest), briefly cached.
#[derive(Default)]
pub struct TokenCache {
    copies: Copies<Key, bool>,
}

impl TokenCache {
    /// Whether `token` is a stored token of `account`.
    pub async fn is_valid(
        &self,
        store: &Store,
        outage: &Outage,
        account: &str,
        token: &str,
    ) -> Result<bool, switchyard_store::StoreError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let key = (account.to_owned(), digest);
        let stale = match self.copies.lookup(&key, outage.is_down()) {
            Held::Use(valid) => return Ok(valid),
            Held::Read { stale } => stale,
        };
        let Ok(acct) = AccountId::parse(account) else {
            return Ok(false);
        };
        // A store that cannot answer is not remembered: the next request asks again.
        let valid = match store.find_token(&acct, token).await {
            Ok(found) => found.is_some(),
            Err(e) => return outage.fallback(stale, e),
        };
        self.copies.put(key, valid);
        Ok(valid)
    }
}

//! Stored gateway tokens (created with `switchyard token create`), checked with a short
//! cache: a token's validity is re-read from the store at most once a second, so a token
//! created or revoked through any replica takes effect everywhere within a second. While the
//! store is unreachable, the answer last read is used whatever its age (see outage.rs).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use switchyard_core::AccountId;
use switchyard_store::Store;

use crate::outage::Outage;

const TTL: Duration = Duration::from_secs(1);

/// (account, SHA-256 of the token).
type Key = (String, [u8; 32]);

/// Validity of (account, token digest), briefly cached.
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<Key, (Instant, bool)>>,
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
        let known = self.entries.read().ok().and_then(|m| m.get(&key).copied());
        if let Some((at, valid)) = known {
            if at.elapsed() < TTL || outage.is_down() {
                return Ok(valid);
            }
        }
        let Ok(acct) = AccountId::parse(account) else {
            return Ok(false);
        };
        // A store that cannot answer is not remembered: the next request asks again.
        let valid = match store.find_token(&acct, token).await {
            Ok(found) => found.is_some(),
            Err(e) => {
                outage.saw(&e);
                return match known {
                    Some((_, valid)) if e.is_unavailable() => Ok(valid),
                    _ => Err(e),
                };
            }
        };
        if let Ok(mut map) = self.entries.write() {
            if map.len() > 10_000 {
                map.retain(|_, (at, _)| at.elapsed() < TTL);
            }
            map.insert(key, (Instant::now(), valid));
        }
        Ok(valid)
    }
}

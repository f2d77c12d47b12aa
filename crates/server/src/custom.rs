//! Custom providers from the control plane, resolved per account with a one-second cache
//! (so a change made through any replica is used everywhere within a second). Providers
//! defined in the config's `[providers.custom-*]` tables win over stored ones.

use crate::app::App;
use crate::error::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchyard_core::AccountId;
use switchyard_providers::Provider;

const TTL: Duration = Duration::from_secs(1);

type Entry = (Instant, Option<Arc<Provider>>);

/// Stored custom providers, briefly cached.
#[derive(Default)]
pub struct CustomCache {
    entries: RwLock<HashMap<(String, String), Entry>>,
}

impl CustomCache {
    /// Forgets everything (a custom provider changed here).
    pub fn clear(&self) {
        if let Ok(mut m) = self.entries.write() {
            m.clear();
        }
    }
}

/// The provider a slug names for `account`: the catalog's, else an enabled stored
/// `custom-{name}`.
pub async fn provider(
    app: &App,
    account: &str,
    slug: &str,
) -> Result<Option<Arc<Provider>>, ApiError> {
    if let Some(p) = app.catalog().get(slug) {
        return Ok(Some(p.clone()));
    }
    let Some(name) = slug.strip_prefix("custom-").filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let key = (account.to_owned(), name.to_owned());
    if let Ok(m) = app.customs().entries.read() {
        if let Some((at, p)) = m.get(&key) {
            if at.elapsed() < TTL {
                return Ok(p.clone());
            }
        }
    }
    let Ok(acct) = AccountId::parse(account) else {
        return Ok(None);
    };
    let stored = app
        .store()
        .find_custom_provider(&acct, name)
        .await
        .map_err(|e| crate::error::storage_failed("reading custom providers", &e))?;
    let resolved = match stored {
        Some(c) if c.enable => match Provider::custom(&c.slug, &c.base_url) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                tracing::warn!(error = %e, "a stored custom provider is invalid");
                None
            }
        },
        _ => None,
    };
    if let Ok(mut m) = app.customs().entries.write() {
        if m.len() > 10_000 {
            m.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        m.insert(key, (Instant::now(), resolved.clone()));
    }
    Ok(resolved)
}

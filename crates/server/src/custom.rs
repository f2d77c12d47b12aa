//! Custom providers from the control plane, resolved per account with a one-second cache
//! (so a change made through any replica is used everywhere within a second; while the store
//! is unreachable, the copy held is used whatever its age: see outage.rs). Providers
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
    let known = app
        .customs()
        .entries
        .read()
        .ok()
        .and_then(|m| m.get(&key).cloned());
    if let Some((at, p)) = &known {
        if at.elapsed() < TTL || app.outage().is_down() {
            return Ok(p.clone());
        }
    }
    let Ok(acct) = AccountId::parse(account) else {
        return Ok(None);
    };
    let stored = match app.store().find_custom_provider(&acct, name).await {
        Ok(stored) => stored,
        Err(e) => {
            app.outage().saw(&e);
            return match known {
                Some((_, p)) if e.is_unavailable() => Ok(p),
                _ => Err(crate::error::storage_failed("reading custom providers", &e).into()),
            };
        }
    };
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

//! Custom providers from the control plane, resolved per account with a one-second cache
//! (so a change made through any replica is used everywhere within a second; while the store
//! is unreachable, the copy held is used whatever its age: see outage.rs). Providers
//! defined in the config's `[providers.custom-*]` tables win over stored ones.

use crate::app::App;
use crate::error::ApiError;
use crate::outage::{Copies, Held};
use std::sync::Arc;
use switchyard_core::AccountId;
use switchyard_providers::Provider;

/// Stored custom providers by (account, name), briefly cached.
pub type CustomCache = Copies<(String, String), Option<Arc<Provider>>>;

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
    let stale = match app.customs().lookup(&key, app.outage().is_down()) {
        Held::Use(p) => return Ok(p),
        Held::Read { stale } => stale,
    };
    let Ok(acct) = AccountId::parse(account) else {
        return Ok(None);
    };
    let stored = match app.store().find_custom_provider(&acct, name).await {
        Ok(stored) => stored,
        Err(e) => {
            return app
                .outage()
                .fallback(stale, e)
                .map_err(|e| crate::error::storage_failed("reading custom providers", &e).into())
        }
    };
    let resolved = match stored {
        Some(c) if c.enable => {
            // Headers sealed with another secret key (a key file made anew, another
            // replica's key) would leave the provider without what it needs: said, not
            // taken for an unknown provider, and not kept, so the right key mends it at once.
            let headers = crate::control::custom_providers::open_headers(
                app.secrets(),
                c.headers_sealed.as_deref(),
            )
            .map_err(|e| {
                tracing::error!(error = %e, provider = %c.slug, "a custom provider's headers cannot be decrypted");
                ApiError::new(
                    switchyard_core::ErrorKind::Internal,
                    format!(
                        "the headers of custom provider 'custom-{}' cannot be decrypted: give this \
                         instance the secret_key they were stored with",
                        c.slug
                    ),
                )
            })?;
            match resolve(&c, headers) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    tracing::warn!(error = %e, "a stored custom provider is invalid");
                    None
                }
            }
        }
        _ => None,
    };
    app.customs().put(key, resolved.clone());
    Ok(resolved)
}

/// A stored custom provider as a provider: its URL and its (opened) headers.
fn resolve(
    c: &switchyard_store::CustomProvider,
    headers: std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Provider> {
    let mut p = Provider::custom(&c.slug, &c.base_url)?;
    for (name, value) in headers {
        p.headers.push((
            http::HeaderName::from_bytes(name.as_bytes())?,
            http::HeaderValue::from_str(&value)?,
        ));
    }
    Ok(p)
}

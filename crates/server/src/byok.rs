//! Stage 4b: stored provider keys. When a call carries no provider credential, the key stored
//! for (gateway, provider, alias) goes into the header the provider expects. The alias is
//! `cf-aig-byok-alias`; naming an alias that does not exist is 400 code 2040. Without one, the
//! key with alias `default` is used (SPEC 2.4; a config `[[provider_keys]]` entry first), and
//! when the provider has none, the newest stored key marked `default_config`.
//!
//! Keys come from the config's `[[provider_keys]]` first, then from the store. Store lookups
//! are cached for one second, so a key added or removed through any replica is used
//! everywhere within a second, and a busy gateway reads the store once a second at most.
//! While the store is unreachable, the lookup last made is used whatever its age (see
//! outage.rs).

use crate::app::App;
use crate::error::ApiError;
use crate::outage::{Copies, Held};
use crate::shape::Call;
use switchyard_core::{ErrorKind, GatewaySettings, Secret};
use switchyard_providers::AuthStyle;

type Key = (String, String, String, String);

/// Decrypted stored keys, briefly cached.
pub type KeyCache = Copies<Key, Option<Secret>>;

/// The stored key for `alias`, or with `None` the gateway's default key for `provider`.
async fn lookup(
    app: &App,
    gateway: &GatewaySettings,
    provider: &str,
    alias: Option<&str>,
) -> Result<Option<Secret>, ApiError> {
    if let Some(k) = app.config().provider_keys.iter().find(|k| {
        k.account_id == gateway.account_id
            && k.gateway_id == gateway.id
            && k.provider == provider
            && k.alias == alias.unwrap_or("default")
    }) {
        return Ok(Some(k.key.clone()));
    }
    let key = (
        gateway.account_id.to_string(),
        gateway.id.to_string(),
        provider.to_owned(),
        // No alias can be empty: this entry is the default key's.
        alias.unwrap_or("").to_owned(),
    );
    let stale = match app.keys().lookup(&key, app.outage().is_down()) {
        Held::Use(secret) => return Ok(secret),
        Held::Read { stale } => stale,
    };
    let (a, g) = (&gateway.account_id, &gateway.id);
    let stored = match alias {
        Some(alias) => app.store().find_key(a, g, provider, alias).await,
        None => app.store().find_default_key(a, g, provider).await,
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) => {
            return app.outage().fallback(stale, e).map_err(|e| {
                crate::error::storage_failed("reading a stored provider key", &e).into()
            })
        }
    };
    let secret = match stored {
        None => None,
        Some(k) => match app.secrets().open(&k.secret_ciphertext) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, key_id = %k.id, "a stored provider key cannot be decrypted (was secret_key changed?)");
                return Err(ApiError::new(
                    ErrorKind::Internal,
                    "the stored provider key cannot be decrypted",
                ));
            }
        },
    };
    app.keys().put(key, secret.clone());
    Ok(secret)
}

/// Whether the client sent its own key in a header other than its provider's (an OAuth
/// bearer token to Anthropic, say), or in Google's `key` query parameter: a stored key added
/// beside it would send two. A gateway token in such a header was removed before this stage.
fn carries_other_credential(call: &Call) -> bool {
    AuthStyle::KEY_HEADERS
        .iter()
        .any(|h| call.headers.contains_key(h))
        || (call.provider.auth == AuthStyle::XGoogApiKey
            && call.uri.query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == "key")
            }))
}

/// Adds the stored key to `call` when it carries no credential of its own. An alias the
/// client names must exist either way (400/2040 otherwise), even when its own key is used.
pub async fn apply(
    app: &App,
    gateway: &GatewaySettings,
    alias: Option<&str>,
    call: &mut Call,
) -> Result<(), ApiError> {
    let header = call.provider.auth.header();
    let own_key = call.headers.contains_key(&header) || carries_other_credential(call);
    if own_key && alias.is_none() {
        return Ok(());
    }
    let found = lookup(app, gateway, &call.provider.slug, alias).await?;
    if own_key && found.is_some() {
        // The client's own key wins over a stored one.
        return Ok(());
    }
    match found {
        Some(secret) => {
            let value = call.provider.auth.value(secret.expose()).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Internal,
                    "the stored provider key is not a valid header value",
                )
            })?;
            call.headers.insert(header, value);
            Ok(())
        }
        None if alias.is_some() => Err(ApiError::new(
            ErrorKind::UnknownKeyAlias,
            format!(
                "no stored key for provider '{}' with alias '{}'",
                call.provider.slug,
                alias.unwrap_or_default()
            ),
        )),
        None => Ok(()),
    }
}

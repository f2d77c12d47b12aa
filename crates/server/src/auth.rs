//! Stage 5: gateway authentication (`authentication = true`, SPEC 2.4).
//!
//! A token is valid for an account when it is one of the config's `[[tokens]]` for that
//! account (compared in constant time) or a stored token (kept hashed, made with
//! `switchyard token create`; see [`crate::tokens`]). The token comes from
//! `cf-aig-authorization`, else from the provider's own auth header (or, failing that,
//! another provider key header): a key header that holds a valid gateway token is removed,
//! whether or not `cf-aig-authorization` came too, so the stored provider key takes its place
//! (as Cloudflare's BYOK docs do) and the token never reaches the provider.

use crate::app::App;
use crate::error::ApiError;
use crate::shape::{self, Call};
use http::HeaderMap;
use switchyard_core::{ErrorKind, GatewaySettings};
use switchyard_providers::{AuthStyle, Provider};
use switchyard_store::tokens::TOKEN_PREFIX;

/// Whether `token` is a valid gateway token for `account` (503 when the stored tokens cannot
/// be read).
pub async fn is_valid(app: &App, account: &str, token: &str) -> Result<bool, ApiError> {
    if token.is_empty() {
        return Ok(false);
    }
    let mut found = false;
    for t in &app.config().tokens {
        // Every configured token is compared, so timing says nothing about which matched.
        let same = crate::control::constant_time_eq(t.value.expose().as_bytes(), token.as_bytes());
        found |= same && t.account_id.as_str() == account;
    }
    if found {
        return Ok(true);
    }
    // Every stored token has the prefix: anything else (a provider key, most often) is
    // answered without hashing it or asking the store.
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(false);
    }
    app.tokens()
        .is_valid(app.store(), app.outage(), account, token)
        .await
        .map_err(|e| crate::error::storage_failed("reading gateway tokens", &e).into())
}

/// [`is_valid`], for a gateway that `required` authentication or not: stored tokens that
/// cannot be read make one that requires it answer 503; any other goes on (a provider key in
/// the credential slot is the usual case there).
async fn checked(app: &App, required: bool, account: &str, token: &str) -> Result<bool, ApiError> {
    match is_valid(app, account, token).await {
        Err(e) if required => Err(e),
        found => Ok(found.unwrap_or(false)),
    }
}

/// Removes every gateway token from a call's provider key headers: its provider's own auth
/// header (in its own scheme, or as a bearer token) and the other key headers (an Anthropic
/// SDK pointed at an OpenAI-shaped provider sends its key as `x-api-key`). A value equal to
/// `known` (the call's own valid gateway token) is one without a lookup. A value in a stored
/// token's form that cannot be checked (the store is unreadable) is removed too, but does not
/// count. Whether a valid token was found.
async fn take_slot_tokens(
    app: &App,
    required: bool,
    account: &str,
    known: Option<&str>,
    provider: &Provider,
    headers: &mut HeaderMap,
) -> Result<bool, ApiError> {
    let own = provider.auth.header();
    let others = AuthStyle::KEY_HEADERS;
    let mut found = false;
    let mut remove = Vec::new();
    for name in std::iter::once(&own).chain(others.iter().filter(|n| **n != own)) {
        let value = if *name == own {
            shape::slot_credential(provider, headers)
                .or_else(|| shape::other_credential(name, headers))
        } else {
            shape::other_credential(name, headers)
        };
        let Some(value) = value else { continue };
        let token = if Some(value) == known {
            true
        } else {
            match is_valid(app, account, value).await {
                Ok(valid) => valid,
                Err(e) if required => return Err(e),
                Err(_) => {
                    if value.starts_with(TOKEN_PREFIX) {
                        remove.push(name.clone());
                    }
                    continue;
                }
            }
        };
        if token {
            found = true;
            remove.push(name.clone());
        }
    }
    for name in remove {
        headers.remove(name);
    }
    Ok(found)
}

/// Checks the gateway credential of every call; strips provider-slot gateway tokens.
///
/// A call's token is its step's `cf-aig-authorization` (universal), else the request's; a
/// call with neither may carry its gateway token in a provider key header instead. Gateway
/// tokens in key headers are taken out of every call either way. With `authentication =
/// true` every call must hold a valid one, so nothing is sent unless the whole request is
/// allowed.
pub async fn authenticate(
    app: &App,
    gateway: &GatewaySettings,
    outer_token: Option<&str>,
    calls: &mut [Call],
) -> Result<(), ApiError> {
    let account = gateway.account_id.as_str();
    let outer_valid = match outer_token {
        Some(t) => checked(app, gateway.authentication, account, t).await?,
        None => false,
    };
    let mut all_valid = true;
    let mut any_token = outer_token.is_some();
    for call in calls.iter_mut() {
        let token = match &call.directives {
            Some(d) => d.gateway_token.as_deref(),
            None => outer_token,
        };
        let valid = match token {
            Some(t) if Some(t) == outer_token => outer_valid,
            Some(t) => {
                any_token = true;
                checked(app, gateway.authentication, account, t).await?
            }
            None => false,
        };
        // Whatever the credential, a gateway token in a provider key header never goes
        // upstream; without another credential it is the gateway credential. The call's own
        // valid token is taken without a lookup; any other value is looked up leniently when
        // the call already holds its credential, so an unreadable store does not refuse it.
        let required = gateway.authentication && token.is_none();
        let known = token.filter(|_| valid);
        let slot_valid = take_slot_tokens(
            app,
            required,
            account,
            known,
            &call.provider,
            &mut call.headers,
        )
        .await?;
        all_valid &= valid || (token.is_none() && slot_valid);
    }
    if gateway.authentication && !all_valid {
        return Err(ApiError::new(
            ErrorKind::Unauthenticated,
            if any_token {
                "invalid cf-aig-authorization token for this gateway"
            } else {
                "this gateway requires authentication: send cf-aig-authorization: Bearer {token}"
            },
        ));
    }
    Ok(())
}

//! Stage 5: gateway authentication (`authentication = true`, SPEC 2.4).
//!
//! A token is valid for an account when it is one of the config's `[[tokens]]` for that
//! account (compared in constant time) or a stored token (kept hashed, made with
//! `switchyard token create`; see [`crate::tokens`]). The token comes from
//! `cf-aig-authorization`, else from a provider key header. A key header that holds a gateway
//! token is removed, whether or not `cf-aig-authorization` came too, so the stored provider
//! key takes its place (as Cloudflare's BYOK docs do) and the token never reaches the
//! provider.

use crate::app::App;
use crate::error::ApiError;
use crate::shape::Call;
use http::HeaderMap;
use switchyard_core::{ErrorKind, GatewaySettings};
use switchyard_providers::AuthStyle;
use switchyard_store::tokens::{has_token_form, TOKEN_PREFIX};

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

/// Whether `value` is a gateway token of any account, valid or not: a configured one, or one
/// of a stored token's form. Such a value is never a provider key.
pub fn is_gateway_token(app: &App, value: &str) -> bool {
    // Every configured token is compared, as in `is_valid`.
    let configured = app.config().tokens.iter().fold(false, |found, t| {
        found | crate::control::constant_time_eq(t.value.expose().as_bytes(), value.as_bytes())
    });
    configured || has_token_form(value)
}

/// What a key header's value may hold as its credential: the value itself, and what follows
/// a scheme word (`Bearer T`, `Token T`, `Key T`, in any case and spacing).
fn credentials(value: &str) -> impl Iterator<Item = &str> {
    let value = value.trim();
    let after_scheme = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .map(|(_, rest)| rest.trim());
    std::iter::once(value).chain(after_scheme)
}

/// Takes every gateway token out of a call's provider key headers (every value of each, in any
/// scheme): a header holding one is removed, so the provider never sees it and a stored key
/// can take its place. A value is a gateway token when it is `known` (the call's own valid
/// token), any account's configured token, or of a stored token's form. Only when `check`
/// (the call's only credential may be here) is it looked up for this `account`: whether a
/// valid one was found, and a store that cannot answer fails the call when nothing else did.
async fn take_slot_tokens(
    app: &App,
    check: bool,
    account: &str,
    known: Option<&str>,
    headers: &mut HeaderMap,
) -> Result<bool, ApiError> {
    let mut found = false;
    let mut failed = None;
    let mut remove = Vec::new();
    for name in &AuthStyle::KEY_HEADERS {
        let mut held = false;
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            for c in credentials(value) {
                if Some(c) == known {
                    (held, found) = (true, true);
                    continue;
                }
                if !is_gateway_token(app, c) {
                    continue;
                }
                held = true;
                if !check {
                    continue;
                }
                match is_valid(app, account, c).await {
                    Ok(valid) => found |= valid,
                    Err(e) => failed = Some(e),
                }
            }
        }
        if held {
            remove.push(name.clone());
        }
    }
    for name in remove {
        headers.remove(name);
    }
    match failed {
        Some(e) if !found => Err(e),
        _ => Ok(found),
    }
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
    if !gateway.authentication {
        // Nothing to check: gateway tokens are only kept from the provider.
        for call in calls.iter_mut() {
            take_slot_tokens(app, false, account, None, &mut call.headers).await?;
        }
        return Ok(());
    }
    let outer_valid = match outer_token {
        Some(t) => is_valid(app, account, t).await?,
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
                is_valid(app, account, t).await?
            }
            None => false,
        };
        // Whatever the credential, a gateway token in a provider key header never goes
        // upstream; without another credential it is the gateway credential, and only then
        // is it looked up.
        let known = token.filter(|_| valid);
        let slot_valid =
            take_slot_tokens(app, token.is_none(), account, known, &mut call.headers).await?;
        all_valid &= valid || (token.is_none() && slot_valid);
    }
    if !all_valid {
        return Err(refusal(any_token));
    }
    Ok(())
}

/// The 401 of a request without a valid gateway credential; `any_token`: whether it sent one.
pub fn refusal(any_token: bool) -> ApiError {
    ApiError::new(
        ErrorKind::Unauthenticated,
        if any_token {
            "invalid cf-aig-authorization token for this gateway"
        } else {
            "this gateway requires authentication: send cf-aig-authorization: Bearer {token}"
        },
    )
}

/// The check made before the body is read and shaped, so that a caller without access costs
/// no more than its headers: whether a call carrying `token` (its `cf-aig-authorization`)
/// and `headers` (whose provider key headers may hold the gateway token instead) would pass
/// [`authenticate`] on `gateway`. [`authenticate`] still runs on the calls made.
pub async fn admits(
    app: &App,
    gateway: &GatewaySettings,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if !gateway.authentication {
        return Ok(());
    }
    let account = gateway.account_id.as_str();
    let valid = match token {
        Some(t) => is_valid(app, account, t).await?,
        // Only the key headers are looked at; the copy is made for the rare caller that
        // puts its gateway token there.
        None => take_slot_tokens(app, true, account, None, &mut headers.clone()).await?,
    };
    if valid {
        Ok(())
    } else {
        Err(refusal(token.is_some()))
    }
}

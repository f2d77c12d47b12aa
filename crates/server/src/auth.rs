//! Stage 2b: gateway authentication (`authentication = true`, SPEC 2.4).
//!
//! A token is valid for an account when it is one of the config's `[[tokens]]` for that
//! account (compared in constant time) or a stored token (kept hashed, made with
//! `switchyard token create`; see [`crate::tokens`]). The token comes from
//! `cf-aig-authorization`; when that header is absent and the provider's own auth header
//! holds a valid gateway token, that header is the gateway credential: it is removed so the
//! stored provider key takes its place (as Cloudflare's BYOK docs do).

use crate::app::App;
use crate::error::ApiError;
use crate::shape::{self, Call};
use switchyard_core::{ErrorKind, GatewaySettings};

/// Whether `token` is a valid gateway token for `account`.
pub async fn is_valid(app: &App, account: &str, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    let mut found = false;
    for t in &app.config().tokens {
        // Every configured token is compared, so timing says nothing about which matched.
        let same = crate::control::constant_time_eq(t.value.expose().as_bytes(), token.as_bytes());
        found |= same && t.account_id.as_str() == account;
    }
    found || app.tokens().is_valid(app.store(), account, token).await
}

/// Checks the gateway credential; strips provider-slot gateway tokens from the calls.
pub async fn authenticate(
    app: &App,
    gateway: &GatewaySettings,
    outer_token: Option<&str>,
    calls: &mut [Call],
) -> Result<(), ApiError> {
    let account = gateway.account_id.as_str();
    let mut valid = match outer_token {
        Some(t) => is_valid(app, account, t).await,
        None => false,
    };
    if outer_token.is_none() {
        for call in calls.iter_mut() {
            let slot = shape::slot_credential(&call.provider, &call.headers).map(str::to_owned);
            if let Some(slot) = slot {
                if is_valid(app, account, &slot).await {
                    call.headers.remove(call.provider.auth.header());
                    valid = true;
                }
            }
        }
    }
    if gateway.authentication && !valid {
        return Err(ApiError::new(
            ErrorKind::Unauthenticated,
            if outer_token.is_some() {
                "invalid cf-aig-authorization token for this gateway"
            } else {
                "this gateway requires authentication: send cf-aig-authorization: Bearer {token}"
            },
        ));
    }
    Ok(())
}

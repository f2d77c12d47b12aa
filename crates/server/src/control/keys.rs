//! `/gateways/{g}/provider_configs`: stored provider keys. Secrets are encrypted before
//! they reach the store and are never returned; only a preview is.

use super::{account, gateway_id, json_object, ok, ok_page, page_params, CpError, CpResult};
use crate::app::App;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{json, Value};
use switchyard_core::{clock, AccountId, GatewayId, Secret};
use switchyard_store::keys::StoredKey;

/// Fields Cloudflare's API accepts that Switchyard ignores.
const IGNORED: [&str; 3] = ["secret_id", "rate_limit", "rate_limit_period"];

fn to_json(k: &StoredKey) -> Value {
    json!({
        "id": k.id,
        "alias": k.alias,
        "provider_slug": k.provider_slug,
        "gateway_id": k.gateway_id.as_str(),
        "secret_preview": k.secret_preview,
        // Cloudflare's id of the secret in its Secrets Store (a string in the SDKs): the secret
        // is kept with the config itself here, so the config's own id names it.
        "secret_id": k.id,
        "default_config": k.default_config,
        "created_at": k.created_at,
        "modified_at": k.modified_at,
    })
}

async fn gateway_of(app: &App, acct: &str, gw: &str) -> Result<(AccountId, GatewayId), CpError> {
    let a = account(acct)?;
    let g = gateway_id(gw)?;
    if app.store().get_gateway(&a, &g).await?.is_none() {
        return Err(CpError::not_found(format!("gateway '{gw}' not found")));
    }
    Ok((a, g))
}

fn valid_alias(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub async fn list(
    State(app): State<App>,
    Path((acct, gw)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    let (page, per_page) = page_params(&pairs, 20, 100)?;
    let keys = app.store().list_keys(&a, &g).await?;
    let total = keys.len() as u64;
    let items = keys
        .iter()
        .skip(super::skipped(page, per_page))
        .take(per_page as usize)
        .map(to_json)
        .collect();
    ok_page(items, page, per_page, total)
}

pub async fn create(
    State(app): State<App>,
    Path((acct, gw)): Path<(String, String)>,
    body: Bytes,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    let body = json_object(&body)?;
    let mut alias = "default".to_owned();
    let mut provider = None;
    let mut secret = None;
    let mut default_config = false;
    for (k, v) in &body {
        match (k.as_str(), v) {
            ("alias", Value::String(s)) if valid_alias(s) => alias = s.clone(),
            ("alias", _) => return Err(CpError::invalid("'alias' must be 1-64 of [A-Za-z0-9_-]")),
            ("provider_slug", Value::String(s)) => provider = Some(s.clone()),
            ("provider_slug", _) => {
                return Err(CpError::invalid("'provider_slug' must be a string"))
            }
            ("secret", Value::String(s)) if !s.trim().is_empty() => {
                secret = Some(Secret::new(s.trim()))
            }
            ("secret", _) => return Err(CpError::invalid("'secret' must be a non-empty string")),
            ("default_config", Value::Bool(b)) => default_config = *b,
            ("default_config", _) => {
                return Err(CpError::invalid("'default_config' must be true or false"))
            }
            (other, _) if IGNORED.contains(&other) => {}
            (other, _) => return Err(CpError::invalid(format!("unknown field '{other}'"))),
        }
    }
    let provider = provider.ok_or_else(|| CpError::invalid("'provider_slug' is required"))?;
    // The catalog's providers, and the account's own custom providers (`custom-{slug}`).
    let known = app.catalog().get(&provider).is_some()
        || crate::custom::provider(&app, a.as_str(), &provider)
            .await
            .is_ok_and(|p| p.is_some());
    if !known {
        return Err(CpError::invalid(format!("unknown provider '{provider}'")));
    }
    let secret = secret.ok_or_else(|| CpError::invalid("'secret' is required"))?;
    if http::HeaderValue::try_from(secret.expose()).is_err() {
        return Err(CpError::invalid(
            "'secret' contains characters a header cannot carry",
        ));
    }
    let now = clock::now_rfc3339();
    let key = StoredKey {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: a,
        gateway_id: g,
        provider_slug: provider,
        alias,
        secret_ciphertext: app.secrets().seal(secret.expose()),
        secret_preview: secret.preview(),
        default_config,
        created_at: now.clone(),
        modified_at: now,
    };
    match app.store().create_key(&key).await {
        Ok(()) => {
            app.keys().clear();
            ok(to_json(&key))
        }
        Err(switchyard_store::StoreError::Conflict(_)) => Err(CpError::conflict(format!(
            "a key for provider '{}' with alias '{}' already exists",
            key.provider_slug, key.alias
        ))),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    State(app): State<App>,
    Path((acct, gw, id)): Path<(String, String, String)>,
) -> CpResult {
    let (a, g) = gateway_of(&app, &acct, &gw).await?;
    match app.store().delete_key(&a, &g, &id).await? {
        Some(k) => {
            app.keys().clear();
            ok(to_json(&k))
        }
        None => Err(CpError::not_found(format!(
            "provider config '{id}' not found"
        ))),
    }
}

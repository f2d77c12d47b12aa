//! `/accounts/{a}/ai-gateway/custom-providers[/{id}]`: custom providers, reachable as
//! `custom-{slug}` by pass-through, `/compat` (`custom-{slug}/{model}`) and universal steps.
//!
//! `base_url` must be https (plain http only for loopback hosts). `enable` defaults to true
//! (SPEC is silent; a provider someone just defined is meant to be used); a disabled provider
//! answers 400 code 2008 like an unknown one.
//!
//! `headers` (Cloudflare's field: a JSON object, given as a string as the SDKs send it, or as
//! an object) are sent with every request to the provider, unless the client sends the same
//! header. Their values may be credentials: they are sealed like stored provider keys and
//! never shown again; answers name them in `header_names` and say `headers: null`. So that a
//! read, changed and written back provider keeps them, `null` leaves them as they are; an
//! empty string or object removes them.

use super::{account, json_object, ok, ok_page, page_params, CpError, CpResult};
use crate::app::App;
use crate::secrets::SecretBox;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use http::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use switchyard_core::clock;
use switchyard_providers::Provider;
use switchyard_store::CustomProvider;

const SLUG_TAKEN: u32 = 1003;
const NOT_FOUND: u32 = 1004;
const BAD_URL: u32 = 1002;

/// Fields of Cloudflare's object accepted (their types checked) and ignored: what they say is
/// for Cloudflare's own catalog pages, or set by the server.
const IGNORED: [(&str, Kind); 8] = [
    ("beta", Kind::Bool),
    ("curl_example", Kind::Text),
    ("js_example", Kind::Text),
    ("position", Kind::Integer),
    ("logo", Kind::Text),
    ("created_at", Kind::Text),
    ("modified_at", Kind::Text),
    // Shown by this server; a provider read and written back carries it.
    ("header_names", Kind::List),
];

/// The JSON type an ignored field must still have.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Text,
    Integer,
    List,
}

impl Kind {
    fn fits(self, v: &Value) -> bool {
        match self {
            Kind::Bool => v.is_boolean(),
            Kind::Text => v.is_string(),
            Kind::Integer => v.is_i64() || v.is_u64(),
            Kind::List => v.is_array(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "true or false",
            Kind::Text => "a string",
            Kind::Integer => "a whole number",
            Kind::List => "an array",
        }
    }
}

/// The most headers a custom provider may add, and the most bytes of names and values.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A custom provider's headers, checked: lowercase names and values that HTTP can carry.
pub fn parse_headers(v: &Value) -> Result<BTreeMap<String, String>, CpError> {
    let bad = |why: String| CpError::invalid(format!("'headers' {why}"));
    let parsed;
    let object = match v {
        Value::Object(o) => o,
        Value::String(s) if s.trim().is_empty() => return Ok(BTreeMap::new()),
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                bad(format!(
                    "must be a JSON object of header names and values: {e}"
                ))
            })?;
            match &parsed {
                Value::Object(o) => o,
                _ => {
                    return Err(bad(
                        "must be a JSON object of header names and values".into()
                    ))
                }
            }
        }
        _ => {
            return Err(bad(
                "must be a JSON object (or its text) of header names and values".into(),
            ))
        }
    };
    if object.len() > MAX_HEADERS {
        return Err(bad(format!("may name at most {MAX_HEADERS} headers")));
    }
    let mut out = BTreeMap::new();
    let mut bytes = 0;
    for (name, value) in object {
        let Value::String(value) = value else {
            return Err(bad(format!("value of '{name}' must be a string")));
        };
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad(format!("name '{name}' is not a valid header name")))?;
        if !crate::forward::may_be_added(&header) {
            return Err(bad(format!(
                "cannot set '{header}' (it belongs to the connection, the message's framing or the gateway)"
            )));
        }
        HeaderValue::from_str(value)
            .map_err(|_| bad(format!("value of '{name}' cannot be sent in a header")))?;
        bytes += name.len() + value.len();
        if bytes > MAX_HEADER_BYTES {
            return Err(bad(format!("may hold at most {MAX_HEADER_BYTES} bytes")));
        }
        // Names are case-insensitive: two spellings of one would silently lose a value.
        if out
            .insert(header.as_str().to_owned(), value.clone())
            .is_some()
        {
            return Err(bad(format!("names '{header}' more than once")));
        }
    }
    Ok(out)
}

/// The headers of a stored custom provider, opened.
pub fn open_headers(
    secrets: &SecretBox,
    sealed: Option<&[u8]>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let Some(sealed) = sealed else {
        return Ok(BTreeMap::new());
    };
    let text = secrets.open(sealed)?;
    Ok(serde_json::from_str(text.expose())?)
}

fn to_json(secrets: &SecretBox, p: &CustomProvider) -> Value {
    let names: Vec<String> = match open_headers(secrets, p.headers_sealed.as_deref()) {
        Ok(h) => h.into_keys().collect(),
        Err(e) => {
            tracing::warn!(error = %e, id = %p.id, "a custom provider's headers cannot be opened");
            Vec::new()
        }
    };
    json!({
        "headers": null,
        "header_names": names,
        "id": p.id,
        "name": p.name,
        "slug": p.slug,
        "base_url": p.base_url,
        "enable": p.enable,
        "description": p.description,
        "link": p.link,
        "created_at": p.created_at,
        "modified_at": p.modified_at,
    })
}

fn not_found(id: &str) -> CpError {
    CpError {
        status: StatusCode::NOT_FOUND,
        code: NOT_FOUND,
        message: format!("Custom Provider not found: '{id}'"),
    }
}

/// A custom provider's slug (without `custom-`): lowercase letters, digits and `-`.
pub(super) fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn opt_text(k: &str, v: &Value) -> Result<Option<String>, CpError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(CpError::invalid(format!("'{k}' must be a string"))),
    }
}

/// Applies the body's fields to `p`.
fn apply(
    secrets: &SecretBox,
    p: &mut CustomProvider,
    body: &Map<String, Value>,
) -> Result<(), CpError> {
    for (k, v) in body {
        // Text is stored as given; PostgreSQL cannot hold a NUL in text, so neither backend
        // takes one.
        if matches!(v, Value::String(s) if s.contains('\0')) {
            return Err(CpError::invalid(format!(
                "'{k}' must not contain a NUL character"
            )));
        }
        match k.as_str() {
            "id" => {}
            "name" => match v {
                Value::String(s) if !s.trim().is_empty() && s.len() <= 256 => p.name = s.clone(),
                _ => {
                    return Err(CpError::invalid(
                        "'name' must be a non-empty string of at most 256 bytes",
                    ))
                }
            },
            "slug" => match v {
                // `custom-x` would be reachable only as `custom-custom-x`.
                Value::String(s) if valid_slug(s) && !s.starts_with("custom-") => {
                    p.slug = s.clone()
                }
                _ => {
                    return Err(CpError::invalid(
                        "'slug' must be 1-64 lowercase letters, digits or '-' (without the custom- prefix)",
                    ))
                }
            },
            "base_url" => match v {
                Value::String(s) => p.base_url = s.trim_end_matches('/').to_owned(),
                _ => return Err(CpError::invalid("'base_url' must be a string")),
            },
            "enable" => match v {
                Value::Bool(b) => p.enable = *b,
                _ => return Err(CpError::invalid("'enable' must be true or false")),
            },
            // Left as they are by null (see the module doc).
            "headers" if v.is_null() => {}
            "headers" => {
                let headers = parse_headers(v)?;
                p.headers_sealed = (!headers.is_empty()).then(|| {
                    secrets.seal(&serde_json::to_string(&headers).unwrap_or_default())
                });
            }
            "description" => p.description = opt_text(k, v)?,
            "link" => p.link = opt_text(k, v)?,
            other => {
                let Some((_, kind)) = IGNORED.iter().find(|(name, _)| *name == other) else {
                    return Err(CpError::invalid(format!("unknown field '{other}'")));
                };
                if !v.is_null() && !kind.fits(v) {
                    return Err(CpError::invalid(format!("'{k}' must be {}", kind.name())));
                }
            }
        }
    }
    if p.slug.is_empty() {
        return Err(CpError::invalid("'slug' is required"));
    }
    if p.base_url.is_empty() {
        return Err(CpError::invalid("'base_url' is required"));
    }
    if let Err(e) = Provider::custom(&p.slug, &p.base_url) {
        return Err(CpError {
            status: StatusCode::BAD_REQUEST,
            code: BAD_URL,
            message: format!("base_url must be a valid HTTPS URL starting with https:// ({e})"),
        });
    }
    if p.name.is_empty() {
        p.name = p.slug.clone();
    }
    Ok(())
}

fn taken(e: switchyard_store::StoreError) -> CpError {
    match e {
        switchyard_store::StoreError::Conflict(m) => CpError {
            status: StatusCode::CONFLICT,
            code: SLUG_TAKEN,
            message: m,
        },
        e => e.into(),
    }
}

pub async fn list(
    State(app): State<App>,
    Path(acct): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> CpResult {
    let a = account(&acct)?;
    let (page, per_page) = page_params(&pairs, 20, 100)?;
    let search = pairs
        .iter()
        .find(|(k, _)| k == "search")
        .map(|(_, v)| v.to_lowercase());
    let enable = match pairs.iter().find(|(k, _)| k == "enable") {
        None => None,
        Some((_, v)) if v.trim().eq_ignore_ascii_case("true") => Some(true),
        Some((_, v)) if v.trim().eq_ignore_ascii_case("false") => Some(false),
        Some(_) => return Err(CpError::invalid("'enable' must be true or false")),
    };
    let all = app.store().list_custom_providers(&a).await?;
    if all.is_empty() && !super::gateways::known_account(&app, &a).await? {
        return Err(CpError::not_found(format!("account '{acct}' not found")));
    }
    let matching: Vec<&CustomProvider> = all
        .iter()
        .filter(|p| enable.is_none_or(|e| p.enable == e))
        .filter(|p| {
            search.as_ref().is_none_or(|s| {
                p.id.contains(s.as_str())
                    || p.name.to_lowercase().contains(s.as_str())
                    || p.slug.contains(s.as_str())
            })
        })
        .collect();
    let total = matching.len() as u64;
    let items = matching
        .into_iter()
        .skip(super::skipped(page, per_page))
        .take(per_page as usize)
        .map(|p| to_json(app.secrets(), p))
        .collect();
    ok_page(items, page, per_page, total)
}

pub async fn create(State(app): State<App>, Path(acct): Path<String>, body: Bytes) -> CpResult {
    let a = account(&acct)?;
    let body = json_object(&body)?;
    let now = clock::now_rfc3339();
    let mut p = CustomProvider {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: a,
        slug: String::new(),
        name: String::new(),
        base_url: String::new(),
        enable: true,
        description: None,
        link: None,
        headers_sealed: None,
        created_at: now.clone(),
        modified_at: now,
    };
    apply(app.secrets(), &mut p, &body)?;
    app.store()
        .create_custom_provider(&p)
        .await
        .map_err(taken)?;
    app.customs().clear();
    ok(to_json(app.secrets(), &p))
}

pub async fn get(State(app): State<App>, Path((acct, id)): Path<(String, String)>) -> CpResult {
    let a = account(&acct)?;
    match app.store().get_custom_provider(&a, &id).await? {
        Some(p) => ok(to_json(app.secrets(), &p)),
        None => Err(not_found(&id)),
    }
}

pub async fn update(
    State(app): State<App>,
    Path((acct, id)): Path<(String, String)>,
    body: Bytes,
) -> CpResult {
    let a = account(&acct)?;
    let body = json_object(&body)?;
    // Written back only if nobody changed it since it was read (else read again), so that
    // concurrent updates of different fields all take effect.
    for _ in 0..super::UPDATE_TRIES {
        let Some(mut p) = app.store().get_custom_provider(&a, &id).await? else {
            return Err(not_found(&id));
        };
        let read_at = p.modified_at.clone();
        apply(app.secrets(), &mut p, &body)?;
        p.modified_at = super::modified_after(&read_at).await;
        if app
            .store()
            .update_custom_provider(&p, &read_at)
            .await
            .map_err(taken)?
        {
            app.customs().clear();
            return ok(to_json(app.secrets(), &p));
        }
    }
    Err(CpError::conflict(
        "the custom provider kept changing while this update was applied; try again",
    ))
}

pub async fn delete(State(app): State<App>, Path((acct, id)): Path<(String, String)>) -> CpResult {
    let a = account(&acct)?;
    match app.store().delete_custom_provider(&a, &id).await? {
        Some(p) => {
            app.customs().clear();
            ok(to_json(app.secrets(), &p))
        }
        None => Err(not_found(&id)),
    }
}

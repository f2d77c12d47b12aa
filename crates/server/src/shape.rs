//! Stage 4 of the pipeline: turning a client request into upstream [`Call`]s.
//!
//! - provider pass-through: the catalog's URL (safe join), the client's headers minus
//!   hop-by-hop and `cf-aig-*`, the body bytes unchanged;
//! - `/compat`: the provider from the `model` prefix, `model` rewritten in the body bytes,
//!   the client's key moved to the header the provider expects, its required headers added.

use crate::app::App;
use crate::directives::AttemptHeaders;
use crate::error::ApiError;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Uri};
use http_body_util::Full;
use std::sync::Arc;
use switchyard_core::{ErrorKind, GatewayError, RequestType};
use switchyard_providers::compat::{self, CompatError};
use switchyard_providers::{ApiShape, AuthStyle, Provider};

/// One upstream target, ready to send (possibly several times).
pub struct Call {
    pub provider: Arc<Provider>,
    pub uri: Uri,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_type: RequestType,
    /// The model asked for (without a compat prefix), for the log.
    pub model: Option<String>,
    /// Step-level attempt settings (universal steps), winning over the request's.
    pub attempts: AttemptHeaders,
    /// Universal endpoint step, 0-based.
    pub step: Option<u32>,
}

impl Call {
    /// The request for one attempt.
    pub fn request(&self) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// The request for the last attempt, taking the headers instead of copying them.
    pub fn into_request(self) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body));
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.headers_mut() = self.headers;
        req
    }
}

/// `ANY /{provider}/{rest}`.
pub fn passthrough(
    provider: &Arc<Provider>,
    account: &str,
    rest: &str,
    query: Option<&str>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Call, ApiError> {
    let uri = provider
        .upstream_uri(account, rest, query)
        .map_err(|e| GatewayError::bad_request(e.to_string()))?;
    let model = peek_model(&headers, &body);
    Ok(Call {
        provider: provider.clone(),
        uri,
        method,
        headers,
        body,
        request_type: RequestType::Provider,
        model,
        attempts: AttemptHeaders::default(),
        step: None,
    })
}

/// `/compat/{endpoint}`: picks the provider from the `model` prefix and rewrites `model`.
pub fn compat(
    app: &App,
    account: &str,
    endpoint: &str,
    mut headers: HeaderMap,
    body: &Bytes,
) -> Result<Call, ApiError> {
    let chat = match endpoint.trim_start_matches('/').trim_end_matches('/') {
        "chat/completions" | "v1/chat/completions" => true,
        "embeddings" | "v1/embeddings" => false,
        "v1/messages" | "messages" => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "the Anthropic Messages API on /compat is not available yet",
            ))
        }
        other => {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("no compat endpoint '{other}'; use /compat/chat/completions"),
            ))
        }
    };
    let peek = compat::peek(body).map_err(|e| match e {
        CompatError::NoPrefix(_) => GatewayError::new(ErrorKind::UnknownProvider, e.to_string()),
        _ => GatewayError::bad_request(e.to_string()),
    })?;
    let (prefix, model) = compat::split_model(&peek.model)
        .map_err(|e| GatewayError::new(ErrorKind::UnknownProvider, e.to_string()))?;
    let provider = app.catalog().by_prefix(prefix).ok_or_else(|| {
        GatewayError::new(
            ErrorKind::UnknownProvider,
            format!(
                "unknown provider prefix '{prefix}' in model '{}'",
                peek.model
            ),
        )
    })?;
    if provider.api != ApiShape::Openai {
        return Err(ApiError::new(
            ErrorKind::UnknownProvider,
            format!(
                "provider '{}' is not reachable through /compat yet (its API is not OpenAI-shaped); call it at /{}/ instead",
                provider.slug, provider.slug
            ),
        ));
    }
    let path = if chat {
        provider.chat_path.as_deref()
    } else {
        provider.embeddings_path.as_deref()
    };
    let Some(path) = path else {
        return Err(ApiError::new(
            ErrorKind::UnknownProvider,
            format!(
                "provider '{}' has no {} endpoint on /compat",
                provider.slug,
                if chat { "chat" } else { "embeddings" }
            ),
        ));
    };
    let uri = provider
        .endpoint_uri(account, path)
        .map_err(|e| GatewayError::new(ErrorKind::Internal, e.to_string()))?;
    headers.remove(CONTENT_LENGTH);
    move_credential(provider, &mut headers);
    for (name, value) in &provider.headers {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    Ok(Call {
        provider: provider.clone(),
        uri,
        method: Method::POST,
        headers,
        body: peek.rewrite_model(body, model),
        request_type: RequestType::Compat,
        model: Some(model.to_owned()),
        attempts: AttemptHeaders::default(),
        step: None,
    })
}

/// The `model` of a JSON request body, when there is one (for the log).
fn peek_model(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.contains("json"));
    if !json || body.is_empty() {
        return None;
    }
    compat::peek(body).ok().map(|p| p.model)
}

/// On `/compat` the client's key arrives as `Authorization: Bearer K`; providers that expect
/// another header get it there instead.
fn move_credential(provider: &Provider, headers: &mut HeaderMap) {
    if provider.auth == AuthStyle::Bearer {
        return;
    }
    let Some(key) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_owned)
    else {
        return;
    };
    if let Some(value) = provider.auth.value(&key) {
        headers.remove(AUTHORIZATION);
        headers.insert(provider.auth.header(), value);
    }
}

/// The credential in a provider's auth header, without its scheme word.
pub fn slot_credential<'a>(provider: &Provider, headers: &'a HeaderMap) -> Option<&'a str> {
    let v = headers.get(provider.auth.header())?.to_str().ok()?.trim();
    let v = match provider.auth {
        AuthStyle::Bearer => v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))?,
        AuthStyle::Token => v.strip_prefix("Token ")?,
        _ => v,
    };
    Some(v.trim())
}

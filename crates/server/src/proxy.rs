//! The gateway plane: every request under `/v1/{account}/{gateway}/...` runs this pipeline.
//!
//! Stages, in order (each either passes the request on or answers it):
//!
//! 1. **route**: split the path into account, gateway, provider and the rest; ids must be
//!    1–64 of `[A-Za-z0-9_-]` (400/2000), the provider must be in the catalog (400/2008),
//!    and the rest must stay inside the provider's base URL (400/2000). Nothing is read or
//!    created for a request refused here.
//! 2. **gateway**: resolve the gateway's settings (created on first use, see [`crate::gateways`]).
//! 3. **body**: read the body once into `Bytes`, refusing more than `max_body_bytes` (413)
//!    before reading it whole when `Content-Length` says so.
//! 4. **shape**: build the upstream request: URL from the catalog, client headers minus
//!    hop-by-hop and `cf-aig-*`; for `/compat`, rewrite `model` in the body bytes and put the
//!    client's key in the header the provider expects.
//! 5. **send**: one attempt with the upstream timeout for the response headers (502/504).
//! 6. **relay**: status and headers at once (with `cf-aig-log-id`, `cf-aig-request-id`,
//!    `cf-aig-event-id`), then the body frame by frame ([`crate::relay`]).
//! 7. **log**: when the body ends, fails or the client goes away, the exchange goes to the
//!    log queue ([`crate::logpipe`]): usage, cost and the record are worked out there, off
//!    the response path. Answers the gateway gives itself are logged the same way once the
//!    gateway is known.

use crate::app::App;
use crate::error::ApiError;
use crate::forward;
use crate::directives::Directives;
use crate::exchange::{Completed, Draft, Exchange, Outcome};
use crate::relay::{Capture, Relay};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Uri};
use hyper::body::Incoming;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use std::sync::Arc;
use switchyard_core::{AccountId, ErrorKind, GatewayError, GatewayId, RequestType};
use switchyard_store::logs::LogCap;
use switchyard_providers::compat::{self, CompatError};
use switchyard_providers::{ApiShape, AuthStyle, Provider};

/// The parts of a gateway-plane path.
#[derive(Debug, PartialEq, Eq)]
struct Route<'a> {
    account: &'a str,
    gateway: &'a str,
    /// `None` for the universal endpoint (`/v1/{account}/{gateway}`).
    provider: Option<&'a str>,
    /// Everything after `{provider}/`, as sent (still percent-encoded).
    rest: &'a str,
}

fn next_segment(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((head, tail)) => (head, Some(tail)),
        None => (s, None),
    }
}

fn parse_route(path: &str) -> Result<Route<'_>, GatewayError> {
    let tail = path
        .strip_prefix("/v1/")
        .ok_or_else(|| GatewayError::new(ErrorKind::NotFound, "no such route"))?;
    let (account, tail) = next_segment(tail);
    let tail = tail.unwrap_or("");
    let (gateway, tail) = next_segment(tail);
    AccountId::validate(account).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    GatewayId::validate(gateway).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    let Some(tail) = tail.filter(|t| !t.is_empty()) else {
        return Ok(Route {
            account,
            gateway,
            provider: None,
            rest: "",
        });
    };
    let (provider, rest) = next_segment(tail);
    Ok(Route {
        account,
        gateway,
        provider: Some(provider),
        rest: rest.unwrap_or(""),
    })
}

/// Entry point for `ANY /v1/*`.
pub async fn handle(State(app): State<App>, req: Request) -> Response {
    let mut x = Box::new(Exchange::new(req.method().clone(), req.uri().path()));
    match run(&app, req, &mut x).await {
        Ok(resp) => {
            let (mut head, incoming) = resp.into_parts();
            forward::response_headers(&mut head.headers);
            x.status = head.status.as_u16();
            if x.draft.is_some() {
                x.response_headers = Some(head.headers.clone());
            }
            stamp_ids(&mut head.headers, &x);
            let relay = Relay::new(incoming, x, app.log_queue().clone());
            Response::from_parts(head, Body::new(relay))
        }
        Err(e) => {
            x.status = e.error.kind.status().as_u16();
            let label = e.error.kind.label();
            let (mut resp, body) = e.into_response_and_body();
            stamp_ids(resp.headers_mut(), &x);
            if x.draft.is_some() {
                x.response_headers = Some(resp.headers().clone());
            }
            let mut capture = Capture::default();
            capture.push(&body);
            app.log_queue()
                .submit(Completed::new(x, capture, Outcome::Refused(label)));
            resp
        }
    }
}

/// `cf-aig-log-id`, `cf-aig-request-id` and `cf-aig-event-id` on every answer (SPEC 2.5).
fn stamp_ids(headers: &mut HeaderMap, x: &Exchange) {
    if let Ok(id) = HeaderValue::from_str(&x.log_id) {
        headers.insert(switchyard_core::headers::LOG_ID, id.clone());
        headers.insert(switchyard_core::headers::REQUEST_ID, id);
    }
    if let Ok(ev) = HeaderValue::from_str(x.event_id()) {
        headers.insert(switchyard_core::headers::EVENT_ID, ev);
    }
}

async fn run(
    app: &App,
    req: Request,
    x: &mut Exchange,
) -> Result<http::Response<Incoming>, ApiError> {
    let (parts, body) = req.into_parts();
    // An HTTP/1 absolute-form target (`GET http://host/...`) asks for a forward proxy, which
    // this is not. (HTTP/2 always carries scheme and authority, so only HTTP/1 is checked.)
    if parts.version < http::Version::HTTP_2 && parts.uri.scheme().is_some() {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "absolute-form request targets are not accepted",
        ));
    }
    let route = parse_route(parts.uri.path())?;
    let Some(slug) = route.provider else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "the universal endpoint (POST /v1/{account}/{gateway}) is not available yet",
        ));
    };

    // Stage 1: route.
    let target = if slug == "compat" {
        Target::Compat(route.rest)
    } else {
        let provider = app.catalog().get(slug).ok_or_else(|| {
            GatewayError::new(
                ErrorKind::UnknownProvider,
                format!("unknown provider '{slug}'"),
            )
        })?;
        let uri = provider
            .upstream_uri(route.account, route.rest, parts.uri.query())
            .map_err(|e| GatewayError::bad_request(e.to_string()))?;
        Target::Provider(provider.clone(), uri)
    };
    let directives = Directives::parse(&parts.headers)?;

    // Stage 2: gateway.
    let gateway = app.gateways().resolve(route.account, route.gateway).await?;

    // Stage 3: body.
    let body = read_body(body, &parts.headers, app.config().max_body_bytes).await?;

    // Stage 4: shape.
    let mut headers = forward::request_headers(&parts.headers);
    let (provider, uri, method, upstream_body, request_type, model) = match target {
        Target::Provider(provider, uri) => {
            let model = peek_model(&parts.headers, &body);
            (provider, uri, parts.method, body.clone(), RequestType::Provider, model)
        }
        Target::Compat(endpoint) => {
            let shaped = shape_compat(app, route.account, endpoint, &body)?;
            headers.remove(CONTENT_LENGTH);
            move_credential(&shaped.provider, &mut headers);
            for (name, value) in &shaped.provider.headers {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), value.clone());
                }
            }
            (
                shaped.provider,
                shaped.uri,
                Method::POST,
                shaped.body,
                RequestType::Compat,
                Some(shaped.model),
            )
        }
    };
    x.provider = Some(provider.clone());
    let text_header = |name: http::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    x.draft = Some(Draft {
        account_id: gateway.account_id.clone(),
        gateway_id: gateway.id.clone(),
        request_type,
        path: uri.path().to_owned(),
        requested_model: model,
        collect: directives.collect_log.unwrap_or(gateway.collect_logs),
        cap: gateway.log_management.map(|max_rows| LogCap {
            max_rows,
            strategy: gateway.log_management_strategy,
        }),
        directives,
        request_content_type: text_header(http::header::CONTENT_TYPE),
        user_agent: text_header(http::header::USER_AGENT),
        request_headers: parts.headers,
        request_body: body,
    });
    let mut upstream_req = http::Request::new(Full::new(upstream_body));
    *upstream_req.method_mut() = method;
    *upstream_req.uri_mut() = uri;
    *upstream_req.headers_mut() = headers;

    // Stage 5: send. Stage 6 (relay) happens in `handle`.
    Ok(app
        .upstream()
        .send(upstream_req, app.config().upstream_timeout)
        .await?)
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

enum Target<'a> {
    Provider(Arc<Provider>, Uri),
    Compat(&'a str),
}

async fn read_body(body: Body, headers: &HeaderMap, cap: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the request body is larger than {cap} bytes"),
        )
    };
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > cap as u64 {
            return Err(too_large());
        }
    }
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(ApiError::new(
            ErrorKind::BadRequest,
            "the request body could not be read",
        )),
    }
}

/// A `/compat` request, ready to send.
struct Shaped {
    provider: Arc<Provider>,
    uri: Uri,
    body: Bytes,
    /// The model without its provider prefix.
    model: String,
}

/// `/compat/{endpoint}`: picks the provider from the `model` prefix and rewrites `model`.
fn shape_compat(
    app: &App,
    account: &str,
    endpoint: &str,
    body: &Bytes,
) -> Result<Shaped, ApiError> {
    let chat = match endpoint.trim_end_matches('/') {
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
    Ok(Shaped {
        provider: provider.clone(),
        uri,
        body: peek.rewrite_model(body, model),
        model: model.to_owned(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes() {
        assert_eq!(
            parse_route("/v1/acct/gw/grok/v1/chat/completions").expect("valid"),
            Route {
                account: "acct",
                gateway: "gw",
                provider: Some("grok"),
                rest: "v1/chat/completions"
            }
        );
        assert_eq!(parse_route("/v1/acct/gw").expect("valid").provider, None);
        assert_eq!(parse_route("/v1/acct/gw/").expect("valid").provider, None);
        assert_eq!(parse_route("/v1/a/g/grok").expect("valid").rest, "");
        assert_eq!(parse_route("/v1/a/g/grok//x").expect("valid").rest, "/x");
        for bad in ["/v1/a.b/g/grok", "/v1/a/g%20/grok", "/v1//g/grok", "/v1/a"] {
            let e = parse_route(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::BadRequest, "{bad}");
        }
    }
}

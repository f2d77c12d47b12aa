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
//! 6. **relay**: status and headers at once, then the body frame by frame ([`crate::relay`]);
//!    the request's log line is written when the body ends or the client goes away.

use crate::app::App;
use crate::error::ApiError;
use crate::forward;
use crate::relay::{Exchange, Relay};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http::{HeaderMap, Method, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use std::sync::Arc;
use std::time::Instant;
use switchyard_core::{AccountId, ErrorKind, GatewayError, GatewayId};
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
    let started = Instant::now();
    let mut exchange = Exchange {
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        provider: None,
        status: 0,
        started,
    };
    match run(&app, req, &mut exchange).await {
        Ok(resp) => resp,
        Err(e) => {
            exchange.status = e.error.kind.status().as_u16();
            exchange.log(e.error.kind.label());
            e.into_response()
        }
    }
}

async fn run(app: &App, req: Request, exchange: &mut Exchange) -> Result<Response, ApiError> {
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

    // Stage 2: gateway.
    let _gateway = app.gateways().resolve(route.account, route.gateway).await?;

    // Stage 3: body.
    let body = read_body(body, &parts.headers, app.config().max_body_bytes).await?;

    // Stage 4: shape.
    let mut headers = forward::request_headers(&parts.headers);
    let (provider, uri, method, body) = match target {
        Target::Provider(provider, uri) => (provider, uri, parts.method, body),
        Target::Compat(endpoint) => {
            let (provider, uri, body) = shape_compat(app, route.account, endpoint, &body)?;
            headers.remove(CONTENT_LENGTH);
            move_credential(&provider, &mut headers);
            for (name, value) in &provider.headers {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), value.clone());
                }
            }
            (provider, uri, Method::POST, body)
        }
    };
    exchange.provider = Some(provider.clone());
    let mut upstream_req = http::Request::new(Full::new(body));
    *upstream_req.method_mut() = method;
    *upstream_req.uri_mut() = uri;
    *upstream_req.headers_mut() = headers;

    // Stage 5: send.
    let resp = app
        .upstream()
        .send(upstream_req, app.config().upstream_timeout)
        .await?;

    // Stage 6: relay.
    let (mut head, incoming) = resp.into_parts();
    forward::response_headers(&mut head.headers);
    exchange.status = head.status.as_u16();
    let finished = std::mem::replace(
        exchange,
        Exchange {
            method: Method::GET,
            path: String::new(),
            provider: None,
            status: 0,
            started: exchange.started,
        },
    );
    Ok(Response::from_parts(
        head,
        Body::new(Relay::new(incoming, finished)),
    ))
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

/// `/compat/{endpoint}`: picks the provider from the `model` prefix and rewrites `model`.
fn shape_compat(
    app: &App,
    account: &str,
    endpoint: &str,
    body: &Bytes,
) -> Result<(Arc<Provider>, Uri, Bytes), ApiError> {
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
    let body = peek.rewrite_model(body, model);
    Ok((provider.clone(), uri, body))
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

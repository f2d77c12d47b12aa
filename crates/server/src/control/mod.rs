//! The control plane: Cloudflare's AI Gateway REST API under `/client/v4` (SPEC section 3).
//!
//! Every answer uses Cloudflare's envelope (`success`, `errors`, `messages`, `result`,
//! `result_info` for lists). Access needs `Authorization: Bearer {admin_token}` (or HTTP
//! Basic with the token as the password, as the dashboard's browser sends it); without a
//! configured token only loopback clients are served.
//!
//! - [`gateways`]: gateway CRUD, and the account list (`GET /client/v4/accounts`).
//! - [`logs`]: the request log: list, get, patch, delete, stored bodies, analytics.
//! - [`keys`]: stored provider keys (`provider_configs`).
//! - [`custom_providers`]: custom providers (`custom-{slug}`).

pub mod custom_providers;
pub mod gateways;
pub mod keys;
pub mod logs;

use crate::app::App;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use switchyard_core::{clock, AccountId, GatewayId};

/// Codes of the envelope's `errors[].code`.
pub mod codes {
    pub const INVALID: u32 = 1002;
    pub const CONFLICT: u32 = 1003;
    pub const NOT_FOUND: u32 = 7003;
    pub const INTERNAL: u32 = 1000;
    pub const UNAUTHORIZED: u32 = 10000;
    pub const METHOD_NOT_ALLOWED: u32 = 10405;
}

/// A control-plane failure: status, code, message.
#[derive(Debug)]
pub struct CpError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl CpError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: codes::INVALID,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: codes::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: codes::CONFLICT,
            message: message.into(),
        }
    }

    pub fn method_not_allowed(method: &http::Method) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: codes::METHOD_NOT_ALLOWED,
            message: format!("{method} is not allowed on this path"),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "control plane request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: codes::INTERNAL,
            message: "internal error".into(),
        }
    }
}

impl From<switchyard_store::StoreError> for CpError {
    /// A database that cannot be reached (or answer in time) is 503, a passing condition
    /// worth retrying; anything else 500.
    fn from(e: switchyard_store::StoreError) -> Self {
        match &e {
            _ if e.is_unavailable() => {
                tracing::error!(error = %e, "control plane request failed: storage unavailable");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: codes::INTERNAL,
                    message: "the gateway's storage is unavailable".into(),
                }
            }
            _ => CpError::internal(e),
        }
    }
}

/// The header the official (Stainless-generated) SDKs read before retrying an answer.
const SHOULD_RETRY: http::HeaderName = http::HeaderName::from_static("x-should-retry");

impl IntoResponse for CpError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "errors": [{"code": self.code, "message": self.message}],
            "messages": [],
            "result": null,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // A storage outage passes: the client may try again in a second.
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        if self.status == StatusCode::CONFLICT {
            // The official SDKs retry a 409 (twice, over ~1.5 s) unless told not to; a
            // duplicate id or slug stays a duplicate however often it is sent.
            resp.headers_mut()
                .insert(SHOULD_RETRY, http::HeaderValue::from_static("false"));
        }
        resp
    }
}

pub type CpResult = Result<Response, CpError>;

/// How often an update reads again after finding the row changed since it read it.
pub const UPDATE_TRIES: usize = 20;

/// A `modified_at` for a change to a row last modified at `read_at`: now, and never equal to
/// `read_at` (a write-back that checks `modified_at` must see every change as one).
pub async fn modified_after(read_at: &str) -> String {
    let now = clock::now_rfc3339();
    if now != read_at {
        return now;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    clock::now_rfc3339()
}

/// `{"success": true, "result": ...}`.
pub fn ok(result: Value) -> CpResult {
    Ok(axum::Json(json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": result,
    }))
    .into_response())
}

/// A page of a list, with `result_info`.
pub fn ok_page(items: Vec<Value>, page: u64, per_page: u64, total_count: u64) -> CpResult {
    Ok(axum::Json(page_body(items, page, per_page, total_count)).into_response())
}

/// The envelope of [`ok_page`], for a list that adds to its `result_info`.
pub fn page_body(items: Vec<Value>, page: u64, per_page: u64, total_count: u64) -> Value {
    let count = items.len();
    json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": items,
        "result_info": {
            "page": page,
            "per_page": per_page,
            "count": count,
            "total_count": total_count,
            "total_pages": total_count.div_ceil(per_page.max(1)),
        },
    })
}

pub fn account(s: &str) -> Result<AccountId, CpError> {
    AccountId::parse(s).map_err(|e| CpError::invalid(e.to_string()))
}

pub fn gateway_id(s: &str) -> Result<GatewayId, CpError> {
    GatewayId::parse(s).map_err(|e| CpError::invalid(e.to_string()))
}

/// A JSON object body; anything else is refused with a clear message.
pub fn json_object(body: &Bytes) -> Result<Map<String, Value>, CpError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CpError::invalid("the body must be a JSON object")),
        Err(e) => Err(CpError::invalid(format!("the body is not valid JSON: {e}"))),
    }
}

/// How many items come before page `page` (≥ 1) of `per_page`; saturates, so a page far past
/// the end is simply empty.
pub fn skipped(page: u64, per_page: u64) -> usize {
    usize::try_from(page.saturating_sub(1).saturating_mul(per_page)).unwrap_or(usize::MAX)
}

/// Page parameters shared by list endpoints: `page` ≥ 1, `per_page` 1..=max.
pub fn page_params(
    pairs: &[(String, String)],
    default: u64,
    max: u64,
) -> Result<(u64, u64), CpError> {
    let mut page = 1;
    let mut per_page = default;
    for (k, v) in pairs {
        match k.as_str() {
            "page" => {
                page = v
                    .parse::<u64>()
                    .ok()
                    .filter(|&p| p >= 1)
                    .ok_or_else(|| CpError::invalid("page must be an integer ≥ 1"))?
            }
            "per_page" => {
                per_page = v
                    .parse::<u64>()
                    .ok()
                    .filter(|&p| (1..=max).contains(&p))
                    .ok_or_else(|| {
                        CpError::invalid(format!("per_page must be between 1 and {max}"))
                    })?
            }
            _ => {}
        }
    }
    Ok((page, per_page))
}

/// The control plane's routes, behind admin auth.
pub fn router(app: App) -> Router<App> {
    let base = "/client/v4/accounts/{account}/ai-gateway";
    Router::new()
        .route("/client/v4/accounts", get(gateways::accounts))
        .route(
            &format!("{base}/gateways"),
            get(gateways::list).post(gateways::create),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}"),
            get(gateways::get)
                .put(gateways::update)
                .delete(gateways::delete),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/logs"),
            get(logs::list).delete(logs::delete),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/logs/{{log}}"),
            get(logs::get).patch(logs::patch),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/logs/{{log}}/request"),
            get(logs::request_body),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/logs/{{log}}/response"),
            get(logs::response_body),
        )
        .route(
            &format!("{base}/custom-providers"),
            get(custom_providers::list).post(custom_providers::create),
        )
        .route(
            &format!("{base}/custom-providers/{{id}}"),
            get(custom_providers::get)
                .patch(custom_providers::update)
                .put(custom_providers::update)
                .delete(custom_providers::delete),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/url/{{provider}}"),
            get(gateways::url),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/analytics"),
            get(logs::analytics),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/provider_configs"),
            get(keys::list).post(keys::create),
        )
        .route(
            &format!("{base}/gateways/{{gateway}}/provider_configs/{{config}}"),
            axum::routing::delete(keys::delete),
        )
        .route("/client/v4/{*rest}", axum::routing::any(no_route))
        .route("/client/v4", axum::routing::any(no_route))
        .route("/client/v4/", axum::routing::any(no_route))
        .method_not_allowed_fallback(|method: http::Method| async move {
            CpError::method_not_allowed(&method).into_response()
        })
        .layer(axum::middleware::map_response(envelope_bare_errors))
        .layer(axum::middleware::from_fn_with_state(app, admin_auth))
}

/// An error answered before a handler ran (an extractor's rejection, such as a body over the
/// limit: 413 in plain text) gets the envelope like every other control-plane error.
async fn envelope_bare_errors(resp: Response) -> Response {
    let status = resp.status();
    let json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    CpError {
        status,
        code: if status.is_server_error() {
            codes::INTERNAL
        } else {
            codes::INVALID
        },
        message: status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    }
    .into_response()
}

async fn no_route() -> Response {
    CpError::not_found("no such control-plane route").into_response()
}

/// Bearer `admin_token` (or HTTP Basic with it as the password, which is what a browser
/// sends for the dashboard), or loopback when none is configured.
async fn admin_auth(State(app): State<App>, req: Request, next: Next) -> Response {
    // A refused request's body is read and thrown away, so that the refusal is what the
    // client reads (see `proxy::discard_rest`).
    let refuse = |req: Request, e: CpError| {
        crate::proxy::Leftover::of(req.headers()).discard(req.into_body());
        e.into_response()
    };
    if let Some(why) = browser_guard(&app, &req, true) {
        let e = CpError {
            status: StatusCode::FORBIDDEN,
            code: codes::UNAUTHORIZED,
            message: why.into(),
        };
        return refuse(req, e);
    }
    if !admin_allowed(&app, &req) {
        let with_token = app.config().admin_token.is_some();
        let e = CpError {
            status: StatusCode::UNAUTHORIZED,
            code: codes::UNAUTHORIZED,
            message: if with_token {
                "Authentication error: send Authorization: Bearer {admin_token}".into()
            } else {
                "Authentication error: without an admin_token the control plane serves loopback clients only".into()
            },
        };
        let mut resp = refuse(req, e);
        if with_token {
            // Both ways in; a browser (a stored body's URL opened on its own) offers Basic,
            // with the token as the password, as for the dashboard.
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(
                    "Bearer realm=\"Switchyard\", Basic realm=\"Switchyard\", charset=\"UTF-8\"",
                ),
            );
        }
        return resp;
    }
    // The body, read here whole (at most CP_BODY_MAX, with no pause over client_timeout_ms),
    // so that a client who stops sending mid-body is answered instead of holding on.
    let (parts, body) = req.into_parts();
    let body = match crate::proxy::read_body(
        body,
        &parts.headers,
        CP_BODY_MAX,
        app.config().client_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => {
            return CpError {
                status: e.error.kind.status(),
                code: codes::INVALID,
                message: e.error.message,
            }
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(body)))
        .await
}

/// Largest control-plane request body (axum's default limit for its extractors).
const CP_BODY_MAX: usize = 2 << 20;

/// Whether `req` may use the control plane (and the dashboard): its `Authorization` holds
/// the admin token, as `Bearer TOKEN` or as HTTP Basic credentials whose password (or, with
/// an empty password, whose user name) is the token; without a configured token, whether it
/// comes from loopback.
pub fn admin_allowed(app: &App, req: &Request) -> bool {
    let Some(token) = &app.config().admin_token else {
        // A reverse proxy on this machine connects from loopback too: a request it forwarded
        // (it says so in one of these headers) came from elsewhere.
        let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
            .iter()
            .any(|h| req.headers().contains_key(*h));
        // `::ffff:127.0.0.1` is how IPv4 loopback arrives on a dual-stack listener.
        return !proxied
            && req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|ConnectInfo(addr)| addr.ip().to_canonical().is_loopback());
    };
    let Some(value) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let expected = token.expose().as_bytes();
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return constant_time_eq(rest.trim().as_bytes(), expected);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return false;
        };
        let (user, password) = match decoded.iter().position(|b| *b == b':') {
            Some(i) => (&decoded[..i], &decoded[i + 1..]),
            None => (&decoded[..], &[][..]),
        };
        let given = if password.is_empty() { user } else { password };
        return constant_time_eq(given, expected);
    }
    false
}

/// Why a request that a browser may have been made to send must be refused, if it must.
///
/// A browser attaches remembered Basic credentials (the dashboard's) to any request to this
/// origin, and any page can make it send requests to a gateway on loopback, so the
/// credentials or the loopback address alone do not show that an administrator meant the
/// request. With `same_origin_only` (the control plane), a request that a browser marks as
/// coming from another site (`Sec-Fetch-Site`), or whose `Origin` is not this host, is
/// refused; API clients send neither header. Without an `admin_token`, the request must also
/// name a loopback host (`localhost`, `127.0.0.1`, `[::1]`): a page whose name was re-pointed
/// at 127.0.0.1 (DNS rebinding) would otherwise count as same-origin.
pub fn browser_guard(app: &App, req: &Request, same_origin_only: bool) -> Option<&'static str> {
    let headers = req.headers();
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if app.config().admin_token.is_none() && !host.is_some_and(is_loopback_host) {
        return Some(
            "without an admin_token the control plane and the dashboard answer only requests \
             addressed to a loopback host (localhost, 127.0.0.1, [::1])",
        );
    }
    if !same_origin_only {
        return None;
    }
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
        return Some("requests from another site are refused by the control plane");
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.parse::<http::Uri>().ok())
            .and_then(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()))
            .zip(host)
            .is_some_and(|(o, h)| o == h.to_ascii_lowercase());
        if !same {
            return Some("requests from another origin are refused by the control plane");
        }
    }
    None
}

/// `localhost`, a loopback IP, or either with a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Compares in constant time for equal lengths, so timing does not reveal how much of a
/// token matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:9",
            "127.8.9.1:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(super::is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:8080",
            "localhost.evil.example",
            "[::2]:80",
            "",
        ] {
            assert!(!super::is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn compares_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}

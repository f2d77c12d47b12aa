//! The application value and its router.
//!
//! Layers, outermost first: catch-panic (a bug answers 500 with the JSON error shape instead
//! of dropping the connection), then the routes:
//!
//! - `GET /`: the web dashboard, behind admin auth, and its script and stylesheet under
//!   `/dashboard/` ([`crate::dashboard`]).
//! - `GET /healthz`: liveness and readiness (the store is open before the listener serves).
//! - `GET /metrics`: Prometheus text format ([`crate::metrics`]).
//! - `ANY /v1/...`: the gateway plane ([`crate::proxy`]).
//! - `/client/v4/...`: the control plane ([`crate::control`]), behind admin auth.
//! - anything else: 404 in the gateway's JSON error shape.

use crate::byok::KeyCache;
use crate::config::Config;
use crate::custom::CustomCache;
use crate::error::ApiError;
use crate::gateways::Gateways;
use crate::logpipe::LogQueue;
use crate::metrics::Metrics;
use crate::outage::Outage;
use crate::proxy;
use crate::secrets::SecretBox;
use crate::spin::Spinner;
use crate::tokens::TokenCache;
use crate::upstream::Upstream;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use std::sync::Arc;
use switchyard_core::ErrorKind;
use switchyard_providers::Catalog;
use switchyard_store::cache::CacheStore;
use switchyard_store::ratelimit::RateLimitStore;
use switchyard_store::Store;
use tower_http::catch_panic::CatchPanicLayer;

/// Everything a request needs, shared by all requests. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

/// The parts an [`App`] is made of.
pub struct Parts {
    pub config: Config,
    pub catalog: Catalog,
    pub gateways: Gateways,
    pub upstream: Upstream,
    pub store: Store,
    pub outage: Arc<Outage>,
    pub log_queue: LogQueue,
    pub metrics: Arc<Metrics>,
    pub secrets: SecretBox,
    pub cache: Arc<dyn CacheStore>,
    pub limiter: Arc<dyn RateLimitStore>,
    pub spinner: Arc<Spinner>,
}

impl Parts {
    /// Everything but the key cache, which always starts empty.
    fn into_inner(self) -> Inner {
        Inner {
            config: self.config,
            catalog: self.catalog,
            gateways: self.gateways,
            upstream: self.upstream,
            store: self.store,
            outage: self.outage,
            log_queue: self.log_queue,
            metrics: self.metrics,
            secrets: self.secrets,
            keys: KeyCache::default(),
            tokens: TokenCache::default(),
            customs: CustomCache::default(),
            cache: self.cache,
            limiter: self.limiter,
            spinner: self.spinner,
        }
    }
}

struct Inner {
    config: Config,
    catalog: Catalog,
    gateways: Gateways,
    upstream: Upstream,
    store: Store,
    outage: Arc<Outage>,
    log_queue: LogQueue,
    metrics: Arc<Metrics>,
    secrets: SecretBox,
    keys: KeyCache,
    tokens: TokenCache,
    customs: CustomCache,
    cache: Arc<dyn CacheStore>,
    limiter: Arc<dyn RateLimitStore>,
    spinner: Arc<Spinner>,
}

impl App {
    pub fn new(p: Parts) -> Self {
        Self {
            inner: Arc::new(p.into_inner()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Whether the store is known to be unreachable (see outage.rs).
    pub fn outage(&self) -> &Outage {
        &self.inner.outage
    }

    pub fn log_queue(&self) -> &LogQueue {
        &self.inner.log_queue
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.inner.secrets
    }

    pub fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.inner.tokens
    }

    pub fn customs(&self) -> &CustomCache {
        &self.inner.customs
    }

    pub fn cache(&self) -> &dyn CacheStore {
        self.inner.cache.as_ref()
    }

    pub fn limiter(&self) -> &dyn RateLimitStore {
        self.inner.limiter.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn gateways(&self) -> &Gateways {
        &self.inner.gateways
    }

    pub fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    pub fn spinner(&self) -> &Spinner {
        &self.inner.spinner
    }
}

/// The whole HTTP surface, ready to serve (or to drive in tests without a socket).
pub fn router(app: App) -> Router {
    let read_only = |route: axum::routing::MethodRouter<App>| route.fallback(get_only);
    Router::new()
        .route("/", read_only(get(crate::dashboard::page)))
        .route(
            crate::dashboard::SCRIPT_PATH,
            read_only(get(crate::dashboard::script)),
        )
        .route(
            crate::dashboard::STYLE_PATH,
            read_only(get(crate::dashboard::style)),
        )
        .route("/healthz", read_only(get(healthz)))
        .route("/metrics", read_only(get(metrics)))
        .route("/v1/{*rest}", any(proxy::handle))
        // No account id at all: refused as a bad one, with the ids every gateway answer has.
        .route("/v1", any(proxy::handle))
        .route("/v1/", any(proxy::handle))
        .merge(crate::control::router(app.clone()))
        .fallback(not_found)
        .with_state(app)
        .layer(CatchPanicLayer::custom(panic_response))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// How long a scrape waits for the requests answered so far to be counted.
const METRICS_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Prometheus text format (0.0.4); OpenMetrics to a scraper that asks for it.
///
/// Requests are counted by the log writer, tens of milliseconds after their answers: a scrape
/// first flushes the log queue (at most [`METRICS_SETTLE`]; a database outage holds the writer
/// up), so that it counts every request answered before it.
async fn metrics(State(app): State<App>, headers: http::HeaderMap) -> Response {
    let _ = tokio::time::timeout(METRICS_SETTLE, app.log_queue().flush()).await;
    let (depth, dropped) = (app.log_queue().depth(), app.log_queue().dropped());
    let open_metrics = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, text) = if open_metrics {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            app.metrics().render(depth, dropped),
        )
    } else {
        (
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics().render_prometheus(depth, dropped),
        )
    };
    ([(http::header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Another method on a GET-only route: 405 in the gateway's error shape, with `Allow` (a
/// body sent with it is thrown away, so that the client reads the 405).
async fn get_only(req: axum::extract::Request) -> Response {
    let method = req.method().clone();
    proxy::Leftover::of(req.headers()).discard(req.into_body());
    let mut resp = ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!("{method} is not allowed here; use GET"),
    )
    .into_response();
    resp.headers_mut().insert(
        http::header::ALLOW,
        http::HeaderValue::from_static("GET,HEAD"),
    );
    resp
}

async fn not_found(req: axum::extract::Request) -> Response {
    proxy::Leftover::of(req.headers()).discard(req.into_body());
    ApiError::new(ErrorKind::NotFound, "no such route").into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(ErrorKind::Internal, "internal error").into_response()
}

//! The application value and its router.
//!
//! Layers, outermost first: catch-panic (a bug answers 500 with the JSON error shape instead
//! of dropping the connection), then the routes:
//!
//! - `GET /healthz`: liveness and readiness (the store is open before the listener serves).
//! - `ANY /v1/...`: the gateway plane ([`crate::proxy`]).
//! - anything else: 404 in the gateway's JSON error shape.

use crate::config::Config;
use crate::error::ApiError;
use crate::gateways::Gateways;
use crate::proxy;
use crate::upstream::Upstream;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use std::sync::Arc;
use switchyard_core::ErrorKind;
use switchyard_providers::Catalog;
use tower_http::catch_panic::CatchPanicLayer;

/// Everything a request needs, shared by all requests. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    catalog: Catalog,
    gateways: Gateways,
    upstream: Upstream,
}

impl App {
    pub fn new(config: Config, catalog: Catalog, gateways: Gateways, upstream: Upstream) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                catalog,
                gateways,
                upstream,
            }),
        }
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
}

/// The whole HTTP surface, ready to serve (or to drive in tests without a socket).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/{*rest}", any(proxy::handle))
        .fallback(not_found)
        .with_state(app)
        .layer(CatchPanicLayer::custom(panic_response))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> Response {
    ApiError::new(ErrorKind::NotFound, "no such route").into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(ErrorKind::Internal, "internal error").into_response()
}

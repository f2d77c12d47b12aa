//! Switchyard's server: config, listener, routes and the gateway pipeline.
//!
//! Where to start reading:
//! - [`proxy`]: the pipeline every gateway-plane request runs, stage by stage.
//! - [`app`]: the shared application value and the router.
//! - [`serve`]: start-up and graceful shutdown.
//! - [`config`]: the TOML config, validated once.
//! - [`logpipe`]: how finished requests become stored log records.
//! - [`control`]: the Cloudflare-compatible REST API.
//! - [`dashboard`]: the web dashboard over that API.
//!
//! Provider wire details live in `switchyard-providers`; storage in `switchyard-store`.

pub mod app;
pub mod auth;
pub mod byok;
pub mod cache;
pub mod config;
pub mod control;
pub mod custom;
pub mod dashboard;
pub mod directives;
pub mod error;
pub mod exchange;
pub mod forward;
pub mod gateways;
pub mod logpipe;
pub mod memory;
pub mod metrics;
pub mod outage;
pub mod proxy;
pub mod relay;
pub mod sched;
pub mod secrets;
pub mod serve;
pub mod shape;
pub mod spill;
pub mod spin;
pub mod tokens;
pub mod universal;
pub mod upstream;

//! Switchyard's server: config, listener, routes and the gateway pipeline.
//!
//! Where to start reading:
//! - [`proxy`]: the pipeline every gateway-plane request runs, stage by stage.
//! - [`app`]: the shared application value and the router.
//! - [`serve`]: start-up and graceful shutdown.
//! - [`config`]: the TOML config, validated once.
//!
//! Provider wire details live in `switchyard-providers`; storage in `switchyard-store`.

pub mod app;
pub mod config;
pub mod error;
pub mod forward;
pub mod gateways;
pub mod proxy;
pub mod relay;
pub mod serve;
pub mod upstream;

//! The provider catalog and everything that turns a client's request into an upstream one.
//!
//! - [`catalog`]: providers as data (embedded `data/catalog.toml`, overridable per provider):
//!   base URL, auth header, wire format, compat paths.
//! - [`path`]: the safe join of a client's path onto a provider's base URL (SPEC 2.1).
//! - [`compat`]: `provider/model` names of the unified endpoint and the byte-level rewrite of
//!   the `model` field.
//! - [`usage`]: token usage and the answering model read from a response body, any wire format.
//! - [`sse`]: an incremental `text/event-stream` parser.
//! - [`translate`]: the unified endpoint's schema translation (OpenAI ↔ Anthropic ↔ Gemini):
//!   requests, answers, streams and errors.
//!
//! Adding an OpenAI-compatible provider is a table in the catalog, not code.

pub mod catalog;
pub mod compat;
pub mod path;
pub mod sse;
pub mod translate;
pub mod usage;

pub use catalog::{ApiShape, AuthStyle, Catalog, CatalogError, Provider, ProviderOverride};
pub use path::PathError;

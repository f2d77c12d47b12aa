//! The config file (SPEC section 6): raw TOML in, one validated [`Config`] out.
//!
//! Every value is checked while the TOML is read, so a bad key or value stops start-up with
//! a message naming the key and its line. Keys beyond SPEC 6 are documented in
//! `docs/config.md`.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use switchyard_core::price::{PriceOverrides, PriceTable};
use switchyard_core::{
    AccountId, Backoff, GatewayId, GatewaySettings, LogStrategy, RateLimitTechnique, Secret,
};
use switchyard_providers::{Catalog, CatalogError, ProviderOverride};

/// The validated configuration, handed down from `main`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub admin_token: Option<Secret>,
    /// Key that encrypts stored provider keys (32 bytes, base64); generated into a key file
    /// beside the database when absent.
    pub secret_key: Option<Secret>,
    pub database: String,
    pub redis: Option<String>,
    pub auto_create_gateways: bool,
    /// Time allowed for the upstream's response headers.
    pub upstream_timeout: Duration,
    /// How long an idle upstream connection is kept for reuse.
    pub upstream_idle_timeout: Duration,
    /// How long a client's connection may accept none of its answer before it is cut.
    pub client_write_timeout: Duration,
    /// How long in-flight requests may run on after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Size bound of the in-memory response cache.
    pub cache_max_bytes: u64,
    /// Whether requests go on when the rate-limit backend (Redis) cannot answer.
    pub rate_limit_fail_open: bool,
    /// How long a worker keeps polling its sockets after a request starts or ends
    /// ([`crate::spin`]); zero turns it off.
    pub busy_poll: Duration,
    /// Longest a client may take to send its request headers, or pause while sending its body.
    pub client_timeout: Duration,
    /// Where log records the database would not take at exit are saved ([`crate::spill`]);
    /// `None`: beside the SQLite database, else the working directory.
    pub log_spill_dir: Option<std::path::PathBuf>,
    pub providers: BTreeMap<String, ProviderOverride>,
    pub tokens: Vec<Token>,
    pub gateways: Vec<GatewaySettings>,
    pub provider_keys: Vec<ProviderKey>,
    /// `[prices.PROVIDER."MODEL"]`: changes to the price table.
    pub prices: PriceOverrides,
}

/// A value accepted in `cf-aig-authorization` for one account.
#[derive(Debug, Clone)]
pub struct Token {
    pub account_id: AccountId,
    pub value: Secret,
}

/// A stored provider key from the config.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    pub account_id: AccountId,
    pub gateway_id: GatewayId,
    pub provider: String,
    pub alias: String,
    pub key: Secret,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token: None,
            secret_key: None,
            database: "sqlite://switchyard.db".into(),
            redis: None,
            auto_create_gateways: true,
            upstream_timeout: Duration::from_secs(100),
            upstream_idle_timeout: Duration::from_secs(90),
            client_write_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
            max_body_bytes: 25 * 1024 * 1024,
            cache_max_bytes: 64 * 1024 * 1024,
            rate_limit_fail_open: true,
            busy_poll: Duration::from_micros(100),
            client_timeout: Duration::from_secs(75),
            log_spill_dir: None,
            providers: BTreeMap::new(),
            tokens: Vec::new(),
            gateways: Vec::new(),
            provider_keys: Vec::new(),
            prices: PriceOverrides::new(),
        }
    }
}

/// Why the config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A TOML error as its line, column, key and message, without the quoted source line the
/// parser would add: that line's value can be a secret (a token, a key, a password in a URL).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(span) = e.span() else {
        return format!("TOML parse error: {message}");
    };
    let before = &text[..span.start.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.len() - line_start + 1;
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    // The key (never its value), or a table header, which holds no secret.
    let what = match line.split_once('=') {
        Some((key, _)) if !line.starts_with('[') => format!(" (key {})", key.trim()),
        _ if line.starts_with('[') => format!(" ({line})"),
        _ => String::new(),
    };
    format!("TOML parse error at line {line_no}, column {column}{what}: {message}")
}

// ---- value types that validate themselves while the TOML is read ----

fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let sqlite_path = s
        .strip_prefix("sqlite://")
        .or_else(|| s.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(""));
    if sqlite_path == Some("") {
        return Err(serde::de::Error::custom(
            "database: a sqlite URL needs a file path (sqlite://PATH) or sqlite::memory:",
        ));
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        // Host, port and options checked now, not when the database is first connected.
        switchyard_store::check_postgres_url(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "database: not a PostgreSQL URL the driver can use ({})",
                crate::serve::redact_url(&e)
            ))
        })?;
        Ok(Some(s))
    } else if s.starts_with("sqlite:") {
        Ok(Some(s))
    } else {
        Err(serde::de::Error::custom(
            "database must be a sqlite://PATH or postgres://... URL",
        ))
    }
}

fn redis_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.starts_with("redis://") || s.starts_with("rediss://") || s.starts_with("redis+unix://") {
        switchyard_store::kv::check_url(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "redis: not a Redis URL the client can use ({})",
                crate::serve::redact_url(&e)
            ))
        })?;
        Ok(Some(s))
    } else {
        Err(serde::de::Error::custom(
            "redis must be a redis://HOST[:PORT][/DB] URL",
        ))
    }
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(serde::de::Error::custom(
            "must not contain control characters",
        ));
    }
    Ok(Secret::new(s))
}

fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    secret(d).map(Some)
}

fn secret_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    use base64::Engine;
    let s = String::deserialize(d)?;
    match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
        Ok(bytes) if bytes.len() == 32 => Ok(Some(Secret::new(s.trim()))),
        _ => Err(serde::de::Error::custom(
            "secret_key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)",
        )),
    }
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = u64::deserialize(d)?;
    if v == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(Some(v))
}

/// The most attempts a gateway's retry setting may ask for (as `cf-aig-max-attempts`).
pub const MAX_RETRY_ATTEMPTS: u64 = 5;
/// The longest rate-limit window a gateway may set, in seconds (a day).
pub const MAX_RATE_LIMIT_INTERVAL: u64 = 86_400;

fn attempts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = u32::deserialize(d)?;
    if !(1..=MAX_RETRY_ATTEMPTS).contains(&u64::from(v)) {
        return Err(serde::de::Error::custom(
            "retry_max_attempts must be between 1 and 5",
        ));
    }
    Ok(Some(v))
}

/// The longest pause between attempts a gateway may set, in ms (Cloudflare's API takes 0 to
/// 60000; the `cf-aig-retry-delay` header stops at 5000, as SPEC says).
pub const MAX_GATEWAY_RETRY_DELAY: u64 = 60_000;

fn retry_delay<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = u64::deserialize(d)?;
    if v > MAX_GATEWAY_RETRY_DELAY {
        return Err(serde::de::Error::custom(
            "retry_delay must be at most 60000 (ms)",
        ));
    }
    Ok(Some(v))
}

fn body_cap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = u64::deserialize(d)?;
    if v == 0 || v > 1024 * 1024 * 1024 {
        return Err(serde::de::Error::custom(
            "max_body_bytes must be between 1 and 1073741824",
        ));
    }
    Ok(Some(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "opt_secret")]
    admin_token: Option<Secret>,
    #[serde(default, deserialize_with = "secret_key")]
    secret_key: Option<Secret>,
    #[serde(default, deserialize_with = "database_url")]
    database: Option<String>,
    #[serde(default, deserialize_with = "redis_url")]
    redis: Option<String>,
    auto_create_gateways: Option<bool>,
    #[serde(default, deserialize_with = "positive")]
    upstream_timeout_ms: Option<u64>,
    upstream_idle_timeout_ms: Option<u64>,
    client_write_timeout_ms: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    #[serde(default, deserialize_with = "body_cap")]
    max_body_bytes: Option<u64>,
    cache_max_bytes: Option<u64>,
    rate_limit_fail_open: Option<bool>,
    busy_poll_us: Option<u64>,
    client_timeout_ms: Option<u64>,
    log_spill_dir: Option<std::path::PathBuf>,
    // Not `Spanned` either: a table toml made implicitly (`[providers.grok.headers]` alone,
    // or dotted keys) has no span, and `Spanned` then refuses valid TOML. Lines for errors
    // come from [`provider_offset`].
    #[serde(default)]
    providers: BTreeMap<String, ProviderOverride>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default)]
    gateways: Vec<toml::Spanned<RawGateway>>,
    #[serde(default)]
    provider_keys: Vec<toml::Spanned<RawProviderKey>>,
    // Not `Spanned`: toml cannot wrap a table of tables keyed by name in one.
    prices: Option<PriceOverrides>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    account_id: AccountId,
    #[serde(deserialize_with = "secret")]
    value: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    account_id: AccountId,
    id: GatewayId,
    authentication: Option<bool>,
    collect_logs: Option<bool>,
    cache_ttl: Option<u64>,
    cache_invalidate_on_update: Option<bool>,
    rate_limiting_limit: Option<u64>,
    rate_limiting_interval: Option<u64>,
    rate_limiting_technique: Option<RateLimitTechnique>,
    log_management: Option<u64>,
    log_management_strategy: Option<LogStrategy>,
    #[serde(default, deserialize_with = "attempts")]
    retry_max_attempts: Option<u32>,
    #[serde(default, deserialize_with = "retry_delay")]
    retry_delay: Option<u64>,
    retry_backoff: Option<Backoff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviderKey {
    account_id: AccountId,
    gateway_id: GatewayId,
    provider: String,
    alias: Option<String>,
    #[serde(deserialize_with = "secret")]
    key: Secret,
}

/// A duration given in milliseconds, else `default`.
fn millis(value: Option<u64>, default: Duration) -> Duration {
    value.map_or(default, Duration::from_millis)
}

/// The line of `key` inside the table that starts at `table` (byte offset), else the
/// table's own line: so that an error found after parsing names the key's line.
fn key_line(text: &str, table: usize, key: &str) -> usize {
    let first = line_of(text, table);
    text.lines()
        .enumerate()
        .skip(first)
        // The table ends where the next one begins.
        .take_while(|(_, l)| !l.trim_start().starts_with('['))
        .find(|(_, l)| {
            l.split('=')
                .next()
                .map(|k| k.trim().trim_matches(|c| c == '"' || c == '\''))
                == Some(key)
        })
        .map_or(first, |(i, _)| i + 1)
}

/// The byte offset of the line where `[providers.SLUG]` is first written: its table header,
/// a header of a table inside it, or a dotted key (`providers.SLUG.base_url = ...`), quotes
/// aside; else 0.
fn provider_offset(text: &str, slug: &str) -> usize {
    let table = format!("providers.{slug}");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let l: String = line
            .trim()
            .chars()
            .filter(|c| *c != '"' && *c != '\'' && !c.is_whitespace())
            .collect();
        let l = l.strip_prefix('[').unwrap_or(&l);
        if let Some(rest) = l.strip_prefix(table.as_str()) {
            if rest.starts_with([']', '.', '=']) {
                return offset;
            }
        }
        offset += line.len();
    }
    0
}

/// `" (line N)"` for the first table header (quotes aside) that `is` accepts, or nothing.
fn price_header_line(text: &str, is: impl Fn(&str) -> bool) -> String {
    text.lines()
        .position(|l| {
            let header: String = l.trim().chars().filter(|c| *c != '"').collect();
            is(&header)
        })
        .map_or(String::new(), |n| format!(" (line {})", n + 1))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Validates TOML text; the error names the key and line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let defaults = Config::default();
        // Durations with bounds, so a typo cannot make a wait of days (or none at all).
        for (key, value, lo, hi) in [
            (
                "upstream_timeout_ms",
                raw.upstream_timeout_ms,
                1,
                86_400_000,
            ),
            (
                "upstream_idle_timeout_ms",
                raw.upstream_idle_timeout_ms,
                1,
                3_600_000,
            ),
            ("shutdown_grace_secs", raw.shutdown_grace_secs, 0, 86_400),
            ("busy_poll_us", raw.busy_poll_us, 0, 10_000),
            ("client_timeout_ms", raw.client_timeout_ms, 1, 3_600_000),
            (
                "client_write_timeout_ms",
                raw.client_write_timeout_ms,
                1,
                3_600_000,
            ),
        ] {
            if let Some(v) = value.filter(|v| !(lo..=hi).contains(v)) {
                return Err(format!(
                    "{key} (line {}): {v} is out of range ({lo} to {hi})",
                    key_line(text, 0, key)
                ));
            }
        }

        let mut providers = BTreeMap::new();
        for (slug, o) in raw.providers {
            let start = provider_offset(text, &slug);
            // Validate each table alone so the error names its line (the key's, when the
            // message names one).
            let mut one = BTreeMap::new();
            one.insert(slug.clone(), o.clone());
            Catalog::with_overrides(&one).map_err(|e| {
                let line = match e {
                    CatalogError::BadBaseUrl { .. } => key_line(text, start, "base_url"),
                    CatalogError::BadHeader { .. } => key_line(text, start, "headers"),
                    // A form's own table, where it is written out.
                    CatalogError::BadFormOverride { ref form, .. }
                    | CatalogError::UnknownForm { ref form, .. } => {
                        let table = format!("{slug}.forms.{form}");
                        match provider_offset(text, &table) {
                            0 => line_of(text, start),
                            at => line_of(text, at),
                        }
                    }
                    _ => line_of(text, start),
                };
                format!("[providers.{slug}] (line {line}): {e}")
            })?;
            providers.insert(slug, o);
        }
        let catalog = Catalog::with_overrides(&providers).map_err(|e| e.to_string())?;

        let now = switchyard_core::clock::now_rfc3339();
        let mut gateways: Vec<GatewaySettings> = Vec::new();
        for spanned in raw.gateways {
            let start = spanned.span().start;
            let line = line_of(text, start);
            let g = spanned.into_inner();
            if gateways
                .iter()
                .any(|x| x.account_id == g.account_id && x.id == g.id)
            {
                return Err(format!(
                    "[[gateways]] (line {line}): gateway '{}' of account '{}' is defined twice",
                    g.id, g.account_id
                ));
            }
            let mut s = GatewaySettings::new(g.account_id, g.id, now.clone());
            s.authentication = g.authentication.unwrap_or(s.authentication);
            s.collect_logs = g.collect_logs.unwrap_or(s.collect_logs);
            s.cache_ttl = g.cache_ttl.unwrap_or(s.cache_ttl);
            s.cache_invalidate_on_update = g
                .cache_invalidate_on_update
                .unwrap_or(s.cache_invalidate_on_update);
            s.rate_limiting_limit = g.rate_limiting_limit.unwrap_or(s.rate_limiting_limit);
            s.rate_limiting_interval = g.rate_limiting_interval.unwrap_or(s.rate_limiting_interval);
            s.rate_limiting_technique = g
                .rate_limiting_technique
                .unwrap_or(s.rate_limiting_technique);
            s.log_management = g.log_management.or(s.log_management);
            s.log_management_strategy = g
                .log_management_strategy
                .unwrap_or(s.log_management_strategy);
            s.retry_max_attempts = g.retry_max_attempts.unwrap_or(s.retry_max_attempts);
            s.retry_delay = g.retry_delay.unwrap_or(s.retry_delay);
            s.retry_backoff = g.retry_backoff.unwrap_or(s.retry_backoff);
            // The control plane's bounds, so a gateway reads the same whichever way it was set.
            let bounds = [
                ("cache_ttl", s.cache_ttl, 0, u64::from(u32::MAX)),
                (
                    "rate_limiting_interval",
                    s.rate_limiting_interval,
                    0,
                    MAX_RATE_LIMIT_INTERVAL,
                ),
                (
                    "log_management",
                    s.log_management.unwrap_or(0),
                    0,
                    10_000_000,
                ),
                (
                    "retry_max_attempts",
                    u64::from(s.retry_max_attempts),
                    1,
                    MAX_RETRY_ATTEMPTS,
                ),
                ("retry_delay", s.retry_delay, 0, MAX_GATEWAY_RETRY_DELAY),
            ];
            for (name, value, lo, hi) in bounds {
                if !(lo..=hi).contains(&value) {
                    return Err(format!(
                        "[[gateways]] (line {}): {name} = {value} is out of range ({lo} to {hi})",
                        key_line(text, start, name)
                    ));
                }
            }
            // As the control plane reads it: 0 s is 1 s without a limit, and refused with one.
            if s.rate_limiting_interval == 0 && s.rate_limiting_limit > 0 {
                return Err(format!(
                    "[[gateways]] (line {}): rate_limiting_interval must be at least 1 with a rate limit",
                    key_line(text, start, "rate_limiting_interval")
                ));
            }
            s.rate_limiting_interval = s.rate_limiting_interval.max(1);
            gateways.push(s);
        }

        let mut provider_keys = Vec::new();
        for spanned in raw.provider_keys {
            let start = spanned.span().start;
            let k = spanned.into_inner();
            // A custom provider may be defined later, through the API.
            if catalog.get(&k.provider).is_none() && !k.provider.starts_with("custom-") {
                return Err(format!(
                    "[[provider_keys]] (line {}): provider '{}' is not in the catalog (nor custom-*)",
                    key_line(text, start, "provider"),
                    k.provider
                ));
            }
            let alias = k.alias.unwrap_or_else(|| "default".into());
            if alias.is_empty()
                || alias.len() > 64
                || !alias
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "[[provider_keys]] (line {}): alias must be 1-64 of [A-Za-z0-9_-]",
                    key_line(text, start, "alias")
                ));
            }
            provider_keys.push(ProviderKey {
                account_id: k.account_id,
                gateway_id: k.gateway_id,
                provider: k.provider,
                alias,
                key: k.key,
            });
        }

        let prices = match raw.prices {
            None => PriceOverrides::new(),
            Some(prices) => {
                // An entry no lookup reads is a mistake to report: a provider the gateway cannot
                // route to (most likely a misspelt slug; custom providers may be defined later,
                // through the API). A provider priced from another's table reads its own
                // entries first.
                for p in prices.keys() {
                    let slug = p.trim().to_ascii_lowercase();
                    let why = match catalog.get(&slug) {
                        None if slug.starts_with("custom-") => continue,
                        None => "is not in the catalog (nor custom-*)".to_owned(),
                        Some(_) => continue,
                    };
                    let line = price_header_line(text, |h| {
                        h.starts_with(&format!("[prices.{p}.")) || h == format!("[prices.{p}]")
                    });
                    return Err(format!("[prices]{line}: provider '{p}' {why}"));
                }
                PriceTable::with_overrides(&prices).map_err(|e| {
                    // The header of the entry at fault, if it has one of its own.
                    let line = match &e {
                        switchyard_core::price::PriceError::Invalid {
                            provider, model, ..
                        } => {
                            price_header_line(text, |h| h == format!("[prices.{provider}.{model}]"))
                        }
                        _ => String::new(),
                    };
                    format!("[prices]{line}: {e}")
                })?;
                prices
            }
        };

        Ok(Config {
            listen: raw.listen.unwrap_or(defaults.listen),
            admin_token: raw.admin_token,
            secret_key: raw.secret_key,
            database: raw.database.unwrap_or(defaults.database),
            redis: raw.redis,
            auto_create_gateways: raw
                .auto_create_gateways
                .unwrap_or(defaults.auto_create_gateways),
            upstream_timeout: millis(raw.upstream_timeout_ms, defaults.upstream_timeout),
            upstream_idle_timeout: millis(
                raw.upstream_idle_timeout_ms,
                defaults.upstream_idle_timeout,
            ),
            client_write_timeout: millis(
                raw.client_write_timeout_ms,
                defaults.client_write_timeout,
            ),
            shutdown_grace: raw
                .shutdown_grace_secs
                .map(Duration::from_secs)
                .unwrap_or(defaults.shutdown_grace),
            max_body_bytes: raw
                .max_body_bytes
                .map(|v| v as usize)
                .unwrap_or(defaults.max_body_bytes),
            cache_max_bytes: raw.cache_max_bytes.unwrap_or(defaults.cache_max_bytes),
            rate_limit_fail_open: raw
                .rate_limit_fail_open
                .unwrap_or(defaults.rate_limit_fail_open),
            busy_poll: raw
                .busy_poll_us
                .map(Duration::from_micros)
                .unwrap_or(defaults.busy_poll),
            client_timeout: millis(raw.client_timeout_ms, defaults.client_timeout),
            log_spill_dir: raw.log_spill_dir.filter(|d| !d.as_os_str().is_empty()),
            providers,
            tokens: raw
                .tokens
                .into_iter()
                .map(|t| Token {
                    account_id: t.account_id,
                    value: t.value,
                })
                .collect(),
            gateways,
            provider_keys,
            prices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"
listen = "127.0.0.1:8080"
admin_token = "change-me"
database = "sqlite://switchyard.db"      # or postgres://user@host/db
redis = "redis://127.0.0.1:6379"         # optional
auto_create_gateways = true

[providers.grok]
base_url = "https://api.x.ai/v1"          # point at a test double in tests

[[tokens]]                                # values accepted in cf-aig-authorization
account_id = "acct"
value = "secret-token"

[[gateways]]
account_id = "acct"
id = "gw"
authentication = false
collect_logs = true
cache_ttl = 0
rate_limiting_limit = 0                   # 0 = off
rate_limiting_interval = 60
rate_limiting_technique = "fixed"

[[provider_keys]]                         # stored keys: used when the client sends none
account_id = "acct"
gateway_id = "gw"
provider = "grok"
key = "xai-..."
"#;

    #[test]
    fn accepts_the_spec_example() {
        let c = Config::parse(SPEC_EXAMPLE).expect("the SPEC example is valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.redis.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(c.tokens.len(), 1);
        assert_eq!(c.tokens[0].value.expose(), "secret-token");
        assert_eq!(c.gateways[0].id.as_str(), "gw");
        assert_eq!(c.provider_keys[0].alias, "default");
        assert!(
            !format!("{c:?}").contains("secret-token"),
            "secrets never print"
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("").expect("empty is valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database, "sqlite://switchyard.db");
        assert!(c.auto_create_gateways);
        assert_eq!(c.upstream_timeout, Duration::from_secs(100));
        assert_eq!(c.upstream_idle_timeout, Duration::from_secs(90));
        assert_eq!(c.client_write_timeout, Duration::from_secs(300));
        assert_eq!(c.busy_poll, Duration::from_micros(100));
        let c = Config::parse("upstream_idle_timeout_ms = 4000\n").expect("valid");
        assert_eq!(c.upstream_idle_timeout, Duration::from_secs(4));
    }

    #[test]
    fn busy_polling_can_be_tuned_or_turned_off() {
        let c = Config::parse("busy_poll_us = 0\n").expect("valid");
        assert_eq!(c.busy_poll, Duration::ZERO);
        let c = Config::parse("busy_poll_us = 250\n").expect("valid");
        assert_eq!(c.busy_poll, Duration::from_micros(250));
        let e = err("busy_poll_us = -1\n");
        assert!(e.contains("busy_poll_us") && e.contains("line 1"), "{e}");
        for (text, key) in [
            (
                "listen = \"127.0.0.1:1\"\nbusy_poll_us = 99999999999\n",
                "busy_poll_us",
            ),
            ("upstream_timeout_ms = 86400001\n", "upstream_timeout_ms"),
            ("shutdown_grace_secs = 100000\n", "shutdown_grace_secs"),
            ("upstream_idle_timeout_ms = 0\n", "upstream_idle_timeout_ms"),
        ] {
            let e = err(text);
            assert!(e.contains(key) && e.contains("out of range"), "{e}");
        }
        let e = err("listen = \"127.0.0.1:1\"\nbusy_poll_us = 99999999999\n");
        assert!(e.contains("line 2"), "{e}");
        assert!(Config::parse("upstream_timeout_ms = 86400000\nshutdown_grace_secs = 0\n").is_ok());
    }

    fn err(text: &str) -> String {
        Config::parse(text).expect_err("must be refused")
    }

    #[test]
    fn checks_after_parsing_name_the_keys_own_line() {
        let e = err("listen = \"127.0.0.1:1\"\n\n[providers.grok]\nname = \"x\"\nbase_url = \"not a url\"\n");
        assert!(e.contains("[providers.grok] (line 5)"), "{e}");
        let e = err("[[provider_keys]]\naccount_id = \"a\"\ngateway_id = \"g\"\nprovider = \"nope\"\nkey = \"k\"\n");
        assert!(e.contains("(line 4)") && e.contains("nope"), "{e}");
        let e = err("[[provider_keys]]\naccount_id = \"a\"\ngateway_id = \"g\"\nprovider = \"grok\"\nkey = \"k\"\nalias = \"a b\"\n");
        assert!(e.contains("(line 6)") && e.contains("alias"), "{e}");
    }

    #[test]
    fn prices_in_the_config_change_the_table() {
        let c = Config::parse(
            "[prices.grok.\"grok-4\"]\ninput = 3.0\noutput = 15.0\n\n\
             [prices.openai.my-model]\ninput = 1.0\noutput = 2.0\naliases = [\"my-model-latest\"]\n\
             long_context = { above = 1000, input = 2.0 }\n",
        )
        .expect("valid prices");
        assert_eq!(c.prices["grok"]["grok-4"].output, 15.0);
        let table = PriceTable::with_overrides(&c.prices).expect("overlays");
        assert!(table.lookup("openai", "my-model-latest").is_some());
        // A wrong type names the key and its line.
        let e = err("listen = \"127.0.0.1:1\"\n[prices.grok.x]\ninput = \"cheap\"\noutput = 1.0\n");
        assert!(e.contains("line 3") && e.contains("input"), "{e}");
        // A provider outside the catalog is a misspelling (custom providers may come later).
        let e = err(
            "listen = \"127.0.0.1:1\"\n\n[prices.gork.\"grok-4\"]\ninput = 1.0\noutput = 1.0\n",
        );
        assert!(e.contains("'gork'") && e.contains("line 3"), "{e}");
        Config::parse("[prices.custom-mine.m]\ninput = 1.0\noutput = 1.0\n").expect("custom");
        Config::parse("[prices.Grok.m]\ninput = 1.0\noutput = 1.0\n").expect("any case");
        // A provider priced from another's table may have entries of its own, read first.
        Config::parse("[prices.google-vertex-ai.m]\ninput = 1.0\noutput = 1.0\n")
            .expect("vertex's own entries");
        // A missing rate is refused too.
        let e = err("[prices.grok.x]\ninput = 1.0\n");
        assert!(e.contains("output"), "{e}");
        // A bad value found after parsing names its own entry's header.
        let e = err("[prices.grok.a]\ninput = 1.0\noutput = 1.0\n\n[prices.grok.\"b-1\"]\ninput = -1.0\noutput = 1.0\n");
        assert!(e.contains("(line 5)") && e.contains("grok/b-1"), "{e}");
    }

    /// Tables toml makes implicitly are as good as written-out ones: a provider's headers or
    /// form alone, dotted keys.
    #[test]
    fn provider_tables_may_be_implicit() {
        for text in [
            "[providers.grok.headers]\nx-team = \"a\"\n",
            "[providers.aws-bedrock.forms.bedrock-mantle]\nbase_url = \"https://proxy.example/mantle/{region}\"\n",
            "providers.grok.base_url = \"http://127.0.0.1:9/v1\"\n",
            "[providers]\ngrok.base_url = \"http://127.0.0.1:9/v1\"\n",
        ] {
            let c = Config::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(c.providers.len(), 1, "{text}");
        }
        // And their errors still name a line.
        let e = err("listen = \"127.0.0.1:1\"\n\n[providers.grok.forms.nope]\nbase_url = \"https://x.example\"\n");
        assert!(e.contains("(line 3)") && e.contains("nope"), "{e}");
        // A form's bad key is told at the form's table, not its provider's.
        let e = err("[providers.aws-bedrock]\nname = \"B\"\n\n[providers.aws-bedrock.forms.bedrock-mantle]\nbase_url = \"https://x.example/{region}\"\nchat_path = \"x\"\n");
        assert!(
            e.contains("(line 4)") && e.contains("bedrock-mantle"),
            "{e}"
        );
        let e = err("\nproviders.grok.base_url = \"ftp://x\"\n");
        assert!(e.contains("(line 2)"), "{e}");
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = err("listen = \"127.0.0.1:1\"\nlisten_port = 3\n");
        assert!(e.contains("listen_port") && e.contains("line 2"), "{e}");

        let e = err("\n\n[[gateways]]\naccount_id = \"a\"\nid = \"g\"\ncache_ttl = -1\n");
        assert!(e.contains("line 6") && e.contains("cache_ttl"), "{e}");

        let e = err(
            "[[gateways]]\naccount_id = \"a\"\nid = \"g\"\nrate_limiting_technique = \"leaky\"\n",
        );
        assert!(e.contains("line 4") && e.contains("leaky"), "{e}");

        let e = err("[[gateways]]\naccount_id = \"a b\"\nid = \"g\"\n");
        assert!(e.contains("line 2") && e.contains("account id"), "{e}");

        let e = err("\n[providers.nope]\nbase_url = \"https://x.example\"\n");
        assert!(e.contains("nope") && e.contains("line 2"), "{e}");

        let e = err("[providers.grok]\nbase_url = \"ftp://x\"\n");
        assert!(e.contains("grok") && e.contains("line 2"), "{e}");

        for empty in ["sqlite://", "sqlite:", "sqlite://?mode=rwc"] {
            let e = err(&format!("database = \"{empty}\"\n"));
            assert!(e.contains("file path"), "{empty}: {e}");
        }
        assert!(Config::parse("database = \"sqlite::memory:\"\n").is_ok());
        let e = err("database = \"mysql://x\"\n");
        assert!(e.contains("database") && e.contains("line 1"), "{e}");
        // URLs that only connecting would have found wrong: found while reading, with the line.
        for (text, key) in [
            (
                "\ndatabase = \"postgres://u:pw@h:notaport/x\"\n",
                "database",
            ),
            ("\nredis = \"redis://127.0.0.1:99999\"\n", "redis"),
            ("\nredis = \"redis://:pw@127.0.0.1:6379/abc\"\n", "redis"),
        ] {
            let e = err(text);
            assert!(e.contains(key) && e.contains("line 2"), "{text}: {e}");
            assert!(!e.contains("pw@"), "the password was printed: {e:?}");
        }
        assert!(Config::parse("redis = \"redis://:pw@127.0.0.1:6379/3\"\n").is_ok());
        assert!(Config::parse(
            "database = \"postgres://u:pw@db.example:5433/x?sslmode=require\"\n"
        )
        .is_ok());

        let e = err("[[gateways]]\naccount_id = \"a\"\nid = \"g\"\nretry_max_attempts = 9\n");
        assert!(e.contains("line 4"), "{e}");
        // A value out of range is reported at its own line, not the table's.
        for (key, value) in [
            ("rate_limiting_interval", "100000"),
            ("log_management", "20000000"),
            ("cache_ttl", "4294967296"),
        ] {
            let e = err(&format!(
                "\n[[gateways]]\naccount_id = \"a\"\nid = \"g\"\n\n{key} = {value}\n"
            ));
            assert!(e.contains(key) && e.contains("out of range"), "{key}: {e}");
            assert!(e.contains("(line 6)"), "{key}: {e}");
        }
        let e = err("[[gateways]]\naccount_id = \"a\"\nid = \"g\"\nrate_limiting_limit = 5\nrate_limiting_interval = 0\n");
        assert!(
            e.contains("rate_limiting_interval") && e.contains("(line 5)"),
            "{e}"
        );
        // A quoted key is found at its line too.
        let e = err("[[gateways]]\naccount_id = \"a\"\nid = \"g\"\nrate_limiting_limit = 5\n\"rate_limiting_interval\" = 0\n");
        assert!(e.contains("(line 5)"), "{e}");
        // Without a limit, 0 s is read as 1 s, as the control plane reads it.
        let c = Config::parse(
            "[[gateways]]\naccount_id = \"a\"\nid = \"g\"\nrate_limiting_interval = 0\n",
        )
        .expect("an interval of 0 without a limit");
        assert_eq!(c.gateways[0].rate_limiting_interval, 1);

        let e = err("\n\n[[provider_keys]]\naccount_id = \"a\"\ngateway_id = \"g\"\nprovider = \"nope\"\nkey = \"k\"\n");
        assert!(e.contains("line 6") && e.contains("nope"), "{e}");

        let e = err("[[tokens]]\naccount_id = \"a\"\nvalue = \"\"\n");
        assert!(e.contains("line 3"), "{e}");
    }
}

//! `GET /metrics`: Prometheus text format.
//!
//! Request, usage and log-writer metrics are recorded by the log writer task, off the
//! response path; queue depth and drops are read when scraped.
//!
//! Label values that come from traffic are bounded, so that no client can grow the series
//! (and the process's memory, and every scrape) without end: the first [`MAX_MODELS`] model
//! names and [`MAX_GATEWAYS`] gateways (account and id) seen get series of their own, later
//! ones count under `other`. Gateways are labelled by `account` and `gateway`: two accounts'
//! gateways of one name are two series. Tokens count what providers were asked to process: a cache hit adds none.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;
use switchyard_core::Usage;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    account: String,
    gateway: String,
    provider: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    account: String,
    gateway: String,
}

/// Distinct model names with series of their own.
pub const MAX_MODELS: usize = 1000;
/// Distinct gateways (account and id) with series of their own.
pub const MAX_GATEWAYS: usize = 1000;
/// The label value of everything past a bound.
pub const OTHER: &str = "other";

/// The values one label has taken, up to a bound.
struct Bounded {
    seen: Mutex<HashSet<Box<str>>>,
    max: usize,
}

impl Bounded {
    fn new(max: usize) -> Self {
        Self {
            seen: Mutex::new(HashSet::new()),
            max,
        }
    }

    /// `value` when it already has series or there is room for it, else [`OTHER`].
    fn label<'a>(&self, value: &'a str) -> &'a str {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(value) {
            value
        } else if seen.len() < self.max {
            seen.insert(value.into());
            value
        } else {
            OTHER
        }
    }
}

/// The (account, gateway) pairs with series of their own, up to a bound; looked up without
/// building a key.
struct BoundedPairs {
    /// Gateways by account, and how many in all.
    seen: Mutex<(PairSet, usize)>,
    max: usize,
}

type PairSet = HashMap<Box<str>, HashSet<Box<str>>>;

impl BoundedPairs {
    fn new(max: usize) -> Self {
        Self {
            seen: Mutex::new((HashMap::new(), 0)),
            max,
        }
    }

    /// Whether the pair already has series or there is room for it.
    fn admits(&self, account: &str, gateway: &str) -> bool {
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (by_account, count) = &mut *guard;
        if by_account.get(account).is_some_and(|g| g.contains(gateway)) {
            return true;
        }
        if *count >= self.max {
            return false;
        }
        *count += 1;
        by_account
            .entry(account.into())
            .or_default()
            .insert(gateway.into());
        true
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~65 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    upstream_latency: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    ttfb: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    cache_hits: Family<GatewayLabels, Counter>,
    rate_limited: Family<GatewayLabels, Counter>,
    backend_errors: Family<OpLabels, Counter>,
    log_written: Counter,
    log_skipped: Counter,
    log_write_failures: Counter,
    log_batch_seconds: Histogram,
    log_queue_depth: Gauge,
    log_dropped: Counter,
    models: Bounded,
    gateways: BoundedPairs,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchyard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by account, gateway, provider and response status",
            requests.clone(),
        );
        let upstream_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time from arrival to the end of the response body",
            upstream_latency.clone(),
        );
        let ttfb = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "time_to_first_byte_seconds",
            "Time from arrival to the first response body byte",
            ttfb.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens sent to and produced by providers (cache hits not counted), by provider, model and direction",
            tokens.clone(),
        );
        let cost = Family::<ModelLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "cost_usd",
            "Cost in USD by provider and model",
            cost.clone(),
        );
        let cache_hits = Family::<GatewayLabels, Counter>::default();
        registry.register(
            "cache_hits",
            "Requests answered from the cache",
            cache_hits.clone(),
        );
        let rate_limited = Family::<GatewayLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a gateway rate limit",
            rate_limited.clone(),
        );
        let backend_errors = Family::<OpLabels, Counter>::default();
        registry.register(
            "shared_state_errors",
            "Cache or rate-limit backend failures (the request went on without it)",
            backend_errors.clone(),
        );
        let log_written = Counter::default();
        registry.register(
            "log_records_written",
            "Log records stored",
            log_written.clone(),
        );
        let log_skipped = Counter::default();
        registry.register(
            "log_records_skipped",
            "Log records not stored because the gateway's log_management cap was reached",
            log_skipped.clone(),
        );
        let log_write_failures = Counter::default();
        registry.register(
            "log_write_failures",
            "Failed log batch writes (retried)",
            log_write_failures.clone(),
        );
        let log_batch_seconds = latency_histogram();
        registry.register(
            "log_batch_write_seconds",
            "Time to write one log batch",
            log_batch_seconds.clone(),
        );
        let log_queue_depth = Gauge::default();
        registry.register(
            "log_queue_depth",
            "Log records waiting to be written",
            log_queue_depth.clone(),
        );
        let log_dropped = Counter::default();
        registry.register(
            "log_records_dropped",
            "Log records dropped because the queue was full",
            log_dropped.clone(),
        );
        Self {
            registry,
            requests,
            upstream_latency,
            ttfb,
            tokens,
            cost,
            cache_hits,
            rate_limited,
            backend_errors,
            log_written,
            log_skipped,
            log_write_failures,
            log_batch_seconds,
            log_queue_depth,
            log_dropped,
            models: Bounded::new(MAX_MODELS),
            gateways: BoundedPairs::new(MAX_GATEWAYS),
        }
    }

    /// The `account` and `gateway` label values of a gateway (`other` for both past the
    /// bound).
    fn gateway_labels(&self, account: &str, gateway: &str) -> GatewayLabels {
        if self.gateways.admits(account, gateway) {
            GatewayLabels {
                account: account.to_owned(),
                gateway: gateway.to_owned(),
            }
        } else {
            GatewayLabels {
                account: OTHER.to_owned(),
                gateway: OTHER.to_owned(),
            }
        }
    }

    /// One finished request, under its gateway (account, id) and provider when they were
    /// resolved (`-` otherwise); `upstream`: its duration and time to first byte when a
    /// provider answered it (not for cache hits or refusals).
    pub fn request(
        &self,
        gateway: Option<(&str, &str)>,
        provider: Option<&str>,
        status: u16,
        upstream: Option<(Duration, Option<Duration>)>,
    ) {
        let provider = provider.unwrap_or("-");
        let GatewayLabels { account, gateway } = match gateway {
            Some((a, g)) => self.gateway_labels(a, g),
            None => GatewayLabels {
                account: "-".to_owned(),
                gateway: "-".to_owned(),
            },
        };
        self.requests
            .get_or_create(&RequestLabels {
                account,
                gateway,
                provider: provider.to_owned(),
                // HTTP's own codes; whatever else a provider sends counts under one label.
                status: if (100..=599).contains(&status) {
                    status.to_string()
                } else {
                    "other".to_owned()
                },
            })
            .inc();
        if let Some((duration, ttft)) = upstream {
            let p = ProviderLabels {
                provider: provider.to_owned(),
            };
            self.upstream_latency
                .get_or_create(&p)
                .observe(duration.as_secs_f64());
            if let Some(t) = ttft {
                self.ttfb.get_or_create(&p).observe(t.as_secs_f64());
            }
        }
    }

    /// Tokens and cost of one request (a cache hit's tokens were not processed by the
    /// provider and cost nothing: neither counts).
    pub fn usage(
        &self,
        provider: &str,
        model: Option<&str>,
        usage: &Usage,
        cost_usd: f64,
        cached: bool,
    ) {
        if cached {
            return;
        }
        let model = model.map_or("-", |m| self.models.label(m));
        let count = |direction: &'static str, n: Option<u64>| {
            if let Some(n) = n.filter(|&n| n > 0) {
                self.tokens
                    .get_or_create(&TokenLabels {
                        provider: provider.to_owned(),
                        model: model.to_owned(),
                        direction,
                    })
                    .inc_by(n);
            }
        };
        count("in", usage.tokens_in);
        count("out", usage.tokens_out);
        count("reasoning", usage.reasoning_tokens);
        if cost_usd > 0.0 {
            self.cost
                .get_or_create(&ModelLabels {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                })
                .inc_by(cost_usd);
        }
    }

    pub fn cache_hit(&self, account: &str, gateway: &str) {
        self.cache_hits
            .get_or_create(&self.gateway_labels(account, gateway))
            .inc();
    }

    pub fn rate_limited(&self, account: &str, gateway: &str) {
        self.rate_limited
            .get_or_create(&self.gateway_labels(account, gateway))
            .inc();
    }

    pub fn backend_error(&self, op: &'static str) {
        self.backend_errors.get_or_create(&OpLabels { op }).inc();
    }

    pub fn log_batch(&self, written: u64, skipped: u64, took: Duration) {
        self.log_written.inc_by(written);
        self.log_skipped.inc_by(skipped);
        self.log_batch_seconds.observe(took.as_secs_f64());
    }

    pub fn log_write_failed(&self) {
        self.log_write_failures.inc();
    }

    /// The text exposition, with the queue's gauges refreshed.
    pub fn render(&self, queue_depth: usize, dropped: u64) -> String {
        self.log_queue_depth.set(queue_depth as i64);
        let seen = self.log_dropped.get();
        if dropped > seen {
            self.log_dropped.inc_by(dropped - seen);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// [`Metrics::render`] in the classic Prometheus text format (0.0.4), which every scraper
    /// and parser reads: OpenMetrics names a counter family without its `_total` suffix and
    /// ends with `# EOF`; the classic format names it as its samples are named.
    pub fn render_prometheus(&self, queue_depth: usize, dropped: u64) -> String {
        to_prometheus_text(&self.render(queue_depth, dropped))
    }
}

/// OpenMetrics text as classic Prometheus text: counter families renamed to their samples'
/// `_total` name, `# UNIT` and `# EOF` lines dropped.
fn to_prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(needle))
            .collect()
    }

    #[test]
    fn models_and_gateways_past_the_bound_count_as_other() {
        let m = Metrics::new();
        let usage = Usage {
            tokens_in: Some(1),
            ..Usage::default()
        };
        for i in 0..MAX_MODELS + 5 {
            m.usage("grok", Some(&format!("m-{i}")), &usage, 0.0, false);
        }
        for i in 0..MAX_GATEWAYS + 3 {
            m.request(Some(("a", &format!("g-{i}"))), Some("grok"), 200, None);
        }
        // The same gateway id in another account is another gateway: past the bound too.
        m.request(Some(("b", "g-0")), Some("grok"), 200, None);
        // A name seen before the bound keeps its own series.
        m.usage("grok", Some("m-0"), &usage, 0.0, false);
        let text = m.render_prometheus(0, 0);
        let tokens = lines_with(&text, "switchyard_tokens_total{");
        assert_eq!(
            tokens.len(),
            MAX_MODELS + 1,
            "one series per model, plus other"
        );
        assert!(tokens.contains(
            &r#"switchyard_tokens_total{provider="grok",model="other",direction="in"} 5"#
        ));
        assert!(tokens
            .contains(&r#"switchyard_tokens_total{provider="grok",model="m-0",direction="in"} 2"#));
        let requests = lines_with(&text, "switchyard_requests_total{");
        assert_eq!(requests.len(), MAX_GATEWAYS + 1);
        assert!(requests.contains(
            &r#"switchyard_requests_total{account="other",gateway="other",provider="grok",status="200"} 4"#
        ));
        assert!(requests.contains(
            &r#"switchyard_requests_total{account="a",gateway="g-0",provider="grok",status="200"} 1"#
        ));
    }

    #[test]
    fn statuses_outside_http_s_own_count_under_one_label() {
        let m = Metrics::new();
        for status in [200, 599, 600, 777, 999] {
            m.request(Some(("a", "g")), Some("grok"), status, None);
        }
        let text = m.render_prometheus(0, 0);
        let requests = lines_with(&text, "switchyard_requests_total{");
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(requests.contains(
            &r#"switchyard_requests_total{account="a",gateway="g",provider="grok",status="other"} 3"#
        ));
    }

    #[test]
    fn cache_hits_add_no_tokens() {
        let m = Metrics::new();
        let usage = Usage {
            tokens_in: Some(7),
            tokens_out: Some(3),
            ..Usage::default()
        };
        m.usage("grok", Some("grok-4"), &usage, 0.5, false);
        m.usage("grok", Some("grok-4"), &usage, 0.0, true);
        let text = m.render_prometheus(0, 0);
        assert!(
            text.contains(
                r#"switchyard_tokens_total{provider="grok",model="grok-4",direction="in"} 7"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"switchyard_tokens_total{provider="grok",model="grok-4",direction="out"} 3"#
        ));
        assert!(text.contains(r#"switchyard_cost_usd_total{provider="grok",model="grok-4"} 0.5"#));
    }
}

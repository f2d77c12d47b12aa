//! Scenarios A–D: what individual gateway features cost, each measured
//! against a baseline in the same run.
//!
//! - A `logging_cost`: gateway `bench/bench` (request logging on, the
//!   default) against `bench/nolog` (`collect_logs = false`) in the same
//!   gateway process: open loop at a fixed rate (alternating phases) and
//!   closed loop at concurrency 64 (alternating segments, waiting for the
//!   gateway to go quiet after each so that queued log writes are charged to
//!   the side that caused them).
//! - B `sustained`: a fixed rate for a long time with logging on, into a fresh
//!   account, on each storage backend in turn; then the stored records are
//!   counted through the control plane and compared with what was sent and
//!   acknowledged, and `switchyard_log_records_dropped_total` is read.
//! - C `traffic`: rate limit that never trips vs none; cache lookup that
//!   misses vs no caching; cache hit (upstream answering after 50 ms) vs a
//!   direct request to the upstream answering at once. In memory (main
//!   gateway) and with Redis (a second gateway process).
//! - D `compat`: the unified endpoint vs the provider endpoint (same upstream
//!   request), the unified endpoint translating to Anthropic vs a direct
//!   Anthropic request, and a translated stream's time to first byte vs the
//!   direct upstream stream.
//!
//! The gateway config these expect (written by `run.sh`): providers `grok`
//! (`FAKE/v1`) and `anthropic` (`FAKE`); `[[gateways]]` `bench/nolog` with
//! `collect_logs = false` and `bench/rl` with `rate_limiting_limit =
//! 100000000`, `rate_limiting_interval = 60`; every other gateway is created
//! on first use with default settings.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use http::Method;
use serde::Serialize;

use crate::client::{self, BodySpec, Endpoint, StreamShape, Target};
use crate::scenarios::{self, ClosedLoop, OpenLoop, Phase, StreamC1, UnaryC1};
use crate::stats::{Errors, Summary};

/// One gateway process.
#[derive(Clone, Debug, Serialize)]
pub struct Gw {
    /// What distinguishes it: `SQLite, in-memory cache and limits`, ….
    pub label: String,
    /// `http://IP:PORT`.
    pub base: String,
    /// Process id, for CPU time and memory.
    pub pid: Option<u32>,
}

/// Everything scenarios A–D need.
pub struct Env {
    /// Base URL of the fake provider (`http://IP:PORT`).
    pub upstream: String,
    /// The main gateway (SQLite; cache and rate limits in memory).
    pub main: Gw,
    /// The gateway with `redis = …` (scenario C), if started.
    pub redis: Option<Gw>,
    /// The gateway with `database = "postgres://…"` (scenario B), if started.
    pub postgres: Option<Gw>,
    /// Unique per run: part of account ids and cached bodies, so that state
    /// kept across runs (PostgreSQL rows, Redis entries) never matches.
    pub nonce: String,
}

/// Scenario parameters (see `Plan` in `main.rs`).
#[derive(Clone, Copy)]
pub struct Params {
    /// A: open-loop rate.
    pub log_rate: u64,
    /// A: open-loop seconds per side.
    pub log_open_secs: f64,
    /// A: open-loop phase length.
    pub log_segment_secs: f64,
    /// A: closed-loop concurrency.
    pub log_concurrency: usize,
    /// A: closed-loop seconds per side.
    pub log_closed_secs: f64,
    /// A: closed-loop segment length.
    pub log_closed_segment_secs: f64,
    /// A: closed-loop warm-up per side.
    pub log_closed_warmup_secs: f64,
    /// B: rate.
    pub sustain_rate: u64,
    /// B: seconds per backend.
    pub sustain_secs: f64,
    /// B: seconds of the direct reference run at the same rate.
    pub sustain_direct_secs: f64,
    /// B: longest wait for the stored count to stop growing.
    pub sustain_wait_secs: f64,
    /// C, D: measured requests per side of each c=1 comparison.
    pub pair_requests: u64,
    /// C, D: warm-up requests per side.
    pub pair_warmup: u64,
    /// C: upstream delay for the cache-hit comparison (ms).
    pub hit_delay_ms: u64,
    /// D: measured streams per side.
    pub compat_streams: u64,
    /// D: warm-up streams per side.
    pub compat_stream_warmup: u64,
    /// D: stream shape.
    pub compat_shape: StreamShape,
}

/// Sends a few requests to each endpoint; fails with the first bad answer.
async fn ready(eps: &[&Endpoint]) -> Result<()> {
    let c = client::pooled_client(1);
    for ep in eps {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match client::unary(&c, ep).await {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => {
                    bail!("{} not ready: {e}", ep.target.uri)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(())
}

async fn target(url: &str) -> Result<Target> {
    Target::parse(url).await
}

/// Provider-endpoint chat URL of gateway `gw` of account `acct` on `base`.
fn grok_url(base: &str, acct: &str, gw: &str) -> String {
    format!("{base}/v1/{acct}/{gw}/grok/v1/chat/completions")
}

// ---------------------------------------------------------------- scenario A

/// Result of scenario A. `[0]` is always the baseline (`collect_logs =
/// false`), `[1]` the default gateway (logging on).
#[derive(Serialize)]
pub struct LoggingCost {
    /// Fixed-rate open loop, phases alternating.
    pub open: OpenLoop,
    /// Closed loop, segments alternating.
    pub closed: ClosedLoop,
}

/// Scenario A.
pub async fn logging_cost(env: &Env, p: &Params) -> Result<LoggingCost> {
    let gw = &env.main;
    let pair = [
        Endpoint::chat(&target(&grok_url(&gw.base, "bench", "nolog")).await?),
        Endpoint::chat(&target(&grok_url(&gw.base, "bench", "bench")).await?),
    ];
    ready(&[&pair[0], &pair[1]]).await?;
    let pids = [gw.pid, gw.pid];
    crate::progress("  A: open loop, logging off vs on");
    let open =
        scenarios::open_loop(&pair, pids, p.log_rate, p.log_open_secs, p.log_segment_secs).await;
    scenarios::wait_quiet(gw.pid, Duration::from_secs(5)).await;
    crate::progress("  A: closed loop, logging off vs on");
    let closed = scenarios::closed_loop(
        &pair,
        pids,
        p.log_concurrency,
        p.log_closed_secs,
        p.log_closed_segment_secs,
        p.log_closed_warmup_secs,
        true,
    )
    .await;
    Ok(LoggingCost { open, closed })
}

// ---------------------------------------------------------------- scenario B

/// One backend's sustained run.
#[derive(Serialize)]
pub struct SustainRun {
    /// `SQLite` or `PostgreSQL`.
    pub backend: String,
    /// Fresh account used for this run (gateway `bench`).
    pub account: String,
    /// Target rate (requests/s).
    pub rate: u64,
    /// Seconds of load.
    pub seconds: f64,
    /// Requests sent (warm-up included).
    pub sent: u64,
    /// 2xx answers.
    pub acknowledged: u64,
    /// Failed requests by kind.
    pub errors: Errors,
    /// Records counted through the control plane once the count stopped
    /// growing (`None` if it could not be read).
    pub stored: Option<u64>,
    /// Seconds from the last answer until the count stopped growing (or the
    /// wait gave up).
    pub stored_wait_secs: f64,
    /// Whether the count reached `sent` or stayed unchanged for 3 s before
    /// the wait limit.
    pub count_settled: bool,
    /// `switchyard_log_records_dropped_total` before and after.
    pub dropped_before: Option<f64>,
    /// See `dropped_before`.
    pub dropped_after: Option<f64>,
    /// Latency from the intended send time.
    pub latency: Summary,
    /// Achieved completion rate.
    pub achieved_rate: f64,
    /// Gateway CPU use during the load (1.0 = one core).
    pub gateway_cpu_util: Option<f64>,
    /// Remarks (cleanup failures and the like).
    pub notes: Vec<String>,
}

/// Result of scenario B.
#[derive(Serialize)]
pub struct Sustained {
    /// Direct requests to the upstream at the same rate, for reference.
    pub direct_latency: Option<Summary>,
    /// Seconds of the direct reference run.
    pub direct_secs: f64,
    /// One entry per backend, in run order.
    pub runs: Vec<SustainRun>,
}

/// Value of the counter `name` (summed over label sets) in `/metrics`.
async fn metric(base: &str, name: &str) -> Option<f64> {
    let c = client::pooled_client(1);
    let (status, body) = client::fetch(&c, Method::GET, &format!("{base}/metrics"))
        .await
        .ok()?;
    if status != 200 {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name 3` or `name{labels} 3`, not `name_other 3`.
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(v) = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

/// `result_info.total_count` of the logs of gateway `bench` of `account`.
async fn stored_count(c: &client::HttpClient, base: &str, account: &str) -> Result<u64> {
    let url =
        format!("{base}/client/v4/accounts/{account}/ai-gateway/gateways/bench/logs?per_page=1");
    let (status, body) = client::fetch(c, Method::GET, &url).await?;
    if status != 200 {
        bail!("HTTP {status}: {}", client::snippet(&body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    v["result_info"]["total_count"]
        .as_u64()
        .ok_or_else(|| anyhow!("no result_info.total_count in {}", client::snippet(&body)))
}

/// Polls the stored count until it reaches `sent`, or has not grown for 3 s,
/// or `max` has passed. Returns (count, wait, settled).
async fn wait_stored(
    base: &str,
    account: &str,
    sent: u64,
    max: Duration,
) -> (Option<u64>, f64, bool) {
    let c = client::pooled_client(1);
    let start = Instant::now();
    let mut last: Option<u64> = None;
    let mut last_change = Instant::now();
    loop {
        match stored_count(&c, base, account).await {
            Ok(n) => {
                if last != Some(n) {
                    last = Some(n);
                    last_change = Instant::now();
                }
                if n >= sent {
                    return (last, start.elapsed().as_secs_f64(), true);
                }
                if last_change.elapsed() >= Duration::from_secs(3) {
                    return (last, last_change.duration_since(start).as_secs_f64(), true);
                }
            }
            Err(e) => {
                crate::progress(&format!("  B: counting stored records: {e}"));
            }
        }
        if start.elapsed() >= max {
            return (last, start.elapsed().as_secs_f64(), false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn sustain_one(gw: &Gw, backend: &str, env: &Env, p: &Params) -> Result<SustainRun> {
    let tag = match backend {
        "SQLite" => "sq",
        _ => "pg",
    };
    let account = format!("bench-sustain-{}-{tag}", env.nonce);
    let ep = Endpoint::chat(&target(&grok_url(&gw.base, &account, "bench")).await?);
    const DROPPED: &str = "switchyard_log_records_dropped_total";
    let dropped_before = metric(&gw.base, DROPPED).await;
    let mut notes = Vec::new();

    // Warm-up: creates the gateway; counted as sent.
    let c = client::pooled_client(1);
    let mut sent = 0u64;
    let mut acknowledged = 0u64;
    let mut errors = Errors::default();
    for _ in 0..20 {
        sent += 1;
        match client::unary(&c, &ep).await {
            Ok(_) => acknowledged += 1,
            Err(e) => errors.add(&e.to_string()),
        }
    }
    if acknowledged == 0 {
        bail!("{backend} gateway does not answer: {}", errors.describe());
    }

    crate::progress(&format!(
        "  B: {backend}: {} req/s for {:.0} s into account {account}",
        p.sustain_rate, p.sustain_secs
    ));
    let phases: Vec<Phase> = (0..(p.sustain_secs.ceil() as u64).max(1))
        .map(|_| Phase {
            arm: 0,
            measured: true,
        })
        .collect();
    let arms = scenarios::open_schedule(
        std::slice::from_ref(&ep),
        &[gw.pid],
        p.sustain_rate,
        1.0,
        &phases,
    )
    .await;
    let arm = &arms[0];
    sent += arm.sent;
    acknowledged += arm.ok;
    errors.merge(&arm.errors);

    let (stored, wait, settled) = wait_stored(
        &gw.base,
        &account,
        sent,
        Duration::from_secs_f64(p.sustain_wait_secs),
    )
    .await;
    let dropped_after = metric(&gw.base, DROPPED).await;
    crate::progress(&format!(
        "  B: {backend}: sent {sent}, acknowledged {acknowledged}, stored {} (after {wait:.1} s), dropped {:?} -> {:?}",
        stored.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
        dropped_before,
        dropped_after
    ));

    if backend != "SQLite" {
        // The PostgreSQL database outlives the run: remove this run's rows.
        let url = format!(
            "{}/client/v4/accounts/{account}/ai-gateway/gateways/bench/logs",
            gw.base
        );
        match client::fetch(&c, Method::DELETE, &url).await {
            Ok((200, _)) => {}
            Ok((s, b)) => notes.push(format!(
                "deleting this run's {backend} log rows: HTTP {s}: {}",
                client::snippet(&b)
            )),
            Err(e) => notes.push(format!("deleting this run's {backend} log rows: {e}")),
        }
    }

    let secs = arm.time.as_secs_f64();
    Ok(SustainRun {
        backend: backend.to_string(),
        account,
        rate: p.sustain_rate,
        seconds: phases.len() as f64,
        sent,
        acknowledged,
        errors,
        stored,
        stored_wait_secs: wait,
        count_settled: settled,
        dropped_before,
        dropped_after,
        latency: arm.co.summary(),
        achieved_rate: arm.achieved_rate(),
        gateway_cpu_util: arm
            .cpu_ns
            .and_then(|ns| (secs > 0.0).then(|| ns as f64 / 1e9 / secs)),
        notes,
    })
}

/// Scenario B. Backends that are not available are skipped with a note.
pub async fn sustained(env: &Env, p: &Params, notes: &mut Vec<String>) -> Result<Sustained> {
    // Direct reference at the same rate.
    let direct = Endpoint::chat(&target(&format!("{}/v1/chat/completions", env.upstream)).await?);
    let secs = p.sustain_direct_secs.max(1.0);
    let phases: Vec<Phase> = (0..secs.ceil() as u64)
        .map(|_| Phase {
            arm: 0,
            measured: true,
        })
        .collect();
    crate::progress(&format!(
        "  B: direct reference, {} req/s for {secs:.0} s",
        p.sustain_rate
    ));
    let d = scenarios::open_schedule(
        std::slice::from_ref(&direct),
        &[None],
        p.sustain_rate,
        1.0,
        &phases,
    )
    .await;
    let mut out = Sustained {
        direct_latency: Some(d[0].co.summary()),
        direct_secs: phases.len() as f64,
        runs: Vec::new(),
    };
    let backends = [
        ("SQLite", Some(&env.main)),
        ("PostgreSQL", env.postgres.as_ref()),
    ];
    for (backend, gw) in backends {
        let Some(gw) = gw else {
            notes.push(format!(
                "Scenario B: no {backend} gateway was started (see run.sh), so that half was skipped."
            ));
            continue;
        };
        match sustain_one(gw, backend, env, p).await {
            Ok(run) => out.runs.push(run),
            Err(e) => notes.push(format!("Scenario B, {backend}: skipped: {e}")),
        }
        // Let the writer and the database settle before the next backend.
        scenarios::wait_quiet(gw.pid, Duration::from_secs(5)).await;
    }
    Ok(out)
}

// ---------------------------------------------------------------- scenario C

/// One c=1 comparison of scenarios C and D.
#[derive(Serialize)]
pub struct PairRun {
    /// What is compared (row label).
    pub label: String,
    /// The baseline side.
    pub baseline: String,
    /// The measured side.
    pub measured: String,
    /// Allowed added p50 (µs), if there is a target.
    pub target_added_p50_us: Option<f64>,
    /// Allowed absolute p99 of the measured side (µs), if there is a target.
    pub target_p99_us: Option<f64>,
    /// Latencies and the difference.
    pub result: UnaryC1,
    /// Extra facts (e.g. the upstream latency a cache hit saves).
    pub info: Vec<String>,
}

/// Result of scenario C (and the c=1 part of D).
#[derive(Default, Serialize)]
pub struct Pairs {
    /// In run order.
    pub runs: Vec<PairRun>,
}

struct PairSpec {
    label: String,
    baseline: String,
    measured: String,
    pair: [Endpoint; 2],
    target_added_p50_us: Option<f64>,
    target_p99_us: Option<f64>,
    info: Vec<String>,
}

async fn run_pair(spec: PairSpec, p: &Params, out: &mut Pairs, notes: &mut Vec<String>) {
    crate::progress(&format!("  {}", spec.label));
    if let Err(e) = ready(&[&spec.pair[0], &spec.pair[1]]).await {
        notes.push(format!("{}: skipped: {e}", spec.label));
        return;
    }
    let result = scenarios::unary_c1(&spec.pair, None, p.pair_warmup, p.pair_requests).await;
    crate::progress(&format!(
        "    p50 {:.1} µs vs {:.1} µs (added {:+.1} µs), p99 {:.1} vs {:.1} µs",
        result.latency[0].p50_us,
        result.latency[1].p50_us,
        result.added.p50.added_us,
        result.latency[0].p99_us,
        result.latency[1].p99_us
    ));
    out.runs.push(PairRun {
        label: spec.label,
        baseline: spec.baseline,
        measured: spec.measured,
        target_added_p50_us: spec.target_added_p50_us,
        target_p99_us: spec.target_p99_us,
        result,
        info: spec.info,
    });
}

/// Sends `ep` until it answers with `cf-aig-cache-status: HIT` (the first
/// answer is stored after the client has it, off the response path).
/// Returns the latency of the first (missing) request.
async fn warm_cache(ep: &Endpoint) -> Result<Duration> {
    let c = client::pooled_client(1);
    let miss = ep.clone().expect("cf-aig-cache-status", Some("MISS"));
    let first = client::unary(&c, &miss).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client::unary(&c, ep).await {
            Ok(_) => return Ok(first),
            Err(e) if Instant::now() > deadline => bail!("cache never hit: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Scenario C.
pub async fn traffic(env: &Env, p: &Params, notes: &mut Vec<String>) -> Result<Pairs> {
    let mut out = Pairs::default();
    let mut gws = vec![(&env.main, "memory")];
    match &env.redis {
        Some(gw) => gws.push((gw, "Redis")),
        None => notes.push(
            "Scenario C: no Redis gateway was started (see run.sh), so the Redis half was skipped."
                .into(),
        ),
    }
    let direct_url = format!("{}/v1/chat/completions", env.upstream);
    for (gw, backend) in gws {
        let plain = Endpoint::chat(&target(&grok_url(&gw.base, "bench", "bench")).await?);
        let limited = Endpoint::chat(&target(&grok_url(&gw.base, "bench", "rl")).await?);

        // (a) a rate limit that never trips.
        run_pair(
            PairSpec {
                label: format!("C.a rate limit 100000000/60 s, {backend}"),
                baseline: "bench/bench (no limit)".into(),
                measured: "bench/rl (limit never reached)".into(),
                pair: [plain.clone(), limited],
                target_added_p50_us: None,
                target_p99_us: None,
                info: Vec::new(),
            },
            p,
            &mut out,
            notes,
        )
        .await;

        // (b) a cache lookup that misses: a unique body per request.
        let unique = BodySpec::unique(&format!(
            r#"{{"model":"grok-beta","messages":[{{"role":"user","content":"miss {} {backend} {{N}}"}}]}}"#,
            env.nonce
        ));
        run_pair(
            PairSpec {
                label: format!("C.b cache lookup that misses, {backend}"),
                baseline: "no cache header".into(),
                measured: "cf-aig-cache-ttl: 60, unique body (MISS)".into(),
                pair: [
                    plain
                        .clone()
                        .body(unique.clone())
                        .expect("cf-aig-cache-status", None),
                    plain
                        .clone()
                        .body(unique)
                        .header("cf-aig-cache-ttl", "60")
                        .expect("cf-aig-cache-status", Some("MISS")),
                ],
                target_added_p50_us: None,
                target_p99_us: None,
                info: Vec::new(),
            },
            p,
            &mut out,
            notes,
        )
        .await;

        // (c) a cache hit, the upstream taking `hit_delay_ms` to answer.
        let body = format!(
            r#"{{"model":"grok-beta","messages":[{{"role":"user","content":"hit {} {backend}"}}]}}"#,
            env.nonce
        );
        let hit_on = |ep: &Endpoint| {
            ep.clone()
                .body(BodySpec::Fixed(body.clone().into()))
                .header("cf-aig-cache-ttl", "600")
                .header("x-fake-delay-ms", &p.hit_delay_ms.to_string())
                .expect("cf-aig-cache-status", Some("HIT"))
        };
        let hit = hit_on(&plain);
        let direct =
            Endpoint::chat(&target(&direct_url).await?).body(BodySpec::Fixed(body.clone().into()));
        let mut info = Vec::new();
        match warm_cache(&hit).await {
            Ok(miss) => info.push(format!(
                "the first (missing) request took {:.1} ms",
                miss.as_secs_f64() * 1e3
            )),
            Err(e) => {
                notes.push(format!("C.c cache hit, {backend}: skipped: {e}"));
                continue;
            }
        }
        run_pair(
            PairSpec {
                label: format!(
                    "C.c cache HIT, upstream delay {} ms, {backend}",
                    p.hit_delay_ms
                ),
                baseline: "direct, upstream answering at once".into(),
                measured: format!(
                    "cf-aig-cache-ttl: 600, x-fake-delay-ms: {} (HIT)",
                    p.hit_delay_ms
                ),
                pair: [direct, hit.clone()],
                target_added_p50_us: None,
                target_p99_us: Some(1_000.0),
                info,
            },
            p,
            &mut out,
            notes,
        )
        .await;

        // (c') diagnostic, memory only: does the hit's tail come from the
        // log writer sharing the gateway's core? Same hit, logging off vs on.
        if backend == "memory" {
            let nolog = Endpoint::chat(&target(&grok_url(&gw.base, "bench", "nolog")).await?);
            let hit_nolog = hit_on(&nolog);
            match warm_cache(&hit_nolog).await {
                Ok(_) => {
                    run_pair(
                        PairSpec {
                            label: format!("C.c' cache HIT, logging off vs on, {backend}"),
                            baseline: "HIT on bench/nolog (collect_logs = false)".into(),
                            measured: "HIT on bench/bench (logging on)".into(),
                            pair: [hit_nolog, hit],
                            target_added_p50_us: None,
                            target_p99_us: None,
                            info: Vec::new(),
                        },
                        p,
                        &mut out,
                        notes,
                    )
                    .await
                }
                Err(e) => notes.push(format!("C.c' cache hit without logging: skipped: {e}")),
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- scenario D

/// Result of scenario D.
#[derive(Serialize)]
pub struct Compat {
    /// Size of the OpenAI-shaped request body (bytes).
    pub body_bytes: usize,
    /// The c=1 comparisons.
    pub pairs: Pairs,
    /// Translated stream vs direct upstream stream.
    pub stream: Option<StreamC1>,
}

/// A deterministic filler sentence list (no characters that need escaping).
fn filler(words: usize, seed: usize) -> String {
    const W: [&str; 16] = [
        "gateway", "latency", "request", "stream", "token", "provider", "cache", "model", "budget",
        "answer", "prompt", "route", "header", "context", "window", "replica",
    ];
    (0..words)
        .map(|i| W[(i * 7 + seed) % W.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ~2 KB conversation of scenario D: (system, [user, assistant, user]).
fn conversation() -> (String, [String; 3]) {
    (
        format!("You are a concise assistant. {}", filler(20, 1)),
        [filler(140, 2), filler(40, 3), filler(60, 4)],
    )
}

/// OpenAI Chat Completions body with model `model`.
fn openai_body(model: &str, stream: bool) -> String {
    let (system, [u1, a1, u2]) = conversation();
    serde_json::json!({
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": u1},
            {"role": "assistant", "content": a1},
            {"role": "user", "content": u2},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "stream": stream,
    })
    .to_string()
}

/// The Anthropic Messages body the gateway sends for [`openai_body`].
fn anthropic_body(model: &str, stream: bool) -> String {
    let (system, [u1, a1, u2]) = conversation();
    serde_json::json!({
        "model": model,
        "max_tokens": 256,
        "system": system,
        "messages": [
            {"role": "user", "content": u1},
            {"role": "assistant", "content": a1},
            {"role": "user", "content": u2},
        ],
        "temperature": 0.2,
        "stream": stream,
    })
    .to_string()
}

/// Scenario D.
pub async fn compat(env: &Env, p: &Params, notes: &mut Vec<String>) -> Result<Compat> {
    let base = &env.main.base;
    let compat_url = format!("{base}/v1/bench/bench/compat/chat/completions");
    let fixed = |s: String| BodySpec::Fixed(s.into());
    let provider = Endpoint::chat(&target(&grok_url(base, "bench", "bench")).await?)
        .body(fixed(openai_body("grok-beta", false)));
    let compat_t = target(&compat_url).await?;
    let compat_grok = Endpoint::chat(&compat_t).body(fixed(openai_body("grok/grok-beta", false)));
    let compat_anthropic =
        Endpoint::chat(&compat_t).body(fixed(openai_body("anthropic/claude-x", false)));
    let messages_t = target(&format!("{}/v1/messages", env.upstream)).await?;
    let direct_anthropic = Endpoint::chat(&messages_t)
        .body(fixed(anthropic_body("claude-x", false)))
        .header("x-api-key", "bench")
        .header("anthropic-version", "2023-06-01");
    let passthrough =
        Endpoint::chat(&target(&format!("{base}/v1/bench/bench/anthropic/v1/messages")).await?)
            .body(fixed(anthropic_body("claude-x", false)))
            .header("x-api-key", "bench")
            .header("anthropic-version", "2023-06-01");
    let body_bytes = openai_body("grok/grok-beta", false).len();

    let mut pairs = Pairs::default();
    run_pair(
        PairSpec {
            label: format!("D.1 unified endpoint, grok, {body_bytes} B body"),
            baseline: "provider endpoint …/grok/v1/chat/completions".into(),
            measured: "…/compat/chat/completions, model grok/grok-beta".into(),
            pair: [provider, compat_grok],
            target_added_p50_us: Some(50.0),
            target_p99_us: None,
            info: Vec::new(),
        },
        p,
        &mut pairs,
        notes,
    )
    .await;
    run_pair(
        PairSpec {
            label: "D.2 unified endpoint translated to Anthropic".into(),
            baseline: "direct POST /v1/messages to the upstream".into(),
            measured: "…/compat/chat/completions, model anthropic/claude-x".into(),
            pair: [direct_anthropic.clone(), compat_anthropic],
            target_added_p50_us: Some(200.0),
            target_p99_us: None,
            info: Vec::new(),
        },
        p,
        &mut pairs,
        notes,
    )
    .await;
    run_pair(
        PairSpec {
            label: "D.2' Anthropic provider endpoint, no translation (reference)".into(),
            baseline: "direct POST /v1/messages to the upstream".into(),
            measured: "…/anthropic/v1/messages".into(),
            pair: [direct_anthropic, passthrough],
            target_added_p50_us: None,
            target_p99_us: None,
            info: Vec::new(),
        },
        p,
        &mut pairs,
        notes,
    )
    .await;

    crate::progress("  D.3 translated stream vs direct upstream stream");
    let shape = p.compat_shape;
    let s_direct = Endpoint::chat_stream(&messages_t, shape)
        .body(fixed(anthropic_body("claude-x", true)))
        .header("x-api-key", "bench")
        .header("anthropic-version", "2023-06-01");
    let s_gw = Endpoint::chat_stream(&compat_t, shape)
        .body(fixed(openai_body("anthropic/claude-x", true)));
    let c = client::pooled_client(1);
    let mut stream = None;
    let mut ok = true;
    for ep in [&s_direct, &s_gw] {
        let rec = client::stream_pooled(&c, ep, Duration::from_secs(10)).await;
        if !rec.complete(shape.chunks) {
            notes.push(format!(
                "D.3: skipped: {} did not stream {} chunks and [DONE] ({} data events, done {}, error {:?})",
                ep.target.uri,
                shape.chunks,
                rec.data_events,
                rec.done,
                rec.error
            ));
            ok = false;
        }
    }
    if ok {
        stream = Some(
            scenarios::stream_c1(&[s_direct, s_gw], p.compat_stream_warmup, p.compat_streams).await,
        );
    }
    Ok(Compat {
        body_bytes,
        pairs,
        stream,
    })
}

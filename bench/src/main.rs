//! `loadgen`: the Switchyard benchmark load generator.
//!
//! `loadgen run` measures the gateway path against a direct connection to
//! the same upstream (normally the testkit's `fake-provider`) in one run,
//! interleaving the two so machine noise hits both, and writes a Markdown
//! report and a JSON document. `loadgen mock` starts a tiny stand-in upstream
//! for checking the harness itself. `bench/run.sh` drives the whole thing;
//! `bench/README.md` explains what is measured.

mod client;
mod features;
mod forward;
mod mock;
mod report;
mod scenarios;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::client::{Endpoint, Path, StreamShape, Target};
use crate::features::{Env, Gw, Params};
use crate::report::{MemReport, Meta, Results};
use crate::scenarios::Ctx;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Switchyard gateway-vs-direct load generator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the benchmark scenarios and write the report.
    Run(Box<RunArgs>),
    /// Serve a minimal stand-in upstream (harness self-test only).
    Mock {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Serve a bare forwarding proxy to `--upstream` (the `run.sh --reference` baseline).
    Forward {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Upstream base URL, `http://IP:PORT`.
        #[arg(long)]
        upstream: String,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Chat-completions URL on the upstream, e.g. http://127.0.0.1:9000/v1/chat/completions.
    #[arg(long)]
    direct_url: String,
    /// Chat-completions URL through the gateway.
    #[arg(long)]
    gateway_url: String,
    /// Gateway process id, for RSS and CPU time (scenario 6).
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Short smoke run (~1 minute) instead of the full run.
    #[arg(long)]
    quick: bool,
    /// Comma-separated scenarios to run: 1–5 (6 is measured whenever a pid
    /// is given) and A–D (need --upstream-base and --gateway-base). They run
    /// in the order 1–4, A, C, D, B, 5.
    #[arg(long, default_value = "1,2,3,4,5,A,B,C,D", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Base URL of the upstream (`http://IP:PORT`), for scenarios A–D.
    #[arg(long)]
    upstream_base: Option<String>,
    /// Base URL of the main gateway (`http://IP:PORT`), for scenarios A–D.
    #[arg(long)]
    gateway_base: Option<String>,
    /// Base URL of a gateway configured with `redis = …` (scenario C).
    #[arg(long)]
    redis_gateway_base: Option<String>,
    /// Its process id.
    #[arg(long)]
    redis_gateway_pid: Option<u32>,
    /// Base URL of a gateway configured with `database = "postgres://…"` (scenario B).
    #[arg(long)]
    pg_gateway_base: Option<String>,
    /// Its process id.
    #[arg(long)]
    pg_gateway_pid: Option<u32>,
    /// Run nonce for account ids and cached bodies (default: from the clock).
    #[arg(long)]
    nonce: Option<String>,
    /// Markdown report path.
    #[arg(long)]
    out_md: Option<PathBuf>,
    /// JSON results path.
    #[arg(long)]
    out_json: Option<PathBuf>,
    /// Run date for the report header.
    #[arg(long, default_value = "")]
    date: String,
    /// Git commit for the report header.
    #[arg(long, default_value = "unknown")]
    commit: String,
    /// Core pinning description for the report header.
    #[arg(long, default_value = "not pinned")]
    pinning: String,
    /// Extra note to add to the report (repeatable).
    #[arg(long)]
    note: Vec<String>,

    /// Scenario 1: measured requests per path.
    #[arg(long)]
    c1_requests: Option<u64>,
    /// Scenario 1: warm-up requests per path.
    #[arg(long)]
    c1_warmup: Option<u64>,
    /// Scenario 2: arrival rate (req/s).
    #[arg(long)]
    open_rate: Option<u64>,
    /// Scenario 2: measured seconds per path.
    #[arg(long)]
    open_secs: Option<f64>,
    /// Scenario 2: phase length in seconds.
    #[arg(long)]
    open_segment_secs: Option<f64>,
    /// Scenario 3: concurrency.
    #[arg(long)]
    closed_concurrency: Option<usize>,
    /// Scenario 3: measured seconds per path.
    #[arg(long)]
    closed_secs: Option<f64>,
    /// Scenario 3: segment length in seconds.
    #[arg(long)]
    closed_segment_secs: Option<f64>,
    /// Scenario 4: measured streams per path.
    #[arg(long)]
    stream_count: Option<u64>,
    /// Scenario 4: chunks per stream.
    #[arg(long)]
    stream_chunks: Option<u32>,
    /// Scenario 4: ms between chunks.
    #[arg(long)]
    stream_delay_ms: Option<u64>,
    /// Scenario 5: concurrent stream counts.
    #[arg(long, value_delimiter = ',')]
    many_counts: Option<Vec<usize>>,
    /// Scenario 5: chunks per stream.
    #[arg(long)]
    many_chunks: Option<u32>,
    /// Scenario 5: ms between chunks.
    #[arg(long)]
    many_delay_ms: Option<u64>,
    /// Scenario 5: ms over which the streams are opened.
    #[arg(long)]
    many_ramp_ms: Option<u64>,
    /// Scenario 5: a gap between events longer than this is a stall (ms).
    #[arg(long)]
    stall_ms: Option<u64>,

    /// Scenario A: open-loop rate (req/s).
    #[arg(long)]
    log_rate: Option<u64>,
    /// Scenario A: open-loop seconds per side.
    #[arg(long)]
    log_open_secs: Option<f64>,
    /// Scenario A: open-loop phase length (s).
    #[arg(long)]
    log_segment_secs: Option<f64>,
    /// Scenario A: closed-loop seconds per side.
    #[arg(long)]
    log_closed_secs: Option<f64>,
    /// Scenario B: rate (req/s).
    #[arg(long)]
    sustain_rate: Option<u64>,
    /// Scenario B: seconds of load per backend.
    #[arg(long)]
    sustain_secs: Option<f64>,
    /// Scenarios C and D: measured requests per side of each comparison.
    #[arg(long)]
    pair_requests: Option<u64>,
    /// Scenario D: measured streams per side.
    #[arg(long)]
    compat_streams: Option<u64>,
}

/// Scenario parameters after applying `--quick` and overrides.
#[derive(Clone, Serialize)]
pub struct Plan {
    /// Scenario 1 measured requests per path.
    pub c1_requests: u64,
    /// Scenario 1 warm-up requests per path.
    pub c1_warmup: u64,
    /// Scenario 2 rate.
    pub open_rate: u64,
    /// Scenario 2 seconds per path.
    pub open_secs: f64,
    /// Scenario 2 phase length.
    pub open_segment_secs: f64,
    /// Scenario 3 concurrency.
    pub closed_concurrency: usize,
    /// Scenario 3 seconds per path.
    pub closed_secs: f64,
    /// Scenario 3 segment length.
    pub closed_segment_secs: f64,
    /// Scenario 3 warm-up per path.
    pub closed_warmup_secs: f64,
    /// Scenario 4 streams per path.
    pub stream_count: u64,
    /// Scenario 4 warm-up streams per path.
    pub stream_warmup: u64,
    /// Scenario 4 chunks.
    pub stream_chunks: u32,
    /// Scenario 4 delay.
    pub stream_delay_ms: u64,
    /// Scenario 5 counts.
    pub many_counts: Vec<usize>,
    /// Scenario 5 chunks.
    pub many_chunks: u32,
    /// Scenario 5 delay.
    pub many_delay_ms: u64,
    /// Scenario 5 ramp.
    pub many_ramp_ms: u64,
    /// Scenario 5 stall threshold.
    pub stall_ms: u64,
    /// Scenario A open-loop rate.
    pub log_rate: u64,
    /// Scenario A open-loop seconds per side.
    pub log_open_secs: f64,
    /// Scenario A open-loop phase length.
    pub log_segment_secs: f64,
    /// Scenario A closed-loop seconds per side.
    pub log_closed_secs: f64,
    /// Scenario A closed-loop segment length.
    pub log_closed_segment_secs: f64,
    /// Scenario B rate.
    pub sustain_rate: u64,
    /// Scenario B seconds per backend.
    pub sustain_secs: f64,
    /// Scenario B direct reference seconds.
    pub sustain_direct_secs: f64,
    /// Scenario B longest wait for the stored count (s).
    pub sustain_wait_secs: f64,
    /// Scenarios C, D measured requests per side.
    pub pair_requests: u64,
    /// Scenarios C, D warm-up requests per side.
    pub pair_warmup: u64,
    /// Scenario C upstream delay behind a cache hit (ms).
    pub hit_delay_ms: u64,
    /// Scenario D streams per side.
    pub compat_streams: u64,
    /// Scenario D warm-up streams per side.
    pub compat_stream_warmup: u64,
}

impl Plan {
    fn from_args(a: &RunArgs) -> Plan {
        let q = a.quick;
        Plan {
            c1_requests: a.c1_requests.unwrap_or(if q { 2_000 } else { 10_000 }),
            c1_warmup: a.c1_warmup.unwrap_or(if q { 200 } else { 1_000 }),
            open_rate: a.open_rate.unwrap_or(1_000),
            open_secs: a.open_secs.unwrap_or(if q { 3.0 } else { 10.0 }),
            open_segment_secs: a.open_segment_secs.unwrap_or(0.25),
            closed_concurrency: a.closed_concurrency.unwrap_or(64),
            closed_secs: a.closed_secs.unwrap_or(if q { 3.0 } else { 10.0 }),
            closed_segment_secs: a.closed_segment_secs.unwrap_or(if q { 1.0 } else { 2.0 }),
            closed_warmup_secs: if q { 0.5 } else { 1.0 },
            stream_count: a.stream_count.unwrap_or(if q { 30 } else { 200 }),
            stream_warmup: if q { 3 } else { 10 },
            stream_chunks: a.stream_chunks.unwrap_or(20),
            stream_delay_ms: a.stream_delay_ms.unwrap_or(5),
            many_counts: a
                .many_counts
                .clone()
                .unwrap_or_else(|| vec![512, 1_024, 2_048]),
            many_chunks: a.many_chunks.unwrap_or(20),
            many_delay_ms: a.many_delay_ms.unwrap_or(50),
            many_ramp_ms: a.many_ramp_ms.unwrap_or(1_000),
            stall_ms: a.stall_ms.unwrap_or(100),
            log_rate: a.log_rate.unwrap_or(1_000),
            log_open_secs: a.log_open_secs.unwrap_or(if q { 3.0 } else { 10.0 }),
            log_segment_secs: a.log_segment_secs.unwrap_or(0.5),
            log_closed_secs: a.log_closed_secs.unwrap_or(if q { 3.0 } else { 10.0 }),
            log_closed_segment_secs: if q { 1.0 } else { 2.0 },
            sustain_rate: a.sustain_rate.unwrap_or(2_000),
            sustain_secs: a.sustain_secs.unwrap_or(if q { 30.0 } else { 60.0 }),
            sustain_direct_secs: if q { 3.0 } else { 5.0 },
            sustain_wait_secs: 30.0,
            pair_requests: a.pair_requests.unwrap_or(if q { 1_000 } else { 5_000 }),
            pair_warmup: if q { 100 } else { 500 },
            hit_delay_ms: 50,
            compat_streams: a.compat_streams.unwrap_or(if q { 30 } else { 200 }),
            compat_stream_warmup: if q { 3 } else { 10 },
        }
    }

    fn params(&self) -> Params {
        Params {
            log_rate: self.log_rate,
            log_open_secs: self.log_open_secs,
            log_segment_secs: self.log_segment_secs,
            log_concurrency: self.closed_concurrency,
            log_closed_secs: self.log_closed_secs,
            log_closed_segment_secs: self.log_closed_segment_secs,
            log_closed_warmup_secs: self.closed_warmup_secs,
            sustain_rate: self.sustain_rate,
            sustain_secs: self.sustain_secs,
            sustain_direct_secs: self.sustain_direct_secs,
            sustain_wait_secs: self.sustain_wait_secs,
            pair_requests: self.pair_requests,
            pair_warmup: self.pair_warmup,
            hit_delay_ms: self.hit_delay_ms,
            compat_streams: self.compat_streams,
            compat_stream_warmup: self.compat_stream_warmup,
            compat_shape: StreamShape {
                chunks: self.stream_chunks,
                chunk_delay_ms: self.stream_delay_ms,
            },
        }
    }
}

/// A scenario named on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Num(u8),
    Letter(char),
}

fn parse_scenarios(list: &[String]) -> Result<Vec<Scenario>> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let up = s.to_ascii_uppercase();
            match up.as_str() {
                "1" | "2" | "3" | "4" | "5" | "6" => Ok(Scenario::Num(up.as_bytes()[0] - b'0')),
                "A" | "B" | "C" | "D" => Ok(Scenario::Letter(up.as_bytes()[0] as char)),
                _ => bail!("unknown scenario {s:?} (known: 1-6, A-D)"),
            }
        })
        .collect()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.cmd {
        Cmd::Run(args) => rt.block_on(run(*args)),
        Cmd::Mock { listen } => rt.block_on(mock::serve(listen)),
        Cmd::Forward { listen, upstream } => rt.block_on(forward::serve(listen, &upstream)),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Processors listed in `/proc/cpuinfo` (not the affinity mask of loadgen,
/// which `run.sh` pins to one core).
fn online_cpus() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Waits until a path answers 200, or fails with what it answered.
async fn wait_ready(name: &str, target: &Target) -> Result<()> {
    let client = client::pooled_client(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let ep = Endpoint::chat(target);
    loop {
        let last = match client::probe(&client, &ep).await {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => format!("HTTP {status}: {body}"),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            bail!("{name} path not ready ({}): {last}", target.uri);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn progress(msg: &str) {
    eprintln!("[loadgen] {msg}");
}

async fn run(args: RunArgs) -> Result<()> {
    let plan = Plan::from_args(&args);
    let loadavg_start = stats::loadavg();
    let ctx = Ctx {
        targets: [
            Target::parse(&args.direct_url).await?,
            Target::parse(&args.gateway_url).await?,
        ],
        gateway_pid: args.gateway_pid,
    };
    let mut memory = MemReport {
        idle: scenarios::gateway_mem(&ctx),
        ..MemReport::default()
    };
    if args.gateway_pid.is_some() && memory.idle.is_none() {
        bail!("cannot read /proc/{:?}/status", args.gateway_pid);
    }
    wait_ready("direct", &ctx.targets[Path::Direct.idx()]).await?;
    wait_ready("gateway", &ctx.targets[Path::Gateway.idx()]).await?;
    let selected = parse_scenarios(&args.scenarios)?;
    let want = |n: u8| selected.contains(&Scenario::Num(n));
    let want_letter = |c: char| selected.contains(&Scenario::Letter(c));
    let t0 = Instant::now();
    let mut results = Results {
        meta: Meta {
            date: args.date.clone(),
            commit: args.commit.clone(),
            kernel: kernel(),
            cpu: cpu_model(),
            cores: online_cpus(),
            pinning: args.pinning.clone(),
            mode: if args.quick { "quick" } else { "full" }.to_string(),
            loadavg_start,
            loadavg_end: String::new(),
            direct_url: args.direct_url.clone(),
            gateway_url: args.gateway_url.clone(),
        },
        plan: plan.clone(),
        unary_c1: None,
        open_loop: None,
        closed_loop: None,
        stream_c1: None,
        many_streams: Vec::new(),
        logging_cost: None,
        sustained: None,
        traffic: None,
        compat: None,
        gateways: Vec::new(),
        memory: MemReport::default(),
        notes: args.note.clone(),
    };
    let step = |name: &str| progress(&format!("{name} (t={:.0}s)", t0.elapsed().as_secs_f64()));

    if want(1) {
        step("scenario 1: concurrency 1, non-streaming");
        results.unary_c1 = Some(
            scenarios::unary_c1(
                &ctx.chat_pair(),
                ctx.gateway_pid,
                plan.c1_warmup,
                plan.c1_requests,
            )
            .await,
        );
        checkpoint(&ctx, &mut memory, "scenario 1");
    }
    if want(2) {
        step("scenario 2: open loop");
        results.open_loop = Some(
            scenarios::open_loop(
                &ctx.chat_pair(),
                [None, ctx.gateway_pid],
                plan.open_rate,
                plan.open_secs,
                plan.open_segment_secs,
            )
            .await,
        );
        checkpoint(&ctx, &mut memory, "scenario 2");
    }
    if want(3) {
        step("scenario 3: closed loop");
        results.closed_loop = Some(
            scenarios::closed_loop(
                &ctx.chat_pair(),
                [None, ctx.gateway_pid],
                plan.closed_concurrency,
                plan.closed_secs,
                plan.closed_segment_secs,
                plan.closed_warmup_secs,
                false,
            )
            .await,
        );
        checkpoint(&ctx, &mut memory, "scenario 3");
    }
    if want(4) {
        step("scenario 4: streams at concurrency 1");
        let shape = StreamShape {
            chunks: plan.stream_chunks,
            chunk_delay_ms: plan.stream_delay_ms,
        };
        results.stream_c1 = Some(
            scenarios::stream_c1(
                &ctx.stream_pair(shape),
                plan.stream_warmup,
                plan.stream_count,
            )
            .await,
        );
        checkpoint(&ctx, &mut memory, "scenario 4");
    }
    // Scenarios A–D: feature costs against a baseline in the same run. They
    // run before scenario 5, which leaves the gateway with ~2,048 idle
    // upstream connections (and the upstream with as many) for the rest of
    // the run, which was seen to raise c=1 tail latency on both paths.
    let letters: Vec<char> = ['A', 'C', 'D', 'B']
        .into_iter()
        .filter(|&c| want_letter(c))
        .collect();
    if !letters.is_empty() {
        match feature_env(&args).await {
            Err(e) => results.notes.push(format!(
                "Scenarios {}: not run: {e}",
                letters
                    .iter()
                    .map(char::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok(env) => {
                results.gateways = std::iter::once(env.main.clone())
                    .chain(env.redis.clone())
                    .chain(env.postgres.clone())
                    .collect();
                let params = plan.params();
                for c in letters {
                    let notes = &mut results.notes;
                    match c {
                        'A' => {
                            step("scenario A: logging cost (collect_logs off vs on)");
                            match features::logging_cost(&env, &params).await {
                                Ok(r) => results.logging_cost = Some(r),
                                Err(e) => notes.push(format!("Scenario A: not run: {e}")),
                            }
                        }
                        'B' => {
                            step("scenario B: sustained logging");
                            match features::sustained(&env, &params, notes).await {
                                Ok(r) => results.sustained = Some(r),
                                Err(e) => notes.push(format!("Scenario B: not run: {e}")),
                            }
                        }
                        'C' => {
                            step("scenario C: traffic control (rate limit, cache)");
                            match features::traffic(&env, &params, notes).await {
                                Ok(r) => results.traffic = Some(r),
                                Err(e) => notes.push(format!("Scenario C: not run: {e}")),
                            }
                        }
                        _ => {
                            step("scenario D: unified endpoint (compat)");
                            match features::compat(&env, &params, notes).await {
                                Ok(r) => results.compat = Some(r),
                                Err(e) => notes.push(format!("Scenario D: not run: {e}")),
                            }
                        }
                    }
                    checkpoint(&ctx, &mut memory, &format!("scenario {c}"));
                }
            }
        }
    }
    if want(5) {
        let shape = StreamShape {
            chunks: plan.many_chunks,
            chunk_delay_ms: plan.many_delay_ms,
        };
        let mut peak: Option<u64> = None;
        for (i, &count) in plan.many_counts.iter().enumerate() {
            // Alternate which path goes first at each count.
            let first = if i % 2 == 0 {
                Path::Direct
            } else {
                Path::Gateway
            };
            for p in [first, first.other()] {
                step(&format!(
                    "scenario 5: {count} concurrent streams, {}",
                    p.name()
                ));
                let run = scenarios::many_streams(
                    &ctx,
                    p,
                    count,
                    shape,
                    Duration::from_millis(plan.many_ramp_ms),
                    Duration::from_millis(plan.stall_ms),
                )
                .await;
                progress(&format!(
                    "  {} {}: clean {}/{}, stalled {}, lost {}, max gap {:.1} ms, slow starts {}{}",
                    count,
                    p.name(),
                    run.clean,
                    run.streams,
                    run.stalled,
                    run.lost,
                    run.gap.max_us / 1000.0,
                    run.slow_starts,
                    if run.errors.total > 0 {
                        format!(", errors: {}", run.errors.describe())
                    } else {
                        String::new()
                    }
                ));
                if let Some(k) = run.gateway_rss_peak_kib {
                    peak = Some(peak.unwrap_or(0).max(k));
                }
                results.many_streams.push(run);
                // Let sockets close and the processes settle.
                tokio::time::sleep(Duration::from_millis(1_000)).await;
            }
        }
        memory.streams_peak_rss_kib = peak;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        memory.after_streams = scenarios::gateway_mem(&ctx);
    } else {
        memory.after_streams = scenarios::gateway_mem(&ctx);
    }

    // Stay idle a while: does memory come back, and is the gateway still busy?
    let settle = Duration::from_secs(if args.quick { 2 } else { 5 });
    let meter = stats::CpuMeter::start(ctx.gateway_pid);
    tokio::time::sleep(settle).await;
    memory.idle_cpu_after_load = meter
        .elapsed_ns()
        .map(|ns| ns as f64 / 1e9 / settle.as_secs_f64());
    memory.settle_secs = settle.as_secs_f64();
    memory.end = scenarios::gateway_mem(&ctx);
    results.memory = memory;
    results.meta.loadavg_end = stats::loadavg();
    step("done");

    let md = report::markdown(&results);
    println!("{md}");
    if let Some(p) = &args.out_md {
        write_file(p, md.as_bytes())?;
    }
    if let Some(p) = &args.out_json {
        let json = serde_json::to_vec_pretty(&results)?;
        write_file(p, &json)?;
    }
    Ok(())
}

/// The gateways and upstream of scenarios A–D, from the command line.
async fn feature_env(args: &RunArgs) -> Result<Env> {
    let (Some(upstream), Some(base)) = (&args.upstream_base, &args.gateway_base) else {
        bail!("they need --upstream-base and --gateway-base (run.sh passes them, except with --self-test)");
    };
    let trim = |s: &String| s.trim_end_matches('/').to_string();
    let nonce = args.nonce.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("{}{:03}", t.as_secs(), t.subsec_millis())
    });
    Ok(Env {
        upstream: trim(upstream),
        main: Gw {
            label: "main: SQLite, cache and rate limits in memory".into(),
            base: trim(base),
            pid: args.gateway_pid,
        },
        redis: args.redis_gateway_base.as_ref().map(|b| Gw {
            label: "Redis: SQLite, cache and rate limits in Redis".into(),
            base: trim(b),
            pid: args.redis_gateway_pid,
        }),
        postgres: args.pg_gateway_base.as_ref().map(|b| Gw {
            label: "PostgreSQL: database in PostgreSQL".into(),
            base: trim(b),
            pid: args.pg_gateway_pid,
        }),
        nonce,
    })
}

/// Records gateway memory after a scenario.
fn checkpoint(ctx: &Ctx, memory: &mut MemReport, label: &str) {
    if let Some(m) = scenarios::gateway_mem(ctx) {
        memory.checkpoints.push((label.to_string(), m));
    }
}

fn write_file(path: &std::path::Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

//! The benchmark scenarios. Each one measures the gateway path and the direct
//! path in the same run, interleaved so that machine noise hits both:
//!
//! 1. `unary_c1` — concurrency 1, non-streaming; direct and gateway requests
//!    alternate one by one (the order within each pair alternates too).
//! 2. `open_loop` — a fixed arrival rate, open loop; phases of `segment`
//!    seconds alternate between the paths. Send times come from a pacing OS
//!    thread (`std::thread::sleep`, ~µs precision, unlike tokio's 1 ms timer)
//!    and latency is measured from the *intended* send time, so a stall on
//!    either side is charged to every request it delayed (coordinated-omission
//!    correction, as in wrk2).
//! 3. `closed_loop` — N workers each sending back to back; segments alternate
//!    between the paths; throughput = completed requests / wall time.
//! 4. `stream_c1` — one SSE stream at a time, paths alternating stream by
//!    stream: time to first body byte and gaps between SSE events.
//! 5. `many_streams` — N concurrent streams, one TCP connection each; counts
//!    streams with a stall (a gap between events above the threshold) or
//!    lost/short streams.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::client::{self, HttpClient, Path, StreamShape, Target};
use crate::stats::{self, Comparison, CpuMeter, Errors, Hist, Mem, Summary};

/// Everything the scenarios need: both targets and the gateway pid.
pub struct Ctx {
    /// `[direct, gateway]`.
    pub targets: [Target; 2],
    /// Gateway process, for RSS and CPU time.
    pub gateway_pid: Option<u32>,
}

impl Ctx {
    fn target(&self, p: Path) -> &Target {
        &self.targets[p.idx()]
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gateway CPU time per gateway request, in microseconds.
fn cpu_per_req(cpu_ns: Option<u64>, requests: u64) -> Option<f64> {
    let ns = cpu_ns?;
    (requests > 0).then(|| ns as f64 / requests as f64 / 1_000.0)
}

// ---------------------------------------------------------------- scenario 1

/// Result of scenario 1.
#[derive(Serialize)]
pub struct UnaryC1 {
    /// Measured requests per path.
    pub requests: u64,
    /// Warm-up requests per path (not recorded).
    pub warmup: u64,
    /// Latency summary, `[direct, gateway]`.
    pub latency: [Summary; 2],
    /// Gateway − direct, with 95 % bootstrap intervals.
    pub added: Comparison,
    /// Errors, `[direct, gateway]`.
    pub errors: [Errors; 2],
    /// Gateway CPU time per gateway request (µs), from `/proc`.
    pub gateway_cpu_us_per_req: Option<f64>,
}

/// Scenario 1: concurrency 1, alternating direct/gateway request by request.
pub async fn unary_c1(ctx: &Ctx, warmup: u64, requests: u64) -> UnaryC1 {
    let clients = [client::pooled_client(1), client::pooled_client(1)];
    for _ in 0..warmup {
        for p in Path::BOTH {
            let _ = client::unary(&clients[p.idx()], ctx.target(p)).await;
        }
    }
    let mut hists = [Hist::new(), Hist::new()];
    let mut errors: [Errors; 2] = Default::default();
    let cpu = CpuMeter::start(ctx.gateway_pid);
    for i in 0..requests {
        let first = if i % 2 == 0 {
            Path::Direct
        } else {
            Path::Gateway
        };
        for p in [first, first.other()] {
            match client::unary(&clients[p.idx()], ctx.target(p)).await {
                Ok(d) => hists[p.idx()].record(d),
                Err(e) => errors[p.idx()].add(&e.to_string()),
            }
        }
    }
    UnaryC1 {
        requests,
        warmup,
        latency: [hists[0].summary(), hists[1].summary()],
        added: stats::compare(&hists),
        gateway_cpu_us_per_req: cpu_per_req(cpu.elapsed_ns(), hists[1].len()),
        errors,
    }
}

// ---------------------------------------------------------------- scenario 2

/// Result of scenario 2.
#[derive(Serialize)]
pub struct OpenLoop {
    /// Target arrival rate (requests/s) during each phase.
    pub rate: u64,
    /// Measured seconds per path.
    pub seconds_per_path: f64,
    /// Phase length in seconds.
    pub segment_secs: f64,
    /// Latency from the intended send time (coordinated-omission corrected).
    pub latency: [Summary; 2],
    /// Gateway − direct of `latency`, with 95 % bootstrap intervals.
    pub added: Comparison,
    /// Latency from the actual send time (service time), for comparison.
    pub service: [Summary; 2],
    /// How late requests were actually sent vs. intended (harness lag).
    pub send_lag: [Summary; 2],
    /// Achieved completion rate (requests/s) per path.
    pub achieved_rate: [f64; 2],
    /// Errors, `[direct, gateway]`.
    pub errors: [Errors; 2],
    /// Gateway CPU time per gateway request (µs).
    pub gateway_cpu_us_per_req: Option<f64>,
}

#[derive(Default)]
struct OpenRec {
    co: [Hist; 2],
    service: [Hist; 2],
    lag: [Hist; 2],
    errors: [Errors; 2],
}

struct Tick {
    path: Path,
    intended: Instant,
    measured: bool,
}

/// Phase order: one warm-up phase per path, then measured phases in pairs
/// whose order alternates (D G, G D, D G, ...).
fn segment_path(seg: u64) -> Path {
    let base = if (seg / 2) & 1 == 0 {
        Path::Direct
    } else {
        Path::Gateway
    };
    if seg & 1 == 0 {
        base
    } else {
        base.other()
    }
}

/// Scenario 2: fixed-rate open loop with alternating phases.
pub async fn open_loop(ctx: &Ctx, rate: u64, seconds: f64, segment: f64) -> OpenLoop {
    let rate = rate.max(1);
    let per_seg = ((rate as f64 * segment).round() as u64).max(1);
    let measured_segs = ((seconds / segment).ceil() as u64).max(1);
    let total_segs = 2 + 2 * measured_segs;
    let total_ticks = per_seg * total_segs;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Tick>();
    let pacer = std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(20);
        for k in 0..total_ticks {
            let intended = start + interval.mul_f64(k as f64);
            let now = Instant::now();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            let seg = k / per_seg;
            let tick = Tick {
                path: segment_path(seg),
                intended,
                measured: seg >= 2,
            };
            if tx.send(tick).is_err() {
                break;
            }
        }
    });

    let clients = [client::pooled_client(256), client::pooled_client(256)];
    let rec = Arc::new(Mutex::new(OpenRec::default()));
    let mut tasks = JoinSet::new();
    let mut gw_cpu_ns = 0u64;
    let mut cpu_ok = ctx.gateway_pid.is_some();
    let mut current: Option<(Path, CpuMeter)> = None;
    let mut measured_time = [Duration::ZERO; 2];
    let mut phase_start: Option<(Path, Instant)> = None;
    while let Some(tick) = rx.recv().await {
        // Phase bookkeeping for CPU time and achieved rate.
        if tick.measured && current.map(|c| c.0) != Some(tick.path) {
            if let Some((Path::Gateway, meter)) = current {
                match meter.elapsed_ns() {
                    Some(ns) => gw_cpu_ns += ns,
                    None => cpu_ok = false,
                }
            }
            current = Some((tick.path, CpuMeter::start(ctx.gateway_pid)));
            if let Some((p, t0)) = phase_start {
                measured_time[p.idx()] += tick.intended - t0;
            }
            phase_start = Some((tick.path, tick.intended));
        }
        let client = clients[tick.path.idx()].clone();
        let target = ctx.target(tick.path).clone();
        let rec = rec.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = client::unary(&client, &target).await;
            let done = Instant::now();
            if !tick.measured {
                return;
            }
            let i = tick.path.idx();
            let mut r = lock(&rec);
            match result {
                Ok(_) => {
                    r.co[i].record(done - tick.intended);
                    r.service[i].record(done - sent);
                    r.lag[i].record(sent.saturating_duration_since(tick.intended));
                }
                Err(e) => r.errors[i].add(&e.to_string()),
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    let last_tick = Instant::now();
    while tasks.join_next().await.is_some() {}
    if let Some((p, t0)) = phase_start {
        measured_time[p.idx()] += last_tick.saturating_duration_since(t0) + interval;
    }
    if let Some((Path::Gateway, meter)) = current {
        match meter.elapsed_ns() {
            Some(ns) => gw_cpu_ns += ns,
            None => cpu_ok = false,
        }
    }
    let _ = pacer.join();

    let r = lock(&rec);
    let achieved = |i: usize| {
        let secs = measured_time[i].as_secs_f64();
        if secs > 0.0 {
            r.co[i].len() as f64 / secs
        } else {
            0.0
        }
    };
    OpenLoop {
        rate,
        seconds_per_path: (measured_segs as f64) * segment,
        segment_secs: segment,
        latency: [r.co[0].summary(), r.co[1].summary()],
        added: stats::compare(&r.co),
        service: [r.service[0].summary(), r.service[1].summary()],
        send_lag: [r.lag[0].summary(), r.lag[1].summary()],
        achieved_rate: [achieved(0), achieved(1)],
        errors: r.errors.clone(),
        gateway_cpu_us_per_req: if cpu_ok {
            cpu_per_req(Some(gw_cpu_ns), r.co[1].len())
        } else {
            None
        },
    }
}

// ---------------------------------------------------------------- scenario 3

/// Result of scenario 3.
#[derive(Serialize)]
pub struct ClosedLoop {
    /// Number of concurrent workers (and pooled connections).
    pub concurrency: usize,
    /// Measured seconds per path.
    pub seconds_per_path: f64,
    /// Requests per second, `[direct, gateway]`.
    pub throughput: [f64; 2],
    /// Requests per second of each segment, in run order.
    pub segment_throughput: [Vec<f64>; 2],
    /// Latency under this load.
    pub latency: [Summary; 2],
    /// Errors, `[direct, gateway]`.
    pub errors: [Errors; 2],
    /// Gateway CPU time per gateway request (µs).
    pub gateway_cpu_us_per_req: Option<f64>,
    /// Gateway CPU utilisation during gateway phases (1.0 = one core).
    pub gateway_cpu_util: Option<f64>,
}

struct SegOut {
    count: u64,
    hist: Hist,
    errors: Errors,
    elapsed: Duration,
}

async fn closed_segment(
    client: &HttpClient,
    target: &Target,
    concurrency: usize,
    length: Duration,
) -> SegOut {
    let start = Instant::now();
    let deadline = start + length;
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let target = target.clone();
        set.spawn(async move {
            let mut hist = Hist::new();
            let mut errors = Errors::default();
            let mut count = 0u64;
            let mut last = Instant::now();
            while Instant::now() < deadline {
                match client::unary(&client, &target).await {
                    Ok(d) => {
                        hist.record(d);
                        count += 1;
                    }
                    Err(e) => {
                        errors.add(&e.to_string());
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                last = Instant::now();
            }
            (count, hist, errors, last)
        });
    }
    let mut out = SegOut {
        count: 0,
        hist: Hist::new(),
        errors: Errors::default(),
        elapsed: Duration::ZERO,
    };
    let mut last = start;
    while let Some(res) = set.join_next().await {
        if let Ok((count, hist, errors, l)) = res {
            out.count += count;
            out.hist.add(&hist);
            out.errors.merge(&errors);
            last = last.max(l);
        }
    }
    out.elapsed = last - start;
    out
}

/// Scenario 3: closed loop at fixed concurrency, alternating segments.
pub async fn closed_loop(
    ctx: &Ctx,
    concurrency: usize,
    seconds: f64,
    segment: f64,
    warmup: f64,
) -> ClosedLoop {
    let clients = [
        client::pooled_client(concurrency),
        client::pooled_client(concurrency),
    ];
    for p in Path::BOTH {
        closed_segment(
            &clients[p.idx()],
            ctx.target(p),
            concurrency,
            Duration::from_secs_f64(warmup),
        )
        .await;
    }
    let segs = ((seconds / segment).ceil() as u64).max(1);
    let mut count = [0u64; 2];
    let mut time = [Duration::ZERO; 2];
    let mut hists = [Hist::new(), Hist::new()];
    let mut errors: [Errors; 2] = Default::default();
    let mut gw_cpu: Option<u64> = ctx.gateway_pid.map(|_| 0);
    let mut seg_rates: [Vec<f64>; 2] = Default::default();
    for s in 0..2 * segs {
        let p = segment_path(s);
        let meter = CpuMeter::start(ctx.gateway_pid);
        let out = closed_segment(
            &clients[p.idx()],
            ctx.target(p),
            concurrency,
            Duration::from_secs_f64(segment),
        )
        .await;
        if p == Path::Gateway {
            gw_cpu = match (gw_cpu, meter.elapsed_ns()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        let i = p.idx();
        let secs = out.elapsed.as_secs_f64();
        seg_rates[i].push(if secs > 0.0 {
            out.count as f64 / secs
        } else {
            0.0
        });
        count[i] += out.count;
        time[i] += out.elapsed;
        hists[i].add(&out.hist);
        errors[i].merge(&out.errors);
    }
    let rate = |i: usize| {
        let secs = time[i].as_secs_f64();
        if secs > 0.0 {
            count[i] as f64 / secs
        } else {
            0.0
        }
    };
    ClosedLoop {
        concurrency,
        seconds_per_path: segs as f64 * segment,
        throughput: [rate(0), rate(1)],
        segment_throughput: seg_rates,
        latency: [hists[0].summary(), hists[1].summary()],
        errors,
        gateway_cpu_us_per_req: cpu_per_req(gw_cpu, count[1]),
        gateway_cpu_util: gw_cpu.and_then(|ns| {
            let secs = time[1].as_secs_f64();
            (secs > 0.0).then(|| ns as f64 / 1e9 / secs)
        }),
    }
}

// ---------------------------------------------------------------- scenario 4

/// Result of scenario 4.
#[derive(Serialize)]
pub struct StreamC1 {
    /// Measured streams per path.
    pub streams: u64,
    /// Shape of each stream.
    pub shape: StreamShape,
    /// Send → first body byte.
    pub ttfb: [Summary; 2],
    /// Gaps between consecutive SSE events.
    pub gap: [Summary; 2],
    /// Gateway − direct of `ttfb`.
    pub added_ttfb: Comparison,
    /// Gateway − direct of `gap`.
    pub added_gap: Comparison,
    /// Streams that were short, lacked `[DONE]` or failed.
    pub incomplete: [u64; 2],
    /// Errors, `[direct, gateway]`.
    pub errors: [Errors; 2],
}

/// Scenario 4: one stream at a time, alternating paths stream by stream.
pub async fn stream_c1(ctx: &Ctx, shape: StreamShape, warmup: u64, streams: u64) -> StreamC1 {
    let clients = [client::pooled_client(1), client::pooled_client(1)];
    let deadline = Duration::from_millis(5_000 + u64::from(shape.chunks) * shape.chunk_delay_ms);
    for _ in 0..warmup {
        for p in Path::BOTH {
            client::stream_pooled(&clients[p.idx()], ctx.target(p), shape, deadline).await;
        }
    }
    let mut ttfb = [Hist::new(), Hist::new()];
    let mut gap = [Hist::new(), Hist::new()];
    let mut incomplete = [0u64; 2];
    let mut errors: [Errors; 2] = Default::default();
    for i in 0..streams {
        let first = if i % 2 == 0 {
            Path::Direct
        } else {
            Path::Gateway
        };
        for p in [first, first.other()] {
            let rec =
                client::stream_pooled(&clients[p.idx()], ctx.target(p), shape, deadline).await;
            let k = p.idx();
            if let Some(e) = &rec.error {
                errors[k].add(e);
            }
            if !rec.complete(shape.chunks) {
                incomplete[k] += 1;
            }
            if let Some(t) = rec.ttfb {
                ttfb[k].record(t);
            }
            for g in rec.gaps() {
                gap[k].record(g);
            }
        }
    }
    StreamC1 {
        streams,
        shape,
        ttfb: [ttfb[0].summary(), ttfb[1].summary()],
        gap: [gap[0].summary(), gap[1].summary()],
        added_ttfb: stats::compare(&ttfb),
        added_gap: stats::compare(&gap),
        incomplete,
        errors,
    }
}

// ---------------------------------------------------------------- scenario 5

/// Result of one many-streams run (one count, one path).
#[derive(Serialize)]
pub struct ManyRun {
    /// `direct` or `gateway`.
    pub path: &'static str,
    /// Concurrent streams opened.
    pub streams: usize,
    /// Streams complete and without a stall.
    pub clean: usize,
    /// Streams with a gap between events above the stall threshold.
    pub stalled: usize,
    /// Streams that failed, were short or lacked `[DONE]`.
    pub lost: usize,
    /// Streams whose first body byte took longer than the stall threshold
    /// (≈ 1 s means a dropped SYN was retransmitted: the listen backlog
    /// overflowed). Reported, not counted as stalls.
    pub slow_starts: usize,
    /// All streams clean.
    pub held: bool,
    /// Gaps between consecutive events over all streams.
    pub gap: Summary,
    /// Send → first body byte.
    pub ttfb: Summary,
    /// Wall time of the run (first open → last stream end), seconds.
    pub wall_secs: f64,
    /// Errors by kind.
    pub errors: Errors,
    /// Highest gateway `VmRSS` sampled during the run (gateway runs only).
    pub gateway_rss_peak_kib: Option<u64>,
}

/// Scenario 5: `count` concurrent streams, one connection each, opened over
/// `ramp` (evenly spaced) so that the listen backlog is not the thing tested.
pub async fn many_streams(
    ctx: &Ctx,
    path: Path,
    count: usize,
    shape: StreamShape,
    ramp: Duration,
    stall: Duration,
) -> ManyRun {
    let target = ctx.target(path).clone();
    let deadline = Duration::from_millis(30_000 + u64::from(shape.chunks) * shape.chunk_delay_ms);
    let start = Instant::now() + Duration::from_millis(10);
    let mut set = JoinSet::new();
    for i in 0..count {
        let target = target.clone();
        let at = start + ramp.mul_f64(i as f64 / count.max(1) as f64);
        set.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            client::stream_raw(&target, shape, deadline).await
        });
    }
    // Sample gateway RSS while the streams run.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = ctx
        .gateway_pid
        .filter(|_| path == Path::Gateway)
        .map(|pid| {
            let sampling = sampling.clone();
            tokio::spawn(async move {
                let mut peak = 0u64;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(m) = stats::mem(pid) {
                        peak = peak.max(m.rss_kib);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                peak
            })
        });

    let mut run = ManyRun {
        path: path.name(),
        streams: count,
        clean: 0,
        stalled: 0,
        lost: 0,
        slow_starts: 0,
        held: false,
        gap: Summary::default(),
        ttfb: Summary::default(),
        wall_secs: 0.0,
        errors: Errors::default(),
        gateway_rss_peak_kib: None,
    };
    let mut gap = Hist::new();
    let mut ttfb = Hist::new();
    while let Some(res) = set.join_next().await {
        let rec = match res {
            Ok(rec) => rec,
            Err(e) => {
                run.lost += 1;
                run.errors.add(&format!("task: {e}"));
                continue;
            }
        };
        if let Some(e) = &rec.error {
            run.errors.add(e);
        }
        let lost = !rec.complete(shape.chunks);
        let stalled = rec.max_gap() > stall;
        if lost {
            run.lost += 1;
            if rec.error.is_none() {
                run.errors.add(&format!(
                    "incomplete: {} data events, [DONE] {}",
                    rec.data_events,
                    if rec.done { "seen" } else { "missing" }
                ));
            }
        }
        if stalled {
            run.stalled += 1;
        }
        if !lost && !stalled {
            run.clean += 1;
        }
        if let Some(t) = rec.ttfb {
            ttfb.record(t);
            if t > stall {
                run.slow_starts += 1;
            }
        }
        for g in rec.gaps() {
            gap.record(g);
        }
    }
    run.wall_secs = start.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    if let Some(s) = sampler {
        run.gateway_rss_peak_kib = s.await.ok();
    }
    run.held = run.clean == count;
    run.gap = gap.summary();
    run.ttfb = ttfb.summary();
    run
}

/// Memory snapshot of the gateway, if its pid is known.
pub fn gateway_mem(ctx: &Ctx) -> Option<Mem> {
    ctx.gateway_pid.and_then(stats::mem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_alternate_and_balance() {
        let order: Vec<Path> = (0..8).map(segment_path).collect();
        use Path::{Direct as D, Gateway as G};
        assert_eq!(order, vec![D, G, G, D, D, G, G, D]);
    }
}

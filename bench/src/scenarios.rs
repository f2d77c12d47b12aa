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
//!
//! The drivers of 1–4 take any two [`Endpoint`]s (`[baseline, measured]`),
//! so scenarios A–D (`features.rs`) reuse them with other URLs, headers and
//! bodies.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::client::{self, Endpoint, HttpClient, Path, StreamShape, Target};
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

    /// The small chat completion of scenarios 1–3, `[direct, gateway]`.
    pub fn chat_pair(&self) -> [Endpoint; 2] {
        [
            Endpoint::chat(self.target(Path::Direct)),
            Endpoint::chat(self.target(Path::Gateway)),
        ]
    }

    /// The streamed chat completion of scenario 4, `[direct, gateway]`.
    pub fn stream_pair(&self, shape: StreamShape) -> [Endpoint; 2] {
        [
            Endpoint::chat_stream(self.target(Path::Direct), shape),
            Endpoint::chat_stream(self.target(Path::Gateway), shape),
        ]
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

/// Scenario 1 and every "added p50" comparison of scenarios C and D:
/// concurrency 1, alternating the two endpoints request by request (the
/// order within each pair alternates too). `cpu_pid`: the gateway process
/// when only `pair[1]` goes through it (its CPU time is then divided by the
/// `pair[1]` requests); `None` when both sides use it.
pub async fn unary_c1(
    pair: &[Endpoint; 2],
    cpu_pid: Option<u32>,
    warmup: u64,
    requests: u64,
) -> UnaryC1 {
    let clients = [client::pooled_client(1), client::pooled_client(1)];
    for _ in 0..warmup {
        for p in Path::BOTH {
            let _ = client::unary(&clients[p.idx()], &pair[p.idx()]).await;
        }
    }
    let mut hists = [Hist::new(), Hist::new()];
    let mut errors: [Errors; 2] = Default::default();
    let cpu = CpuMeter::start(cpu_pid);
    for i in 0..requests {
        let first = if i % 2 == 0 {
            Path::Direct
        } else {
            Path::Gateway
        };
        for p in [first, first.other()] {
            match client::unary(&clients[p.idx()], &pair[p.idx()]).await {
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
    /// Gateway CPU time per baseline request (µs), when the baseline also
    /// goes through the gateway (scenario A).
    pub baseline_cpu_us_per_req: Option<f64>,
}

/// What an open-loop run recorded for one endpoint ("arm").
#[derive(Default)]
pub struct OpenArm {
    /// Latency from the intended send time (measured phases only).
    pub co: Hist,
    /// Latency from the actual send time.
    pub service: Hist,
    /// Actual − intended send time.
    pub lag: Hist,
    /// Failed requests of measured phases.
    pub errors: Errors,
    /// Requests sent in measured phases.
    pub sent: u64,
    /// 2xx answers (that met the endpoint's expectations) in measured phases.
    pub ok: u64,
    /// Length of this arm's measured phases.
    pub time: Duration,
    /// Gateway CPU time during this arm's measured phases (`None` without a
    /// pid for the arm, or if `/proc` could not be read).
    pub cpu_ns: Option<u64>,
}

impl OpenArm {
    /// Completed requests per second of measured phase time.
    pub fn achieved_rate(&self) -> f64 {
        let secs = self.time.as_secs_f64();
        if secs > 0.0 {
            self.co.len() as f64 / secs
        } else {
            0.0
        }
    }
}

struct Tick {
    arm: usize,
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

/// One phase of an open-loop schedule: which endpoint, and whether its
/// requests are recorded.
#[derive(Clone, Copy)]
pub struct Phase {
    /// Index into the endpoints.
    pub arm: usize,
    /// Recorded (false: warm-up).
    pub measured: bool,
}

/// The alternating two-arm schedule of scenario 2: a warm-up phase per arm,
/// then `measured` phases per arm in the order of [`segment_path`].
pub fn alternating(measured: u64) -> Vec<Phase> {
    (0..2 + 2 * measured)
        .map(|seg| Phase {
            arm: segment_path(seg).idx(),
            measured: seg >= 2,
        })
        .collect()
}

/// Fixed-rate open loop over a schedule of phases of `segment` seconds each.
/// A pacing OS thread keeps the schedule (request *k* is due at
/// `start + k/rate`); latency is measured from the due time.
pub async fn open_schedule(
    eps: &[Endpoint],
    cpu_pids: &[Option<u32>],
    rate: u64,
    segment: f64,
    phases: &[Phase],
) -> Vec<OpenArm> {
    let rate = rate.max(1);
    let per_seg = ((rate as f64 * segment).round() as u64).max(1);
    let total_ticks = per_seg * phases.len() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Tick>();
    let plan: Vec<Phase> = phases.to_vec();
    let pacer = std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(20);
        for k in 0..total_ticks {
            let intended = start + interval.mul_f64(k as f64);
            let now = Instant::now();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            let phase = plan[(k / per_seg) as usize];
            let tick = Tick {
                arm: phase.arm,
                intended,
                measured: phase.measured,
            };
            if tx.send(tick).is_err() {
                break;
            }
        }
    });

    let clients: Vec<HttpClient> = eps.iter().map(|_| client::pooled_client(256)).collect();
    let arms: Arc<Mutex<Vec<OpenArm>>> =
        Arc::new(Mutex::new(eps.iter().map(|_| OpenArm::default()).collect()));
    let pid_of = |arm: usize| cpu_pids.get(arm).copied().flatten();
    {
        let mut a = lock(&arms);
        for (i, arm) in a.iter_mut().enumerate() {
            arm.cpu_ns = pid_of(i).map(|_| 0);
        }
    }
    let close_phase =
        |arms: &Arc<Mutex<Vec<OpenArm>>>, arm: usize, meter: CpuMeter, t: Duration| {
            let mut a = lock(arms);
            let rec = &mut a[arm];
            rec.time += t;
            rec.cpu_ns = match (rec.cpu_ns, meter.elapsed_ns()) {
                (Some(x), Some(y)) => Some(x + y),
                _ => None,
            };
        };
    let mut tasks = JoinSet::new();
    let mut current: Option<(usize, CpuMeter, Instant)> = None;
    while let Some(tick) = rx.recv().await {
        if tick.measured && current.map(|c| c.0) != Some(tick.arm) {
            if let Some((arm, meter, t0)) = current {
                close_phase(&arms, arm, meter, tick.intended - t0);
            }
            current = Some((tick.arm, CpuMeter::start(pid_of(tick.arm)), tick.intended));
        }
        let client = clients[tick.arm].clone();
        let ep = eps[tick.arm].clone();
        let arms = arms.clone();
        if tick.measured {
            lock(&arms)[tick.arm].sent += 1;
        }
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = client::unary(&client, &ep).await;
            let done = Instant::now();
            if !tick.measured {
                return;
            }
            let mut a = lock(&arms);
            let r = &mut a[tick.arm];
            match result {
                Ok(_) => {
                    r.ok += 1;
                    r.co.record(done - tick.intended);
                    r.service.record(done - sent);
                    r.lag.record(sent.saturating_duration_since(tick.intended));
                }
                Err(e) => r.errors.add(&e.to_string()),
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    let last_tick = Instant::now();
    while tasks.join_next().await.is_some() {}
    if let Some((arm, meter, t0)) = current {
        close_phase(
            &arms,
            arm,
            meter,
            last_tick.saturating_duration_since(t0) + interval,
        );
    }
    let _ = pacer.join();
    let mut a = lock(&arms);
    std::mem::take(&mut *a)
}

/// Scenario 2 (and the open-loop half of scenario A): fixed-rate open loop,
/// phases of `segment` seconds alternating between the two endpoints.
/// `cpu_pids`: the gateway process for each side that goes through it.
pub async fn open_loop(
    pair: &[Endpoint; 2],
    cpu_pids: [Option<u32>; 2],
    rate: u64,
    seconds: f64,
    segment: f64,
) -> OpenLoop {
    let measured_segs = ((seconds / segment).ceil() as u64).max(1);
    let arms = open_schedule(pair, &cpu_pids, rate, segment, &alternating(measured_segs)).await;
    let co = [arms[0].co.clone(), arms[1].co.clone()];
    let per_req = |a: &OpenArm| cpu_per_req(a.cpu_ns, a.co.len());
    OpenLoop {
        rate: rate.max(1),
        seconds_per_path: (measured_segs as f64) * segment,
        segment_secs: segment,
        latency: [co[0].summary(), co[1].summary()],
        added: stats::compare(&co),
        service: [arms[0].service.summary(), arms[1].service.summary()],
        send_lag: [arms[0].lag.summary(), arms[1].lag.summary()],
        achieved_rate: [arms[0].achieved_rate(), arms[1].achieved_rate()],
        errors: [arms[0].errors.clone(), arms[1].errors.clone()],
        gateway_cpu_us_per_req: per_req(&arms[1]),
        baseline_cpu_us_per_req: per_req(&arms[0]),
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
    /// Gateway CPU time per baseline request (µs), when the baseline also
    /// goes through the gateway (scenario A).
    pub baseline_cpu_us_per_req: Option<f64>,
    /// Gateway CPU utilisation during baseline phases, likewise.
    pub baseline_cpu_util: Option<f64>,
    /// With `settle`: total seconds spent after each side's segments waiting
    /// for the gateway to go quiet (work left over, e.g. queued log writes),
    /// `[baseline, gateway]`.
    pub settle_secs: [f64; 2],
}

struct SegOut {
    count: u64,
    hist: Hist,
    errors: Errors,
    elapsed: Duration,
}

async fn closed_segment(
    client: &HttpClient,
    ep: &Endpoint,
    concurrency: usize,
    length: Duration,
) -> SegOut {
    let start = Instant::now();
    let deadline = start + length;
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let ep = ep.clone();
        set.spawn(async move {
            let mut hist = Hist::new();
            let mut errors = Errors::default();
            let mut count = 0u64;
            let mut last = Instant::now();
            while Instant::now() < deadline {
                match client::unary(&client, &ep).await {
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

/// Waits until the gateway uses under 5 % of a core over 100 ms (at most
/// `max`): lets work left over from a segment (log writes) finish before the
/// next one starts, so it is not charged to the other side. Returns the wait.
pub async fn wait_quiet(pid: Option<u32>, max: Duration) -> Duration {
    let start = Instant::now();
    let Some(pid) = pid else {
        return Duration::ZERO;
    };
    let window = Duration::from_millis(100);
    while start.elapsed() < max {
        let meter = CpuMeter::start(Some(pid));
        tokio::time::sleep(window).await;
        match meter.elapsed_ns() {
            Some(ns) if ns < window.as_nanos() as u64 / 20 => break,
            None => break,
            _ => {}
        }
    }
    start.elapsed()
}

/// Scenario 3 (and the closed-loop half of scenario A): closed loop at fixed
/// concurrency, segments alternating between the two endpoints. `cpu_pids`:
/// the gateway process for each side that goes through it. With `settle`,
/// after every segment loadgen waits for the gateway to go quiet
/// ([`wait_quiet`]) before starting the next.
pub async fn closed_loop(
    pair: &[Endpoint; 2],
    cpu_pids: [Option<u32>; 2],
    concurrency: usize,
    seconds: f64,
    segment: f64,
    warmup: f64,
    settle: bool,
) -> ClosedLoop {
    let clients = [
        client::pooled_client(concurrency),
        client::pooled_client(concurrency),
    ];
    let quiet_pid = cpu_pids[0].or(cpu_pids[1]);
    for p in Path::BOTH {
        closed_segment(
            &clients[p.idx()],
            &pair[p.idx()],
            concurrency,
            Duration::from_secs_f64(warmup),
        )
        .await;
        if settle {
            wait_quiet(quiet_pid, Duration::from_secs(5)).await;
        }
    }
    let segs = ((seconds / segment).ceil() as u64).max(1);
    let mut count = [0u64; 2];
    let mut time = [Duration::ZERO; 2];
    let mut hists = [Hist::new(), Hist::new()];
    let mut errors: [Errors; 2] = Default::default();
    let mut cpu: [Option<u64>; 2] = [cpu_pids[0].map(|_| 0), cpu_pids[1].map(|_| 0)];
    let mut seg_rates: [Vec<f64>; 2] = Default::default();
    let mut settle_time = [Duration::ZERO; 2];
    for s in 0..2 * segs {
        let p = segment_path(s);
        let i = p.idx();
        let meter = CpuMeter::start(cpu_pids[i]);
        let out = closed_segment(
            &clients[i],
            &pair[i],
            concurrency,
            Duration::from_secs_f64(segment),
        )
        .await;
        if settle {
            // The left-over work belongs to this side: charge its CPU here.
            settle_time[i] += wait_quiet(quiet_pid, Duration::from_secs(5)).await;
        }
        cpu[i] = match (cpu[i], meter.elapsed_ns()) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
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
    let util = |i: usize| {
        cpu[i].and_then(|ns| {
            let secs = (time[i] + settle_time[i]).as_secs_f64();
            (secs > 0.0).then(|| ns as f64 / 1e9 / secs)
        })
    };
    ClosedLoop {
        concurrency,
        seconds_per_path: segs as f64 * segment,
        throughput: [rate(0), rate(1)],
        segment_throughput: seg_rates,
        latency: [hists[0].summary(), hists[1].summary()],
        errors,
        gateway_cpu_us_per_req: cpu_per_req(cpu[1], count[1]),
        gateway_cpu_util: util(1),
        baseline_cpu_us_per_req: cpu_per_req(cpu[0], count[0]),
        baseline_cpu_util: util(0),
        settle_secs: [settle_time[0].as_secs_f64(), settle_time[1].as_secs_f64()],
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
    /// Send → first event carrying generated text.
    pub first_content: [Summary; 2],
    /// Gateway − direct of `first_content`.
    pub added_first_content: Comparison,
    /// Streams that were short, lacked `[DONE]` or failed.
    pub incomplete: [u64; 2],
    /// Errors, `[direct, gateway]`.
    pub errors: [Errors; 2],
}

/// Scenario 4 (and the stream half of scenario D): one stream at a time,
/// alternating the two endpoints stream by stream. Both must carry the same
/// stream shape.
pub async fn stream_c1(pair: &[Endpoint; 2], warmup: u64, streams: u64) -> StreamC1 {
    let shape = pair[0].stream.unwrap_or(StreamShape {
        chunks: 0,
        chunk_delay_ms: 0,
    });
    let clients = [client::pooled_client(1), client::pooled_client(1)];
    let deadline = Duration::from_millis(5_000 + u64::from(shape.chunks) * shape.chunk_delay_ms);
    for _ in 0..warmup {
        for p in Path::BOTH {
            client::stream_pooled(&clients[p.idx()], &pair[p.idx()], deadline).await;
        }
    }
    let mut ttfb = [Hist::new(), Hist::new()];
    let mut gap = [Hist::new(), Hist::new()];
    let mut content = [Hist::new(), Hist::new()];
    let mut incomplete = [0u64; 2];
    let mut errors: [Errors; 2] = Default::default();
    for i in 0..streams {
        let first = if i % 2 == 0 {
            Path::Direct
        } else {
            Path::Gateway
        };
        for p in [first, first.other()] {
            let rec = client::stream_pooled(&clients[p.idx()], &pair[p.idx()], deadline).await;
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
            if let Some(t) = rec.first_content {
                content[k].record(t);
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
        first_content: [content[0].summary(), content[1].summary()],
        added_first_content: stats::compare(&content),
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
    let ep = Endpoint::chat_stream(ctx.target(path), shape);
    let deadline = Duration::from_millis(30_000 + u64::from(shape.chunks) * shape.chunk_delay_ms);
    let start = Instant::now() + Duration::from_millis(10);
    let mut set = JoinSet::new();
    for i in 0..count {
        let ep = ep.clone();
        let at = start + ramp.mul_f64(i as f64 / count.max(1) as f64);
        set.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            client::stream_raw(&ep, deadline).await
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

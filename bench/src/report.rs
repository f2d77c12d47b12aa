//! Turns scenario results into the Markdown report (one table: direct,
//! gateway, added/ratio, target, pass) and the JSON document written next to
//! it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::features::{Compat, Gw, LoggingCost, PairRun, Pairs, Sustained};
use crate::scenarios::{ClosedLoop, ManyRun, OpenLoop, StreamC1, UnaryC1};
use crate::stats::{Added, Comparison, Errors, Mem, Summary};
use crate::Plan;

/// Facts about the run printed at the top of the report.
#[derive(Serialize)]
pub struct Meta {
    /// Wall-clock date of the run (from `run.sh`).
    pub date: String,
    /// `git rev-parse` of the tree under test.
    pub commit: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// Which process runs on which core.
    pub pinning: String,
    /// `full` or `quick`.
    pub mode: String,
    /// `/proc/loadavg` when loadgen started.
    pub loadavg_start: String,
    /// `/proc/loadavg` when loadgen finished.
    pub loadavg_end: String,
    /// Direct URL.
    pub direct_url: String,
    /// Gateway URL.
    pub gateway_url: String,
}

/// Gateway memory at the checkpoints of scenario 6.
#[derive(Default, Serialize)]
pub struct MemReport {
    /// Before the first request.
    pub idle: Option<Mem>,
    /// After each of scenarios 1–4 and A–D that ran: (label, memory).
    pub checkpoints: Vec<(String, Mem)>,
    /// Highest `VmRSS` sampled during scenario 5.
    pub streams_peak_rss_kib: Option<u64>,
    /// After scenario 5, once the streams have ended and settled.
    pub after_streams: Option<Mem>,
    /// `settle_secs` after the last request (`hwm_kib` is the all-time peak).
    pub end: Option<Mem>,
    /// Idle time before `end` was read.
    pub settle_secs: f64,
    /// Gateway CPU use during that idle time (1.0 = one core): work left
    /// over from the load, such as queued log writes.
    pub idle_cpu_after_load: Option<f64>,
}

/// Everything measured in one run.
#[derive(Serialize)]
pub struct Results {
    /// Run facts.
    pub meta: Meta,
    /// Scenario parameters.
    pub plan: Plan,
    /// Scenario 1.
    pub unary_c1: Option<UnaryC1>,
    /// Scenario 2.
    pub open_loop: Option<OpenLoop>,
    /// Scenario 3.
    pub closed_loop: Option<ClosedLoop>,
    /// Scenario 4.
    pub stream_c1: Option<StreamC1>,
    /// Scenario 5, one entry per (count, path).
    pub many_streams: Vec<ManyRun>,
    /// Scenario A.
    pub logging_cost: Option<LoggingCost>,
    /// Scenario B.
    pub sustained: Option<Sustained>,
    /// Scenario C.
    pub traffic: Option<Pairs>,
    /// Scenario D.
    pub compat: Option<Compat>,
    /// The gateway processes scenarios A–D used.
    pub gateways: Vec<Gw>,
    /// Scenario 6.
    pub memory: MemReport,
    /// Human-readable remarks (errors, harness limits).
    pub notes: Vec<String>,
}

struct Row {
    scenario: String,
    metric: String,
    direct: String,
    gateway: String,
    delta: String,
    ci: String,
    target: String,
    ok: Option<Verdict>,
}

/// Pass/fail of a row against its target. `resolved` is false when the
/// 95 % interval of the difference straddles the target, i.e. this run cannot
/// tell which side of it the true value is on.
#[derive(Clone, Copy)]
struct Verdict {
    pass: bool,
    resolved: bool,
}

impl Verdict {
    fn plain(pass: bool) -> Option<Verdict> {
        Some(Verdict {
            pass,
            resolved: true,
        })
    }
}

fn us(v: f64) -> String {
    if v.abs() >= 1_000.0 {
        format!("{:.2} ms", v / 1_000.0)
    } else {
        format!("{v:.1} µs")
    }
}

/// Targets are round numbers: no decimals.
fn target_us(v: f64) -> String {
    if v.abs() >= 1_000.0 {
        format!("{} ms", v / 1_000.0)
    } else {
        format!("{v:.0} µs")
    }
}

fn signed_us(v: f64) -> String {
    let s = us(v.abs());
    if v.abs() < 0.05 {
        s
    } else if v < 0.0 {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn yes(ok: Option<Verdict>) -> &'static str {
    match ok {
        Some(Verdict {
            pass: true,
            resolved: true,
        }) => "yes",
        Some(Verdict {
            pass: true,
            resolved: false,
        }) => "yes?",
        Some(Verdict {
            pass: false,
            resolved: true,
        }) => "**NO**",
        Some(Verdict {
            pass: false,
            resolved: false,
        }) => "**NO?**",
        None => "",
    }
}

/// Which percentile a latency row shows.
#[derive(Clone, Copy)]
enum Pct {
    P50,
    P99,
    P999,
}

impl Pct {
    fn of(self, s: &Summary) -> f64 {
        match self {
            Pct::P50 => s.p50_us,
            Pct::P99 => s.p99_us,
            Pct::P999 => s.p999_us,
        }
    }

    fn added(self, c: &Comparison) -> Added {
        match self {
            Pct::P50 => c.p50,
            Pct::P99 => c.p99,
            Pct::P999 => c.p999,
        }
    }
}

/// A latency row comparing one percentile; `target` is the allowed added µs.
fn lat_row(
    scenario: &str,
    metric: &str,
    pct: Pct,
    s: &[Summary; 2],
    c: Option<&Comparison>,
    target: Option<f64>,
) -> Row {
    let (d, g) = (pct.of(&s[0]), pct.of(&s[1]));
    let added = c.map(|c| pct.added(c)).unwrap_or(Added {
        added_us: g - d,
        ci95_us: None,
    });
    Row {
        scenario: scenario.to_string(),
        metric: metric.to_string(),
        direct: us(d),
        gateway: us(g),
        delta: signed_us(added.added_us),
        ci: added
            .ci95_us
            .map(|(lo, hi)| format!("{} … {}", signed_us(lo), signed_us(hi)))
            .unwrap_or_default(),
        target: target
            .map(|t| format!("≤ {}", target_us(t)))
            .unwrap_or_default(),
        ok: target.map(|t| Verdict {
            pass: added.added_us <= t,
            resolved: added.ci95_us.is_none_or(|(lo, hi)| !(lo <= t && t < hi)),
        }),
    }
}

fn errors_row(scenario: &str, e: &[Errors; 2], rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    if e[0].total == 0 && e[1].total == 0 {
        return;
    }
    rows.push(Row {
        scenario: scenario.to_string(),
        metric: "errors".to_string(),
        direct: e[0].total.to_string(),
        gateway: e[1].total.to_string(),
        delta: String::new(),
        ci: String::new(),
        target: "0".to_string(),
        ok: Verdict::plain(e[1].total == 0),
    });
    for (k, p) in e.iter().zip(["direct", "gateway"]) {
        if k.total > 0 {
            notes.push(format!("{scenario}, {p} errors: {}", k.describe()));
        }
    }
}

fn info_row(scenario: &str, metric: &str, direct: String, gateway: String) -> Row {
    Row {
        scenario: scenario.to_string(),
        metric: metric.to_string(),
        direct,
        gateway,
        delta: String::new(),
        ci: String::new(),
        target: String::new(),
        ok: None,
    }
}

/// Builds the report rows and collects notes.
fn rows(r: &Results, notes: &mut Vec<String>) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(s) = &r.unary_c1 {
        let name = format!("1. c=1 non-streaming ({} req/path)", s.requests);
        let (l, a) = (&s.latency, Some(&s.added));
        rows.push(lat_row(&name, "latency p50", Pct::P50, l, a, Some(50.0)));
        rows.push(lat_row(&name, "latency p99", Pct::P99, l, a, Some(150.0)));
        rows.push(lat_row(&name, "latency p99.9", Pct::P999, l, a, None));
        if let Some(c) = s.gateway_cpu_us_per_req {
            rows.push(info_row(&name, "gateway CPU / request", "—".into(), us(c)));
        }
        errors_row(&name, &s.errors, &mut rows, notes);
    }
    if let Some(s) = &r.open_loop {
        let name = format!(
            "2. open loop {} req/s, {:.0} s/path (from intended send time)",
            s.rate, s.seconds_per_path
        );
        let (l, a) = (&s.latency, Some(&s.added));
        rows.push(lat_row(&name, "latency p50", Pct::P50, l, a, None));
        rows.push(lat_row(&name, "latency p99", Pct::P99, l, a, Some(500.0)));
        rows.push(lat_row(&name, "latency p99.9", Pct::P999, l, a, None));
        rows.push(info_row(
            &name,
            "achieved rate",
            format!("{:.0}/s", s.achieved_rate[0]),
            format!("{:.0}/s", s.achieved_rate[1]),
        ));
        if let Some(c) = s.gateway_cpu_us_per_req {
            rows.push(info_row(&name, "gateway CPU / request", "—".into(), us(c)));
        }
        errors_row(&name, &s.errors, &mut rows, notes);
        notes.push(format!(
            "Scenario 2 harness send lag (actual − intended send) p99: direct {}, gateway {}; service time (from actual send) p99: direct {}, gateway {}.",
            us(s.send_lag[0].p99_us),
            us(s.send_lag[1].p99_us),
            us(s.service[0].p99_us),
            us(s.service[1].p99_us)
        ));
    }
    if let Some(s) = &r.closed_loop {
        let name = format!(
            "3. closed loop c={}, {:.0} s/path",
            s.concurrency, s.seconds_per_path
        );
        rows.push(throughput_row(&name, s, 0.8));
        // No interval for closed-loop latency: samples are strongly correlated.
        let l = &s.latency;
        rows.push(lat_row(&name, "latency p50", Pct::P50, l, None, None));
        rows.push(lat_row(&name, "latency p99", Pct::P99, l, None, None));
        if let (Some(c), Some(u)) = (s.gateway_cpu_us_per_req, s.gateway_cpu_util) {
            rows.push(info_row(
                &name,
                "gateway CPU / request (core use)",
                "—".into(),
                format!("{} ({:.0} %)", us(c), u * 100.0),
            ));
        }
        errors_row(&name, &s.errors, &mut rows, notes);
    }
    if let Some(s) = &r.stream_c1 {
        let name = format!(
            "4. stream c=1, {} chunks × {} ms ({} streams/path)",
            s.shape.chunks, s.shape.chunk_delay_ms, s.streams
        );
        let (t, at) = (&s.ttfb, Some(&s.added_ttfb));
        let (g, ag) = (&s.gap, Some(&s.added_gap));
        rows.push(lat_row(&name, "TTFB p50", Pct::P50, t, at, None));
        rows.push(lat_row(&name, "TTFB p99", Pct::P99, t, at, Some(300.0)));
        rows.push(lat_row(&name, "inter-event gap p50", Pct::P50, g, ag, None));
        rows.push(lat_row(
            &name,
            "inter-event gap p99",
            Pct::P99,
            g,
            ag,
            Some(10.0),
        ));
        if s.incomplete != [0, 0] {
            rows.push(Row {
                scenario: name.clone(),
                metric: "incomplete streams".into(),
                direct: s.incomplete[0].to_string(),
                gateway: s.incomplete[1].to_string(),
                delta: String::new(),
                ci: String::new(),
                target: "0".into(),
                ok: Verdict::plain(s.incomplete[1] == 0),
            });
        }
        errors_row(&name, &s.errors, &mut rows, notes);
    }
    let mut counts: Vec<usize> = r.many_streams.iter().map(|m| m.streams).collect();
    counts.dedup();
    for count in counts {
        let find = |p: &str| {
            r.many_streams
                .iter()
                .find(|m| m.streams == count && m.path == p)
        };
        let (d, g) = (find("direct"), find("gateway"));
        let cell = |m: Option<&ManyRun>| match m {
            None => "—".to_string(),
            Some(m) => format!(
                "{} ({} stalled, {} lost; max gap {}; TTFB p99 {}, max {}{})",
                if m.held { "yes" } else { "**no**" },
                m.stalled,
                m.lost,
                us(m.gap.max_us),
                us(m.ttfb.p99_us),
                us(m.ttfb.max_us),
                if m.slow_starts > 0 {
                    format!(", {} slow starts", m.slow_starts)
                } else {
                    String::new()
                }
            ),
        };
        rows.push(Row {
            scenario: format!(
                "5. {} concurrent streams, {} chunks × {} ms",
                count, r.plan.many_chunks, r.plan.many_delay_ms
            ),
            metric: "held (no gap > stall, none lost)".into(),
            direct: cell(d),
            gateway: cell(g),
            delta: String::new(),
            ci: String::new(),
            target: "held".into(),
            ok: g.and_then(|g| Verdict::plain(g.held)),
        });
        for m in [d, g].into_iter().flatten() {
            if m.errors.total > 0 {
                notes.push(format!(
                    "Scenario 5, {} streams, {}: {}",
                    count,
                    m.path,
                    m.errors.describe()
                ));
            }
        }
        if let (Some(d), Some(g)) = (d, g) {
            if !d.held && !g.held {
                notes.push(format!(
                    "Scenario 5, {count} streams: the direct path did not hold either, so the harness or the fake (sharing one core) is the limit at this count, not only the gateway."
                ));
            }
        }
    }
    feature_rows(r, &mut rows, notes);
    let m = &r.memory;
    let name = "6. gateway memory";
    let mem_row = |metric: &str, kib: Option<u64>, target: Option<u64>| Row {
        scenario: name.to_string(),
        metric: metric.to_string(),
        direct: "—".into(),
        gateway: kib.map(mib).unwrap_or_else(|| "n/a".into()),
        delta: String::new(),
        ci: String::new(),
        target: target.map(|t| format!("≤ {} MB", t)).unwrap_or_default(),
        ok: match (kib, target) {
            // Targets are in MB (10^6 bytes).
            (Some(k), Some(t)) => Verdict::plain(k * 1024 <= t * 1_000_000),
            _ => None,
        },
    };
    if m.idle.is_some() || m.end.is_some() {
        rows.push(mem_row(
            "VmRSS idle after start",
            m.idle.map(|x| x.rss_kib),
            Some(30),
        ));
        for (label, mem) in &m.checkpoints {
            rows.push(mem_row(
                &format!("VmRSS after {label}"),
                Some(mem.rss_kib),
                None,
            ));
        }
        if m.streams_peak_rss_kib.is_some() {
            rows.push(mem_row(
                "VmRSS peak sampled during streams",
                m.streams_peak_rss_kib,
                None,
            ));
        }
        if m.streams_peak_rss_kib.is_some() {
            rows.push(mem_row(
                "VmRSS after streams",
                m.after_streams.map(|x| x.rss_kib),
                Some(64),
            ));
        }
        rows.push(mem_row(
            &format!("VmRSS {:.0} s after the last request", m.settle_secs),
            m.end.map(|x| x.rss_kib),
            None,
        ));
        rows.push(mem_row(
            "VmHWM (peak) at end",
            m.end.map(|x| x.hwm_kib),
            None,
        ));
        if let Some(u) = m.idle_cpu_after_load {
            rows.push(info_row(
                name,
                &format!("gateway CPU use in those {:.0} s", m.settle_secs),
                "—".into(),
                format!("{:.0} % of a core", u * 100.0),
            ));
        }
    }
    rows
}

/// A row of plain values with a pass/fail against a non-latency target.
fn check_row(
    scenario: &str,
    metric: &str,
    direct: String,
    gateway: String,
    target: &str,
    ok: Option<Verdict>,
) -> Row {
    Row {
        scenario: scenario.to_string(),
        metric: metric.to_string(),
        direct,
        gateway,
        delta: String::new(),
        ci: String::new(),
        target: target.to_string(),
        ok,
    }
}

/// Throughput row: gateway ÷ baseline, with the per-segment range.
fn throughput_row(name: &str, s: &ClosedLoop, min_ratio: f64) -> Row {
    let ratio = if s.throughput[0] > 0.0 {
        s.throughput[1] / s.throughput[0]
    } else {
        0.0
    };
    Row {
        scenario: name.to_string(),
        metric: "throughput".into(),
        direct: format!("{:.0} req/s", s.throughput[0]),
        gateway: format!("{:.0} req/s", s.throughput[1]),
        delta: format!("{:.0} %", ratio * 100.0),
        ci: ratio_range(&s.segment_throughput),
        target: format!("≥ {:.0} %", min_ratio * 100.0),
        ok: Verdict::plain(ratio >= min_ratio),
    }
}

fn opt_us(v: Option<f64>) -> String {
    v.map(us).unwrap_or_else(|| "n/a".into())
}

/// Rows of one c=1 comparison of scenarios C and D.
fn pair_rows(run: &PairRun, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let name = format!(
        "{} (baseline: {}; measured: {}; {} req/side, c=1)",
        run.label, run.baseline, run.measured, run.result.requests
    );
    let (l, a) = (&run.result.latency, Some(&run.result.added));
    rows.push(lat_row(
        &name,
        "latency p50",
        Pct::P50,
        l,
        a,
        run.target_added_p50_us,
    ));
    let mut p99 = lat_row(&name, "latency p99", Pct::P99, l, a, None);
    if let Some(t) = run.target_p99_us {
        // An absolute target on the measured side, not on the difference.
        p99.target = format!("gateway < {}", target_us(t));
        p99.ok = Verdict::plain(l[1].p99_us < t);
    }
    rows.push(p99);
    errors_row(&name, &run.result.errors, rows, notes);
    for i in &run.info {
        notes.push(format!("{}: {i}.", run.label));
    }
}

/// Rows of scenarios A–D.
fn feature_rows(r: &Results, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    if let Some(a) = &r.logging_cost {
        let s = &a.open;
        let name = format!(
            "A. logging cost, open loop {} req/s, {:.0} s/side in {} s phases (baseline: bench/nolog, collect_logs = false; gateway: bench/bench, logging on)",
            s.rate, s.seconds_per_path, s.segment_secs
        );
        let (l, c) = (&s.latency, Some(&s.added));
        rows.push(lat_row(&name, "latency p50", Pct::P50, l, c, Some(100.0)));
        rows.push(lat_row(&name, "latency p99", Pct::P99, l, c, None));
        rows.push(lat_row(&name, "latency p99.9", Pct::P999, l, c, None));
        rows.push(info_row(
            &name,
            "achieved rate",
            format!("{:.0}/s", s.achieved_rate[0]),
            format!("{:.0}/s", s.achieved_rate[1]),
        ));
        rows.push(info_row(
            &name,
            "gateway CPU / request",
            opt_us(s.baseline_cpu_us_per_req),
            opt_us(s.gateway_cpu_us_per_req),
        ));
        errors_row(&name, &s.errors, rows, notes);

        let s = &a.closed;
        let name = format!(
            "A. logging cost, closed loop c={}, {:.0} s/side (baseline: logging off)",
            s.concurrency, s.seconds_per_path
        );
        rows.push(throughput_row(&name, s, 0.9));
        if let (Some(b), Some(g)) = (s.baseline_cpu_us_per_req, s.gateway_cpu_us_per_req) {
            // What one core of gateway would serve: robust when the gateway
            // is not the bottleneck (the fake and loadgen share core 1).
            let ratio = b / g;
            rows.push(Row {
                scenario: name.clone(),
                metric: "capacity per gateway core (1 s ÷ CPU per request)".into(),
                direct: format!("{:.0} req/s", 1e6 / b),
                gateway: format!("{:.0} req/s", 1e6 / g),
                delta: format!("{:.0} %", ratio * 100.0),
                ci: String::new(),
                target: "≥ 90 %".into(),
                ok: Verdict::plain(ratio >= 0.9),
            });
        }
        let l = &s.latency;
        rows.push(lat_row(&name, "latency p50", Pct::P50, l, None, None));
        rows.push(lat_row(&name, "latency p99", Pct::P99, l, None, None));
        let cpu = |c: Option<f64>, u: Option<f64>| match (c, u) {
            (Some(c), Some(u)) => format!("{} ({:.0} %)", us(c), u * 100.0),
            _ => "n/a".into(),
        };
        rows.push(info_row(
            &name,
            "gateway CPU / request (core use)",
            cpu(s.baseline_cpu_us_per_req, s.baseline_cpu_util),
            cpu(s.gateway_cpu_us_per_req, s.gateway_cpu_util),
        ));
        rows.push(info_row(
            &name,
            "wait for the gateway to go quiet after segments",
            format!("{:.2} s", s.settle_secs[0]),
            format!("{:.2} s", s.settle_secs[1]),
        ));
        errors_row(&name, &s.errors, rows, notes);
    }
    if let Some(t) = &r.traffic {
        for run in &t.runs {
            pair_rows(run, rows, notes);
        }
    }
    if let Some(c) = &r.compat {
        for run in &c.pairs.runs {
            pair_rows(run, rows, notes);
        }
        if let Some(s) = &c.stream {
            let name = format!(
                "D.3 translated stream TTFB, {} chunks × {} ms (baseline: direct Anthropic stream from the upstream; measured: …/compat/chat/completions, anthropic/claude-x, stream; {} streams/side)",
                s.shape.chunks, s.shape.chunk_delay_ms, s.streams
            );
            let (t, at) = (&s.ttfb, Some(&s.added_ttfb));
            rows.push(lat_row(&name, "TTFB p50", Pct::P50, t, at, Some(1_000.0)));
            rows.push(lat_row(&name, "TTFB p99", Pct::P99, t, at, Some(1_000.0)));
            let (f, af) = (&s.first_content, Some(&s.added_first_content));
            rows.push(lat_row(&name, "first text p50", Pct::P50, f, af, None));
            rows.push(lat_row(&name, "first text p99", Pct::P99, f, af, None));
            if s.incomplete != [0, 0] {
                rows.push(check_row(
                    &name,
                    "incomplete streams",
                    s.incomplete[0].to_string(),
                    s.incomplete[1].to_string(),
                    "0",
                    Verdict::plain(s.incomplete[1] == 0),
                ));
            }
            errors_row(&name, &s.errors, rows, notes);
        }
    }
    if let Some(b) = &r.sustained {
        for run in &b.runs {
            let name = format!(
                "B. sustained logging, {} req/s × {:.0} s, {} (account {}; baseline: direct at the same rate for {:.0} s)",
                run.rate, run.seconds, run.backend, run.account, b.direct_secs
            );
            let stored = run
                .stored
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into());
            rows.push(check_row(
                &name,
                "sent / acknowledged (2xx) / stored",
                "—".into(),
                format!("{} / {} / {}", run.sent, run.acknowledged, stored),
                "stored ≥ acknowledged",
                Some(Verdict {
                    pass: run.stored.is_some_and(|n| n >= run.acknowledged),
                    resolved: true,
                }),
            ));
            rows.push(info_row(
                &name,
                "time until the stored count was final (incl. the count query)",
                "—".into(),
                format!(
                    "{:.1} s{}",
                    run.stored_wait_secs,
                    if run.count_settled {
                        ""
                    } else {
                        " (still growing: gave up)"
                    }
                ),
            ));
            let dropped = match (run.dropped_before, run.dropped_after) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            rows.push(check_row(
                &name,
                "switchyard_log_records_dropped_total (increase)",
                "—".into(),
                match (dropped, run.dropped_after) {
                    (Some(d), Some(t)) => format!("{d:.0} (total {t:.0})"),
                    _ => "n/a".into(),
                },
                "0",
                dropped.and_then(|d| Verdict::plain(d == 0.0)),
            ));
            let d = b.direct_latency.unwrap_or_default();
            let l = [d, run.latency];
            rows.push(lat_row(&name, "latency p50", Pct::P50, &l, None, None));
            rows.push(lat_row(&name, "latency p99", Pct::P99, &l, None, None));
            rows.push(info_row(
                &name,
                "achieved rate (gateway core use)",
                "—".into(),
                format!(
                    "{:.0}/s ({})",
                    run.achieved_rate,
                    run.gateway_cpu_util
                        .map(|u| format!("{:.0} %", u * 100.0))
                        .unwrap_or_else(|| "n/a".into())
                ),
            ));
            if run.errors.total > 0 {
                notes.push(format!(
                    "Scenario B, {}: {} failed requests: {}",
                    run.backend,
                    run.errors.total,
                    run.errors.describe()
                ));
            }
            for n in &run.notes {
                notes.push(format!("Scenario B, {}: {n}", run.backend));
            }
        }
    }
}

/// Range of gateway/direct throughput ratios over adjacent segment pairs.
fn ratio_range(seg: &[Vec<f64>; 2]) -> String {
    let ratios: Vec<f64> = seg[0]
        .iter()
        .zip(&seg[1])
        .filter(|(d, _)| **d > 0.0)
        .map(|(d, g)| g / d * 100.0)
        .collect();
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ratios.is_empty() {
        String::new()
    } else {
        format!("{lo:.0} … {hi:.0} % (per segment)")
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Renders the Markdown report.
pub fn markdown(r: &Results) -> String {
    let mut notes = Vec::new();
    let rows = rows(r, &mut notes);
    notes.extend(r.notes.iter().cloned());
    let mut out = String::new();
    let m = &r.meta;
    let _ = writeln!(out, "# Switchyard benchmark: gateway vs direct\n");
    let _ = writeln!(out, "- date: {}", m.date);
    let _ = writeln!(out, "- commit: {}", m.commit);
    let _ = writeln!(out, "- kernel: {}", m.kernel);
    let _ = writeln!(out, "- CPU: {} ({} cores online)", m.cpu, m.cores);
    let _ = writeln!(out, "- pinning: {}", m.pinning);
    let _ = writeln!(
        out,
        "- mode: {}; load average at start {} / end {}",
        m.mode, m.loadavg_start, m.loadavg_end
    );
    let _ = writeln!(out, "- direct: `{}`", m.direct_url);
    let _ = writeln!(out, "- gateway: `{}`", m.gateway_url);
    for g in &r.gateways {
        let _ = writeln!(
            out,
            "- scenarios A–D gateway {}: `{}` (pid {})",
            g.label,
            g.base,
            g.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | metric | direct (or baseline) | gateway | added / ratio | 95 % interval | target | ok |"
    );
    let _ = writeln!(out, "| --- | --- | --: | --: | --: | --: | --: | :-: |");
    let mut last = String::new();
    for row in &rows {
        let scenario = if row.scenario == last {
            String::new()
        } else {
            row.scenario.clone()
        };
        last = row.scenario.clone();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&scenario),
            cell(&row.metric),
            cell(&row.direct),
            cell(&row.gateway),
            cell(&row.delta),
            cell(&row.ci),
            cell(&row.target),
            yes(row.ok)
        );
    }
    let _ = writeln!(
        out,
        "\nAdded = gateway − direct (or measured side − baseline, as the scenario names them) for the same percentile, measured in the same run with the two sides interleaved. Latencies are client-side wall time on loopback; a negative value means the difference is below the noise. The 95 % interval is a bootstrap over the samples of this run (sampling noise only). `yes?`/`NO?`: the interval straddles the target, so this run cannot resolve it."
    );
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

//! Latency histograms (HdrHistogram, nanosecond resolution, 3 significant
//! digits), summaries in microseconds, and process statistics read from
//! `/proc` (resident memory and CPU time of the gateway process).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram recording nanoseconds. The raw samples are kept too,
/// for bootstrap confidence intervals of percentile differences.
#[derive(Clone)]
pub struct Hist(Histogram<u64>, Vec<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    /// 1 ns .. 10 min, 3 significant digits (≤ 0.1 % relative error).
    pub fn new() -> Hist {
        Hist(
            Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds"),
            Vec::new(),
        )
    }

    /// Records one duration (saturating at the upper bound).
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(ns);
        self.1.push(ns);
    }

    /// Adds all samples of another histogram.
    pub fn add(&mut self, other: &Hist) {
        // Bounds are identical, so this cannot fail.
        let _ = self.0.add(&other.0);
        self.1.extend_from_slice(&other.1);
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Summary in microseconds.
    pub fn summary(&self) -> Summary {
        let h = &self.0;
        if h.is_empty() {
            return Summary::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Summary {
            count: h.len(),
            mean_us: h.mean() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// A small deterministic PRNG (SplitMix64) for the bootstrap.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // Multiply-shift: unbiased enough for resampling.
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// Index of the `q` quantile in a sorted slice of length `n` (the smallest
/// value with at least `q·n` samples at or below it, like HdrHistogram).
fn quantile_index(n: usize, q: f64) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n) - 1
}

fn resampled_quantile(sorted: &[u64], q: f64, rng: &mut SplitMix, idx: &mut Vec<u32>) -> u64 {
    let n = sorted.len();
    idx.clear();
    idx.extend((0..n).map(|_| rng.below(n) as u32));
    let k = quantile_index(n, q);
    let (_, kth, _) = idx.select_nth_unstable(k);
    sorted[*kth as usize]
}

/// 95 % bootstrap confidence interval (µs) of `quantile(g) − quantile(d)`,
/// resampling each side independently `iters` times. `None` if either side
/// has too few samples. It treats samples as independent, so it reflects
/// sampling noise, not slow drifts of the machine (interleaving handles those).
pub fn diff_ci(d: &Hist, g: &Hist, q: f64, iters: usize) -> Option<(f64, f64)> {
    if d.1.len() < 20 || g.1.len() < 20 {
        return None;
    }
    let mut ds = d.1.clone();
    let mut gs = g.1.clone();
    ds.sort_unstable();
    gs.sort_unstable();
    let mut rng = SplitMix(0x5EED_1234_ABCD_0001);
    let mut idx = Vec::new();
    let mut diffs: Vec<f64> = (0..iters)
        .map(|_| {
            let a = resampled_quantile(&ds, q, &mut rng, &mut idx) as f64;
            let b = resampled_quantile(&gs, q, &mut rng, &mut idx) as f64;
            (b - a) / 1_000.0
        })
        .collect();
    diffs.sort_unstable_by(f64::total_cmp);
    let lo = diffs[quantile_index(diffs.len(), 0.025)];
    let hi = diffs[quantile_index(diffs.len(), 0.975)];
    Some((lo, hi))
}

/// One percentile difference, gateway − direct, with its bootstrap interval.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Added {
    /// Gateway percentile − direct percentile, µs.
    pub added_us: f64,
    /// 95 % bootstrap interval of that difference, µs.
    pub ci95_us: Option<(f64, f64)>,
}

/// Added p50, p99 and p99.9.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Comparison {
    /// Median.
    pub p50: Added,
    /// 99th percentile.
    pub p99: Added,
    /// 99.9th percentile.
    pub p999: Added,
}

/// Bootstrap resamples per interval.
const BOOTSTRAP_ITERS: usize = 300;

/// Compares two histograms (`[direct, gateway]`).
pub fn compare(h: &[Hist; 2]) -> Comparison {
    let (d, g) = (h[0].summary(), h[1].summary());
    let one = |q: f64, a: f64, b: f64| Added {
        added_us: b - a,
        ci95_us: diff_ci(&h[0], &h[1], q, BOOTSTRAP_ITERS),
    };
    Comparison {
        p50: one(0.5, d.p50_us, g.p50_us),
        p99: one(0.99, d.p99_us, g.p99_us),
        p999: one(0.999, d.p999_us, g.p999_us),
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
}

/// Counts of distinct error messages (first 120 characters).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Errors {
    /// Total number of failed requests or streams.
    pub total: u64,
    /// Message → count.
    pub kinds: BTreeMap<String, u64>,
}

impl Errors {
    /// Counts one error.
    pub fn add(&mut self, msg: &str) {
        self.total += 1;
        let key: String = msg.chars().take(120).collect();
        *self.kinds.entry(key).or_insert(0) += 1;
    }

    /// Merges another error tally.
    pub fn merge(&mut self, other: &Errors) {
        self.total += other.total;
        for (k, v) in &other.kinds {
            *self.kinds.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Short one-line description (most frequent kind first).
    pub fn describe(&self) -> String {
        let mut kinds: Vec<_> = self.kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1));
        kinds
            .iter()
            .take(3)
            .map(|(k, v)| format!("{v}× {k}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Mem {
    /// `VmRSS` in KiB.
    pub rss_kib: u64,
    /// `VmHWM` (peak RSS) in KiB.
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// CPU time of all threads of `pid` in nanoseconds (sum of the first field
/// of `/proc/PID/task/*/schedstat`). Threads that exited earlier are not
/// counted, so only differences over a short window are meaningful.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for entry in dir.flatten() {
        let path = entry.path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Some(v) = s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += v;
            }
        }
    }
    Some(total)
}

/// Measures gateway CPU time over a window.
#[derive(Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    start: Option<u64>,
}

impl CpuMeter {
    /// Starts a window (no-op without a pid).
    pub fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            pid,
            start: pid.and_then(cpu_ns),
        }
    }

    /// CPU nanoseconds since `start`.
    pub fn elapsed_ns(&self) -> Option<u64> {
        let now = cpu_ns(self.pid?)?;
        Some(now.saturating_sub(self.start?))
    }
}

/// `/proc/loadavg` (first three fields).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_in_microseconds() {
        let mut h = Hist::new();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_us - 50.0).abs() < 0.1, "{}", s.p50_us);
        assert!((s.p99_us - 99.0).abs() < 0.1, "{}", s.p99_us);
        assert!((s.max_us - 100.0).abs() < 0.1, "{}", s.max_us);
    }

    #[test]
    fn bootstrap_ci_brackets_a_known_shift() {
        let mut d = Hist::new();
        let mut g = Hist::new();
        let mut rng = SplitMix(7);
        for _ in 0..5_000 {
            let base = 100_000 + rng.below(50_000) as u64;
            d.record(Duration::from_nanos(base));
            g.record(Duration::from_nanos(
                base + rng.below(1_000) as u64 + 20_000,
            ));
        }
        let (lo, hi) = diff_ci(&d, &g, 0.5, 200).expect("enough samples");
        assert!(lo < 21.0 && hi > 19.0 && hi - lo < 10.0, "{lo}..{hi}");
    }

    #[test]
    fn reads_own_memory() {
        let m = mem(std::process::id()).expect("own /proc status");
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        assert!(cpu_ns(std::process::id()).is_some());
    }
}

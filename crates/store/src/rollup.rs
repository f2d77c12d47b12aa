//! The analytics rollup both backends keep, and the timestamp arithmetic it needs.
//!
//! `write_batch` folds every record into tables keyed by gateway × period × provider × model,
//! at two resolutions: per minute (`log_rollup`, `log_latency`) and per hour
//! (`log_rollup_hourly`, `log_latency_hourly`). `*_rollup*` holds requests, errors, cache hits,
//! tokens and cost; `*_latency*` a sparse log-scale histogram of durations (one row per
//! non-empty bucket). Bucket `k` holds durations `d` (ms) with `floor(8 · log2(1 + d)) = k`,
//! so each bucket is 2^(1/8) ≈ 9 % wide; percentiles are interpolated inside the bucket that
//! holds the wanted rank.
//!
//! Analytics by minute read the minute tables; by hour or day, the whole hours of the range
//! come from the hourly tables and only its ragged ends from the minute tables, so a month
//! reads about 720 periods per group however busy the gateway was. Both levels store the
//! period as its first minute since the epoch.
//!
//! Timestamps are stored as microseconds since the Unix epoch: RFC 3339 text with and without
//! a fraction (`...:00Z` vs `...:00.5Z`) does not sort as time does.

use crate::logs::AnalyticsRow;
use std::collections::BTreeMap;
use switchyard_core::LogRecord;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// Microseconds per minute.
pub(crate) const MINUTE_US: i64 = 60_000_000;

/// Parses a timestamp: RFC 3339, or an ISO 8601 date-time without offset (taken as UTC), or a
/// plain date (midnight UTC).
pub(crate) fn parse_micros(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(|p| p.assume_utc()))
        .or_else(|_| Date::parse(s, &Iso8601::DEFAULT).map(|d| d.midnight().assume_utc()))
        .ok()?;
    let t = switchyard_core::clock::utc_in_range(t)?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// RFC 3339 UTC, as `switchyard_core::clock` formats it.
pub(crate) fn format_micros(us: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    switchyard_core::clock::format_rfc3339(t)
}

/// The latency bucket of a duration in milliseconds.
pub(crate) fn latency_bucket(ms: u64) -> i64 {
    ((1.0 + ms as f64).log2() * 8.0).floor() as i64
}

fn bucket_bounds(k: i64) -> (f64, f64) {
    let lo = (k as f64 / 8.0).exp2() - 1.0;
    let hi = ((k + 1) as f64 / 8.0).exp2() - 1.0;
    (lo.max(0.0), hi)
}

/// Estimates the `q` quantile (0 < q ≤ 1) of a histogram (bucket → count).
pub(crate) fn percentile(hist: &BTreeMap<i64, u64>, q: f64) -> f64 {
    let total: u64 = hist.values().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (k, n) in hist {
        if seen + n >= rank {
            let (lo, hi) = bucket_bounds(*k);
            let within = (rank - seen) as f64 - 0.5;
            let v = lo + (hi - lo) * (within / *n as f64);
            return (v * 10.0).round() / 10.0;
        }
        seen += n;
    }
    0.0
}

/// Counters of one rollup key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    pub requests: i64,
    pub errors: i64,
    pub cache_hits: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost: f64,
}

/// (gateway key, minute, provider, model ("" when none))
pub(crate) type RollupKey = (i64, i64, String, String);

/// The tables of one resolution: (counters, latency histogram).
pub(crate) const MINUTE_TABLES: (&str, &str) = ("log_rollup", "log_latency");
pub(crate) const HOUR_TABLES: (&str, &str) = ("log_rollup_hourly", "log_latency_hourly");

/// Increments for the tables of one resolution, sorted by key (the lock order).
#[derive(Debug, Default)]
pub(crate) struct Level {
    pub counters: BTreeMap<RollupKey, Counters>,
    pub latency: BTreeMap<(RollupKey, i64), i64>,
}

impl Level {
    fn add(&mut self, key: RollupKey, r: &LogRecord) {
        *self
            .latency
            .entry((key.clone(), latency_bucket(r.duration)))
            .or_default() += 1;
        let c = self.counters.entry(key).or_default();
        c.requests += 1;
        c.errors += i64::from(!r.success);
        c.cache_hits += i64::from(r.cached);
        // Counts are held to what any answer can use before they get here; a record made
        // otherwise still cannot overflow the sum.
        c.tokens_in = c.tokens_in.saturating_add(r.tokens_in.map_or(0, clamp_i64));
        c.tokens_out = c
            .tokens_out
            .saturating_add(r.tokens_out.map_or(0, clamp_i64));
        c.cost += r.cost;
    }
}

/// One batch folded into rollup increments, at both resolutions.
#[derive(Debug, Default)]
pub(crate) struct Rollup {
    pub minute: Level,
    pub hour: Level,
}

impl Rollup {
    pub fn add(&mut self, gkey: i64, created_us: i64, r: &LogRecord) {
        let minute = created_us.div_euclid(MINUTE_US);
        let provider = r.provider.clone();
        let model = r.model.clone().unwrap_or_default();
        let hour = minute.div_euclid(60) * 60;
        self.hour
            .add((gkey, hour, provider.clone(), model.clone()), r);
        self.minute.add((gkey, minute, provider, model), r);
    }

    /// Each level with its (counters, latency) tables.
    pub fn levels(&self) -> [(&Level, (&'static str, &'static str)); 2] {
        [(&self.minute, MINUTE_TABLES), (&self.hour, HOUR_TABLES)]
    }
}

/// Which tables answer which minutes of `[from, to)` for buckets of `bucket_minutes`:
/// (tables, from, to) parts, hourly tables for the whole hours when buckets are hours or days.
pub(crate) fn parts(
    from: i64,
    to: i64,
    bucket_minutes: i64,
) -> Vec<((&'static str, &'static str), i64, i64)> {
    if bucket_minutes < 60 {
        return vec![(MINUTE_TABLES, from, to)];
    }
    let h_from = from.div_euclid(60) * 60 + if from.rem_euclid(60) == 0 { 0 } else { 60 };
    let h_to = to.div_euclid(60) * 60;
    if h_from >= h_to {
        return vec![(MINUTE_TABLES, from, to)];
    }
    let mut out = Vec::with_capacity(3);
    if from < h_from {
        out.push((MINUTE_TABLES, from, h_from));
    }
    out.push((HOUR_TABLES, h_from, h_to));
    if h_to < to {
        out.push((MINUTE_TABLES, h_to, to));
    }
    out
}

pub(crate) fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The minute range `[from, to)` an analytics query reads: minutes whose start lies in
/// `[start, end)`.
pub(crate) fn minute_range(start: &str, end: &str) -> Result<(i64, i64), String> {
    let s = parse_micros(start).ok_or_else(|| format!("start '{start}' is not RFC 3339"))?;
    let e = parse_micros(end).ok_or_else(|| format!("end '{end}' is not RFC 3339"))?;
    let ceil =
        |us: i64| -> i64 { us.div_euclid(MINUTE_US) + i64::from(us.rem_euclid(MINUTE_US) != 0) };
    Ok((ceil(s), ceil(e)))
}

/// One (bucket, provider, model) group being assembled from rollup rows.
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub counters: Counters,
    pub hist: BTreeMap<i64, u64>,
}

/// (bucket start minute, provider, model) as the query grouped them.
pub(crate) type GroupKey = (i64, Option<String>, Option<String>);

/// Turns assembled groups into answer rows, ordered by bucket, provider, model.
pub(crate) fn finish(groups: BTreeMap<GroupKey, Group>) -> Vec<AnalyticsRow> {
    groups
        .into_iter()
        .map(|((minute, provider, model), g)| AnalyticsRow {
            bucket: format_micros(minute.saturating_mul(MINUTE_US)),
            provider,
            model: model.filter(|m| !m.is_empty()),
            requests: g.counters.requests.max(0) as u64,
            errors: g.counters.errors.max(0) as u64,
            cache_hits: g.counters.cache_hits.max(0) as u64,
            tokens_in: g.counters.tokens_in.max(0) as u64,
            tokens_out: g.counters.tokens_out.max(0) as u64,
            cost: g.counters.cost,
            latency_p50: percentile(&g.hist, 0.50),
            latency_p95: percentile(&g.hist, 0.95),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_sums_saturate_instead_of_overflowing() {
        let (a, g) = (
            switchyard_core::AccountId::parse("a").unwrap(),
            switchyard_core::GatewayId::parse("g").unwrap(),
        );
        let mut r = crate::row::tests::record(&a, &g, "id", "2026-11-26T06:00:00Z");
        r.tokens_in = Some(u64::MAX);
        r.tokens_out = Some(i64::MAX as u64);
        let mut rollup = Rollup::default();
        rollup.add(1, 0, &r);
        rollup.add(1, 1, &r);
        let c = rollup.hour.counters.values().next().unwrap();
        assert_eq!(
            (c.requests, c.tokens_in, c.tokens_out),
            (2, i64::MAX, i64::MAX)
        );
    }

    #[test]
    fn timestamps_round_trip_and_sort() {
        let a = parse_micros("2026-11-26T06:00:00Z").unwrap();
        let b = parse_micros("2026-11-26T06:00:00.5Z").unwrap();
        assert!(a < b);
        assert_eq!(format_micros(a), "2026-11-26T06:00:00.000000Z");
        assert_eq!(format_micros(b), "2026-11-26T06:00:00.500000Z");
        let c = parse_micros("2026-11-26T07:00:00.123456+01:00").unwrap();
        assert_eq!(format_micros(c), "2026-11-26T06:00:00.123456Z");
        assert_eq!(parse_micros("2026-11-26T06:00:00"), Some(a));
        assert_eq!(
            parse_micros("2026-11-26"),
            parse_micros("2026-11-26T00:00:00Z")
        );
        assert_eq!(parse_micros("yesterday"), None);
        // Times that UTC puts past what RFC 3339 can write are refused, not misread.
        assert_eq!(parse_micros("9999-12-31T23:59:59-23:59"), None);
        assert_eq!(parse_micros("0001-01-01T00:00:00+01:00"), None);
        assert!(parse_micros("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn buckets_are_monotonic_and_narrow() {
        let mut last = -1;
        for ms in 0..100_000u64 {
            let k = latency_bucket(ms);
            assert!(k >= last);
            last = k;
            let (lo, hi) = bucket_bounds(k);
            assert!(
                lo <= ms as f64 + 1e-9 && (ms as f64) < hi + 1e-9,
                "{ms} in {k}"
            );
        }
    }

    #[test]
    fn percentiles_are_close_to_exact() {
        let durations: Vec<u64> = (1..=1000).map(|i| i * 7).collect();
        let mut hist = BTreeMap::new();
        for d in &durations {
            *hist.entry(latency_bucket(*d)).or_default() += 1;
        }
        let p50 = percentile(&hist, 0.5);
        let p95 = percentile(&hist, 0.95);
        assert!((p50 - 3500.0).abs() / 3500.0 < 0.05, "{p50}");
        assert!((p95 - 6650.0).abs() / 6650.0 < 0.05, "{p95}");
        let one: BTreeMap<i64, u64> = [(latency_bucket(250), 1)].into();
        assert!((percentile(&one, 0.5) - 250.0).abs() < 12.0);
    }

    #[test]
    fn whole_hours_come_from_the_hourly_tables() {
        assert_eq!(parts(0, 120, 1), vec![(MINUTE_TABLES, 0, 120)]);
        assert_eq!(parts(0, 120, 60), vec![(HOUR_TABLES, 0, 120)]);
        assert_eq!(
            parts(30, 190, 1440),
            vec![
                (MINUTE_TABLES, 30, 60),
                (HOUR_TABLES, 60, 180),
                (MINUTE_TABLES, 180, 190)
            ]
        );
        assert_eq!(parts(30, 100, 60), vec![(MINUTE_TABLES, 30, 100)]);
    }

    #[test]
    fn minute_ranges_round_up() {
        let (a, b) = minute_range("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z").unwrap();
        assert_eq!(b - a, 60);
        let (c, _) = minute_range("2026-01-01T00:00:01Z", "2026-01-01T01:00:00Z").unwrap();
        assert_eq!(c, a + 1);
    }
}

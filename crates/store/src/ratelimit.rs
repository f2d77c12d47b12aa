//! Gateway rate limits: `limit` requests per `interval`, fixed or sliding window, counted in
//! memory (one process) or in Redis (all replicas together, one round trip per request).
//!
//! A sliding limit of up to [`EXACT_SLIDING_LIMIT`] is exact: the time of every admitted
//! request within the last interval is kept (in memory, or in a Redis sorted set), and a
//! request is admitted only if fewer than `limit` came in the interval before it; the wait
//! told is until the oldest of them leaves the interval. Above that, keeping every time
//! would cost too much, and the usual two-window estimate stands in: the previous window's
//! count, weighted by how much of it still overlaps the sliding interval, plus the current
//! count. A refused request is not counted.

use crate::kv::{KvError, Redis};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_core::RateLimitTechnique;

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; try again after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Where the counters live.
#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Counts one request under `key` unless that would exceed `limit` per `interval`.
    async fn check(
        &self,
        key: &str,
        limit: u64,
        interval: Duration,
        technique: RateLimitTechnique,
    ) -> Result<Decision, KvError>;
}

/// The largest sliding limit counted exactly; larger ones are estimated.
pub const EXACT_SLIDING_LIMIT: u64 = 10_000;

/// Whether a limit is counted request by request.
fn exact(limit: u64, technique: RateLimitTechnique) -> bool {
    technique == RateLimitTechnique::Sliding && limit <= EXACT_SLIDING_LIMIT
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The pure decision, shared by both backends' semantics. Returns (allowed, retry_after_ms).
pub fn decide(
    now: u64,
    window: u64,
    limit: u64,
    technique: RateLimitTechnique,
    current: u64,
    previous: u64,
) -> (bool, u64) {
    let start = now - now % window;
    let elapsed = now - start;
    let until_next = window - elapsed;
    match technique {
        RateLimitTechnique::Fixed => (current < limit, until_next),
        RateLimitTechnique::Sliding => {
            let weight = (window - elapsed) as f64 / window as f64;
            let estimate = previous as f64 * weight + current as f64;
            // Admitted only if the request itself fits: at most `limit` in any interval, as
            // far as the estimate can tell.
            if estimate + 1.0 <= limit as f64 {
                (true, 0)
            } else if current >= limit {
                // Room comes only in the next window, once this window's count (weighted as
                // the previous one then) has shrunk enough: `current * (1 - f) + 1 <= limit`
                // at the fraction `f` of the next window gone.
                (false, until_next + full_window_wait(window, limit, current))
            } else {
                // The previous window's share shrinks linearly; find when it leaves room.
                let needed = estimate + 1.0 - limit as f64;
                let ms = if previous == 0 {
                    until_next
                } else {
                    ((needed / previous as f64) * window as f64).ceil() as u64
                };
                (false, ms.clamp(1, until_next))
            }
        }
    }
}

/// How far into the next window a sliding limit full at `current` (≥ `limit`) admits again.
fn full_window_wait(window: u64, limit: u64, current: u64) -> u64 {
    let share = limit.saturating_sub(1) as f64 / current as f64;
    ((1.0 - share) * window as f64).ceil() as u64
}

#[derive(Default)]
struct Counter {
    window_start: u64,
    current: u64,
    previous: u64,
}

/// Counters in this process.
#[derive(Default)]
pub struct MemoryLimiter {
    counters: Mutex<HashMap<String, Counter>>,
    /// Exact sliding limits: the times (ms) of the requests admitted in the last interval,
    /// oldest first.
    logs: Mutex<HashMap<String, VecDeque<u64>>>,
}

#[async_trait]
impl RateLimitStore for MemoryLimiter {
    async fn check(
        &self,
        key: &str,
        limit: u64,
        interval: Duration,
        technique: RateLimitTechnique,
    ) -> Result<Decision, KvError> {
        Ok(self.check_at(now_ms(), key, limit, interval, technique))
    }
}

impl MemoryLimiter {
    fn check_at(
        &self,
        now: u64,
        key: &str,
        limit: u64,
        interval: Duration,
        technique: RateLimitTechnique,
    ) -> Decision {
        let window = (interval.as_millis() as u64).max(1);
        if exact(limit, technique) {
            return self.check_log(now, key, limit, window);
        }
        let start = now - now % window;
        let Ok(mut map) = self.counters.lock() else {
            return Decision::Allowed;
        };
        if map.len() > 100_000 {
            map.retain(|_, c| c.window_start + 2 * window > now);
        }
        let c = map.entry(key.to_owned()).or_default();
        if c.window_start != start {
            c.previous = if c.window_start + window == start {
                c.current
            } else {
                0
            };
            c.current = 0;
            c.window_start = start;
        }
        let (allowed, retry_ms) = decide(now, window, limit, technique, c.current, c.previous);
        if allowed {
            c.current += 1;
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: Duration::from_millis(retry_ms),
            }
        }
    }
}

impl MemoryLimiter {
    /// An exact sliding limit: admitted if fewer than `limit` requests came in the `window`
    /// ms up to `now`.
    fn check_log(&self, now: u64, key: &str, limit: u64, window: u64) -> Decision {
        let Ok(mut map) = self.logs.lock() else {
            return Decision::Allowed;
        };
        if map.len() > 100_000 {
            map.retain(|_, times| times.back().is_some_and(|t| t + window > now));
        }
        let times = match map.get_mut(key) {
            Some(times) => times,
            None => map.entry(key.to_owned()).or_default(),
        };
        while times.front().is_some_and(|t| t + window <= now) {
            times.pop_front();
        }
        if (times.len() as u64) < limit {
            times.push_back(now);
            return Decision::Allowed;
        }
        let oldest = times.front().copied().unwrap_or(now);
        Decision::Limited {
            retry_after: Duration::from_millis((oldest + window).saturating_sub(now).max(1)),
        }
    }
}

/// Counters in Redis, shared by every replica. One `EVALSHA` per request; the script reads
/// Redis's own clock so replicas with skewed clocks agree.
pub struct RedisLimiter {
    redis: Redis,
    script: redis::Script,
}

const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local sliding = ARGV[3] == 'sliding'
if ARGV[3] == 'exact' then
  local log = KEYS[1] .. ':log'
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  if redis.call('ZCARD', log) < limit then
    local seq = redis.call('INCR', KEYS[1] .. ':seq')
    redis.call('ZADD', log, now, now .. ':' .. seq)
    redis.call('PEXPIRE', log, window + 1000)
    redis.call('PEXPIRE', KEYS[1] .. ':seq', window + 1000)
    return {1, 0}
  end
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + window - now)}
end
local start = now - (now % window)
local cur_key = KEYS[1] .. ':' .. start
local prev_key = KEYS[1] .. ':' .. (start - window)
local current = tonumber(redis.call('GET', cur_key) or '0')
local previous = 0
if sliding then previous = tonumber(redis.call('GET', prev_key) or '0') end
local elapsed = now - start
local until_next = window - elapsed
local allowed
local retry = until_next
if sliding then
  local estimate = previous * ((window - elapsed) / window) + current
  if estimate + 1 <= limit then
    allowed = true
  elseif current >= limit then
    allowed = false
    retry = until_next + math.ceil((1 - (limit - 1) / current) * window)
  elseif previous == 0 then
    allowed = false
  else
    allowed = false
    local needed = estimate + 1 - limit
    retry = math.min(until_next, math.max(1, math.ceil(needed / previous * window)))
  end
else
  allowed = current < limit
end
if allowed then
  redis.call('INCR', cur_key)
  redis.call('PEXPIRE', cur_key, window * 2 + 1000)
  return {1, 0}
end
return {0, retry}
"#;

impl RedisLimiter {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            script: redis::Script::new(SCRIPT),
        }
    }
}

#[async_trait]
impl RateLimitStore for RedisLimiter {
    async fn check(
        &self,
        key: &str,
        limit: u64,
        interval: Duration,
        technique: RateLimitTechnique,
    ) -> Result<Decision, KvError> {
        let window = (interval.as_millis() as u64).max(1);
        let mut inv = self.script.key(format!("switchyard:rl:{key}"));
        let mode = if exact(limit, technique) {
            "exact"
        } else {
            technique.as_str()
        };
        inv.arg(window).arg(limit).arg(mode);
        let inv = &inv;
        let (allowed, retry): (i64, i64) = self
            .redis
            .run("rate limit script", |mut conn| async move {
                inv.invoke_async(&mut conn).await
            })
            .await?;
        Ok(if allowed == 1 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: Duration::from_millis(retry.max(1) as u64),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_windows_admit_the_limit_then_refuse_until_the_next_window() {
        let m = MemoryLimiter::default();
        let w = Duration::from_secs(10);
        let t0 = 1_000_000_000;
        for _ in 0..3 {
            assert_eq!(
                m.check_at(t0 + 1_000, "k", 3, w, RateLimitTechnique::Fixed),
                Decision::Allowed
            );
        }
        assert_eq!(
            m.check_at(t0 + 4_000, "k", 3, w, RateLimitTechnique::Fixed),
            Decision::Limited {
                retry_after: Duration::from_secs(6)
            }
        );
        assert_eq!(
            m.check_at(t0 + 10_000, "k", 3, w, RateLimitTechnique::Fixed),
            Decision::Allowed
        );
        assert_eq!(
            m.check_at(t0 + 1_000, "other", 3, w, RateLimitTechnique::Fixed),
            Decision::Allowed
        );
    }

    #[test]
    fn a_sliding_limit_of_one_admits_one_per_interval() {
        let m = MemoryLimiter::default();
        let w = Duration::from_secs(60);
        let t0: u64 = 1_000_000_000 - 1_000_000_000 % 60_000;
        let at = |ms: u64| m.check_at(t0 + ms, "one", 1, w, RateLimitTechnique::Sliding);
        assert_eq!(at(59_000), Decision::Allowed);
        // 2 s later, in the next fixed window, the request is still within the interval.
        assert_eq!(
            at(61_000),
            Decision::Limited {
                retry_after: Duration::from_secs(58)
            }
        );
        assert!(matches!(at(118_999), Decision::Limited { .. }));
        // A whole interval after it, it has left the interval.
        assert_eq!(at(119_000), Decision::Allowed);
    }

    #[test]
    fn a_full_sliding_window_says_when_its_oldest_request_leaves() {
        let m = MemoryLimiter::default();
        let w = Duration::from_secs(10);
        let t0 = 1_000_000_000;
        let at = |ms: u64| m.check_at(t0 + ms, "full", 2, w, RateLimitTechnique::Sliding);
        assert_eq!(at(1_000), Decision::Allowed);
        assert_eq!(at(2_000), Decision::Allowed);
        assert_eq!(
            at(8_000),
            Decision::Limited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(matches!(at(10_999), Decision::Limited { .. }));
        assert_eq!(at(11_000), Decision::Allowed);
        // The one at 2 s is still in: full again until 12 s.
        assert_eq!(
            at(11_500),
            Decision::Limited {
                retry_after: Duration::from_millis(500)
            }
        );
    }

    #[test]
    fn a_sliding_limit_holds_in_every_interval() {
        let m = MemoryLimiter::default();
        let w = Duration::from_secs(10);
        let t0 = 1_000_000_000;
        // Three at the end of one fixed window: none of the next 10 s admits another.
        for _ in 0..3 {
            assert_eq!(
                m.check_at(t0 + 9_000, "k", 3, w, RateLimitTechnique::Sliding),
                Decision::Allowed
            );
        }
        for ms in [10_500, 14_000, 17_000, 18_999] {
            assert!(
                matches!(
                    m.check_at(t0 + ms, "k", 3, w, RateLimitTechnique::Sliding),
                    Decision::Limited { .. }
                ),
                "{ms}"
            );
        }
        // A steady stream, one request every 700 ms for two minutes: every 10 s span holds
        // at most the limit, and the limit is reached.
        let mut admitted = Vec::new();
        for i in 0..172u64 {
            let now = t0 + 20_000 + i * 700;
            if m.check_at(now, "steady", 5, w, RateLimitTechnique::Sliding) == Decision::Allowed {
                admitted.push(now);
            }
        }
        for (i, t) in admitted.iter().enumerate() {
            let within = admitted[..=i].iter().filter(|u| *u + 10_000 > *t).count();
            assert!(within <= 5, "{within} requests in the 10 s up to {t}");
        }
        assert!(admitted.len() >= 5 * 12, "{} admitted", admitted.len());
    }

    #[test]
    fn limits_above_the_exact_bound_are_estimated_from_two_windows() {
        let t0 = 1_000_000_000;
        let w = 10_000;
        let sliding = RateLimitTechnique::Sliding;
        // Full at 8 s: the window ends in 2 s, and then its 2 requests still count for more
        // than 1 until half of the next window has gone: 7 s in all.
        assert_eq!(decide(t0 + 8_000, w, 2, sliding, 2, 0), (false, 7_000));
        // 1 s into the next window 90% of the previous 4 still count: 3.6 + this one > 4, so
        // refused until 3.6 has faded to 3: 1.5 s.
        assert_eq!(decide(t0 + 11_000, w, 4, sliding, 0, 4), (false, 1_500));
        // 2.5 s in, 3.0 + 1 fits exactly; then 3.0 + 1 + 1 does not.
        assert!(decide(t0 + 12_500, w, 4, sliding, 0, 4).0);
        assert!(!decide(t0 + 12_500, w, 4, sliding, 1, 4).0);
        // Late in the window the old share has faded: 0.2 + 1 + 1 <= 4.
        assert!(decide(t0 + 19_500, w, 4, sliding, 1, 4).0);
        // And the memory limiter uses the estimate above the bound.
        let m = MemoryLimiter::default();
        let big = EXACT_SLIDING_LIMIT + 1;
        for _ in 0..big {
            assert_eq!(
                m.check_at(t0 + 9_000, "big", big, Duration::from_secs(10), sliding),
                Decision::Allowed
            );
        }
        assert!(m.logs.lock().is_ok_and(|l| l.is_empty()), "no times kept");
        assert!(matches!(
            m.check_at(t0 + 9_000, "big", big, Duration::from_secs(10), sliding),
            Decision::Limited { .. }
        ));
    }
}

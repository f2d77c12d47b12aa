//! Gateway rate limits: `limit` requests per `interval`, fixed or sliding window, counted in
//! memory (one process) or in Redis (all replicas together, one round trip per request).
//!
//! The sliding window is the usual two-window estimate: the previous window's count,
//! weighted by how much of it still overlaps the sliding interval, plus the current count.
//! A refused request is not counted.

use crate::kv::{KvError, Redis};
use async_trait::async_trait;
use std::collections::HashMap;
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
        inv.arg(window).arg(limit).arg(technique.as_str());
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
        // 2 s later, in the next window: the previous request still counts 59/60.
        assert!(matches!(at(61_000), Decision::Limited { .. }));
        assert!(matches!(at(118_000), Decision::Limited { .. }));
        // A whole interval after it, the window has moved past it.
        assert_eq!(at(120_000), Decision::Allowed);
    }

    #[test]
    fn a_full_sliding_window_says_when_the_next_one_admits_again() {
        let m = MemoryLimiter::default();
        let w = Duration::from_secs(10);
        let t0 = 1_000_000_000;
        let at = |ms: u64| m.check_at(t0 + ms, "full", 2, w, RateLimitTechnique::Sliding);
        assert_eq!(at(1_000), Decision::Allowed);
        assert_eq!(at(1_000), Decision::Allowed);
        // Full at 8 s: the window ends in 2 s, and then its 2 requests still count for more
        // than 1 until half of the next window has gone: 7 s in all.
        assert_eq!(
            at(8_000),
            Decision::Limited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert!(matches!(at(14_999), Decision::Limited { .. }));
        assert_eq!(at(15_000), Decision::Allowed);
    }

    #[test]
    fn sliding_windows_carry_the_previous_windows_weight() {
        let m = MemoryLimiter::default();
        let w = Duration::from_secs(10);
        let t0 = 1_000_000_000;
        for _ in 0..4 {
            assert_eq!(
                m.check_at(t0 + 9_000, "k", 4, w, RateLimitTechnique::Sliding),
                Decision::Allowed
            );
        }
        // 1 s into the next window 90% of the previous 4 still count: 3.6 + this one > 4, so
        // refused, for less than the rest of the window (until 3.6 has faded to 3: 1.5 s).
        match m.check_at(t0 + 11_000, "k", 4, w, RateLimitTechnique::Sliding) {
            Decision::Limited { retry_after } => {
                assert_eq!(retry_after, Duration::from_millis(1_500))
            }
            d => panic!("expected a refusal, got {d:?}"),
        }
        // 2.5 s in, 3.0 + 1 fits exactly; then 3.0 + 1 + 1 does not.
        assert_eq!(
            m.check_at(t0 + 12_500, "k", 4, w, RateLimitTechnique::Sliding),
            Decision::Allowed
        );
        assert!(matches!(
            m.check_at(t0 + 12_500, "k", 4, w, RateLimitTechnique::Sliding),
            Decision::Limited { .. }
        ));
        // Late in the window the old share has faded: 0.2 + 1 + 1 ≤ 4.
        assert_eq!(
            m.check_at(t0 + 19_500, "k", 4, w, RateLimitTechnique::Sliding),
            Decision::Allowed
        );
    }
}

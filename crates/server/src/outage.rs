//! Copies of what the store answered on the request path, and riding out a database outage
//! with them.
//!
//! Gateway tokens, stored provider keys and custom providers are read from the store and kept
//! as [`Copies`] for [`FRESH_FOR`] (so that changes made through other replicas arrive within
//! a second); gateway settings have their own cache (gateways.rs) under the same rule. When a
//! read finds the store unreachable, [`Outage::saw`] marks it down and starts one background
//! probe, which asks the store every [`PROBE_EVERY`] until it answers. While the store is
//! down, the copies held are used however old they are, without asking it: a gateway in use
//! goes on serving with the settings, tokens and keys it had when the outage began, its log
//! records waiting in the queue. Only what no copy is held of (a gateway or token not seen
//! before) still goes to the store, and gets 503 when it does not answer.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchyard_store::{Store, StoreError};

/// How long a copy is used before the store is asked again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// Copies held before old ones are let go (on the next insert).
const MAX_COPIES: usize = 10_000;
/// Copies younger than this are kept past [`MAX_COPIES`] while room can be made otherwise, so
/// that an outage finds the ones in use.
const KEEP_FOR: Duration = Duration::from_secs(300);

/// Answers the store gave, by key, each with the time it was read.
pub struct Copies<K, V> {
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

/// What [`Copies::lookup`] found.
pub enum Held<V> {
    /// A copy to use: younger than [`FRESH_FOR`], or any while the store is down.
    Use(V),
    /// Ask the store; `stale`, if any, is what to fall back on when it cannot be reached
    /// ([`Outage::fallback`]).
    Read { stale: Option<V> },
}

impl<K, V> Default for Copies<K, V> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Copies<K, V> {
    /// The copy of `key`'s answer and whether to use it; `store_down`: [`Outage::is_down`].
    pub fn lookup(&self, key: &K, store_down: bool) -> Held<V> {
        let held = self.entries.read().ok().and_then(|m| {
            m.get(key)
                .map(|(at, v)| (at.elapsed() < FRESH_FOR, v.clone()))
        });
        match held {
            Some((fresh, v)) if fresh || store_down => Held::Use(v),
            Some((_, v)) => Held::Read { stale: Some(v) },
            None => Held::Read { stale: None },
        }
    }

    /// Keeps what the store just answered for `key`. A full map first lets go of copies older
    /// than [`KEEP_FOR`], and only when that frees less than a quarter of it, of every copy
    /// past [`FRESH_FOR`]: each scan makes room for many inserts.
    pub fn put(&self, key: K, value: V) {
        self.put_at(key, value, Instant::now());
    }

    fn put_at(&self, key: K, value: V, now: Instant) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_COPIES && !map.contains_key(&key) {
                map.retain(|_, (at, _)| now.saturating_duration_since(*at) < KEEP_FOR);
                if map.len() > MAX_COPIES * 3 / 4 {
                    map.retain(|_, (at, _)| now.saturating_duration_since(*at) < FRESH_FOR);
                }
            }
            map.insert(key, (now, value));
        }
    }

    /// Forgets every copy (something changed through this process).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}

/// How often a store that stopped answering is asked again.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one probe waits for its answer.
pub const PING_WITHIN: Duration = Duration::from_secs(2);

/// Whether the store is known to be unreachable.
pub struct Outage {
    store: Store,
    down: Arc<AtomicBool>,
}

impl Outage {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a read found the store unreachable and no probe has got through since.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The answer to a store read that failed with `e`: the `stale` copy when the store could
    /// not be reached (and there is one), else the error. Notes the failure ([`Outage::saw`]).
    pub fn fallback<V>(&self, stale: Option<V>, e: StoreError) -> Result<V, StoreError> {
        self.saw(&e);
        match stale {
            Some(v) if e.is_unavailable() => Ok(v),
            _ => Err(e),
        }
    }

    /// Notes a failed read: when `e` says the store cannot be reached, marks it down and
    /// starts the probe (one at a time). Call it on the runtime.
    pub fn saw(&self, e: &StoreError) {
        if !e.is_unavailable() || self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            error = %e,
            "the database is not answering; gateways in use keep serving with the settings and \
             keys read before, and log records wait in the queue"
        );
        let (store, down) = (self.store.clone(), self.down.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                // Bounded: a database whose network went silent would hold a ping until TCP
                // gives up, and the stale copies with it.
                let answered = tokio::time::timeout(PING_WITHIN, store.ping()).await;
                if matches!(answered, Ok(Ok(()))) {
                    down.store(false, Ordering::Release);
                    tracing::info!("the database answers again");
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(h: Held<u32>) -> Option<u32> {
        match h {
            Held::Use(v) => Some(v),
            Held::Read { .. } => None,
        }
    }

    fn stale(h: Held<u32>) -> Option<u32> {
        match h {
            Held::Use(_) => None,
            Held::Read { stale } => stale,
        }
    }

    #[test]
    fn a_copy_is_used_while_fresh_and_any_copy_while_the_store_is_down() {
        let copies: Copies<&str, u32> = Copies::default();
        assert!(matches!(
            copies.lookup(&"k", false),
            Held::Read { stale: None }
        ));
        assert!(matches!(
            copies.lookup(&"k", true),
            Held::Read { stale: None }
        ));
        copies.put("k", 7);
        assert_eq!(used(copies.lookup(&"k", false)), Some(7));
        // Older than FRESH_FOR: the store is asked, with the copy to fall back on, unless it
        // is known to be down.
        if let Ok(mut m) = copies.entries.write() {
            if let Some(entry) = m.get_mut("k") {
                entry.0 -= FRESH_FOR * 2;
            }
        }
        assert_eq!(stale(copies.lookup(&"k", false)), Some(7));
        assert_eq!(used(copies.lookup(&"k", true)), Some(7));
        copies.clear();
        assert!(matches!(
            copies.lookup(&"k", true),
            Held::Read { stale: None }
        ));
    }

    #[test]
    fn a_full_map_lets_go_of_old_copies_before_recent_ones() {
        // Times are set ahead of a start, never behind now (an Instant cannot go before boot).
        let t0 = Instant::now();
        let now = t0 + KEEP_FOR + Duration::from_secs(60);
        let held = |c: &Copies<usize, u32>, k: usize| {
            c.entries
                .read()
                .map(|m| m.get(&k).map(|e| e.1))
                .ok()
                .flatten()
        };
        let len = |c: &Copies<usize, u32>| c.entries.read().map(|m| m.len()).unwrap_or(0);
        // Odd keys read more than KEEP_FOR before `now`, even ones a minute before it.
        let copies: Copies<usize, u32> = Copies::default();
        for i in 0..MAX_COPIES {
            let at = if i % 2 == 0 { t0 + KEEP_FOR } else { t0 };
            copies.put_at(i, 1, at);
        }
        // Refreshing a key already held makes no room.
        copies.put_at(0, 2, now);
        assert_eq!(len(&copies), MAX_COPIES);
        copies.put_at(MAX_COPIES, 1, now);
        assert_eq!(
            len(&copies),
            MAX_COPIES / 2 + 1,
            "only the copies past KEEP_FOR went"
        );
        assert_eq!((held(&copies, 0), held(&copies, 2)), (Some(2), Some(1)));
        assert_eq!(held(&copies, 1), None);

        // When too few are past KEEP_FOR, every copy past FRESH_FOR goes.
        let copies: Copies<usize, u32> = Copies::default();
        for i in 0..MAX_COPIES {
            copies.put_at(i, 1, t0 + KEEP_FOR);
        }
        copies.put_at(MAX_COPIES, 1, now);
        assert_eq!(len(&copies), 1);
    }

    #[test]
    fn a_failed_read_falls_back_only_when_the_store_is_unreachable() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let store = switchyard_store::open("sqlite::memory:")
                .await
                .expect("store");
            let outage = Outage::new(store);
            let corrupt = || StoreError::Corrupt("bad row".into());
            assert!(outage.fallback(Some(1), corrupt()).is_err());
            assert!(!outage.is_down());
            let gone = || StoreError::Database(sqlx::Error::PoolTimedOut);
            assert!(outage.fallback::<u32>(None, gone()).is_err());
            assert!(outage.is_down(), "an unreachable store is marked down");
            assert_eq!(outage.fallback(Some(2), gone()).ok(), Some(2));
            // The probe reaches the (working) store and ends the outage.
            tokio::time::sleep(PROBE_EVERY * 3).await;
            assert!(!outage.is_down());
        });
    }
}

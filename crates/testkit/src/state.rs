//! State shared by every connection of one fake: counters, recorded
//! requests, the script queue and the id generator.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;

use crate::config::FakeConfig;
use crate::record::{split_query, RecordedRequest};
use crate::script::Script;

pub(crate) struct Shared {
    pub(crate) config: FakeConfig,
    hits: AtomicUsize,
    disconnects: AtomicUsize,
    by_path: Mutex<HashMap<String, usize>>,
    requests: Mutex<Vec<RecordedRequest>>,
    scripts: Mutex<VecDeque<Script>>,
    id_seed: u64,
    id_counter: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: FakeConfig) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Self {
            config,
            hits: AtomicUsize::new(0),
            disconnects: AtomicUsize::new(0),
            by_path: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            scripts: Mutex::new(VecDeque::new()),
            // Truncation is fine: this only seeds ids.
            id_seed: now as u64 ^ u64::from(std::process::id()).rotate_left(32),
            id_counter: AtomicU64::new(0),
        }
    }

    /// Counts a provider request and, when recording, keeps a copy.
    pub(crate) fn record(&self, parts: &Parts, body: &Bytes) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let path = split_query(path_and_query).0;
        {
            let mut by_path = lock(&self.by_path);
            match by_path.get_mut(path) {
                Some(n) => *n += 1,
                None => {
                    by_path.insert(path.to_owned(), 1);
                }
            }
        }
        if self.config.record {
            let request = RecordedRequest {
                method: parts.method.clone(),
                path_and_query: path_and_query.to_owned(),
                version: parts.version,
                headers: parts.headers.clone(),
                body: body.clone(),
            };
            lock(&self.requests).push(request);
        }
    }

    pub(crate) fn count_disconnect(&self) {
        self.disconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn disconnects(&self) -> usize {
        self.disconnects.load(Ordering::Relaxed)
    }

    pub(crate) fn hits_for(&self, path: &str) -> usize {
        let path = split_query(path).0;
        lock(&self.by_path).get(path).copied().unwrap_or(0)
    }

    pub(crate) fn hits_by_path(&self) -> Vec<(String, usize)> {
        let mut all: Vec<_> = lock(&self.by_path)
            .iter()
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        all.sort();
        all
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn push_script(&self, script: Script) {
        lock(&self.scripts).push_back(script);
    }

    pub(crate) fn pop_script(&self) -> Option<Script> {
        lock(&self.scripts).pop_front()
    }

    pub(crate) fn queued_scripts(&self) -> usize {
        lock(&self.scripts).len()
    }

    pub(crate) fn reset(&self) {
        lock(&self.requests).clear();
        lock(&self.scripts).clear();
        lock(&self.by_path).clear();
        self.hits.store(0, Ordering::Relaxed);
        self.disconnects.store(0, Ordering::Relaxed);
    }

    /// 128 pseudo-random bits, unique per call within this fake.
    pub(crate) fn next_id(&self) -> u128 {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        let hi = splitmix64(self.id_seed ^ n.wrapping_mul(2));
        let lo = splitmix64(self.id_seed ^ n.wrapping_mul(2).wrapping_add(1));
        (u128::from(hi) << 64) | u128::from(lo)
    }

    /// A small counter, for ids that are numbers (tool call ids).
    pub(crate) fn next_serial(&self) -> u64 {
        self.id_counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data
/// that is still fine to read, so poisoning is ignored.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One step of the splitmix64 generator: a well-mixed function of `x`.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

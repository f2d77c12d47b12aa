//! Stage 9: the log pipeline. Finished exchanges go through a bounded queue to one writer
//! task that turns them into records (usage, cost) and writes them in batches.
//!
//! - The response path only does a non-blocking `try_send`. When the queue is full the
//!   record is dropped and counted (`switchyard_log_records_dropped_total`); the queue holds
//!   [`QUEUE_CAPACITY`] records, minutes of traffic at thousands of requests per second.
//! - The writer runs at a lower priority than the request threads ([`crate::sched`]), so a
//!   batch being written never holds up a request; it uses the time between requests. When
//!   requests leave no such time (sustained overload), records would pile up until dropped;
//!   instead, admission control ([`LogQueue::admit`], awaited before each gateway request)
//!   holds new requests while more than [`ADMIT_DEPTH`] records wait and the writer is
//!   healthy, each for at most [`ADMIT_MAX_WAIT`]. The writer releases them as it takes
//!   records in. While the database fails (the writer is retrying), while a write has been
//!   under way for longer than [`WRITE_STALL`] (a lock, a server that stopped answering), or
//!   once the writer thread has ended, nothing is held: serving goes on and the queue absorbs
//!   what it can.
//! - The writer sleeps until a record arrives, then lets records gather for [`BATCH_WINDOW`]
//!   (or until a full batch of [`BATCH_MAX`] is queued) and writes everything queued, in
//!   batches of up to [`BATCH_MAX`]. While it gathers it does not wait on the queue, so
//!   handing a record over costs the request no wake-up of another thread.
//! - A failed write is retried with backoff, keeping the batch; meanwhile new records wait
//!   in the queue (and are dropped, counted, only if it fills).
//! - Shutdown calls [`LogQueue::flush`], which returns once every record queued before it
//!   is written. When the database does not take them within the grace period,
//!   [`LogQueue::spill`] turns the writer from retrying to saving what is left to files that
//!   the next start writes ([`crate::spill`]), so an outage at shutdown loses nothing.
//! - The writer runs on its own thread (`switchyard-log`) with its own single-threaded
//!   runtime: building records and writing a batch never occupy the workers that serve
//!   requests. The one exception is a small answer to be cached (up to [`INLINE_READ`], not
//!   compressed): it is read, and its cache entry put, on the request's thread as it ends, so
//!   that the same request sent right after it is a hit ([`LogQueue::submit`]).

use crate::exchange::{Completed, Exchange, Outcome, ResponseHead};
use crate::metrics::Metrics;
use crate::relay::Capture;
use crate::spin::Spinner;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_core::price::{PriceTable, MAX_MODEL_NAME};
use switchyard_core::{ErrorKind, LogRecord, Usage};
use switchyard_providers::usage::{decode, extract_after, DecodedBody, Extracted, Unsupported};
use switchyard_store::cache::CacheStore;
use switchyard_store::logs::PendingLog;
use switchyard_store::Store;
use tokio::sync::{mpsc, oneshot, Notify};

pub const QUEUE_CAPACITY: usize = 65_536;
/// The most body bytes records waiting in the queue hold between them.
pub const PAYLOAD_BUDGET: usize = 256 * 1024 * 1024;
/// Queued records above which new requests wait for the writer (while it is healthy).
///
/// Several batches, so that holding requests is what sustained overload meets, not busy
/// moments: each time requests are held, every one of them is woken when the writer makes
/// room, and at 2 batches (20,000 requests a second gather more than that in one
/// [`BATCH_WINDOW`]) those wake-ups cost ~12 % of closed-loop throughput with logging on.
pub const ADMIT_DEPTH: usize = 8 * BATCH_MAX;
/// The longest one request waits for the writer before it goes ahead anyway.
pub const ADMIT_MAX_WAIT: Duration = Duration::from_secs(1);
/// A write to the database under way for this long is stalled (a lock, a server that stopped
/// answering), not short of CPU: while it lasts nobody is held, as while writes fail. (Held
/// requests leave the writer the whole core, and a batch then takes milliseconds.)
pub const WRITE_STALL: Duration = Duration::from_secs(2);
/// How often a held request looks whether the write under way has stalled.
const STALL_LOOK: Duration = Duration::from_millis(100);
pub const BATCH_MAX: usize = 512;
/// The most flush requests waiting in the queue at once.
pub const MAX_FLUSHES: usize = 64;
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Bodies are stored up to this size (SPEC: 10 MB each).
pub const BODY_CAP: usize = 10 * 1024 * 1024;

enum Msg {
    Done(Box<Completed>),
    /// Everything queued before it is to be written; the permit bounds how many wait in the
    /// queue ([`MAX_FLUSHES`]) and is given back when the writer takes it.
    Flush(oneshot::Sender<()>, tokio::sync::OwnedSemaphorePermit),
}

/// The sending side, cheap to clone; one per application.
#[derive(Clone)]
pub struct LogQueue {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    gate: Arc<Gate>,
    /// Where complete answers to be cached go, as they are handed over ([`Self::submit`]).
    cache: Arc<dyn CacheStore>,
    metrics: Arc<Metrics>,
}

/// Admission control shared by the queue's senders and the writer.
pub struct Gate {
    /// Whether the last write succeeded; requests are held only while it did.
    unhealthy: AtomicBool,
    /// When the write under way began, in milliseconds after `epoch` plus one; 0 when none is.
    writing_since: AtomicU64,
    epoch: Instant,
    /// Wakes requests held in [`LogQueue::admit`] (the writer took records in, or failed).
    released: Notify,
    /// Wakes the writer early from its gathering window: requests are being held, or an
    /// answer is to be cached.
    pressure: Notify,
    /// Set at shutdown when the store would not take the queue in time: the writer stops
    /// retrying and saves batches to spill files instead.
    spilling: tokio::sync::watch::Sender<bool>,
    /// Set when the grace period is over and the requests still open are being cut.
    cut: AtomicBool,
    /// Body bytes held by records in the queue ([`PAYLOAD_BUDGET`]).
    held: AtomicUsize,
    /// Records whose bodies were let go to stay within it.
    shed: AtomicU64,
    /// Permits for flush requests in the queue ([`MAX_FLUSHES`]).
    flushes: Arc<tokio::sync::Semaphore>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            unhealthy: AtomicBool::new(false),
            writing_since: AtomicU64::new(0),
            epoch: Instant::now(),
            released: Notify::new(),
            pressure: Notify::new(),
            spilling: tokio::sync::watch::Sender::new(false),
            cut: AtomicBool::new(false),
            held: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            flushes: Arc::new(tokio::sync::Semaphore::new(MAX_FLUSHES)),
        }
    }
}

impl Gate {
    /// Whether a request should wait, given the queue's depth.
    fn holds(&self, depth: usize) -> bool {
        depth > ADMIT_DEPTH && !self.unhealthy.load(Ordering::Relaxed) && !self.stalled()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Marks a write to the database as begun (`true`) or ended.
    fn writing(&self, under_way: bool) {
        let since = if under_way { self.now_ms() + 1 } else { 0 };
        self.writing_since.store(since, Ordering::Relaxed);
    }

    /// Whether the write under way has taken longer than [`WRITE_STALL`].
    fn stalled(&self) -> bool {
        match self.writing_since.load(Ordering::Relaxed) {
            0 => false,
            since => self.now_ms().saturating_sub(since - 1) > WRITE_STALL.as_millis() as u64,
        }
    }

    /// Records the outcome of a write and lets held requests re-check.
    fn set_healthy(&self, healthy: bool) {
        let was_unhealthy = self.unhealthy.swap(!healthy, Ordering::Relaxed);
        if !healthy && !was_unhealthy {
            self.released.notify_waiters();
        }
    }
}

impl LogQueue {
    /// Hands a finished exchange to the writer without waiting; a full batch waiting cuts the
    /// writer's gathering window short.
    ///
    /// A complete answer to be cached, when small and not compressed, is read here, on the
    /// request's own thread, and its entry put at once ([`Self::cache_now`]): the relay hands
    /// the exchange over as the answer's last bytes go out, so that the same request sent
    /// right after it finds the entry. The reading travels with the record, and the writer
    /// does not read the answer again. A larger one wakes the writer, which puts it.
    ///
    /// Records in the queue hold at most [`PAYLOAD_BUDGET`] bytes of bodies between them: past
    /// it (the database is slow or gone, and large bodies keep coming) a record gives up its
    /// bodies and is stored without them, its usage read from what it keeps.
    pub fn submit(&self, mut done: Completed) {
        let mut cache_put = done.exchange.cache_put.is_some() && done.outcome == Outcome::Complete;
        if cache_put {
            self.cache_now(&mut done);
            cache_put = done.exchange.cache_put.is_some();
        }
        let mut size = done.held_bytes();
        if self.gate.held.load(Ordering::Relaxed) + size > PAYLOAD_BUDGET {
            done.shed_payload();
            size = done.held_bytes();
            let n = self.gate.shed.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(
                    records = n + 1,
                    "log queue holds too many body bytes; records stored without their bodies"
                );
            }
        }
        self.gate.held.fetch_add(size, Ordering::Relaxed);
        if let Err(e) = self.tx.try_send(Msg::Done(Box::new(done))) {
            if let Msg::Done(c) = e.into_inner() {
                self.gate.held.fetch_sub(c.held_bytes(), Ordering::Relaxed);
            }
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(dropped = n + 1, "log queue full; records dropped");
            }
        } else if cache_put || self.depth() >= BATCH_MAX {
            self.gate.pressure.notify_one();
        }
    }

    /// Reads a small, plain complete answer to be cached and puts its entry ([`put_entry`]:
    /// the memory store has it on return). A larger or compressed one, or one handed over
    /// outside a runtime, is left to the writer.
    fn cache_now(&self, done: &mut Completed) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        // A large or compressed answer would hold the request's thread (and its last bytes)
        // while it is decoded and copied: the writer reads it and puts its entry instead, a
        // moment later.
        let plain = done
            .exchange
            .response
            .as_ref()
            .is_some_and(|r| r.content_encoding.is_none());
        if !plain || done.capture.held_bytes() > INLINE_READ {
            return;
        }
        let Some((key, ttl)) = done.exchange.cache_put.take() else {
            return;
        };
        let reading = Reading::of(&done.exchange, &done.capture, done.outcome);
        let failed = reading.signs().failed(&done.exchange, done.outcome);
        let entry = done.exchange.response.as_ref().and_then(|r| {
            entry_to_cache(
                done.exchange.status,
                done.outcome,
                failed,
                r,
                &done.capture,
                &reading.decoded,
            )
        });
        done.reading = Some(Box::new(reading));
        if let Some(entry) = entry {
            put_entry(&self.cache, &self.metrics, key, entry, ttl);
        }
    }

    /// Waits while the writer is behind (more than [`ADMIT_DEPTH`] records queued) and
    /// healthy, at most [`ADMIT_MAX_WAIT`]. Costs one atomic read when it is not behind.
    pub async fn admit(&self) {
        if !self.gate.holds(self.depth()) {
            return;
        }
        let deadline = tokio::time::Instant::now() + ADMIT_MAX_WAIT;
        loop {
            let released = self.gate.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.gate.holds(self.depth()) {
                return;
            }
            self.gate.pressure.notify_one();
            // A write that stalls says nothing (it is stuck): look again now and then.
            let next_look = deadline.min(tokio::time::Instant::now() + STALL_LOOK);
            if tokio::time::timeout_at(next_look, released).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return;
            }
        }
    }

    /// Records waiting to be written.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the writer's last write succeeded (or none failed yet).
    pub fn healthy(&self) -> bool {
        !self.gate.unhealthy.load(Ordering::Relaxed)
    }

    /// Says that the requests still open from now on are ended by the gateway's shutdown,
    /// not by their clients.
    pub fn mark_cut(&self) {
        self.gate.cut.store(true, Ordering::Relaxed);
    }

    /// Whether the requests still open are being ended by the shutdown ([`Self::mark_cut`]).
    pub fn cut_by_shutdown(&self) -> bool {
        self.gate.cut.load(Ordering::Relaxed)
    }

    /// Returns once the writer has failed a write (at once if its last one failed).
    pub async fn until_failing(&self) {
        while self.healthy() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops retrying the store: the batch being retried and everything queued so far is
    /// saved to spill files ([`crate::spill`]) instead; returns once that is done.
    pub async fn spill(&self) {
        self.gate.spilling.send_replace(true);
        self.flush().await;
    }

    /// Waits until everything queued so far is written (cutting short a gathering window
    /// under way, without shortening a later one).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        // Flushes come from readers (lists, `/metrics` scrapes) who stop waiting after a while,
        // leaving theirs queued: while the database holds the writer up, at most MAX_FLUSHES
        // of them take room meant for records; further readers wait for a permit.
        let Ok(permit) = self.gate.flushes.clone().acquire_owned().await else {
            return;
        };
        if self.tx.send(Msg::Flush(ack, permit)).await.is_ok() {
            self.gate.pressure.notify_waiters();
            let _ = done.await;
        }
    }
}

/// Starts the writer on its own thread; it ends when every [`LogQueue`] clone is dropped.
/// `spill_to`: where [`LogQueue::spill`] saves what the store would not take (the
/// directory, and the database's tag for the files' names).
pub fn spawn(
    store: Store,
    prices: Arc<PriceTable>,
    metrics: Arc<Metrics>,
    cache: Arc<dyn CacheStore>,
    spinner: Arc<Spinner>,
    spill_to: (std::path::PathBuf, String),
) -> std::io::Result<(LogQueue, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Gate::default());
    let queue = LogQueue {
        tx,
        dropped: dropped.clone(),
        gate: gate.clone(),
        cache: cache.clone(),
        metrics: metrics.clone(),
    };
    let writer = Writer {
        store,
        prices,
        metrics,
        cache,
        dropped,
        gate,
        spinner,
        spill_to,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let on_exit = OpenOnExit(queue.gate.clone());
    let handle = std::thread::Builder::new()
        .name("switchyard-log".into())
        .spawn(move || {
            let _on_exit = on_exit;
            crate::sched::lower_current_thread();
            runtime.block_on(writer.run(rx))
        })?;
    Ok((queue, handle))
}

/// Opens the gate for good when the writer thread ends, however it ends (a panic included):
/// without a writer, held requests would each wait out [`ADMIT_MAX_WAIT`].
struct OpenOnExit(Arc<Gate>);

impl Drop for OpenOnExit {
    fn drop(&mut self) {
        self.0.set_healthy(false);
    }
}

/// What is read from an answer for its record and its cache entry: the body with its content
/// coding undone, and what it says of usage.
pub struct Reading {
    decoded: Result<Option<DecodedBody>, Unsupported>,
    /// `None` for a request refused before it was sent.
    extracted: Option<Extracted>,
}

impl Reading {
    pub fn of(exchange: &Exchange, capture: &Capture, outcome: Outcome) -> Self {
        let response = exchange.response.as_ref();
        let decoded = decode(
            response.and_then(|r| r.content_encoding.as_deref()),
            &capture.head,
        );
        let extracted = (!matches!(outcome, Outcome::Refused(_))).then(|| {
            let tail: Vec<Bytes> = capture.tail.iter().cloned().collect();
            extract_after(
                &decoded,
                exchange.provider.as_ref().map_or("", |p| p.slug.as_str()),
                response.and_then(|r| r.content_type.as_deref()),
                &capture.head,
                &tail,
            )
        });
        Self { decoded, extracted }
    }

    /// Bytes held by the decoded copy of a compressed answer.
    pub fn held_bytes(&self) -> usize {
        self.decoded
            .as_ref()
            .map_or(0, |d| d.as_ref().map_or(0, |d| d.body.len()))
    }

    /// What the answer's stream said of its own end (nothing, for one not read).
    fn signs(&self) -> StreamSigns {
        self.extracted
            .as_ref()
            .map(StreamSigns::of)
            .unwrap_or_default()
    }
}

/// The cache entry for an answer, if it may be stored: complete, not failed (a stream that
/// reported an error after its 200 is not an answer to replay), and storable
/// ([`crate::cache::entry`]).
fn entry_to_cache(
    status: u16,
    outcome: Outcome,
    failed: bool,
    response: &ResponseHead,
    capture: &Capture,
    decoded: &Result<Option<DecodedBody>, Unsupported>,
) -> Option<switchyard_store::cache::CachedResponse> {
    if outcome != Outcome::Complete || failed {
        return None;
    }
    crate::cache::entry(status, response.headers.as_ref()?, capture, decoded)
}

/// What a stream said of its own end.
#[derive(Default, Clone, Copy)]
struct StreamSigns {
    /// It reported an error after its successful status.
    reported_error: bool,
    /// It ended without the closing event its protocol promises.
    unclosed: bool,
}

impl StreamSigns {
    fn of(x: &Extracted) -> Self {
        Self {
            reported_error: x.stream_failed,
            unclosed: x.unclosed,
        }
    }

    /// Whether the answer failed although its status said otherwise: its stream reported an
    /// error (or the translator told the client of one), or, ending cleanly, it lacked the
    /// closing event its protocol promises (cut short). Neither is an answer to cache.
    fn failed(self, exchange: &Exchange, outcome: Outcome) -> bool {
        let cut_short = outcome == Outcome::Complete && self.unclosed && !exchange.translated;
        self.reported_error || exchange.stream_failed || cut_short
    }
}

/// Answers up to this size (as captured, not compressed) are read for the cache on the
/// request's own thread as they end ([`LogQueue::cache_now`]); larger ones by the writer.
pub const INLINE_READ: usize = 256 * 1024;

/// Puts a cache entry, best effort (a lost write only costs a later miss). The put is polled
/// once at once: the memory store takes the entry there and then, and Redis's command is
/// queued on its connection ahead of any lookup made after it; what is left of it (Redis's
/// reply) runs as a task. Must be called within a runtime.
fn put_entry(
    cache: &Arc<dyn CacheStore>,
    metrics: &Arc<Metrics>,
    key: String,
    entry: switchyard_store::cache::CachedResponse,
    ttl: Duration,
) {
    let cache = cache.clone();
    let metrics = metrics.clone();
    let mut put = Box::pin(async move {
        if let Err(e) = cache.put(&key, &entry, ttl).await {
            metrics.backend_error("cache_put");
            crate::cache::warn_backend("cache put", &e);
        }
    });
    let mut first = std::task::Context::from_waker(std::task::Waker::noop());
    if std::future::Future::poll(put.as_mut(), &mut first).is_pending() {
        tokio::spawn(put);
    }
}

/// An answer to store in the cache: key, entry, TTL.
type CachePut = (String, switchyard_store::cache::CachedResponse, Duration);

/// Holds a batch that waits on a failing database to [`PAYLOAD_BUDGET`] of bodies, as the
/// queue is held: the latest records past it are kept without their bodies.
fn shed_bodies(batch: &mut [PendingLog]) {
    let size = |r: &LogRecord| {
        r.request_body.as_ref().map_or(0, Bytes::len)
            + r.response_body.as_ref().map_or(0, Bytes::len)
    };
    let mut total: usize = batch.iter().map(|p| size(&p.record)).sum();
    for p in batch.iter_mut().rev() {
        if total <= PAYLOAD_BUDGET {
            break;
        }
        total -= size(&p.record);
        p.record.request_body = None;
        p.record.response_body = None;
    }
}

fn take(msg: Msg, gate: &Gate, done: &mut Vec<Completed>, acks: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        Msg::Flush(ack, _permit) => acks.push(ack),
        Msg::Done(c) => {
            gate.held.fetch_sub(c.held_bytes(), Ordering::Relaxed);
            done.push(*c);
        }
    }
}

struct Writer {
    store: Store,
    prices: Arc<PriceTable>,
    metrics: Arc<Metrics>,
    cache: Arc<dyn CacheStore>,
    /// The queue's drop counter: a record that could not be built counts as dropped.
    dropped: Arc<AtomicU64>,
    gate: Arc<Gate>,
    /// Told while a batch is under way, so that no worker busy-polls meanwhile.
    spinner: Arc<Spinner>,
    /// Spill directory and database tag ([`crate::spill`]).
    spill_to: (std::path::PathBuf, String),
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let mut done: Vec<Completed> = Vec::with_capacity(BATCH_MAX);
        // Idle: one wake-up for the first record.
        while let Some(first) = rx.recv().await {
            let mut acks = Vec::new();
            take(first, &self.gate, &mut done, &mut acks);
            // Gather: records pile up in the queue for the window. Nothing waits on the
            // channel meanwhile, so handing over a record wakes no thread. Requests held by
            // admission control cut the window short.
            if acks.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(BATCH_WINDOW) => {}
                    _ = self.gate.pressure.notified() => {}
                }
            }
            let batch_under_way = self.spinner.background();
            loop {
                while done.len() < BATCH_MAX {
                    match rx.try_recv() {
                        Ok(m) => take(m, &self.gate, &mut done, &mut acks),
                        Err(_) => break,
                    }
                }
                // Room was made: held requests may go on.
                self.gate.released.notify_waiters();
                let full = done.len() == BATCH_MAX;
                let mut batch = self.process(std::mem::take(&mut done));
                self.write(&mut batch).await;
                if !full {
                    break;
                }
            }
            drop(batch_under_way);
            crate::memory::maybe_trim();
            for ack in acks {
                let _ = ack.send(());
            }
        }
    }

    /// Usage, cost, records, metrics and log lines of a batch (on the writer's own thread).
    fn process(&self, done: Vec<Completed>) -> Vec<PendingLog> {
        let mut puts = Vec::new();
        let records: Vec<PendingLog> = done
            .into_iter()
            .filter_map(|c| {
                // A bug in building one record must not end the writer (and with it all
                // logging): that record is lost, counted, and the batch goes on.
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.record(c, &mut puts)
                }));
                built.unwrap_or_else(|_| {
                    tracing::error!("building a log record failed; the record is dropped");
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    None
                })
            })
            .collect();
        for (key, entry, ttl) in puts {
            put_entry(&self.cache, &self.metrics, key, entry, ttl);
        }
        records
    }

    /// Writes and empties `batch`, retrying until it succeeds, or, once the queue is told to
    /// spill, saving it to a spill file instead.
    async fn write(&self, batch: &mut Vec<PendingLog>) {
        if batch.is_empty() {
            return;
        }
        let mut spilling = self.gate.spilling.subscribe();
        let mut backoff = Duration::from_millis(100);
        loop {
            if *spilling.borrow_and_update() {
                self.save(batch);
                return;
            }
            let started = Instant::now();
            // A write that hangs on a database gone away is given up when told to spill (its
            // transaction is rolled back; a batch that did commit is skipped at replay).
            self.gate.writing(true);
            let written = tokio::select! {
                r = self.store.write_batch(batch) => r,
                _ = spilling.changed() => {
                    self.gate.writing(false);
                    continue;
                }
            };
            self.gate.writing(false);
            match written {
                Ok(outcome) => {
                    self.gate.set_healthy(true);
                    self.metrics
                        .log_batch(outcome.written, outcome.skipped, started.elapsed());
                    batch.clear();
                    return;
                }
                Err(e) if e.is_rejection() => {
                    // The database refuses something in the batch itself: retrying it whole
                    // would fail forever and hold up every later record. Each record is
                    // written alone; one refused alone is dropped (counted), the rest stored.
                    tracing::warn!(error = %e, records = batch.len(), "the database refused a batch of log records; writing them one by one");
                    self.write_one_by_one(batch).await;
                    if batch.is_empty() {
                        self.gate.set_healthy(true);
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    self.gate.set_healthy(false);
                    self.metrics.log_write_failed();
                    shed_bodies(batch);
                    tracing::error!(error = %e, records = batch.len(), retry_in_ms = backoff.as_millis() as u64, "writing log records failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = spilling.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Saves and empties `batch` into a spill file; a batch that cannot be saved is lost,
    /// and counted as dropped.
    fn save(&self, batch: &mut Vec<PendingLog>) {
        let (dir, tag) = &self.spill_to;
        match crate::spill::save(dir, tag, batch) {
            Ok(path) => tracing::warn!(
                records = batch.len(),
                file = %path.display(),
                "the database did not take these log records before exit; saved for the next start"
            ),
            Err(e) => {
                self.dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    error = %e,
                    records = batch.len(),
                    dir = %dir.display(),
                    "log records could not be written nor saved; they are lost"
                );
            }
        }
        batch.clear();
    }

    /// Writes `batch` record by record after the database refused it whole; leaves in it the
    /// records that failed for another reason than being refused (to be retried).
    async fn write_one_by_one(&self, batch: &mut Vec<PendingLog>) {
        let mut kept = Vec::new();
        for pending in batch.drain(..) {
            let started = Instant::now();
            match self.store.write_batch(std::slice::from_ref(&pending)).await {
                Ok(outcome) => {
                    self.metrics
                        .log_batch(outcome.written, outcome.skipped, started.elapsed());
                }
                Err(e) if e.is_rejection() => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    self.metrics.log_write_failed();
                    tracing::error!(error = %e, id = %pending.record.id, "the database refused a log record; it is dropped");
                }
                Err(_) => kept.push(pending),
            }
        }
        *batch = kept;
    }

    /// Usage, cost and the record of one exchange; `None` when nothing is to be stored (a
    /// request refused before its gateway was known).
    /// Answers to be cached are pushed onto `puts`.
    fn record(&self, done: Completed, puts: &mut Vec<CachePut>) -> Option<PendingLog> {
        let Completed {
            exchange,
            capture,
            outcome,
            duration,
            payload_shed,
            reading,
        } = done;
        let mut exchange = *exchange;
        // Read already when the answer was put in the cache as it ended.
        let reading = match reading {
            Some(r) => *r,
            None => Reading::of(&exchange, &capture, outcome),
        };
        let mut response = exchange.response.take().unwrap_or_default();
        let upstream = exchange.provider.clone();
        let provider = upstream.as_ref().map(|p| p.slug.clone());
        let content_type = response.content_type.take();
        let signs = reading.signs();
        let Reading { decoded, extracted } = reading;
        let (usage, answered_model, finished) = match extracted {
            None => (Usage::default(), None, false),
            Some(x) => {
                let mut usage = x.usage;
                // A bill in the answer is the cost only from a provider that sends its own.
                if !upstream.as_ref().is_some_and(|p| p.reports_cost) {
                    usage.cost_in_usd_ticks = None;
                }
                (usage, x.model, x.finished)
            }
        };
        // A client that closes its connection once it has read the stream's closing event
        // had the whole answer, even if the provider had not yet ended its body.
        let outcome = if outcome == Outcome::Cancelled && finished && !exchange.translated {
            Outcome::Complete
        } else {
            outcome
        };
        exchange.log_line(outcome, duration);
        // A stream the shutdown cut before its closing event failed (one whose client had
        // that event counts as complete above).
        let stream_failed =
            signs.failed(&exchange, outcome) || (exchange.cut && outcome == Outcome::Cancelled);
        if let Some((key, ttl)) = &exchange.cache_put {
            let stored = entry_to_cache(
                exchange.status,
                outcome,
                stream_failed,
                &response,
                &capture,
                &decoded,
            );
            if let Some(entry) = stored {
                puts.push((key.clone(), entry, *ttl));
            }
        }
        let Some(draft) = exchange.draft else {
            // Refused before a provider was called: counted under what was resolved by then.
            self.metrics.request(
                exchange
                    .gateway
                    .as_ref()
                    .map(|g| (g.account_id.as_str(), g.id.as_str())),
                exchange.provider.as_ref().map(|p| p.slug.as_str()),
                exchange.status,
                None,
            );
            return None;
        };
        let shared = draft.shared;
        let provider = provider.unwrap_or_default();
        let price_table = upstream.as_deref().map_or("", |p| p.prices.as_str());
        // Priced by the model the answer names, else by the one the request named (an answer
        // may name a snapshot the table does not know); logged under the answer's. The
        // config's entries under the provider's own slug come before the table it is priced
        // from (an Azure deployment priced apart from OpenAI's list price).
        let lookup = |m: &Option<String>| {
            m.as_deref()
                .and_then(|m| self.prices.lookup_with(&provider, price_table, m))
        };
        let answered_price = lookup(&answered_model);
        let (model, price) = if answered_price.is_some() {
            (answered_model, answered_price)
        } else {
            // Named in the body, else (Gemini) in the path.
            let requested = draft
                .requested_model
                .or_else(|| {
                    crate::shape::peek_model(
                        shared.request_content_type.as_deref(),
                        &draft.request_body,
                    )
                })
                .or_else(|| {
                    upstream
                        .as_deref()
                        .and_then(|p| crate::shape::path_model(p, &draft.path))
                });
            let price = lookup(&requested);
            (answered_model.or(requested), price)
        };
        // A model name comes from a body: text PostgreSQL cannot store (NUL) is replaced, and
        // a name longer than any model's is cut (it is a log column, an index key and a
        // metrics label).
        let model = model.map(|mut m| {
            if m.len() > MAX_MODEL_NAME {
                let mut end = MAX_MODEL_NAME;
                while !m.is_char_boundary(end) {
                    end -= 1;
                }
                m.truncate(end);
            }
            if m.contains('\0') {
                m.replace('\0', "\u{fffd}")
            } else {
                m
            }
        });
        let cached = exchange.cached;
        // A stream that reported an error after its 200 failed, whatever its status said.
        let success = (200..400).contains(&exchange.status)
            && outcome != Outcome::UpstreamError
            && !stream_failed;
        // A custom cost prices what the provider bills: an answer, or a failure that reported
        // usage (a stream cut after its counts). A failure without usage costs nothing.
        let custom_cost = shared
            .directives
            .custom_cost
            .as_ref()
            .filter(|_| success || usage.is_known());
        let cost = if cached {
            switchyard_core::cost::Cost {
                usd: 0.0,
                custom: false,
                source: switchyard_core::cost::CostSource::Unknown,
            }
        } else {
            switchyard_core::cost::request_cost(&usage, price, custom_cost)
        };
        self.metrics.request(
            Some((shared.account_id.as_str(), shared.gateway_id.as_str())),
            Some(provider.as_str()),
            exchange.status,
            // A cache hit, or a request the gateway refused (rate limit, key alias), never
            // reached the provider: no upstream timings.
            (!cached && reached_provider(outcome)).then_some((duration, exchange.ttft)),
        );
        self.metrics
            .usage(&provider, model.as_deref(), &usage, cost.usd, cached);
        // Not collected: no row, but the request still counts in analytics (a record with
        // nothing of the request's content, for the rollups only).
        let keep_row = shared.collect;
        let payload = keep_row && shared.directives.collect_payload && !payload_shed;
        // A copy when cut, so that the rest of a large decoded body is freed now rather than
        // when the batch is written.
        let cap = |b: Bytes| {
            if b.len() > BODY_CAP {
                Bytes::copy_from_slice(&b[..BODY_CAP])
            } else {
                b
            }
        };
        let record = LogRecord {
            id: exchange.log_id,
            account_id: shared.account_id.clone(),
            gateway_id: shared.gateway_id.clone(),
            created_at: switchyard_core::clock::format_rfc3339(exchange.arrived.into()),
            provider,
            model,
            path: draft.path,
            request_type: draft.request_type,
            status_code: exchange.status,
            success,
            cached,
            duration: duration.as_millis() as u64,
            ttft: exchange.ttft.map(|t| t.as_millis() as u64),
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
            cached_tokens_in: usage.cached_tokens_in,
            reasoning_tokens: usage.reasoning_tokens,
            cost: cost.usd,
            custom_cost: cost.custom,
            metadata: shared.directives.metadata.clone(),
            event_id: shared.directives.event_id.clone(),
            feedback: None,
            score: None,
            step: draft.step,
            request_content_type: shared.request_content_type.clone(),
            response_content_type: content_type,
            request_size: draft.request_body.len() as u64,
            response_size: capture.size,
            user_agent: shared.user_agent.clone(),
            cancelled: outcome == Outcome::Cancelled,
            request_headers: shared.request_headers_json.clone().filter(|_| keep_row),
            response_headers: response.json.filter(|_| keep_row),
            request_body: payload.then(|| cap(draft.request_body)),
            response_body: payload.then(|| match decoded {
                // Readable when decoding got anywhere; else the bytes as they came.
                Ok(Some(d)) if d.complete || !d.body.is_empty() => cap(d.body),
                _ => capture.whole(),
            }),
        };
        Some(PendingLog {
            record,
            cap: shared.cap,
            keep_row,
        })
    }
}

/// Whether an attempt was sent to the provider: answered, cut, or failed on the way (a
/// network error, a timeout, an unreadable answer), not refused by the gateway beforehand.
fn reached_provider(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Refused(kind) => matches!(
            kind,
            ErrorKind::UpstreamUnavailable
                | ErrorKind::UpstreamTimeout
                | ErrorKind::UpstreamMalformed
        ),
        _ => true,
    }
}

/// Request headers as JSON with every credential replaced by `REDACTED`; `host`, when given
/// (an HTTP/2 request's `:authority`, which is no header), first.
pub fn redacted_headers_json(h: &http::HeaderMap, host: Option<&str>) -> String {
    headers_to_json(h, host, crate::forward::is_credential)
}

/// Response headers as a JSON object of name → value (repeated names joined with ", "), with
/// the credentials that answers carry (`set-cookie`) replaced by `REDACTED`. Only the known
/// names: a response's `x-ratelimit-remaining-tokens` is no secret.
pub fn headers_json(h: &http::HeaderMap) -> String {
    headers_to_json(h, None, |name| {
        crate::forward::CREDENTIAL_HEADERS.contains(&name)
    })
}

/// Writes the JSON object straight into one buffer in one pass over the map: no intermediate
/// map, no per-value copies, no lookups by name (a name's values come one after another).
fn headers_to_json(h: &http::HeaderMap, host: Option<&str>, hide: fn(&str) -> bool) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(64 + h.len() * 48);
    out.push(b'{');
    if let Some(host) = host {
        out.extend_from_slice(b"\"host\":");
        push_json_str(&mut out, host);
    }
    let mut entries = h.iter().peekable();
    while let Some((name, value)) = entries.next() {
        if out.len() > 1 {
            out.push(b',');
        }
        push_json_str(&mut out, name.as_str());
        out.push(b':');
        let hidden = hide(name.as_str());
        out.push(b'"');
        if hidden {
            out.extend_from_slice(b"REDACTED");
        } else {
            push_json_text(&mut out, value.as_bytes());
        }
        while let Some((_, more)) = entries.next_if(|(next, _)| *next == name) {
            if !hidden {
                out.extend_from_slice(b", ");
                push_json_text(&mut out, more.as_bytes());
            }
        }
        out.push(b'"');
    }
    out.push(b'}');
    // Only JSON string literals and punctuation were written: always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_json_text(out, s.as_bytes());
    out.push(b'"');
}

/// Appends the inside of a JSON string literal holding `bytes` (read as UTF-8, invalid
/// sequences replaced).
fn push_json_text(out: &mut Vec<u8>, bytes: &[u8]) {
    // Header names and most values are printable ASCII with nothing to escape. Checked
    // without an early exit, so that the check runs over many bytes at a time.
    let escapes = bytes.iter().fold(0u8, |acc, &b| {
        acc | u8::from(b.wrapping_sub(0x20) >= 0x5f || b == b'"' || b == b'\\')
    });
    if escapes == 0 {
        out.extend_from_slice(bytes);
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    // Serialising a string cannot fail; its literal starts and ends with a quote.
    let literal = serde_json::to_string(text.as_ref()).unwrap_or_else(|_| "\"\"".into());
    out.extend_from_slice(&literal.as_bytes()[1..literal.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue with no writer, holding `n` messages.
    fn queue_holding(n: usize) -> (LogQueue, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        for _ in 0..n {
            let (ack, _) = oneshot::channel();
            let permit = Arc::new(tokio::sync::Semaphore::new(1))
                .try_acquire_owned()
                .expect("a permit");
            tx.try_send(Msg::Flush(ack, permit)).expect("room");
        }
        let queue = LogQueue {
            tx,
            dropped: Arc::default(),
            gate: Arc::default(),
            cache: Arc::new(switchyard_store::cache::MemoryCache::new(1 << 20)),
            metrics: Arc::new(Metrics::new()),
        };
        (queue, rx)
    }

    /// Readers who gave up waiting leave their flush requests queued: at most MAX_FLUSHES of
    /// them, however many readers come (a database holding the writer up, `/metrics` scraped
    /// over and over), so the queue keeps its room for records.
    #[tokio::test]
    async fn abandoned_flushes_take_at_most_their_share_of_the_queue() {
        let (queue, _rx) = queue_holding(0);
        for _ in 0..MAX_FLUSHES * 3 {
            let _ = tokio::time::timeout(Duration::from_millis(1), queue.flush()).await;
        }
        assert_eq!(queue.depth(), MAX_FLUSHES);
    }

    /// A request waiting for admission, as a task.
    fn hold(queue: &LogQueue) -> tokio::task::JoinHandle<()> {
        let queue = queue.clone();
        tokio::spawn(async move { queue.admit().await })
    }

    async fn admitted_within(queue: &LogQueue, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), queue.admit())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_full_batch_waiting_wakes_the_writer_early() {
        let (queue, _rx) = queue_holding(BATCH_MAX - 2);
        let done = || {
            let exchange = Box::new(crate::exchange::Exchange::new(http::Method::POST, "/x"));
            Completed::new(exchange, Default::default(), Outcome::Complete)
        };
        let woken = |queue: &LogQueue| {
            let gate = queue.gate.clone();
            async move {
                tokio::time::timeout(Duration::from_millis(50), gate.pressure.notified())
                    .await
                    .is_ok()
            }
        };
        queue.submit(done());
        assert!(
            !woken(&queue).await,
            "one short of a batch: the window runs on"
        );
        queue.submit(done());
        assert!(
            woken(&queue).await,
            "a full batch is written without waiting"
        );
    }

    #[test]
    fn a_batch_held_by_a_failing_database_keeps_bodies_within_the_budget() {
        let body = Bytes::from(vec![b'x'; 10 * 1024 * 1024]);
        let mut batch: Vec<PendingLog> = (0..40)
            .map(|i| {
                let mut p = crate::spill::tests::pending(&format!("id-{i}"));
                p.record.request_body = Some(body.clone());
                p.record.response_body = Some(body.clone());
                p
            })
            .collect();
        shed_bodies(&mut batch);
        let kept = batch
            .iter()
            .filter(|p| p.record.request_body.is_some())
            .count();
        assert_eq!(kept, PAYLOAD_BUDGET / (2 * body.len()));
        assert!(
            batch[0].record.response_body.is_some(),
            "the oldest keep theirs"
        );
        assert_eq!(batch.len(), 40, "no record is lost");
    }

    /// Records waiting in the queue hold at most PAYLOAD_BUDGET of bodies: past it, a record
    /// keeps only the start and end of its answer (usage) and is stored without bodies.
    #[tokio::test]
    async fn a_queue_past_its_body_budget_sheds_bodies_not_records() {
        let (queue, mut rx) = queue_holding(0);
        let big = Bytes::from(vec![b'a'; 40 * 1024 * 1024]);
        let done = || {
            let exchange = Box::new(crate::exchange::Exchange::new(http::Method::POST, "/x"));
            let mut capture = crate::relay::Capture::default();
            capture.push(&big);
            Completed::new(exchange, capture, Outcome::Complete)
        };
        let fits = PAYLOAD_BUDGET / big.len();
        for _ in 0..fits + 3 {
            queue.submit(done());
        }
        assert!(queue.gate.held.load(Ordering::Relaxed) <= PAYLOAD_BUDGET);
        let mut shed = Vec::new();
        while let Ok(Msg::Done(c)) = rx.try_recv() {
            shed.push(c.payload_shed);
            assert!(c.payload_shed || c.held_bytes() == big.len());
            assert!(!c.payload_shed || c.held_bytes() <= 128 * 1024);
        }
        assert_eq!(shed.len(), fits + 3, "every record is kept");
        assert_eq!(shed.iter().filter(|s| **s).count(), 3);
        assert_eq!(queue.gate.shed.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn requests_pass_while_the_writer_keeps_up() {
        let (queue, _rx) = queue_holding(ADMIT_DEPTH);
        assert!(admitted_within(&queue, 50).await);
    }

    #[tokio::test]
    async fn requests_wait_while_the_writer_is_behind_until_it_takes_records_in() {
        let (queue, mut rx) = queue_holding(ADMIT_DEPTH + 11);
        let held = hold(&queue);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!held.is_finished(), "held while the queue is deep");
        // The writer would be woken early from its gathering window.
        tokio::time::timeout(Duration::from_secs(1), queue.gate.pressure.notified())
            .await
            .expect("the writer is told that requests wait");
        for _ in 0..10 {
            rx.try_recv().expect("message");
        }
        queue.gate.released.notify_waiters();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished(), "still one over the depth");
        rx.try_recv().expect("message");
        queue.gate.released.notify_waiters();
        tokio::time::timeout(Duration::from_secs(1), held)
            .await
            .expect("released")
            .expect("task");
    }

    #[tokio::test]
    async fn a_failing_writer_holds_nobody() {
        let (queue, _rx) = queue_holding(ADMIT_DEPTH + 1);
        let held = hold(&queue);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished());
        queue.gate.set_healthy(false);
        tokio::time::timeout(Duration::from_secs(1), held)
            .await
            .expect("released when the write failed")
            .expect("task");
        assert!(
            admitted_within(&queue, 50).await,
            "not held while unhealthy"
        );
        queue.gate.set_healthy(true);
        assert!(
            !admitted_within(&queue, 50).await,
            "held again once writes succeed"
        );
    }

    #[tokio::test]
    async fn a_stalled_write_holds_nobody() {
        let (queue, _rx) = queue_holding(ADMIT_DEPTH + 1);
        // A write that has just begun: requests wait for it.
        queue.gate.writing(true);
        assert!(
            !admitted_within(&queue, 50).await,
            "held while a write is under way"
        );
        // One under way for longer than WRITE_STALL is stuck on the database: nobody is
        // held until it ends.
        tokio::time::sleep(WRITE_STALL + Duration::from_millis(100)).await;
        assert!(admitted_within(&queue, 50).await, "not held while stalled");
        queue.gate.writing(false);
        assert!(
            !admitted_within(&queue, 50).await,
            "held again once the write is over"
        );
    }

    #[tokio::test]
    async fn a_writer_that_ends_holds_nobody() {
        let (queue, _rx) = queue_holding(ADMIT_DEPTH + 1);
        let held = hold(&queue);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished());
        let gate = queue.gate.clone();
        std::thread::spawn(move || {
            let _on_exit = OpenOnExit(gate);
            panic!("the writer dies");
        })
        .join()
        .expect_err("panicked");
        tokio::time::timeout(Duration::from_secs(1), held)
            .await
            .expect("released when the writer ended")
            .expect("task");
        assert!(admitted_within(&queue, 50).await);
    }

    #[tokio::test]
    async fn nobody_waits_longer_than_the_limit() {
        let (queue, _rx) = queue_holding(ADMIT_DEPTH + 1);
        let started = std::time::Instant::now();
        tokio::time::timeout(ADMIT_MAX_WAIT * 3, queue.admit())
            .await
            .expect("gave up waiting");
        let waited = started.elapsed();
        assert!(waited >= ADMIT_MAX_WAIT, "{waited:?}");
    }

    #[test]
    fn credentials_never_reach_the_stored_headers() {
        let mut h = http::HeaderMap::new();
        let others = [
            "x-amz-security-token",
            "ocp-apim-subscription-key",
            "x-auth-token",
            "x-custom-secret",
            "apikey",
        ];
        for name in crate::forward::CREDENTIAL_HEADERS.into_iter().chain(others) {
            h.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static("Bearer very-secret"),
            );
        }
        h.append(
            "cookie",
            http::HeaderValue::from_static("second=very-secret"),
        );
        h.insert("x-trace", http::HeaderValue::from_static("abc"));
        h.insert("idempotency-key", http::HeaderValue::from_static("k-1"));
        h.insert("x-stainless-os", http::HeaderValue::from_static("Linux"));
        let json = redacted_headers_json(&h, None);
        assert_eq!(json.matches("\"cookie\"").count(), 1, "{json}");
        assert!(!json.contains("very-secret"), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(v["authorization"], "REDACTED");
        assert_eq!(v["cookie"], "REDACTED");
        assert_eq!(v["x-trace"], "abc");
        assert_eq!(v["idempotency-key"], "k-1");
        assert_eq!(v["x-stainless-os"], "Linux");
    }

    #[test]
    fn headers_become_one_json_object() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        h.append("x-multi", http::HeaderValue::from_static("a"));
        h.append("x-multi", http::HeaderValue::from_static("b \"quoted\""));
        h.insert(
            "x-bytes",
            http::HeaderValue::from_bytes(b"caf\xe9").expect("opaque"),
        );
        h.insert("x-esc", http::HeaderValue::from_static("a\\b\tc \"d\""));
        h.insert(
            "x-utf8",
            http::HeaderValue::from_bytes("café".as_bytes()).expect("opaque"),
        );
        h.insert("x-empty", http::HeaderValue::from_static(""));
        h.append("x-tail", http::HeaderValue::from_static("1"));
        h.append("x-tail", http::HeaderValue::from_static("2"));
        let v: serde_json::Value = serde_json::from_str(&headers_json(&h)).expect("JSON");
        assert_eq!(v["x-utf8"], "café");
        assert_eq!(v["x-empty"], "");
        assert_eq!(v["x-tail"], "1, 2");
        assert_eq!(v["content-type"], "application/json");
        assert_eq!(v["x-multi"], "a, b \"quoted\"");
        assert_eq!(v["x-bytes"], "caf\u{fffd}");
        assert_eq!(v["x-esc"], "a\\b\tc \"d\"");
        assert_eq!(v.as_object().map(|o| o.len()), Some(7));
        assert_eq!(headers_json(&http::HeaderMap::new()), "{}");
        let empty = http::HeaderMap::new();
        assert_eq!(
            redacted_headers_json(&empty, Some("a:1")),
            r#"{"host":"a:1"}"#
        );
        let mut one = http::HeaderMap::new();
        one.insert("x", http::HeaderValue::from_static("y"));
        assert_eq!(
            redacted_headers_json(&one, Some("a")),
            r#"{"host":"a","x":"y"}"#
        );
    }

    #[test]
    fn response_headers_hide_cookies_and_keep_rate_limit_counts() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "set-cookie",
            http::HeaderValue::from_static("__cf_bm=s3cret"),
        );
        h.insert(
            "x-ratelimit-remaining-tokens",
            http::HeaderValue::from_static("39000"),
        );
        let v: serde_json::Value = serde_json::from_str(&headers_json(&h)).expect("JSON");
        assert_eq!(v["set-cookie"], "REDACTED");
        assert_eq!(v["x-ratelimit-remaining-tokens"], "39000");
    }
}

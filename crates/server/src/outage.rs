//! Riding out a database outage on the request path.
//!
//! Gateway settings, gateway tokens, stored provider keys and custom providers are read from
//! the store and kept for about a second (so that changes made through other replicas arrive).
//! When such a read finds the store unreachable, [`Outage::saw`] marks it down and starts one
//! background probe, which asks the store every [`PROBE_EVERY`] until it answers. While the
//! store is down, those caches serve the copies they hold, however old, without asking it: a
//! gateway in use goes on serving with the settings, tokens and keys it had when the outage
//! began, its log records waiting in the queue. Only what no copy is held of (a gateway or
//! token not seen before) still goes to the store, and gets 503 when it does not answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchyard_store::{Store, StoreError};

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

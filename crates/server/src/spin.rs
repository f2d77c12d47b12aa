//! Busy-polling for a short window after activity (config `busy_poll_us`).
//!
//! A runtime worker with nothing to do parks in `epoll_wait`, and the next packet has to wake
//! it: on virtual machines, where an idle vCPU halts and is woken by the host, one such wake
//! costs tens of microseconds. A proxied request meets it twice (the client's request, then
//! the provider's answer) and a client sending back to back meets it again for its next
//! request. While a request has started or finished within the window, [`Spinner::run`]
//! keeps one task yielding, and a worker with a yielded task polls its sockets without
//! blocking instead of parking; after the window it parks like any other task until the
//! next request. The price is CPU: at most one window of polling per request start or end,
//! none while idle.
//!
//! While the log writer works on a batch ([`Spinner::background`]) nothing polls: a polling
//! worker never sleeps, so its next packet is no wake-up that would let it preempt the
//! lower-priority writer, and a request could wait out the writer's whole time slice (1-3 ms).
//! A parked worker is woken by the packet and runs at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Tracks the latest request activity and keeps a worker polling after it.
pub struct Spinner {
    epoch: Instant,
    window_ns: u64,
    /// Nanoseconds since `epoch` of the latest activity.
    last: AtomicU64,
    /// Whether the polling task is parked (and so needs a wake-up).
    parked: AtomicBool,
    /// Background work under way (see [`Spinner::background`]): no polling meanwhile.
    background: AtomicBool,

    wake: Notify,
}

impl Spinner {
    /// A spinner polling for `window` after each activity; a zero window never polls.
    pub fn new(window: Duration) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            // Start with the latest activity a whole window ago: no polling before a request.
            epoch: now.checked_sub(window).unwrap_or(now),
            window_ns: window.as_nanos().min(u64::MAX as u128) as u64,
            last: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            background: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Notes activity: a request arrived or an answer finished.
    #[inline]
    pub fn touch(&self) {
        if self.window_ns == 0 {
            return;
        }
        self.last.store(self.now_ns(), Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// Marks lower-priority work (a log batch) as under way until the returned guard is
    /// dropped (also when that work panics); meanwhile no worker polls, so every request's
    /// packet wakes a sleeping worker that preempts that work.
    pub fn background(&self) -> Background<'_> {
        self.background.store(true, Ordering::SeqCst);
        Background(self)
    }

    /// Whether to poll now: activity within the window and no background work.
    fn recent(&self) -> bool {
        if self.background.load(Ordering::SeqCst) {
            return false;
        }
        self.now_ns()
            .saturating_sub(self.last.load(Ordering::SeqCst))
            < self.window_ns
    }

    /// The polling task; runs until the runtime stops.
    pub async fn run(self: Arc<Self>) {
        if self.window_ns == 0 {
            return;
        }
        loop {
            if self.recent() {
                // A yielded task makes the worker poll its sockets with a zero timeout and
                // come straight back, instead of parking.
                tokio::task::yield_now().await;
                continue;
            }
            self.parked.store(true, Ordering::SeqCst);
            if !self.recent() {
                self.wake.notified().await;
            }
            self.parked.store(false, Ordering::SeqCst);
        }
    }
}

/// Background work under way on a [`Spinner`]; dropping it ends that.
pub struct Background<'a>(&'a Spinner);

impl Drop for Background<'_> {
    fn drop(&mut self) {
        self.0.background.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(s: &Spinner) -> bool {
        s.parked.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn polls_after_activity_and_parks_when_idle() {
        // A window long enough that a slow machine cannot outrun it between two checks.
        let s = Spinner::new(Duration::from_millis(300));
        let task = tokio::spawn(s.clone().run());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(parked(&s), "idle from the start: no polling");

        s.touch();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!parked(&s), "polling right after activity");

        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(parked(&s), "parked again once the window has passed");

        s.touch();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!parked(&s), "the next activity wakes it again");
        task.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_polling_during_background_work() {
        let s = Spinner::new(Duration::from_millis(300));
        let task = tokio::spawn(s.clone().run());
        let work = s.background();
        s.touch();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(parked(&s), "background work: parked despite activity");

        drop(work);
        s.touch();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!parked(&s), "polling again once the work is done");
        task.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_zero_window_never_polls() {
        let s = Spinner::new(Duration::ZERO);
        s.touch();
        // `run` returns at once instead of looping.
        tokio::time::timeout(Duration::from_secs(1), s.clone().run())
            .await
            .expect("run returns for a zero window");
    }
}

//! Handing freed memory back to the operating system.
//!
//! The allocator (mimalloc, set in `main.rs`) returns free pages to the system lazily, while
//! it allocates; a gateway that goes quiet after a burst (thousands of streams ending at
//! once) would keep its peak size. [`Trim::maybe`] runs mimalloc's collection for the
//! calling thread's heap, which also purges pages no thread uses any more, at most once per
//! [`INTERVAL`]. It is called when a runtime worker is about to sleep and after each log
//! batch: the moments a thread has just finished its work.
//!
//! [`no_huge_pages`] turns transparent huge pages off for the process (Linux): where the
//! kernel backs every large enough anonymous mapping with 2 MiB pages, the allocator's
//! partly used regions count whole, which cost ~10 MiB at idle and kept memory after bursts
//! from being returned page by page.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Least time between two collections on one thread.
pub const INTERVAL: Duration = Duration::from_secs(1);

thread_local! {
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Collects the calling thread's free memory if [`INTERVAL`] has passed since it last did.
pub fn maybe_trim() {
    let now = Instant::now();
    let due = LAST.with(|last| match last.get() {
        Some(t) if now.duration_since(t) < INTERVAL => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any
        // time; it only walks and releases the allocator's own free pages.
        unsafe { libmimalloc_sys::mi_collect(true) };
    }
}

/// Asks the kernel not to use transparent huge pages for this process (best effort; Linux).
pub fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "could not turn transparent huge pages off");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_at_most_once_per_interval() {
        maybe_trim();
        let first = LAST.with(Cell::get).expect("collected");
        maybe_trim();
        assert_eq!(
            LAST.with(Cell::get),
            Some(first),
            "a second call within the interval is skipped"
        );
    }
}

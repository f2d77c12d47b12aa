//! Reading usage from a hostile body costs memory in proportion to the body, not to a tree
//! of it: a small gzip answer that inflates to a list of millions of empty arrays (as a
//! provider, or anything posing as one, can send) is read element by element.
//!
//! The allocator of this test binary counts the bytes live at the peak; the file holds one
//! test so that no other test's allocations are counted.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchyard_providers::usage::extract;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only
// observe the sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_gzip_bomb_of_empty_lists_is_read_in_memory_proportional_to_its_size() {
    // A Gemini JSON-array stream whose usage comes last, padded with 4 million `[]`: 12 MB
    // once inflated, from about 12 KB of gzip. Built whole as a JSON tree it would take
    // 32 bytes an element on top of the text (over 128 MB).
    let padding = 4_000_000;
    let mut body = Vec::with_capacity(padding * 3 + 512);
    body.extend_from_slice(
        br#"[{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}]},"#,
    );
    for _ in 0..padding {
        body.extend_from_slice(b"[],");
    }
    body.extend_from_slice(
        br#"{"candidates":[{"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":9,"totalTokenCount":14},"modelVersion":"gemini-2.5-flash"}]"#,
    );
    let inflated = body.len();
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(&body).unwrap();
    let gz = Bytes::from(e.finish().unwrap());
    drop(body);
    assert!(gz.len() < 100_000, "{}", gz.len());

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = Instant::now();
    let got = extract(
        "google-ai-studio",
        Some("application/json"),
        Some("gzip"),
        &[gz],
        &[],
    );
    let elapsed = started.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;

    assert_eq!(got.usage.tokens_in, Some(5));
    assert_eq!(got.usage.tokens_out, Some(9));
    assert_eq!(got.model.as_deref(), Some("gemini-2.5-flash"));
    // The inflated body itself (up to three times its length while it grows and is
    // shrunk to fit), and next to nothing for reading it.
    assert!(
        peak < 4 * inflated,
        "peak {peak} bytes for a body of {inflated}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

//! Stage 8: relaying the provider's body to the client frame by frame, as it arrives.
//!
//! [`Relay`] wraps the upstream body without buffering it. Beside each frame it keeps a copy
//! for the log: the first [`HEAD_CAP`] bytes (a compressed body: [`COMPRESSED_HEAD_CAP`],
//! since only a body read from its start can be decoded) and a short tail, so that usage at
//! the end of a long stream is still found. (A copy, not a reference: a frame handed out by the HTTP
//! client can share a much larger read buffer, which must not stay pinned until the log
//! writer gets to it.) When the body ends,
//! fails, or is dropped because the client went away, it hands the exchange to the log
//! queue. Dropping it early drops the upstream body, which closes that upstream connection
//! and so cancels the provider's work.
//!
//! A translated stream ends for the client with the translator's last event: once that is
//! written, the provider's body is read only while it has frames ready; the rest of it (its
//! end, which usually follows at once) is read in the background for a short while, so that
//! the provider's connection is kept for the next call.
//!
//! A provider that goes quiet for longer than the idle limit (`upstream_timeout_ms`) between
//! two frames, or between its headers and its first frame, fails the body: the client's
//! connection is cut as when the provider dies mid-stream, the record says so, and the
//! upstream connection is closed. The timer is made only when the body first has to wait.

use crate::exchange::{Completed, Exchange, Outcome};
use crate::logpipe::LogQueue;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use switchyard_providers::translate::StreamTranslator;
use tokio::time::{Instant, Sleep};

/// Why a relayed body failed: the provider's connection, or its silence.
pub type RelayError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes of a response kept from its start (SPEC: bodies stored up to 10 MB).
pub const HEAD_CAP: usize = 10 * 1024 * 1024;
/// Bytes kept from the start of a compressed response: its tail alone cannot be decoded, so
/// a compressed answer is kept whole up to this size for its usage to be read from its end
/// (a large embeddings batch asked for with `Accept-Encoding: gzip`, as the SDKs ask).
pub const COMPRESSED_HEAD_CAP: usize = 32 * 1024 * 1024;
/// Bytes kept from the end of a response longer than its head cap.
pub const TAIL_CAP: usize = 64 * 1024;
/// Bytes kept from the start of a response whose capture is shed ([`Capture::shed`]).
const SHED_HEAD: usize = 64 * 1024;

/// Frames smaller than this are gathered into chunks of about [`GATHERED`] bytes before they
/// are kept: a body sent a few bytes a frame would otherwise cost an allocation (and its
/// bookkeeping, tens of bytes) per frame, many times the body's own size.
const SMALL_FRAME: usize = 4 * 1024;
const GATHERED: usize = 16 * 1024;

/// The frames seen so far, as copies. Read `head` and `tail` only after [`Capture::seal`]
/// ([`crate::exchange::Completed::new`] seals it).
#[derive(Default)]
pub struct Capture {
    pub head: Vec<Bytes>,
    head_bytes: usize,
    pub tail: VecDeque<Bytes>,
    tail_bytes: usize,
    pub size: u64,
    /// The body has a content coding: its head may grow to [`COMPRESSED_HEAD_CAP`].
    compressed: bool,
    /// Small frames gathered and not yet kept.
    gathering: Vec<u8>,
}

impl Capture {
    /// An empty capture for a body sent with a content coding (`true`) or without.
    pub fn for_coding(compressed: bool) -> Self {
        Self {
            compressed,
            ..Self::default()
        }
    }

    pub fn push(&mut self, data: &Bytes) {
        self.size += data.len() as u64;
        if data.len() < SMALL_FRAME {
            // A body of one small frame (most JSON answers) takes only its own size; a second
            // one makes room for a whole chunk.
            let len = self.gathering.len();
            if self.gathering.capacity() - len < data.len() {
                let room = if len == 0 {
                    data.len()
                } else {
                    GATHERED.max(len + data.len())
                };
                self.gathering.reserve_exact(room - len);
            }
            self.gathering.extend_from_slice(data);
            if self.gathering.len() >= GATHERED - SMALL_FRAME {
                self.seal();
            }
            return;
        }
        self.seal();
        self.keep(Bytes::copy_from_slice(data));
    }

    /// Keeps what small frames were gathered: the capture is then whole in `head` and `tail`.
    pub fn seal(&mut self) {
        if !self.gathering.is_empty() {
            // A last chunk far from full is not kept with its spare room (records may wait
            // in the log queue a while).
            if self.gathering.capacity() > 2 * self.gathering.len() {
                self.gathering.shrink_to_fit();
            }
            let gathered = Bytes::from(std::mem::take(&mut self.gathering));
            self.keep(gathered);
        }
    }

    /// Bytes held.
    pub fn held_bytes(&self) -> usize {
        self.head_bytes + self.tail_bytes + self.gathering.len()
    }

    /// Keeps only the first [`SHED_HEAD`] bytes and the last [`TAIL_CAP`] (where a stream's
    /// usage, or a JSON answer's, is): what a record waiting in a full log queue holds on to.
    /// Parts of chunks are copied, so that the rest of them is freed.
    pub fn shed(&mut self) {
        self.seal();
        if self.held_bytes() <= SHED_HEAD + TAIL_CAP {
            return;
        }
        let from_end = if self.tail.is_empty() {
            edge_bytes(self.head.iter(), TAIL_CAP, true)
        } else {
            edge_bytes(self.tail.iter(), TAIL_CAP, true)
        };
        let head: Vec<Bytes> = edge_bytes(self.head.iter(), SHED_HEAD, false).into();
        let kept = head.iter().map(Bytes::len).sum();
        self.head = head;
        self.head_bytes = kept;
        self.tail_bytes = from_end.iter().map(Bytes::len).sum();
        self.tail = from_end;
    }

    /// Keeps one chunk in the head while it has room, else in the bounded tail.
    fn keep(&mut self, data: Bytes) {
        let cap = if self.compressed {
            COMPRESSED_HEAD_CAP
        } else {
            HEAD_CAP
        };
        if self.tail.is_empty() && self.head_bytes + data.len() <= cap {
            self.head_bytes += data.len();
            self.head.push(data);
            return;
        }
        self.tail_bytes += data.len();
        self.tail.push_back(data);
        while self.tail_bytes > TAIL_CAP && self.tail.len() > 1 {
            if let Some(old) = self.tail.pop_front() {
                self.tail_bytes -= old.len();
            }
        }
    }

    /// One body from a list of frames.
    pub fn whole(&self) -> Bytes {
        match self.head.len() {
            0 => Bytes::new(),
            1 => self.head[0].clone(),
            _ => {
                let mut v = Vec::with_capacity(self.head_bytes);
                for b in &self.head {
                    v.extend_from_slice(b);
                }
                Bytes::from(v)
            }
        }
    }
}

/// Where the client's bytes come from.
enum Source {
    /// The provider's body, frame by frame.
    Live(Incoming),
    /// An answer already read and translated whole; its raw form is in the capture.
    Ready(Option<Bytes>),
}

/// How long the end of a translated stream's provider body is waited for, and how many more
/// bytes are read, before its connection is given up rather than kept ([`drain_for_reuse`]).
const DRAIN_FOR: Duration = Duration::from_secs(1);
const DRAIN_MAX: usize = 64 * 1024;

/// Reads what is left of a provider's body in the background, so that its connection goes
/// back to the pool for the next call instead of being closed with it: a translated stream
/// has ended for its client with the provider's last event, and the provider's own end of
/// body (the zero-length chunk) usually follows within milliseconds. A provider that sends
/// more than [`DRAIN_MAX`], or takes longer than [`DRAIN_FOR`], loses its connection. The task
/// is not tracked: it is bounded by [`DRAIN_FOR`], holds nothing of the client's, and a
/// shutdown that ends before it only closes that provider connection.
fn drain_for_reuse(mut rest: Incoming) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let drained = async {
            let mut left = DRAIN_MAX;
            while let Some(Ok(frame)) =
                std::future::poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx)).await
            {
                let n = frame.data_ref().map_or(0, Bytes::len);
                if n > left {
                    return;
                }
                left -= n;
            }
        };
        let _ = tokio::time::timeout(DRAIN_FOR, drained).await;
    });
}

/// The provider's body on its way to the client.
pub struct Relay {
    source: Source,
    /// Translates a stream event by event when the client's API differs from the provider's.
    translator: Option<StreamTranslator>,
    /// Translated frames not yet handed out.
    pending: VecDeque<Bytes>,
    /// The translator has written the client's last event: the client's stream ends as soon
    /// as the provider has nothing more ready (its body is then dropped, closing that
    /// connection), not when the provider gets round to closing its own.
    translated_all: bool,
    ended: bool,
    state: Option<(Box<Exchange>, Capture)>,
    queue: LogQueue,
    /// Longest wait for the provider's next frame.
    idle: Duration,
    /// Armed on the first wait, pushed back by each frame.
    quiet: Option<Pin<Box<Sleep>>>,
}

impl Relay {
    /// Relays the provider's body as it comes (translating each event when `translator` is set).
    /// `idle`: the longest the provider may stay silent between frames.
    pub fn new(
        inner: Incoming,
        mut exchange: Box<Exchange>,
        queue: LogQueue,
        translator: Option<StreamTranslator>,
        idle: Duration,
    ) -> Self {
        exchange.translated = translator.is_some();
        let compressed = exchange
            .response
            .as_ref()
            .is_some_and(|r| r.content_encoding.is_some());
        Self {
            source: Source::Live(inner),
            translator,
            pending: VecDeque::new(),
            translated_all: false,
            ended: false,
            state: Some((exchange, Capture::for_coding(compressed))),
            queue,
            idle,
            quiet: None,
        }
    }

    /// Sends `body` (already translated) while logging `capture` (the provider's raw answer).
    pub fn ready(body: Bytes, exchange: Box<Exchange>, capture: Capture, queue: LogQueue) -> Self {
        Self {
            source: Source::Ready(Some(body)),
            translator: None,
            pending: VecDeque::new(),
            translated_all: false,
            ended: false,
            state: Some((exchange, capture)),
            queue,
            idle: Duration::MAX,
            quiet: None,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some((exchange, capture)) = self.state.take() {
            self.queue
                .submit(Completed::new(exchange, capture, outcome));
        }
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = RelayError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        let this = &mut *self;
        loop {
            if let Some(b) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.ended {
                this.finish(Outcome::Complete);
                return Poll::Ready(None);
            }
            match &mut this.source {
                Source::Ready(body) => match body.take() {
                    Some(b) => {
                        if let Some((x, _)) = this.state.as_mut() {
                            x.first_byte();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(b))));
                    }
                    None => this.ended = true,
                },
                Source::Live(inner) => match Pin::new(&mut *inner).poll_frame(cx) {
                    Poll::Pending if this.translated_all => {
                        if let Source::Live(rest) =
                            std::mem::replace(&mut this.source, Source::Ready(None))
                        {
                            drain_for_reuse(rest);
                        }
                        this.ended = true;
                    }
                    Poll::Pending => {
                        let idle = this.idle;
                        if this.quiet.is_none() {
                            let Some(deadline) = Instant::now().checked_add(idle) else {
                                return Poll::Pending; // no limit
                            };
                            this.quiet = Some(Box::pin(tokio::time::sleep_until(deadline)));
                        }
                        let Some(quiet) = this.quiet.as_mut() else {
                            return Poll::Pending;
                        };
                        if quiet.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        this.finish(Outcome::UpstreamError);
                        this.ended = true;
                        this.source = Source::Ready(None);
                        return Poll::Ready(Some(Err(format!(
                            "the provider sent nothing for {} ms",
                            idle.as_millis()
                        )
                        .into())));
                    }
                    Poll::Ready(None) => {
                        if let Some(t) = this.translator.as_mut() {
                            this.pending.extend(t.finish());
                            // A translated stream that told its client of an error is not a
                            // complete answer (not successful, not cached).
                            if let (true, Some((x, _))) = (t.failed(), this.state.as_mut()) {
                                x.stream_failed = true;
                            }
                        }
                        this.ended = true;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.finish(Outcome::UpstreamError);
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        // The provider's body says it is whole (its length is reached).
                        let at_end = inner.is_end_stream();
                        if let Some(quiet) = this.quiet.as_mut() {
                            if let Some(deadline) = Instant::now().checked_add(this.idle) {
                                quiet.as_mut().reset(deadline);
                            }
                        }
                        let Some(data) = frame.data_ref() else {
                            if this.translator.is_some() {
                                continue; // trailers make no sense after translation
                            }
                            return Poll::Ready(Some(Ok(frame)));
                        };
                        if let Some((exchange, capture)) = this.state.as_mut() {
                            exchange.first_byte();
                            capture.push(data);
                        }
                        match this.translator.as_mut() {
                            Some(t) => {
                                this.pending.extend(t.feed(data));
                                if !this.translated_all && t.complete() {
                                    this.translated_all = true;
                                    if let (true, Some((x, _))) = (t.failed(), this.state.as_mut())
                                    {
                                        x.stream_failed = true;
                                    }
                                }
                            }
                            None => {
                                // Handed over before its last bytes go out, not once the
                                // client has them: the record, and the cache entry, are there
                                // for the client's next request.
                                if at_end {
                                    this.ended = true;
                                    this.finish(Outcome::Complete);
                                }
                                return Poll::Ready(Some(Ok(frame)));
                            }
                        }
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty()
            && (self.ended
                || self.translated_all
                || match &self.source {
                    Source::Ready(body) => body.is_none(),
                    Source::Live(inner) => self.translator.is_none() && inner.is_end_stream(),
                })
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.source, &self.translator) {
            (Source::Ready(Some(b)), _) => SizeHint::with_exact(b.len() as u64),
            (Source::Ready(None), _) => SizeHint::with_exact(0),
            (Source::Live(inner), None) => inner.size_hint(),
            (Source::Live(_), Some(_)) => SizeHint::default(),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Ended for its client (the server stops at `is_end_stream`) with the provider's body
        // still open: its end is read in the background.
        if self.translated_all && self.pending.is_empty() {
            if let Source::Live(rest) = std::mem::replace(&mut self.source, Source::Ready(None)) {
                drain_for_reuse(rest);
            }
        }
        if self.state.is_some() {
            let outcome = if self.is_end_stream() {
                Outcome::Complete
            } else {
                Outcome::Cancelled
            };
            // Cut by the gateway's own shutdown, not left by its client: the answer failed,
            // unless the client already had all of it (the log writer tells).
            if let (Outcome::Cancelled, true, Some((x, _))) =
                (outcome, self.queue.cut_by_shutdown(), self.state.as_mut())
            {
                x.cut = true;
            }
            self.finish(outcome);
        }
    }
}

/// The first `n` bytes of `chunks`, or with `from_end` the last, in order: whole chunks as
/// they are, and a copy of the part of the chunk where they stop (so that the rest of it can
/// be freed).
fn edge_bytes<'a>(
    chunks: impl DoubleEndedIterator<Item = &'a Bytes>,
    n: usize,
    from_end: bool,
) -> VecDeque<Bytes> {
    let chunks: Box<dyn Iterator<Item = &Bytes>> = if from_end {
        Box::new(chunks.rev())
    } else {
        Box::new(chunks)
    };
    let mut out = VecDeque::new();
    let mut kept = 0;
    for b in chunks {
        if kept == n {
            break;
        }
        let take = b.len().min(n - kept);
        let part = match (take == b.len(), from_end) {
            (true, _) => b.clone(),
            (false, true) => Bytes::copy_from_slice(&b[b.len() - take..]),
            (false, false) => Bytes::copy_from_slice(&b[..take]),
        };
        if from_end {
            out.push_front(part);
        } else {
            out.push_back(part);
        }
        kept += take;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shed capture keeps its first 64 KiB and last 64 KiB, as copies, with the gap between
    /// them that readers of a capture expect.
    #[test]
    fn a_shed_capture_keeps_its_start_and_its_end() {
        let mut c = Capture::default();
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        c.push(&Bytes::from(big.clone()));
        c.push(&Bytes::from_static(
            b"data: {\"usage\":{\"prompt_tokens\":3}}\n\n",
        ));
        c.shed();
        assert_eq!(c.held_bytes(), SHED_HEAD + TAIL_CAP);
        assert_eq!(&c.whole()[..], &big[..SHED_HEAD]);
        let tail: Vec<u8> = c.tail.iter().flat_map(|b| b.to_vec()).collect();
        assert!(tail.ends_with(b"\"prompt_tokens\":3}}\n\n"));
        assert_eq!(tail.len(), TAIL_CAP);
        assert!(
            c.head.iter().chain(&c.tail).all(|b| b.len() <= TAIL_CAP),
            "copies, not slices of the 5 MB chunk"
        );
        // A small capture is left as it is.
        let mut small = Capture::default();
        small.push(&Bytes::from(vec![b'x'; 100_000]));
        small.shed();
        assert_eq!(small.head_bytes, 100_000);
        assert!(small.tail.is_empty());
    }

    #[test]
    fn keeps_the_head_and_a_bounded_tail() {
        let mut c = Capture::default();
        let big = Bytes::from(vec![b'a'; HEAD_CAP - 10]);
        c.push(&big);
        c.push(&Bytes::from_static(b"0123456789"));
        c.seal();
        assert_eq!(c.head.len(), 2);
        assert!(c.tail.is_empty());
        for _ in 0..100 {
            c.push(&Bytes::from(vec![b'b'; 4096]));
        }
        c.push(&Bytes::from_static(b"data: {\"usage\":{}}\n\n"));
        c.seal();
        assert_eq!(c.head.len(), 2, "the head stops growing at the cap");
        assert!(c.tail_bytes <= TAIL_CAP + 4096);
        assert_eq!(
            c.tail.back().map(|b| &b[..]),
            Some(&b"data: {\"usage\":{}}\n\n"[..])
        );
        assert_eq!(c.size, (HEAD_CAP + 100 * 4096 + 20) as u64);
    }

    /// A body of one small frame is kept as one chunk of its own size.
    #[test]
    fn one_small_frame_is_kept_as_it_is() {
        let mut c = Capture::default();
        c.push(&Bytes::from_static(b"{\"usage\":{}}"));
        assert!(c.gathering.capacity() < 64);
        c.seal();
        assert_eq!(c.head, [Bytes::from_static(b"{\"usage\":{}}")]);
    }

    /// A body sent a byte a frame is kept in a few chunks, not one allocation per byte.
    #[test]
    fn small_frames_are_gathered_into_few_chunks() {
        let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut c = Capture::default();
        for b in &body {
            c.push(&Bytes::copy_from_slice(std::slice::from_ref(b)));
        }
        // A large frame between small ones keeps its place.
        c.push(&Bytes::from(vec![b'Z'; 8192]));
        c.push(&Bytes::from_static(b"end"));
        c.seal();
        assert!(c.head.len() <= 20, "{} chunks", c.head.len());
        assert!(c.head.iter().all(|b| b.len() >= 3));
        let mut expected = body;
        expected.extend_from_slice(&[b'Z'; 8192]);
        expected.extend_from_slice(b"end");
        assert_eq!(&c.whole()[..], &expected[..]);
        assert_eq!(c.size, expected.len() as u64);
    }
}

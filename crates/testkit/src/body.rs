//! The response body: either whole bytes, or frames produced lazily and
//! paced by the script (delays between chunks, an abort after N chunks),
//! counting a disconnect when the connection drops the body before its end.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use crate::state::Shared;

/// Role of a frame in a stream; pacing and `drop_after` depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// Opening events sent before any content (Anthropic `message_start`…).
    Preamble,
    /// One content chunk; counted by `drop_after`.
    Content,
    /// Closing events (finish chunk, usage, `[DONE]`, `message_stop`…).
    Tail,
}

/// Produces a stream's frames on demand, so big or long streams cost no
/// memory up front.
pub(crate) trait FrameSource: Send {
    fn next_frame(&mut self) -> Option<(FrameKind, Bytes)>;
}

/// Pieces prepared in advance, all counted as content.
pub(crate) struct Pieces(pub(crate) VecDeque<Bytes>);

impl FrameSource for Pieces {
    fn next_frame(&mut self) -> Option<(FrameKind, Bytes)> {
        self.0.pop_front().map(|b| (FrameKind::Content, b))
    }
}

/// The error a body yields to make hyper abort the connection.
#[derive(Debug, thiserror::Error)]
#[error("fake provider aborted the response as scripted (drop_after)")]
pub struct ScriptedAbort;

/// Response body of every fake answer.
pub struct FakeBody(Inner);

enum Inner {
    Full(Option<Bytes>),
    Paced(Box<Paced>),
}

/// Pacing rules applied to a frame source.
pub(crate) struct Pacing {
    /// Wait before each content frame after the first and before the first
    /// tail frame that follows content.
    pub(crate) gap: Duration,
    /// Abort once this many content frames were sent, before the next
    /// content or tail frame.
    pub(crate) drop_after: Option<usize>,
}

struct Paced {
    source: Box<dyn FrameSource>,
    pacing: Pacing,
    /// A frame taken from the source but not yet sent (waiting on `sleep`).
    pending: Option<(FrameKind, Bytes)>,
    sleep: Option<Pin<Box<Sleep>>>,
    content_sent: usize,
    last_kind: Option<FrameKind>,
    state: PacedState,
    shared: Arc<Shared>,
}

#[derive(PartialEq, Eq)]
enum PacedState {
    Running,
    /// About to abort; one `Pending` first lets hyper flush what was sent.
    Aborting,
    /// Ended (naturally or by the scripted abort); not a disconnect.
    Done,
}

impl FakeBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self(Inner::Full(Some(bytes.into())))
    }

    pub(crate) fn paced(source: Box<dyn FrameSource>, pacing: Pacing, shared: Arc<Shared>) -> Self {
        Self(Inner::Paced(Box::new(Paced {
            source,
            pacing,
            pending: None,
            sleep: None,
            content_sent: 0,
            last_kind: None,
            state: PacedState::Running,
            shared,
        })))
    }
}

impl http_body::Body for FakeBody {
    type Data = Bytes;
    type Error = ScriptedAbort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ScriptedAbort>>> {
        match &mut self.get_mut().0 {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Paced(paced) => paced.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Paced(paced) => paced.state == PacedState::Done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Paced(_) => SizeHint::default(),
        }
    }
}

impl Paced {
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ScriptedAbort>>> {
        loop {
            match self.state {
                PacedState::Done => return Poll::Ready(None),
                PacedState::Aborting => {
                    self.state = PacedState::Done;
                    return Poll::Ready(Some(Err(ScriptedAbort)));
                }
                PacedState::Running => {}
            }
            if let Some(sleep) = &mut self.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
                if let Some((kind, bytes)) = self.pending.take() {
                    return Poll::Ready(Some(Ok(self.emit(kind, bytes))));
                }
            }
            let Some((kind, bytes)) = self.source.next_frame() else {
                self.state = PacedState::Done;
                return Poll::Ready(None);
            };
            if kind != FrameKind::Preamble
                && self
                    .pacing
                    .drop_after
                    .is_some_and(|n| self.content_sent >= n)
            {
                // Give hyper one turn to flush what was already sent, so the
                // client sees exactly the chunks before the cut.
                self.state = PacedState::Aborting;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let wait = !self.pacing.gap.is_zero()
                && match kind {
                    FrameKind::Preamble => false,
                    FrameKind::Content => self.content_sent > 0,
                    FrameKind::Tail => self.last_kind == Some(FrameKind::Content),
                };
            if !wait {
                return Poll::Ready(Some(Ok(self.emit(kind, bytes))));
            }
            self.pending = Some((kind, bytes));
            self.sleep = Some(Box::pin(tokio::time::sleep(self.pacing.gap)));
        }
    }

    fn emit(&mut self, kind: FrameKind, bytes: Bytes) -> Frame<Bytes> {
        if kind == FrameKind::Content {
            self.content_sent += 1;
        }
        self.last_kind = Some(kind);
        Frame::data(bytes)
    }
}

impl Drop for Paced {
    fn drop(&mut self) {
        // hyper drops the body early only when the connection went away
        // (client closed it, or a write failed).
        if self.state != PacedState::Done {
            self.shared.count_disconnect();
        }
    }
}

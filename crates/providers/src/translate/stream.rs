//! The incremental stream translator: provider SSE bytes in, in chunks of any size, client SSE
//! bytes out, event by event; nothing is buffered beyond the event being parsed.
//!
//! Every translation goes through OpenAI chunk objects: a *source* turns provider events into
//! chunks (Anthropic `anthropic::StreamState`, Gemini `gemini::StreamState`, or the
//! provider's own chunks when it is OpenAI-shaped), and the output is either those chunks as
//! `data:` lines (OpenAI clients, closed by `data: [DONE]`) or Anthropic events built from them
//! (`messages::StreamState`). Errors inside a stream travel as `{"error":{...}}` objects and
//! come out as an OpenAI error chunk or an Anthropic `error` event.
//!
//! A provider body that is not an event stream at all (an error JSON answered with a `2xx`)
//! is recognised at the end from its first bytes (up to [`HEAD_BYTES`]) and becomes an error
//! event.

use super::error::{openai_error, ProviderError};
use super::{anthropic, gemini, messages, openai, Dialect, Reply};
use crate::sse::{SseEvent, SseParser};
use bytes::Bytes;
use serde_json::Value;

/// How many leading bytes are kept to read a non-stream error body.
pub const HEAD_BYTES: usize = 64 * 1024;

/// The error a stream that ends before its final event turns into.
pub(crate) fn truncated_error() -> Value {
    openai_error(
        502,
        "the provider's stream ended before its final event",
        None,
        None,
    )
}

#[derive(Debug)]
enum Source {
    Anthropic(anthropic::StreamState),
    Gemini(gemini::StreamState),
    /// An OpenAI-shaped provider: its chunks are already the common form.
    OpenAi,
}

impl Source {
    /// Provider event → chunk objects; `true` when the event was OpenAI's `[DONE]`.
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<Value>) -> bool {
        match self {
            Source::Anthropic(s) => s.event(ev, out),
            Source::Gemini(s) => s.event(ev, out),
            Source::OpenAi => {
                if ev.data.trim() == "[DONE]" {
                    return true;
                }
                if let Ok(v) = serde_json::from_str::<Value>(&ev.data) {
                    out.push(v);
                }
            }
        }
        false
    }

    fn finish(&mut self, out: &mut Vec<Value>) {
        match self {
            Source::Anthropic(s) => s.finish(out),
            Source::Gemini(s) => s.finish(out),
            Source::OpenAi => {}
        }
    }

    fn done(&self) -> bool {
        match self {
            Source::Anthropic(s) => s.done(),
            Source::Gemini(s) => s.done(),
            Source::OpenAi => false,
        }
    }
}

#[derive(Debug)]
enum Pipe {
    /// Same dialect on both sides: bytes are relayed untouched.
    Pass,
    ToOpenAi(Source),
    ToAnthropic(Source, Box<messages::StreamState>),
    Unsupported(Dialect, Dialect),
}

/// Translates one provider stream for one client; see the module documentation.
#[derive(Debug)]
pub struct StreamTranslator {
    client: Dialect,
    parser: SseParser,
    pipe: Pipe,
    head: Vec<u8>,
    seen_event: bool,
    done_written: bool,
    closed: bool,
    /// An error went to the client (the provider's, or the stream's early end).
    failed: bool,
}

impl StreamTranslator {
    /// `model`: the provider model name the request used (used until the provider names
    /// one). `include_usage`: [`super::Upstream::include_usage`] (OpenAI clients only).
    /// `reply`: [`super::Upstream::reply`].
    pub fn new(
        client: Dialect,
        provider: Dialect,
        model: &str,
        include_usage: bool,
        reply: Reply,
    ) -> Self {
        let created = openai::now();
        let pipe = match (client, provider) {
            (Dialect::OpenAi, Dialect::OpenAi) | (Dialect::Anthropic, Dialect::Anthropic) => {
                Pipe::Pass
            }
            (Dialect::OpenAi, Dialect::Anthropic) => Pipe::ToOpenAi(Source::Anthropic(
                anthropic::StreamState::new(model, created, include_usage),
            )),
            (Dialect::OpenAi, Dialect::Gemini) => Pipe::ToOpenAi(Source::Gemini(
                gemini::StreamState::new(model, created, include_usage, reply.candidates),
            )),
            (Dialect::Anthropic, Dialect::OpenAi) => Pipe::ToAnthropic(
                Source::OpenAi,
                Box::new(messages::StreamState::new(model, reply.thinking)),
            ),
            (Dialect::Anthropic, Dialect::Gemini) => Pipe::ToAnthropic(
                Source::Gemini(gemini::StreamState::new(model, created, true, 1)),
                Box::new(messages::StreamState::new(model, reply.thinking)),
            ),
            (c, p) => Pipe::Unsupported(c, p),
        };
        Self {
            client,
            parser: SseParser::new(),
            pipe,
            head: Vec::new(),
            seen_event: false,
            done_written: false,
            closed: false,
            failed: false,
        }
    }

    /// The next bytes of the provider's stream → client bytes ready to send (zero or one
    /// chunk per call).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        if self.closed || chunk.is_empty() {
            return Vec::new();
        }
        if matches!(self.pipe, Pipe::Pass) {
            return vec![Bytes::copy_from_slice(chunk)];
        }
        let mut out = Vec::new();
        if let Pipe::Unsupported(c, p) = self.pipe {
            self.closed = true;
            self.unsupported(c, p, &mut out);
            return wrap(out);
        }
        if !self.seen_event && self.head.len() < HEAD_BYTES {
            let room = HEAD_BYTES - self.head.len();
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        // Each event with whether an event too large to parse was dropped before it.
        let before = self.parser.dropped();
        let mut events: Vec<(SseEvent, bool)> = Vec::new();
        let mut feed = self.parser.feed(chunk);
        while let Some(ev) = feed.next() {
            events.push((ev, feed.dropped() > before));
        }
        drop(feed);
        let dropped_at_end = self.parser.dropped() > before;
        for (ev, after_a_drop) in &events {
            if *after_a_drop {
                break;
            }
            self.seen_event = true;
            self.event(ev, &mut out);
        }
        let dropped = events.iter().any(|(_, d)| *d) || dropped_at_end;
        if dropped && !self.complete() {
            // Part of the answer is missing: the client must not take the rest as whole.
            let e = openai_error(
                502,
                "an event of the provider's stream was too large to translate",
                None,
                None,
            );
            self.fail_with(&e, &mut out);
        }
        wrap(out)
    }

    /// Whether the client has been sent the end of its stream (`data: [DONE]`, or Anthropic's
    /// `message_stop` or `error`): whatever the provider sends after that is not translated,
    /// so the client's stream can end there without waiting for the provider's to.
    pub fn complete(&self) -> bool {
        self.closed
            || match &self.pipe {
                Pipe::ToOpenAi(_) => self.done_written,
                Pipe::ToAnthropic(_, sink) => sink.is_finished(),
                Pipe::Pass | Pipe::Unsupported(..) => false,
            }
    }

    /// Ends the client's stream with `error` (a common-form error object).
    fn fail_with(&mut self, error: &Value, out: &mut Vec<u8>) {
        self.failed = true;
        self.closed = true;
        match &mut self.pipe {
            Pipe::ToOpenAi(_) => {
                write_data(error, out);
                if !self.done_written {
                    self.done_written = true;
                    out.extend_from_slice(b"data: [DONE]\n\n");
                }
            }
            Pipe::ToAnthropic(_, sink) => {
                let mut events = Vec::new();
                sink.chunk(error, &mut events);
                write_events(&events, out);
            }
            Pipe::Pass | Pipe::Unsupported(..) => {}
        }
    }

    /// The provider's stream ended → the closing bytes (for OpenAI clients: the finish chunk
    /// if the provider's last event was missing an error, the usage chunk, `data: [DONE]`; for
    /// Anthropic clients: the closing `message_delta` and `message_stop`).
    pub fn finish(&mut self) -> Vec<Bytes> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        if matches!(self.pipe, Pipe::Pass) {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Pipe::Unsupported(c, p) = self.pipe {
            self.unsupported(c, p, &mut out);
            return wrap(out);
        }
        if let Some(ev) = self.parser.finish() {
            self.seen_event = true;
            self.event(&ev, &mut out);
        }
        let mut values = Vec::new();
        let head_error = if self.seen_event {
            None
        } else {
            serde_json::from_slice::<Value>(&self.head)
                .ok()
                .and_then(|v| ProviderError::from_event(&v))
        };
        match (&mut self.pipe, head_error) {
            (Pipe::ToOpenAi(_), Some(e)) => values.push(e.openai_value()),
            (Pipe::ToAnthropic(_, sink), Some(e)) => {
                let mut events = Vec::new();
                sink.chunk(&e.openai_value(), &mut events);
                self.failed = true;
                write_events(&events, &mut out);
            }
            (Pipe::ToOpenAi(src), None) => src.finish(&mut values),
            (Pipe::ToAnthropic(src, sink), None) => {
                src.finish(&mut values);
                let mut events = Vec::new();
                for v in &values {
                    sink.chunk(v, &mut events);
                }
                sink.finish(&mut events);
                self.failed |= events.iter().any(|(name, _)| *name == "error");
                write_events(&events, &mut out);
                values.clear();
            }
            (Pipe::Pass | Pipe::Unsupported(..), _) => {}
        }
        self.failed |= values.iter().any(is_error);
        for v in &values {
            write_data(v, &mut out);
        }
        if matches!(self.pipe, Pipe::ToOpenAi(_)) && !self.done_written {
            self.done_written = true;
            out.extend_from_slice(b"data: [DONE]\n\n");
        }
        wrap(out)
    }

    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let mut values = Vec::new();
        match &mut self.pipe {
            Pipe::ToOpenAi(src) => {
                src.event(ev, &mut values);
                self.failed |= values.iter().any(is_error);
                for v in &values {
                    write_data(v, out);
                }
                if src.done() && !self.done_written {
                    self.done_written = true;
                    out.extend_from_slice(b"data: [DONE]\n\n");
                }
            }
            Pipe::ToAnthropic(src, sink) => {
                let mut events = Vec::new();
                if src.event(ev, &mut values) {
                    sink.done_marker(&mut events);
                }
                if let Source::Gemini(g) = src {
                    if let Some(u) = g.usage() {
                        sink.early_usage(u);
                    }
                }
                for v in &values {
                    sink.chunk(v, &mut events);
                }
                // A source that knows its answer is whole (Gemini's last finish reason) ends
                // the client's stream at once.
                if src.done() {
                    sink.finish(&mut events);
                }
                self.failed |= events.iter().any(|(name, _)| *name == "error");
                write_events(&events, out);
            }
            Pipe::Pass | Pipe::Unsupported(..) => {}
        }
    }

    /// Whether the client was sent an error instead of (or after part of) an answer: the
    /// provider's error event, a non-stream error body, or an end before the final event.
    /// Such a stream is not a complete answer, whatever the provider's status said.
    pub fn failed(&self) -> bool {
        self.failed
    }

    fn unsupported(&mut self, c: Dialect, p: Dialect, out: &mut Vec<u8>) {
        self.failed = true;
        let e = super::TranslateError::unsupported(super::Endpoint::Chat, c, p);
        match self.client {
            Dialect::Anthropic => {
                let v = super::error::anthropic_error(e.status, &e.message);
                write_events(&[("error", v)], out);
            }
            _ => {
                write_data(&openai_error(e.status, &e.message, None, None), out);
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
        }
    }
}

/// An error object in the common (OpenAI chunk) form.
fn is_error(v: &Value) -> bool {
    v.get("error").is_some_and(|e| !e.is_null())
}

fn wrap(out: Vec<u8>) -> Vec<Bytes> {
    if out.is_empty() {
        Vec::new()
    } else {
        vec![Bytes::from(out)]
    }
}

fn write_data(v: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

fn write_events(events: &[messages::Event], out: &mut Vec<u8>) {
    for (name, data) in events {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let _ = serde_json::to_writer(&mut *out, data);
        out.extend_from_slice(b"\n\n");
    }
}

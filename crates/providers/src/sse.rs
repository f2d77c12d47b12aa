//! An incremental parser for `text/event-stream` bodies (server-sent events).
//!
//! Bytes go in as they arrive, in chunks of any size; whole events come out. Follows the
//! WHATWG event-stream grammar: lines end in `\r\n`, `\n` or `\r` (a `\r\n` split across two
//! chunks is one line end), `field: value` with one optional space after the colon, several
//! `data:` lines joined with `\n`, `:` comment lines ignored, an event dispatched at a blank
//! line and only if it carried `data`. A leading UTF-8 byte-order mark is skipped.
//!
//! Memory is bounded: an event whose text exceeds the limit (default
//! [`DEFAULT_MAX_EVENT_BYTES`]) is dropped whole and counted in [`SseParser::dropped`]; the
//! parser then carries on with the next event.
//!
//! ```
//! use switchyard_providers::sse::SseParser;
//! let mut p = SseParser::new();
//! let mut data = Vec::new();
//! for chunk in [&b"data: {\"a\""[..], b":1}\r\n\r\nevent: done\ndata: x\n\n"] {
//!     data.extend(p.feed(chunk).map(|e| e.data));
//! }
//! assert_eq!(data, ["{\"a\":1}", "x"]);
//! ```

/// The default bound on one event's text (all its lines together).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` means the default type, `message`.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n` (invalid UTF-8 replaced by U+FFFD).
    pub data: String,
    /// The `id:` field given in this event, if any.
    pub id: Option<String>,
    /// The `retry:` field given in this event, if any (milliseconds).
    pub retry: Option<u64>,
}

/// Incremental event-stream parser; see the module documentation.
#[derive(Debug)]
pub struct SseParser {
    /// The unfinished line carried over from the previous chunk.
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    /// The last byte seen was `\r`: a `\n` at the start of the next chunk belongs to it.
    pending_cr: bool,
    /// The current event grew past the bound; it is dropped at its end.
    oversized: bool,
    /// Discarding everything up to the first blank line (see [`SseParser::mid_stream`]).
    skipping: bool,
    /// No line has been completed yet (the BOM may still come).
    at_start: bool,
    max_event_bytes: usize,
    dropped: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser for a stream read from its first byte.
    pub fn new() -> Self {
        Self {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: None,
            id: None,
            retry: None,
            pending_cr: false,
            oversized: false,
            skipping: false,
            at_start: true,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            dropped: 0,
        }
    }

    /// A parser for bytes that start somewhere inside a stream: everything up to and including
    /// the first blank line is discarded, since the event it ends may have lost its beginning.
    pub fn mid_stream() -> Self {
        Self {
            skipping: true,
            at_start: false,
            ..Self::new()
        }
    }

    /// Sets the bound on one event's text.
    pub fn with_max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = max.max(1);
        self
    }

    /// Events dropped so far because they exceeded the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Feeds the next chunk; the iterator yields the events it completes.
    ///
    /// Drain the iterator: input it has not reached when dropped is still parsed (so the
    /// parser's state stays right for the next chunk), but events in it are discarded.
    pub fn feed<'a>(&'a mut self, chunk: &'a [u8]) -> Feed<'a> {
        Feed {
            parser: self,
            input: chunk,
        }
    }

    /// Ends the stream. The spec discards an event not followed by a blank line; this returns
    /// it instead (a truncated last line counts as complete), because a body cut short or
    /// missing its final blank line is common and its last event is often the one wanted.
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.pending_cr = false;
        let mut event = None;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            event = self.line_done(&line);
        }
        if event.is_none() && !self.skipping {
            event = self.dispatch();
        }
        self.reset_event();
        event
    }

    /// Consumes one line (or the rest of `input` when it holds no line end).
    fn step(&mut self, input: &mut &[u8]) -> Option<SseEvent> {
        let buf = *input;
        if self.pending_cr {
            self.pending_cr = false;
            if buf.first() == Some(&b'\n') {
                *input = &buf[1..];
                return None;
            }
        }
        let Some(end) = buf.iter().position(|&b| b == b'\n' || b == b'\r') else {
            self.carry(buf);
            *input = &[];
            return None;
        };
        let mut next = end + 1;
        if buf[end] == b'\r' {
            match buf.get(next) {
                Some(b'\n') => next += 1,
                Some(_) => {}
                None => self.pending_cr = true,
            }
        }
        *input = &buf[next..];
        if self.line.is_empty() {
            self.line_done(&buf[..end])
        } else {
            self.carry(&buf[..end]);
            let line = std::mem::take(&mut self.line);
            let event = self.line_done(&line);
            // Keep the allocation for the next partial line.
            self.line = line;
            self.line.clear();
            event
        }
    }

    /// Buffers part of an unfinished line, within the bound.
    fn carry(&mut self, part: &[u8]) {
        if self.skipping {
            // Only whether the line is empty matters while skipping.
            if !part.is_empty() && self.line.is_empty() {
                self.line.push(b'x');
            }
            return;
        }
        if self.oversized {
            if self.line.is_empty() && !part.is_empty() {
                self.line.push(b'x');
            }
            return;
        }
        if self.line.len() + self.data.len() + part.len() > self.max_event_bytes {
            self.oversize();
            self.line.clear();
            self.line.push(b'x');
            return;
        }
        self.line.extend_from_slice(part);
    }

    fn oversize(&mut self) {
        self.oversized = true;
        self.data = Vec::new();
        self.has_data = false;
    }

    /// Handles one complete line.
    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        let mut line = line;
        if self.at_start {
            self.at_start = false;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            if self.skipping {
                self.skipping = false;
                self.reset_event();
                return None;
            }
            return self.dispatch();
        }
        if self.skipping || self.oversized || line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                let extra = value.len() + usize::from(self.has_data);
                if self.data.len() + extra > self.max_event_bytes {
                    self.oversize();
                    return None;
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
        None
    }

    /// Ends the current event at a blank line.
    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.oversized {
            self.dropped += 1;
            self.reset_event();
            return None;
        }
        if !self.has_data {
            self.reset_event();
            return None;
        }
        let data = std::mem::take(&mut self.data);
        let data = String::from_utf8(data)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let event = SseEvent {
            event: self.event.take(),
            data,
            id: self.id.take(),
            retry: self.retry.take(),
        };
        self.reset_event();
        Some(event)
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.event = None;
        self.id = None;
        self.retry = None;
        self.oversized = false;
    }
}

/// The events one chunk completes; see [`SseParser::feed`].
#[derive(Debug)]
pub struct Feed<'a> {
    parser: &'a mut SseParser,
    input: &'a [u8],
}

impl Feed<'_> {
    /// Events dropped so far by the parser ([`SseParser::dropped`]), this chunk's included up
    /// to the last event handed out.
    pub fn dropped(&self) -> u64 {
        self.parser.dropped
    }
}

impl Iterator for Feed<'_> {
    type Item = SseEvent;

    fn next(&mut self) -> Option<SseEvent> {
        while !self.input.is_empty() {
            if let Some(event) = self.parser.step(&mut self.input) {
                return Some(event);
            }
        }
        None
    }
}

impl Drop for Feed<'_> {
    fn drop(&mut self) {
        while !self.input.is_empty() {
            let _ = self.parser.step(&mut self.input);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c));
        }
        out.extend(p.finish());
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn splits_on_every_line_ending() {
        let body = b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n";
        assert_eq!(data(&parse_chunks(&[body])), ["a", "b", "c", "d"]);
    }

    #[test]
    fn same_events_whatever_the_chunking() {
        let body: &[u8] = b"\xEF\xBB\xBFevent: start\r\ndata: {\"x\":1}\r\n\r\n: keep-alive\r\n\r\nid: 7\r\nretry: 300\r\ndata: line one\r\ndata:line two\r\ndata\r\n\r\ndata: [DONE]\r\n\r\n";
        let whole = parse_chunks(&[body]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].event.as_deref(), Some("start"));
        assert_eq!(whole[0].data, "{\"x\":1}");
        assert_eq!(whole[1].data, "line one\nline two\n");
        assert_eq!(whole[1].id.as_deref(), Some("7"));
        assert_eq!(whole[1].retry, Some(300));
        assert_eq!(whole[1].event, None);
        assert_eq!(whole[2].data, "[DONE]");
        for size in 1..body.len() {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            assert_eq!(parse_chunks(&chunks), whole, "chunk size {size}");
        }
        // Split exactly between the \r and \n of every line end.
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(parse_chunks(&[a, b]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn blocks_without_data_are_not_dispatched() {
        let events = parse_chunks(&[b"event: ping\n\nretry: 10\n\n: comment\n\ndata:\n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "");
    }

    #[test]
    fn field_without_colon_and_unknown_fields() {
        let events = parse_chunks(&[b"data\nfoo: bar\ndata:  two spaces\n\n"]);
        assert_eq!(data(&events), ["\n two spaces"]);
    }

    #[test]
    fn finish_returns_an_unterminated_event() {
        assert_eq!(data(&parse_chunks(&[b"data: a\n\ndata: b"])), ["a", "b"]);
        assert_eq!(data(&parse_chunks(&[b"data: a\n\ndata: b\n"])), ["a", "b"]);
        let mut p = SseParser::new();
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn mid_stream_skips_the_partial_first_event() {
        let mut p = SseParser::mid_stream();
        let events: Vec<_> = p.feed(b"ta: {\"cut\":true}\n\ndata: whole\n\n").collect();
        assert_eq!(data(&events), ["whole"]);
        // Starting right on a boundary: the empty first line ends the skip.
        let mut p = SseParser::mid_stream();
        let events: Vec<_> = p.feed(b"\ndata: next\n\n").collect();
        assert_eq!(data(&events), ["next"]);
        // Nothing complete: nothing out, not even at finish.
        let mut p = SseParser::mid_stream();
        assert_eq!(p.feed(b"data: partial").count(), 0);
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn oversized_events_are_dropped_and_counted() {
        let mut p = SseParser::new().with_max_event_bytes(16);
        let mut out = Vec::new();
        out.extend(p.feed(b"data: small\n\ndata: 0123456789abcdefghij\n\ndata: after\n\n"));
        assert_eq!(data(&out), ["small", "after"]);
        assert_eq!(p.dropped(), 1);
        // A long line split across chunks is bounded too.
        let mut p = SseParser::new().with_max_event_bytes(16);
        let mut out = Vec::new();
        for _ in 0..100 {
            out.extend(p.feed(b"data: xxxxxxxxxxxxxxx"));
        }
        assert!(p.line.len() <= 16);
        out.extend(p.feed(b"\n\ndata: ok\n\n"));
        assert_eq!(data(&out), ["ok"]);
        assert_eq!(p.dropped(), 1);
        // Many data lines adding up past the bound.
        let mut p = SseParser::new().with_max_event_bytes(16);
        let out: Vec<_> = p
            .feed(b"data: 12345\ndata: 12345\ndata: 12345\ndata: 12345\n\ndata: y\n\n")
            .collect();
        assert_eq!(data(&out), ["y"]);
    }

    #[test]
    fn dropping_the_iterator_keeps_state() {
        let mut p = SseParser::new();
        {
            let mut it = p.feed(b"data: a\n\ndata: b\n\ndata: c");
            assert_eq!(it.next().map(|e| e.data), Some("a".into()));
        }
        let rest: Vec<_> = p.feed(b"d\n\n").collect();
        assert_eq!(data(&rest), ["cd"]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let events = parse_chunks(&[b"data: \xFF\xFE ok\n\n"]);
        assert_eq!(events[0].data, "\u{FFFD}\u{FFFD} ok");
    }
}

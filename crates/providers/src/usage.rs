//! Token usage and the answering model, read from a provider's response body after the fact.
//!
//! The gateway keeps the body as received (possibly its first part and its last few chunks
//! with the middle dropped) and reads it once per request, off the response path: [`extract`],
//! or [`decode`] then [`extract_after`] when it wants the decoded body too.
//!
//! # Wire formats read
//! The format is recognised from the body, not configured per provider:
//!
//! | answer | where the usage is |
//! |---|---|
//! | OpenAI Chat Completions (and every compatible API: xAI, Groq, Mistral, DeepSeek, …) | `usage` of the body, or the **last** non-null `usage` of the `data:` stream (legacy xAI streams repeat a cumulative `usage` on every chunk); Groq's `x_groq.usage` |
//! | OpenAI Responses | `usage` of the body, or `response.usage` of the terminal `response.completed`/`incomplete`/`failed` event |
//! | Anthropic Messages | `usage` of the body; in a stream `message_start.message.usage` updated field by field by each `message_delta.usage` |
//! | Gemini | `usageMetadata` of the body, of each `alt=sse` event, or of each element of the JSON-array stream (last wins) |
//! | Bedrock Converse | `usage` of the body (`inputTokens`, `outputTokens`, `cacheReadInputTokens`, `cacheWriteInputTokens`; input counted as Anthropic's) |
//! | Workers AI (`/run/@cf/…`) | `result.usage` of the body (OpenAI-style counts); its streams as OpenAI's |
//! | Cohere v1 / v2 chat | `meta.billed_units` (v1; in a stream, of `stream-end`'s `response`) or `usage.billed_units` (v2; in a stream, `message-end`'s `delta.usage`): `input_tokens`, `output_tokens` (else `tokens`, everything the model saw) |
//! | Replicate predictions | `metrics.input_token_count`, `metrics.output_token_count` |
//! | anything else | no usage |
//!
//! # How the numbers are normalised into [`Usage`]
//! [`Usage`] follows xAI's chat semantics: `tokens_out` is visible output only and
//! `reasoning_tokens` are billed on top of it at the output price.
//! - `tokens_in` is **every** input token, cached or not: OpenAI's `prompt_tokens` and
//!   `input_tokens` and Gemini's `promptTokenCount` (+ `toolUsePromptTokenCount`) already are;
//!   Anthropic's `input_tokens` excludes cache reads and writes, so Anthropic's `tokens_in` is
//!   `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`.
//! - `cached_tokens_in` (cache reads) and `cache_write_tokens_in` (Anthropic's cache
//!   creation) are parts of `tokens_in`.
//! - Reasoning: xAI's chat `completion_tokens` **excludes** reasoning tokens; OpenAI's (and
//!   DeepSeek's, Groq's…) **includes** them, as does every Responses API `output_tokens`. Where
//!   they are included, `tokens_out = completion − reasoning`, so that `tokens_out +
//!   reasoning_tokens` is always the billed output and no cost function double-bills. For chat
//!   answers the numbers usually tell which convention applies (`total_tokens` equals
//!   `prompt + completion + reasoning` on xAI and `prompt + completion` elsewhere); only when
//!   they cannot does the `provider` slug decide (`grok`/`xai` exclude, everyone else
//!   includes). Gemini reports thoughts apart from candidates, like xAI. Anthropic reports no
//!   reasoning count (thinking is inside `output_tokens`).
//! - A bill, when the usage object carries one, goes to `cost_in_usd_ticks` (1e-10 USD):
//!   xAI's `cost_in_usd_ticks` as it is, OpenRouter's `cost` (USD) and Perplexity's
//!   `cost.total_cost` (USD) converted to the nearest tick. Whether it is the request's cost
//!   is the caller's decision (the catalog's `reports_cost`: only those providers' own bills
//!   are).
//!
//! # Encodings and truncation
//! `gzip`, `deflate`, `br` and `zstd` bodies are decompressed for parsing (up to
//! [`MAX_DECODED_BYTES`]; [`decode`] is public so the gateway can store the readable body
//! too). Other codings (`compress`, several stacked) yield no usage. A compressed body whose
//! middle was dropped is read from its first part only (the tail cannot be decompressed
//! without the middle), which is why the gateway keeps compressed bodies whole up to a
//! larger size than plain ones.
//!
//! A body that is a list of answers (Gemini's JSON-array stream), or several documents, is read
//! element by element without building a tree of it: a 64 KB gzip body that inflates to 64 MB
//! of `[[],[],…]` costs the inflated bytes, not gigabytes.
//!
//! When the middle was dropped, the first part is parsed up to its last complete event, the
//! tail from its first event boundary on; if that finds no usage, the tail's last `"usage"`
//! (or `"usageMetadata"`) object is parsed wherever it sits. Nothing here panics on any input.

mod wire;

use crate::sse::{SseEvent, SseParser};
use bytes::Bytes;
use serde_json::Value;
use std::borrow::Cow;
use std::io::Read;
use switchyard_core::Usage;
use wire::{Answer, Counts};

/// The most decompressed bytes looked at; the rest of a larger body is ignored.
pub const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;

/// What one answer says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub usage: Usage,
    /// The model the answer names (`model`, Anthropic's `message.model`, Gemini's
    /// `modelVersion`), which may differ from the one requested.
    pub model: Option<String>,
    /// Whether a stream reported an error after its successful status (Anthropic's and the
    /// Responses API's `error` event, `response.failed`, or an OpenAI chunk holding only an
    /// `error` object): the answer failed although its status said otherwise.
    pub stream_failed: bool,
    /// Whether a stream's last event is the one that closes it (`[DONE]`, Anthropic's
    /// `message_stop`, the Responses API's `response.completed`, `.incomplete` or `.failed`):
    /// a client that leaves after it has had the whole answer.
    pub finished: bool,
    /// Whether a stream opened by an event that promises a closing one (Anthropic's
    /// `message_start`, the Responses API's `response.created`) ended without it, and without
    /// Anthropic's `message_delta` that gives the stop reason (after which only the closing
    /// event is missing, and the answer is whole): an answer cut short, even if its body ended
    /// cleanly.
    pub unclosed: bool,
}

/// Reads usage and model from a response body.
///
/// - `provider`: the catalog slug (e.g. `grok`, `openai`); only used to break the tie
///   described in the module docs (whether chat `completion_tokens` includes reasoning).
/// - `content_type`, `content_encoding`: the response's headers.
/// - `head`: the body's chunks from its first byte; `tail`: its last chunks after a gap, empty
///   when nothing was dropped.
pub fn extract(
    provider: &str,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    head: &[Bytes],
    tail: &[Bytes],
) -> Extracted {
    extract_after(
        &decode(content_encoding, head),
        provider,
        content_type,
        head,
        tail,
    )
}

/// [`extract`] for a caller that has already run [`decode`] on `head` (to keep the decoded
/// body as well): reads the decoded body, or `head` and `tail` when there was no coding.
pub fn extract_after(
    decoded: &Result<Option<DecodedBody>, Unsupported>,
    provider: &str,
    content_type: Option<&str>,
    head: &[Bytes],
    tail: &[Bytes],
) -> Extracted {
    match decoded {
        Ok(None) => {
            let head: Vec<&[u8]> = head.iter().map(|b| b.as_ref()).collect();
            let tail: Vec<&[u8]> = tail.iter().map(|b| b.as_ref()).collect();
            parse(provider, content_type, &head, &tail, !tail.is_empty())
        }
        // A compressed body's tail cannot be decompressed without its middle, so after a gap
        // only the first part counts.
        Ok(Some(body)) => parse(
            provider,
            content_type,
            &[&body.body],
            &[],
            !tail.is_empty() || !body.complete,
        ),
        Err(Unsupported) => Extracted::default(),
    }
}

/// A body with its content coding undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBody {
    /// The decoded bytes: all of them, or as far as decoding got.
    pub body: Bytes,
    /// Whether the encoded body ended cleanly within [`MAX_DECODED_BYTES`].
    pub complete: bool,
}

/// A content coding [`decode`] does not undo (`compress`, or several stacked codings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// Undoes the body's content coding (`gzip`, `deflate`, `br`, `zstd`): `None` when there is
/// none (absent or `identity`). `chunks`: the encoded body from its first byte.
pub fn decode(
    content_encoding: Option<&str>,
    chunks: &[Bytes],
) -> Result<Option<DecodedBody>, Unsupported> {
    let codings: Vec<&str> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .collect();
    let coding = match codings.as_slice() {
        [] => return Ok(None),
        [one] => one.to_ascii_lowercase(),
        _ => return Err(Unsupported),
    };
    let chunks: Vec<&[u8]> = chunks.iter().map(|b| b.as_ref()).collect();
    let input = Chunks::new(&chunks);
    let mut body = Vec::new();
    let complete = match coding.as_str() {
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(input), &mut body),
        "deflate" => {
            // HTTP's "deflate" is zlib-wrapped, but some servers send raw deflate.
            let ok = read_capped(flate2::read::ZlibDecoder::new(input), &mut body);
            if !ok && body.is_empty() {
                read_capped(
                    flate2::read::DeflateDecoder::new(Chunks::new(&chunks)),
                    &mut body,
                )
            } else {
                ok
            }
        }
        "br" => read_capped(
            brotli_decompressor::Decompressor::new(input, 8192),
            &mut body,
        ),
        "zstd" => read_zstd_frames(input, &mut body),
        _ => return Err(Unsupported),
    };
    body.shrink_to_fit();
    Ok(Some(DecodedBody {
        body: Bytes::from(body),
        complete,
    }))
}

/// Reads all of `r` onto `out`, until `out` holds [`MAX_DECODED_BYTES`]; whether it ended
/// cleanly within the cap. On a decoding error `out` keeps what was decoded before it.
fn read_capped(r: impl Read, out: &mut Vec<u8>) -> bool {
    let room = MAX_DECODED_BYTES.saturating_sub(out.len() as u64);
    match r.take(room + 1).read_to_end(out) {
        Ok(n) => (n as u64) <= room,
        Err(_) => false,
    }
}

/// A zstd body frame after frame (a body may hold several, RFC 8878 section 3.1; the decoder
/// stops at the end of one). A skippable frame, or anything else that is not a frame, ends it
/// as incomplete.
fn read_zstd_frames(mut input: Chunks<'_>, out: &mut Vec<u8>) -> bool {
    loop {
        let frame = match ruzstd::decoding::StreamingDecoder::new(&mut input) {
            Ok(decoder) => read_capped(decoder, out),
            Err(_) => false,
        };
        if !frame {
            return false;
        }
        if input.is_empty() {
            return true;
        }
    }
}

/// The head's chunks as one reader.
struct Chunks<'a> {
    rest: &'a [&'a [u8]],
    current: &'a [u8],
}

impl<'a> Chunks<'a> {
    fn new(chunks: &'a [&'a [u8]]) -> Self {
        Self {
            rest: chunks,
            current: &[],
        }
    }
}

impl Chunks<'_> {
    /// Whether every byte has been read.
    fn is_empty(&self) -> bool {
        self.current.is_empty() && self.rest.iter().all(|c| c.is_empty())
    }
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rest.split_first() {
                Some((first, rest)) => {
                    self.current = first;
                    self.rest = rest;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = &self.current[n..];
        Ok(n)
    }
}

fn parse(
    provider: &str,
    content_type: Option<&str>,
    head: &[&[u8]],
    tail: &[&[u8]],
    truncated: bool,
) -> Extracted {
    let mut acc = Accumulator::new(provider);
    let (clean, tail_reported) = match sniff(content_type, head) {
        Format::Json => (parse_json(&mut acc, head) && !truncated, false),
        Format::Sse => (!truncated, parse_sse(&mut acc, head, tail, truncated)),
        Format::Unknown => return Extracted::default(),
    };
    if !clean {
        // A body cut short: the tail's last usage object, found by scanning, is the latest
        // report unless parsing the tail already saw one; the head's is a last resort.
        if !tail_reported {
            if let Some((key, usage)) = scan_last_usage(&concat(tail)) {
                acc.scanned_usage(&key, &usage);
            }
        }
        if acc.found.is_none() {
            if let Some((key, usage)) = scan_last_usage(&concat(head)) {
                acc.scanned_usage(&key, &usage);
            }
        }
    }
    if acc.model.is_none() {
        // Bodies that name the model late (embeddings) or not where parsing reached.
        acc.model = scan_first_model(&concat(head)).or_else(|| scan_first_model(&concat(tail)));
    }
    acc.finish()
}

enum Format {
    Json,
    Sse,
    Unknown,
}

/// JSON if the body starts with `{` or `[`; an event stream if declared so or if it starts
/// with an event-stream field; else unknown (HTML error pages, audio, …).
fn sniff(content_type: Option<&str>, head: &[&[u8]]) -> Format {
    let mut lead = Vec::with_capacity(8);
    'outer: for chunk in head {
        for &b in chunk.iter() {
            if lead.is_empty() && (b.is_ascii_whitespace() || b == 0xEF || b == 0xBB || b == 0xBF) {
                continue;
            }
            lead.push(b);
            if lead.len() == 8 {
                break 'outer;
            }
        }
    }
    match lead.first() {
        Some(b'{' | b'[') => return Format::Json,
        None => return Format::Unknown,
        _ => {}
    }
    let declared = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("event-stream"));
    let field = [&b"data:"[..], b"event:", b"id:", b"retry:", b":"]
        .iter()
        .any(|f| lead.starts_with(f));
    if declared || field {
        Format::Sse
    } else {
        Format::Unknown
    }
}

/// One JSON object read for the fields that can carry usage or the model name; everything
/// else (choices, content, candidates) is skipped without being built ([`wire`]).
fn skeleton(doc: &[u8]) -> Option<Answer> {
    let mut de = serde_json::Deserializer::from_slice(doc);
    let answer = wire::answer(&mut de).ok()?;
    de.end().ok()?;
    Some(answer)
}

/// A JSON document, JSON lines, or concatenated documents; arrays are walked element-wise.
/// Whether the whole body parsed.
fn parse_json(acc: &mut Accumulator, head: &[&[u8]]) -> bool {
    let body = concat(head);
    // The common case, one JSON object: read only the fields that can carry usage.
    let trimmed = body.trim_ascii();
    if trimmed.first() == Some(&b'{') {
        if let Some(answer) = skeleton(trimmed) {
            acc.answer(&answer, None);
            return true;
        }
    }
    acc.documents(&body, None)
}

/// Whether parsing the tail (when there is one) brought a usage report.
fn parse_sse(acc: &mut Accumulator, head: &[&[u8]], tail: &[&[u8]], truncated: bool) -> bool {
    let mut parser = SseParser::new();
    for chunk in head {
        for event in parser.feed(chunk) {
            acc.event(&event);
        }
    }
    if !truncated {
        if let Some(event) = parser.finish() {
            acc.event(&event);
        }
        return false;
    }
    let before_tail = acc.reports;
    let mut parser = SseParser::mid_stream();
    for chunk in tail {
        for event in parser.feed(chunk) {
            acc.event(&event);
        }
    }
    if let Some(event) = parser.finish() {
        acc.event(&event);
    }
    acc.reports != before_tail
}

/// Whether a stream event's JSON data is an error report: a top-level `error` object (an
/// OpenAI chunk) or non-empty string (xAI's `{"code": …, "error": "…"}`), or `type` `error`
/// or `response.failed` (Anthropic, the Responses API, when the event line was left out).
/// Only called when the text mentions `"error"`.
fn reports_error(data: &str) -> bool {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(data) else {
        return false;
    };
    o.get("error").is_some_and(|e| match e {
        Value::Object(_) => true,
        Value::String(s) => !s.is_empty(),
        _ => false,
    }) || matches!(
        o.get("type").and_then(Value::as_str),
        Some("error" | "response.failed")
    )
}

/// The events after which a stream has nothing more to say.
const CLOSING_EVENTS: [&str; 4] = [
    "message_stop",
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// Whether an event's data holds a `stop_reason` that is a string (not `null`).
fn gives_stop_reason(data: &str) -> bool {
    data.match_indices("\"stop_reason\"").any(|(i, key)| {
        data[i + key.len()..]
            .trim_start()
            .strip_prefix(':')
            .is_some_and(|v| v.trim_start().starts_with('"'))
    })
}

/// The events that open a stream whose protocol ends it with one of [`CLOSING_EVENTS`].
const OPENING_EVENTS: [&str; 2] = ["message_start", "response.created"];

/// Whether an event is a stream's last: OpenAI's `[DONE]`, or one of [`CLOSING_EVENTS`].
fn closes_stream(name: Option<&str>, data: &str) -> bool {
    data == "[DONE]" || is_one_of(name, data, &CLOSING_EVENTS)
}

/// Whether an event is one of `names`: named so on its `event:` line or, when that was left
/// out, as the `type` its data opens with.
fn is_one_of(name: Option<&str>, data: &str, names: &[&str]) -> bool {
    if let Some(name) = name {
        return names.contains(&name);
    }
    let Some(rest) = data.strip_prefix("{\"type\":") else {
        return false;
    };
    let rest = rest.trim_start();
    names.iter().any(|e| {
        rest.strip_prefix('"')
            .and_then(|r| r.strip_prefix(e))
            .is_some_and(|r| r.starts_with('"'))
    })
}

fn concat<'a>(chunks: &[&'a [u8]]) -> Cow<'a, [u8]> {
    match chunks {
        [] => Cow::Borrowed(&[]),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    }
}

/// What the answer said so far; later reports replace earlier ones.
#[derive(Clone)]
struct Accumulator {
    found: Option<Found>,
    /// How many usage reports were taken in.
    reports: u64,
    model: Option<String>,
    /// Chat `completion_tokens` excludes reasoning on this provider when the numbers don't say.
    excludes_reasoning: bool,
    /// A stream event reported an error.
    stream_failed: bool,
    /// The last stream event closed the stream.
    finished: bool,
    /// An event promised a closing one ([`OPENING_EVENTS`]).
    opened: bool,
    /// Anthropic's `message_delta` gave the stop reason: the answer is whole.
    stop_given: bool,
}

#[derive(Clone)]
enum Found {
    Usage(Usage),
    Anthropic(AnthropicCounts),
}

/// Anthropic's counts, kept raw so `message_delta` can update them field by field.
#[derive(Default, Clone)]
struct AnthropicCounts {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
    /// Of `cache_creation`, written for one hour.
    cache_creation_1h: Option<u64>,
}

impl AnthropicCounts {
    fn read(u: &Counts) -> Self {
        Self {
            input: u.input_tokens.flatten(),
            output: u.output_tokens.flatten(),
            cache_read: u.cache_read_input_tokens.flatten(),
            cache_creation: u.cache_creation_input_tokens.flatten(),
            cache_creation_1h: u.cache_creation_1h,
        }
    }

    fn update(&mut self, newer: Self) {
        self.input = newer.input.or(self.input);
        self.output = newer.output.or(self.output);
        self.cache_read = newer.cache_read.or(self.cache_read);
        self.cache_creation = newer.cache_creation.or(self.cache_creation);
        self.cache_creation_1h = newer.cache_creation_1h.or(self.cache_creation_1h);
    }

    fn usage(&self) -> Usage {
        let any_in =
            self.input.is_some() || self.cache_read.is_some() || self.cache_creation.is_some();
        Usage {
            tokens_in: any_in.then(|| {
                self.input
                    .unwrap_or(0)
                    .saturating_add(self.cache_read.unwrap_or(0))
                    .saturating_add(self.cache_creation.unwrap_or(0))
            }),
            tokens_out: self.output,
            cached_tokens_in: self.cache_read,
            cache_write_tokens_in: self.cache_creation,
            cache_write_1h_tokens_in: self.cache_creation_1h,
            reasoning_tokens: None,
            cost_in_usd_ticks: None,
        }
    }
}

impl Accumulator {
    fn new(provider: &str) -> Self {
        let p = provider.to_ascii_lowercase();
        Self {
            found: None,
            reports: 0,
            model: None,
            stream_failed: false,
            finished: false,
            opened: false,
            stop_given: false,
            excludes_reasoning: p == "grok" || p == "xai",
        }
    }

    fn finish(self) -> Extracted {
        let usage = match self.found {
            Some(Found::Usage(u)) => u,
            Some(Found::Anthropic(a)) => a.usage(),
            None => Usage::default(),
        };
        Extracted {
            usage: usage.consistent(),
            model: self.model,
            stream_failed: self.stream_failed,
            finished: self.finished,
            unclosed: self.opened && !self.finished && !self.stop_given,
        }
    }

    fn set(&mut self, found: Found) {
        self.found = Some(found);
        self.reports += 1;
    }

    /// A usage object found by scanning raw bytes, without its parent. After an Anthropic
    /// `message_start`, a later bare usage can only be a `message_delta`'s.
    fn scanned_usage(&mut self, key: &str, u: &Counts) {
        let kind = matches!(self.found, Some(Found::Anthropic(_))).then_some("message_delta");
        self.usage_object(key, u, kind);
    }

    /// One stream event: parsed only if it may carry what is still wanted.
    fn event(&mut self, event: &SseEvent) {
        let data = event.data.trim();
        self.finished = closes_stream(event.event.as_deref(), data);
        if !self.opened {
            self.opened = is_one_of(event.event.as_deref(), data, &OPENING_EVENTS);
        }
        if !self.stop_given && is_one_of(event.event.as_deref(), data, &["message_delta"]) {
            self.stop_given = gives_stop_reason(data);
        }
        if matches!(event.event.as_deref(), Some("error" | "response.failed"))
            || (data.starts_with('{') && data.contains("\"error\"") && reports_error(data))
        {
            self.stream_failed = true;
        }
        if data.is_empty() || data == "[DONE]" || !data.starts_with(['{', '[']) {
            return;
        }
        let wants_model = self.model.is_none() && data.contains("\"model");
        if !wants_model && !has_usage_object(data.as_bytes()) {
            return;
        }
        if data.starts_with('{') {
            if let Some(answer) = skeleton(data.as_bytes()) {
                self.answer(&answer, event.event.as_deref());
            }
        } else {
            self.documents(data.as_bytes(), event.event.as_deref());
        }
    }

    /// JSON documents one after another (one, JSON lines, or concatenated), each an answer
    /// object or a list of them; whether all of `bytes` parsed. A list is read element by
    /// element without building it (`wire::each_answer`), so a body of millions of elements
    /// costs the memory of one. A document that turns out malformed counts for nothing, as
    /// if it had been parsed whole before being read: what its elements gave is undone.
    fn documents(&mut self, bytes: &[u8], event_name: Option<&str>) -> bool {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        // `end` skips whitespace and fails while a document is left.
        while de.end().is_err() {
            let before = self.clone();
            let read = wire::each_answer(&mut de, &mut |answer| {
                self.answer(&answer, event_name);
            });
            if read.is_err() {
                *self = before;
                return false;
            }
        }
        true
    }

    /// One answer object.
    fn answer(&mut self, a: &Answer, event_name: Option<&str>) {
        if self.model.is_none() {
            self.model = a.named_model();
        }
        let kind = a.kind.as_deref().or(event_name);
        if let Some(u) = &a.usage_metadata {
            self.set(Found::Usage(gemini(u)));
        }
        if kind == Some("message_start") {
            if let Some(u) = a.message.as_ref().and_then(|m| m.usage.as_ref()) {
                self.set(Found::Anthropic(AnthropicCounts::read(u)));
            }
        }
        if let Some(u) = a.response.as_ref().and_then(|r| r.usage.as_ref()) {
            self.usage_object("usage", u, Some("response"));
        }
        if let Some(u) = &a.usage {
            self.usage_object("usage", u, kind);
        }
        if let Some(u) = a.x_groq.as_ref().and_then(|x| x.usage.as_ref()) {
            self.usage_object("usage", u, None);
        }
        for nested in [&a.result, &a.delta].into_iter().flatten() {
            if let Some(u) = &nested.usage {
                self.usage_object("usage", u, None);
            }
        }
        // Cohere's `meta` (v1: of the answer, or of a stream's final `response`) and
        // Replicate's `metrics` hold counts only sometimes.
        let response_meta = a.response.as_ref().and_then(|r| r.meta.as_deref());
        for u in [a.meta.as_deref(), a.metrics.as_deref(), response_meta]
            .into_iter()
            .flatten()
        {
            if u.input_tokens.is_some() || u.output_tokens.is_some() {
                self.usage_object("usage", u, None);
            }
        }
    }

    /// A `usage` (or `usageMetadata`) object found under `key`; `kind` is its parent's
    /// `type` or event name when known.
    fn usage_object(&mut self, key: &str, u: &Counts, kind: Option<&str>) {
        if key == "usageMetadata" {
            self.set(Found::Usage(gemini(u)));
            return;
        }
        if u.prompt_tokens.is_some() || u.completion_tokens.is_some() {
            self.set(Found::Usage(self.chat(u)));
        } else if u.input_tokens.is_some() || u.output_tokens.is_some() {
            let anthropic = matches!(kind, Some("message" | "message_start" | "message_delta"))
                || u.cache_read_input_tokens.is_some()
                || u.cache_creation_input_tokens.is_some();
            if !anthropic {
                self.set(Found::Usage(responses(u)));
            } else if kind == Some("message_delta") {
                let newer = AnthropicCounts::read(u);
                match &mut self.found {
                    Some(Found::Anthropic(a)) => {
                        a.update(newer);
                        self.reports += 1;
                    }
                    _ => self.set(Found::Anthropic(newer)),
                }
            } else {
                self.set(Found::Anthropic(AnthropicCounts::read(u)));
            }
        } else if u.converse_input.is_some() || u.converse_output.is_some() {
            self.set(Found::Anthropic(AnthropicCounts {
                input: u.converse_input.flatten(),
                output: u.converse_output.flatten(),
                cache_read: u.converse_cache_read.flatten(),
                cache_creation: u.converse_cache_write.flatten(),
                cache_creation_1h: None,
            }));
        } else if let Some(ticks) = u.billed_ticks() {
            // Image and video answers: a bill without token counts.
            self.set(Found::Usage(Usage {
                cost_in_usd_ticks: Some(ticks),
                ..Usage::default()
            }));
        }
    }

    /// OpenAI Chat Completions usage (also xAI, Groq, Mistral, DeepSeek, …).
    fn chat(&self, u: &Counts) -> Usage {
        let prompt = u.prompt_tokens.flatten();
        let completion = u.completion_tokens.flatten();
        let cached = u.prompt_cached.or(u.prompt_cache_hit_tokens.flatten());
        let reasoning = u.completion_reasoning.or(u.reasoning_tokens.flatten());
        let total = u.total_tokens.flatten();
        let included = match (prompt, completion, reasoning, total) {
            (Some(p), Some(c), Some(r), Some(t)) if r > 0 => {
                let pc = p.saturating_add(c);
                if t == pc.saturating_add(r) {
                    false
                } else if t == pc {
                    true
                } else {
                    !self.excludes_reasoning
                }
            }
            _ => !self.excludes_reasoning,
        };
        let tokens_out = match (completion, reasoning) {
            (Some(c), Some(r)) if included => Some(c.saturating_sub(r)),
            (c, _) => c,
        };
        Usage {
            tokens_in: prompt,
            tokens_out,
            cached_tokens_in: cached,
            cache_write_tokens_in: None,
            cache_write_1h_tokens_in: None,
            reasoning_tokens: reasoning,
            cost_in_usd_ticks: u.billed_ticks(),
        }
    }
}

/// OpenAI Responses usage: `output_tokens` includes reasoning (on xAI too).
fn responses(u: &Counts) -> Usage {
    let output = u.output_tokens.flatten();
    let reasoning = u.output_reasoning;
    Usage {
        tokens_in: u.input_tokens.flatten(),
        tokens_out: output.map(|o| o.saturating_sub(reasoning.unwrap_or(0))),
        cached_tokens_in: u.input_cached,
        cache_write_tokens_in: None,
        cache_write_1h_tokens_in: None,
        reasoning_tokens: reasoning,
        cost_in_usd_ticks: u.billed_ticks(),
    }
}

/// Gemini `usageMetadata`. Zero counts are omitted on the wire, so a present object means 0
/// for a missing output count.
fn gemini(u: &Counts) -> Usage {
    let prompt = u.prompt_token_count.flatten();
    let tool_prompt = u.tool_use_prompt_token_count.flatten();
    let known = prompt.is_some() || u.total_token_count.flatten().is_some();
    Usage {
        tokens_in: (prompt.is_some() || tool_prompt.is_some())
            .then(|| prompt.unwrap_or(0).saturating_add(tool_prompt.unwrap_or(0))),
        tokens_out: u.candidates_token_count.flatten().or(known.then_some(0)),
        cached_tokens_in: u.cached_content_token_count.flatten(),
        cache_write_tokens_in: None,
        cache_write_1h_tokens_in: None,
        reasoning_tokens: u.thoughts_token_count.flatten(),
        cost_in_usd_ticks: None,
    }
}

/// Whether `"usage"` or `"usageMetadata"` appears as a key whose value is an object.
fn has_usage_object(data: &[u8]) -> bool {
    find_all(data, b"\"usage").any(|at| usage_value_at(data, at).is_some())
}

/// If a usage key starts at `at` (its opening quote) and its value is an object: the key and
/// where the object starts.
fn usage_value_at(data: &[u8], at: usize) -> Option<(&'static str, usize)> {
    let rest = data.get(at + b"\"usage".len()..)?;
    let (key, after) = if rest.starts_with(b"\"") {
        ("usage", 1)
    } else if rest.starts_with(b"Metadata\"") {
        ("usageMetadata", b"Metadata\"".len())
    } else {
        return None;
    };
    let mut i = at + b"\"usage".len() + after;
    let skip_ws = |i: &mut usize| {
        while data.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if data.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    skip_ws(&mut i);
    (data.get(i) == Some(&b'{')).then_some((key, i))
}

/// The last parseable usage object in raw bytes, wherever it sits.
fn scan_last_usage(data: &[u8]) -> Option<(String, Counts)> {
    let mut end = data.len();
    while let Some(at) = rfind(&data[..end], b"\"usage") {
        end = at;
        let Some((key, start)) = usage_value_at(data, at) else {
            continue;
        };
        // The object is read on its own; whatever follows it is not looked at.
        let mut de = serde_json::Deserializer::from_slice(&data[start..]);
        if let Ok(counts) = wire::counts(&mut de) {
            return Some((key.to_owned(), counts));
        }
    }
    None
}

/// The first `"model"` or `"modelVersion"` key with a string value, in raw bytes.
fn scan_first_model(data: &[u8]) -> Option<String> {
    for at in find_all(data, b"\"model") {
        let rest = &data[at + b"\"model".len()..];
        let after = if rest.starts_with(b"\"") {
            1
        } else if rest.starts_with(b"Version\"") {
            b"Version\"".len()
        } else {
            continue;
        };
        let mut i = at + b"\"model".len() + after;
        while data.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if data.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while data.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if data.get(i) != Some(&b'"') {
            continue;
        }
        let mut values = serde_json::Deserializer::from_slice(&data[i..]).into_iter::<String>();
        if let Some(Ok(model)) = values.next() {
            if !model.is_empty() {
                return Some(model);
            }
        }
    }
    None
}

/// Start offsets of `needle` in `hay`, first to last.
fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let found = hay
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)?;
        let at = from + found;
        from = at + 1;
        Some(at)
    })
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(provider: &str, ct: &str, body: &str) -> Extracted {
        extract(
            provider,
            Some(ct),
            None,
            &[Bytes::copy_from_slice(body.as_bytes())],
            &[],
        )
    }

    #[test]
    fn a_stream_is_finished_only_when_its_last_event_closes_it() {
        let sse = "text/event-stream";
        let chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        assert!(!one("grok", sse, chunk).finished);
        assert!(one("grok", sse, &format!("{chunk}data: [DONE]\n\n")).finished);
        // Cut on the last line, before its blank line: the client still had it.
        assert!(one("grok", sse, &format!("{chunk}data: [DONE]")).finished);
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n";
        let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        assert!(!one("anthropic", sse, start).finished);
        assert!(one("anthropic", sse, &format!("{start}{stop}")).finished);
        assert!(one("anthropic", sse, "data: {\"type\": \"message_stop\"}\n\n").finished);
        assert!(!one("anthropic", sse, "data: {\"type\":\"message_stopped\"}\n\n").finished);
        let done = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n";
        assert!(one("openai", sse, done).finished);
        // Something after the closing event: the stream went on.
        assert!(!one("grok", sse, &format!("data: [DONE]\n\n{chunk}")).finished);
        assert!(!one("grok", "application/json", "{\"choices\":[]}").finished);
    }

    #[test]
    fn a_stream_that_promised_a_closing_event_and_ended_without_it_is_unclosed() {
        let sse = "text/event-stream";
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n";
        let delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
        let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        assert!(one("anthropic", sse, &format!("{start}{delta}")).unclosed);
        assert!(!one("anthropic", sse, &format!("{start}{delta}{stop}")).unclosed);
        // The stop reason given, only message_stop missing: the answer is whole (as the
        // translator for /compat clients takes it).
        let stopped = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\": \"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n";
        assert!(!one("anthropic", sse, &format!("{start}{delta}{stopped}")).unclosed);
        let no_reason = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":2}}\n\n";
        assert!(one("anthropic", sse, &format!("{start}{delta}{no_reason}")).unclosed);
        // Without its `event:` lines, read from the data's type.
        let bare = "data: {\"type\":\"message_start\",\"message\":{}}\n\n";
        assert!(one("anthropic", sse, bare).unclosed);
        let created =
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n";
        let done = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n";
        assert!(one("openai", sse, created).unclosed);
        assert!(!one("openai", sse, &format!("{created}{done}")).unclosed);
        // Chat chunks promise nothing: some OpenAI-compatible servers end without [DONE].
        let chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        assert!(!one("grok", sse, chunk).unclosed);
        assert!(!one("grok", "application/json", "{\"type\":\"message_start\"}").unclosed);
    }

    #[test]
    fn streams_that_report_an_error_are_flagged() {
        let sse = "text/event-stream";
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":5}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let x = one("anthropic", sse, anthropic);
        assert!(x.stream_failed);
        assert_eq!(x.usage.tokens_in, Some(5), "usage read so far still counts");
        let openai = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"server had an error\",\"type\":\"server_error\"}}\n\n";
        assert!(one("openai", sse, openai).stream_failed);
        let responses =
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{}}\n\n";
        assert!(one("openai", sse, responses).stream_failed);
        // xAI's mid-stream error: `error` is a string beside a `code`.
        let xai = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"code\":\"Internal error\",\"error\":\"The service is currently unavailable\"}\n\n";
        assert!(one("grok", sse, xai).stream_failed);
        let empty =
            "data: {\"choices\":[],\"error\":\"\"}\n\ndata: {\"choices\":[],\"error\":null}\n\n";
        assert!(!one("grok", sse, empty).stream_failed);
        // Text that talks about errors is not an error.
        let fine = "data: {\"choices\":[{\"delta\":{\"content\":\"the \\\"error\\\" key\"}}]}\n\ndata: {\"choices\":[],\"error_rate\":{\"error\":1}}\n\ndata: [DONE]\n\n";
        assert!(!one("openai", sse, fine).stream_failed);
        let json = r#"{"error":{"message":"bad"}}"#;
        assert!(!one("openai", "application/json", json).stream_failed);
    }

    #[test]
    fn xai_chat_excludes_reasoning() {
        let body = r#"{"model":"grok-4-fast-reasoning","usage":{"prompt_tokens":165,"completion_tokens":2,"total_tokens":292,"prompt_tokens_details":{"cached_tokens":156},"completion_tokens_details":{"reasoning_tokens":125},"cost_in_usd_ticks":731000}}"#;
        let x = one("grok", "application/json", body);
        assert_eq!(x.model.as_deref(), Some("grok-4-fast-reasoning"));
        assert_eq!(
            x.usage,
            Usage {
                tokens_in: Some(165),
                tokens_out: Some(2),
                cached_tokens_in: Some(156),
                cache_write_tokens_in: None,
                cache_write_1h_tokens_in: None,
                reasoning_tokens: Some(125),
                cost_in_usd_ticks: Some(731000),
            }
        );
        // The totals decide even under another slug.
        assert_eq!(
            one("openai", "application/json", body).usage.tokens_out,
            Some(2)
        );
    }

    #[test]
    fn bedrock_converse_usage_counts_cache_reads_and_writes_as_input() {
        let body = r#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":14,"outputTokens":20,"totalTokens":1336,"cacheReadInputTokens":1302,"cacheWriteInputTokens":0},"metrics":{"latencyMs":800}}"#;
        let x = one("aws-bedrock", "application/json", body);
        assert_eq!(
            x.usage,
            Usage {
                tokens_in: Some(1316),
                tokens_out: Some(20),
                cached_tokens_in: Some(1302),
                cache_write_tokens_in: Some(0),
                cache_write_1h_tokens_in: None,
                reasoning_tokens: None,
                cost_in_usd_ticks: None,
            }
        );
    }

    #[test]
    fn bills_in_usd_are_read_as_ticks_and_xai_ticks_win() {
        let openrouter = r#"{"model":"openai/gpt-4o","usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20,"cost":0.000125,"is_byok":false}}"#;
        let x = one("openrouter", "application/json", openrouter);
        assert_eq!(x.usage.cost_in_usd_ticks, Some(1_250_000));
        assert_eq!(x.usage.tokens_in, Some(10));
        let perplexity = r#"{"model":"sonar","usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20,"cost":{"input_tokens_cost":1e-05,"output_tokens_cost":1e-05,"request_cost":0.005,"total_cost":0.00502}}}"#;
        let x = one("perplexity-ai", "application/json", perplexity);
        assert_eq!(x.usage.cost_in_usd_ticks, Some(50_200_000));
        // In a stream, from the last chunk's usage.
        let sse = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}}}]}}\n\ndata: {}\n\ndata: [DONE]\n\n",
            openrouter
        );
        let x = one("openrouter", "text/event-stream", &sse);
        assert_eq!(x.usage.cost_in_usd_ticks, Some(1_250_000));
        // Both: xAI's exact ticks win over a rounded USD amount.
        let both = r#"{"usage":{"prompt_tokens":1,"completion_tokens":1,"cost_in_usd_ticks":7,"cost":5.0}}"#;
        assert_eq!(
            one("grok", "application/json", both)
                .usage
                .cost_in_usd_ticks,
            Some(7)
        );
        // Not a bill: negative, text, or an object without `total_cost`.
        for cost in ["-1", "\"0.1\"", "{\"request_cost\":0.005}", "null", "true"] {
            let body =
                format!(r#"{{"usage":{{"prompt_tokens":1,"completion_tokens":1,"cost":{cost}}}}}"#);
            let x = one("openrouter", "application/json", &body);
            assert_eq!(x.usage.cost_in_usd_ticks, None, "{cost}");
            assert_eq!(x.usage.tokens_in, Some(1), "{cost}: the counts still read");
        }
    }

    #[test]
    fn workers_ai_cohere_and_replicate_answers() {
        let counts = |x: &Extracted| (x.usage.tokens_in, x.usage.tokens_out);
        let workers = r#"{"result":{"response":"hi","usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}},"success":true,"errors":[],"messages":[]}"#;
        let x = one("workers-ai", "application/json", workers);
        assert_eq!(counts(&x), (Some(1000), Some(500)));
        // Cohere v1: what is billed, not everything the model saw.
        let cohere_v1 = r#"{"text":"hi","generation_id":"g","meta":{"api_version":{"version":"1"},"billed_units":{"input_tokens":1000,"output_tokens":500},"tokens":{"input_tokens":1100,"output_tokens":500}}}"#;
        assert_eq!(
            counts(&one("cohere", "application/json", cohere_v1)),
            (Some(1000), Some(500))
        );
        let cohere_v2 = r#"{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"hi"}]},"usage":{"billed_units":{"input_tokens":10,"output_tokens":5},"tokens":{"input_tokens":210,"output_tokens":5}}}"#;
        assert_eq!(
            counts(&one("cohere", "application/json", cohere_v2)),
            (Some(10), Some(5))
        );
        let tokens_only = r#"{"usage":{"billed_units":{"search_units":1},"tokens":{"input_tokens":7,"output_tokens":3}}}"#;
        assert_eq!(
            counts(&one("cohere", "application/json", tokens_only)),
            (Some(7), Some(3))
        );
        let replicate = r#"{"id":"p","model":"meta/meta-llama-3-70b-instruct","status":"succeeded","output":["hi"],"metrics":{"input_token_count":1000,"output_token_count":500,"predict_time":1.2}}"#;
        let x = one("replicate", "application/json", replicate);
        assert_eq!(counts(&x), (Some(1000), Some(500)));
        assert_eq!(x.model.as_deref(), Some("meta/meta-llama-3-70b-instruct"));
        // Cohere v2's stream ends with `message-end`, its usage under `delta`.
        let v2_stream = "event: message-start\ndata: {\"id\":\"x\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n\
            event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"hi\"}}}}\n\n\
            event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":12,\"output_tokens\":4},\"tokens\":{\"input_tokens\":80,\"output_tokens\":4}}}}\n\n";
        assert_eq!(
            counts(&one("cohere", "text/event-stream", v2_stream)),
            (Some(12), Some(4))
        );
        // Cohere v1's stream (JSON lines) ends with `stream-end`, its counts in `response.meta`.
        let v1_stream = "{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"g\"}\n\
            {\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"hi\"}\n\
            {\"is_finished\":true,\"event_type\":\"stream-end\",\"response\":{\"text\":\"hi\",\"meta\":{\"billed_units\":{\"input_tokens\":9,\"output_tokens\":2}}},\"finish_reason\":\"COMPLETE\"}\n";
        assert_eq!(
            counts(&one("cohere", "application/stream+json", v1_stream)),
            (Some(9), Some(2))
        );
        // A `meta` or `metrics` without counts is no usage.
        for none in [
            r#"{"meta":{"api_version":{"version":"1"}}}"#,
            r#"{"metrics":{"predict_time":1.2}}"#,
            r#"{"result":{"response":"hi"}}"#,
        ] {
            let x = one("cohere", "application/json", none);
            assert_eq!(x.usage, Usage::default(), "{none}");
        }
    }

    #[test]
    fn openai_chat_includes_reasoning() {
        let body = r#"{"model":"o3","usage":{"prompt_tokens":10,"completion_tokens":100,"total_tokens":110,"completion_tokens_details":{"reasoning_tokens":64}}}"#;
        let x = one("openai", "application/json", body);
        assert_eq!(x.usage.tokens_out, Some(36));
        assert_eq!(x.usage.reasoning_tokens, Some(64));
        // The totals decide even under the xAI slug.
        assert_eq!(
            one("grok", "application/json", body).usage.tokens_out,
            Some(36)
        );
        // No total: the slug decides.
        let body =
            r#"{"usage":{"prompt_tokens":10,"completion_tokens":100,"reasoning_tokens":64}}"#;
        assert_eq!(
            one("openai", "application/json", body).usage.tokens_out,
            Some(36)
        );
        assert_eq!(
            one("grok", "application/json", body).usage.tokens_out,
            Some(100)
        );
    }

    #[test]
    fn count_tolerates_floats_and_strings() {
        let count = |json: &str| {
            serde_json::from_str::<wire::CountValue>(json)
                .expect(json)
                .0
        };
        assert_eq!(count("5.0"), Some(5));
        assert_eq!(count("\" 7\""), Some(7));
        assert_eq!(count("-1"), None);
        assert_eq!(count("1.5"), None);
        assert_eq!(count("1e30"), None);
        assert_eq!(count("null"), None);
        assert_eq!(count("{\"a\":[1,{\"b\":2}]}"), None);
        assert_eq!(count("18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn fields_of_unexpected_types_read_as_absent() {
        let body = r#"{"model":7,"type":["x"],"usage":{"prompt_tokens":"3","completion_tokens":null,"prompt_tokens_details":5,"completion_tokens_details":{"reasoning_tokens":2.0},"extra":{"deep":[{"usage":{"prompt_tokens":99}}]}},"message":"text","x_groq":[1]}"#;
        let x = one("openai", "application/json", body);
        assert_eq!(x.model, None, "a model that is not a string");
        assert_eq!(x.usage.tokens_in, Some(3));
        assert_eq!(
            x.usage.tokens_out, None,
            "completion present without a number"
        );
        assert_eq!(x.usage.cached_tokens_in, None);
        assert_eq!(x.usage.reasoning_tokens, Some(2));
        // A repeated name: the last one wins.
        let body =
            r#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":4,"completion_tokens":5}}"#;
        let x = one("openai", "application/json", body);
        assert_eq!((x.usage.tokens_in, x.usage.tokens_out), (Some(4), Some(5)));
    }

    #[test]
    fn usage_key_detection() {
        assert!(has_usage_object(br#"{"usage": {"a":1}}"#));
        assert!(has_usage_object(br#"{"usageMetadata":{"a":1}}"#));
        assert!(!has_usage_object(br#"{"usage":null}"#));
        assert!(!has_usage_object(br#"{"text":"\"usage\": {"}"#));
        assert!(!has_usage_object(br#"{"usages":{}}"#));
        assert!(!has_usage_object(br#""usage"#));
    }

    #[test]
    fn model_scan() {
        assert_eq!(
            scan_first_model(br#"{"data":[1,2],"model" : "text-embedding-3-small","usage":{"#)
                .as_deref(),
            Some("text-embedding-3-small")
        );
        assert_eq!(scan_first_model(br#"{"model":"#), None);
        assert_eq!(
            scan_first_model(br#"[{"modelVersion":"gemini-2.5-flash""#).as_deref(),
            Some("gemini-2.5-flash")
        );
    }
}

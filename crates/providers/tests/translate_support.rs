//! Shared helpers of the `translate_*` suites: fixtures, stream driving in chosen chunk
//! splits, and normalisation of the values that depend on the clock (`created`).
//!
//! Included by the suites as a module; compiled on its own too, where it has no tests.
#![allow(dead_code, unused_macros)]

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_providers::sse::SseParser;
use switchyard_providers::translate::{
    request, response, Dialect, Endpoint, Options, Reply, StreamTranslator, TranslateError,
    Upstream,
};

pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// `created` set to 0 wherever it appears (it is the translator's clock).
pub fn normalize(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(c) = m.get_mut("created") {
                    *c = Value::from(0);
                }
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// A chat request translated with the default options.
fn chat_request(
    client: Dialect,
    provider: Dialect,
    body: &[u8],
    model: &str,
) -> Result<Upstream, TranslateError> {
    request(
        Endpoint::Chat,
        client,
        provider,
        body,
        model,
        &Options::default(),
    )
}

/// Translates a request, panicking on refusal.
pub fn req(client: Dialect, provider: Dialect, path: &str, model: &str) -> Upstream {
    chat_request(client, provider, &fixture(path), model)
        .unwrap_or_else(|e| panic!("{path}: refused: {e}"))
}

/// Translates a whole answer: (status, normalised JSON body).
pub fn resp(
    client: Dialect,
    provider: Dialect,
    status: u16,
    path: &str,
    model: &str,
) -> (u16, Value) {
    let (status, body) = response(
        Endpoint::Chat,
        client,
        provider,
        status,
        &fixture(path),
        model,
        Reply::default(),
    );
    (status, normalize(json(&body)))
}

/// One output event: its `event:` name and its data (JSON normalised, or the raw text).
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Json(Option<String>, Value),
    Text(Option<String>, String),
}

impl Out {
    pub fn value(&self) -> &Value {
        match self {
            Out::Json(_, v) => v,
            Out::Text(_, t) => panic!("not JSON: {t}"),
        }
    }
}

/// Parses the translator's output bytes back into events.
pub fn events(bytes: &[u8]) -> Vec<Out> {
    let mut p = SseParser::new();
    let mut out: Vec<Out> = p
        .feed(bytes)
        .map(|e| match serde_json::from_str::<Value>(&e.data) {
            Ok(v) => Out::Json(e.event, normalize(v)),
            Err(_) => Out::Text(e.event, e.data),
        })
        .collect();
    assert!(p.finish().is_none(), "output ends inside an event");
    out.shrink_to_fit();
    out
}

/// Feeds `input` cut at `cuts` (sorted offsets) and returns the concatenated output.
pub fn run_stream(
    client: Dialect,
    provider: Dialect,
    model: &str,
    include_usage: bool,
    input: &[u8],
    cuts: &[usize],
) -> Vec<u8> {
    run_stream_with(
        client,
        provider,
        model,
        include_usage,
        Default::default(),
        input,
        cuts,
    )
}

/// [`run_stream`] with the request's [`switchyard_providers::translate::Reply`].
pub fn run_stream_with(
    client: Dialect,
    provider: Dialect,
    model: &str,
    include_usage: bool,
    reply: switchyard_providers::translate::Reply,
    input: &[u8],
    cuts: &[usize],
) -> Vec<u8> {
    let mut t = StreamTranslator::new(client, provider, model, include_usage, reply);
    let mut out: Vec<Bytes> = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        let c = c.clamp(at, input.len());
        out.extend(t.feed(&input[at..c]));
        at = c;
    }
    out.extend(t.finish());
    // Nothing after the end.
    assert!(t.finish().is_empty());
    assert!(t.feed(b"data: {}\n\n").is_empty());
    out.concat()
}

/// A small deterministic generator for chunk boundaries.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Random sorted cut points in `0..len`.
    pub fn cuts(&mut self, len: usize) -> Vec<usize> {
        let count = self.below(len / 4 + 2);
        let mut c: Vec<usize> = (0..count).map(|_| self.below(len + 1)).collect();
        c.sort_unstable();
        c
    }
}

/// The stream's events, checked to be the same whole, byte by byte and in random splits.
pub fn stream(
    client: Dialect,
    provider: Dialect,
    path: &str,
    model: &str,
    include_usage: bool,
) -> Vec<Out> {
    let input = fixture(path);
    let whole = events(&run_stream(
        client,
        provider,
        model,
        include_usage,
        &input,
        &[],
    ));
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        events(&run_stream(
            client,
            provider,
            model,
            include_usage,
            &input,
            &bytewise
        )),
        whole,
        "{path}: byte by byte"
    );
    let mut rng = Rng::new(input.len() as u64);
    for round in 0..40 {
        let cuts = rng.cuts(input.len());
        assert_eq!(
            events(&run_stream(
                client,
                provider,
                model,
                include_usage,
                &input,
                &cuts
            )),
            whole,
            "{path}: random split {round} at {cuts:?}"
        );
    }
    whole
}

/// OpenAI output: the data objects, then whether it ended with `[DONE]`.
pub fn openai_chunks(out: &[Out]) -> (Vec<Value>, bool) {
    let done = matches!(out.last(), Some(Out::Text(None, t)) if t == "[DONE]");
    let n = out.len() - usize::from(done);
    (out[..n].iter().map(|o| o.value().clone()).collect(), done)
}

/// Anthropic output: `(event name, data)` pairs, checking each name equals the data's type.
pub fn anthropic_events(out: &[Out]) -> Vec<(String, Value)> {
    out.iter()
        .map(|o| match o {
            Out::Json(Some(name), v) => {
                assert_eq!(v["type"], Value::from(name.as_str()), "event name vs type");
                (name.clone(), v.clone())
            }
            other => panic!("not an Anthropic event: {other:?}"),
        })
        .collect()
}

/// The text an OpenAI stream carries for choice 0.
pub fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

// ---- The conformance suite: the cases every direction implements, and shared builders. ----

/// One client → provider direction and what each case of the conformance suite looks like
/// there: every direction implements every case, and [`conformance!`] turns them into tests.
pub trait Direction {
    fn simple();
    fn multi_turn();
    fn system_prompt();
    fn stream();
    fn tool_round_trip();
    fn json_mode();
    fn image_input();
    fn provider_error();
    fn rate_limited();
    fn usage();
}

macro_rules! conformance {
    ($name:ident, $dir:ty) => {
        mod $name {
            use super::*;
            #[test]
            fn simple() {
                <$dir>::simple()
            }
            #[test]
            fn multi_turn() {
                <$dir>::multi_turn()
            }
            #[test]
            fn system_prompt() {
                <$dir>::system_prompt()
            }
            #[test]
            fn stream() {
                <$dir>::stream()
            }
            #[test]
            fn tool_round_trip() {
                <$dir>::tool_round_trip()
            }
            #[test]
            fn json_mode() {
                <$dir>::json_mode()
            }
            #[test]
            fn image_input() {
                <$dir>::image_input()
            }
            #[test]
            fn provider_error() {
                <$dir>::provider_error()
            }
            #[test]
            fn rate_limited() {
                <$dir>::rate_limited()
            }
            #[test]
            fn usage() {
                <$dir>::usage()
            }
        }
    };
}

/// A request translated from a JSON value, panicking on refusal.
pub fn upstream_of(client: Dialect, provider: Dialect, body: &Value, model: &str) -> Upstream {
    let bytes = serde_json::to_vec(body).expect("serialisable");
    chat_request(client, provider, &bytes, model).unwrap_or_else(|e| panic!("{body}: refused: {e}"))
}

/// A request body translated from a JSON value (for round trips built in the test).
pub fn req_value(client: Dialect, provider: Dialect, body: &Value, model: &str) -> Value {
    json(&upstream_of(client, provider, body, model).body)
}

/// A whole 200 answer translated for the client, with the request's `reply`; the status must
/// stay 200.
pub fn answer_with(client: Dialect, provider: Dialect, body: &Value, reply: Reply) -> Value {
    let bytes = serde_json::to_vec(body).expect("serialisable");
    let (status, out) = response(Endpoint::Chat, client, provider, 200, &bytes, "m", reply);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    json(&out)
}

pub fn refused(client: Dialect, provider: Dialect, body: &Value, model: &str) -> (String, Value) {
    let bytes = serde_json::to_vec(body).expect("serialisable");
    let e = chat_request(client, provider, &bytes, model).expect_err("must be refused");
    assert_eq!(e.status, 400);
    (e.param.clone().unwrap_or_default(), json(&e.body(client)))
}

pub fn status_and_body(
    client: Dialect,
    provider: Dialect,
    status: u16,
    bytes: &[u8],
) -> (u16, Value) {
    let (s, b) = response(
        Endpoint::Chat,
        client,
        provider,
        status,
        bytes,
        "m",
        Reply::default(),
    );
    (s, json(&b))
}

pub const WEATHER_SCHEMA: &str = r#"{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}"#;

pub fn weather_schema() -> Value {
    serde_json::from_str(WEATHER_SCHEMA).expect("valid")
}

pub fn gemini_weather_decl() -> Value {
    json!({"name": "get_weather", "description": "Get the current weather in a given location",
        "parameters": {"type": "OBJECT", "properties": {
            "location": {"type": "STRING", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]}},
            "required": ["location"]}})
}

pub const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
pub const ANT_URL: &str =
    "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg";

/// An OpenAI chunk as the translators write it (with `created` normalised to 0).
pub fn chunk(
    id: &str,
    model: &str,
    delta: Value,
    finish: Option<&str>,
    usage_field: bool,
) -> Value {
    let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    if usage_field {
        c["usage"] = Value::Null;
    }
    c
}

pub fn usage_chunk(id: &str, model: &str, usage: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [], "usage": usage})
}

pub fn completion(id: &str, model: &str, message: Value, finish: &str, usage: Value) -> Value {
    json!({"id": id, "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage})
}

pub fn anthropic_message(
    id: &str,
    model: &str,
    content: Value,
    stop: &str,
    usage: [u64; 3],
) -> Value {
    json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": usage[0], "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": usage[1], "output_tokens": usage[2]}})
}

pub fn anthropic_usage(input: u64, cached: u64, output: u64) -> Value {
    json!({"input_tokens": input, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached, "output_tokens": output})
}

/// The Anthropic event sequence of a text answer built from chunks; `start_input` is the input
/// count `message_start` can give (known up front from Gemini, not from OpenAI-shaped streams).
pub fn anthropic_text_events(
    id: &str,
    model: &str,
    texts: &[&str],
    stop: &str,
    start_input: u64,
    usage: Value,
) -> Vec<(String, Value)> {
    let mut ev = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": id, "type": "message",
            "role": "assistant", "model": model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": anthropic_usage(start_input, 0, 0)}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for t in texts {
        ev.push(self::ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": t}}),
        ));
    }
    ev.push(self::ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    ev.push(self::ev(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
    ));
    ev.push(self::ev("message_stop", json!({"type": "message_stop"})));
    ev
}

pub fn ev(name: &str, v: Value) -> (String, Value) {
    (name.to_owned(), v)
}

pub fn tool_use_events(block: u64, id: &str, name: &str, parts: &[&str]) -> Vec<(String, Value)> {
    let mut out = vec![ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": block,
        "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
    )];
    for p in parts {
        out.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": block,
            "delta": {"type": "input_json_delta", "partial_json": p}}),
        ));
    }
    out.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": block}),
    ));
    out
}

/// OpenAI chunks as an SSE body ending with `[DONE]`.
pub fn openai_sse(chunks: &[Value]) -> String {
    chunks
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect::<String>()
        + "data: [DONE]\n\n"
}

//! The deterministic answer every format shares: reply text and its
//! chunks (and where a request's stop sequences or token limit cut them),
//! token usage and cost, ids, timestamps, tool-call arguments and sample
//! values for a JSON schema.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::script::Script;

/// The default reply, one chunk per word: "Hello from the fake provider."
pub(crate) const WORDS: [&str; 5] = ["Hello", " from", " the", " fake", " provider."];
/// Filler used to pad chunks up to `chunk_bytes`.
const FILLER: &str = " lorem ipsum dolor sit amet";

/// Cost per token in ticks (1 USD = 10^10 ticks) at grok-4-fast prices:
/// $0.20 input, $0.05 cached input, $0.50 output per 1M tokens.
const TICKS_PER_INPUT_TOKEN: u64 = 2_000;
const TICKS_PER_CACHED_TOKEN: u64 = 500;
const TICKS_PER_OUTPUT_TOKEN: u64 = 5_000;

/// System fingerprint reported on every chat completion.
pub(crate) const FINGERPRINT: &str = "fp_fa4e5d1c3b";

/// How many chunks to produce and how big each is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContentPlan {
    pub(crate) chunks: usize,
    pub(crate) chunk_bytes: usize,
}

impl ContentPlan {
    pub(crate) fn from_script(script: &Script) -> Self {
        Self {
            chunks: script.chunks.unwrap_or(WORDS.len()),
            chunk_bytes: script.chunk_bytes.unwrap_or(0),
        }
    }

    /// Text of chunk `i`: the next word of the reply (cycling), padded to
    /// `chunk_bytes` with ASCII filler.
    pub(crate) fn chunk(&self, i: usize) -> String {
        let word = match i {
            0 => WORDS[0],
            _ if i % WORDS.len() == 0 => " Hello",
            _ => WORDS[i % WORDS.len()],
        };
        if self.chunk_bytes <= word.len() {
            return word.to_owned();
        }
        let mut text = String::with_capacity(self.chunk_bytes);
        text.push_str(word);
        while text.len() < self.chunk_bytes {
            let missing = self.chunk_bytes - text.len();
            // FILLER is ASCII, so any byte index is a char boundary.
            text.push_str(&FILLER[..missing.min(FILLER.len())]);
        }
        text
    }

    /// The whole reply: all chunks concatenated.
    pub(crate) fn full_text(&self) -> String {
        (0..self.chunks).map(|i| self.chunk(i)).collect()
    }
}

/// The chunks actually sent: the plan's own (produced lazily, so huge
/// scripted streams cost nothing up front), or a fixed list when the text
/// is not the plan's (a JSON answer) or a stop sequence cut it.
#[derive(Debug, Clone)]
pub(crate) struct Chunks {
    plan: ContentPlan,
    fixed: Option<Vec<String>>,
    len: usize,
}

impl Chunks {
    pub(crate) fn new(plan: ContentPlan) -> Self {
        Self {
            plan,
            fixed: None,
            len: plan.chunks,
        }
    }

    /// `text` cut into `pieces` nearly equal pieces on character
    /// boundaries (fewer when the text is shorter; none for 0).
    pub(crate) fn from_text(plan: ContentPlan, text: &str, pieces: usize) -> Self {
        let mut fixed = Vec::with_capacity(pieces.min(text.len()));
        if pieces > 0 && !text.is_empty() {
            let size = text.len().div_ceil(pieces).max(1);
            let mut start = 0;
            while start < text.len() {
                let mut end = (start + size).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                fixed.push(text[start..end].to_owned());
                start = end;
            }
        }
        Self {
            plan,
            len: fixed.len(),
            fixed: Some(fixed),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Chunk `i` (below [`Chunks::len`]).
    pub(crate) fn chunk(&self, i: usize) -> String {
        match &self.fixed {
            Some(fixed) => fixed.get(i).cloned().unwrap_or_default(),
            None => self.plan.chunk(i),
        }
    }

    pub(crate) fn full_text(&self) -> String {
        (0..self.len).map(|i| self.chunk(i)).collect()
    }

    /// Cuts the text right before the earliest of `stops` (the first listed
    /// wins a tie; empty ones are ignored), as a model stops generating
    /// there. Returns the stop sequence that matched.
    pub(crate) fn stop_at(self, stops: &[String]) -> (Self, Option<String>) {
        if stops.iter().all(String::is_empty) {
            return (self, None);
        }
        let full = self.full_text();
        let found = stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| full.find(s.as_str()).map(|at| (at, s)))
            .min_by_key(|(at, _)| *at);
        let Some((at, stop)) = found else {
            return (self, None);
        };
        let mut kept = Vec::new();
        let mut start = 0;
        for i in 0..self.len {
            let text = self.chunk(i);
            let end = start + text.len();
            if end <= at {
                kept.push(text);
            } else {
                // `at` is a char boundary of the whole text, and chunk
                // starts are too, so this slice is valid.
                if start < at {
                    kept.push(text[..at - start].to_owned());
                }
                break;
            }
            start = end;
        }
        let cut = Self {
            plan: self.plan,
            len: kept.len(),
            fixed: Some(kept),
        };
        (cut, Some(stop.clone()))
    }

    /// Keeps at most `max` chunks (one chunk is one token here); true when
    /// that cut the reply.
    pub(crate) fn limit(mut self, max: Option<u64>) -> (Self, bool) {
        let max = max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        if self.len <= max {
            return (self, false);
        }
        self.len = max;
        if let Some(fixed) = &mut self.fixed {
            fixed.truncate(max);
        }
        (self, true)
    }

    /// Output tokens: one per chunk.
    pub(crate) fn tokens(&self) -> u64 {
        u64::try_from(self.len).unwrap_or(u64::MAX)
    }
}

/// Token counts and cost of one answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Prompt tokens, cached (read and written) included.
    pub(crate) prompt: u64,
    /// Of which read from the cache.
    pub(crate) cached: u64,
    /// Of which written to the cache (Anthropic's cache creation).
    pub(crate) cache_creation: u64,
    /// Visible output tokens.
    pub(crate) completion: u64,
    pub(crate) reasoning: u64,
    pub(crate) cost_ticks: u64,
}

impl Usage {
    /// Defaults (prompt = words in the request, completion = the output
    /// tokens given, usually one per chunk), overridden field by field by
    /// the script.
    pub(crate) fn resolve_tokens(prompt_words: u64, completion: u64, script: &Script) -> Self {
        let over = script.usage.clone().unwrap_or_default();
        let prompt = over.prompt_tokens.unwrap_or(prompt_words.max(1));
        let cached = over.cached_tokens.unwrap_or(0);
        let cache_creation = over.cache_creation_tokens.unwrap_or(0);
        let completion = over.completion_tokens.unwrap_or(completion);
        let reasoning = over.reasoning_tokens.unwrap_or(0);
        let cost_ticks = over.cost_in_usd_ticks.unwrap_or_else(|| {
            prompt.saturating_sub(cached) * TICKS_PER_INPUT_TOKEN
                + cached * TICKS_PER_CACHED_TOKEN
                + (completion + reasoning) * TICKS_PER_OUTPUT_TOKEN
        });
        Self {
            prompt,
            cached,
            cache_creation,
            completion,
            reasoning,
            cost_ticks,
        }
    }
}

/// Whitespace-separated words, the fake's notion of tokens.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A bare UUID-shaped id, as xAI uses for completions.
pub(crate) fn uuid(bits: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for nibble in 0..32 {
        if matches!(nibble, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        let value = (bits >> (124 - 4 * nibble)) & 0xf;
        id.push(char::from(HEX[value as usize]));
    }
    id
}

/// An Anthropic-style id: `prefix` + "01" + 22 base-62 characters.
pub(crate) fn anthropic_id(prefix: &str, mut bits: u128) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(prefix.len() + 24);
    id.push_str(prefix);
    id.push_str("01");
    for _ in 0..22 {
        id.push(char::from(ALPHABET[(bits % 62) as usize]));
        bits /= 62;
    }
    id
}

/// An OpenAI-style tool call id (`call_` + 8 digits).
pub(crate) fn call_id(serial: u64) -> String {
    let mut id = String::from("call_");
    let _ = write!(id, "{:08}", serial % 100_000_000);
    id
}

/// Arguments that fit a JSON schema's top-level properties: "fake" for
/// strings, 1 for numbers, true, [] and {} for the rest.
pub(crate) fn arguments_for(schema: Option<&Value>) -> Map<String, Value> {
    let mut args = Map::new();
    let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return args;
    };
    for (name, spec) in properties {
        let kind = spec.get("type").and_then(|t| match t {
            Value::String(s) => Some(s.as_str()),
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .find(|s| !s.eq_ignore_ascii_case("null")),
            _ => None,
        });
        // Gemini's schema spells types in capitals ("STRING").
        let kind = kind.map(str::to_ascii_lowercase);
        let value = match (spec.get("enum").and_then(|e| e.get(0)), kind.as_deref()) {
            (Some(first), _) => first.clone(),
            (None, Some("integer" | "number")) => Value::from(1),
            (None, Some("boolean")) => Value::Bool(true),
            (None, Some("array")) => Value::Array(Vec::new()),
            (None, Some("object")) => Value::Object(Map::new()),
            (None, Some("null")) => Value::Null,
            (None, _) => Value::String("fake".to_owned()),
        };
        args.insert(name.clone(), value);
    }
    args
}

/// A value that satisfies a JSON schema (or Gemini's OpenAPI subset), for
/// structured-output answers: objects get their `required` properties (all
/// properties when no `required` list is given), arrays `minItems`
/// elements, strings "fake" (or a value of their `format`), numbers 1 (or
/// their `minimum`), booleans true; `const`, the first `enum` value and the
/// first non-null `anyOf`/`oneOf` branch win. Depth is bounded.
pub(crate) fn sample_for(schema: &Value) -> Value {
    sample_at(schema, 0)
}

fn sample_at(schema: &Value, depth: usize) -> Value {
    const MAX_DEPTH: usize = 8;
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    let branch = ["anyOf", "oneOf", "any_of", "one_of"]
        .iter()
        .filter_map(|key| schema.get(key).and_then(Value::as_array))
        .flatten()
        .find(|b| schema_type(b).is_none_or(|t| t != "null"));
    if let Some(branch) = branch {
        return sample_at(branch, depth + 1);
    }
    let kind = schema_type(schema).or_else(|| {
        schema
            .get("properties")
            .is_some()
            .then(|| "object".to_owned())
    });
    match kind.as_deref() {
        Some("object") => {
            let mut out = Map::new();
            if depth >= MAX_DEPTH {
                return Value::Object(out);
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let required: Option<Vec<&str>> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect());
            if let Some(properties) = properties {
                for (name, spec) in properties {
                    if required.as_ref().is_none_or(|r| r.contains(&name.as_str())) {
                        out.insert(name.clone(), sample_at(spec, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        Some("array") => {
            let min = schema
                .get("minItems")
                .or_else(|| schema.get("min_items"))
                .and_then(number)
                .unwrap_or(0)
                .min(8);
            let items = schema.get("items").unwrap_or(&Value::Null);
            let one = if depth >= MAX_DEPTH {
                Value::Null
            } else {
                sample_at(items, depth + 1)
            };
            Value::Array(vec![one; usize::try_from(min).unwrap_or(0)])
        }
        Some("integer" | "number") => {
            let min = schema.get("minimum").and_then(number).unwrap_or(1).max(1);
            Value::from(min)
        }
        Some("boolean") => Value::Bool(true),
        Some("null") => Value::Null,
        _ => {
            let text = match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => "2025-01-01T00:00:00Z",
                Some("date") => "2025-01-01",
                Some("time") => "00:00:00",
                Some("email") => "fake@example.com",
                Some("uri" | "url") => "https://example.com/fake",
                Some("uuid") => "00000000-0000-4000-8000-000000000000",
                _ => "fake",
            };
            Value::String(text.to_owned())
        }
    }
}

/// A schema's `type`, lowercased; the first non-null one of a list.
fn schema_type(schema: &Value) -> Option<String> {
    let kind = match schema.get("type")? {
        Value::String(s) => Some(s.as_str()),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .find(|s| !s.eq_ignore_ascii_case("null")),
        _ => None,
    };
    kind.map(str::to_ascii_lowercase)
}

/// A non-negative integer, also when sent as a string (proto JSON allows
/// int64 values as strings).
pub(crate) fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Embedding dimensions when the request names none.
pub(crate) const EMBEDDING_DIMENSIONS: usize = 8;
/// The most dimensions a request may ask for (OpenAI's and Gemini's
/// largest models have 3072).
pub(crate) const MAX_EMBEDDING_DIMENSIONS: usize = 3072;

/// The JSON object a model in JSON mode answers without a schema:
/// `{"answer": "<the reply text>"}`.
pub(crate) fn json_answer(plan: ContentPlan) -> Value {
    let mut object = Map::new();
    object.insert("answer".to_owned(), Value::String(plan.full_text()));
    Value::Object(object)
}

/// A deterministic unit vector for `text`: equal texts get equal vectors,
/// in every API.
pub(crate) fn embedding(text: &str, dimensions: usize) -> Vec<f32> {
    // FNV-1a, then one splitmix64 draw per dimension.
    let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let raw: Vec<f64> = (0..dimensions as u64)
        .map(|i| {
            let bits = crate::state::splitmix64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            // 53 random bits into [-1, 1).
            (bits >> 11) as f64 / (1_u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    raw.iter()
        .map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 })
        .collect()
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_spells_the_reply() {
        let plan = ContentPlan {
            chunks: 5,
            chunk_bytes: 0,
        };
        assert_eq!(plan.full_text(), "Hello from the fake provider.");
        let long = ContentPlan {
            chunks: 7,
            chunk_bytes: 0,
        };
        assert_eq!(long.chunk(5), " Hello");
        assert_eq!(long.chunk(6), " from");
    }

    #[test]
    fn chunks_are_padded_to_size() {
        let plan = ContentPlan {
            chunks: 3,
            chunk_bytes: 100,
        };
        for i in 0..3 {
            assert_eq!(plan.chunk(i).len(), 100);
        }
    }

    #[test]
    fn cost_matches_a_recorded_xai_vector() {
        // grok-4-fast-reasoning: P 165, cached 156, C 2, R 125 -> 731000 ticks.
        let script = Script::new().usage(crate::ScriptUsage {
            prompt_tokens: Some(165),
            cached_tokens: Some(156),
            cache_creation_tokens: None,
            completion_tokens: Some(2),
            reasoning_tokens: Some(125),
            cost_in_usd_ticks: None,
        });
        assert_eq!(Usage::resolve_tokens(1, 5, &script).cost_ticks, 731_000);
    }

    #[test]
    fn stop_sequences_and_limits_cut_the_chunks() {
        let plan = ContentPlan {
            chunks: 5,
            chunk_bytes: 0,
        };
        let (cut, stop) = Chunks::new(plan).stop_at(&["xyz".to_owned(), "fake".to_owned()]);
        assert_eq!(stop.as_deref(), Some("fake"));
        assert_eq!(cut.full_text(), "Hello from the ");
        assert_eq!(cut.len(), 4);
        let (same, stop) = Chunks::new(plan).stop_at(&["nope".to_owned()]);
        assert_eq!((same.len(), stop), (5, None));
        let (short, cut) = Chunks::new(plan).limit(Some(2));
        assert!(cut);
        assert_eq!(short.full_text(), "Hello from");
        let pieces = Chunks::from_text(plan, "{\"a\":\"é\"}", 3);
        assert_eq!(pieces.full_text(), "{\"a\":\"é\"}");
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn samples_fill_required_properties() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 18},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "kind": {"enum": ["a", "b"]},
                "when": {"type": ["string", "null"], "format": "date"},
                "optional": {"type": "boolean"}
            },
            "required": ["name", "age", "tags", "kind", "when"]
        });
        assert_eq!(
            sample_for(&schema),
            serde_json::json!({"name": "fake", "age": 18, "tags": ["fake"], "kind": "a", "when": "2025-01-01"})
        );
        let gemini = serde_json::json!({"type": "OBJECT", "properties": {"n": {"type": "NUMBER"}}});
        assert_eq!(sample_for(&gemini), serde_json::json!({"n": 1}));
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding("hello", 8);
        assert_eq!(a, embedding("hello", 8));
        assert_ne!(a, embedding("hello!", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), encoded);
        }
    }

    #[test]
    fn ids_have_the_expected_shape() {
        let id = uuid(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(id, "01234567-89ab-cdef-0123-456789abcdef");
        let msg = anthropic_id("msg_", u128::MAX);
        assert!(msg.starts_with("msg_01"));
        assert_eq!(msg.len(), 28);
        assert_eq!(call_id(42), "call_00000042");
    }
}

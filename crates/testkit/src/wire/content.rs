//! The deterministic answer every format shares: reply text and its
//! chunks, token usage and cost, ids, timestamps and tool-call arguments.

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

/// Token counts and cost of one answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Prompt tokens, cached included.
    pub(crate) prompt: u64,
    pub(crate) cached: u64,
    /// Visible output tokens.
    pub(crate) completion: u64,
    pub(crate) reasoning: u64,
    pub(crate) cost_ticks: u64,
}

impl Usage {
    /// Defaults (prompt = words in the request, completion = chunks),
    /// overridden field by field by the script.
    pub(crate) fn resolve(prompt_words: u64, plan: ContentPlan, script: &Script) -> Self {
        let over = script.usage.clone().unwrap_or_default();
        let prompt = over.prompt_tokens.unwrap_or(prompt_words.max(1));
        let cached = over.cached_tokens.unwrap_or(0);
        let completion = over
            .completion_tokens
            .unwrap_or(u64::try_from(plan.chunks).unwrap_or(u64::MAX));
        let reasoning = over.reasoning_tokens.unwrap_or(0);
        let cost_ticks = over.cost_in_usd_ticks.unwrap_or_else(|| {
            prompt.saturating_sub(cached) * TICKS_PER_INPUT_TOKEN
                + cached * TICKS_PER_CACHED_TOKEN
                + (completion + reasoning) * TICKS_PER_OUTPUT_TOKEN
        });
        Self {
            prompt,
            cached,
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
            Value::Array(list) => list.iter().filter_map(Value::as_str).find(|s| *s != "null"),
            _ => None,
        });
        let value = match (spec.get("enum").and_then(|e| e.get(0)), kind) {
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
            completion_tokens: Some(2),
            reasoning_tokens: Some(125),
            cost_in_usd_ticks: None,
        });
        let plan = ContentPlan::from_script(&script);
        assert_eq!(Usage::resolve(1, plan, &script).cost_ticks, 731_000);
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

//! The parts of an answer that carry usage or the model, read straight from JSON into plain
//! structs: no map of the whole answer (or of the usage object) is built, and fields nobody
//! reads (choices, content, candidates) are skipped by the parser.
//!
//! Every reader is lenient the way looking fields up in a parsed `Value` is: a field of an
//! unexpected type reads as absent (or, for a count, as present without a number) instead
//! of failing the whole answer; when a name repeats, the last one wins.
//!
//! A body that is a list of answers (Gemini's JSON-array stream) is read element by element
//! ([`each_answer`]), each handed on as soon as it is read: the memory is that of one
//! element, however long the list (a small gzip body can inflate to a list of millions).

use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::fmt;

/// One answer object: a JSON body, a stream event's data or an element of a JSON array.
#[derive(Debug, Default)]
pub(super) struct Answer {
    /// `model` if present (`Some(None)` when it is not a string), else absent.
    pub model: Option<Option<String>>,
    pub model_version: Option<Option<String>>,
    /// `type`, when a string.
    pub kind: Option<String>,
    pub usage: Option<Box<Counts>>,
    pub usage_metadata: Option<Box<Counts>>,
    pub message: Option<Nested>,
    pub response: Option<Nested>,
    pub x_groq: Option<Nested>,
    /// Workers AI's envelope: `result.usage`.
    pub result: Option<Nested>,
    /// Cohere v2's `message-end` stream event: `delta.usage`.
    pub delta: Option<Nested>,
    /// Cohere's v1 answers: `meta.billed_units` / `meta.tokens`.
    pub meta: Option<Box<Counts>>,
    /// Replicate's predictions: `metrics.input_token_count` / `output_token_count`.
    pub metrics: Option<Box<Counts>>,
}

/// A nested object that may name the model or hold usage (`message`, `response`, `x_groq`,
/// `result`, `delta`).
#[derive(Debug, Default)]
pub(super) struct Nested {
    pub model: Option<Option<String>>,
    pub model_version: Option<Option<String>>,
    pub usage: Option<Box<Counts>>,
    /// Cohere v1's `stream-end` event: `response.meta`.
    pub meta: Option<Box<Counts>>,
}

/// A usage object's counts under every name a supported wire format uses. The outer
/// `Option` is whether the name was there, the inner one whether it held a count.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    // OpenAI Chat Completions (and compatible).
    pub prompt_tokens: Option<Option<u64>>,
    pub completion_tokens: Option<Option<u64>>,
    pub total_tokens: Option<Option<u64>>,
    /// `prompt_tokens_details.cached_tokens`.
    pub prompt_cached: Option<u64>,
    /// `completion_tokens_details.reasoning_tokens`.
    pub completion_reasoning: Option<u64>,
    pub prompt_cache_hit_tokens: Option<Option<u64>>,
    pub reasoning_tokens: Option<Option<u64>>,
    pub cost_in_usd_ticks: Option<Option<u64>>,
    /// A bill in USD: OpenRouter's `cost` (a number), Perplexity's `cost.total_cost`.
    pub cost_usd: Option<f64>,
    // Responses API and Anthropic.
    pub input_tokens: Option<Option<u64>>,
    pub output_tokens: Option<Option<u64>>,
    /// `input_tokens_details.cached_tokens`.
    pub input_cached: Option<u64>,
    /// `output_tokens_details.reasoning_tokens`.
    pub output_reasoning: Option<u64>,
    pub cache_read_input_tokens: Option<Option<u64>>,
    pub cache_creation_input_tokens: Option<Option<u64>>,
    /// `cache_creation.ephemeral_1h_input_tokens`.
    pub cache_creation_1h: Option<u64>,
    // Gemini `usageMetadata`.
    pub prompt_token_count: Option<Option<u64>>,
    pub tool_use_prompt_token_count: Option<Option<u64>>,
    pub total_token_count: Option<Option<u64>>,
    pub candidates_token_count: Option<Option<u64>>,
    pub cached_content_token_count: Option<Option<u64>>,
    pub thoughts_token_count: Option<Option<u64>>,
    // Bedrock Converse (`inputTokens` leaves out cache reads and writes, as Anthropic's does).
    pub converse_input: Option<Option<u64>>,
    pub converse_output: Option<Option<u64>>,
    pub converse_cache_read: Option<Option<u64>>,
    pub converse_cache_write: Option<Option<u64>>,
    // Cohere: `billed_units` (what is charged) and `tokens` (everything the model saw).
    pub billed_units: Option<Units>,
    pub tokens: Option<Units>,
}

/// Cohere's `billed_units` or `tokens`: input and output counts.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Units {
    pub input: Option<u64>,
    pub output: Option<u64>,
}

/// `*_tokens_details`: the two counts read from it.
#[derive(Debug, Default)]
struct Details {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    /// Anthropic's `cache_creation` object.
    ephemeral_1h_input_tokens: Option<u64>,
}

/// Visitor methods that answer `$out` for the listed kinds of JSON value (maps and arrays
/// are read through and ignored).
macro_rules! answer_with {
    ($out:expr; $($kind:ident)*) => { $( answer_with!(@one $out; $kind); )* };
    (@one $out:expr; bool) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> { Ok($out) }
    };
    (@one $out:expr; i64) => {
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> { Ok($out) }
    };
    (@one $out:expr; u64) => {
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> { Ok($out) }
    };
    (@one $out:expr; f64) => {
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> { Ok($out) }
    };
    (@one $out:expr; str) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> { Ok($out) }
    };
    (@one $out:expr; unit) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> { Ok($out) }
        fn visit_none<E>(self) -> Result<Self::Value, E> { Ok($out) }
    };
    (@one $out:expr; seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($out)
        }
    };
    (@one $out:expr; map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($out)
        }
    };
}

/// Every field name read anywhere; the rest are skipped unread.
enum Key {
    Model,
    ModelVersion,
    Type,
    Usage,
    UsageMetadata,
    Message,
    Response,
    XGroq,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    PromptTokensDetails,
    CompletionTokensDetails,
    PromptCacheHitTokens,
    ReasoningTokens,
    CostInUsdTicks,
    Cost,
    TotalCost,
    InputTokens,
    OutputTokens,
    InputTokensDetails,
    OutputTokensDetails,
    CacheReadInputTokens,
    CacheCreationInputTokens,
    PromptTokenCount,
    ToolUsePromptTokenCount,
    TotalTokenCount,
    CandidatesTokenCount,
    CachedContentTokenCount,
    ThoughtsTokenCount,
    ConverseInput,
    ConverseOutput,
    ConverseCacheRead,
    ConverseCacheWrite,
    CachedTokens,
    CacheCreation,
    Ephemeral1hInputTokens,
    Result,
    Delta,
    Meta,
    Metrics,
    BilledUnits,
    Tokens,
    InputTokenCount,
    OutputTokenCount,
    Other,
}

impl Key {
    fn of(name: &str) -> Key {
        match name {
            "model" => Key::Model,
            "modelVersion" => Key::ModelVersion,
            "type" => Key::Type,
            "usage" => Key::Usage,
            "usageMetadata" => Key::UsageMetadata,
            "message" => Key::Message,
            "response" => Key::Response,
            "x_groq" => Key::XGroq,
            "prompt_tokens" => Key::PromptTokens,
            "completion_tokens" => Key::CompletionTokens,
            "total_tokens" => Key::TotalTokens,
            "prompt_tokens_details" => Key::PromptTokensDetails,
            "completion_tokens_details" => Key::CompletionTokensDetails,
            "prompt_cache_hit_tokens" => Key::PromptCacheHitTokens,
            "reasoning_tokens" => Key::ReasoningTokens,
            "cost_in_usd_ticks" => Key::CostInUsdTicks,
            "cost" => Key::Cost,
            "total_cost" => Key::TotalCost,
            "input_tokens" => Key::InputTokens,
            "output_tokens" => Key::OutputTokens,
            "input_tokens_details" => Key::InputTokensDetails,
            "output_tokens_details" => Key::OutputTokensDetails,
            "cache_read_input_tokens" => Key::CacheReadInputTokens,
            "cache_creation_input_tokens" => Key::CacheCreationInputTokens,
            "cache_creation" => Key::CacheCreation,
            "ephemeral_1h_input_tokens" => Key::Ephemeral1hInputTokens,
            "promptTokenCount" => Key::PromptTokenCount,
            "toolUsePromptTokenCount" => Key::ToolUsePromptTokenCount,
            "totalTokenCount" => Key::TotalTokenCount,
            "candidatesTokenCount" => Key::CandidatesTokenCount,
            "cachedContentTokenCount" => Key::CachedContentTokenCount,
            "thoughtsTokenCount" => Key::ThoughtsTokenCount,
            "inputTokens" => Key::ConverseInput,
            "outputTokens" => Key::ConverseOutput,
            "cacheReadInputTokens" => Key::ConverseCacheRead,
            "cacheWriteInputTokens" => Key::ConverseCacheWrite,
            "cached_tokens" => Key::CachedTokens,
            "result" => Key::Result,
            "delta" => Key::Delta,
            "meta" => Key::Meta,
            "metrics" => Key::Metrics,
            "billed_units" => Key::BilledUnits,
            "tokens" => Key::Tokens,
            "input_token_count" => Key::InputTokenCount,
            "output_token_count" => Key::OutputTokenCount,
            _ => Key::Other,
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key::of(v))
            }
        }
        d.deserialize_identifier(V)
    }
}

/// An object type read field by field; any other JSON value reads as its default.
trait Fields: Default {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error>;
}

/// Reads `T` from an object, or `T::default()` from anything else.
struct Lenient<T>(T);

impl<'de, T: Fields> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Fields> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = T::default();
                while let Some(key) = map.next_key::<Key>()? {
                    out.field(key, &mut map)?;
                }
                Ok(Lenient(out))
            }
            answer_with!(Lenient(T::default()); bool i64 u64 f64 str unit seq);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A field present only when its value is an object (as `Value::as_object` would see it).
struct IfObject<T>(Option<T>);

impl<'de, T: Fields> Deserialize<'de> for IfObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Fields> Visitor<'de> for V<T> {
            type Value = IfObject<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let Lenient(inner) =
                    Lenient::<T>::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(IfObject(Some(inner)))
            }
            answer_with!(IfObject(None); bool i64 u64 f64 str unit seq);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Any JSON value: `Some` with the string when it is one.
struct StrValue(Option<String>);

impl<'de> Deserialize<'de> for StrValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<StrValue, E> {
                Ok(StrValue(Some(v.to_owned())))
            }
            answer_with!(StrValue(None); bool i64 u64 f64 unit seq map);
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value: `Some` with the count when it is a non-negative integer (integral floats
/// and digit strings tolerated).
pub(super) struct CountValue(pub Option<u64>);

impl<'de> Deserialize<'de> for CountValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CountValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<CountValue, E> {
                Ok(CountValue(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<CountValue, E> {
                Ok(CountValue(u64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<CountValue, E> {
                Ok(CountValue(float_count(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<CountValue, E> {
                Ok(CountValue(v.trim().parse().ok()))
            }
            answer_with!(CountValue(None); bool unit seq map);
        }
        d.deserialize_any(V)
    }
}

/// A usage object's `cost`: a non-negative amount of USD, or an object whose `total_cost` is
/// one; anything else reads as no bill.
struct CostValue(Option<f64>);

/// The one field read from a `cost` object.
#[derive(Default)]
struct CostObject {
    total_cost: Option<f64>,
}

impl Fields for CostObject {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::TotalCost => self.total_cost = map.next_value::<CostValue>()?.0,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for CostValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CostValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<CostValue, E> {
                Ok(CostValue(Some(v as f64)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<CostValue, E> {
                Ok(CostValue((v >= 0).then_some(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<CostValue, E> {
                Ok(CostValue((v.is_finite() && v >= 0.0).then_some(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CostValue, A::Error> {
                let Lenient(inner) = Lenient::<CostObject>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(CostValue(inner.total_cost))
            }
            answer_with!(CostValue(None); bool str unit seq);
        }
        d.deserialize_any(V)
    }
}

/// An integral, finite, non-negative float that fits a `u64`.
fn float_count(f: f64) -> Option<u64> {
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
}

/// Reads past a value nobody needs.
fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

fn count<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Option<u64>>, A::Error> {
    Ok(Some(map.next_value::<CountValue>()?.0))
}

fn string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Option<String>>, A::Error> {
    Ok(Some(map.next_value::<StrValue>()?.0))
}

fn object<'de, T: Fields, A: MapAccess<'de>>(map: &mut A) -> Result<Option<T>, A::Error> {
    Ok(map.next_value::<IfObject<T>>()?.0)
}

/// A usage object, read with its units folded in ([`Counts::with_units`]), on the heap: it is
/// large and most answers hold at most one, so an answer's struct stays small to move around.
fn boxed<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Box<Counts>>, A::Error> {
    Ok(object::<Counts, A>(map)?.map(|c| Box::new(c.with_units())))
}

impl Fields for Answer {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::Model => self.model = string(map)?,
            Key::ModelVersion => self.model_version = string(map)?,
            Key::Type => self.kind = map.next_value::<StrValue>()?.0,
            Key::Usage => self.usage = boxed(map)?,
            Key::UsageMetadata => self.usage_metadata = boxed(map)?,
            Key::Message => self.message = object(map)?,
            Key::Response => self.response = object(map)?,
            Key::XGroq => self.x_groq = object(map)?,
            Key::Result => self.result = object(map)?,
            Key::Delta => self.delta = object(map)?,
            Key::Meta => self.meta = boxed(map)?,
            Key::Metrics => self.metrics = boxed(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Fields for Units {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::InputTokens => self.input = map.next_value::<CountValue>()?.0,
            Key::OutputTokens => self.output = map.next_value::<CountValue>()?.0,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Fields for Nested {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::Model => self.model = string(map)?,
            Key::ModelVersion => self.model_version = string(map)?,
            Key::Usage => self.usage = boxed(map)?,
            Key::Meta => self.meta = boxed(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Fields for Counts {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        let details = |map: &mut A| -> Result<Details, A::Error> {
            Ok(object::<Details, A>(map)?.unwrap_or_default())
        };
        match key {
            Key::PromptTokens => self.prompt_tokens = count(map)?,
            Key::CompletionTokens => self.completion_tokens = count(map)?,
            Key::TotalTokens => self.total_tokens = count(map)?,
            Key::PromptTokensDetails => self.prompt_cached = details(map)?.cached_tokens,
            Key::CompletionTokensDetails => {
                self.completion_reasoning = details(map)?.reasoning_tokens
            }
            Key::PromptCacheHitTokens => self.prompt_cache_hit_tokens = count(map)?,
            Key::ReasoningTokens => self.reasoning_tokens = count(map)?,
            Key::CostInUsdTicks => self.cost_in_usd_ticks = count(map)?,
            Key::Cost => self.cost_usd = map.next_value::<CostValue>()?.0,
            Key::InputTokens => self.input_tokens = count(map)?,
            Key::OutputTokens => self.output_tokens = count(map)?,
            Key::InputTokensDetails => self.input_cached = details(map)?.cached_tokens,
            Key::OutputTokensDetails => self.output_reasoning = details(map)?.reasoning_tokens,
            Key::CacheReadInputTokens => self.cache_read_input_tokens = count(map)?,
            Key::CacheCreationInputTokens => self.cache_creation_input_tokens = count(map)?,
            Key::CacheCreation => self.cache_creation_1h = details(map)?.ephemeral_1h_input_tokens,
            Key::PromptTokenCount => self.prompt_token_count = count(map)?,
            Key::ToolUsePromptTokenCount => self.tool_use_prompt_token_count = count(map)?,
            Key::TotalTokenCount => self.total_token_count = count(map)?,
            Key::CandidatesTokenCount => self.candidates_token_count = count(map)?,
            Key::CachedContentTokenCount => self.cached_content_token_count = count(map)?,
            Key::ThoughtsTokenCount => self.thoughts_token_count = count(map)?,
            Key::ConverseInput => self.converse_input = count(map)?,
            Key::ConverseOutput => self.converse_output = count(map)?,
            Key::ConverseCacheRead => self.converse_cache_read = count(map)?,
            Key::ConverseCacheWrite => self.converse_cache_write = count(map)?,
            Key::BilledUnits => self.billed_units = object(map)?,
            Key::Tokens => self.tokens = object(map)?,
            Key::InputTokenCount => self.input_tokens = count(map)?,
            Key::OutputTokenCount => self.output_tokens = count(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Fields for Details {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::CachedTokens => self.cached_tokens = map.next_value::<CountValue>()?.0,
            Key::ReasoningTokens => self.reasoning_tokens = map.next_value::<CountValue>()?.0,
            Key::Ephemeral1hInputTokens => {
                self.ephemeral_1h_input_tokens = map.next_value::<CountValue>()?.0
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Counts {
    /// These counts with Cohere's `billed_units` (else its `tokens`) as the input and output
    /// counts, when the object has none of its own (done once, as the object is read).
    fn with_units(mut self) -> Self {
        if self.input_tokens.is_none() && self.output_tokens.is_none() {
            let counted = |u: &Units| u.input.is_some() || u.output.is_some();
            if let Some(units) = self.billed_units.filter(counted).or(self.tokens) {
                self.input_tokens = units.input.map(Some);
                self.output_tokens = units.output.map(Some);
            }
        }
        self
    }

    /// The provider's own bill in ticks (1e-10 USD): xAI's `cost_in_usd_ticks`, else a bill in
    /// USD converted (to the nearest tick).
    pub fn billed_ticks(&self) -> Option<u64> {
        self.cost_in_usd_ticks.flatten().or_else(|| {
            self.cost_usd
                .map(|usd| (usd * 1e10).round())
                .filter(|t| *t < 1.8e19)
                .map(|t| t as u64)
        })
    }
}

/// Reads an answer object (anything else reads as an empty answer).
pub(super) fn answer<'de, D: Deserializer<'de>>(d: D) -> Result<Answer, D::Error> {
    Ok(Lenient::<Answer>::deserialize(d)?.0)
}

/// Reads one JSON document for its answers, handing each to `each` as it is read: an object
/// is one answer, each object element of an array is one (other elements are skipped), any
/// other value none.
pub(super) fn each_answer<'de, D: Deserializer<'de>>(
    d: D,
    each: &mut dyn FnMut(Answer),
) -> Result<(), D::Error> {
    d.deserialize_any(Document(each))
}

/// The visitor of [`each_answer`]'s document.
struct Document<'a>(&'a mut dyn FnMut(Answer));

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Element(self.0).visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Element(&mut *self.0))?.is_some() {}
        Ok(())
    }
    answer_with!((); bool i64 u64 f64 str unit);
}

/// One element of a list of answers: an answer if it is an object, else skipped unbuilt.
struct Element<'a>(&'a mut dyn FnMut(Answer));

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let Lenient(answer) =
            Lenient::<Answer>::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        (self.0)(answer);
        Ok(())
    }
    answer_with!((); bool i64 u64 f64 str unit seq);
}

/// Reads a usage object (anything else reads as no counts).
pub(super) fn counts<'de, D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
    Ok(Lenient::<Counts>::deserialize(d)?.0.with_units())
}

impl Answer {
    /// The model this object names: `model` (if present at all), else `modelVersion`;
    /// non-empty strings only.
    fn own_model(
        model: &Option<Option<String>>,
        version: &Option<Option<String>>,
    ) -> Option<String> {
        match model {
            Some(m) => m.clone(),
            None => version.clone().flatten(),
        }
        .filter(|s| !s.is_empty())
    }

    /// The model the answer names, its own or its `message`'s or `response`'s.
    pub fn named_model(&self) -> Option<String> {
        Self::own_model(&self.model, &self.model_version)
            .or_else(|| {
                self.message
                    .as_ref()
                    .and_then(|m| Self::own_model(&m.model, &m.model_version))
            })
            .or_else(|| {
                self.response
                    .as_ref()
                    .and_then(|r| Self::own_model(&r.model, &r.model_version))
            })
    }
}

//! Schema translation for the unified endpoint: request, whole response, stream and error, from
//! the client's wire format to the provider's and back. Pure and synchronous: bytes in, bytes
//! out, no I/O, no clock other than the `created` timestamp of OpenAI answers.
//!
//! # Directions
//!
//! | client (`/compat/...`) | provider | request | answer |
//! |---|---|---|---|
//! | OpenAI Chat Completions | Anthropic Messages | `anthropic` | `anthropic` |
//! | OpenAI Chat Completions | Gemini `generateContent` | `gemini` | `gemini` |
//! | Anthropic Messages (`/compat/v1/messages`) | OpenAI-shaped | `messages` | `messages` |
//! | Anthropic Messages | Gemini | `messages` then `gemini` | `gemini` then `messages` |
//! | OpenAI embeddings | Gemini `batchEmbedContents` | `embeddings` | `embeddings` |
//! | same dialect on both sides | | `model` rewritten, nothing else | unchanged |
//!
//! An OpenAI request is first read into a checked form (`chat`), so every field is validated
//! once, with its path, before any provider format is built; the OpenAI answer shapes live in
//! `openai`; provider errors in `error`; the incremental stream machinery in `stream`.
//!
//! # How the gateway uses it
//! 1. [`request`] → [`Upstream`] (body, path relative to the provider's base URL, whether it
//!    streams, whether the client asked for stream usage, and a small [`Reply`] to keep), or a
//!    [`TranslateError`] whose [`TranslateError::body`] is the 400 to send, nothing upstream.
//! 2. A whole answer (any status, success or error) → [`response`] → status and body.
//! 3. A `2xx` `text/event-stream` answer → [`StreamTranslator::feed`] per chunk, then
//!    [`StreamTranslator::finish`] at its end. A non-2xx answer to a streaming request is a
//!    whole answer: use [`response`]. A 2xx JSON answer to a streaming request goes through
//!    [`response`], then [`replay::as_stream`], so the client still gets a stream.
//!
//! # Decisions
//! - **Anthropic `max_tokens`** is required; when the client sets neither `max_tokens` nor
//!   `max_completion_tokens`, [`Options::default_max_tokens`] is sent ([`DEFAULT_MAX_TOKENS`],
//!   4096, which the gateway always uses).
//! - **JSON mode on Anthropic** (no native switch): `response_format` `json_object` or
//!   `json_schema` (with an object root) becomes one forced tool, [`JSON_TOOL`], whose
//!   `input_schema` is the client's schema (`{"type":"object"}` for `json_object`); its input
//!   comes back as the message text, with `finish_reason: "stop"`, in answers and streams
//!   alike. When the client also sends tools (the forced tool would shut them out) or the
//!   schema's root is not an object, a system instruction asks for JSON (with the schema)
//!   instead. A client tool may not be named [`JSON_TOOL`].
//! - **JSON mode on Gemini**: `responseMimeType: application/json`, and for `json_schema`
//!   `responseSchema` converted to Gemini's OpenAPI subset (`gemini_schema`). Gemini takes no
//!   `$ref`, so references are copied out; the schemas of one request (tools' and response)
//!   may expand to at most `gemini_schema::MAX_NODES` nodes, else the request is refused (400
//!   naming the schema's field) before any of the expansion is built.
//! - **`n`**: Gemini `candidateCount`; Anthropic answers one message, so `n > 1` is refused
//!   (400, `param: "n"`).
//! - **Errors**: the provider's status is kept for 4xx and 5xx, except Anthropic's 529
//!   (overloaded) which becomes 503; a non-error status with an error body, or a success body
//!   that cannot be read or is not an answer of the provider's API (Anthropic content blocks
//!   without a `type`, a Gemini answer with neither `candidates` nor `promptFeedback`, an
//!   OpenAI choice without a `message`), becomes 502 rather than an invented empty answer.
//!   The body takes the client's error shape, with the provider's own error type or status
//!   (`overloaded_error`, `RESOURCE_EXHAUSTED`) as OpenAI's `code`. See `error`. A Gemini
//!   candidate that ends with a failure reason (`MALFORMED_FUNCTION_CALL`, ...) and nothing
//!   usable is such a failure too: 502 with the reason as the code (see `gemini`).
//! - **Refused, not dropped**: request fields that would change the answer and that the
//!   provider cannot take are refused (400 naming the field), never silently left out (see
//!   `chat` for the list); fields that change no answer (`store`, `service_tier`, ...) are
//!   left out.
//! - **A stream that ends early** (no final event from the provider) ends with an error event
//!   rather than a made-up finish reason, so the client knows the answer is incomplete.
//! - **What a stream keeps is capped**, so that a hostile provider cannot grow it (or the
//!   work per event) without end: 128 Gemini candidates, 4,096 Anthropic content blocks,
//!   4,096 OpenAI tool calls. A stream past a cap ends the same way, with an error event.

mod anthropic;
mod chat;
mod embeddings;
mod error;
mod gemini;
mod gemini_schema;
mod json;
mod messages;
mod openai;
pub mod replay;
mod stream;

use bytes::Bytes;

pub use error::{retry_after_seconds, retry_delay, TranslateError};
pub use stream::StreamTranslator;

/// The `max_tokens` sent to Anthropic when the client gives no limit.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The name of the forced tool that carries JSON mode to Anthropic.
pub const JSON_TOOL: &str = "json_response";

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI Chat Completions and embeddings (and every OpenAI-shaped provider).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent` / `batchEmbedContents` (provider side only).
    Gemini,
}

/// Which API of the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Chat,
    Embeddings,
}

/// Settings of the translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Anthropic's required `max_tokens` when the client sets no limit.
    pub default_max_tokens: u32,
    /// Anthropic clients' `max_tokens` goes to an OpenAI-shaped provider as
    /// `max_completion_tokens` instead of `max_tokens`: OpenAI's own reasoning models refuse
    /// `max_tokens`, while several compatible providers only know `max_tokens` (the default).
    pub max_completion_tokens: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            default_max_tokens: DEFAULT_MAX_TOKENS,
            max_completion_tokens: false,
        }
    }
}

/// Facts about the request that shape the answer; keep it from [`Upstream`] and hand it to
/// [`response`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reply {
    /// The embeddings client asked for `encoding_format: "base64"` (the OpenAI SDKs' default).
    pub embeddings_base64: bool,
    /// The Anthropic client asked for thinking: the provider's reasoning comes back as
    /// `thinking` blocks.
    pub thinking: bool,
    /// How many answers the client asked for (`n`; 0 means one): a Gemini stream is whole only
    /// once that many candidates have finished.
    pub candidates: u32,
    /// How many alternatives per token an OpenAI client asked for (`top_logprobs`) along with
    /// `logprobs`, for a Gemini answer's `logprobsResult`.
    pub top_logprobs: u32,
    /// The embeddings client sent `dimensions`: the provider's vectors are scaled to unit
    /// length, as OpenAI's are (Gemini normalises only its full-size output).
    pub embeddings_normalize: bool,
}

/// The request to send upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub body: Bytes,
    /// Path relative to the provider's base URL, without a leading `/`; may carry a query
    /// (`?alt=sse`). For OpenAI-shaped providers this is the usual `chat/completions` or
    /// `embeddings`; a catalog `chat_path`/`embeddings_path` takes precedence.
    pub path: String,
    /// The upstream answer will be a stream.
    pub stream: bool,
    /// The client asked for usage in the stream (`stream_options.include_usage`); give it to
    /// [`StreamTranslator::new`].
    pub include_usage: bool,
    /// Give it to [`response`].
    pub reply: Reply,
    /// Further bodies for the same path, one call each after `body`'s, when the provider takes
    /// less in one call than the client sent (Gemini embeds at most 100 texts a call); their
    /// answers are joined with
    /// [`join_answers`] before [`response`] reads them.
    pub more: Vec<Bytes>,
}

/// One answer from the answers to a call split in parts ([`Upstream::more`]), in order: what
/// [`response`] reads as if one call had been made.
pub fn join_answers(parts: &[Bytes]) -> Result<Bytes, String> {
    embeddings::join(parts)
}

/// Whether [`request`] can carry `endpoint` calls from a `client` to a `provider`.
pub fn supports(endpoint: Endpoint, client: Dialect, provider: Dialect) -> bool {
    use Dialect::{Anthropic, Gemini, OpenAi};
    matches!(
        (endpoint, client, provider),
        (Endpoint::Chat, OpenAi | Anthropic, _) | (Endpoint::Embeddings, OpenAi, OpenAi | Gemini)
    )
}

/// Translates a client request for `provider`. `model` is the provider's model name (the
/// `provider/` prefix already stripped); it replaces the body's `model`.
pub fn request(
    endpoint: Endpoint,
    client: Dialect,
    provider: Dialect,
    body: &[u8],
    model: &str,
    opts: &Options,
) -> Result<Upstream, TranslateError> {
    use Dialect::{Anthropic, Gemini, OpenAi};
    match (endpoint, client, provider) {
        (Endpoint::Chat, OpenAi, OpenAi) => pass_through(body, model, "chat/completions"),
        (Endpoint::Chat, Anthropic, Anthropic) => pass_through(body, model, "v1/messages"),
        (Endpoint::Embeddings, OpenAi, OpenAi) => pass_through(body, model, "embeddings"),
        (Endpoint::Chat, OpenAi, Anthropic) => {
            let req = chat::parse(&json::parse_object(body)?)?;
            anthropic::request(&req, model, opts)
        }
        (Endpoint::Chat, OpenAi, Gemini) => {
            let req = chat::parse(&json::parse_object(body)?)?;
            gemini::request(&req, model)
        }
        (Endpoint::Chat, Anthropic, OpenAi) => {
            let o = json::parse_object(body)?;
            let thinking = messages::thinking(&o)?;
            let openai = messages::request(&o, model, opts)?;
            Ok(messages::upstream(openai, thinking.is_some()))
        }
        (Endpoint::Chat, Anthropic, Gemini) => {
            let o = json::parse_object(body)?;
            let thinking = messages::thinking(&o)?;
            let mut openai = messages::request(&o, model, opts)?;
            if let Some(budget) = thinking {
                let effort = messages::effort_for(budget);
                openai.insert("reasoning_effort".into(), effort.into());
            }
            if let Some(k) = messages::top_k(&o)? {
                openai.insert("top_k".into(), k.into());
            }
            let mut req = chat::parse(&openai)?;
            // The client's own budget, where the model takes a budget.
            req.thinking_budget = thinking.flatten();
            let mut up = gemini::request(&req, model).map_err(|e| messages::client_field(e, &o))?;
            up.reply.thinking = thinking.is_some();
            Ok(up)
        }
        (Endpoint::Embeddings, OpenAi, Gemini) => {
            embeddings::request(&json::parse_object(body)?, model)
        }
        _ => Err(TranslateError::unsupported(endpoint, client, provider)),
    }
}

/// Translates a whole provider answer (any status) into the client's format: the status and
/// body to send. `model` is the provider model name the request used (the fallback when the
/// answer names none); `reply` is [`Upstream::reply`].
pub fn response(
    endpoint: Endpoint,
    client: Dialect,
    provider: Dialect,
    status: u16,
    body: &[u8],
    model: &str,
    reply: Reply,
) -> (u16, Bytes) {
    use Dialect::{Anthropic, Gemini, OpenAi};
    if client == provider {
        return (status, Bytes::copy_from_slice(body));
    }
    if !(200..300).contains(&status) {
        let err = error::ProviderError::parse(status, body);
        return (err.status, err.body(client));
    }
    let unreadable = |why: String| error::ProviderError::unreadable(&why);
    // A success answer that is not one (unreadable, or Gemini saying it failed) becomes the
    // provider error it stands for.
    let translated = match (endpoint, client, provider) {
        (Endpoint::Chat, OpenAi, Anthropic) => anthropic::response(body, model).map_err(unreadable),
        (Endpoint::Chat, OpenAi, Gemini) => gemini::response(body, model, reply),
        (Endpoint::Chat, Anthropic, OpenAi) => json::parse_value(body)
            .and_then(|v| messages::response(&v, model, reply.thinking))
            .map_err(unreadable),
        (Endpoint::Chat, Anthropic, Gemini) => gemini::response(body, model, reply)
            .and_then(|v| messages::response(&v, model, reply.thinking).map_err(unreadable)),
        (Endpoint::Embeddings, OpenAi, Gemini) => {
            embeddings::response(body, model, reply).map_err(unreadable)
        }
        _ => {
            let e = TranslateError::unsupported(endpoint, client, provider);
            return (e.status, e.body(client));
        }
    };
    match translated {
        Ok(v) => (status, json::to_bytes(&v)),
        Err(err) => (err.status, err.body(client)),
    }
}

/// Same dialect on both sides: only `model` changes, byte for byte.
fn pass_through(body: &[u8], model: &str, path: &str) -> Result<Upstream, TranslateError> {
    let body = Bytes::copy_from_slice(body);
    let peek = crate::compat::peek(&body).map_err(|e| {
        let param = match e {
            crate::compat::CompatError::BadStream => Some("stream".to_owned()),
            crate::compat::CompatError::MissingModel => Some("model".to_owned()),
            _ => None,
        };
        TranslateError {
            status: 400,
            param,
            message: e.to_string(),
        }
    })?;
    let stream = peek.stream;
    let include_usage = stream && json::include_usage(&body);
    Ok(Upstream {
        body: peek.rewrite_model(&body, model),
        path: path.to_owned(),
        stream,
        include_usage,
        reply: Reply::default(),
        more: Vec::new(),
    })
}

//! Fake LLM providers for Switchyard's tests and benchmarks.
//!
//! One HTTP server (hyper 1, HTTP/1.1 and h2c prior knowledge) that speaks
//! the wire formats the gateway relays: xAI/OpenAI-compatible chat
//! completions (JSON and SSE) and embeddings, Anthropic Messages (JSON and
//! named-event SSE), the Google Gemini API (generateContent, SSE and
//! JSON-array streams, embeddings) and an OpenAI-style model list. Every answer can be scripted per request
//! (status, body, headers, delays, chunk count and size, a mid-stream abort),
//! every request is recorded, and client disconnects are counted.
//!
//! It is used in two ways:
//! * in-process, by integration tests: [`FakeProvider::start`] binds
//!   `127.0.0.1:0` on the caller's tokio runtime and returns a handle to
//!   script it and inspect what it received;
//! * as the `fake-provider` binary (benchmark, SDK suites), scripted through
//!   `x-fake-*` request headers and the `/__fake/*` control endpoints.
//!
//! ```no_run
//! # async fn demo() {
//! use switchyard_testkit::{FakeProvider, Script};
//!
//! let fake = FakeProvider::start().await;
//! fake.push_script(Script::new().status(429)); // the next request gets a 429
//! // ... point the code under test at `fake.url()` (add `/v1` for xAI) ...
//! assert_eq!(fake.hits_for("/v1/chat/completions"), 1);
//! let sent = fake.last_request().expect("one request");
//! assert_eq!(sent.header("x-grok-conv-id"), Some("conv-1"));
//! # }
//! ```
//!
//! # Behaviour
//! * Routes. `POST {P}/chat/completions`, `POST {P}/embeddings`,
//!   `GET {P}/models` and `GET {P}/models/{id}` for `P` in `/v1`,
//!   (nothing), `/openai/v1`, `/api/v1`, `/v1beta/openai`, `/openai`;
//!   `POST /v1/messages` and `POST /messages`; `POST
//!   /{v1beta,v1}/models/{model}:{generateContent, streamGenerateContent,
//!   countTokens, embedContent, batchEmbedContents}`. Anything else
//!   (including `/v1/v1/...` and a wrong method) is xAI's 404
//!   `{"code":"not-found","error":"No handler found on route…"}`.
//! * Checks, in xAI's order: JSON syntax (400) and field types (422), then
//!   credentials, then (Anthropic) the required `model`, `messages` and
//!   `max_tokens` (400). No `Authorization: Bearer …` nor `x-api-key` → 401
//!   (unless [`FakeConfig::require_auth`] is off); the key `bad-key` is
//!   always rejected: xAI's 400 `invalid-argument` "Incorrect API key
//!   provided…", or Anthropic's 401 `authentication_error` on `/messages`.
//!   Errors on `/messages` use Anthropic's shape, Gemini routes Google's
//!   `{"error":{"code","message","status"}}`, all others xAI's flat
//!   `{"code","error"}` (2026 codes: `invalid-argument`, `unauthenticated`,
//!   `not-found`, `resource-exhausted`, `internal`, `unavailable`, …).
//!   Unknown body fields are ignored, except by Gemini. A scripted 429 has
//!   `retry-after: 1` (xAI and Anthropic routes; Google puts a `RetryInfo`
//!   with `retryDelay: "1s"` in the body).
//! * Gemini checks the key first, in `x-goog-api-key` or `?key=`: none is
//!   403 `PERMISSION_DENIED`, `bad-key` 400 `API_KEY_INVALID`, a bearer
//!   token instead 401 `UNAUTHENTICATED`. Then, as Google does: JSON syntax,
//!   unknown field names (top level and `contents[i]`), `contents` required,
//!   `parts` not empty, each part with data, roles `user`/`model` only —
//!   all 400 `INVALID_ARGUMENT` with Google's messages. JSON bodies are
//!   pretty-printed unless `prettyPrint=false`; errors on a JSON-array
//!   stream come inside `[…]`.
//! * The answer is deterministic: "Hello from the fake provider.", one word
//!   per content chunk (5 chunks; [`Script::chunks`] changes the count and
//!   the JSON text alike). The response `model` echoes the request's
//!   (`grok-beta` if absent). Chat ids are bare UUIDs, Anthropic ids
//!   `msg_01…`; `x-request-id` (chat) or `request-id` (messages) is set.
//! * Usage: prompt tokens = whitespace-separated words in the message texts
//!   (and Anthropic `system`), at least 1; completion tokens = content
//!   chunks; cached and reasoning 0; `total_tokens = prompt + completion +
//!   reasoning`; `cost_in_usd_ticks` at grok-4-fast prices (2,000 ticks per
//!   uncached input token, 500 per cached, 5,000 per output or reasoning
//!   token). [`Script::usage`] overrides any of these. Anthropic reports
//!   `input_tokens = prompt - cached - cache_creation`,
//!   `cache_read_input_tokens = cached`, `cache_creation_input_tokens` (and
//!   `cache_creation.ephemeral_5m_input_tokens`) `= cache_creation`,
//!   `output_tokens = completion + reasoning`, `service_tier: "standard"`.
//!   Gemini: `candidates[0].content = {parts:[{text}], role:"model"}`,
//!   `finishReason: "STOP"`, `index`, `usageMetadata` {`promptTokenCount`,
//!   `candidatesTokenCount`, `totalTokenCount`, `promptTokensDetails`, and
//!   `cachedContentTokenCount` / `thoughtsTokenCount` when not 0},
//!   `modelVersion` (the path's model), a 22-character `responseId`.
//! * Tools: when the request offers tools and its last message is the
//!   user's (for Anthropic: not a `tool_result`; for Gemini: not a
//!   `functionResponse`), the answer calls the first tool (or the one
//!   `tool_choice` / `allowedFunctionNames` names; `"none"` / `NONE`
//!   disables) with arguments filled from its schema's properties (strings
//!   `"fake"`, numbers 1, booleans true, the first `enum` value).
//! * Request options honoured: chat `n` (that many choices) and
//!   `response_format` (`json_object` → `{"answer":"<reply>"}`,
//!   `json_schema` → the schema's required properties with sample values);
//!   Anthropic `stop_sequences` (`stop_reason: "stop_sequence"`); Gemini
//!   `generationConfig` `candidateCount`, `stopSequences`,
//!   `maxOutputTokens` (`finishReason: "MAX_TOKENS"`, one chunk = one
//!   token) and `responseMimeType: application/json` (+ `responseSchema`).
//! * Embeddings: one deterministic unit vector per input text (same text,
//!   same vector, in both APIs), 8 floats unless `dimensions` /
//!   `outputDimensionality` says otherwise; OpenAI's `encoding_format:
//!   "base64"` is little-endian `f32`s.
//! * Streams: chat chunks per xai-api.md §3.5 (role on the first delta,
//!   `finish_reason` absent until the `delta:{}` finish chunk, a
//!   `choices:[]` usage chunk only with `stream_options.include_usage`,
//!   then `data: [DONE]`); Anthropic `message_start`, `content_block_start`,
//!   `ping`, `content_block_delta`…, `content_block_stop`, `message_delta`,
//!   `message_stop` (no `[DONE]`; a `tool_use` input comes as an empty
//!   `input_json_delta` then pieces of at most 12 bytes); Gemini one
//!   response per chunk with cumulative `usageMetadata`, the last with
//!   `finishReason`, as `data: {…}\r\n\r\n` (`alt=sse`) or one JSON array.
//! * A disconnect is counted when the connection closes while a request
//!   waits out its `delay_ms`, or before a stream's last event was handed
//!   to the socket; a scripted `drop_after` abort is not one.
//!
//! # Layout
//! Roughly in the order a request meets it:
//! * [`server`]: the listener, the accept loop and the [`FakeProvider`] handle;
//! * `handler`: one request — control routes, recording, script resolution,
//!   routing to a wire format, the scripted delay, the final response;
//! * [`script`]: the [`Script`] type and the `x-fake-*` header names;
//! * `state`: counters, recorded requests and the script queue;
//! * `wire`: response bodies of each provider format (`openai`,
//!   `embeddings`, `anthropic`, `gemini`, `errors`, and the deterministic
//!   `content` they share);
//! * `body`: the response body type that paces chunks, aborts on
//!   `drop_after` and counts disconnects;
//! * `control`: the `/__fake/*` endpoints.

mod body;
mod config;
mod control;
pub mod encode;
mod handler;
mod record;
pub mod script;
pub mod server;
mod state;
mod wire;

pub use config::FakeConfig;
pub use record::RecordedRequest;
pub use script::{Script, ScriptUsage};
pub use server::{FakeError, FakeProvider};

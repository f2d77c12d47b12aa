//! Fake LLM providers for Switchyard's tests and benchmarks.
//!
//! One HTTP server (hyper 1, HTTP/1.1 and h2c prior knowledge) that speaks
//! the wire formats the gateway relays: xAI/OpenAI-compatible chat
//! completions (JSON and SSE), Anthropic Messages (JSON and named-event SSE)
//! and an OpenAI-style model list. Every answer can be scripted per request
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
//! * Routes. `POST {P}/chat/completions`, `GET {P}/models` and
//!   `GET {P}/models/{id}` for `P` in `/v1`, (nothing), `/openai/v1`,
//!   `/api/v1`, `/v1beta/openai`, `/openai`; `POST /v1/messages` and
//!   `POST /messages`. Anything else (including `/v1/v1/...` and a wrong
//!   method) is xAI's 404 `{"code":"not-found","error":"No handler found on
//!   route…"}`.
//! * Checks, in xAI's order: JSON syntax (400) and field types (422), then
//!   credentials, then (Anthropic) the required `model`, `messages` and
//!   `max_tokens` (400). No `Authorization: Bearer …` nor `x-api-key` → 401
//!   (unless [`FakeConfig::require_auth`] is off); the key `bad-key` is
//!   always rejected: xAI's 400 `invalid-argument` "Incorrect API key
//!   provided…", or Anthropic's 401 `authentication_error` on `/messages`.
//!   Errors on `/messages` use Anthropic's shape, all others xAI's flat
//!   `{"code","error"}` (2026 codes: `invalid-argument`, `unauthenticated`,
//!   `not-found`, `resource-exhausted`, `internal`, `unavailable`, …).
//!   Unknown body fields are ignored.
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
//!   `input_tokens = prompt - cached`, `cache_read_input_tokens = cached`,
//!   `output_tokens = completion + reasoning`.
//! * Tools: when the request offers tools and its last message is the
//!   user's (for Anthropic: not a `tool_result`), the answer calls the first
//!   tool (or the one `tool_choice` names; `"none"` disables) with
//!   arguments filled from its schema's properties (strings `"fake"`,
//!   numbers 1, booleans true).
//! * Streams: chat chunks per xai-api.md §3.5 (role on the first delta,
//!   `finish_reason` absent until the `delta:{}` finish chunk, a
//!   `choices:[]` usage chunk only with `stream_options.include_usage`,
//!   then `data: [DONE]`); Anthropic `message_start`, `content_block_start`,
//!   `ping`, `content_block_delta`…, `content_block_stop`, `message_delta`,
//!   `message_stop` (no `[DONE]`).
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
//!   `anthropic`, `errors`, and the deterministic `content` they share);
//! * `body`: the response body type that paces chunks, aborts on
//!   `drop_after` and counts disconnects;
//! * `control`: the `/__fake/*` endpoints.

mod body;
mod config;
mod control;
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

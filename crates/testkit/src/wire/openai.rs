//! xAI/OpenAI-compatible chat completions (JSON and `data:` SSE, per
//! xai-api.md §3.2 and §3.5) and the OpenAI-style model list.
//!
//! `n` > 1 gives that many choices (in a stream, one chunk per choice and
//! step, then one finish chunk per choice); `response_format`
//! `json_object` answers `{"answer":"<reply>"}` and `json_schema` an object
//! with the schema's required properties filled with sample values, sent in
//! `chunks` pieces. Image parts (`image_url`) are accepted and not counted.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::{self, Chunks, ContentPlan, Usage, FINGERPRINT};
use super::errors::{self, Dialect};
use super::{Ctx, MessageContent, Reply};
use crate::body::{FrameKind, FrameSource};

/// Model reported when the request names none.
const DEFAULT_MODEL: &str = "grok-beta";

/// Models listed by `GET /v1/models`: (id, created).
const MODELS: [(&str, u64); 4] = [
    ("grok-4.3", 1_776_384_000),
    ("grok-4-fast-reasoning", 1_758_240_000),
    ("grok-3-mini", 1_743_724_800),
    ("grok-beta", 1_727_136_000),
];

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    messages: Option<Vec<ChatMessage>>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    n: Option<u32>,
    response_format: Option<Value>,
}

impl ChatRequest {
    /// The JSON object the answer must be, if `response_format` asks for one.
    fn json_output(&self, plan: ContentPlan) -> Option<Value> {
        let format = self.response_format.as_ref()?;
        match format.get("type").and_then(Value::as_str)? {
            "json_object" => Some(content::json_answer(plan)),
            "json_schema" => {
                let schema = format
                    .get("json_schema")
                    .and_then(|s| s.get("schema"))
                    .unwrap_or(&Value::Null);
                Some(content::sample_for(schema))
            }
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: Option<String>,
    content: Option<MessageContent>,
}

struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<CompletionChoice<'a>>,
    usage: ChatUsage,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
    refusal: Option<&'a str>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    function: FunctionOut<'a>,
    /// Present in stream deltas only.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ChatUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
    num_sources_used: u64,
    cost_in_usd_ticks: u64,
}

#[derive(Serialize)]
struct PromptDetails {
    text_tokens: u64,
    audio_tokens: u64,
    image_tokens: u64,
    cached_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl From<Usage> for ChatUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.prompt,
            completion_tokens: u.completion,
            // xAI: reasoning tokens are not part of completion_tokens.
            total_tokens: u.prompt + u.completion + u.reasoning,
            prompt_tokens_details: PromptDetails {
                text_tokens: u.prompt,
                audio_tokens: 0,
                image_tokens: 0,
                cached_tokens: u.cached,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: u.reasoning,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
            num_sources_used: 0,
            cost_in_usd_ticks: u.cost_ticks,
        }
    }
}

/// `POST …/chat/completions`.
pub(crate) fn chat(ctx: &Ctx<'_>, body: &[u8]) -> Reply {
    let request: ChatRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(err) => return errors::bad_json(Dialect::Xai, &err),
    };
    if let Some(failure) = ctx.auth {
        return errors::auth(Dialect::Xai, failure);
    }
    let choices = match request.n {
        None => 1,
        Some(0) => {
            return errors::error(
                Dialect::Xai,
                StatusCode::BAD_REQUEST,
                "Invalid request: n must be at least 1",
            )
        }
        Some(n) => n as usize,
    };
    let model = ctx
        .script
        .model
        .as_deref()
        .or(request.model.as_deref())
        .unwrap_or(DEFAULT_MODEL);
    let plan = ContentPlan::from_script(ctx.script);
    let prompt_words = request
        .messages
        .iter()
        .flatten()
        .filter_map(|m| m.content.as_ref())
        .map(MessageContent::words)
        .sum();
    // One call per choice, each with its own id.
    let tools: Vec<ToolCall> = (0..choices)
        .map_while(|_| tool_call(&request, ctx))
        .collect();
    let chunks = match request.json_output(plan) {
        Some(value) => Chunks::from_text(plan, &value.to_string(), plan.chunks),
        None => Chunks::new(plan),
    };
    let per_choice = if tools.is_empty() {
        chunks.tokens()
    } else {
        u64::try_from(plan.chunks).unwrap_or(u64::MAX)
    };
    let completion = per_choice.saturating_mul(choices as u64);
    let usage = Usage::resolve_tokens(prompt_words, completion, ctx.script);
    let id = content::uuid(ctx.shared.next_id());
    let created = content::now_secs();
    let stream = ctx.script.stream.unwrap_or(request.stream == Some(true));

    let reply = if stream {
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            == Some(true);
        Reply::stream(Box::new(ChatStream {
            head: chunk_head(&id, created, model),
            chunks,
            choices,
            tools,
            include_usage,
            usage,
            phase: Phase::Content(0),
        }))
    } else {
        let text = if tools.is_empty() {
            chunks.full_text()
        } else {
            String::new()
        };
        let choices = (0..choices)
            .map(|index| {
                let (tool_calls, finish_reason) = match tools.get(index) {
                    Some(call) => (Some([tool_call_out(call, None)]), "tool_calls"),
                    None => (None, "stop"),
                };
                CompletionChoice {
                    index: index as u32,
                    message: AssistantMessage {
                        role: "assistant",
                        content: &text,
                        tool_calls,
                        refusal: None,
                    },
                    finish_reason,
                }
            })
            .collect();
        let content = text.as_str();
        let completion = Completion {
            id: &id,
            object: "chat.completion",
            created,
            model,
            choices,
            usage: usage.into(),
            system_fingerprint: FINGERPRINT,
        };
        let mut out = Vec::with_capacity(768 + content.len());
        write_json(&mut out, &completion);
        Reply::json(StatusCode::OK, out)
    };
    with_xai_headers(reply, ctx)
}

/// `GET …/models`.
pub(crate) fn models(ctx: &Ctx<'_>) -> Reply {
    if let Some(failure) = ctx.auth {
        return errors::auth(Dialect::Xai, failure);
    }
    static LIST: OnceLock<Bytes> = OnceLock::new();
    let body = LIST.get_or_init(|| {
        let data: Vec<Value> = MODELS
            .iter()
            .map(|(id, created)| model_json(id, *created))
            .collect();
        let list = serde_json::json!({"object": "list", "data": data});
        Bytes::from(list.to_string())
    });
    Reply::json(StatusCode::OK, body.clone())
}

/// `GET …/models/{id}`.
pub(crate) fn model(ctx: &Ctx<'_>, id: &str) -> Reply {
    if let Some(failure) = ctx.auth {
        return errors::auth(Dialect::Xai, failure);
    }
    match MODELS.iter().find(|(known, _)| *known == id) {
        Some((id, created)) => Reply::json(StatusCode::OK, model_json(id, *created).to_string()),
        None => errors::error(
            Dialect::Xai,
            StatusCode::NOT_FOUND,
            &format!("The model {id} does not exist or your team does not have access to it."),
        ),
    }
}

fn model_json(id: &str, created: u64) -> Value {
    serde_json::json!({"id": id, "created": created, "object": "model", "owned_by": "xai"})
}

/// xAI's success headers: `x-request-id` and the rate-limit counters.
pub(crate) fn with_xai_headers(reply: Reply, ctx: &Ctx<'_>) -> Reply {
    if !reply.status.is_success() {
        return reply;
    }
    let request_id = content::uuid(ctx.shared.next_id());
    let reply = match HeaderValue::from_str(&request_id) {
        Ok(value) => reply.with_header("x-request-id", value),
        Err(_) => reply,
    };
    reply
        .with_header(
            "x-ratelimit-limit-requests",
            HeaderValue::from_static("480"),
        )
        .with_header(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("479"),
        )
        .with_header(
            "x-ratelimit-limit-tokens",
            HeaderValue::from_static("4000000"),
        )
        .with_header(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("3999000"),
        )
}

/// A tool call answers when the request offers tools (not disabled by
/// `tool_choice: "none"`) and the last message is the user's.
fn tool_call(request: &ChatRequest, ctx: &Ctx<'_>) -> Option<ToolCall> {
    let tools = request.tools.as_deref().filter(|t| !t.is_empty())?;
    let last_role = request.messages.as_ref()?.last()?.role.as_deref();
    if last_role != Some("user") {
        return None;
    }
    let forced = match &request.tool_choice {
        Some(Value::String(choice)) if choice == "none" => return None,
        Some(choice) => choice
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str),
        None => None,
    };
    let function = tools
        .iter()
        .filter_map(|t| t.get("function"))
        .find(|f| forced.is_none_or(|name| f.get("name").and_then(Value::as_str) == Some(name)))?;
    let name = function.get("name")?.as_str()?;
    let arguments = Value::Object(content::arguments_for(function.get("parameters")));
    Some(ToolCall {
        id: content::call_id(ctx.shared.next_serial()),
        name: name.to_owned(),
        arguments: arguments.to_string(),
    })
}

fn tool_call_out(call: &ToolCall, index: Option<u32>) -> ToolCallOut<'_> {
    ToolCallOut {
        id: &call.id,
        function: FunctionOut {
            name: &call.name,
            arguments: &call.arguments,
        },
        index,
        kind: "function",
    }
}

/// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[`
fn chunk_head(id: &str, created: u64, model: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(128 + model.len());
    head.extend_from_slice(b"data: {\"id\":");
    write_json(&mut head, id);
    head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
    head.extend_from_slice(created.to_string().as_bytes());
    head.extend_from_slice(b",\"model\":");
    write_json(&mut head, model);
    head.extend_from_slice(b",\"choices\":[");
    head
}

/// Appends a number's digits without allocating.
fn push_number(out: &mut Vec<u8>, n: usize) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// Serialises into a `Vec`, which cannot fail for these plain types.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
}

enum Phase {
    /// Step `s`: chunk `s / choices` of choice `s % choices`.
    Content(usize),
    /// The finish chunk of one choice.
    Finish(usize),
    Usage,
    Done,
    End,
}

/// Chat completion chunks: content (role on each choice's first), one
/// finish chunk per choice, optional usage-only chunk, `[DONE]`.
struct ChatStream {
    head: Vec<u8>,
    chunks: Chunks,
    choices: usize,
    /// One call per choice, or none.
    tools: Vec<ToolCall>,
    include_usage: bool,
    usage: Usage,
    phase: Phase,
}

impl ChatStream {
    fn frame(&self, size: usize, choice: impl FnOnce(&mut Vec<u8>), usage: bool) -> Bytes {
        let mut out = Vec::with_capacity(self.head.len() + size + if usage { 400 } else { 48 });
        out.extend_from_slice(&self.head);
        choice(&mut out);
        out.push(b']');
        if usage {
            out.extend_from_slice(b",\"usage\":");
            write_json(&mut out, &ChatUsage::from(self.usage));
        }
        out.extend_from_slice(b",\"system_fingerprint\":\"");
        out.extend_from_slice(FINGERPRINT.as_bytes());
        out.extend_from_slice(b"\"}\n\n");
        Bytes::from(out)
    }
}

impl FrameSource for ChatStream {
    fn next_frame(&mut self) -> Option<(FrameKind, Bytes)> {
        match self.phase {
            Phase::Content(step) => {
                let per_choice = if self.tools.is_empty() {
                    self.chunks.len()
                } else {
                    1
                };
                if step >= per_choice.saturating_mul(self.choices) {
                    self.phase = Phase::Finish(0);
                    return self.next_frame();
                }
                self.phase = Phase::Content(step + 1);
                let (i, choice) = (step / self.choices, step % self.choices);
                let frame = match self.tools.get(choice) {
                    Some(call) => {
                        let delta = serde_json::json!({
                            "index": choice,
                            "delta": {
                                "role": "assistant",
                                "tool_calls": [tool_call_out(call, Some(0))],
                            },
                        });
                        self.frame(256, |out| write_json(out, &delta), false)
                    }
                    None => {
                        let text = self.chunks.chunk(i);
                        self.frame(
                            text.len() + 64,
                            |out| {
                                out.extend_from_slice(b"{\"index\":");
                                push_number(out, choice);
                                out.extend_from_slice(b",\"delta\":{\"content\":");
                                write_json(out, text.as_str());
                                if i == 0 {
                                    out.extend_from_slice(b",\"role\":\"assistant\"");
                                }
                                out.extend_from_slice(b"}}");
                            },
                            false,
                        )
                    }
                };
                Some((FrameKind::Content, frame))
            }
            Phase::Finish(choice) => {
                self.phase = if choice + 1 < self.choices {
                    Phase::Finish(choice + 1)
                } else if self.include_usage {
                    Phase::Usage
                } else {
                    Phase::Done
                };
                let reason: &[u8] = if self.tools.is_empty() {
                    b"stop"
                } else {
                    b"tool_calls"
                };
                let frame = self.frame(
                    64,
                    |out| {
                        out.extend_from_slice(b"{\"index\":");
                        push_number(out, choice);
                        out.extend_from_slice(b",\"delta\":{},\"finish_reason\":\"");
                        out.extend_from_slice(reason);
                        out.extend_from_slice(b"\"}");
                    },
                    false,
                );
                Some((FrameKind::Tail, frame))
            }
            Phase::Usage => {
                self.phase = Phase::Done;
                Some((FrameKind::Tail, self.frame(0, |_| {}, true)))
            }
            Phase::Done => {
                self.phase = Phase::End;
                Some((FrameKind::Tail, Bytes::from_static(b"data: [DONE]\n\n")))
            }
            Phase::End => None,
        }
    }
}

//! Anthropic Messages (`POST /v1/messages`): the JSON message and the
//! named-event SSE sequence `message_start`, `content_block_start`, `ping`,
//! `content_block_delta`…, `content_block_stop`, `message_delta`,
//! `message_stop`.
//!
//! `image` blocks are checked like Anthropic does (a `base64` source needs a
//! supported `media_type` and `data`, a `url` source a `url`); `system` is a
//! string or text blocks; `stop_sequences` cut the reply before the first
//! match (`stop_reason: "stop_sequence"`). A `tool_use` answer streams its
//! `input` as `input_json_delta` pieces: an empty one, then the JSON in
//! pieces of at most [`JSON_PIECE_BYTES`] bytes.

use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::{self, Chunks, ContentPlan, Usage};
use super::errors::{self, Dialect};
use super::{Ctx, MessageContent, Reply};
use crate::body::{FrameKind, FrameSource};

#[derive(Deserialize)]
struct MessagesRequest {
    model: Option<String>,
    max_tokens: Option<u64>,
    messages: Option<Vec<InputMessage>>,
    system: Option<MessageContent>,
    stream: Option<bool>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    stop_sequences: Option<Vec<String>>,
}

/// The longest `partial_json` piece of a streamed `tool_use` input.
pub(crate) const JSON_PIECE_BYTES: usize = 12;

/// Image types Anthropic accepts in a `base64` source.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

#[derive(Deserialize)]
struct InputMessage {
    role: Option<String>,
    content: Option<MessageContent>,
}

struct ToolUse {
    id: String,
    name: String,
    input: Value,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
}

#[derive(Serialize, Clone, Copy)]
struct AnthropicUsage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation: CacheCreation,
    output_tokens: u64,
    service_tier: &'static str,
}

#[derive(Serialize, Clone, Copy)]
struct CacheCreation {
    ephemeral_5m_input_tokens: u64,
    ephemeral_1h_input_tokens: u64,
}

impl From<Usage> for AnthropicUsage {
    fn from(u: Usage) -> Self {
        Self {
            // Anthropic counts cache reads and writes apart from input_tokens.
            input_tokens: u.prompt.saturating_sub(u.cached + u.cache_creation),
            cache_creation_input_tokens: u.cache_creation,
            cache_read_input_tokens: u.cached,
            cache_creation: CacheCreation {
                ephemeral_5m_input_tokens: u.cache_creation,
                ephemeral_1h_input_tokens: 0,
            },
            // Reasoning is part of output_tokens on this API.
            output_tokens: u.completion + u.reasoning,
            service_tier: "standard",
        }
    }
}

/// The request of `…/messages` and `…/messages/count_tokens`, read and checked as Anthropic
/// does (`max_tokens` is required by the first only), or the error answer.
fn read_request(
    ctx: &Ctx<'_>,
    body: &[u8],
    needs_max_tokens: bool,
) -> Result<MessagesRequest, Box<Reply>> {
    let request: MessagesRequest = serde_json::from_slice(body)
        .map_err(|err| Box::new(errors::bad_json(Dialect::Anthropic, &err)))?;
    if let Some(failure) = ctx.auth {
        return Err(Box::new(errors::auth(Dialect::Anthropic, failure)));
    }
    let missing = [
        ("model", request.model.is_none()),
        ("messages", request.messages.is_none()),
        (
            "max_tokens",
            needs_max_tokens && request.max_tokens.is_none(),
        ),
    ];
    if let Some((field, _)) = missing.iter().find(|(_, absent)| *absent) {
        return Err(Box::new(errors::error(
            Dialect::Anthropic,
            StatusCode::BAD_REQUEST,
            &format!("{field}: Field required"),
        )));
    }
    Ok(request)
}

/// Words of the system prompt and every message: the prompt's size.
fn prompt_words(request: &MessagesRequest) -> u64 {
    request.system.as_ref().map_or(0, MessageContent::words)
        + request
            .messages
            .iter()
            .flatten()
            .filter_map(|m| m.content.as_ref())
            .map(MessageContent::words)
            .sum::<u64>()
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens, as the answer to the same messages
/// would count them.
pub(crate) fn count_tokens(ctx: &Ctx<'_>, body: &[u8]) -> Reply {
    let request = match read_request(ctx, body, false) {
        Ok(request) => request,
        Err(reply) => return *reply,
    };
    let usage = Usage::resolve_tokens(prompt_words(&request), 0, ctx.script);
    Reply::json(
        StatusCode::OK,
        serde_json::json!({"input_tokens": usage.prompt}).to_string(),
    )
}

/// `POST …/messages`.
pub(crate) fn messages(ctx: &Ctx<'_>, body: &[u8]) -> Reply {
    let request = match read_request(ctx, body, true) {
        Ok(request) => request,
        Err(reply) => return *reply,
    };
    if let Some(message) = invalid_image(&request) {
        return errors::error(Dialect::Anthropic, StatusCode::BAD_REQUEST, &message);
    }
    let model = ctx
        .script
        .model
        .as_deref()
        .or(request.model.as_deref())
        .unwrap_or_default();
    let plan = ContentPlan::from_script(ctx.script);
    let prompt_words = prompt_words(&request);
    let tool = tool_use(&request, ctx);
    let (chunks, stop_sequence) = match &tool {
        Some(_) => (Chunks::new(plan), None),
        None => Chunks::new(plan).stop_at(request.stop_sequences.as_deref().unwrap_or_default()),
    };
    let completion = match &tool {
        Some(_) => u64::try_from(plan.chunks).unwrap_or(u64::MAX),
        None => chunks.tokens(),
    };
    let usage = Usage::resolve_tokens(prompt_words, completion, ctx.script);
    let stop_reason = match (&tool, &stop_sequence) {
        (Some(_), _) => "tool_use",
        (None, Some(_)) => "stop_sequence",
        (None, None) => "end_turn",
    };
    let id = content::anthropic_id("msg_", ctx.shared.next_id());
    let stream = ctx.script.stream.unwrap_or(request.stream == Some(true));

    let reply = if stream {
        let json_pieces = tool.as_ref().map(|t| json_pieces(&t.input.to_string()));
        Reply::stream(Box::new(MessagesStream {
            id,
            model: model.to_owned(),
            chunks,
            tool,
            json_pieces: json_pieces.unwrap_or_default(),
            stop_reason,
            stop_sequence,
            usage: usage.into(),
            phase: Phase::MessageStart,
        }))
    } else {
        let text;
        let block = match &tool {
            Some(call) => Block::ToolUse {
                id: &call.id,
                name: &call.name,
                input: &call.input,
            },
            None => {
                text = chunks.full_text();
                Block::Text { text: &text }
            }
        };
        let message = MessageOut {
            id: &id,
            kind: "message",
            role: "assistant",
            model,
            content: vec![block],
            stop_reason: Some(stop_reason),
            stop_sequence: stop_sequence.as_deref(),
            usage: usage.into(),
        };
        // Plain structs of strings and numbers always serialise.
        Reply::json(
            StatusCode::OK,
            serde_json::to_vec(&message).unwrap_or_default(),
        )
    };
    let request_id = content::anthropic_id("req_", ctx.shared.next_id());
    match HeaderValue::from_str(&request_id) {
        Ok(value) => reply.with_header("request-id", value),
        Err(_) => reply,
    }
}

/// Anthropic's message for the first malformed `image` block, if any.
fn invalid_image(request: &MessagesRequest) -> Option<String> {
    for (i, message) in request.messages.iter().flatten().enumerate() {
        let Some(content) = &message.content else {
            continue;
        };
        for (j, part) in content.parts().iter().enumerate() {
            if part.kind.as_deref() != Some("image") {
                continue;
            }
            let at = format!("messages.{i}.content.{j}.image.source");
            let Some(source) = &part.source else {
                return Some(format!("{at}: Field required"));
            };
            let field = |name: &str| source.get(name).and_then(Value::as_str);
            match field("type") {
                Some("base64") => {
                    if !field("media_type").is_some_and(|m| IMAGE_TYPES.contains(&m)) {
                        return Some(format!(
                            "{at}.base64.media_type: Input should be 'image/jpeg', \
                             'image/png', 'image/gif' or 'image/webp'"
                        ));
                    }
                    if field("data").is_none() {
                        return Some(format!("{at}.base64.data: Field required"));
                    }
                }
                Some("url") => {
                    if field("url").is_none() {
                        return Some(format!("{at}.url.url: Field required"));
                    }
                }
                Some("file") => {
                    if field("file_id").is_none() {
                        return Some(format!("{at}.file.file_id: Field required"));
                    }
                }
                Some(other) => {
                    return Some(format!(
                        "{at}: Input tag '{other}' found using 'type' does not match any of the \
                         expected tags: 'base64', 'file', 'url'"
                    ))
                }
                None => {
                    return Some(format!(
                        "{at}: Unable to extract tag using discriminator 'type'"
                    ))
                }
            }
        }
    }
    None
}

/// A tool input as `input_json_delta` pieces: an empty one first, as
/// Anthropic sends, then at most [`JSON_PIECE_BYTES`] bytes each.
fn json_pieces(json: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut start = 0;
    while start < json.len() {
        let mut end = (start + JSON_PIECE_BYTES).min(json.len());
        while !json.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(json[start..end].to_owned());
        start = end;
    }
    pieces
}

/// A tool is used when the request offers tools (not disabled by
/// `tool_choice: {"type":"none"}`) and the last message is the user's own
/// text, not a tool result.
fn tool_use(request: &MessagesRequest, ctx: &Ctx<'_>) -> Option<ToolUse> {
    let tools = request.tools.as_deref().filter(|t| !t.is_empty())?;
    let last = request.messages.as_ref()?.last()?;
    if last.role.as_deref() != Some("user")
        || last
            .content
            .as_ref()
            .is_some_and(|c| c.has_part("tool_result"))
    {
        return None;
    }
    let choice_type = request
        .tool_choice
        .as_ref()
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str);
    if choice_type == Some("none") {
        return None;
    }
    let forced = match choice_type {
        Some("tool") => request
            .tool_choice
            .as_ref()
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str),
        _ => None,
    };
    let tool = tools
        .iter()
        .find(|t| forced.is_none_or(|name| t.get("name").and_then(Value::as_str) == Some(name)))?;
    let name = tool.get("name")?.as_str()?;
    Some(ToolUse {
        id: content::anthropic_id("toolu_", ctx.shared.next_id()),
        name: name.to_owned(),
        input: Value::Object(content::arguments_for(tool.get("input_schema"))),
    })
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: MessageOut<'a>,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    content_block: Block<'a>,
}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: Delta<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta<'a>,
    usage: OutputUsage,
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

/// `event: NAME\ndata: JSON\n\n`
fn event<T: Serialize>(name: &str, data: &T, size: usize) -> Bytes {
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Plain structs of strings and numbers always serialise.
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

enum Phase {
    MessageStart,
    BlockStart,
    Ping,
    Delta(usize),
    BlockStop,
    MessageDelta,
    MessageStop,
    End,
}

struct MessagesStream {
    id: String,
    model: String,
    chunks: Chunks,
    tool: Option<ToolUse>,
    /// The tool input's `partial_json` pieces.
    json_pieces: Vec<String>,
    stop_reason: &'static str,
    stop_sequence: Option<String>,
    usage: AnthropicUsage,
    phase: Phase,
}

impl FrameSource for MessagesStream {
    fn next_frame(&mut self) -> Option<(FrameKind, Bytes)> {
        let (kind, frame, next) = match self.phase {
            Phase::MessageStart => {
                let mut usage = self.usage;
                usage.output_tokens = usage.output_tokens.min(1);
                let data = MessageStart {
                    kind: "message_start",
                    message: MessageOut {
                        id: &self.id,
                        kind: "message",
                        role: "assistant",
                        model: &self.model,
                        content: Vec::new(),
                        stop_reason: None,
                        stop_sequence: None,
                        usage,
                    },
                };
                let frame = event("message_start", &data, 256);
                (FrameKind::Preamble, frame, Phase::BlockStart)
            }
            Phase::BlockStart => {
                let empty_input = Value::Object(serde_json::Map::new());
                let content_block = match &self.tool {
                    Some(call) => Block::ToolUse {
                        id: &call.id,
                        name: &call.name,
                        input: &empty_input,
                    },
                    None => Block::Text { text: "" },
                };
                let data = BlockStart {
                    kind: "content_block_start",
                    index: 0,
                    content_block,
                };
                let frame = event("content_block_start", &data, 64);
                (FrameKind::Preamble, frame, Phase::Ping)
            }
            Phase::Ping => (
                FrameKind::Preamble,
                Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n"),
                Phase::Delta(0),
            ),
            Phase::Delta(i) => {
                let total = if self.tool.is_some() {
                    self.json_pieces.len()
                } else {
                    self.chunks.len()
                };
                if i >= total {
                    self.phase = Phase::BlockStop;
                    return self.next_frame();
                }
                let text;
                let delta = match &self.tool {
                    Some(_) => Delta::InputJsonDelta {
                        partial_json: self.json_pieces[i].as_str(),
                    },
                    None => {
                        text = self.chunks.chunk(i);
                        Delta::TextDelta { text: &text }
                    }
                };
                let data = BlockDelta {
                    kind: "content_block_delta",
                    index: 0,
                    delta,
                };
                let size = match &data.delta {
                    Delta::TextDelta { text } => text.len(),
                    Delta::InputJsonDelta { partial_json } => partial_json.len(),
                };
                let frame = event("content_block_delta", &data, size + 64);
                (FrameKind::Content, frame, Phase::Delta(i + 1))
            }
            Phase::BlockStop => (
                FrameKind::Tail,
                Bytes::from_static(
                    b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                ),
                Phase::MessageDelta,
            ),
            Phase::MessageDelta => {
                let data = MessageDelta {
                    kind: "message_delta",
                    delta: StopDelta {
                        stop_reason: self.stop_reason,
                        stop_sequence: self.stop_sequence.as_deref(),
                    },
                    usage: OutputUsage {
                        output_tokens: self.usage.output_tokens,
                    },
                };
                let frame = event("message_delta", &data, 64);
                (FrameKind::Tail, frame, Phase::MessageStop)
            }
            Phase::MessageStop => (
                FrameKind::Tail,
                Bytes::from_static(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
                Phase::End,
            ),
            Phase::End => return None,
        };
        self.phase = next;
        Some((kind, frame))
    }
}

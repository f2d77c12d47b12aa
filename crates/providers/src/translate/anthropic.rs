//! OpenAI Chat Completions client, Anthropic Messages provider: the request, the whole answer
//! and the stream (`message_start` … `message_stop` → `chat.completion.chunk`s).
//!
//! Request mapping: `system`/`developer` messages → top-level `system` (a string, or text
//! blocks when there are several); consecutive messages of one role merged (tool results open
//! the user turn that follows the assistant's `tool_use`); `image_url` → `image` with a `url`
//! or `base64` source (jpeg, png, gif, webp); PDF `file_data` → `document`; audio refused;
//! `tools` → `input_schema` tools; `tool_choice` `auto`/`none`/`required`/function →
//! `auto`/`none`/`any`/`tool`; `parallel_tool_calls: false` → `disable_parallel_tool_use`;
//! `stop` → `stop_sequences` (entries of only whitespace left out: Anthropic refuses them);
//! `temperature` clamped to Anthropic's 0–1; `top_p` only without `temperature` (current
//! models refuse the two together); `top_k`; `user` →
//! `metadata.user_id`; `max_completion_tokens`/`max_tokens`, else the default (see the
//! parent module for JSON mode and `n`). Tool ids outside `[A-Za-z0-9_-]` have those characters
//! replaced by `_` (Anthropic's id pattern), consistently in `tool_use` and `tool_result`.
//! Dropped: `seed`, `presence_penalty`, `frequency_penalty`. Refused: `logprobs: true`
//! (Anthropic reports no token probabilities).
//!
//! Reasoning: `reasoning_effort` turns on extended thinking with a token budget
//! ([`thinking_budget`]: `minimal`/`low` 1,024, `medium` 4,096, `high` 16,384, `xhigh`
//! 24,576, so that with the default limit on top it stays within every thinking model's
//! output; `none` leaves it off). The budget counts within `max_tokens` at Anthropic, as
//! reasoning counts within `max_completion_tokens` at OpenAI: a client limit is kept and the
//! budget cut to fit under it (a limit of 1,024 or less leaves no room and is refused), and
//! without a limit the default gets the budget on top. Thinking takes no `temperature` or
//! `top_k` (dropped) and a `top_p` of at least 0.95 (raised), and no forced tool: JSON mode
//! uses the system instruction, and a `tool_choice` of `required` or a named function is
//! refused (400). The answer's thinking comes back as the message's
//! `reasoning_content` (its text, the field OpenAI-compatible servers use) and
//! `thinking_blocks` (each block whole, with its signature; in a stream, all of them once, in
//! the delta of the chunk that carries the finish reason: a list the OpenAI SDKs' stream
//! helpers merge by `index` must come in one piece). An assistant message that carries `thinking_blocks` back (a tool loop, which
//! Anthropic requires to keep them) sends them ahead of its text and tool calls.

use super::chat::{ChatRequest, Media, Part, PartKind, ResponseFormat, ToolChoice, Turn};
use super::error::ProviderError;
use super::json::{key, n, parse_value, s, to_bytes};
use super::openai::{self, ChunkHead, Usage};
use super::{Options, Reply, TranslateError, Upstream, JSON_TOOL};
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Builds the Anthropic request.
pub(crate) fn request(
    req: &ChatRequest,
    model: &str,
    opts: &Options,
) -> Result<Upstream, TranslateError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::field(
            "n",
            "Anthropic answers with one message; n must be 1",
        ));
    }
    // Anthropic reports no token probabilities (`top_logprobs` without `logprobs` was refused
    // when the request was read).
    if req.logprobs {
        return Err(TranslateError::field(
            "logprobs",
            "Anthropic does not report log probabilities",
        ));
    }
    let budget = match req.reasoning_effort.as_deref() {
        None => None,
        Some(effort) => thinking_budget(effort)?,
    };
    let default_max = opts.default_max_tokens.max(1);
    let (max_tokens, budget) = match (req.max_tokens, budget) {
        (Some(m), Some(_)) if m <= MIN_THINKING_BUDGET => {
            return Err(TranslateError::field(
                "max_completion_tokens",
                format!(
                    "reasoning on Anthropic needs a limit above {MIN_THINKING_BUDGET} tokens (its smallest thinking budget)"
                ),
            ))
        }
        (Some(m), Some(b)) => (m, Some(b.min(m - 1))),
        (None, Some(b)) => (default_max.saturating_add(b), Some(b)),
        (m, None) => (m.unwrap_or(default_max), None),
    };
    let json_tool = json_tool_schema(req).filter(|_| budget.is_none());
    if budget.is_some()
        && matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Function(_))
        )
    {
        return Err(TranslateError::field(
            "tool_choice",
            "Anthropic cannot force a tool call while thinking (reasoning_effort): use auto or none, or leave reasoning_effort out",
        ));
    }
    let mut system: Vec<String> = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    if json_tool.is_none() {
        system.extend(req.json_instruction());
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(max_tokens));
    match system.len() {
        0 => {}
        1 => {
            body.insert("system".into(), json!(system[0]));
        }
        _ => {
            let blocks: Vec<Value> = system
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }
    body.insert("messages".into(), Value::Array(messages(req)?));
    if let Some((schema, description)) = json_tool {
        body.insert(
            "tools".into(),
            json!([{"name": JSON_TOOL, "description": description, "input_schema": schema}]),
        );
        body.insert(
            "tool_choice".into(),
            json!({"type": "tool", "name": JSON_TOOL}),
        );
    } else if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool["input_schema"] = t
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(req) {
            body.insert("tool_choice".into(), choice);
        }
    }
    // Anthropic refuses a stop sequence with no visible character ("", "\n\n"), which OpenAI
    // takes: such entries are left out rather than failing the request.
    let stops: Vec<&String> = req.stop.iter().filter(|s| !s.trim().is_empty()).collect();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(b) = budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), json!(p.clamp(0.95, 1.0)));
        }
    } else {
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        }
        if let Some(k) = req.top_k {
            body.insert("top_k".into(), json!(k));
        }
        // Current Claude models refuse `temperature` and `top_p` together, which OpenAI
        // clients often send (`top_p: 1` by default): `temperature` wins.
        if let (Some(p), None) = (req.top_p, req.temperature) {
            body.insert("top_p".into(), json!(p));
        }
    }
    if let Some(u) = &req.user {
        body.insert("metadata".into(), json!({"user_id": u}));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Upstream {
        body: to_bytes(&Value::Object(body)),
        path: "v1/messages".to_owned(),
        stream: req.stream,
        include_usage: req.include_usage,
        reply: Reply::default(),
        more: Vec::new(),
    })
}

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;

/// The extended-thinking budget for an OpenAI `reasoning_effort`; `None` for `none`.
fn thinking_budget(effort: &str) -> Result<Option<u32>, TranslateError> {
    Ok(match effort {
        "none" => None,
        "minimal" | "low" => Some(MIN_THINKING_BUDGET),
        "medium" => Some(4096),
        "high" => Some(16_384),
        "xhigh" => Some(24_576),
        other => {
            return Err(TranslateError::field(
                "reasoning_effort",
                format!("'{other}' is not one of none, minimal, low, medium, high, xhigh"),
            ))
        }
    })
}

/// The schema and description of the forced JSON tool, when JSON mode can use one.
fn json_tool_schema(req: &ChatRequest) -> Option<(Value, String)> {
    if !req.tools.is_empty() {
        return None;
    }
    let answer = "Give your final answer to the user as this tool's input";
    match req.response_format.as_ref()? {
        ResponseFormat::JsonObject => Some((
            json!({"type": "object"}),
            format!("{answer}: any JSON object."),
        )),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
        } => {
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return None;
            }
            let what = description.as_deref().unwrap_or(name);
            Some((schema.clone(), format!("{answer} ({what}).")))
        }
    }
}

fn tool_choice(req: &ChatRequest) -> Option<Value> {
    let no_parallel = req.parallel_tool_calls == Some(false);
    let mut choice = match &req.tool_choice {
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        None if !no_parallel => return None,
        None | Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Function(name)) => json!({"type": "tool", "name": name}),
    };
    if no_parallel {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    Some(choice)
}

/// Anthropic's tool ids match `[A-Za-z0-9_-]+`.
fn tool_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "toolu_".to_owned()
    } else {
        clean
    }
}

fn messages(req: &ChatRequest) -> Result<Vec<Value>, TranslateError> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for turn in &req.turns {
        let (role, blocks) = match turn {
            Turn::User { parts } => ("user", content_blocks(parts)?),
            Turn::Assistant {
                parts,
                tool_calls,
                thinking,
            } => {
                // Thinking first, as Anthropic answered it.
                let mut blocks = thinking.clone();
                blocks.extend(content_blocks(parts)?);
                for c in tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": tool_id(&c.id),
                        "name": c.name,
                        "input": c.arguments,
                    }));
                }
                ("assistant", blocks)
            }
            Turn::Tool { call_id, text, .. } => {
                let mut block = json!({"type": "tool_result", "tool_use_id": tool_id(call_id)});
                let texts: Vec<&String> = text.iter().filter(|t| !t.is_empty()).collect();
                match texts.as_slice() {
                    [] => {}
                    [one] => block["content"] = json!(one),
                    many => {
                        block["content"] = many
                            .iter()
                            .map(|t| json!({"type": "text", "text": t}))
                            .collect();
                    }
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, prev)) if *last == role => prev.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, blocks)| {
            let content = match blocks.as_slice() {
                [one] if one["type"] == "text" => one["text"].clone(),
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect())
}

const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

fn content_blocks(parts: &[Part]) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::with_capacity(parts.len());
    for part in parts {
        let block = match &part.kind {
            PartKind::Text(t) if t.is_empty() => continue,
            PartKind::Text(t) => json!({"type": "text", "text": t}),
            PartKind::Image(Media::Url(url)) => {
                json!({"type": "image", "source": {"type": "url", "url": url}})
            }
            PartKind::Image(Media::Inline { mime, data }) => {
                if !IMAGE_TYPES.contains(&mime.as_str()) {
                    return Err(TranslateError::field(
                        key(&part.path, "image_url"),
                        format!("{mime} images are not supported by Anthropic (jpeg, png, gif, webp are)"),
                    ));
                }
                json!({"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}})
            }
            PartKind::File { mime, data } if mime == "application/pdf" => json!({
                "type": "document",
                "source": {"type": "base64", "media_type": mime, "data": data},
            }),
            PartKind::File { mime, .. } => {
                return Err(TranslateError::field(
                    key(&part.path, "file"),
                    format!("{mime} files are not supported by Anthropic; only PDF"),
                ))
            }
            PartKind::Audio { .. } => {
                return Err(TranslateError::field(
                    key(&part.path, "type"),
                    "audio input is not supported by Anthropic",
                ))
            }
        };
        blocks.push(block);
    }
    Ok(blocks)
}

fn usage(u: &Value) -> Usage {
    let cached = n(u, "cache_read_input_tokens");
    let written = n(u, "cache_creation_input_tokens");
    Usage {
        prompt: n(u, "input_tokens")
            .saturating_add(cached)
            .saturating_add(written),
        completion: n(u, "output_tokens"),
        cached,
        cache_write: written,
        reasoning: None,
    }
}

/// A whole Anthropic message → `chat.completion`.
pub(crate) fn response(body: &[u8], model: &str) -> Result<Value, String> {
    let v = parse_value(body)?;
    let Some(content) = v.get("content").and_then(Value::as_array) else {
        return Err("the answer has no 'content' array".to_owned());
    };
    check_blocks(content)?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match s(block, "type") {
            "text" => text.push_str(s(block, "text")),
            "thinking" => {
                reasoning.push_str(s(block, "thinking"));
                thinking_blocks.push(thinking_block(s(block, "thinking"), s(block, "signature")));
            }
            "redacted_thinking" => {
                thinking_blocks
                    .push(json!({"type": "redacted_thinking", "data": s(block, "data")}));
            }
            "tool_use" if s(block, "name") == JSON_TOOL => {
                text.push_str(&serde_json::to_string(&block["input"]).unwrap_or_default());
            }
            "tool_use" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                let args = serde_json::to_string(&input).unwrap_or_default();
                tool_calls.push(openai::tool_call(
                    None,
                    s(block, "id"),
                    s(block, "name"),
                    &args,
                    None,
                ));
            }
            _ => {}
        }
    }
    let finish = finish_reason(s(&v, "stop_reason"), !tool_calls.is_empty());
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    let model = non_empty(s(&v, "model"), model);
    let mut choice = openai::choice(0, content, tool_calls, finish);
    if !reasoning.is_empty() {
        choice["message"]["reasoning_content"] = json!(reasoning);
    }
    if !thinking_blocks.is_empty() {
        choice["message"]["thinking_blocks"] = Value::Array(thinking_blocks);
    }
    let choices = vec![choice];
    let usage = v.get("usage").map(usage);
    Ok(openai::completion(
        &openai::chat_id(s(&v, "id")),
        openai::now(),
        model,
        choices,
        usage.as_ref(),
    ))
}

/// Every content block is one of the Messages API: an object with a `type`, and for the
/// kinds read here the fields that kind requires. An answer that is not (a list of anything
/// else) is not made into an empty success; kinds not read here (server tools' blocks) pass.
fn check_blocks(content: &[Value]) -> Result<(), String> {
    for (i, block) in content.iter().enumerate() {
        let Some(kind) = block.get("type").and_then(Value::as_str) else {
            return Err(format!("content[{i}] is not a content block (no 'type')"));
        };
        let required: &[&str] = match kind {
            "text" => &["text"],
            "thinking" => &["thinking"],
            "redacted_thinking" => &["data"],
            "tool_use" => &["id", "name"],
            _ => &[],
        };
        if let Some(f) = required.iter().find(|f| !block[**f].is_string()) {
            return Err(format!(
                "content[{i}], a '{kind}' block, has no '{f}' string"
            ));
        }
    }
    Ok(())
}

/// A `thinking_blocks` entry, as a later request hands it back.
fn thinking_block(thinking: &str, signature: &str) -> Value {
    json!({"type": "thinking", "thinking": thinking, "signature": signature})
}

/// The OpenAI finish reason for Anthropic's `stop_reason`, given whether the client got tool
/// calls: a turn that stopped for tools but gave the client none (its one tool was the one
/// standing in for `response_format`, or the provider sent no `tool_use` block) is `stop`,
/// since a client told `tool_calls` looks for calls to run.
fn finish_reason(stop_reason: &str, tool_calls: bool) -> &'static str {
    if !tool_calls && stop_reason == "tool_use" {
        return "stop";
    }
    openai::finish_from_anthropic(stop_reason)
}

fn non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// What a content block of the stream becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// The forced JSON tool: its input is streamed as text.
    JsonText,
    /// A tool call with this OpenAI `tool_calls` index, and whether any of its arguments
    /// have been sent.
    Tool(u64, bool),
    /// Thinking: its text goes out as `reasoning_content` as it comes; the whole block (text
    /// and signature, gathered in [`StreamState::thinking`]) joins
    /// [`StreamState::thinking_blocks`].
    Thinking,
    Ignored,
}

/// The most content blocks one stream may start. Real answers have a handful (one per text,
/// thinking block and tool call); each start is kept for the whole stream (by the provider's
/// `index`, and redacted thinking whole until the finish), so without a cap a stream starting
/// blocks without end would grow them without end. A stream past it ends with an error, as
/// one cut short does, rather than as an answer with blocks left out.
const MAX_STREAM_BLOCKS: usize = 4096;

/// The most `usage` fields kept from a stream's `message_delta`s (Anthropic sends about ten);
/// further names are ignored, so that deltas naming new ones cannot grow the map. The counts
/// read ([`USAGE_COUNTS`]) are always taken.
const MAX_USAGE_FIELDS: usize = 64;

/// The `usage` fields [`usage`] reads.
const USAGE_COUNTS: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
];

/// Anthropic stream events → OpenAI chunk objects (and `{"error":...}` objects).
#[derive(Debug)]
pub(crate) struct StreamState {
    head: ChunkHead,
    fallback_model: String,
    blocks: HashMap<u64, Block>,
    /// How many `content_block_start`s the stream has had.
    block_starts: usize,
    tools: u64,
    json_answer: bool,
    /// The open thinking block's text and signature.
    thinking: (String, String),
    /// Finished thinking blocks, sent whole with the finish reason.
    thinking_blocks: Vec<Value>,
    usage: Value,
    started: bool,
    finish_sent: bool,
    stopped: bool,
    errored: bool,
}

impl StreamState {
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        Self {
            head: ChunkHead {
                id: String::new(),
                created,
                model: model.to_owned(),
                include_usage,
            },
            fallback_model: model.to_owned(),
            blocks: HashMap::new(),
            block_starts: 0,
            tools: 0,
            json_answer: false,
            thinking: (String::new(), String::new()),
            thinking_blocks: Vec::new(),
            usage: json!({}),
            started: false,
            finish_sent: false,
            stopped: false,
            errored: false,
        }
    }

    /// The provider's stream is complete (or failed); nothing more will be produced.
    pub fn done(&self) -> bool {
        self.stopped || self.errored
    }

    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<Value>) {
        if self.done() {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        let kind = match v.get("type").and_then(Value::as_str) {
            Some(t) => t.to_owned(),
            None => ev.event.clone().unwrap_or_default(),
        };
        match kind.as_str() {
            "message_start" => self.start(&v["message"]),
            "content_block_start" => self.block_start(&v, out),
            "content_block_delta" => self.block_delta(&v, out),
            "content_block_stop" => self.block_stop(&v, out),
            "message_delta" => {
                if let (Some(u), Some(mine)) = (
                    v.get("usage").and_then(Value::as_object),
                    self.usage.as_object_mut(),
                ) {
                    for (k, val) in u {
                        let room = mine.len() < MAX_USAGE_FIELDS
                            || mine.contains_key(k)
                            || USAGE_COUNTS.contains(&k.as_str());
                        if !val.is_null() && room {
                            mine.insert(k.clone(), val.clone());
                        }
                    }
                }
                if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.ensure_started(out);
                    let finish = finish_reason(reason, self.tools > 0);
                    let delta = if self.thinking_blocks.is_empty() {
                        json!({})
                    } else {
                        json!({"thinking_blocks": std::mem::take(&mut self.thinking_blocks)})
                    };
                    out.push(self.head.chunk(0, delta, Some(finish)));
                    self.finish_sent = true;
                }
            }
            "message_stop" => self.stop(out),
            "error" => {
                if let Some(e) = ProviderError::from_event(&v) {
                    out.push(e.openai_value());
                    self.errored = true;
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, m: &Value) {
        self.head.id = openai::chat_id(s(m, "id"));
        self.head.model = non_empty(s(m, "model"), &self.fallback_model).to_owned();
        if let Some(u) = m.get("usage").filter(|u| u.is_object()) {
            self.usage = u.clone();
        }
        // The opening chunk waits for the first block: its `content` says whether the answer
        // has text ("") or not (null: tool calls or thinking first), as OpenAI's does.
    }

    /// Sends the opening chunk (`role`, `content: ""`) unless it has gone.
    fn ensure_started(&mut self, out: &mut Vec<Value>) {
        if let Some(delta) = self.opening(json!("")) {
            out.push(self.head.chunk(0, delta, None));
        }
    }

    /// The opening delta with `content`, once: `None` when it has been sent.
    fn opening(&mut self, content: Value) -> Option<Value> {
        if self.started {
            return None;
        }
        if self.head.id.is_empty() {
            self.head.id = openai::chat_id("");
        }
        self.started = true;
        Some(json!({"role": "assistant", "content": content}))
    }

    fn block_start(&mut self, v: &Value, out: &mut Vec<Value>) {
        if self.block_starts >= MAX_STREAM_BLOCKS {
            out.push(super::error::openai_error(
                502,
                &format!("the provider's stream has more than {MAX_STREAM_BLOCKS} content blocks"),
                None,
                None,
            ));
            self.errored = true;
            return;
        }
        self.block_starts += 1;
        let index = n(v, "index");
        let b = &v["content_block"];
        match s(b, "type") {
            "text" => self.ensure_started(out),
            "tool_use" if s(b, "name") == JSON_TOOL => self.ensure_started(out),
            // A tool call opens the answer in the same chunk, as OpenAI's do.
            "tool_use" => {}
            _ => {
                if let Some(delta) = self.opening(Value::Null) {
                    out.push(self.head.chunk(0, delta, None));
                }
            }
        }
        let block = match s(b, "type") {
            "text" => {
                let text = s(b, "text");
                if !text.is_empty() {
                    out.push(self.head.chunk(0, json!({"content": text}), None));
                }
                Block::Text
            }
            "tool_use" if s(b, "name") == JSON_TOOL => {
                self.json_answer = true;
                Block::JsonText
            }
            "tool_use" => {
                let i = self.tools;
                self.tools += 1;
                let call = openai::tool_call(Some(i), s(b, "id"), s(b, "name"), "", None);
                let mut delta = self.opening(Value::Null).unwrap_or_else(|| json!({}));
                delta["tool_calls"] = json!([call]);
                out.push(self.head.chunk(0, delta, None));
                Block::Tool(i, false)
            }
            "thinking" => {
                self.thinking = (s(b, "thinking").to_owned(), s(b, "signature").to_owned());
                if !self.thinking.0.is_empty() {
                    let t = &self.thinking.0;
                    out.push(self.head.chunk(0, json!({"reasoning_content": t}), None));
                }
                Block::Thinking
            }
            "redacted_thinking" => {
                self.thinking_blocks
                    .push(json!({"type": "redacted_thinking", "data": s(b, "data")}));
                Block::Ignored
            }
            _ => Block::Ignored,
        };
        self.blocks.insert(index, block);
    }

    fn block_delta(&mut self, v: &Value, out: &mut Vec<Value>) {
        let block = self.blocks.get(&n(v, "index")).copied();
        let d = &v["delta"];
        let (piece, delta) = match (s(d, "type"), block) {
            ("text_delta", Some(Block::Text) | None) => {
                let t = s(d, "text");
                (t, json!({"content": t}))
            }
            ("thinking_delta", Some(Block::Thinking)) => {
                let t = s(d, "thinking");
                self.thinking.0.push_str(t);
                (t, json!({"reasoning_content": t}))
            }
            ("signature_delta", Some(Block::Thinking)) => {
                self.thinking.1.push_str(s(d, "signature"));
                return;
            }
            ("input_json_delta", Some(Block::JsonText)) => {
                let t = s(d, "partial_json");
                (t, json!({"content": t}))
            }
            ("input_json_delta", Some(Block::Tool(i, _))) => {
                let t = s(d, "partial_json");
                if !t.is_empty() {
                    self.blocks.insert(n(v, "index"), Block::Tool(i, true));
                }
                (
                    t,
                    json!({"tool_calls": [{"index": i, "function": {"arguments": t}}]}),
                )
            }
            _ => return,
        };
        if !piece.is_empty() {
            self.ensure_started(out);
            out.push(self.head.chunk(0, delta, None));
        }
    }

    /// A tool called with no input streams no argument text: its arguments become `{}`, as
    /// they are in a whole answer (an empty string is not JSON, and clients parse it).
    fn block_stop(&mut self, v: &Value, out: &mut Vec<Value>) {
        let index = n(v, "index");
        if let Some(Block::Thinking) = self.blocks.get(&index) {
            let (text, signature) = std::mem::take(&mut self.thinking);
            self.thinking_blocks.push(thinking_block(&text, &signature));
        }
        if let Some(Block::Tool(i, false)) = self.blocks.get(&index).copied() {
            self.blocks.insert(index, Block::Tool(i, true));
            out.push(self.head.chunk(
                0,
                json!({"tool_calls": [{"index": i, "function": {"arguments": "{}"}}]}),
                None,
            ));
        }
    }

    fn stop(&mut self, out: &mut Vec<Value>) {
        self.ensure_started(out);
        if self.head.include_usage {
            out.push(self.head.usage_chunk(&usage(&self.usage)));
        }
        self.stopped = true;
    }

    /// The provider's stream ended.
    pub fn finish(&mut self, out: &mut Vec<Value>) {
        if self.done() {
            return;
        }
        if self.finish_sent {
            // Only `message_stop` is missing: the answer itself is whole.
            self.stop(out);
        } else {
            out.push(super::stream::truncated_error());
            self.errored = true;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(data: Value) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_string(),
            id: None,
            retry: None,
        }
    }

    #[test]
    fn usage_deltas_cannot_grow_the_usage_without_end() {
        let mut state = StreamState::new("m", 0, true);
        let mut out = Vec::new();
        let start = json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude",
            "usage": {"input_tokens": 5, "output_tokens": 1}}});
        state.event(&event(start), &mut out);
        for i in 0..10_000 {
            let delta = json!({"type": "message_delta", "delta": {},
                "usage": {format!("junk_{i}"): i, "output_tokens": i}});
            state.event(&event(delta), &mut out);
        }
        let delta = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"cache_read_input_tokens": 3, "output_tokens": 42}});
        state.event(&event(delta), &mut out);
        state.event(&event(json!({"type": "message_stop"})), &mut out);
        assert!(state.usage.as_object().unwrap().len() <= MAX_USAGE_FIELDS + USAGE_COUNTS.len());
        // The counts still come through, the latest of each.
        let usage = out.last().unwrap()["usage"].clone();
        assert_eq!(usage["completion_tokens"], 42);
        assert_eq!(usage["prompt_tokens"], 8);
    }
}

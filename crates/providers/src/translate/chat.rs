//! An OpenAI Chat Completions request read into a checked form, shared by the Anthropic and
//! Gemini request builders. Every field is type-checked here with its path, so a builder only
//! has to refuse what its provider cannot take.
//!
//! Read: `messages` (roles `system`, `developer`, `user`, `assistant`, `tool`; content parts
//! `text`, `image_url` (https or `data:` base64), `input_audio`, `file` with `file_data`),
//! assistant `tool_calls` (with Gemini's `extra_content.google.thought_signature`), assistant
//! `thinking_blocks` (Anthropic's thinking blocks, as answers through the gateway carry them, so
//! that a tool loop can hand them back), `tools`,
//! `tool_choice`, `parallel_tool_calls`, `response_format`, `temperature`, `top_p`, `top_k`
//! (not OpenAI's, but sent by clients of OpenAI-compatible servers), `reasoning_effort`,
//! `max_completion_tokens`/`max_tokens` (the former wins), `stop`, `n`, `seed`,
//! `presence_penalty`, `frequency_penalty`, `user`, `logprobs`, `top_logprobs`, `stream`,
//! `stream_options`.
//! Refused for both providers, because the answer would differ from the one asked for
//! (400 naming the field): legacy `functions`/`function_call` (and an assistant message's
//! `function_call`, as a `function` message is), `modalities` with `audio`, a non-empty
//! `logit_bias`, and `top_logprobs` without `logprobs: true` (as OpenAI does).
//! Ignored (they change no answer, or have no counterpart): `prediction`, `service_tier`,
//! `store`, `metadata`, `audio` (without audio in `modalities`), `web_search_options`,
//! message `name`s and assistant `refusal` parts.

use super::json::{
    as_object, get, idx, key, opt_array, opt_bool, opt_f64, opt_i64, opt_object, opt_str, opt_u32,
    req_str, text_parts, Obj,
};
use super::TranslateError;
use serde_json::Value;

/// The checked request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// `system` and `developer` messages, in order (wherever they stood).
    pub system: Vec<String>,
    pub turns: Vec<Turn>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    /// `none`, `minimal`, `low`, `medium`, `high` (others are the provider's to refuse).
    pub reasoning_effort: Option<String>,
    /// An exact thinking budget in tokens, which a provider that takes one uses instead of the
    /// effort's: set from an Anthropic client's `thinking.budget_tokens` (never read from an
    /// OpenAI request).
    pub thinking_budget: Option<u32>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub n: Option<u32>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub user: Option<String>,
    /// `logprobs: true`: the client wants the chosen tokens' log probabilities.
    pub logprobs: bool,
    /// `top_logprobs`: how many alternatives per token (only with `logprobs`).
    pub top_logprobs: Option<u32>,
    pub stream: bool,
    pub include_usage: bool,
}

/// One non-system message.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    User {
        parts: Vec<Part>,
    },
    Assistant {
        /// Text only.
        parts: Vec<Part>,
        tool_calls: Vec<ToolCall>,
        /// `thinking_blocks`: Anthropic `thinking` (text and signature) and
        /// `redacted_thinking` blocks, each checked and kept as sent.
        thinking: Vec<Value>,
    },
    Tool {
        call_id: String,
        /// The legacy `name` of a tool message, if sent.
        name: Option<String>,
        text: Vec<String>,
        /// `messages[i]`.
        path: String,
    },
}

/// A content part with its path (`messages[i].content[j]`), for refusals by a builder.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub path: String,
    pub kind: PartKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartKind {
    Text(String),
    Image(Media),
    /// `input_audio`: base64 `data` and its `format` (`wav`, `mp3`).
    Audio {
        format: String,
        data: String,
    },
    /// `file` with inline `file_data`.
    File {
        mime: String,
        data: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// An `http(s)` URL.
    Url(String),
    /// Base64 data from a `data:` URL.
    Inline { mime: String, data: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The parsed `arguments` (an object; `""` reads as `{}`).
    pub arguments: Value,
    pub thought_signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    /// `tools[i]`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
    },
}

/// Reads and checks an OpenAI Chat Completions body.
pub fn parse(o: &Obj) -> Result<ChatRequest, TranslateError> {
    let mut req = ChatRequest::default();
    let messages = opt_array(o, "messages", "")?
        .ok_or_else(|| TranslateError::field("messages", "is required"))?;
    if messages.is_empty() {
        return Err(TranslateError::field("messages", "must not be empty"));
    }
    for (i, m) in messages.iter().enumerate() {
        read_message(&mut req, m, &idx("messages", i))?;
    }
    // Anthropic and Gemini take the system prompt apart from the conversation and refuse a
    // conversation with no turn in it.
    if req.turns.is_empty() {
        return Err(TranslateError::field(
            "messages",
            "holds only system or developer messages; this provider needs a user message too",
        ));
    }
    // Empty messages are left out of a translated conversation (Anthropic and Gemini refuse
    // empty content), but a last user turn left out would turn the conversation into a
    // continuation of the assistant's last message: refused instead.
    if let Some(Turn::User { parts }) = req.turns.last() {
        let empty = parts
            .iter()
            .all(|p| matches!(&p.kind, PartKind::Text(t) if t.is_empty()));
        if empty {
            return Err(TranslateError::field(
                key(&idx("messages", messages.len() - 1), "content"),
                "is empty; the last user message must have content for this provider",
            ));
        }
    }
    if let Some(tools) = opt_array(o, "tools", "")? {
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(read_tool(t, &idx("tools", i))?);
        }
    }
    req.tool_choice = read_tool_choice(get(o, "tool_choice"))?;
    req.parallel_tool_calls = opt_bool(o, "parallel_tool_calls", "")?;
    req.response_format = read_response_format(o)?;
    req.temperature = opt_f64(o, "temperature", "")?;
    req.top_p = opt_f64(o, "top_p", "")?;
    req.top_k = opt_u32(o, "top_k", "")?;
    req.reasoning_effort = opt_str(o, "reasoning_effort", "")?.map(str::to_owned);
    for k in ["max_completion_tokens", "max_tokens"] {
        if let Some(n) = opt_u32(o, k, "")? {
            if n == 0 {
                return Err(TranslateError::field(k, "must be at least 1"));
            }
            req.max_tokens = req.max_tokens.or(Some(n));
        }
    }
    req.stop = match get(o, "stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| TranslateError::field(idx("stop", i), "must be a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(TranslateError::field(
                "stop",
                "must be a string or an array of strings",
            ))
        }
    };
    req.n = opt_u32(o, "n", "")?;
    if req.n == Some(0) {
        return Err(TranslateError::field("n", "must be at least 1"));
    }
    req.seed = opt_i64(o, "seed", "")?;
    req.presence_penalty = opt_f64(o, "presence_penalty", "")?;
    req.frequency_penalty = opt_f64(o, "frequency_penalty", "")?;
    req.user = opt_str(o, "user", "")?.map(str::to_owned);
    req.logprobs = opt_bool(o, "logprobs", "")?.unwrap_or(false);
    req.top_logprobs = opt_u32(o, "top_logprobs", "")?;
    if req.top_logprobs.is_some_and(|n| n > 0) && !req.logprobs {
        // As OpenAI itself answers.
        return Err(TranslateError::field(
            "top_logprobs",
            "needs logprobs set to true",
        ));
    }
    refuse_unsupported(o)?;
    req.stream = opt_bool(o, "stream", "")?.unwrap_or(false);
    if let Some(so) = opt_object(o, "stream_options", "")? {
        req.include_usage = opt_bool(so, "include_usage", "stream_options")?.unwrap_or(false);
    }
    Ok(req)
}

/// Fields that would change the answer and that neither Anthropic nor Gemini can carry: refused
/// rather than dropped, so the client does not take an answer made without them for one made
/// with them.
fn refuse_unsupported(o: &Obj) -> Result<(), TranslateError> {
    // Legacy function calling, as a `role: "function"` message is refused (an empty list of
    // functions, which some clients send, asks for nothing).
    for k in ["functions", "function_call"] {
        if get(o, k).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            return Err(TranslateError::field(
                k,
                "legacy function calling is not supported for this provider; use tools and tool_choice",
            ));
        }
    }
    if let Some(modalities) = opt_array(o, "modalities", "")? {
        if modalities.iter().any(|m| m.as_str() == Some("audio")) {
            return Err(TranslateError::field(
                "modalities",
                "audio output is not supported by this provider; ask for text only",
            ));
        }
    }
    if opt_object(o, "logit_bias", "")?.is_some_and(|b| !b.is_empty()) {
        return Err(TranslateError::field(
            "logit_bias",
            "is not supported by this provider",
        ));
    }
    Ok(())
}

fn read_message(req: &mut ChatRequest, m: &Value, path: &str) -> Result<(), TranslateError> {
    let o = as_object(m, path)?;
    let role = req_str(o, "role", path)?;
    let content_path = key(path, "content");
    let content = get(o, "content");
    match role {
        "system" | "developer" => {
            let texts = text_parts(content.unwrap_or(&Value::Null), &content_path)?;
            // Parts kept apart, as the other direction joins system blocks.
            req.system.push(texts.join("\n\n"));
        }
        "user" => {
            let parts = read_parts(content, &content_path, false)?;
            req.turns.push(Turn::User { parts });
        }
        "assistant" => {
            if get(o, "function_call").is_some() {
                return Err(TranslateError::field(
                    key(path, "function_call"),
                    "legacy function calls are not supported for this provider; use tool_calls",
                ));
            }
            let parts = read_parts(content, &content_path, true)?;
            let mut tool_calls = Vec::new();
            if let Some(calls) = opt_array(o, "tool_calls", path)? {
                let calls_path = key(path, "tool_calls");
                for (j, c) in calls.iter().enumerate() {
                    tool_calls.push(read_tool_call(c, &idx(&calls_path, j))?);
                }
            }
            let mut thinking = Vec::new();
            if let Some(blocks) = opt_array(o, "thinking_blocks", path)? {
                let blocks_path = key(path, "thinking_blocks");
                for (j, b) in blocks.iter().enumerate() {
                    thinking.push(read_thinking_block(b, &idx(&blocks_path, j))?);
                }
            }
            req.turns.push(Turn::Assistant {
                parts,
                tool_calls,
                thinking,
            });
        }
        "tool" => {
            let call_id = req_str(o, "tool_call_id", path)?.to_owned();
            let text = text_parts(content.unwrap_or(&Value::Null), &content_path)?;
            let name = opt_str(o, "name", path)?.map(str::to_owned);
            req.turns.push(Turn::Tool {
                call_id,
                name,
                text,
                path: path.to_owned(),
            });
        }
        other => {
            return Err(TranslateError::field(
                key(path, "role"),
                format!(
                    "'{other}' is not supported; use system, developer, user, assistant or tool"
                ),
            ))
        }
    }
    Ok(())
}

/// One of an assistant message's `thinking_blocks`: `{"type": "thinking", "thinking",
/// "signature"}` or `{"type": "redacted_thinking", "data"}`.
fn read_thinking_block(b: &Value, path: &str) -> Result<Value, TranslateError> {
    let o = as_object(b, path)?;
    let fields: &[&str] = match req_str(o, "type", path)? {
        "thinking" => &["thinking", "signature"],
        "redacted_thinking" => &["data"],
        other => {
            return Err(TranslateError::field(
                key(path, "type"),
                format!("'{other}' is not one of thinking, redacted_thinking"),
            ))
        }
    };
    // Only the block's own fields go on (Anthropic refuses others).
    let mut kept = serde_json::Map::new();
    kept.insert("type".into(), o["type"].clone());
    for f in fields {
        kept.insert((*f).into(), Value::String(req_str(o, f, path)?.to_owned()));
    }
    Ok(Value::Object(kept))
}

fn read_parts(
    content: Option<&Value>,
    path: &str,
    assistant: bool,
) -> Result<Vec<Part>, TranslateError> {
    let items = match content {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => {
            return Ok(vec![Part {
                path: path.to_owned(),
                kind: PartKind::Text(s.clone()),
            }])
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(TranslateError::field(
                path,
                "must be a string or an array of content parts",
            ))
        }
    };
    let mut parts = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let p = idx(path, j);
        let o = as_object(item, &p)?;
        let t = req_str(o, "type", &p)?;
        let kind = match (t, assistant) {
            ("text", _) => PartKind::Text(req_str(o, "text", &p)?.to_owned()),
            ("refusal", true) => continue,
            ("image_url", false) => PartKind::Image(read_image(o, &p)?),
            ("input_audio", false) => {
                let a = opt_object(o, "input_audio", &p)?
                    .ok_or_else(|| TranslateError::field(key(&p, "input_audio"), "is required"))?;
                let ap = key(&p, "input_audio");
                PartKind::Audio {
                    data: req_str(a, "data", &ap)?.to_owned(),
                    format: req_str(a, "format", &ap)?.to_owned(),
                }
            }
            ("file", false) => read_file(o, &p)?,
            _ => {
                let whose = if assistant { "assistant" } else { "user" };
                return Err(TranslateError::field(
                    key(&p, "type"),
                    format!("'{t}' parts are not supported in {whose} messages"),
                ));
            }
        };
        parts.push(Part { path: p, kind });
    }
    Ok(parts)
}

fn read_image(o: &Obj, path: &str) -> Result<Media, TranslateError> {
    let (url, url_path) = match get(o, "image_url") {
        Some(Value::String(s)) => (s.as_str(), key(path, "image_url")),
        Some(Value::Object(m)) => {
            let ip = key(path, "image_url");
            (req_str(m, "url", &ip)?, key(&ip, "url"))
        }
        Some(_) => {
            return Err(TranslateError::field(
                key(path, "image_url"),
                "must be an object with a url",
            ))
        }
        None => return Err(TranslateError::field(key(path, "image_url"), "is required")),
    };
    media_from_url(url, &url_path)
}

/// An `http(s)` URL or a base64 `data:` URL.
pub(crate) fn media_from_url(url: &str, path: &str) -> Result<Media, TranslateError> {
    if url.starts_with("data:") {
        let (mime, data) = data_url(url, path)?;
        return Ok(Media::Inline { mime, data });
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(Media::Url(url.to_owned()));
    }
    Err(TranslateError::field(
        path,
        "must be an http(s) URL or a base64 data URL",
    ))
}

/// `(media type, base64 data)` of a `data:...;base64,...` URL.
fn data_url(url: &str, path: &str) -> Result<(String, String), TranslateError> {
    let rest = url.strip_prefix("data:").unwrap_or(url);
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| TranslateError::field(path, "is a data URL without data"))?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or_else(|| TranslateError::field(path, "data URLs must be base64-encoded"))?;
    // Parameters (`;name=a.png`) are no part of the type.
    let mime = mime.split(';').next().unwrap_or("").trim();
    if mime.is_empty() {
        return Err(TranslateError::field(
            path,
            "the data URL has no media type",
        ));
    }
    let mime = mime.to_ascii_lowercase();
    // Names made from a file's extension, which OpenAI reads as JPEG too.
    let mime = match mime.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".to_owned(),
        _ => mime,
    };
    Ok((mime, data.to_owned()))
}

fn read_file(o: &Obj, path: &str) -> Result<PartKind, TranslateError> {
    let fp = key(path, "file");
    let f =
        opt_object(o, "file", path)?.ok_or_else(|| TranslateError::field(&fp, "is required"))?;
    if get(f, "file_id").is_some() && get(f, "file_data").is_none() {
        return Err(TranslateError::field(
            key(&fp, "file_id"),
            "uploaded files cannot be sent to this provider; send file_data",
        ));
    }
    let data = req_str(f, "file_data", &fp)?;
    let filename = opt_str(f, "filename", &fp)?.unwrap_or("");
    if data.starts_with("data:") {
        let (mime, data) = data_url(data, &key(&fp, "file_data"))?;
        return Ok(PartKind::File { mime, data });
    }
    let mime = if filename.to_ascii_lowercase().ends_with(".pdf") || filename.is_empty() {
        "application/pdf"
    } else {
        mime_from_name(filename).unwrap_or("application/octet-stream")
    };
    Ok(PartKind::File {
        mime: mime.to_owned(),
        data: data.to_owned(),
    })
}

/// The media type a file name or URL path suggests.
pub(crate) fn mime_from_name(name: &str) -> Option<&'static str> {
    let name = name.split(['?', '#']).next().unwrap_or(name);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        _ => return None,
    })
}

fn read_tool_call(c: &Value, path: &str) -> Result<ToolCall, TranslateError> {
    let o = as_object(c, path)?;
    if let Some(t) = opt_str(o, "type", path)? {
        if t != "function" {
            return Err(TranslateError::field(
                key(path, "type"),
                format!("'{t}' tool calls are not supported; only function"),
            ));
        }
    }
    let id = req_str(o, "id", path)?.to_owned();
    let fp = key(path, "function");
    let f = opt_object(o, "function", path)?
        .ok_or_else(|| TranslateError::field(&fp, "is required"))?;
    let name = req_str(f, "name", &fp)?.to_owned();
    let ap = key(&fp, "arguments");
    let arguments = match get(f, "arguments") {
        None => Value::Object(Obj::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Obj::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Value::Object(m),
            Ok(Value::Null) => Value::Object(Obj::new()),
            Ok(_) => return Err(TranslateError::field(ap, "must encode a JSON object")),
            Err(e) => return Err(TranslateError::field(ap, format!("is not valid JSON: {e}"))),
        },
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(_) => return Err(TranslateError::field(ap, "must be a string")),
    };
    let thought_signature = o
        .get("extra_content")
        .and_then(|e| e.pointer("/google/thought_signature"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(ToolCall {
        id,
        name,
        arguments,
        thought_signature,
    })
}

fn read_tool(t: &Value, path: &str) -> Result<Tool, TranslateError> {
    let o = as_object(t, path)?;
    let kind = opt_str(o, "type", path)?.unwrap_or("function");
    if kind != "function" {
        return Err(TranslateError::field(
            key(path, "type"),
            format!("'{kind}' tools are not supported; only function"),
        ));
    }
    let fp = key(path, "function");
    let f = opt_object(o, "function", path)?
        .ok_or_else(|| TranslateError::field(&fp, "is required"))?;
    let name = req_str(f, "name", &fp)?;
    if name.is_empty() {
        return Err(TranslateError::field(key(&fp, "name"), "must not be empty"));
    }
    if name == super::JSON_TOOL {
        return Err(TranslateError::field(
            key(&fp, "name"),
            format!(
                "'{}' is reserved by the gateway for JSON mode",
                super::JSON_TOOL
            ),
        ));
    }
    let parameters = match get(f, "parameters") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            return Err(TranslateError::field(
                key(&fp, "parameters"),
                "must be an object",
            ))
        }
    };
    Ok(Tool {
        name: name.to_owned(),
        description: opt_str(f, "description", &fp)?.map(str::to_owned),
        parameters,
        path: path.to_owned(),
    })
}

fn read_tool_choice(v: Option<&Value>) -> Result<Option<ToolChoice>, TranslateError> {
    let choice = match v {
        None => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(TranslateError::field(
                    "tool_choice",
                    format!("'{other}' is not one of none, auto, required"),
                ))
            }
        },
        Some(Value::Object(o)) => {
            let t = req_str(o, "type", "tool_choice")?;
            if t != "function" {
                return Err(TranslateError::field(
                    "tool_choice.type",
                    format!("'{t}' is not supported; only function"),
                ));
            }
            let f = opt_object(o, "function", "tool_choice")?
                .ok_or_else(|| TranslateError::field("tool_choice.function", "is required"))?;
            ToolChoice::Function(req_str(f, "name", "tool_choice.function")?.to_owned())
        }
        Some(_) => {
            return Err(TranslateError::field(
                "tool_choice",
                "must be a string or an object",
            ))
        }
    };
    Ok(Some(choice))
}

fn read_response_format(o: &Obj) -> Result<Option<ResponseFormat>, TranslateError> {
    let Some(rf) = opt_object(o, "response_format", "")? else {
        return Ok(None);
    };
    let path = "response_format";
    match req_str(rf, "type", path)? {
        "text" => Ok(None),
        "json_object" => Ok(Some(ResponseFormat::JsonObject)),
        "json_schema" => {
            let jp = key(path, "json_schema");
            let js = opt_object(rf, "json_schema", path)?
                .ok_or_else(|| TranslateError::field(&jp, "is required"))?;
            let schema = match get(js, "schema") {
                None => Value::Object(Obj::new()),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => {
                    return Err(TranslateError::field(
                        key(&jp, "schema"),
                        "must be an object",
                    ))
                }
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name: req_str(js, "name", &jp)?.to_owned(),
                description: opt_str(js, "description", &jp)?.map(str::to_owned),
                schema,
            }))
        }
        other => Err(TranslateError::field(
            key(path, "type"),
            format!("'{other}' is not one of text, json_object, json_schema"),
        )),
    }
}

impl ChatRequest {
    /// The name of the function a tool message answers: its own `name`, else the assistant
    /// tool call with that id.
    pub fn tool_name(&self, call_id: &str, own: Option<&str>) -> Option<String> {
        if let Some(n) = own {
            return Some(n.to_owned());
        }
        self.turns.iter().rev().find_map(|t| match t {
            Turn::Assistant { tool_calls, .. } => tool_calls
                .iter()
                .find(|c| c.id == call_id)
                .map(|c| c.name.clone()),
            _ => None,
        })
    }

    /// The instruction that asks for JSON when the provider has no switch for it.
    pub fn json_instruction(&self) -> Option<String> {
        match self.response_format.as_ref()? {
            ResponseFormat::JsonObject => Some(
                "Respond with a single valid JSON object and nothing else: no prose, no code fences."
                    .to_owned(),
            ),
            ResponseFormat::JsonSchema { schema, .. } => Some(format!(
                "Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else: no prose, no code fences.\n{}",
                serde_json::to_string(schema).unwrap_or_default()
            )),
        }
    }
}

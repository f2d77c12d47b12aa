//! Anthropic Messages client (`/compat/v1/messages`), OpenAI-shaped provider: the request, the
//! whole answer and the stream (`chat.completion.chunk`s → `message_start`,
//! `content_block_start`/`_delta`/`_stop` for text and `tool_use` (`input_json_delta`),
//! `message_delta` with the stop reason and usage, `message_stop`). Gemini is reached by
//! chaining through the OpenAI form.
//!
//! Request mapping: `system` → a `system` message (text blocks joined by a blank line);
//! `text` → text parts; `image` (`base64` or `url` source) → `image_url`; a base64 PDF
//! `document` → a `file` part, a plain-text `document` → text; `tool_use` → assistant
//! `tool_calls`; each `tool_result` → a `tool` message ahead of the rest of its user turn (text
//! joined; images moved to that user turn; `is_error: true` prefixes `Error: `);
//! `thinking` blocks dropped; `tools` (custom tools only) → function tools; `tool_choice`
//! `auto`/`any`/`tool`/`none` → `auto`/`required`/function/`none`,
//! `disable_parallel_tool_use` → `parallel_tool_calls: false`; `stop_sequences` → `stop`;
//! structured outputs (`output_config.format` or `output_format`, `json_schema`) →
//! `response_format`; `max_tokens` (or `max_completion_tokens`, see
//! `Options::max_completion_tokens`), `temperature`, `top_p`, `stream` kept (a stream asks for
//! `stream_options.include_usage`, which Anthropic's `message_delta` needs);
//! `metadata.user_id` → `user`; `top_k` for Gemini only (added by the caller, see [`top_k`]).
//! Dropped: `top_k` for OpenAI-shaped providers (OpenAI refuses it), the rest of `metadata`,
//! `service_tier`, `cache_control`. A base64 PDF's `file` part is named by the block's
//! `title`, else `document.pdf` (OpenAI refuses inline file data without a `filename`).
//!
//! Thinking: `thinking` (`enabled` with its `budget_tokens`, `adaptive` or `disabled`) is
//! checked but not sent to OpenAI-shaped providers, which have no common switch for it (some
//! refuse `reasoning_effort` outright, and their reasoning models reason anyway). Gemini gets
//! the client's `budget_tokens` as its `thinkingBudget` (Gemini 3, which takes a level, gets a
//! budget up to 1,024 as `low`, up to 8,192 `medium`, above that `high`; `adaptive` is `high`
//! with no budget). When the client asked for thinking, the provider's reasoning text
//! (`reasoning_content`, or `reasoning` as some servers name it) comes back as a `thinking`
//! block ahead of the answer, with an empty signature (it was not Anthropic's); without the
//! ask it is left out, as Anthropic sends no thinking to a client that did not ask.
//!
//! Answer mapping: the first choice; `finish_reason` `stop`/`length`/`tool_calls`/
//! `content_filter` → `end_turn`/`max_tokens`/`tool_use`/`refusal`, except that a message
//! holding `tool_use` blocks stops with `tool_use` unless the finish was `length` (whole
//! answers and streams alike: some servers finish tool-call turns with `stop` or `""`).
//! OpenAI does not say whether a stop sequence ended the answer, so `stop_sequence` is always
//! null and such an end is `end_turn`; usage → `input_tokens` (uncached),
//! `cache_read_input_tokens`, `output_tokens` (reasoning included). Tool call arguments that
//! are not a JSON object become `{}`. A `refusal` becomes the answer's text, with `stop_reason`
//! `refusal`.

use super::error::{openai_error, ProviderError};
use super::json::{
    as_object, get, idx, key, opt_array, opt_bool, opt_f64, opt_object, opt_str, opt_u32, req_str,
    s, text_parts, to_bytes, Obj,
};
use super::openai::{self, Usage};
use super::{Options, Reply, TranslateError, Upstream};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// An Anthropic Messages request → the OpenAI Chat Completions request object.
pub(crate) fn request(o: &Obj, model: &str, opts: &Options) -> Result<Obj, TranslateError> {
    let mut messages = Vec::new();
    if let Some(system) = get(o, "system") {
        let text = text_parts(system, "system")?.join("\n\n");
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let list = opt_array(o, "messages", "")?
        .ok_or_else(|| TranslateError::field("messages", "is required"))?;
    if list.is_empty() {
        return Err(TranslateError::field("messages", "must not be empty"));
    }
    for (i, m) in list.iter().enumerate() {
        let path = idx("messages", i);
        let mo = as_object(m, &path)?;
        match req_str(mo, "role", &path)? {
            "user" => user_message(mo, &path, &mut messages)?,
            "assistant" => messages.extend(assistant_message(mo, &path)?),
            other => {
                return Err(TranslateError::field(
                    key(&path, "role"),
                    format!("'{other}' is not one of user, assistant"),
                ))
            }
        }
    }

    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(m) = opt_u32(o, "max_tokens", "")? {
        let field = if opts.max_completion_tokens {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        out.insert(field.into(), json!(m));
    }
    for k in ["temperature", "top_p"] {
        if let Some(x) = opt_f64(o, k, "")? {
            out.insert(k.into(), json!(x));
        }
    }
    if let Some(stops) = opt_array(o, "stop_sequences", "")? {
        for (i, s) in stops.iter().enumerate() {
            if !s.is_string() {
                return Err(TranslateError::field(
                    idx("stop_sequences", i),
                    "must be a string",
                ));
            }
        }
        if !stops.is_empty() {
            out.insert("stop".into(), Value::Array(stops.clone()));
        }
    }
    if let Some(tools) = opt_array(o, "tools", "")? {
        let mut list = Vec::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            list.push(tool(t, &idx("tools", i))?);
        }
        if !list.is_empty() {
            out.insert("tools".into(), Value::Array(list));
        }
    }
    if let Some(tc) = opt_object(o, "tool_choice", "")? {
        let choice = match req_str(tc, "type", "tool_choice")? {
            "auto" => json!("auto"),
            "any" => json!("required"),
            "none" => json!("none"),
            "tool" => {
                json!({"type": "function", "function": {"name": req_str(tc, "name", "tool_choice")?}})
            }
            other => {
                return Err(TranslateError::field(
                    "tool_choice.type",
                    format!("'{other}' is not one of auto, any, tool, none"),
                ))
            }
        };
        if out.contains_key("tools") {
            out.insert("tool_choice".into(), choice);
            if opt_bool(tc, "disable_parallel_tool_use", "tool_choice")? == Some(true) {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }
    if let Some(format) = output_format(o)? {
        out.insert("response_format".into(), format);
    }
    // Both name the end user for the provider's abuse monitoring.
    if let Some(m) = opt_object(o, "metadata", "")? {
        if let Some(u) = opt_str(m, "user_id", "metadata")? {
            out.insert("user".into(), json!(u));
        }
    }
    if opt_bool(o, "stream", "")? == Some(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(out)
}

/// Structured outputs (`output_config.format`, or the beta `output_format`) →
/// `response_format`.
fn output_format(o: &Obj) -> Result<Option<Value>, TranslateError> {
    let (f, path) = match opt_object(o, "output_config", "")? {
        Some(oc) => match opt_object(oc, "format", "output_config")? {
            Some(f) => (f, "output_config.format"),
            None => return Ok(None),
        },
        None => match opt_object(o, "output_format", "")? {
            Some(f) => (f, "output_format"),
            None => return Ok(None),
        },
    };
    match req_str(f, "type", path)? {
        "json_schema" => {
            let schema = opt_object(f, "schema", path)?
                .ok_or_else(|| TranslateError::field(key(path, "schema"), "is required"))?;
            Ok(Some(json!({"type": "json_schema", "json_schema": {
                "name": "output",
                "schema": schema,
            }})))
        }
        other => Err(TranslateError::field(
            key(path, "type"),
            format!("'{other}' is not supported; only json_schema"),
        )),
    }
}

/// A refusal of the OpenAI form of an Anthropic request, reworded for the client when it names
/// a field the client wrote under another name: a tool's schema (`tools[i].function.parameters`
/// is the client's `tools[i].input_schema`) or the structured output's
/// (`response_format.json_schema.schema` is `output_config.format.schema` or
/// `output_format.schema`).
pub(crate) fn client_field(e: TranslateError, o: &Obj) -> TranslateError {
    let Some(param) = e.param.as_deref() else {
        return e;
    };
    let theirs = if param == "response_format.json_schema.schema" {
        if get(o, "output_config").is_some() {
            "output_config.format.schema".to_owned()
        } else {
            "output_format.schema".to_owned()
        }
    } else if let Some(tool) = param
        .strip_suffix(".function.parameters")
        .filter(|t| t.starts_with("tools["))
    {
        key(tool, "input_schema")
    } else {
        return e;
    };
    let detail = e
        .message
        .strip_prefix(param)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(&e.message);
    TranslateError {
        status: e.status,
        ..TranslateError::field(theirs, detail)
    }
}

/// The request's `thinking`: `None` when off, else the budget (`None` inside for `adaptive`,
/// which leaves the amount to the model).
pub(crate) fn thinking(o: &Obj) -> Result<Option<Option<u32>>, TranslateError> {
    let Some(t) = opt_object(o, "thinking", "")? else {
        return Ok(None);
    };
    match req_str(t, "type", "thinking")? {
        "disabled" => Ok(None),
        "adaptive" => Ok(Some(None)),
        "enabled" => Ok(Some(opt_u32(t, "budget_tokens", "thinking")?)),
        other => Err(TranslateError::field(
            "thinking.type",
            format!("'{other}' is not one of enabled, adaptive, disabled"),
        )),
    }
}

/// The request's `top_k`, which Gemini takes (`generationConfig.topK`) and OpenAI's API does
/// not (it refuses unknown fields), so it is added to the OpenAI form for Gemini only.
pub(crate) fn top_k(o: &Obj) -> Result<Option<u32>, TranslateError> {
    opt_u32(o, "top_k", "")
}

/// A thinking budget as an OpenAI `reasoning_effort` (for Gemini).
pub(crate) fn effort_for(budget: Option<u32>) -> &'static str {
    match budget {
        Some(b) if b <= 1024 => "low",
        Some(b) if b <= 8192 => "medium",
        _ => "high",
    }
}

/// The OpenAI request ready to send; `thinking`: the client asked for thinking blocks.
pub(crate) fn upstream(openai: Obj, thinking: bool) -> Upstream {
    let stream = openai.get("stream") == Some(&Value::Bool(true));
    Upstream {
        body: to_bytes(&Value::Object(openai)),
        path: "chat/completions".to_owned(),
        stream,
        include_usage: false,
        reply: Reply {
            thinking,
            ..Reply::default()
        },
        more: Vec::new(),
    }
}

/// A message's (or a delta's) reasoning text, under either name servers give it.
fn reasoning_text(m: &Value) -> &str {
    match s(m, "reasoning_content") {
        "" => s(m, "reasoning"),
        t => t,
    }
}

fn tool(t: &Value, path: &str) -> Result<Value, TranslateError> {
    let o = as_object(t, path)?;
    if let Some(kind) = opt_str(o, "type", path)? {
        if kind != "custom" {
            return Err(TranslateError::field(
                key(path, "type"),
                format!("'{kind}' tools run on Anthropic's servers and cannot be translated"),
            ));
        }
    }
    let name = req_str(o, "name", path)?;
    let mut f = json!({"name": name});
    if let Some(d) = opt_str(o, "description", path)? {
        f["description"] = json!(d);
    }
    f["parameters"] = match get(o, "input_schema") {
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(TranslateError::field(
                key(path, "input_schema"),
                "must be an object",
            ))
        }
        None => {
            return Err(TranslateError::field(
                key(path, "input_schema"),
                "is required",
            ))
        }
    };
    Ok(json!({"type": "function", "function": f}))
}

/// The blocks of a message's `content` (a string reads as one text block).
fn blocks<'a>(o: &'a Obj, path: &str) -> Result<Vec<(String, &'a Obj)>, TranslateError> {
    let cp = key(path, "content");
    match get(o, "content") {
        Some(Value::String(_)) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, b)| {
                let p = idx(&cp, j);
                Ok((p.clone(), as_object(b, &p)?))
            })
            .collect(),
        None => Err(TranslateError::field(cp, "is required")),
        Some(_) => Err(TranslateError::field(
            cp,
            "must be a string or an array of blocks",
        )),
    }
}

fn user_message(o: &Obj, path: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    if let Some(Value::String(text)) = get(o, "content") {
        out.push(json!({"role": "user", "content": text}));
        return Ok(());
    }
    let mut parts = Vec::new();
    for (p, b) in blocks(o, path)? {
        match req_str(b, "type", &p)? {
            "tool_result" => out.push(tool_result(b, &p, &mut parts)?),
            "text" => parts.push(json!({"type": "text", "text": req_str(b, "text", &p)?})),
            "image" => parts.push(image(b, &p)?),
            "document" => parts.push(document(b, &p)?),
            other => {
                return Err(TranslateError::field(
                    key(&p, "type"),
                    format!("'{other}' blocks cannot be translated for this provider"),
                ))
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": collapse(parts)}));
    }
    Ok(())
}

/// One text part → a plain string.
fn collapse(parts: Vec<Value>) -> Value {
    match parts.as_slice() {
        [one] if one["type"] == "text" => one["text"].clone(),
        _ => Value::Array(parts),
    }
}

fn source<'a>(b: &'a Obj, path: &str) -> Result<(&'a Obj, String), TranslateError> {
    let sp = key(path, "source");
    let src =
        opt_object(b, "source", path)?.ok_or_else(|| TranslateError::field(&sp, "is required"))?;
    Ok((src, sp))
}

fn image(b: &Obj, path: &str) -> Result<Value, TranslateError> {
    let (src, sp) = source(b, path)?;
    let url = match req_str(src, "type", &sp)? {
        "base64" => format!(
            "data:{};base64,{}",
            req_str(src, "media_type", &sp)?,
            req_str(src, "data", &sp)?
        ),
        "url" => req_str(src, "url", &sp)?.to_owned(),
        other => {
            return Err(TranslateError::field(
                key(&sp, "type"),
                format!("'{other}' image sources cannot be translated; use base64 or url"),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// The `filename` of a PDF sent as a `file` part when the document has no `title`.
const DOCUMENT_FILENAME: &str = "document.pdf";

fn document(b: &Obj, path: &str) -> Result<Value, TranslateError> {
    let (src, sp) = source(b, path)?;
    match req_str(src, "type", &sp)? {
        "base64" if opt_str(src, "media_type", &sp)? == Some("application/pdf") => {
            // OpenAI refuses inline file data without a `filename` (it then asks for a
            // `file_id`); the block's title is the nearest thing to one.
            let filename = match opt_str(b, "title", path)? {
                Some(t) if !t.trim().is_empty() => t,
                _ => DOCUMENT_FILENAME,
            };
            Ok(json!({
                "type": "file",
                "file": {
                    "filename": filename,
                    "file_data": format!("data:application/pdf;base64,{}", req_str(src, "data", &sp)?),
                },
            }))
        }
        "text" => Ok(json!({"type": "text", "text": req_str(src, "data", &sp)?})),
        _ => Err(TranslateError::field(
            key(&sp, "type"),
            "only base64 PDF and text documents can be translated",
        )),
    }
}

/// A `tool_result` block → a `tool` message; its images go to `parts` (the user turn).
fn tool_result(b: &Obj, path: &str, parts: &mut Vec<Value>) -> Result<Value, TranslateError> {
    let id = req_str(b, "tool_use_id", path)?;
    let cp = key(path, "content");
    let mut text = Vec::new();
    match get(b, "content") {
        None => {}
        Some(Value::String(t)) => text.push(t.clone()),
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let p = idx(&cp, k);
                let io = as_object(item, &p)?;
                match req_str(io, "type", &p)? {
                    "text" => text.push(req_str(io, "text", &p)?.to_owned()),
                    "image" => parts.push(image(io, &p)?),
                    other => {
                        return Err(TranslateError::field(
                            key(&p, "type"),
                            format!("'{other}' blocks cannot be translated in a tool result"),
                        ))
                    }
                }
            }
        }
        Some(_) => {
            return Err(TranslateError::field(
                cp,
                "must be a string or an array of blocks",
            ))
        }
    }
    let mut content = text.join("\n");
    if opt_bool(b, "is_error", path)? == Some(true) {
        content = format!("Error: {content}");
    }
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

fn assistant_message(o: &Obj, path: &str) -> Result<Option<Value>, TranslateError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    if let Some(Value::String(t)) = get(o, "content") {
        text.push_str(t);
    }
    for (p, b) in blocks(o, path)? {
        match req_str(b, "type", &p)? {
            "text" => text.push_str(req_str(b, "text", &p)?),
            "tool_use" => {
                let input = get(b, "input").cloned().unwrap_or_else(|| json!({}));
                calls.push(openai::tool_call(
                    None,
                    req_str(b, "id", &p)?,
                    req_str(b, "name", &p)?,
                    &serde_json::to_string(&input).unwrap_or_default(),
                    None,
                ));
            }
            "thinking" | "redacted_thinking" => {}
            other => {
                return Err(TranslateError::field(
                    key(&p, "type"),
                    format!("'{other}' blocks cannot be translated for this provider"),
                ))
            }
        }
    }
    if text.is_empty() && calls.is_empty() {
        return Ok(None);
    }
    let mut m = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        m["tool_calls"] = Value::Array(calls);
    }
    Ok(Some(m))
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// The `stop_reason` of a translated message whose finish reason maps to `reason`; `called`:
/// it holds `tool_use` blocks, `refused`: its text is the provider's refusal. Calls make it
/// `tool_use` whatever the finish text said, except a cut at the length limit: several
/// OpenAI-shaped servers (older xAI, Google's compatible endpoint, self-hosted ones) end
/// tool-call turns with `stop` or `""`, and Anthropic agent loops run the tools only while the
/// reason is `tool_use`.
fn message_stop_reason(reason: &'static str, called: bool, refused: bool) -> &'static str {
    match reason {
        _ if refused => "refusal",
        "max_tokens" => reason,
        _ if called => "tool_use",
        _ => reason,
    }
}

fn message_id(openai_id: &str) -> String {
    let bare = openai_id.strip_prefix("chatcmpl-").unwrap_or(openai_id);
    if bare.is_empty() {
        openai::fallback_id("msg_")
    } else {
        format!("msg_{bare}")
    }
}

fn anthropic_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt.saturating_sub(u.cached.saturating_add(u.cache_write)),
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cached,
        "output_tokens": u.completion,
    })
}

fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// A `chat.completion` → an Anthropic message; `thinking`: the client asked for thinking.
pub(crate) fn response(v: &Value, model: &str, thinking: bool) -> Result<Value, String> {
    let Some(choice) = v.pointer("/choices/0") else {
        return Err("the answer has no choices".to_owned());
    };
    let message = &choice["message"];
    check_message(message)?;
    let mut content = Vec::new();
    let reasoning = reasoning_text(message);
    if thinking && !reasoning.is_empty() {
        content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
    }
    let text = match message.get("content") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(parts)) => parts.iter().map(|p| s(p, "text")).collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    // A refusal (OpenAI's own field) is the answer's text, and the reason it stopped.
    let refusal = s(message, "refusal");
    if !refusal.is_empty() {
        content.push(json!({"type": "text", "text": refusal}));
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for c in calls {
        let f = &c["function"];
        content.push(json!({
            "type": "tool_use",
            "id": s(c, "id"),
            "name": s(f, "name"),
            "input": tool_input(s(f, "arguments")),
        }));
    }
    let usage = v.get("usage").map(Usage::from_openai).unwrap_or_default();
    let model = match s(v, "model") {
        "" => model,
        m => m,
    };
    Ok(json!({
        "id": message_id(s(v, "id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": message_stop_reason(
            stop_reason(s(choice, "finish_reason")),
            !calls.is_empty(),
            !refusal.is_empty(),
        ),
        "stop_sequence": null,
        "usage": anthropic_usage(&usage),
    }))
}

/// The first choice's `message` is a Chat Completions message: an object whose `content` is
/// text, a list of parts or null, and whose `tool_calls`, if any, each name a function. An
/// answer that is not is not made into an empty success.
fn check_message(message: &Value) -> Result<(), String> {
    if !message.is_object() {
        return Err("choices[0].message is not an object".to_owned());
    }
    if !matches!(
        message.get("content"),
        None | Some(Value::Null | Value::String(_) | Value::Array(_))
    ) {
        return Err("choices[0].message.content is neither text nor a list of parts".to_owned());
    }
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(calls)) => calls.as_slice(),
        Some(_) => return Err("choices[0].message.tool_calls is not a list".to_owned()),
    };
    if let Some(i) = calls
        .iter()
        .position(|c| !c.pointer("/function/name").is_some_and(Value::is_string))
    {
        return Err(format!(
            "choices[0].message.tool_calls[{i}] names no function"
        ));
    }
    Ok(())
}

/// An Anthropic event: its name and its data.
pub(crate) type Event = (&'static str, Value);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u64),
    Tool(u64),
    Thinking(u64),
}

/// Where a tool call of the OpenAI stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Streaming live as the open block with this index.
    Live(u64),
    /// Held back (another call is streaming): its place in [`StreamState::held`].
    Held(usize),
    /// Its block is closed; anything more for it is dropped.
    Closed,
}

/// The most tool calls one stream may make. Real answers make a handful (OpenAI allows 128
/// tools a request); the calls are kept by the provider's `index` (and `id`) for the whole
/// stream, so without a cap a stream starting a new call in every chunk would grow that map
/// without end. A stream past it ends with an error, as one cut short does: the client is
/// not handed an answer with calls left out as if it were whole.
const MAX_STREAM_TOOL_CALLS: usize = 4096;

/// A tool call waiting for the streaming one to end.
#[derive(Debug)]
struct HeldCall {
    /// Its key in [`StreamState::tools`].
    key: u64,
    id: String,
    name: String,
    arguments: String,
}

/// OpenAI chunk objects → Anthropic events.
///
/// OpenAI may interleave the argument pieces of parallel tool calls (they are keyed by
/// `index`); Anthropic's blocks follow one another, each closed before the next starts. So
/// the first call streams live, and calls that begin while it is open are held, their
/// arguments gathered, and sent whole, one block each, when it closes (at the next text, or
/// at the end). A call's delta without `index` belongs to the call its `id` names, or to the
/// latest call when it has no `id` either.
#[derive(Debug)]
pub(crate) struct StreamState {
    model: String,
    /// The client asked for thinking: reasoning deltas become a thinking block.
    thinking: bool,
    started: bool,
    next_block: u64,
    open: Option<Open>,
    /// OpenAI call key → where it stands; the key of the live one.
    tools: HashMap<u64, Call>,
    live_key: Option<u64>,
    held: Vec<HeldCall>,
    /// Keys given to calls that came without `index`, by `id`.
    keys_by_id: HashMap<String, u64>,
    last_key: Option<u64>,
    /// The answer is a refusal (OpenAI's `refusal` deltas), streamed as text.
    refused: bool,
    /// The provider's finish reason, as an Anthropic `stop_reason`, once it came.
    finish_reason: Option<&'static str>,
    usage: Usage,
    saw_done: bool,
    finished: bool,
}

impl StreamState {
    /// Usage the provider reported before its first chunk reached this side (Gemini counts
    /// the prompt in every chunk), for `message_start`.
    pub fn early_usage(&mut self, u: Usage) {
        if !self.started {
            self.usage = u;
        }
    }

    pub fn new(model: &str, thinking: bool) -> Self {
        Self {
            model: model.to_owned(),
            thinking,
            started: false,
            next_block: 0,
            open: None,
            tools: HashMap::new(),
            live_key: None,
            held: Vec::new(),
            keys_by_id: HashMap::new(),
            last_key: None,
            refused: false,
            finish_reason: None,
            usage: Usage::default(),
            saw_done: false,
            finished: false,
        }
    }

    /// One chunk (or `{"error":...}` object) of the OpenAI stream.
    pub fn chunk(&mut self, v: &Value, out: &mut Vec<Event>) {
        if self.finished {
            return;
        }
        if v.get("error").is_some() {
            if let Some(e) = ProviderError::from_event(v) {
                out.push(("error", e.anthropic_value()));
                self.finished = true;
            }
            return;
        }
        if !v.is_object() {
            return;
        }
        // Read before `start`: a first chunk with usage gives `message_start` its input count.
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = Usage::from_openai(u);
        }
        self.start(v, out);
        let choices = v.get("choices").and_then(Value::as_array);
        let Some(choice) = choices.and_then(|cs| {
            cs.iter()
                .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        }) else {
            return;
        };
        let delta = &choice["delta"];
        if self.thinking {
            let t = reasoning_text(delta);
            if !t.is_empty() {
                self.reasoning(t, out);
            }
        }
        if let Some(t) = delta.get("content").and_then(Value::as_str) {
            if !t.is_empty() {
                self.text(t, out);
            }
        }
        if let Some(t) = delta.get("refusal").and_then(Value::as_str) {
            if !t.is_empty() {
                self.refused = true;
                self.text(t, out);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (pos, c) in calls.iter().enumerate() {
                self.tool(c, pos as u64, out);
                if self.finished {
                    return;
                }
            }
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(stop_reason(f));
            self.close(out);
        }
    }

    fn start(&mut self, v: &Value, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(m) = v
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            self.model = m.to_owned();
        }
        out.push((
            "message_start",
            json!({"type": "message_start", "message": {
                "id": message_id(s(v, "id")),
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                // Anthropic's own streams give the input count here; output comes later.
                "usage": anthropic_usage(&Usage { completion: 0, ..self.usage }),
            }}),
        ));
    }

    fn open_block(&mut self, block: Value, out: &mut Vec<Event>) -> u64 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some(Open::Text(i) | Open::Tool(i) | Open::Thinking(i)) = self.open.take() {
            out.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ));
        }
        if let Some(key) = self.live_key.take() {
            self.tools.insert(key, Call::Closed);
        }
        // The calls held while the live one streamed, each whole, in the order they began:
        // closed one by one (not by a pass over every call of the stream, which would cost
        // the stream's length at each block change).
        for call in std::mem::take(&mut self.held) {
            self.tools.insert(call.key, Call::Closed);
            let index = self.next_block;
            self.next_block += 1;
            out.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block":
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
            ));
            if !call.arguments.is_empty() {
                out.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta":
                        {"type": "input_json_delta", "partial_json": call.arguments}}),
                ));
            }
            out.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn text(&mut self, t: &str, out: &mut Vec<Event>) {
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => {
                let i = self.open_block(json!({"type": "text", "text": ""}), out);
                self.open = Some(Open::Text(i));
                i
            }
        };
        out.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}),
        ));
    }

    fn reasoning(&mut self, t: &str, out: &mut Vec<Event>) {
        let index = match self.open {
            Some(Open::Thinking(i)) => i,
            _ => {
                let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                let i = self.open_block(block, out);
                self.open = Some(Open::Thinking(i));
                i
            }
        };
        out.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": t}}),
        ));
    }

    fn tool(&mut self, c: &Value, pos: u64, out: &mut Vec<Event>) {
        let key = match c.get("index").and_then(Value::as_u64) {
            Some(k) => k,
            None => match s(c, "id") {
                "" => self.last_key.unwrap_or(pos),
                id => match self.keys_by_id.get(id) {
                    Some(&k) => k,
                    None => {
                        // Clear of any `index` an upstream sends.
                        let k = (1 << 32) + self.keys_by_id.len() as u64;
                        self.keys_by_id.insert(id.to_owned(), k);
                        k
                    }
                },
            },
        };
        self.last_key = Some(key);
        let f = &c["function"];
        let args = s(f, "arguments");
        let index = match self.tools.get(&key).copied() {
            Some(Call::Live(i)) => i,
            Some(Call::Held(h)) => {
                self.held[h].arguments.push_str(args);
                return;
            }
            Some(Call::Closed) => return,
            None if self.tools.len() >= MAX_STREAM_TOOL_CALLS => {
                let e = openai_error(
                    502,
                    &format!(
                        "the provider's stream makes more than {MAX_STREAM_TOOL_CALLS} tool calls"
                    ),
                    None,
                    None,
                );
                self.chunk(&e, out);
                return;
            }
            None => {
                let id = match s(c, "id") {
                    "" => openai::fallback_id("toolu_"),
                    id => id.to_owned(),
                };
                let name = s(f, "name").to_owned();
                if self.live_key.is_some() {
                    self.held.push(HeldCall {
                        key,
                        id,
                        name,
                        arguments: args.to_owned(),
                    });
                    self.tools.insert(key, Call::Held(self.held.len() - 1));
                    return;
                }
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let i = self.open_block(block, out);
                self.open = Some(Open::Tool(i));
                self.tools.insert(key, Call::Live(i));
                self.live_key = Some(key);
                i
            }
        };
        if !args.is_empty() {
            out.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": args}}),
            ));
        }
    }

    /// Whether the client has its last event (`message_stop` or `error`).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// `data: [DONE]`.
    pub fn done_marker(&mut self, out: &mut Vec<Event>) {
        self.saw_done = true;
        self.end(out);
    }

    fn end(&mut self, out: &mut Vec<Event>) {
        if self.finished {
            return;
        }
        self.start(&Value::Null, out);
        self.close(out);
        // Every call in `tools` has been sent as a `tool_use` block by now (`close` sends the
        // held ones), so the reason can follow the blocks, as in a whole answer.
        let reason = message_stop_reason(
            self.finish_reason.unwrap_or("end_turn"),
            !self.tools.is_empty(),
            self.refused,
        );
        out.push((
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": null},
                "usage": anthropic_usage(&self.usage)}),
        ));
        out.push(("message_stop", json!({"type": "message_stop"})));
        self.finished = true;
    }

    /// The provider's stream ended.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.finished {
            return;
        }
        if self.finish_reason.is_some() || self.saw_done {
            self.end(out);
        } else {
            let e = ProviderError::from_event(&super::stream::truncated_error());
            if let Some(e) = e {
                out.push(("error", e.anthropic_value()));
            }
            self.finished = true;
        }
    }
}

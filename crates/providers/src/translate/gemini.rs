//! OpenAI Chat Completions client, Gemini provider: the `generateContent` /
//! `streamGenerateContent?alt=sse` request, the whole answer and the stream.
//!
//! Request mapping: `system`/`developer` → `systemInstruction`; `user` → role `user`,
//! `assistant` → role `model`, consecutive turns of one role merged; `image_url` → `inlineData`
//! (`data:` URLs) or `fileData` (http(s) URLs, media type guessed from the file extension,
//! else `image/jpeg`); `input_audio` and PDF `file_data` → `inlineData`; assistant
//! `tool_calls` → `functionCall` parts, tool messages → `functionResponse` parts (the function
//! name looked up from the call id; a JSON-object result is sent as is, anything else as
//! `{"result": ...}`); `tools` → one `functionDeclarations` tool, `tool_choice` →
//! `toolConfig.functionCallingConfig` (`AUTO`, `NONE`, `ANY`, `ANY` + `allowedFunctionNames`);
//! `stop`, `n`, `max_completion_tokens`/`max_tokens`, `temperature`, `top_p`, `top_k`, `seed`,
//! `presence_penalty`, `frequency_penalty` and JSON mode → `generationConfig`; `logprobs` and
//! `top_logprobs` → `generationConfig.responseLogprobs` and `logprobs`, and a candidate's
//! `logprobsResult` back to the choice's `logprobs.content` (whole answers only: a streaming
//! request with `logprobs` is refused);
//! `reasoning_effort` → `generationConfig.thinkingConfig` as Google's own OpenAI-compatible
//! endpoint maps it: Gemini 3 and later take it as `thinkingLevel` (`none` as `minimal`),
//! earlier models as `thinkingBudget` (`none` 0, `minimal` and `low` 1,024, `medium` 8,192,
//! `high` 24,576 tokens), with `includeThoughts` unless the effort is `none`, so that the
//! model's thought summaries come back as the message's `reasoning_content` (in a stream, as
//! `reasoning_content` deltas), apart from its answer.
//! Dropped: `parallel_tool_calls`, `user`.
//!
//! Failures: a candidate that ends with `MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL`,
//! `TOO_MANY_TOOL_CALLS`, `MISSING_THOUGHT_SIGNATURE` or `MALFORMED_RESPONSE` and holds no
//! text and no function call is Gemini saying it could not answer: a whole answer becomes a
//! 502 naming the reason and Gemini's `finishMessage` (the reason is OpenAI's `code`), a
//! stream ends with that error. With text or calls in it, the candidate is an answer like any
//! other (`stop` or `tool_calls`).
//!
//! Thought signatures: Gemini 3 requires the `thoughtSignature` of a function call back with
//! the call. Answers carry it as `extra_content.google.thought_signature` on the tool call
//! (the convention of Google's own OpenAI endpoint); requests send it back from there, and for
//! a Gemini 3+ model a call without one gets Google's documented placeholder
//! `skip_thought_signature_validator` on the first call of the turn.

use super::chat::{ChatRequest, Media, Part, PartKind, ResponseFormat, ToolChoice, Turn};
use super::error::ProviderError;
use super::gemini_schema;
use super::json::{key, n, parse_value, s, to_bytes};
use super::openai::{self, ChunkHead, Usage};
use super::{Reply, TranslateError, Upstream};
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The placeholder signature Google documents for function calls whose signature was lost.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The model name as it goes in the path (`models/` prefix dropped), checked to be a plain
/// name.
pub(crate) fn model_name(model: &str) -> Result<&str, TranslateError> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    let ok = !m.is_empty()
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(m)
    } else {
        Err(TranslateError::field(
            "model",
            format!("'{model}' is not a Gemini model name"),
        ))
    }
}

/// Builds the Gemini request.
pub(crate) fn request(req: &ChatRequest, model: &str) -> Result<Upstream, TranslateError> {
    let name = model_name(model)?;
    if req.logprobs && req.stream {
        // Translated in whole answers only: refused rather than dropped from a stream.
        return Err(TranslateError::field(
            "logprobs",
            "log probabilities from Gemini are returned only without streaming; set stream to false",
        ));
    }
    let contents = contents(req, name)?;
    let mut body = Map::new();
    let system: Vec<Value> = req
        .system
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| json!({"text": t}))
        .collect();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    body.insert("contents".into(), Value::Array(contents));
    // One budget for every schema of the request (see `gemini_schema`).
    let mut budget = gemini_schema::Budget::default();
    if !req.tools.is_empty() {
        let mut decls = Vec::with_capacity(req.tools.len());
        for t in &req.tools {
            let mut d = json!({"name": t.name});
            if let Some(desc) = &t.description {
                d["description"] = json!(desc);
            }
            let has_properties = t
                .parameters
                .as_ref()
                .and_then(|p| p.get("properties"))
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            // Gemini refuses an OBJECT without properties: a function without
            // arguments has no `parameters`.
            if let Some(p) = t.parameters.as_ref().filter(|_| has_properties) {
                d["parameters"] = gemini_schema::convert(p, false, &mut budget).map_err(|e| {
                    TranslateError::field(key(&key(&t.path, "function"), "parameters"), e.detail())
                })?;
            }
            decls.push(d);
        }
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        if let Some(choice) = &req.tool_choice {
            let config = match choice {
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Function(f) => json!({"mode": "ANY", "allowedFunctionNames": [f]}),
            };
            body.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }
    let config = generation_config(req, name, &mut budget)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    let path = if req.stream {
        format!("v1beta/models/{name}:streamGenerateContent?alt=sse")
    } else {
        format!("v1beta/models/{name}:generateContent")
    };
    Ok(Upstream {
        body: to_bytes(&Value::Object(body)),
        path,
        stream: req.stream,
        include_usage: req.include_usage,
        reply: Reply {
            candidates: req.n.unwrap_or(1),
            top_logprobs: req.top_logprobs.filter(|_| req.logprobs).unwrap_or(0),
            ..Reply::default()
        },
        more: Vec::new(),
    })
}

fn generation_config(
    req: &ChatRequest,
    model: &str,
    budget: &mut gemini_schema::Budget,
) -> Result<Map<String, Value>, TranslateError> {
    let mut c = Map::new();
    if let Some(k) = req.top_k {
        c.insert("topK".into(), json!(k));
    }
    if let Some(effort) = req.reasoning_effort.as_deref() {
        let thinking = if checks_signatures(model) {
            json!({"thinkingLevel": thinking_level(model, effort)})
        } else {
            // A client's own budget within what the model takes (Pro 32,768, others 24,576).
            let most = if model.contains("pro") {
                32_768
            } else {
                24_576
            };
            let budget = req
                .thinking_budget
                .map(|b| b.min(most))
                .unwrap_or(match effort {
                    "none" => 0,
                    "minimal" | "low" => 1024,
                    "medium" => 8192,
                    _ => 24576,
                });
            // Pro models cannot stop thinking: their least budget is 128.
            let budget = if model.contains("pro") {
                budget.max(128)
            } else {
                budget
            };
            json!({"thinkingBudget": budget})
        };
        let mut thinking = thinking;
        if effort != "none" {
            thinking["includeThoughts"] = json!(true);
        }
        c.insert("thinkingConfig".into(), thinking);
    }
    // An empty stop sequence means nothing; left out.
    let stops: Vec<&String> = req.stop.iter().filter(|s| !s.is_empty()).collect();
    if !stops.is_empty() {
        c.insert("stopSequences".into(), json!(stops));
    }
    if let Some(n) = req.n {
        c.insert("candidateCount".into(), json!(n));
    }
    if let Some(m) = req.max_tokens {
        c.insert("maxOutputTokens".into(), json!(m));
    }
    if let Some(t) = req.temperature {
        c.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        c.insert("topP".into(), json!(p));
    }
    if let Some(s) = req.seed {
        c.insert("seed".into(), json!(s));
    }
    if let Some(p) = req.presence_penalty {
        c.insert("presencePenalty".into(), json!(p));
    }
    if let Some(f) = req.frequency_penalty {
        c.insert("frequencyPenalty".into(), json!(f));
    }
    if req.logprobs {
        c.insert("responseLogprobs".into(), json!(true));
        if let Some(n) = req.top_logprobs.filter(|&n| n > 0) {
            c.insert("logprobs".into(), json!(n));
        }
    }
    match &req.response_format {
        None => {}
        Some(ResponseFormat::JsonObject) => {
            c.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            c.insert("responseMimeType".into(), json!("application/json"));
            let schema = gemini_schema::convert(schema, true, budget).map_err(|e| {
                TranslateError::field("response_format.json_schema.schema", e.detail())
            })?;
            c.insert("responseSchema".into(), schema);
        }
    }
    Ok(c)
}

/// Gemini 3 and later: they check thought signatures on replayed function calls, and take a
/// thinking level rather than a budget.
/// The `thinkingLevel` nearest an OpenAI effort that a Gemini 3 model takes: Pro models take
/// `low` and `high` only, the others `minimal`, `low`, `medium` and `high`; none can stop
/// thinking altogether.
fn thinking_level(model: &str, effort: &str) -> &'static str {
    if model.contains("pro") {
        match effort {
            "none" | "minimal" | "low" => "low",
            _ => "high",
        }
    } else {
        match effort {
            "none" | "minimal" => "minimal",
            "low" => "low",
            "medium" => "medium",
            _ => "high",
        }
    }
}

fn checks_signatures(model: &str) -> bool {
    let Some(rest) = model.strip_prefix("gemini-") else {
        return false;
    };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|m| m >= 3)
}

fn contents(req: &ChatRequest, model: &str) -> Result<Vec<Value>, TranslateError> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for turn in &req.turns {
        let (role, parts) = match turn {
            Turn::User { parts } => ("user", parts_of(parts)),
            Turn::Assistant {
                parts, tool_calls, ..
            } => {
                let mut out = parts_of(parts);
                for (j, c) in tool_calls.iter().enumerate() {
                    let mut part = json!({"functionCall": {"name": c.name, "args": c.arguments}});
                    match &c.thought_signature {
                        Some(sig) => part["thoughtSignature"] = json!(sig),
                        None if j == 0 && checks_signatures(model) => {
                            part["thoughtSignature"] = json!(SKIP_SIGNATURE);
                        }
                        None => {}
                    }
                    out.push(part);
                }
                ("model", out)
            }
            Turn::Tool {
                call_id,
                name,
                text,
                path,
            } => {
                let Some(fname) = req.tool_name(call_id, name.as_deref()) else {
                    return Err(TranslateError::field(
                        key(path, "tool_call_id"),
                        format!("'{call_id}' matches no earlier assistant tool call; Gemini needs the function's name"),
                    ));
                };
                let text = text.concat();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(o)) => Value::Object(o),
                    Ok(other) => json!({"result": other}),
                    Err(_) => json!({"result": text}),
                };
                (
                    "user",
                    vec![json!({"functionResponse": {"name": fname, "response": response}})],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, prev)) if *last == role => prev.extend(parts),
            _ => out.push((role, parts)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

fn parts_of(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|p| {
            Some(match &p.kind {
                PartKind::Text(t) if t.is_empty() => return None,
                PartKind::Text(t) => json!({"text": t}),
                PartKind::Image(Media::Inline { mime, data }) | PartKind::File { mime, data } => {
                    json!({"inlineData": {"mimeType": mime, "data": data}})
                }
                PartKind::Image(Media::Url(url)) => {
                    let path = url.split(['?', '#']).next().unwrap_or(url);
                    let mime = super::chat::mime_from_name(path).unwrap_or("image/jpeg");
                    json!({"fileData": {"mimeType": mime, "fileUri": url}})
                }
                PartKind::Audio { format, data } => {
                    let mime = format!("audio/{}", format.to_ascii_lowercase());
                    json!({"inlineData": {"mimeType": mime, "data": data}})
                }
            })
        })
        .collect()
}

/// `usageMetadata` → OpenAI usage (thoughts count as completion and as reasoning).
fn usage(u: &Value) -> Usage {
    let thoughts = u.get("thoughtsTokenCount").and_then(Value::as_u64);
    Usage {
        prompt: n(u, "promptTokenCount").saturating_add(n(u, "toolUsePromptTokenCount")),
        completion: n(u, "candidatesTokenCount").saturating_add(thoughts.unwrap_or(0)),
        cached: n(u, "cachedContentTokenCount"),
        cache_write: 0,
        reasoning: thoughts,
    }
}

/// The id of the `k`-th function call of an answer.
fn call_id(part_id: &str, response_id: &str, k: u64) -> String {
    if !part_id.is_empty() {
        part_id.to_owned()
    } else if !response_id.is_empty() {
        format!("call_{response_id}_{k}")
    } else {
        openai::fallback_id("call_")
    }
}

/// The text, the thought summaries and the function calls of one candidate's parts.
struct Read {
    text: String,
    thoughts: String,
    calls: Vec<Value>,
}

fn read_parts(c: &Value, response_id: &str, seq: &mut u64, stream_index: Option<u64>) -> Read {
    let mut text = String::new();
    let mut thoughts = String::new();
    let mut calls = Vec::new();
    let parts = c
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for p in parts {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            thoughts.push_str(s(p, "text"));
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(f) = p.get("functionCall") {
            let args = f.get("args").cloned().unwrap_or_else(|| json!({}));
            let args = serde_json::to_string(&args).unwrap_or_default();
            let id = call_id(s(f, "id"), response_id, *seq);
            let index = stream_index.map(|base| base + calls.len() as u64);
            let sig = p.get("thoughtSignature").and_then(Value::as_str);
            calls.push(openai::tool_call(index, &id, s(f, "name"), &args, sig));
            *seq += 1;
        }
    }
    Read {
        text,
        thoughts,
        calls,
    }
}

fn non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// Finish reasons with which Gemini says it failed to make the answer: a function call it
/// could not form, one to a tool the request did not offer, a tool loop it cut short, a
/// replayed call without its thought signature, an answer it could not form. A candidate that
/// ends so with no text and no call in it is an upstream failure, not an empty answer that
/// ended normally.
const FAILED: [&str; 5] = [
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "MISSING_THOUGHT_SIGNATURE",
    "MALFORMED_RESPONSE",
];

/// The failure a candidate reports (see [`FAILED`]), when it holds nothing usable: `content`
/// says whether any text or function call came in it.
fn failure(c: &Value, content: bool) -> Option<ProviderError> {
    let reason = s(c, "finishReason");
    (!content && FAILED.contains(&reason))
        .then(|| ProviderError::failed(reason, s(c, "finishMessage")))
}

/// A whole `GenerateContentResponse` → `chat.completion`; `reply`: [`Upstream::reply`].
pub(crate) fn response(body: &[u8], model: &str, reply: Reply) -> Result<Value, ProviderError> {
    let unreadable = |why: String| ProviderError::unreadable(&why);
    let v = parse_value(body).map_err(unreadable)?;
    if !v.is_object() || v.get("error").is_some() {
        return Err(unreadable(
            "the answer is not a GenerateContentResponse".to_owned(),
        ));
    }
    check_candidates(&v).map_err(unreadable)?;
    let rid = s(&v, "responseId");
    let mut seq = 0;
    let mut choices = Vec::new();
    let candidates = v
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (pos, c) in candidates.iter().enumerate() {
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
        let read = read_parts(c, rid, &mut seq, None);
        // One failed candidate fails the answer, as it fails a stream: OpenAI has no error
        // per choice.
        if let Some(e) = failure(c, !read.text.is_empty() || !read.calls.is_empty()) {
            return Err(e);
        }
        let finish = openai::finish_from_gemini(s(c, "finishReason"), !read.calls.is_empty());
        let content =
            if read.text.is_empty() && (!read.calls.is_empty() || finish == "content_filter") {
                None
            } else {
                Some(read.text)
            };
        let mut choice = openai::choice(index, content, read.calls, finish);
        if !read.thoughts.is_empty() {
            choice["message"]["reasoning_content"] = json!(read.thoughts);
        }
        if let Some(r) = c.get("logprobsResult").filter(|r| r.is_object()) {
            choice["logprobs"] = logprobs(r, reply.top_logprobs as usize);
        }
        choices.push(choice);
    }
    if choices.is_empty() {
        // The prompt itself was blocked (`promptFeedback.blockReason`).
        choices.push(openai::choice(0, None, Vec::new(), "content_filter"));
    }
    let usage = v.get("usageMetadata").map(usage);
    Ok(openai::completion(
        &openai::chat_id(rid),
        openai::now(),
        non_empty(s(&v, "modelVersion"), model),
        choices,
        usage.as_ref(),
    ))
}

/// A candidate's `logprobsResult` → OpenAI's `choices[].logprobs`: per chosen token its
/// text, log probability and UTF-8 bytes, with at most `top` alternatives from the
/// `topCandidates` of the same step.
fn logprobs(r: &Value, top: usize) -> Value {
    fn list(v: Option<&Value>) -> &[Value] {
        v.and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    let tops = list(r.get("topCandidates"));
    let content: Vec<Value> = list(r.get("chosenCandidates"))
        .iter()
        .enumerate()
        .map(|(i, chosen)| {
            let alternatives: Vec<Value> = list(tops.get(i).and_then(|t| t.get("candidates")))
                .iter()
                .take(top)
                .map(token_logprob)
                .collect();
            let mut entry = token_logprob(chosen);
            entry["top_logprobs"] = Value::Array(alternatives);
            entry
        })
        .collect();
    json!({"content": content, "refusal": null})
}

/// One token of a `logprobsResult` in OpenAI's form.
fn token_logprob(t: &Value) -> Value {
    let token = s(t, "token");
    // Google's JSON leaves out zero values: a token the model was sure of has no
    // `logProbability`.
    let logprob = t
        .get("logProbability")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
}

/// The answer is a `GenerateContentResponse`: `candidates` (each an object, its `content`, when
/// there is one, holding `parts` that are objects), or none with the `promptFeedback` that
/// says why (a blocked prompt). A candidate without `content` is valid (one stopped by safety
/// has none), but an answer with neither is not made into an empty success.
fn check_candidates(v: &Value) -> Result<(), String> {
    let candidates = match v.get("candidates") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(c)) => c.as_slice(),
        Some(_) => return Err("'candidates' is not a list".to_owned()),
    };
    if candidates.is_empty() && !v.get("promptFeedback").is_some_and(Value::is_object) {
        return Err("the answer has neither 'candidates' nor 'promptFeedback'".to_owned());
    }
    for (i, c) in candidates.iter().enumerate() {
        if !c.is_object() {
            return Err(format!("candidates[{i}] is not an object"));
        }
        let parts = match c.get("content") {
            None | Some(Value::Null) => continue,
            Some(Value::Object(content)) => content.get("parts"),
            Some(_) => return Err(format!("candidates[{i}].content is not an object")),
        };
        let parts = match parts {
            None | Some(Value::Null) => continue,
            Some(Value::Array(parts)) => parts,
            Some(_) => return Err(format!("candidates[{i}].content.parts is not a list")),
        };
        if let Some(j) = parts.iter().position(|p| !p.is_object()) {
            return Err(format!(
                "candidates[{i}].content.parts[{j}] is not an object"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Choice {
    role_sent: bool,
    tools: u64,
    /// Text came for it.
    text: bool,
    finished: bool,
}

/// The most candidates a stream may hold. Gemini answers at most 8 (`candidateCount`); the
/// map of them is keyed by the provider's `index`, so without a cap a stream naming a new
/// index in every event would grow it without end.
const MAX_STREAM_CANDIDATES: usize = 128;

/// Gemini `alt=sse` events → OpenAI chunk objects (and `{"error":...}` objects).
#[derive(Debug)]
pub(crate) struct StreamState {
    head: ChunkHead,
    started: bool,
    response_id: String,
    choices: BTreeMap<u64, Choice>,
    /// How many of `choices` have finished: kept as they finish, so that whether all have
    /// costs nothing per event.
    finished: usize,
    seq: u64,
    usage: Option<Usage>,
    blocked: bool,
    errored: bool,
    ended: bool,
    /// How many candidates the request asked for.
    expected: usize,
}

impl StreamState {
    /// The latest `usageMetadata` seen, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// `candidates`: how many the request asked for (0 or 1: one).
    pub fn new(model: &str, created: u64, include_usage: bool, candidates: u32) -> Self {
        Self {
            expected: candidates.max(1) as usize,
            head: ChunkHead {
                id: String::new(),
                created,
                model: model.to_owned(),
                include_usage,
            },
            started: false,
            response_id: String::new(),
            choices: BTreeMap::new(),
            finished: 0,
            seq: 0,
            usage: None,
            blocked: false,
            errored: false,
            ended: false,
        }
    }

    pub fn done(&self) -> bool {
        self.errored || self.ended
    }

    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<Value>) {
        if self.done() {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        if v.get("error").is_some() {
            if let Some(e) = ProviderError::from_event(&v) {
                out.push(e.openai_value());
                self.errored = true;
            }
            return;
        }
        if !self.started {
            self.started = true;
            self.response_id = s(&v, "responseId").to_owned();
            self.head.id = openai::chat_id(&self.response_id);
        }
        if let Some(m) = v.get("modelVersion").and_then(Value::as_str) {
            if !m.is_empty() {
                self.head.model = m.to_owned();
            }
        }
        let usage_here = v.get("usageMetadata");
        if let Some(u) = usage_here {
            self.usage = Some(usage(u));
        }
        let candidates = v
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if candidates.is_empty()
            && v.pointer("/promptFeedback/blockReason").is_some()
            && !self.blocked
        {
            self.blocked = true;
            let first = self.choices.entry(0).or_default();
            first.role_sent = true;
            if !first.finished {
                first.finished = true;
                self.finished += 1;
            }
            out.push(
                self.head
                    .chunk(0, json!({"role": "assistant", "content": null}), None),
            );
            out.push(self.head.chunk(0, json!({}), Some("content_filter")));
        }
        for (pos, c) in candidates.iter().enumerate() {
            self.candidate(c, pos as u64, out);
            if self.errored {
                return;
            }
        }
        // Gemini marks no end of its stream. Once every candidate the request asked for has
        // its finish reason, and the chunk that gave the last one carried the usage (as
        // Google's API sends its last chunk), the answer is whole: the client's stream ends
        // here rather than when the provider closes its body. Otherwise it waits for that end
        // (more candidates, or the usage, may come).
        let all = self.choices.len() >= self.expected && self.finished == self.choices.len();
        if all && usage_here.is_some() {
            self.finish(out);
        }
    }

    fn candidate(&mut self, c: &Value, pos: u64, out: &mut Vec<Value>) {
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos);
        if self.choices.len() >= MAX_STREAM_CANDIDATES && !self.choices.contains_key(&index) {
            // No real answer has this many: the stream ends with an error rather than an
            // answer the client would take as whole with candidates left out.
            out.push(super::error::openai_error(
                502,
                &format!("the provider's stream has more than {MAX_STREAM_CANDIDATES} candidates"),
                None,
                None,
            ));
            self.errored = true;
            return;
        }
        let state = self.choices.entry(index).or_default();
        if state.finished {
            return;
        }
        let read = read_parts(c, &self.response_id, &mut self.seq, Some(state.tools));
        state.tools += read.calls.len() as u64;
        state.text |= !read.text.is_empty();
        if let Some(e) = failure(c, state.text || state.tools > 0) {
            // The client's stream ends with the provider's failure, as with an error event.
            out.push(e.openai_value());
            self.errored = true;
            return;
        }
        let mut delta = Map::new();
        if !state.role_sent {
            state.role_sent = true;
            delta.insert("role".into(), json!("assistant"));
            delta.insert("content".into(), json!(read.text));
        } else if !read.text.is_empty() {
            delta.insert("content".into(), json!(read.text));
        }
        if !read.thoughts.is_empty() {
            delta.insert("reasoning_content".into(), json!(read.thoughts));
        }
        if !read.calls.is_empty() {
            delta.insert("tool_calls".into(), Value::Array(read.calls));
        }
        if !delta.is_empty() {
            out.push(self.head.chunk(index, Value::Object(delta), None));
        }
        if let Some(reason) = c.get("finishReason").and_then(Value::as_str) {
            state.finished = true;
            self.finished += 1;
            let finish = openai::finish_from_gemini(reason, state.tools > 0);
            out.push(self.head.chunk(index, json!({}), Some(finish)));
        }
    }

    /// The provider's stream ended: usage, or an error if it stopped early.
    pub fn finish(&mut self, out: &mut Vec<Value>) {
        if self.done() {
            return;
        }
        self.ended = true;
        let complete = !self.choices.is_empty() && self.finished == self.choices.len();
        if !complete {
            out.push(super::stream::truncated_error());
            self.errored = true;
            return;
        }
        if self.head.include_usage {
            let usage = self.usage.unwrap_or_default();
            out.push(self.head.usage_chunk(&usage));
        }
    }
}

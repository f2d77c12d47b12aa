//! Reading a Gemini request body the way Google's front end does: JSON
//! syntax, then unknown field names and values of the wrong kind (all
//! reported at once, with `google.rpc.BadRequest` field violations), then
//! the required fields (`* Request.field: …` lines), then content roles.
//! Field names are accepted in lowerCamel and in the proto's snake_case,
//! and a single object stands for a one-element list, as proto JSON allows.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::Version;
use crate::wire::content;
use crate::wire::errors;
use crate::wire::Reply;

/// `GenerateContentRequest` fields: (lowerCamel, snake_case).
const GENERATE_FIELDS: [(&str, &str); 8] = [
    ("model", "model"),
    ("contents", "contents"),
    ("tools", "tools"),
    ("toolConfig", "tool_config"),
    ("safetySettings", "safety_settings"),
    ("systemInstruction", "system_instruction"),
    ("generationConfig", "generation_config"),
    ("cachedContent", "cached_content"),
];

/// `Content` fields.
const CONTENT_FIELDS: [(&str, &str); 2] = [("role", "role"), ("parts", "parts")];

/// `Part` fields that carry its data (the `data` oneof).
const PART_DATA: [(&str, &str); 7] = [
    ("text", "text"),
    ("inlineData", "inline_data"),
    ("fileData", "file_data"),
    ("functionCall", "function_call"),
    ("functionResponse", "function_response"),
    ("executableCode", "executable_code"),
    ("codeExecutionResult", "code_execution_result"),
];

/// `EmbedContentRequest` fields.
const EMBED_FIELDS: [(&str, &str); 5] = [
    ("model", "model"),
    ("content", "content"),
    ("taskType", "task_type"),
    ("title", "title"),
    ("outputDimensionality", "output_dimensionality"),
];

/// The error answer for a request Google would reject (boxed: a `Reply`
/// is large and rejections are rare).
pub(super) type Rejected = Box<Reply>;

/// What the answer needs from a `generateContent` request.
#[derive(Debug, Default)]
pub(super) struct Generate {
    pub(super) prompt_words: u64,
    /// The last turn is the user's own words (not a function response).
    pub(super) user_turn_last: bool,
    pub(super) declarations: Vec<Value>,
    /// `toolConfig.functionCallingConfig.mode`, upper-cased.
    pub(super) mode: Option<String>,
    pub(super) allowed_functions: Vec<String>,
    pub(super) candidates: usize,
    pub(super) stop_sequences: Vec<String>,
    pub(super) max_output_tokens: Option<u64>,
    pub(super) json_output: Option<JsonOutput>,
}

/// `responseMimeType: application/json`, with or without a schema.
#[derive(Debug)]
pub(super) enum JsonOutput {
    Free,
    Schema(Value),
}

/// One `embedContent` request: its text and the dimensions asked for.
#[derive(Debug)]
pub(super) struct Embed {
    pub(super) text: String,
    pub(super) dimensions: Option<usize>,
}

impl Generate {
    /// The function to call, with arguments from its parameter schema:
    /// the first declaration (or the first `allowedFunctionNames` one),
    /// unless the mode is `NONE` or the last turn is not the user's.
    pub(super) fn function_call(&self) -> Option<(String, Value)> {
        if !self.user_turn_last || self.mode.as_deref() == Some("NONE") {
            return None;
        }
        let declaration = self.declarations.iter().find(|d| {
            self.allowed_functions.is_empty()
                || d.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| self.allowed_functions.iter().any(|a| a == n))
        })?;
        let name = declaration.get("name")?.as_str()?;
        let schema = [
            "parameters",
            "parametersJsonSchema",
            "parameters_json_schema",
        ]
        .iter()
        .find_map(|key| declaration.get(key));
        let args = Value::Object(content::arguments_for(schema));
        Some((name.to_owned(), args))
    }
}

/// Problems found while reading, reported in Google's order.
#[derive(Default)]
struct Problems {
    /// Transcoding errors: unknown names and wrong value kinds.
    violations: Vec<(Option<String>, String)>,
    /// Validation errors: `* Request.path: …` lines.
    required: Vec<String>,
}

impl Problems {
    fn unknown_names(&mut self, object: &Map<String, Value>, known: &[(&str, &str)], at: &str) {
        for name in object.keys() {
            if known
                .iter()
                .any(|(camel, snake)| name == camel || name == snake)
            {
                continue;
            }
            let description = if at.is_empty() {
                format!("Invalid JSON payload received. Unknown name {name:?}: Cannot find field.")
            } else {
                format!(
                    "Invalid JSON payload received. Unknown name {name:?} at '{at}': Cannot \
                     find field."
                )
            };
            let field = (!at.is_empty()).then(|| at.to_owned());
            self.violations.push((field, description));
        }
    }

    /// A value of the wrong kind at `path`; `expected` is a message type
    /// name or a scalar kind such as `TYPE_STRING`.
    fn invalid_value(&mut self, path: &str, expected: &str, value: &Value) {
        let description = format!("Invalid value at '{path}' ({expected}), {value}");
        self.violations.push((Some(path.to_owned()), description));
    }

    fn into_reply(self) -> Option<Reply> {
        if !self.violations.is_empty() {
            let message = self
                .violations
                .iter()
                .map(|(_, d)| d.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let violations: Vec<Value> = self
                .violations
                .iter()
                .map(|(field, description)| match field {
                    Some(field) => json!({"field": field, "description": description}),
                    None => json!({"description": description}),
                })
                .collect();
            let details = vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": violations,
            })];
            return Some(errors::google(StatusCode::BAD_REQUEST, &message, details));
        }
        if !self.required.is_empty() {
            let message: String = self.required.iter().map(|l| format!("* {l}\n")).collect();
            return Some(errors::google(
                StatusCode::BAD_REQUEST,
                &message,
                Vec::new(),
            ));
        }
        None
    }
}

/// The body as a JSON object (an empty body reads as `{}`).
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, Rejected> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => {
            let message =
                "Invalid JSON payload received. Unknown name \"\": Root element must be a message.";
            let details = vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"description": message}],
            })];
            Err(Box::new(errors::google(
                StatusCode::BAD_REQUEST,
                message,
                details,
            )))
        }
        Err(err) => Err(Box::new(syntax_error(body, &err))),
    }
}

/// Google quotes the line around the error with a caret under it.
fn syntax_error(body: &[u8], err: &serde_json::Error) -> Reply {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .nth(err.line().saturating_sub(1))
        .unwrap_or_default();
    let column = err.column().saturating_sub(1).min(line.len());
    let what = if err.is_eof() {
        "Unexpected end of string. Expected a value."
    } else {
        "Unexpected token."
    };
    let message = format!(
        "Invalid JSON payload received. {what}\n{line}\n{caret:>width$}",
        caret = "^",
        width = column + 1
    );
    let details = vec![json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"description": message}],
    })];
    errors::google(StatusCode::BAD_REQUEST, &message, details)
}

/// A field by its lowerCamel or snake_case name.
fn field<'a>(object: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|v| !v.is_null())
}

/// A repeated field: a list, or one value standing for a list of one.
fn list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn message_type(version: Version, name: &str) -> String {
    format!(
        "type.googleapis.com/google.ai.generativelanguage.{}.{name}",
        version.as_str()
    )
}

/// Words in the text parts of a `Content` object.
fn content_words(content: &Map<String, Value>) -> u64 {
    field(content, "parts", "parts")
        .map(list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .map(content::words)
        .sum()
}

/// Reads a `generateContent` / `streamGenerateContent` body.
pub(super) fn generate(body: &[u8], version: Version) -> Result<Generate, Rejected> {
    let root = object(body)?;
    let mut problems = Problems::default();
    problems.unknown_names(&root, &GENERATE_FIELDS, "");
    let mut request = Generate {
        candidates: 1,
        ..Generate::default()
    };

    let contents = field(&root, "contents", "contents")
        .map(list)
        .unwrap_or_default();
    if contents.is_empty() {
        problems
            .required
            .push("GenerateContentRequest.contents: contents is not specified".to_owned());
    }
    let mut roles = Vec::with_capacity(contents.len());
    for (i, item) in contents.iter().enumerate() {
        let at = format!("contents[{i}]");
        let Some(item) = item.as_object() else {
            problems.invalid_value(&at, &message_type(version, "Content"), item);
            continue;
        };
        problems.unknown_names(item, &CONTENT_FIELDS, &at);
        let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
        let parts = field(item, "parts", "parts").map(list).unwrap_or_default();
        if parts.is_empty() {
            problems.required.push(format!(
                "GenerateContentRequest.{at}.parts: contents.parts must not be empty."
            ));
        }
        let mut function_response = false;
        for (j, part) in parts.iter().enumerate() {
            let part_at = format!("{at}.parts[{j}]");
            let Some(part) = part.as_object() else {
                problems.invalid_value(&part_at, &message_type(version, "Part"), part);
                continue;
            };
            if let Some(text) = part.get("text").filter(|t| !t.is_string() && !t.is_null()) {
                problems.invalid_value(&format!("{part_at}.text"), "TYPE_STRING", text);
            }
            let data = PART_DATA
                .iter()
                .filter(|(camel, snake)| field(part, camel, snake).is_some())
                .count();
            if data == 0 {
                problems.required.push(format!(
                    "GenerateContentRequest.{part_at}.data: required oneof field 'data' must \
                     have one initialized field"
                ));
            }
            function_response |= field(part, "functionResponse", "function_response").is_some();
        }
        request.prompt_words += content_words(item);
        roles.push((role.to_owned(), function_response));
    }

    if let Some(system) = field(&root, "systemInstruction", "system_instruction") {
        match system.as_object() {
            Some(system) => request.prompt_words += content_words(system),
            None => problems.invalid_value(
                "system_instruction",
                &message_type(version, "Content"),
                system,
            ),
        }
    }
    if let Some(config) = field(&root, "generationConfig", "generation_config") {
        match config.as_object() {
            Some(config) => read_generation_config(config, &mut request),
            None => problems.invalid_value(
                "generation_config",
                &message_type(version, "GenerationConfig"),
                config,
            ),
        }
    }
    for tool in field(&root, "tools", "tools").map(list).unwrap_or_default() {
        let declarations = tool
            .as_object()
            .and_then(|t| field(t, "functionDeclarations", "function_declarations"));
        request.declarations.extend(
            declarations
                .map(list)
                .unwrap_or_default()
                .into_iter()
                .cloned(),
        );
    }
    if let Some(calling) = field(&root, "toolConfig", "tool_config")
        .and_then(Value::as_object)
        .and_then(|c| field(c, "functionCallingConfig", "function_calling_config"))
        .and_then(Value::as_object)
    {
        request.mode = calling
            .get("mode")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase);
        request.allowed_functions =
            field(calling, "allowedFunctionNames", "allowed_function_names")
                .map(list)
                .unwrap_or_default()
                .into_iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
    }

    if let Some(reply) = problems.into_reply() {
        return Err(Box::new(reply));
    }
    if roles
        .iter()
        .any(|(role, _)| !matches!(role.as_str(), "" | "user" | "model"))
    {
        return Err(Box::new(errors::error(
            errors::Dialect::Google,
            StatusCode::BAD_REQUEST,
            "Please use a valid role: user, model.",
        )));
    }
    request.user_turn_last = roles
        .last()
        .is_some_and(|(role, function_response)| role != "model" && !function_response);
    Ok(request)
}

fn read_generation_config(config: &Map<String, Value>, request: &mut Generate) {
    if let Some(n) = field(config, "candidateCount", "candidate_count").and_then(content::number) {
        request.candidates = usize::try_from(n).unwrap_or(1).max(1);
    }
    request.stop_sequences = field(config, "stopSequences", "stop_sequences")
        .map(list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    request.max_output_tokens =
        field(config, "maxOutputTokens", "max_output_tokens").and_then(content::number);
    let json_mime = field(config, "responseMimeType", "response_mime_type")
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json"));
    if json_mime {
        let schema = [
            ("responseSchema", "response_schema"),
            ("responseJsonSchema", "response_json_schema"),
        ]
        .iter()
        .find_map(|(camel, snake)| field(config, camel, snake));
        request.json_output = Some(match schema {
            Some(schema) => JsonOutput::Schema(schema.clone()),
            None => JsonOutput::Free,
        });
    }
}

/// Words in a `countTokens` body: its `contents` and `systemInstruction`,
/// or those of its `generateContentRequest`.
pub(super) fn count_tokens(body: &[u8]) -> Result<u64, Rejected> {
    let root = object(body)?;
    let inner = field(&root, "generateContentRequest", "generate_content_request")
        .and_then(Value::as_object)
        .unwrap_or(&root);
    let contents: u64 = field(inner, "contents", "contents")
        .map(list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(Value::as_object)
        .map(content_words)
        .sum();
    let system = field(inner, "systemInstruction", "system_instruction")
        .and_then(Value::as_object)
        .map_or(0, content_words);
    Ok(contents + system)
}

/// Reads an `embedContent` body, or one of a batch's `requests` (`at`
/// names it in messages).
fn embed_object(
    object: &Map<String, Value>,
    version: Version,
    request_type: &str,
    at: &str,
    problems: &mut Problems,
) -> Embed {
    problems.unknown_names(object, &EMBED_FIELDS, at);
    let prefix = if at.is_empty() {
        String::new()
    } else {
        format!("{at}.")
    };
    let mut text = String::new();
    match field(object, "content", "content") {
        None => problems.required.push(format!(
            "{request_type}.{prefix}content: content is not specified"
        )),
        Some(Value::Object(content)) => {
            let parts = field(content, "parts", "parts")
                .map(list)
                .unwrap_or_default();
            if parts.is_empty() {
                problems.required.push(format!(
                    "{request_type}.{prefix}content.parts: contents.parts must not be empty."
                ));
            }
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            text = texts.join(" ");
        }
        Some(other) => {
            problems.invalid_value(
                &format!("{prefix}content"),
                &message_type(version, "Content"),
                other,
            );
        }
    }
    let dimensions = field(object, "outputDimensionality", "output_dimensionality")
        .and_then(content::number)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0);
    Embed { text, dimensions }
}

/// Reads an `embedContent` body.
pub(super) fn embed(body: &[u8], version: Version) -> Result<Embed, Rejected> {
    let root = object(body)?;
    let mut problems = Problems::default();
    let embed = embed_object(&root, version, "EmbedContentRequest", "", &mut problems);
    match problems.into_reply() {
        Some(reply) => Err(Box::new(reply)),
        None => Ok(embed),
    }
}

/// The most entries one `batchEmbedContents` call takes.
const MAX_BATCH: usize = 100;

/// Reads a `batchEmbedContents` body.
pub(super) fn batch_embed(body: &[u8], version: Version) -> Result<Vec<Embed>, Rejected> {
    let root = object(body)?;
    let mut problems = Problems::default();
    problems.unknown_names(&root, &[("requests", "requests"), ("model", "model")], "");
    let requests = field(&root, "requests", "requests")
        .map(list)
        .unwrap_or_default();
    if requests.is_empty() {
        problems
            .required
            .push("BatchEmbedContentsRequest.requests: requests is not specified".to_owned());
    }
    // Google's limit on one batch.
    if requests.len() > MAX_BATCH {
        problems.required.push(format!(
            "BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests can be in one batch"
        ));
    }
    let mut out = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let at = format!("requests[{i}]");
        match request.as_object() {
            Some(object) => out.push(embed_object(
                object,
                version,
                "BatchEmbedContentsRequest",
                &at,
                &mut problems,
            )),
            None => {
                problems.invalid_value(&at, &message_type(version, "EmbedContentRequest"), request)
            }
        }
    }
    match problems.into_reply() {
        Some(reply) => Err(Box::new(reply)),
        None => Ok(out),
    }
}

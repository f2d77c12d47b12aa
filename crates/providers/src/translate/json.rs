//! Typed reads from a JSON tree where every error names the field's path
//! (`messages[2].content[0].type`), and the small serialisation helpers.

use super::TranslateError;
use bytes::Bytes;
use serde_json::{Map, Value};

pub(crate) type Obj = Map<String, Value>;

/// `path.key` (or `key` at the top).
pub(crate) fn key(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

/// `path[i]`.
pub(crate) fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A request body, which must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Obj, TranslateError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(TranslateError::body_error(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(TranslateError::body_error(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// A provider's success body, for the answer translators (error: why it cannot be read).
pub(crate) fn parse_value(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the provider's answer is not JSON: {e}"))
}

pub(crate) fn to_bytes(v: &Value) -> Bytes {
    // Serialising a `Value` cannot fail: its keys are strings and it holds no non-finite float.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// Whether an OpenAI body asks for `stream_options.include_usage`.
pub(crate) fn include_usage(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Top {
        stream_options: Option<StreamOptions>,
    }
    #[derive(serde::Deserialize)]
    struct StreamOptions {
        include_usage: Option<bool>,
    }
    serde_json::from_slice::<Top>(body)
        .ok()
        .and_then(|t| t.stream_options)
        .and_then(|s| s.include_usage)
        .unwrap_or(false)
}

/// The value at `k`, with `null` read as absent.
pub(crate) fn get<'a>(o: &'a Obj, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

fn wrong(path: &str, k: &str, what: &str) -> TranslateError {
    TranslateError::field(key(path, k), format!("must be {what}"))
}

pub(crate) fn opt_str<'a>(
    o: &'a Obj,
    k: &str,
    path: &str,
) -> Result<Option<&'a str>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(path, k, "a string")),
    }
}

pub(crate) fn req_str<'a>(o: &'a Obj, k: &str, path: &str) -> Result<&'a str, TranslateError> {
    opt_str(o, k, path)?.ok_or_else(|| TranslateError::field(key(path, k), "is required"))
}

pub(crate) fn opt_bool(o: &Obj, k: &str, path: &str) -> Result<Option<bool>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong(path, k, "a boolean")),
    }
}

pub(crate) fn opt_f64(o: &Obj, k: &str, path: &str) -> Result<Option<f64>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(wrong(path, k, "a number")),
    }
}

pub(crate) fn opt_u32(o: &Obj, k: &str, path: &str) -> Result<Option<u32>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(path, k, "a non-negative integer")),
    }
}

pub(crate) fn opt_i64(o: &Obj, k: &str, path: &str) -> Result<Option<i64>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| wrong(path, k, "an integer")),
    }
}

pub(crate) fn opt_array<'a>(
    o: &'a Obj,
    k: &str,
    path: &str,
) -> Result<Option<&'a Vec<Value>>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong(path, k, "an array")),
    }
}

pub(crate) fn opt_object<'a>(
    o: &'a Obj,
    k: &str,
    path: &str,
) -> Result<Option<&'a Obj>, TranslateError> {
    match get(o, k) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(wrong(path, k, "an object")),
    }
}

/// `v` as an object, or an error naming `path`.
pub(crate) fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, TranslateError> {
    v.as_object()
        .ok_or_else(|| TranslateError::field(path, "must be an object"))
}

/// A string field of an answer, or "" (answers are read leniently).
pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A count field of an answer, or 0.
pub(crate) fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// `{"type":"text","text":...}` blocks and plain strings read as text (Anthropic `system`,
/// OpenAI text-only `content`); `None` when `v` is neither.
pub(crate) fn text_parts(v: &Value, path: &str) -> Result<Vec<String>, TranslateError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = idx(path, i);
                let o = as_object(item, &p)?;
                let t = req_str(o, "type", &p)?;
                if t != "text" {
                    return Err(TranslateError::field(
                        key(&p, "type"),
                        format!("'{t}' is not allowed here; only text"),
                    ));
                }
                out.push(req_str(o, "text", &p)?.to_owned());
            }
            Ok(out)
        }
        _ => Err(TranslateError::field(
            path,
            "must be a string or an array of text parts",
        )),
    }
}

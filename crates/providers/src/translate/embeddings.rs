//! OpenAI embeddings client, Gemini provider: `POST /embeddings` →
//! `v1beta/models/{model}:batchEmbedContents`, and the answer back to OpenAI's list.
//!
//! `input` (a string or an array of strings; token arrays are refused) becomes one request
//! per string; `dimensions` → `outputDimensionality`, and then each vector that comes back is
//! scaled to unit length (OpenAI's are; Gemini's are only at full size). The answer's vectors
//! keep their order; with `encoding_format: "base64"` each is sent as base64 of little-endian
//! `f32`s, as OpenAI does. `batchEmbedContents` reports no token counts, so `usage` is zero.
//! Google takes at most [`MAX_GEMINI_BATCH`] entries in one batch, so a longer `input` (OpenAI
//! takes 2,048, and clients send that many) is sent as several batches, one call after
//! another, whose answers are joined in order ([`join`]).

use super::gemini::model_name;
use super::json::{get, idx, opt_str, opt_u32, parse_value, to_bytes, Obj};
use super::{Reply, TranslateError, Upstream};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

/// The most inputs one `batchEmbedContents` call takes.
pub const MAX_GEMINI_BATCH: usize = 100;
/// The most inputs one request may hold (OpenAI's own limit): at most this many divided by
/// [`MAX_GEMINI_BATCH`] calls are made for it.
pub const MAX_INPUTS: usize = 2048;

/// The answers of the batches of one request, in order, as one `batchEmbedContents` answer:
/// their `embeddings` lists one after another.
pub(crate) fn join(parts: &[Bytes]) -> Result<Bytes, String> {
    let mut all = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let mut v = parse_value(part)?;
        match v.get_mut("embeddings").map(Value::take) {
            // Every batch but the last was full: one that answers fewer vectors would put
            // every later vector at the wrong text.
            Some(Value::Array(list)) if i + 1 < parts.len() && list.len() != MAX_GEMINI_BATCH => {
                return Err(format!(
                    "the answer to batch {i} holds {} vectors for {MAX_GEMINI_BATCH} texts",
                    list.len()
                ))
            }
            Some(Value::Array(list)) => all.extend(list),
            _ => return Err(format!("the answer to batch {i} has no 'embeddings' array")),
        }
    }
    Ok(to_bytes(&json!({"embeddings": all})))
}

pub(crate) fn request(o: &Obj, model: &str) -> Result<Upstream, TranslateError> {
    let name = model_name(model)?;
    let inputs: Vec<&str> = match get(o, "input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    TranslateError::field(
                        idx("input", i),
                        "must be a string; token arrays cannot be sent to Gemini",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Array(_)) => return Err(TranslateError::field("input", "must not be empty")),
        None => return Err(TranslateError::field("input", "is required")),
        Some(_) => {
            return Err(TranslateError::field(
                "input",
                "must be a string or an array of strings",
            ))
        }
    };
    if inputs.len() > MAX_INPUTS {
        return Err(TranslateError::field(
            "input",
            format!(
                "holds {} texts; at most {MAX_INPUTS} are embedded in one request",
                inputs.len()
            ),
        ));
    }
    let dimensions = opt_u32(o, "dimensions", "")?;
    let base64 = match opt_str(o, "encoding_format", "")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(TranslateError::field(
                "encoding_format",
                format!("'{other}' is not one of float, base64"),
            ))
        }
    };
    let batch = |texts: &[&str]| {
        let requests: Vec<Value> = texts
            .iter()
            .map(|text| {
                let mut r = json!({
                    "model": format!("models/{name}"),
                    "content": {"parts": [{"text": text}]},
                });
                if let Some(d) = dimensions {
                    r["outputDimensionality"] = json!(d);
                }
                r
            })
            .collect();
        to_bytes(&json!({"requests": requests}))
    };
    let mut batches = inputs.chunks(MAX_GEMINI_BATCH).map(batch);
    let body = batches.next().unwrap_or_default();
    Ok(Upstream {
        body,
        more: batches.collect(),
        path: format!("v1beta/models/{name}:batchEmbedContents"),
        stream: false,
        include_usage: false,
        reply: Reply {
            embeddings_base64: base64,
            embeddings_normalize: dimensions.is_some(),
            ..Reply::default()
        },
    })
}

pub(crate) fn response(body: &[u8], model: &str, reply: Reply) -> Result<Value, String> {
    let v = parse_value(body)?;
    let Some(embeddings) = v.get("embeddings").and_then(Value::as_array) else {
        return Err("the answer has no 'embeddings' array".to_owned());
    };
    let mut data = Vec::with_capacity(embeddings.len());
    for (i, e) in embeddings.iter().enumerate() {
        let Some(values) = e.get("values").and_then(Value::as_array) else {
            return Err(format!("embeddings[{i}] has no 'values'"));
        };
        let embedding = if reply.embeddings_base64 || reply.embeddings_normalize {
            let mut xs = values
                .iter()
                .map(Value::as_f64)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| format!("embeddings[{i}] holds a non-number"))?;
            if reply.embeddings_normalize {
                normalize(&mut xs);
            }
            if reply.embeddings_base64 {
                let mut bytes = Vec::with_capacity(xs.len() * 4);
                for x in xs {
                    bytes.extend_from_slice(&(x as f32).to_le_bytes());
                }
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(xs)
            }
        } else {
            Value::Array(values.clone())
        };
        data.push(json!({"object": "embedding", "index": i, "embedding": embedding}));
    }
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }))
}

/// Scales a vector to unit (L2) length, as OpenAI returns its embeddings: callers rank by dot
/// product on that basis, and Gemini normalises only its full-size output, not one cut to
/// `outputDimensionality`. A zero vector has no direction and is left as it is.
fn normalize(xs: &mut [f64]) {
    let norm = xs.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in xs {
            *x /= norm;
        }
    }
}

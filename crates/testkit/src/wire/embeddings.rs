//! OpenAI-style embeddings (`POST …/embeddings`): one deterministic unit
//! vector per input (8 floats unless `dimensions` says otherwise), as a
//! JSON list or, with `encoding_format: "base64"` (the OpenAI SDKs' default
//! on the wire), as base64 of little-endian `f32`s.

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::content::{self, Usage};
use super::errors::{self, Dialect};
use super::{openai, Ctx, Reply};

/// Model reported when the request names none.
const DEFAULT_MODEL: &str = "text-embedding-3-small";

#[derive(Deserialize)]
struct EmbeddingRequest {
    input: Input,
    model: Option<String>,
    encoding_format: Option<String>,
    dimensions: Option<u64>,
}

/// `input`: a string, strings, token ids, or lists of token ids.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u64>),
    TokenLists(Vec<Vec<u64>>),
}

impl Input {
    /// Each input as text (token ids joined by spaces) and its tokens.
    fn items(&self) -> Vec<(String, u64)> {
        let tokens = |ids: &[u64]| {
            let text = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
            (text, ids.len() as u64)
        };
        match self {
            Input::One(text) => vec![(text.clone(), content::words(text))],
            Input::Many(texts) => texts
                .iter()
                .map(|t| (t.clone(), content::words(t)))
                .collect(),
            Input::Tokens(ids) => vec![tokens(ids)],
            Input::TokenLists(lists) => lists.iter().map(|ids| tokens(ids)).collect(),
        }
    }
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingOut>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct EmbeddingOut {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// `POST …/embeddings`.
pub(crate) fn embeddings(ctx: &Ctx<'_>, body: &[u8]) -> Reply {
    let request: EmbeddingRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(err) => return errors::bad_json(Dialect::Xai, &err),
    };
    if let Some(failure) = ctx.auth {
        return errors::auth(Dialect::Xai, failure);
    }
    let items = request.input.items();
    if items.is_empty() || items.iter().any(|(text, _)| text.is_empty()) {
        return invalid("'$.input' is invalid: it must be a non-empty string or list");
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return invalid(&format!(
                "Invalid value for 'encoding_format': {other:?}. Supported values are: \
                 'float' and 'base64'."
            ))
        }
    };
    let dimensions = match request.dimensions {
        None => content::EMBEDDING_DIMENSIONS,
        Some(n) => match usize::try_from(n) {
            Ok(n) if (1..=content::MAX_EMBEDDING_DIMENSIONS).contains(&n) => n,
            _ => return invalid("'dimensions' must be between 1 and 3072"),
        },
    };
    let model = ctx
        .script
        .model
        .as_deref()
        .or(request.model.as_deref())
        .unwrap_or(DEFAULT_MODEL);
    let data = items
        .iter()
        .enumerate()
        .map(|(index, (text, _))| {
            let values = content::embedding(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                Vector::Base64(content::base64(&bytes))
            } else {
                Vector::Floats(values)
            };
            EmbeddingOut {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let words = items.iter().map(|(_, tokens)| tokens).sum();
    let prompt = Usage::resolve_tokens(words, 0, ctx.script).prompt;
    let list = EmbeddingList {
        object: "list",
        data,
        model,
        usage: EmbeddingUsage {
            prompt_tokens: prompt,
            total_tokens: prompt,
        },
    };
    // Plain structs of strings and numbers always serialise.
    let body = serde_json::to_vec(&list).unwrap_or_default();
    openai::with_xai_headers(Reply::json(StatusCode::OK, body), ctx)
}

fn invalid(message: &str) -> Reply {
    errors::error(Dialect::Xai, StatusCode::BAD_REQUEST, message)
}

//! The Google Gemini API (AI Studio): `POST /{v1,v1beta}/models/{model}:`
//! `generateContent`, `streamGenerateContent` (`?alt=sse` for events,
//! otherwise a streamed JSON array), `countTokens`, `embedContent` and
//! `batchEmbedContents`.
//!
//! Credentials come first, as at Google's front end: an API key in
//! `x-goog-api-key` or `?key=`; none is a 403 `PERMISSION_DENIED`, the key
//! `bad-key` a 400 `API_KEY_INVALID`, and an `Authorization: Bearer` header
//! instead of a key a 401 `UNAUTHENTICATED`. Then the body is read and
//! validated (see `request`). Errors on a JSON-array stream are wrapped in
//! `[…]`, as Google sends them there.

mod request;
mod response;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde_json::json;

use self::request::JsonOutput;
use self::response::{Answer, AnswerStream, Framing};
use super::content::{self, Chunks, ContentPlan, Usage};
use super::errors::{self, Dialect};
use super::{AuthFailure, Ctx, Reply, ReplyBody, BAD_KEY};

/// API version named in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V1beta,
}

impl Version {
    fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V1beta => "v1beta",
        }
    }
}

/// The model method after the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Generate,
    Stream,
    CountTokens,
    Embed,
    BatchEmbed,
}

/// One Gemini call: `/{version}/models/{model}:{method}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call<'a> {
    pub(crate) version: Version,
    pub(crate) model: &'a str,
    pub(crate) method: Method,
}

/// Parses a Gemini path (the method is checked by the caller: all are POST).
pub(crate) fn route(path: &str) -> Option<Call<'_>> {
    let (version, rest) = if let Some(rest) = path.strip_prefix("/v1beta/models/") {
        (Version::V1beta, rest)
    } else {
        (Version::V1, path.strip_prefix("/v1/models/")?)
    };
    let (model, method) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let method = match method {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::Stream,
        "countTokens" => Method::CountTokens,
        "embedContent" => Method::Embed,
        "batchEmbedContents" => Method::BatchEmbed,
        _ => return None,
    };
    Some(Call {
        version,
        model,
        method,
    })
}

/// The query parameters Google's front end reads.
#[derive(Debug, Default, Clone, Copy)]
struct Query<'q> {
    key: Option<&'q str>,
    sse: bool,
    pretty: bool,
}

impl<'q> Query<'q> {
    fn parse(query: Option<&'q str>) -> Self {
        let mut out = Query {
            pretty: true,
            ..Query::default()
        };
        for pair in query.unwrap_or_default().split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "key" => out.key = Some(value.trim()).filter(|v| !v.is_empty()),
                "alt" | "$alt" => out.sse = value.eq_ignore_ascii_case("sse"),
                "prettyPrint" => out.pretty = value != "false",
                _ => {}
            }
        }
        out
    }
}

/// Checks `x-goog-api-key` or `?key=`.
pub(crate) fn check_auth(
    headers: &HeaderMap,
    query: Option<&str>,
    require: bool,
) -> Option<AuthFailure> {
    let header = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match header.or(Query::parse(query).key) {
        Some(BAD_KEY) => Some(AuthFailure::Invalid),
        Some(_) => None,
        None if !require => None,
        None if headers.contains_key(http::header::AUTHORIZATION) => Some(AuthFailure::BearerOnly),
        None => Some(AuthFailure::Missing),
    }
}

/// Whether this call answers with a JSON-array stream (a stream call
/// without `alt=sse`, unless a script forces JSON).
pub(crate) fn array_stream(call: Call<'_>, query: Option<&str>, forced: Option<bool>) -> bool {
    let stream = forced.unwrap_or(call.method == Method::Stream);
    stream && !Query::parse(query).sse
}

/// Google wraps an error on a JSON-array stream in the array itself.
pub(crate) fn in_array(mut reply: Reply) -> Reply {
    if let ReplyBody::Full(body) = &reply.body {
        let mut wrapped = Vec::with_capacity(body.len() + 3);
        wrapped.push(b'[');
        wrapped.extend_from_slice(body);
        wrapped.extend_from_slice(b"\n]");
        reply.body = ReplyBody::Full(Bytes::from(wrapped));
    }
    reply
}

/// A Gemini call, after routing. Errors come back unwrapped; the caller
/// puts them in an array for [`array_stream`] calls.
pub(crate) fn handle(ctx: &Ctx<'_>, call: Call<'_>, query: Option<&str>, body: &[u8]) -> Reply {
    if let Some(failure) = ctx.auth {
        return errors::auth(Dialect::Google, failure);
    }
    let query = Query::parse(query);
    match call.method {
        Method::Generate | Method::Stream => generate(ctx, call, query, body),
        Method::CountTokens => count_tokens(ctx, query, body),
        Method::Embed => embed(call, query, body),
        Method::BatchEmbed => batch_embed(call, query, body),
    }
}

fn generate(ctx: &Ctx<'_>, call: Call<'_>, query: Query<'_>, body: &[u8]) -> Reply {
    let request = match request::generate(body, call.version) {
        Ok(request) => request,
        Err(reply) => return *reply,
    };
    let plan = ContentPlan::from_script(ctx.script);
    let function = request.function_call();
    let (chunks, finish_reason) = if function.is_some() {
        (Chunks::new(plan), "STOP")
    } else {
        let chunks = match &request.json_output {
            Some(output) => {
                let value = match output {
                    JsonOutput::Schema(schema) => content::sample_for(schema),
                    JsonOutput::Free => content::json_answer(plan),
                };
                Chunks::from_text(plan, &value.to_string(), plan.chunks)
            }
            None => Chunks::new(plan),
        };
        // Gemini reports a stop sequence as a plain STOP.
        let (chunks, _) = chunks.stop_at(&request.stop_sequences);
        let (chunks, truncated) = chunks.limit(request.max_output_tokens);
        (chunks, if truncated { "MAX_TOKENS" } else { "STOP" })
    };
    let per_candidate = if function.is_some() {
        u64::try_from(plan.chunks).unwrap_or(u64::MAX)
    } else {
        chunks.tokens()
    };
    let candidates = request.candidates;
    let completion = per_candidate.saturating_mul(candidates as u64);
    let usage = Usage::resolve_tokens(request.prompt_words, completion, ctx.script);
    let answer = Answer {
        model: ctx
            .script
            .model
            .clone()
            .unwrap_or_else(|| call.model.to_owned()),
        response_id: response_id(ctx.shared.next_id()),
        candidates,
        chunks,
        call: function,
        finish_reason,
        usage,
    };
    let stream = ctx.script.stream.unwrap_or(call.method == Method::Stream);
    if !stream {
        return google_json(answer.json(query.pretty));
    }
    let framing = if query.sse {
        Framing::Sse
    } else {
        Framing::Array
    };
    let mut reply = Reply::stream(Box::new(AnswerStream {
        answer,
        framing,
        pretty: query.pretty,
        next: 0,
    }));
    if framing == Framing::Array {
        reply
            .headers
            .insert(CONTENT_TYPE, errors::google_json_type());
    }
    reply
}

fn count_tokens(ctx: &Ctx<'_>, query: Query<'_>, body: &[u8]) -> Reply {
    let words = match request::count_tokens(body) {
        Ok(words) => words,
        Err(reply) => return *reply,
    };
    let tokens = Usage::resolve_tokens(words, 0, ctx.script).prompt;
    let value = json!({
        "totalTokens": tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
    });
    google_json(to_vec(&value, query.pretty))
}

fn embed(call: Call<'_>, query: Query<'_>, body: &[u8]) -> Reply {
    let request = match request::embed(body, call.version) {
        Ok(request) => request,
        Err(reply) => return *reply,
    };
    let values = embedding(&request);
    google_json(to_vec(
        &json!({"embedding": {"values": values}}),
        query.pretty,
    ))
}

fn batch_embed(call: Call<'_>, query: Query<'_>, body: &[u8]) -> Reply {
    let requests = match request::batch_embed(body, call.version) {
        Ok(requests) => requests,
        Err(reply) => return *reply,
    };
    let embeddings: Vec<_> = requests
        .iter()
        .map(|r| json!({"values": embedding(r)}))
        .collect();
    google_json(to_vec(&json!({"embeddings": embeddings}), query.pretty))
}

fn embedding(request: &request::Embed) -> Vec<f32> {
    let dimensions = request
        .dimensions
        .unwrap_or(content::EMBEDDING_DIMENSIONS)
        .min(content::MAX_EMBEDDING_DIMENSIONS);
    content::embedding(&request.text, dimensions)
}

fn to_vec(value: &serde_json::Value, pretty: bool) -> Vec<u8> {
    let written = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    written.unwrap_or_default()
}

fn google_json(body: Vec<u8>) -> Reply {
    let mut reply = Reply::json(StatusCode::OK, body);
    reply
        .headers
        .insert(CONTENT_TYPE, errors::google_json_type());
    reply
}

/// A response id shaped like Google's: 22 URL-safe characters.
fn response_id(mut bits: u128) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = String::with_capacity(22);
    for _ in 0..22 {
        id.push(char::from(ALPHABET[(bits % 64) as usize]));
        bits /= 64;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_version_model_and_method() {
        assert_eq!(
            route("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Some(Call {
                version: Version::V1beta,
                model: "gemini-2.5-flash",
                method: Method::Stream,
            })
        );
        assert_eq!(
            route("/v1/models/text-embedding-004:batchEmbedContents").map(|c| c.method),
            Some(Method::BatchEmbed)
        );
        for path in [
            "/v1beta/models/gemini:unknownMethod",
            "/v1beta/models/:generateContent",
            "/v1beta/models/a/b:generateContent",
            "/v2/models/gemini:generateContent",
            "/v1beta/models/gemini",
        ] {
            assert_eq!(route(path), None, "{path}");
        }
    }

    #[test]
    fn query_flags() {
        let q = Query::parse(Some("alt=sse&key=abc&prettyPrint=false"));
        assert!(q.sse && !q.pretty);
        assert_eq!(q.key, Some("abc"));
        assert!(Query::parse(None).pretty);
    }
}

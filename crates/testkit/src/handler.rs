//! One request, from arrival to response headers. The order:
//!
//! 1. `/__fake/*` goes to the control endpoints (not recorded).
//! 2. Read the whole body; record the request and count the hit.
//! 3. Resolve the script: the next queued one (if any), field by field over
//!    the one the `x-fake-*` headers describe.
//! 4. Answer: a scripted error status or raw body short-circuits; else route
//!    by path (unknown → 404), parse the JSON (400/422), check credentials
//!    (401, or 400 for xAI's wrong key), build the format's answer. Gemini
//!    checks credentials before the body, and its errors on a JSON-array
//!    stream (`streamGenerateContent` without `alt=sse`) come inside `[…]`.
//! 5. Compress a whole answer as `encoding` says, if the request accepts it.
//! 6. Wait `delay_ms`, counting a disconnect if the client leaves meanwhile.
//! 7. Apply the scripted status and headers and the body pacing
//!    (`chunk_delay_ms`, `drop_after`); the body counts later disconnects.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{FakeBody, Pacing, Pieces};
use crate::control;
use crate::encode;
use crate::script::Script;
use crate::state::Shared;
use crate::wire::errors::{self, Dialect};
use crate::wire::gemini::{self, Call};
use crate::wire::{self, anthropic, embeddings, openai, Ctx, Reply, ReplyBody};

/// Path prefixes under which the OpenAI-style routes are served, so the
/// fake can stand in for providers whose base URL has no `/v1` or another
/// prefix (Groq `/openai/v1`, OpenRouter `/api/v1`, Gemini's OpenAI layer).
const OPENAI_PREFIXES: [&str; 6] = [
    "/v1",
    "",
    "/openai/v1",
    "/api/v1",
    "/v1beta/openai",
    "/openai",
];

enum Route<'a> {
    Chat,
    Embeddings,
    Messages,
    CountTokens,
    Models,
    Model(&'a str),
    Gemini(Call<'a>),
}

impl Route<'_> {
    fn dialect(&self) -> Dialect {
        match self {
            Route::Messages | Route::CountTokens => Dialect::Anthropic,
            Route::Gemini(_) => Dialect::Google,
            _ => Dialect::Xai,
        }
    }
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    if *method == Method::POST && (path == "/v1/messages" || path == "/messages") {
        return Some(Route::Messages);
    }
    if *method == Method::POST
        && (path == "/v1/messages/count_tokens" || path == "/messages/count_tokens")
    {
        return Some(Route::CountTokens);
    }
    if *method == Method::POST {
        if let Some(call) = gemini::route(path) {
            return Some(Route::Gemini(call));
        }
    }
    OPENAI_PREFIXES.iter().find_map(|prefix| {
        let rest = path.strip_prefix(prefix)?;
        match (method, rest) {
            (&Method::POST, "/chat/completions") => Some(Route::Chat),
            (&Method::POST, "/embeddings") => Some(Route::Embeddings),
            (&Method::GET, "/models") => Some(Route::Models),
            (&Method::GET, _) => rest
                .strip_prefix("/models/")
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .map(Route::Model),
            _ => None,
        }
    })
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    if request.uri().path().starts_with(control::PREFIX) {
        return Ok(control::handle(&shared, request).await);
    }
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away or sent a broken body; hyper closes the
        // connection after this answer anyway.
        Err(_) => {
            let reply = errors::harness("unreadable request body");
            return Ok(finish(&shared, reply, &Script::default(), HeaderMap::new()));
        }
    };
    shared.record(&parts, &body);

    let queued = shared.pop_script();
    let resolved = Script::from_headers(&parts.headers)
        .map_err(|err| err.to_string())
        .map(|from_headers| match queued {
            Some(queued) => queued.or(from_headers),
            None => from_headers,
        })
        .and_then(|script| scripted_headers(&script).map(|extra| (script, extra)));
    let (script, extra_headers, reply) = match resolved {
        Ok((script, extra)) => {
            let reply = answer(&shared, &parts, &body, &script);
            (script, extra, reply)
        }
        Err(message) => (
            Script::default(),
            HeaderMap::new(),
            errors::harness(&message),
        ),
    };

    let reply = match script.encoding.as_deref() {
        Some(coding) => encode::apply(reply, coding, &parts.headers),
        None => reply,
    };
    if let Some(ms) = script.delay_ms.filter(|ms| *ms > 0) {
        let waiting = DisconnectGuard::new(&shared);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        waiting.disarm();
    }
    Ok(finish(&shared, reply, &script, extra_headers))
}

fn answer(shared: &Shared, parts: &http::request::Parts, body: &Bytes, script: &Script) -> Reply {
    let path = parts.uri.path();
    let query = parts.uri.query();
    let route = route(&parts.method, path);
    let reply = answer_route(shared, parts, route.as_ref(), body, script);
    match route {
        // A raw scripted body is sent as it is.
        Some(Route::Gemini(call))
            if script.body.is_none()
                && !reply.status.is_success()
                && gemini::array_stream(call, query, script.stream) =>
        {
            gemini::in_array(reply)
        }
        _ => reply,
    }
}

fn answer_route(
    shared: &Shared,
    parts: &http::request::Parts,
    route: Option<&Route<'_>>,
    body: &Bytes,
    script: &Script,
) -> Reply {
    let query = parts.uri.query();
    let dialect = route.map_or(Dialect::Xai, Route::dialect);

    let scripted_status = match script.status.map(StatusCode::from_u16).transpose() {
        Ok(status) => status,
        Err(_) => return errors::harness("scripted status is not a valid HTTP status"),
    };
    if let Some(raw) = &script.body {
        // An error body stays JSON even when the request asked for a stream.
        let is_error = scripted_status.is_some_and(|s| s.as_u16() >= 400);
        let stream = script.stream.unwrap_or_else(|| {
            !is_error
                && match route {
                    Some(Route::Gemini(call)) => call.method == gemini::Method::Stream,
                    _ => wire::asks_for_stream(body),
                }
        });
        let mut reply = raw_reply(raw, stream, script);
        reply.status = scripted_status.unwrap_or(StatusCode::OK);
        if let Some(Route::Gemini(call)) = route {
            if stream && gemini::array_stream(*call, query, Some(true)) {
                // A JSON array streamed in pieces is still JSON.
                reply
                    .headers
                    .insert(http::header::CONTENT_TYPE, errors::google_json_type());
            }
        }
        return reply;
    }
    if let Some(status) = scripted_status.filter(|s| s.as_u16() >= 400) {
        return errors::scripted(dialect, status);
    }
    let Some(route) = route else {
        return errors::not_found();
    };
    let require = shared.config.require_auth;
    let auth = match route {
        Route::Gemini(_) => gemini::check_auth(&parts.headers, query, require),
        _ => wire::check_auth(&parts.headers, require),
    };
    let ctx = Ctx {
        shared,
        script,
        auth,
    };
    match route {
        Route::Chat => openai::chat(&ctx, body),
        Route::Embeddings => embeddings::embeddings(&ctx, body),
        Route::Messages => anthropic::messages(&ctx, body),
        Route::CountTokens => anthropic::count_tokens(&ctx, body),
        Route::Models => openai::models(&ctx),
        Route::Model(id) => openai::model(&ctx, id),
        Route::Gemini(call) => gemini::handle(&ctx, *call, query, body),
    }
}

/// A scripted raw body: whole JSON, or a stream cut into `chunks` pieces.
fn raw_reply(raw: &str, stream: bool, script: &Script) -> Reply {
    let bytes = Bytes::copy_from_slice(raw.as_bytes());
    if !stream {
        return Reply::json(StatusCode::OK, bytes);
    }
    let pieces = script.chunks.unwrap_or(1).max(1);
    let size = bytes.len().div_ceil(pieces).max(1);
    let mut queue = VecDeque::with_capacity(pieces);
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + size).min(bytes.len());
        queue.push_back(bytes.slice(start..end));
        start = end;
    }
    Reply::stream(Box::new(Pieces(queue)))
}

fn scripted_headers(script: &Script) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::with_capacity(script.headers.len());
    for (name, value) in &script.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("scripted header name {name:?} is invalid"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("scripted header value {value:?} is invalid"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Applies the scripted status (below 400) and headers, and the pacing.
fn finish(
    shared: &Arc<Shared>,
    reply: Reply,
    script: &Script,
    extra_headers: HeaderMap,
) -> Response<FakeBody> {
    let Reply {
        mut status,
        mut headers,
        body,
    } = reply;
    if let Some(scripted) = script
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.as_u16() < 400 && status.is_success())
    {
        status = scripted;
    }
    for (name, value) in extra_headers {
        if let Some(name) = name {
            headers.insert(name, value);
        }
    }
    let body = match body {
        ReplyBody::Full(bytes) => match script.drop_after {
            None => FakeBody::full(bytes),
            Some(n) => {
                // Declare the full length, send fewer bytes, then abort.
                headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                let cut = n.min(bytes.len().saturating_sub(1));
                let mut pieces = VecDeque::with_capacity(2);
                if cut > 0 {
                    pieces.push_back(bytes.slice(..cut));
                }
                pieces.push_back(bytes.slice(cut..));
                let pacing = Pacing {
                    gap: Duration::ZERO,
                    drop_after: Some(usize::from(cut > 0)),
                };
                FakeBody::paced(Box::new(Pieces(pieces)), pacing, Arc::clone(shared))
            }
        },
        ReplyBody::Stream(source) => {
            let pacing = Pacing {
                gap: Duration::from_millis(script.chunk_delay_ms.unwrap_or(0)),
                drop_after: script.drop_after,
            };
            FakeBody::paced(source, pacing, Arc::clone(shared))
        }
    };
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, wire::json_type());
    }
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Counts a disconnect if dropped before `disarm`: hyper drops a request's
/// future when the client closes the connection while it waits.
struct DisconnectGuard<'a>(Option<&'a Shared>);

impl<'a> DisconnectGuard<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self(Some(shared))
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DisconnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0 {
            shared.count_disconnect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_accept_known_prefixes_only() {
        let post = Method::POST;
        for path in [
            "/v1/chat/completions",
            "/chat/completions",
            "/openai/v1/chat/completions",
            "/api/v1/chat/completions",
        ] {
            assert!(matches!(route(&post, path), Some(Route::Chat)), "{path}");
        }
        assert!(route(&post, "/v1/v1/chat/completions").is_none());
        assert!(matches!(
            route(&post, "/v1/messages"),
            Some(Route::Messages)
        ));
        assert!(route(&Method::GET, "/v1/messages").is_none());
        assert!(matches!(
            route(&Method::GET, "/v1/models"),
            Some(Route::Models)
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/models/grok-beta"),
            Some(Route::Model("grok-beta"))
        ));
        assert!(route(&Method::GET, "/v1/chat/completions").is_none());
        for path in ["/v1/embeddings", "/embeddings", "/v1beta/openai/embeddings"] {
            assert!(
                matches!(route(&post, path), Some(Route::Embeddings)),
                "{path}"
            );
        }
        assert!(matches!(
            route(&post, "/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(Route::Gemini(_))
        ));
        assert!(matches!(
            route(&post, "/v1/models/gemini-2.5-flash:streamGenerateContent"),
            Some(Route::Gemini(_))
        ));
        assert!(route(&Method::GET, "/v1beta/models/gemini:generateContent").is_none());
        assert!(matches!(
            route(&Method::GET, "/v1/models/grok-beta"),
            Some(Route::Model("grok-beta"))
        ));
    }
}

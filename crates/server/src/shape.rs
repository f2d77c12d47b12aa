//! Stage 4 of the pipeline: turning a client request into upstream [`Call`]s.
//!
//! - provider pass-through: the catalog's URL (safe join), the client's headers minus
//!   hop-by-hop and `cf-aig-*`, the body bytes unchanged;
//! - `/compat`: the provider from the `model` prefix, `model` rewritten in the body bytes,
//!   the client's key moved to the header the provider expects, its required headers added.

use crate::app::App;
use crate::directives::{AttemptHeaders, Directives};
use crate::error::ApiError;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, Method, Uri};
use http_body_util::Full;
use std::sync::Arc;
use switchyard_core::{ErrorKind, GatewayError, RequestType};
use switchyard_providers::compat::{self, CompatError};
use switchyard_providers::translate::{self, Dialect, Endpoint, Reply};
use switchyard_providers::{ApiShape, Provider};

/// One upstream target, ready to send (possibly several times).
pub struct Call {
    pub provider: Arc<Provider>,
    pub uri: Uri,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_type: RequestType,
    /// The model asked for (without a compat prefix), for the log.
    pub model: Option<String>,
    /// Step-level attempt settings (universal steps), winning over the request's.
    pub attempts: AttemptHeaders,
    /// A universal step's own `cf-aig-*` headers over the request's
    /// ([`Directives::for_step`]); `None`: the request's apply.
    pub directives: Option<Directives>,
    /// Universal endpoint step, 0-based.
    pub step: Option<u32>,
    /// Set when the client's API differs from the provider's: how to translate the answer.
    pub translation: Option<Translation>,
    /// Further bodies of a translated call the provider takes in parts
    /// ([`translate::Upstream::more`]): each sent after the first answer, to the same URI.
    pub more: Vec<Bytes>,
}

/// How a translated call's answer goes back to the client.
#[derive(Debug, Clone, Copy)]
pub struct Translation {
    pub endpoint: Endpoint,
    pub client: Dialect,
    pub provider: Dialect,
    pub stream: bool,
    pub include_usage: bool,
    pub reply: Reply,
}

impl Call {
    /// The request for one attempt.
    pub fn request(&self) -> http::Request<Full<Bytes>> {
        self.request_with(self.body.clone())
    }

    /// The request with another body (a further part, [`Call::more`]).
    pub fn request_with(&self, body: Bytes) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(body));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// The request for the last attempt, taking the headers instead of copying them.
    pub fn into_request(self) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body));
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.headers_mut() = self.headers;
        req
    }
}

/// `ANY /{provider}/{rest}`.
pub fn passthrough(
    provider: &Arc<Provider>,
    account: &str,
    rest: &str,
    query: Option<&str>,
    method: Method,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<Call, ApiError> {
    // The form of the provider the path names (Bedrock's `bedrock-mantle/...`) has its own
    // key header.
    let provider = provider.form(rest).unwrap_or(provider);
    let uri = upstream_uri(provider, account, rest, query, &headers)
        .map_err(|e| GatewayError::bad_request(e.to_string()))?;
    drop_target_header(provider, &mut headers);
    Ok(passthrough_to(provider, uri, method, headers, body))
}

/// Where a call to `provider` goes: the URL its target header names (Fal's
/// `x-fal-target-url`, checked by [`Provider::target_uri`]), else `rest` joined to its base
/// URL.
pub fn upstream_uri(
    provider: &Provider,
    account: &str,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Uri, switchyard_providers::PathError> {
    match provider.target_header.as_ref().and_then(|h| headers.get(h)) {
        Some(t) => t
            .to_str()
            .map_err(|_| {
                switchyard_providers::PathError::BadTarget("the target URL is not text".into())
            })
            .and_then(|t| provider.target_uri(t)),
        None => provider.upstream_uri(account, rest, query),
    }
}

/// The target header named the URL; the provider is not sent it.
pub fn drop_target_header(provider: &Provider, headers: &mut HeaderMap) {
    if let Some(h) = &provider.target_header {
        headers.remove(h);
    }
}

/// `ANY /{provider}/{rest}` with the upstream URI already joined. The requested model is
/// read from the body later, by the log writer, off the response path.
pub fn passthrough_to(
    provider: &Arc<Provider>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Call {
    Call {
        provider: provider.clone(),
        uri,
        method,
        headers,
        body,
        request_type: RequestType::Provider,
        model: None,
        attempts: AttemptHeaders::default(),
        directives: None,
        step: None,
        translation: None,
        more: Vec::new(),
    }
}

/// `/compat/{endpoint}`: picks the provider from the `model` prefix. When the provider speaks
/// the client's API, only `model` is rewritten, in the body bytes; otherwise the request is
/// translated ([`switchyard_providers::translate`]).
pub async fn compat(
    app: &App,
    account: &str,
    endpoint: &str,
    mut headers: HeaderMap,
    body: &Bytes,
) -> Result<Call, ApiError> {
    let endpoint = endpoint.trim_start_matches('/').trim_end_matches('/');
    // Anthropic's token counting, for the providers that speak Anthropic's API.
    let count_tokens = matches!(
        endpoint,
        "v1/messages/count_tokens" | "messages/count_tokens"
    );
    let (kind, client) = match endpoint {
        "chat/completions" | "v1/chat/completions" => (Endpoint::Chat, Dialect::OpenAi),
        "embeddings" | "v1/embeddings" => (Endpoint::Embeddings, Dialect::OpenAi),
        "v1/messages" | "messages" => (Endpoint::Chat, Dialect::Anthropic),
        _ if count_tokens => (Endpoint::Chat, Dialect::Anthropic),
        other => {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "no compat endpoint '{other}'; use /compat/chat/completions, /compat/embeddings, /compat/v1/messages or /compat/v1/messages/count_tokens"
                ),
            ))
        }
    };
    let peek = compat::peek(body).map_err(|e| match e {
        CompatError::NoPrefix(_) => GatewayError::new(ErrorKind::UnknownProvider, e.to_string()),
        _ => GatewayError::bad_request(e.to_string()),
    })?;
    let (prefix, model) = compat::split_model(&peek.model)
        .map_err(|e| GatewayError::new(ErrorKind::UnknownProvider, e.to_string()))?;
    let provider = match app.catalog().by_prefix(prefix) {
        Some(p) => p.clone(),
        None => crate::custom::provider(app, account, prefix)
            .await?
            .ok_or_else(|| {
                GatewayError::new(
                    ErrorKind::UnknownProvider,
                    format!(
                        "unknown provider prefix '{prefix}' in model '{}'",
                        peek.model
                    ),
                )
            })?,
    };
    let provider = &provider;
    let dialect = match provider.api {
        ApiShape::Openai => Dialect::OpenAi,
        ApiShape::Anthropic => Dialect::Anthropic,
        ApiShape::Gemini => Dialect::Gemini,
        ApiShape::Native => {
            return Err(ApiError::new(
                ErrorKind::UnknownProvider,
                format!(
                    "provider '{}' is reachable by pass-through only: call it at /{}/",
                    provider.slug, provider.slug
                ),
            ))
        }
    };
    let catalog_path = match (kind, dialect) {
        (Endpoint::Chat, Dialect::OpenAi | Dialect::Anthropic) => provider.chat_path.as_deref(),
        (Endpoint::Embeddings, Dialect::OpenAi) => provider.embeddings_path.as_deref(),
        _ => None,
    };
    if count_tokens && dialect != Dialect::Anthropic {
        return Err(ApiError::new(
            ErrorKind::UnknownProvider,
            format!(
                "provider '{}' cannot count tokens: /compat/v1/messages/count_tokens serves providers with Anthropic's API",
                provider.slug
            ),
        ));
    }
    if !translate::supports(kind, client, dialect) {
        return Err(unsupported(provider, kind));
    }
    let (path, out_body, translation, more) = if client == dialect {
        let Some(path) = catalog_path else {
            return Err(unsupported(provider, kind));
        };
        let path = if count_tokens {
            format!("{path}/count_tokens")
        } else {
            path.to_owned()
        };
        (path, peek.rewrite_model(body, model), None, Vec::new())
    } else {
        let opts = translate::Options {
            max_completion_tokens: provider.slug == "openai",
            ..translate::Options::default()
        };
        let up = translate::request(kind, client, dialect, body, model, &opts).map_err(|e| {
            let status =
                http::StatusCode::from_u16(e.status).unwrap_or(http::StatusCode::BAD_REQUEST);
            ApiError::shaped(
                ErrorKind::BadRequest,
                e.message.clone(),
                status,
                e.body(client),
            )
        })?;
        let path = match (dialect, catalog_path) {
            (Dialect::OpenAi, Some(p)) => p.to_owned(),
            _ => up.path,
        };
        let translation = Translation {
            endpoint: kind,
            client,
            provider: dialect,
            stream: up.stream,
            include_usage: up.include_usage,
            reply: up.reply,
        };
        // The answer is parsed to be translated: ask for it uncompressed.
        headers.insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
        drop_vendor_headers(client, &mut headers);
        (path, up.body, Some(translation), up.more)
    };
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path, None),
    };
    let uri = provider
        .upstream_uri(account, &path, query.as_deref())
        .map_err(|e| GatewayError::new(ErrorKind::Internal, e.to_string()))?;
    headers.remove(CONTENT_LENGTH);
    // The body sent is JSON whatever the client labelled it (`curl -d` says form-urlencoded).
    headers.remove(http::header::CONTENT_ENCODING);
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    move_credential(provider, &mut headers, |v| {
        crate::auth::is_gateway_token(app, v)
    });
    // What the provider's API requires (Anthropic's `anthropic-version`); a custom provider's
    // own headers are added once the client's credentials are settled ([`provider_headers`]).
    if !provider.custom {
        for (name, value) in &provider.headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    if translation.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    Ok(Call {
        provider: provider.clone(),
        uri,
        method: Method::POST,
        headers,
        body: out_body,
        request_type: RequestType::Compat,
        model: Some(model.to_owned()),
        attempts: AttemptHeaders::default(),
        directives: None,
        step: None,
        translation,
        more,
    })
}

/// Takes out of a translated call the headers of the client's own API that another provider
/// has no use for: an Anthropic SDK's `anthropic-version` and `anthropic-beta` (which name
/// Anthropic's features, not the provider's), an OpenAI SDK's `openai-organization`,
/// `openai-project` and `openai-beta` (which would tell one provider the client's account at
/// another).
fn drop_vendor_headers(client: Dialect, headers: &mut HeaderMap) {
    let prefix = match client {
        Dialect::Anthropic => "anthropic-",
        Dialect::OpenAi => "openai-",
        Dialect::Gemini => return,
    };
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with(prefix))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

fn unsupported(provider: &Provider, kind: Endpoint) -> ApiError {
    ApiError::new(
        ErrorKind::UnknownProvider,
        format!(
            "provider '{}' has no {} endpoint on /compat",
            provider.slug,
            match kind {
                Endpoint::Chat => "chat",
                Endpoint::Embeddings => "embeddings",
            }
        ),
    )
}

/// The `model` of a JSON request body, or the `model` field of a multipart form (audio
/// transcriptions), when there is one (for the log).
pub fn peek_model(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(ct) = content_type.filter(|ct| {
        ct.get(..19)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
    }) {
        return form_model(ct, body);
    }
    // A JSON body counts whatever its declared type (curl's `-d` says form-urlencoded).
    let json_like = body.trim_ascii_start().first() == Some(&b'{');
    if !(json_like || content_type.is_none_or(|ct| ct.contains("json"))) || body.is_empty() {
        return None;
    }
    compat::peek(body).ok().map(|p| p.model)
}

/// The model an upstream path names: Gemini's `…/models/{model}:{method}` (on Google AI
/// Studio and Vertex AI, the providers priced from Google's table; elsewhere a path such as
/// OpenAI's `models/ft:gpt-4o-mini:org::id` names a model differently), and Workers AI's
/// `…/run/@cf/{author}/{model}` (or `@hf/…`) on a provider whose base URL ends in `/run` (the
/// same rule the path join uses for it).
pub fn path_model(provider: &Provider, path: &str) -> Option<String> {
    // Hugging Face's `/models/{org}/{model}` (or `/models/{model}`), perhaps followed by the
    // OpenAI-shaped `v1/...` its router serves.
    if provider.base.last_segment() == "models" {
        let (_, rest) = path.split_once("/models/")?;
        let mut segments = rest.split('/').filter(|s| !s.is_empty());
        let first = segments.next()?;
        return Some(match segments.next() {
            Some(second) if second != "v1" => format!("{first}/{second}"),
            _ => first.to_owned(),
        });
    }
    // Bedrock's `/model/{modelId}/{converse|invoke|...}`, the id percent-encoded (`%3A`).
    if provider.path_prefix.as_deref() == Some("bedrock-runtime") {
        let (_, rest) = path.split_once("/model/")?;
        let (id, _) = rest.split_once('/')?;
        let id = percent_encoding::percent_decode_str(id)
            .decode_utf8()
            .ok()?;
        return (!id.is_empty()).then(|| id.into_owned());
    }
    if provider.base.last_segment() == "run" {
        let (_, id) = path.split_once("/run/")?;
        // `@cf/{author}/{model}` (the `@` perhaps escaped, a trailing `/` allowed): three
        // segments, none empty.
        let id = id.strip_suffix('/').unwrap_or(id);
        let rest = id.strip_prefix("%40").or_else(|| id.strip_prefix('@'))?;
        let mut parts = rest.split('/');
        let named = matches!(parts.next(), Some("cf" | "hf"))
            && parts.clone().count() == 2
            && parts.all(|p| !p.is_empty());
        return named.then(|| format!("@{rest}"));
    }
    if provider.prices != "google-ai-studio" {
        return None;
    }
    let (_, rest) = path.rsplit_once("models/")?;
    let (model, method) = rest.split_once(':')?;
    let named = !model.is_empty()
        && !model.contains('/')
        && !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_alphabetic());
    named.then(|| model.to_owned())
}

/// On `/compat` the client's key arrives as `Authorization: Bearer K` (OpenAI SDKs, newer
/// Anthropic SDKs) or `x-api-key: K` (older Anthropic SDKs); it goes to the provider in the
/// header the provider expects.
///
/// With both, the one that is not a gateway token (`is_gateway_token`) is the provider key: a
/// client may send its gateway token as its SDK's key and the provider key in the other header.
fn move_credential(
    provider: &Provider,
    headers: &mut HeaderMap,
    is_gateway_token: impl Fn(&str) -> bool,
) {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(switchyard_core::headers::bearer_token)
        .map(str::to_owned);
    let x_api_key = headers
        .get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let key = match (bearer, x_api_key) {
        (Some(b), Some(x)) if is_gateway_token(&b) && !is_gateway_token(&x) => Some(x),
        (Some(b), _) => Some(b),
        (None, x) => x,
    };
    let Some(key) = key else {
        return;
    };
    if let Some(value) = provider.auth.value(&key) {
        headers.remove(AUTHORIZATION);
        headers.remove(X_API_KEY);
        headers.insert(provider.auth.header(), value);
    }
}

const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// Bytes of a multipart body searched for its `model` field: the SDKs send the form's text
/// fields before its files.
const FORM_SCAN: usize = 64 * 1024;

/// The `model` field of a `multipart/form-data` body.
fn form_model(content_type: &str, body: &[u8]) -> Option<String> {
    let boundary = content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
    })?;
    let head = &body[..body.len().min(FORM_SCAN)];
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(head);
    for part in text.split(delimiter.as_str()).skip(1) {
        let Some((headers, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let names_model = headers.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("content-disposition:")
                && l.contains("form-data")
                && l.split(';').any(|p| p.trim() == "name=\"model\"")
        });
        if names_model {
            let value = value.strip_suffix("\r\n").unwrap_or(value).trim();
            return (!value.is_empty() && value.len() <= 256 && !value.contains('\u{fffd}'))
                .then(|| value.to_owned());
        }
    }
    None
}

/// Settles `call`'s provider headers, once the gateway token has been taken out of the
/// provider key headers and a stored key put in:
///
/// - a provider that takes its key in another header than the bearer token its clients send
///   ([`Provider::key_from_bearer`]: Bedrock's mantle endpoint, `x-api-key`) gets it there,
///   and no `Authorization` (a SigV4 signature is not a bearer token and stays);
/// - a custom provider's own headers (its `headers`, from the config or the control plane)
///   are added, each unless the call already carries it, so that the order is the client's
///   own header, then the stored key, then the provider's configured one.
pub fn provider_headers(call: &mut Call) {
    if call.provider.key_from_bearer {
        // Gateway tokens are out of the key headers by now: a bearer token is the key.
        let key = call
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(switchyard_core::headers::bearer_token)
            .and_then(|key| call.provider.auth.value(key));
        if let Some(value) = key {
            call.headers.remove(AUTHORIZATION);
            call.headers.insert(call.provider.auth.header(), value);
        }
    }
    if !call.provider.custom {
        return;
    }
    for (name, value) in &call.provider.headers {
        if !call.headers.contains_key(name) {
            call.headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{path_model, peek_model};

    #[test]
    fn the_model_field_of_a_multipart_form() {
        let ct = "multipart/form-data; boundary=XyZ";
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....\r\n--XyZ--\r\n";
        assert_eq!(
            peek_model(Some(ct), body.as_bytes()).as_deref(),
            Some("whisper-1")
        );
        let quoted = "multipart/form-data; boundary=\"XyZ\"";
        assert_eq!(
            peek_model(Some(quoted), body.as_bytes()).as_deref(),
            Some("whisper-1")
        );
        // A field whose name merely contains "model", and no boundary.
        let other = body.replace("name=\"model\"", "name=\"model_x\"");
        assert_eq!(peek_model(Some(ct), other.as_bytes()), None);
        assert_eq!(
            peek_model(Some("multipart/form-data"), body.as_bytes()),
            None
        );
    }

    #[test]
    fn the_model_a_hugging_face_or_bedrock_path_names() {
        let catalog = Catalog::embedded().expect("embedded catalog parses");
        let hf = catalog.get("huggingface").expect("in the catalog");
        for (path, want) in [
            (
                "/models/meta-llama/Llama-3.1-8B-Instruct",
                Some("meta-llama/Llama-3.1-8B-Instruct"),
            ),
            ("/models/gpt2", Some("gpt2")),
            ("/models/gpt2/v1/chat/completions", Some("gpt2")),
            ("/models/org/m/v1/chat/completions", Some("org/m")),
            ("/models/", None),
        ] {
            assert_eq!(path_model(hf, path).as_deref(), want, "{path}");
        }
        let bedrock = catalog.get("aws-bedrock").expect("in the catalog");
        assert_eq!(
            path_model(
                bedrock,
                "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
            )
            .as_deref(),
            Some("anthropic.claude-3-5-sonnet-20240620-v1:0")
        );
        assert_eq!(path_model(bedrock, "/model//converse"), None);
        assert_eq!(path_model(bedrock, "/guardrail/x/version/1/apply"), None);
    }
    use switchyard_providers::Catalog;

    #[test]
    fn the_model_a_gemini_path_names() {
        let catalog = Catalog::embedded().expect("embedded catalog parses");
        let gemini = catalog.get("google-ai-studio").expect("in the catalog");
        let vertex = catalog.get("google-vertex-ai").expect("in the catalog");
        let openai = catalog.get("openai").expect("in the catalog");
        assert_eq!(
            path_model(gemini, "v1beta/models/gemini-2.5-flash:generateContent").as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            path_model(vertex, "v1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro:streamGenerateContent").as_deref(),
            Some("gemini-2.5-pro")
        );
        for none in [
            "v1beta/models",
            "v1beta/models/:x",
            "v1/models/gemini-2.5-pro",
            "v1/models/m:x:y",
        ] {
            assert_eq!(path_model(gemini, none), None, "{none}");
        }
        // A fine-tuned OpenAI model's id holds colons: not a Gemini method.
        assert_eq!(path_model(openai, "v1/models/ft:gpt-4o-mini:org::id"), None);
        let workers = catalog.get("workers-ai").expect("in the catalog");
        assert_eq!(
            path_model(
                workers,
                "/client/v4/accounts/a/ai/run/@cf/meta/llama-3.1-8b-instruct"
            )
            .as_deref(),
            Some("@cf/meta/llama-3.1-8b-instruct")
        );
        assert_eq!(
            path_model(workers, "/client/v4/accounts/a/ai/v1/chat/completions"),
            None
        );
        for named in [
            "%40cf/meta/llama-3.1-8b-instruct",
            "@cf/meta/llama-3.1-8b-instruct/",
        ] {
            let path = format!("/client/v4/accounts/a/ai/run/{named}");
            assert_eq!(
                path_model(workers, &path).as_deref(),
                Some("@cf/meta/llama-3.1-8b-instruct"),
                "{named}"
            );
        }
        for none in [
            "@cf/",
            "@cf/meta/",
            "@cf/meta",
            "@cf/a/b/c",
            "@xx/meta/llama",
        ] {
            let path = format!("/client/v4/accounts/a/ai/run/{none}");
            assert_eq!(path_model(workers, &path), None, "{none}");
        }
        assert_eq!(path_model(openai, "/v1/run/@cf/meta/llama"), None);
        assert_eq!(path_model(gemini, "v1/models/ft:gpt-4o-mini:org::id"), None);
    }
}

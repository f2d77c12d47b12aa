//! Error bodies in each provider's shape: xAI's flat
//! `{"code","error"}` (2026 code dialect), Anthropic's
//! `{"type":"error","error":{"type","message"}}` and Google's
//! `{"error":{"code","message","status","details"?}}` (pretty-printed, as
//! Google sends it). A scripted 429 carries `retry-after: 1` on the xAI and
//! Anthropic routes; Google puts a `RetryInfo` in the body instead.

use http::header::HeaderValue;
use http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

use super::{AuthFailure, Reply};

/// Which error shape a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Xai,
    Anthropic,
    Google,
}

/// Seconds a scripted 429 asks the client to wait.
const RETRY_AFTER_SECS: &str = "1";

/// The service name Google's error details carry.
const GOOGLE_SERVICE: &str = "generativelanguage.googleapis.com";

#[derive(Serialize)]
struct XaiError<'a> {
    code: &'a str,
    error: &'a str,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorDetail<'a>,
}

#[derive(Serialize)]
struct AnthropicErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// An error answer with an explicit message.
pub(crate) fn error(dialect: Dialect, status: StatusCode, message: &str) -> Reply {
    let body = match dialect {
        Dialect::Google => return google(status, message, Vec::new()),
        Dialect::Xai => serde_json::to_vec(&XaiError {
            code: xai_code(status),
            error: message,
        }),
        Dialect::Anthropic => serde_json::to_vec(&AnthropicError {
            kind: "error",
            error: AnthropicErrorDetail {
                kind: anthropic_type(status),
                message,
            },
        }),
    };
    // Serialising two string fields cannot fail; fall back to an empty body.
    Reply::json(status, body.unwrap_or_default())
}

/// Google's error envelope; `details` are `google.rpc` messages with their
/// `@type`.
pub(crate) fn google(status: StatusCode, message: &str, details: Vec<Value>) -> Reply {
    let mut error = json!({
        "code": status.as_u16(),
        "message": message,
        "status": google_status(status),
    });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    let body = serde_json::to_vec_pretty(&json!({ "error": error })).unwrap_or_default();
    let mut reply = Reply::json(status, body);
    reply
        .headers
        .insert(http::header::CONTENT_TYPE, google_json_type());
    reply
}

/// Google's JSON content type.
pub(crate) fn google_json_type() -> HeaderValue {
    HeaderValue::from_static("application/json; charset=UTF-8")
}

/// The error a script asked for with `status` and no `body`.
pub(crate) fn scripted(dialect: Dialect, status: StatusCode) -> Reply {
    if dialect == Dialect::Google {
        return google(
            status,
            canonical_message(dialect, status),
            google_details(status),
        );
    }
    let reply = error(dialect, status, canonical_message(dialect, status));
    if status == StatusCode::TOO_MANY_REQUESTS {
        reply.with_header("retry-after", HeaderValue::from_static(RETRY_AFTER_SECS))
    } else {
        reply
    }
}

/// The details Google attaches to a quota error.
fn google_details(status: StatusCode) -> Vec<Value> {
    if status != StatusCode::TOO_MANY_REQUESTS {
        return Vec::new();
    }
    vec![
        json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global"},
                "quotaValue": "10",
            }],
        }),
        json!({
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
            }],
        }),
        json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": "1s",
        }),
    ]
}

pub(crate) fn auth(dialect: Dialect, failure: AuthFailure) -> Reply {
    match (dialect, failure) {
        (Dialect::Google, AuthFailure::Missing) => google(
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers (callers without established \
             identity). Please use API Key or other form of API consumer identity to call \
             this API.",
            Vec::new(),
        ),
        (Dialect::Google, AuthFailure::Invalid) => {
            let message = "API key not valid. Please pass a valid API key.";
            google(
                StatusCode::BAD_REQUEST,
                message,
                vec![
                    json!({
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": GOOGLE_SERVICE},
                    }),
                    json!({
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    }),
                ],
            )
        }
        (Dialect::Google, AuthFailure::BearerOnly) => google(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
            vec![json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                "domain": "googleapis.com",
                "metadata": {"service": GOOGLE_SERVICE},
            })],
        ),
        (Dialect::Xai, AuthFailure::Missing | AuthFailure::BearerOnly) => error(
            dialect,
            StatusCode::UNAUTHORIZED,
            "No API key provided. Send your key in the Authorization header as \
             `Bearer <key>`. You can obtain an API key from https://console.x.ai.",
        ),
        // xAI answers a wrong key with 400, not 401.
        (Dialect::Xai, AuthFailure::Invalid) => error(
            dialect,
            StatusCode::BAD_REQUEST,
            "Incorrect API key provided: ba***ey. You can obtain an API key from \
             https://console.x.ai.",
        ),
        (Dialect::Anthropic, AuthFailure::Missing | AuthFailure::BearerOnly) => error(
            dialect,
            StatusCode::UNAUTHORIZED,
            "x-api-key header is required",
        ),
        (Dialect::Anthropic, AuthFailure::Invalid) => {
            error(dialect, StatusCode::UNAUTHORIZED, "invalid x-api-key")
        }
    }
}

pub(crate) fn not_found() -> Reply {
    error(
        Dialect::Xai,
        StatusCode::NOT_FOUND,
        "No handler found on route. Please double check your URL and consult \
         https://api.x.ai/docs for more information.",
    )
}

/// A body that is not JSON at all (400), or JSON of the wrong shape (422).
pub(crate) fn bad_json(dialect: Dialect, err: &serde_json::Error) -> Reply {
    if err.is_data() {
        let message = format!("Failed to deserialize the JSON body into the target type: {err}");
        error(dialect, StatusCode::UNPROCESSABLE_ENTITY, &message)
    } else {
        let message = format!("Failed to parse the request body as JSON: {err}");
        error(dialect, StatusCode::BAD_REQUEST, &message)
    }
}

/// The test harness itself was misused (bad `x-fake-*` header, bad script).
pub(crate) fn harness(message: &str) -> Reply {
    let message = format!("fake provider: {message}");
    error(Dialect::Xai, StatusCode::BAD_REQUEST, &message)
}

fn xai_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 422 => "invalid-argument",
        401 => "unauthenticated",
        403 => "permission-denied",
        404 | 410 => "not-found",
        409 => "aborted",
        429 => "resource-exhausted",
        499 => "cancelled",
        500 => "internal",
        501 => "unimplemented",
        502 | 503 => "unavailable",
        504 => "deadline-exceeded",
        _ => "unknown",
    }
}

/// The `google.rpc.Code` name Google reports for an HTTP status.
fn google_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn canonical_message(dialect: Dialect, status: StatusCode) -> &'static str {
    match (dialect, status.as_u16()) {
        (Dialect::Xai, 429) => {
            "Too many requests for team 00000000-0000-4000-8000-00000000fa4e and model \
             grok-beta. Your team's rate limit is — Requests per Minute (actual/limit): 61/60."
        }
        (Dialect::Xai, 410) => "Live search is deprecated. Please switch to the Agent Tools API",
        (Dialect::Xai, 403) => {
            "Access to the chat endpoint is denied. Please ensure you're using the correct \
             credentials."
        }
        (Dialect::Anthropic, 429) => "Number of request tokens has exceeded your rate limit.",
        (Dialect::Google, 400) => "Request contains an invalid argument.",
        (Dialect::Google, 401) => {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project."
        }
        (Dialect::Google, 403) => "The caller does not have permission",
        (Dialect::Google, 404) => "Requested entity was not found.",
        (Dialect::Google, 429) => {
            "You exceeded your current quota, please check your plan and billing details. For \
             more information on this error, head to: \
             https://ai.google.dev/gemini-api/docs/rate-limits."
        }
        (Dialect::Google, 500) => {
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting"
        }
        (Dialect::Google, 503) => "The model is overloaded. Please try again later.",
        (Dialect::Google, 504) => "Deadline expired before operation could complete.",
        (Dialect::Anthropic, 529) => "Overloaded",
        (_, 400) => "Client specified an invalid argument",
        (_, 401) => "Invalid or missing credentials",
        (_, 404) => "Some requested entity was not found",
        (_, 500) => "Internal server error",
        (_, 503) => "The service is temporarily unavailable. Please retry your request shortly.",
        (_, 504) => "The request timed out",
        _ => "Scripted error from the fake provider",
    }
}

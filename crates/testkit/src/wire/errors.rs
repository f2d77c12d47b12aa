//! Error bodies in each provider's shape: xAI's flat
//! `{"code","error"}` (2026 code dialect) and Anthropic's
//! `{"type":"error","error":{"type","message"}}`.

use http::StatusCode;
use serde::Serialize;

use super::{AuthFailure, Reply};

/// Which error shape a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Xai,
    Anthropic,
}

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

/// The error a script asked for with `status` and no `body`.
pub(crate) fn scripted(dialect: Dialect, status: StatusCode) -> Reply {
    error(dialect, status, canonical_message(dialect, status))
}

pub(crate) fn auth(dialect: Dialect, failure: AuthFailure) -> Reply {
    match (dialect, failure) {
        (Dialect::Xai, AuthFailure::Missing) => error(
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
        (Dialect::Anthropic, AuthFailure::Missing) => error(
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

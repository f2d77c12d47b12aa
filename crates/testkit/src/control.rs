//! The `/__fake/*` control endpoints, for users outside the process:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /__fake/requests` | JSON array of recorded requests: `method`, `path` (raw path and query), `headers` (lowercase name → value, repeated names joined with `", "`), `body` (UTF-8, lossy) |
//! | `GET /__fake/hits` | `{"hits":N,"disconnects":M,"queued_scripts":Q,"paths":{path:N}}` |
//! | `POST /__fake/reset` | clears requests, counters and queued scripts; `{"ok":true}` |
//! | `POST /__fake/script` | queues one [`Script`] (JSON object) or several (JSON array); `{"queued":Q}` |
//!
//! Control requests are not recorded, counted or scripted.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::body::FakeBody;
use crate::script::Script;
use crate::state::Shared;
use crate::wire::json_type;

/// Path prefix of the control endpoints.
pub(crate) const PREFIX: &str = "/__fake/";

#[derive(Serialize)]
struct RequestView<'a> {
    method: &'a str,
    path: &'a str,
    headers: BTreeMap<&'a str, String>,
    body: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scripts {
    One(Box<Script>),
    Many(Vec<Script>),
}

pub(crate) async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<FakeBody> {
    let (parts, body) = request.into_parts();
    let route = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    match (&parts.method, route) {
        (&Method::GET, "requests") => json(StatusCode::OK, &requests(shared)),
        (&Method::GET, "hits") => {
            let hits = serde_json::json!({
                "hits": shared.hits(),
                "disconnects": shared.disconnects(),
                "queued_scripts": shared.queued_scripts(),
                "paths": shared.hits_by_path().into_iter().collect::<BTreeMap<_, _>>(),
            });
            json(StatusCode::OK, &hits)
        }
        (&Method::POST, "reset") => {
            shared.reset();
            json(StatusCode::OK, &serde_json::json!({"ok": true}))
        }
        (&Method::POST, "script") => {
            let bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) => return problem(StatusCode::BAD_REQUEST, &err.to_string()),
            };
            match serde_json::from_slice::<Scripts>(&bytes) {
                Ok(Scripts::One(script)) => shared.push_script(*script),
                Ok(Scripts::Many(scripts)) => {
                    scripts.into_iter().for_each(|s| shared.push_script(s))
                }
                Err(_) => {
                    // The untagged error says nothing useful; report the
                    // single-script error instead.
                    let detail = serde_json::from_slice::<Script>(&bytes)
                        .err()
                        .map_or_else(|| "not a script".to_owned(), |e| e.to_string());
                    return problem(
                        StatusCode::BAD_REQUEST,
                        &format!("invalid script: {detail}"),
                    );
                }
            }
            json(
                StatusCode::OK,
                &serde_json::json!({"queued": shared.queued_scripts()}),
            )
        }
        _ => problem(StatusCode::NOT_FOUND, "unknown control endpoint"),
    }
}

fn requests(shared: &Shared) -> Vec<serde_json::Value> {
    shared
        .requests()
        .iter()
        .map(|r| {
            let mut headers: BTreeMap<&str, String> = BTreeMap::new();
            for (name, value) in &r.headers {
                let value = String::from_utf8_lossy(value.as_bytes());
                headers
                    .entry(name.as_str())
                    .and_modify(|joined| {
                        joined.push_str(", ");
                        joined.push_str(&value);
                    })
                    .or_insert_with(|| value.into_owned());
            }
            let view = RequestView {
                method: r.method.as_str(),
                path: &r.path_and_query,
                headers,
                body: String::from_utf8_lossy(&r.body).into_owned(),
            };
            serde_json::to_value(view).unwrap_or_default()
        })
        .collect()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<FakeBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(FakeBody::full(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, json_type());
    response
}

fn problem(status: StatusCode, message: &str) -> Response<FakeBody> {
    json(status, &serde_json::json!({"error": message}))
}

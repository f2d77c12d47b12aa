//! Stage 5 of the pipeline: the exact-match response cache (SPEC 2.4).
//!
//! - The key is a SHA-256 over account, gateway (and its `created_at`), provider, method,
//!   upstream host, path and query, the provider credentials sent (the client's, or the stored
//!   key put in their place) and body; or over account, gateway and `cf-aig-cache-key` when
//!   the client names one. So callers with different provider keys never share an answer,
//!   and a caller with a wrong key is not served one made for a right key.
//!   With `cache_invalidate_on_update`, the gateway's `modified_at` is part of the key, so a
//!   settings change leaves the old entries unreachable (they expire on their own).
//! - TTL: `cf-aig-cache-ttl` (0 = off), else the gateway's `cache_ttl`, else off; 300 s for
//!   requests that only name a `cf-aig-cache-key`.
//! - `cf-aig-skip-cache: true` skips the read; the fresh answer may still be stored.
//! - Only complete 2xx answers are stored, after the client has them (off the response
//!   path). A compressed answer is stored decoded, without `Content-Encoding` (nor the
//!   headers that describe the encoded bytes), so that a hit suits every client. A streamed
//!   answer is stored as received (decoded, if it came compressed) and replayed as a stream
//!   with the same events.
//! - Two identical requests that miss at the same moment both go upstream; the second
//!   answer to finish replaces the first entry.
//! - When the backend fails (Redis down), the request goes on uncached.

use crate::directives::Directives;
use crate::relay::{Capture, HEAD_CAP};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;
use switchyard_core::GatewaySettings;
use switchyard_providers::usage::{DecodedBody, Unsupported};
use switchyard_store::cache::CachedResponse;

/// Default TTL for requests that only send `cf-aig-cache-key`.
pub const KEY_ONLY_TTL: Duration = Duration::from_secs(300);

/// How this request uses the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub key: String,
    pub ttl: Duration,
    /// Whether to look the key up (false with `cf-aig-skip-cache`).
    pub read: bool,
}

/// The longest an answer is kept, whatever TTL is asked for: one year.
pub const MAX_TTL_SECS: u64 = 365 * 24 * 3600;

/// What of a call to the provider makes its cache key.
pub struct Keyed<'a> {
    pub provider: &'a str,
    pub method: &'a Method,
    pub target: &'a http::Uri,
    /// The headers sent upstream: their provider credentials are part of the key.
    pub headers: &'a HeaderMap,
    /// Universal endpoint step.
    pub step: Option<u32>,
    pub body: &'a [u8],
}

/// Whether a header sent upstream is a provider credential for the cache key (cookies are
/// not: they change from call to call without changing who is asking).
fn keys_the_cache(name: &HeaderName) -> bool {
    name != http::header::COOKIE && crate::forward::is_credential(name.as_str())
}

/// The cache plan for a request, or `None` when caching does not apply: only GET and POST
/// answers are cached (a PUT, PATCH or DELETE answered from the cache would not change
/// anything at the provider).
pub fn plan(d: &Directives, gateway: &GatewaySettings, call: &Keyed<'_>) -> Option<Plan> {
    let Keyed {
        provider,
        method,
        target,
        headers,
        step,
        body,
    } = *call;
    if method != Method::GET && method != Method::POST {
        return None;
    }
    let ttl = match d.cache_ttl {
        Some(0) => return None,
        Some(n) => Duration::from_secs(n.min(MAX_TTL_SECS)),
        None if gateway.cache_ttl > 0 => Duration::from_secs(gateway.cache_ttl.min(MAX_TTL_SECS)),
        None if d.cache_key.is_some() => KEY_ONLY_TTL,
        None => return None,
    };
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(gateway.account_id.as_str().as_bytes());
    part(gateway.id.as_str().as_bytes());
    // A gateway deleted and created again under the same id does not see the old answers.
    part(gateway.created_at.as_bytes());
    if gateway.cache_invalidate_on_update {
        part(gateway.modified_at.as_bytes());
    }
    match &d.cache_key {
        Some(k) => {
            part(b"key");
            part(k.as_bytes());
        }
        None => {
            part(provider.as_bytes());
            part(method.as_str().as_bytes());
            // The host too: one provider can be reached at several (Azure's resources,
            // Fal's target URLs).
            part(target.authority().map_or("", |a| a.as_str()).as_bytes());
            part(
                target
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .as_bytes(),
            );
            part(body);
            // In a stable order: HeaderMap's is by name hash.
            let mut credentials: Vec<(&str, &[u8])> = headers
                .iter()
                .filter(|(name, _)| keys_the_cache(name))
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect();
            credentials.sort_unstable();
            for (name, value) in credentials {
                part(b"credential");
                part(name.as_bytes());
                part(value);
            }
        }
    }
    // A universal step's answer is served only to the same step: the client reads the body
    // by the step's provider (`cf-aig-step`), so a key shared by the steps must not hand one
    // step's answer to another.
    if let Some(step) = step {
        part(b"step");
        part(&step.to_be_bytes());
    }
    let digest = h.finalize();
    let mut key = String::with_capacity(64);
    for b in digest {
        let _ = write!(key, "{b:02x}");
    }
    Some(Plan {
        key,
        ttl,
        read: !d.skip_cache,
    })
}

/// Response headers about the bytes as encoded, dropped when an answer is stored decoded.
const ENCODED_ONLY: [&str; 5] = [
    "content-encoding",
    "etag",
    "digest",
    "repr-digest",
    "content-md5",
];

/// What to store once the answer is complete, if it may be stored. `decoded`: the body with
/// its content coding undone ([`switchyard_providers::usage::decode`]). A compressed answer
/// is stored decoded and without `Content-Encoding`, so a hit suits every client whatever it
/// accepts; one that could not be decoded is not stored.
pub fn entry(
    status: u16,
    headers: &HeaderMap,
    capture: &Capture,
    decoded: &Result<Option<DecodedBody>, Unsupported>,
) -> Option<CachedResponse> {
    // Only a whole answer: a 206 holds part of one, and a 201/202/204 says something about
    // one request (a job accepted, a thing created) rather than answering it.
    if !matches!(status, 200 | 203) || !capture.tail.is_empty() {
        return None;
    }
    let (body, was_decoded) = match decoded {
        Ok(None) => (capture.whole(), false),
        // No larger than an answer stored as it came: a hit's body is captured for its log.
        Ok(Some(d)) if d.complete && d.body.len() <= HEAD_CAP => (d.body.clone(), true),
        _ => return None,
    };
    let headers = headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !name.starts_with("cf-aig-")
                && name != "content-length"
                // A cookie the provider set for one caller is not handed to the next.
                && name != "set-cookie"
                // What describes the encoded bytes does not fit the decoded ones.
                && !(was_decoded && ENCODED_ONLY.contains(&name))
        })
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect();
    Some(CachedResponse {
        status,
        headers,
        body,
    })
}

/// A stored answer as a response body: a stream is replayed event by event.
pub fn replay(hit: &CachedResponse) -> (StatusCode, HeaderMap, axum::body::Body) {
    let status = StatusCode::from_u16(hit.status).unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::with_capacity(hit.headers.len() + 4);
    for (name, value) in &hit.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    let is_stream = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let body = if is_stream {
        let events = split_events(&hit.body);
        let frames = futures_util::stream::iter(
            events
                .into_iter()
                .map(|b| Ok::<_, Infallible>(http_body::Frame::data(b))),
        );
        axum::body::Body::new(http_body_util::StreamBody::new(frames))
    } else {
        headers.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from(hit.body.len()),
        );
        axum::body::Body::from(hit.body.clone())
    };
    (status, headers, body)
}

/// A stored provider answer, translated for a client that speaks another API: a stream is
/// translated and replayed event by event, a JSON answer translated whole.
pub fn replay_translated(
    hit: &CachedResponse,
    t: crate::shape::Translation,
    model: &str,
) -> (StatusCode, HeaderMap, axum::body::Body) {
    use switchyard_providers::translate::{self, StreamTranslator};
    let (status, mut headers, _) = replay(hit);
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove(http::header::CONTENT_ENCODING);
    let is_stream = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if t.stream && is_stream {
        let mut tr = StreamTranslator::new(t.client, t.provider, model, t.include_usage, t.reply);
        let mut frames = Vec::new();
        for event in split_events(&hit.body) {
            frames.extend(tr.feed(&event));
        }
        frames.extend(tr.finish());
        let frames = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|b| Ok::<_, Infallible>(http_body::Frame::data(b))),
        );
        return (
            status,
            headers,
            axum::body::Body::new(http_body_util::StreamBody::new(frames)),
        );
    }
    let (code, body) = translate::response(
        t.endpoint, t.client, t.provider, hit.status, &hit.body, model, t.reply,
    );
    // A whole answer stored for a streaming request is replayed as a stream, as it was sent.
    let replayed = (t.stream && (200..300).contains(&code))
        .then(|| translate::replay::as_stream(t.client, &body, t.include_usage))
        .flatten();
    let (body, content_type) = match replayed {
        Some(events) => (events, "text/event-stream"),
        None => (body, "application/json"),
    };
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    (
        StatusCode::from_u16(code).unwrap_or(status),
        headers,
        axum::body::Body::from(body),
    )
}

/// Splits an SSE body after each blank line, so each event is its own frame.
pub fn split_events(body: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = &body[..];
    let mut i = 0;
    while i + 1 < b.len() {
        let end = if b[i] == b'\n' && b[i + 1] == b'\n' {
            Some(i + 2)
        } else if b[i] == b'\n' && b[i + 1] == b'\r' && b.get(i + 2) == Some(&b'\n') {
            Some(i + 3)
        } else {
            None
        };
        if let Some(end) = end {
            out.push(body.slice(start..end));
            start = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if start < b.len() {
        out.push(body.slice(start..));
    }
    out
}

/// Logs a cache backend failure at most once a minute.
pub fn warn_backend(op: &'static str, e: &dyn std::fmt::Display) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(op, error = %e, "shared state backend unavailable; continuing without it (logged once a minute)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> http::Uri {
        s.parse().expect("a URI")
    }
    use switchyard_core::{AccountId, GatewayId};

    /// A plan for a call without provider credentials.
    fn plan_of(
        d: &Directives,
        g: &GatewaySettings,
        provider: &str,
        method: &Method,
        target: &http::Uri,
        step: Option<u32>,
        body: &[u8],
    ) -> Option<Plan> {
        plan(
            d,
            g,
            &Keyed {
                provider,
                method,
                target,
                headers: &HeaderMap::new(),
                step,
                body,
            },
        )
    }

    #[test]
    fn callers_with_other_provider_keys_have_other_entries() {
        let d = Directives::default();
        let target = u("/v1/x");
        let key = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (n, v) in pairs {
                headers.append(*n, HeaderValue::from_static(v));
            }
            plan(
                &d,
                &gw(60),
                &Keyed {
                    provider: "grok",
                    method: &Method::POST,
                    target: &target,
                    headers: &headers,
                    step: None,
                    body: b"{}",
                },
            )
            .expect("plan")
            .key
        };
        let alice = key(&[("authorization", "Bearer xai-alice")]);
        assert_ne!(alice, key(&[("authorization", "Bearer xai-bob")]));
        assert_ne!(alice, key(&[]), "no key is another caller");
        assert_ne!(alice, key(&[("x-api-key", "Bearer xai-alice")]));
        assert_eq!(
            alice,
            key(&[("authorization", "Bearer xai-alice"), ("cookie", "a=1")]),
            "cookies do not count"
        );
        assert_eq!(
            key(&[("x-api-key", "k"), ("authorization", "Bearer t")]),
            key(&[("authorization", "Bearer t"), ("x-api-key", "k")]),
            "the order they come in does not count"
        );
        assert_eq!(
            key(&[("content-type", "application/json")]),
            key(&[]),
            "only credentials count"
        );
        // A named key alone decides, as the client asked.
        let named = Directives {
            cache_key: Some("k1".into()),
            ..Default::default()
        };
        let mut bob = HeaderMap::new();
        bob.insert("authorization", HeaderValue::from_static("Bearer xai-bob"));
        let k = |headers: &HeaderMap| {
            plan(
                &named,
                &gw(60),
                &Keyed {
                    provider: "grok",
                    method: &Method::POST,
                    target: &target,
                    headers,
                    step: None,
                    body: b"{}",
                },
            )
            .expect("plan")
            .key
        };
        assert_eq!(k(&bob), k(&HeaderMap::new()));
    }

    fn gw(ttl: u64) -> GatewaySettings {
        let mut g = GatewaySettings::new(
            AccountId::parse("a").expect("id"),
            GatewayId::parse("g").expect("id"),
            "t0".into(),
        );
        g.cache_ttl = ttl;
        g
    }

    #[test]
    fn ttl_precedence_and_keys() {
        let d = Directives::default();
        assert!(plan_of(&d, &gw(0), "grok", &Method::POST, &u("/v1/x"), None, b"{}").is_none());
        let p = plan_of(&d, &gw(60), "grok", &Method::POST, &u("/v1/x"), None, b"{}")
            .expect("gateway ttl");
        assert_eq!(p.ttl, Duration::from_secs(60));
        let same =
            plan_of(&d, &gw(60), "grok", &Method::POST, &u("/v1/x"), None, b"{}").expect("plan");
        assert_eq!(p.key, same.key);
        let other_body = plan_of(
            &d,
            &gw(60),
            "grok",
            &Method::POST,
            &u("/v1/x"),
            None,
            b"{ }",
        )
        .expect("plan");
        assert_ne!(p.key, other_body.key);
        // The same path on another host (another Azure resource) is another answer.
        let on = |host: &str| {
            plan_of(
                &d,
                &gw(60),
                "azure-openai",
                &Method::POST,
                &u(&format!("https://{host}/v1/x")),
                None,
                b"{}",
            )
            .expect("plan")
            .key
        };
        assert_ne!(on("r1.openai.azure.com"), on("r2.openai.azure.com"));
        let header_off = Directives {
            cache_ttl: Some(0),
            ..Default::default()
        };
        assert!(plan_of(
            &header_off,
            &gw(60),
            "grok",
            &Method::POST,
            &u("/v1/x"),
            None,
            b"{}"
        )
        .is_none());
        let key_only = Directives {
            cache_key: Some("k1".into()),
            ..Default::default()
        };
        let k = plan_of(
            &key_only,
            &gw(0),
            "grok",
            &Method::POST,
            &u("/v1/x"),
            None,
            b"{}",
        )
        .expect("key");
        assert_eq!(k.ttl, KEY_ONLY_TTL);
        let k2 = plan_of(
            &key_only,
            &gw(0),
            "openai",
            &Method::POST,
            &u("/v1/y"),
            None,
            b"[]",
        )
        .expect("key");
        assert_eq!(k.key, k2.key, "the named key alone decides");
        let step = |n| {
            plan_of(
                &key_only,
                &gw(0),
                "grok",
                &Method::POST,
                &u("/v1/x"),
                n,
                b"{}",
            )
        };
        let (s0, s1) = (step(Some(0)).expect("key"), step(Some(1)).expect("key"));
        assert_ne!(s0.key, s1.key, "universal steps have an entry each");
        assert_ne!(s0.key, k.key, "a step is not the provider route");
        let skip = Directives {
            skip_cache: true,
            cache_ttl: Some(5),
            ..Default::default()
        };
        assert!(
            !plan_of(
                &skip,
                &gw(0),
                "grok",
                &Method::POST,
                &u("/v1/x"),
                None,
                b"{}"
            )
            .expect("plan")
            .read
        );
    }

    #[test]
    fn huge_ttls_are_capped() {
        let d = Directives {
            cache_ttl: Some(u64::MAX),
            ..Default::default()
        };
        let p = plan_of(&d, &gw(0), "grok", &Method::POST, &u("/v1/x"), None, b"{}").expect("plan");
        assert_eq!(p.ttl, Duration::from_secs(MAX_TTL_SECS));
    }

    #[test]
    fn only_get_and_post_answers_are_cached() {
        let d = Directives {
            cache_key: Some("k1".into()),
            ..Default::default()
        };
        for m in [Method::GET, Method::POST] {
            assert!(
                plan_of(&d, &gw(60), "grok", &m, &u("/v1/x"), None, b"").is_some(),
                "{m}"
            );
        }
        for m in [
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ] {
            assert!(
                plan_of(&d, &gw(60), "grok", &m, &u("/v1/x"), None, b"").is_none(),
                "{m}"
            );
        }
    }

    #[test]
    fn splits_streams_into_events() {
        let b = Bytes::from_static(b"data: 1\n\ndata: 2\r\n\r\ndata: [DONE]\n\n");
        let parts = split_events(&b);
        assert_eq!(parts.len(), 3);
        assert_eq!(&parts[0][..], b"data: 1\n\n");
        assert_eq!(parts.concat(), b.to_vec());
    }
}

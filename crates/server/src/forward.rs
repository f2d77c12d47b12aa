//! Which headers cross the gateway: hop-by-hop and `cf-aig-*` headers stay behind, every
//! end-to-end header passes unchanged in both directions.

use http::header::{self, HeaderMap, HeaderName};
use switchyard_core::headers::is_gateway_header;

/// Hop-by-hop headers (RFC 9110 §7.6.1). `host` is set per hop too. `trailer` is end-to-end
/// (RFC 9110 §6.6.2): an answer's tells the client which trailer fields to expect.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether a header may be configured to go with every request to a provider (a custom
/// provider's `headers`): not one that frames the message or the connection, nor the
/// gateway's own.
pub fn may_be_added(name: &HeaderName) -> bool {
    name != header::HOST
        && name != header::CONTENT_LENGTH
        && name != header::CONTENT_ENCODING
        && name != header::TRAILER
        && !HOP_BY_HOP.contains(name)
        && !is_gateway_header(name.as_str())
}

fn named_in_connection(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(name.as_str()))
            })
            .unwrap_or(false)
    })
}

/// Headers known to carry credentials (see [`is_credential`] for the rest).
pub const CREDENTIAL_HEADERS: [&str; 9] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "xi-api-key",
    "cf-aig-authorization",
    "cookie",
    "set-cookie",
];

/// Parts of a header name that mark it as a credential wherever they appear.
const CREDENTIAL_WORDS: [&str; 5] = ["auth", "token", "secret", "password", "credential"];

/// Whether a (lowercase) header name carries a credential: its value is never stored in the
/// log, and the universal endpoint sends a request's own to no step. Besides the names every
/// provider uses ([`CREDENTIAL_HEADERS`]), any name holding one of [`CREDENTIAL_WORDS`] or
/// ending in `key` (`x-amz-security-token`, `ocp-apim-subscription-key`, `x-auth-token`, a
/// custom provider's own key header), except `idempotency-key`, which is no secret.
pub fn is_credential(name: &str) -> bool {
    // Header names are short: a plain scan beats setting up a substring searcher per word
    // (this runs for every header of every logged request).
    let bytes = name.as_bytes();
    let holds = |w: &str| bytes.windows(w.len()).any(|part| part == w.as_bytes());
    CREDENTIAL_HEADERS.contains(&name)
        || CREDENTIAL_WORDS.iter().any(|w| holds(w))
        || (name.ends_with("key") && name != "idempotency-key")
}

/// The client's headers as they go upstream. Several `cookie` fields (HTTP/2 sends each
/// cookie as one) become one, joined with `; ` (RFC 9113 §8.2.3): an HTTP/1.1 server reads
/// only one.
pub fn request_headers(incoming: &HeaderMap) -> HeaderMap {
    let has_connection = incoming.contains_key(header::CONNECTION);
    let mut out = HeaderMap::with_capacity(incoming.len());
    let mut cookies = 0;
    for (name, value) in incoming {
        // A request's trailer fields are not forwarded, so neither is its `Trailer`.
        if name == header::HOST
            || name == header::TRAILER
            || HOP_BY_HOP.contains(name)
            || is_gateway_header(name.as_str())
            || (has_connection && named_in_connection(incoming, name))
        {
            continue;
        }
        cookies += usize::from(name == header::COOKIE);
        out.append(name.clone(), value.clone());
    }
    if cookies > 1 {
        let joined: Vec<&[u8]> = incoming
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if let Ok(v) = http::HeaderValue::from_bytes(&joined.join(&b"; "[..])) {
            out.insert(header::COOKIE, v);
        }
    }
    out
}

/// The first transfer coding in `headers` other than `chunked` (the one coding hyper undoes),
/// if any: a body in it would be passed on still encoded, with nothing to say so.
pub fn undecodable_transfer_coding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .find_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(str::trim)
                .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("chunked"))
                .map(str::to_ascii_lowercase)
        })
}

/// Why a request cannot be taken as framed, before it is routed: an HTTP/1.1 request needs
/// exactly one `Host` (RFC 9112 §3.2), and a body can only be read in the chunked transfer
/// coding (RFC 9112 §6.1: 501 for others).
pub fn framing_refusal(
    version: http::Version,
    headers: &HeaderMap,
) -> Option<(switchyard_core::ErrorKind, String)> {
    use switchyard_core::ErrorKind;
    if version == http::Version::HTTP_11 && headers.get_all(header::HOST).iter().count() != 1 {
        return Some((
            ErrorKind::BadRequest,
            "an HTTP/1.1 request must carry exactly one Host header".into(),
        ));
    }
    let coding = undecodable_transfer_coding(headers)?;
    Some((
        ErrorKind::NotImplemented,
        format!(
            "transfer coding '{coding}' is not supported: send the body with Content-Length \
             or chunked (a compressed body takes Content-Encoding)"
        ),
    ))
}

/// Strips hop-by-hop and `cf-aig-*` headers from a provider's response in place.
pub fn response_headers(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|s| s.split(','))
            .filter_map(|t| HeaderName::try_from(t.trim()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    // With both, the body is chunked and the length is stale: passed on, it would end the
    // client's body early (RFC 9112 section 6.3).
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    // `cf-aig-*` on an answer are the gateway's to set (cache status, step, ids): a provider's
    // own (another gateway upstream, say) would be read as this gateway's.
    if headers.keys().any(|n| is_gateway_header(n.as_str())) {
        let theirs: Vec<HeaderName> = headers
            .keys()
            .filter(|n| is_gateway_header(n.as_str()))
            .cloned()
            .collect();
        for name in theirs {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credentials_are_told_by_name_or_by_a_word_in_it() {
        for name in [
            "authorization",
            "x-api-key",
            "cookie",
            "x-auth-token",
            "x-amz-security-token",
            "my-secret",
            "x-password",
            "x-credentials",
            "ocp-apim-subscription-key",
            "key",
            "auth",
        ] {
            assert!(is_credential(name), "{name}");
        }
        for name in [
            "content-type",
            "idempotency-key",
            "x-keys-count",
            "accept",
            "",
            "a",
            "x-request-id",
        ] {
            assert!(!is_credential(name), "{name}");
        }
    }

    #[test]
    fn drops_hop_by_hop_and_gateway_headers_only() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("gw"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("cf-aig-cache-ttl", HeaderValue::from_static("60"));
        h.insert("cf-skip-cache", HeaderValue::from_static("true"));
        h.insert("authorization", HeaderValue::from_static("Bearer k"));
        h.insert("x-api-key", HeaderValue::from_static("k"));
        h.append("x-multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        let out = request_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["authorization", "x-api-key", "x-multi"]);
        assert_eq!(out.get_all("x-multi").iter().count(), 2);
    }

    #[test]
    fn several_cookie_fields_go_upstream_as_one_and_an_answers_trailer_passes() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("cookie", HeaderValue::from_static("b=2; c=3"));
        h.insert("trailer", HeaderValue::from_static("x-checksum"));
        let out = request_headers(&h);
        let cookies: Vec<&[u8]> = out.get_all("cookie").iter().map(|v| v.as_bytes()).collect();
        assert_eq!(cookies, vec![&b"a=1; b=2; c=3"[..]]);
        assert!(
            out.get("trailer").is_none(),
            "request trailers are not forwarded"
        );
        let mut one = HeaderMap::new();
        one.insert("cookie", HeaderValue::from_static("a=1"));
        assert_eq!(
            request_headers(&one).get("cookie").map(|v| v.as_bytes()),
            Some(&b"a=1"[..])
        );
        let mut answer = HeaderMap::new();
        answer.insert("trailer", HeaderValue::from_static("x-checksum"));
        response_headers(&mut answer);
        assert_eq!(
            answer.get("trailer").map(|v| v.as_bytes()),
            Some(&b"x-checksum"[..])
        );
    }

    #[test]
    fn framing_the_gateway_cannot_read_is_named() {
        use http::Version;
        use switchyard_core::ErrorKind;
        let mut h = HeaderMap::new();
        let kind = |v, h: &HeaderMap| framing_refusal(v, h).map(|(k, _)| k);
        assert_eq!(kind(Version::HTTP_11, &h), Some(ErrorKind::BadRequest));
        assert_eq!(kind(Version::HTTP_10, &h), None);
        assert_eq!(kind(Version::HTTP_2, &h), None);
        h.insert("host", HeaderValue::from_static("gw"));
        assert_eq!(kind(Version::HTTP_11, &h), None);
        h.append("host", HeaderValue::from_static("other"));
        assert_eq!(kind(Version::HTTP_11, &h), Some(ErrorKind::BadRequest));
        h.remove("host");
        h.insert("host", HeaderValue::from_static("gw"));
        h.insert("transfer-encoding", HeaderValue::from_static("Chunked"));
        assert_eq!(kind(Version::HTTP_11, &h), None);
        h.insert(
            "transfer-encoding",
            HeaderValue::from_static("gzip, chunked"),
        );
        assert_eq!(kind(Version::HTTP_11, &h), Some(ErrorKind::NotImplemented));
        assert_eq!(undecodable_transfer_coding(&h).as_deref(), Some("gzip"));
    }

    #[test]
    fn cleans_response_headers() {
        let mut h = HeaderMap::new();
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert("x-request-id", HeaderValue::from_static("r"));
        h.insert("cf-aig-cache-status", HeaderValue::from_static("HIT"));
        h.insert("cf-aig-step", HeaderValue::from_static("7"));
        response_headers(&mut h);
        assert!(h.get("transfer-encoding").is_none());
        assert!(h.get("cf-aig-cache-status").is_none());
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn a_length_beside_chunked_framing_is_dropped() {
        let mut h = HeaderMap::new();
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("content-length", HeaderValue::from_static("5"));
        response_headers(&mut h);
        assert!(h.is_empty());
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("5"));
        response_headers(&mut h);
        assert_eq!(
            h.get("content-length").map(|v| v.as_bytes()),
            Some(&b"5"[..]),
            "5"
        );
    }
}

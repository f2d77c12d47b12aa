//! Content codings for whole answers ([`Script::encoding`]): the fake compresses
//! as a provider behind a CDN does, and only with a coding the request accepts.
//!
//! [`Script::encoding`]: crate::script::Script::encoding

use std::io::Write;

use http::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH};
use http::HeaderMap;

use crate::wire::errors;
use crate::wire::{Reply, ReplyBody};

/// `reply` compressed with `coding` when `request` accepts it; unchanged when it
/// does not or when the reply is a stream; a harness error for a coding the fake
/// cannot produce.
pub(crate) fn apply(reply: Reply, coding: &str, request: &HeaderMap) -> Reply {
    let coding = coding.to_ascii_lowercase();
    let ReplyBody::Full(plain) = &reply.body else {
        return reply;
    };
    if !accepts(request, &coding) {
        return reply;
    }
    let encoded = match compress(&coding, plain) {
        Ok(bytes) => bytes,
        Err(message) => return errors::harness(&message),
    };
    let mut reply = reply;
    reply.headers.remove(CONTENT_LENGTH);
    if let Ok(value) = HeaderValue::from_str(&coding) {
        reply.headers.insert(CONTENT_ENCODING, value);
    }
    reply.body = ReplyBody::Full(encoded.into());
    reply
}

/// Whether `Accept-Encoding` names `coding` (quality values are not weighed).
fn accepts(request: &HeaderMap, coding: &str) -> bool {
    request
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.split(';').next())
        .any(|name| name.trim().eq_ignore_ascii_case(coding))
}

/// `data` in `coding`: `gzip`, `deflate` (zlib-wrapped, as HTTP means it), `br` or `zstd`.
pub fn compress(coding: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| format!("compressing with {coding}: {e}");
    match coding {
        "gzip" => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(data).map_err(io)?;
            w.finish().map_err(io)
        }
        "deflate" => {
            let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(data).map_err(io)?;
            w.finish().map_err(io)
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(data).map_err(io)?;
            }
            Ok(out)
        }
        "zstd" => Ok(ruzstd::encoding::compress_to_vec(
            data,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
        other => Err(format!(
            "scripted encoding {other:?} is not one of gzip, deflate, br, zstd"
        )),
    }
}

//! The unified endpoint's `provider/model` names and the byte-level rewrite of `model`.
//!
//! The body is never rebuilt: the top level is scanned once with borrowed raw values, and
//! only the bytes of the `model` string are replaced.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a compat body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompatError {
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    #[error("'model' is required and must be a string")]
    MissingModel,
    #[error("'stream' must be a boolean")]
    BadStream,
    #[error(
        "model '{0}' has no provider prefix; use '{{provider}}/{{model}}', e.g. 'grok/grok-4'"
    )]
    NoPrefix(String),
}

#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
}

/// What the gateway needs from a chat body, borrowed from it.
#[derive(Debug)]
pub struct Peek<'a> {
    /// The model as sent (unescaped).
    pub model: String,
    /// The raw JSON of the `model` value, pointing into the body.
    model_raw: &'a RawValue,
    pub stream: bool,
}

/// Reads `model` and `stream` from a JSON object body without building a tree.
pub fn peek(body: &[u8]) -> Result<Peek<'_>, CompatError> {
    // serde would also read a struct from an array; only an object is a request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(CompatError::NotJson("expected a JSON object".into()));
    }
    let top: TopLevel<'_> =
        serde_json::from_slice(body).map_err(|e| CompatError::NotJson(e.to_string()))?;
    let model_raw = top.model.ok_or(CompatError::MissingModel)?;
    let model: String =
        serde_json::from_str(model_raw.get()).map_err(|_| CompatError::MissingModel)?;
    let stream = match top.stream {
        None => false,
        Some(raw) => match raw.get() {
            "true" => true,
            "false" | "null" => false,
            _ => return Err(CompatError::BadStream),
        },
    };
    Ok(Peek {
        model,
        model_raw,
        stream,
    })
}

/// Splits `provider/model` at the first `/`.
pub fn split_model(model: &str) -> Result<(&str, &str), CompatError> {
    match model.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok((p, m)),
        _ => Err(CompatError::NoPrefix(model.to_owned())),
    }
}

impl Peek<'_> {
    /// `body` with the `model` value replaced by `new_model`; every other byte unchanged.
    pub fn rewrite_model(&self, body: &Bytes, new_model: &str) -> Bytes {
        let start = self.model_raw.get().as_ptr() as usize - body.as_ptr() as usize;
        let end = start + self.model_raw.get().len();
        let encoded = serde_json::to_string(new_model).unwrap_or_else(|_| String::from("\"\""));
        let mut out = BytesMut::with_capacity(body.len() - (end - start) + encoded.len());
        out.extend_from_slice(&body[..start]);
        out.extend_from_slice(encoded.as_bytes());
        out.extend_from_slice(&body[end..]);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_model_bytes() {
        let body = Bytes::from_static(
            br#"{ "messages":[{"role":"user","content":"model: \"grok/x\""}],  "model" : "grok/grok-beta" ,"stream":true,"x":{"model":"keep"}}"#,
        );
        let p = peek(&body).expect("valid body");
        assert_eq!(p.model, "grok/grok-beta");
        assert!(p.stream);
        let (prov, model) = split_model(&p.model).expect("prefixed");
        assert_eq!((prov, model), ("grok", "grok-beta"));
        let out = p.rewrite_model(&body, model);
        assert_eq!(
            &out[..],
            &br#"{ "messages":[{"role":"user","content":"model: \"grok/x\""}],  "model" : "grok-beta" ,"stream":true,"x":{"model":"keep"}}"#[..]
        );
    }

    #[test]
    fn handles_escaped_model_names() {
        let body = Bytes::from_static(br#"{"model":"grok\/grok-4"}"#);
        let p = peek(&body).expect("valid");
        assert_eq!(p.model, "grok/grok-4");
        assert_eq!(
            &p.rewrite_model(&body, "grok-4")[..],
            br#"{"model":"grok-4"}"#
        );
    }

    #[test]
    fn refuses_bad_bodies() {
        assert!(matches!(peek(b"not json"), Err(CompatError::NotJson(_))));
        assert!(matches!(peek(b"[1,2]"), Err(CompatError::NotJson(_))));
        assert!(matches!(peek(b"{}"), Err(CompatError::MissingModel)));
        assert!(matches!(
            peek(br#"{"model":5}"#),
            Err(CompatError::MissingModel)
        ));
        assert!(matches!(
            peek(br#"{"model":"a/b","stream":"yes"}"#),
            Err(CompatError::BadStream)
        ));
        assert!(matches!(
            split_model("grok-beta"),
            Err(CompatError::NoPrefix(_))
        ));
        assert!(matches!(split_model("/x"), Err(CompatError::NoPrefix(_))));
        assert!(matches!(
            split_model("grok/"),
            Err(CompatError::NoPrefix(_))
        ));
        assert_eq!(
            split_model("workers-ai/@cf/meta/llama").expect("prefixed"),
            ("workers-ai", "@cf/meta/llama")
        );
    }
}

//! A small HTTP client for the tests: hyper's legacy client for parsed
//! answers, a raw `TcpStream` when the exact bytes on the wire matter.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use switchyard_testkit::FakeProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A complete answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One SSE event: its `event:` name (if any) and its `data:` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `data:` payloads of a Gemini event stream, checking its
    /// `\r\n\r\n` framing.
    pub fn gemini_events(&self) -> Vec<Value> {
        let text = self.text();
        assert!(
            text.ends_with("\r\n\r\n"),
            "Gemini events end with CRLF CRLF: {text:?}"
        );
        text.split("\r\n\r\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let data = block
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data line: {block:?}"));
                assert!(!data.contains('\n'), "one line per event: {data:?}");
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    /// Splits an SSE body into events, checking the `\n\n` framing.
    pub fn events(&self) -> Vec<Event> {
        let text = self.text();
        assert!(
            text.ends_with("\n\n"),
            "stream must end with a blank line: {text:?}"
        );
        text.split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let mut event = Event {
                    name: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event.name = Some(name.to_owned());
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        event.data = data.to_owned();
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                event
            })
            .collect()
    }
}

/// A request under construction; carries `Authorization: Bearer test-key`
/// unless told otherwise.
pub struct Req {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

pub fn get(path: &str) -> Req {
    Req {
        method: Method::GET,
        path: path.to_owned(),
        headers: vec![("authorization".into(), "Bearer test-key".into())],
        body: Bytes::new(),
    }
}

pub fn post(path: &str, body: Value) -> Req {
    post_raw(path, body.to_string())
}

pub fn post_raw(path: &str, body: impl Into<Bytes>) -> Req {
    Req {
        method: Method::POST,
        path: path.to_owned(),
        headers: vec![
            ("authorization".into(), "Bearer test-key".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: body.into(),
    }
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_auth(mut self) -> Self {
        self.headers.retain(|(name, _)| name != "authorization");
        self
    }

    /// Sends and reads the whole body, which must complete cleanly.
    pub async fn send(self, fake: &FakeProvider) -> Reply {
        let (status, headers, body) = self.send_lenient(fake).await;
        let body = body.unwrap_or_else(|e| panic!("body failed: {e}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends and reports a body error instead of panicking on it.
    pub async fn send_lenient(
        self,
        fake: &FakeProvider,
    ) -> (StatusCode, HeaderMap, Result<Bytes, hyper::Error>) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = client
            .request(self.into_request(fake))
            .await
            .expect("response head");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes());
        (parts.status, parts.headers, body)
    }

    /// Sends over HTTP/2 with prior knowledge (h2c).
    pub async fn send_h2(self, fake: &FakeProvider) -> Reply {
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http::<Full<Bytes>>();
        let response = client.request(self.into_request(fake)).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    fn into_request(self, fake: &FakeProvider) -> Request<Full<Bytes>> {
        let mut builder =
            Request::builder()
                .method(self.method)
                .uri(format!("{}{}", fake.url(), self.path));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(self.body)).unwrap()
    }
}

/// Writes a raw HTTP/1.1 request and returns everything the server sent
/// until it closed the connection.
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("server closes the connection")
        .ok();
    received
}

/// A raw chat-completions POST with `Connection: close`.
pub fn raw_chat_request(extra_headers: &str, body: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: fake\r\nauthorization: Bearer k\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

pub fn chat_body(stream: bool) -> Value {
    serde_json::json!({
        "model": "grok-4-fast",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to me"},
        ],
    })
}

/// A Gemini POST with `x-goog-api-key: test-key` (and no bearer token).
pub fn gemini_post(path: &str, body: Value) -> Req {
    post(path, body)
        .without_auth()
        .header("x-goog-api-key", "test-key")
}

/// A `generateContent` body: system instruction and one user turn (6 words).
pub fn gemini_body() -> Value {
    serde_json::json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Say hello to me"}]}],
    })
}

pub fn messages_body(stream: bool) -> Value {
    serde_json::json!({
        "model": "claude-sonnet-4",
        "max_tokens": 64,
        "stream": stream,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello to me"}]}],
    })
}

//! No input makes a translator panic: truncated fixtures, every JSON node of every fixture
//! replaced by values of other types, random bytes, deep nesting, garbage streams.

mod translate_support;

use serde_json::{json, Value};
use switchyard_providers::translate::{
    request, response, Dialect, Endpoint, Options, Reply, StreamTranslator,
};
use translate_support::{fixture, Rng};
use Dialect::{Anthropic, Gemini, OpenAi};

const DIALECTS: [Dialect; 3] = [OpenAi, Anthropic, Gemini];
const ENDPOINTS: [Endpoint; 2] = [Endpoint::Chat, Endpoint::Embeddings];

fn fixtures(ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["anthropic", "gemini", "openai"] {
        let path = format!("{}/tests/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .expect("fixture dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ext))
            .collect();
        names.sort();
        for n in names {
            let rel = format!("{dir}/{n}");
            out.push((rel.clone(), fixture(&rel)));
        }
    }
    out
}

/// Every translator entry point on `bytes`, as a request, an answer and a stream.
fn everything(bytes: &[u8]) {
    let opts = Options::default();
    for endpoint in ENDPOINTS {
        for client in DIALECTS {
            for provider in DIALECTS {
                if let Err(e) = request(endpoint, client, provider, bytes, "gemini-3-pro", &opts) {
                    let _ = e.body(client);
                }
                for status in [200, 529] {
                    let (s, _) = response(
                        endpoint,
                        client,
                        provider,
                        status,
                        bytes,
                        "m",
                        Reply {
                            embeddings_base64: true,
                            ..Reply::default()
                        },
                    );
                    assert!((200..=599).contains(&s));
                }
            }
        }
    }
    stream_everywhere(bytes);
}

fn stream_everywhere(bytes: &[u8]) {
    for client in DIALECTS {
        for provider in DIALECTS {
            let mut t = StreamTranslator::new(client, provider, "m", true, Default::default());
            let mut out = Vec::new();
            for piece in bytes.chunks(61) {
                out.extend(t.feed(piece));
            }
            out.extend(t.finish());
            // Translated output is always whole events.
            if client != provider {
                let text = out.concat();
                assert!(
                    text.is_empty() || text.ends_with(b"\n\n"),
                    "{client:?} {provider:?}"
                );
            }
        }
    }
}

#[test]
fn truncated_fixtures() {
    for (name, bytes) in fixtures("") {
        let step = (bytes.len() / 40).max(1);
        let mut cut = 0;
        while cut < bytes.len() {
            everything(&bytes[..cut]);
            cut += step;
        }
        for back in 1..12.min(bytes.len()) {
            everything(&bytes[..bytes.len() - back]);
        }
        let _ = name;
    }
}

/// Every path into `v` (as JSON pointers).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                pointers(
                    child,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn alternates() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(u64::MAX),
        json!("data:"),
        json!([null]),
        json!({"type": null}),
    ]
}

fn mutations(v: &Value) -> Vec<Value> {
    let mut paths = Vec::new();
    pointers(v, String::new(), &mut paths);
    let mut out = Vec::new();
    for p in paths.iter().skip(1) {
        for alt in alternates() {
            let mut m = v.clone();
            if let Some(slot) = m.pointer_mut(p) {
                *slot = alt;
                out.push(m);
            }
        }
    }
    out
}

#[test]
fn every_json_node_replaced_by_other_types() {
    let opts = Options::default();
    for (name, bytes) in fixtures(".json") {
        let v: Value = serde_json::from_slice(&bytes).expect("fixture JSON");
        let is_request = name.contains("request");
        for m in mutations(&v) {
            let b = serde_json::to_vec(&m).expect("serialisable");
            for endpoint in ENDPOINTS {
                for (client, provider) in [
                    (OpenAi, Anthropic),
                    (OpenAi, Gemini),
                    (Anthropic, OpenAi),
                    (Anthropic, Gemini),
                ] {
                    if is_request {
                        if let Err(e) =
                            request(endpoint, client, provider, &b, "gemini-3-pro", &opts)
                        {
                            assert_eq!(e.status, 400, "{name}");
                        }
                        continue;
                    }
                    let (s, _) =
                        response(endpoint, client, provider, 200, &b, "m", Reply::default());
                    assert!(s == 200 || s == 502 || s == 400, "{name}: {s}");
                    let (s, _) =
                        response(endpoint, client, provider, 429, &b, "m", Reply::default());
                    assert_eq!(s, 429, "{name}");
                }
            }
        }
    }
}

#[test]
fn every_stream_event_mutated() {
    for (name, bytes) in fixtures(".sse") {
        let text = String::from_utf8(bytes).expect("utf-8");
        let events: Vec<&str> = text.split_inclusive("\n\n").collect();
        let events: Vec<&str> = if events.len() == 1 {
            text.split_inclusive("\r\n\r\n").collect()
        } else {
            events
        };
        for (i, ev) in events.iter().enumerate() {
            let Some(start) = ev.find("data: ") else {
                continue;
            };
            let data_end = ev[start..]
                .find(['\r', '\n'])
                .map(|e| start + e)
                .unwrap_or(ev.len());
            let Ok(v) = serde_json::from_str::<Value>(&ev[start + 6..data_end]) else {
                continue;
            };
            for m in mutations(&v) {
                let mut s = String::new();
                for (j, e) in events.iter().enumerate() {
                    if i == j {
                        s.push_str(&ev[..start + 6]);
                        s.push_str(&m.to_string());
                        s.push_str(&ev[data_end..]);
                    } else {
                        s.push_str(e);
                    }
                }
                for (client, provider) in [
                    (OpenAi, Anthropic),
                    (OpenAi, Gemini),
                    (Anthropic, OpenAi),
                    (Anthropic, Gemini),
                ] {
                    let mut t =
                        StreamTranslator::new(client, provider, "m", true, Default::default());
                    let _ = t.feed(s.as_bytes());
                    let _ = t.finish();
                }
            }
        }
        let _ = name;
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng::new(7);
    let alphabet: &[u8] = b"{}[]\":,0123456789.-eEtrufalsn \\/\n\r\xFF\xC3\xA9abcdata: event:";
    for round in 0..400 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if round % 2 == 0 {
                    alphabet[rng.below(alphabet.len())]
                } else {
                    rng.next_u64() as u8
                }
            })
            .collect();
        everything(&bytes);
    }
}

#[test]
fn deep_nesting_and_huge_values() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    everything(deep.as_bytes());
    let deep_obj = format!(
        "{{\"messages\":{}{}}}",
        "[{\"a\":".repeat(5_000),
        "1}]".repeat(5_000)
    );
    everything(deep_obj.as_bytes());
    let schema_depth = (0..200).fold(
        json!({"type": "string"}),
        |inner, _| json!({"type": "object", "properties": {"x": inner}}),
    );
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "deep", "schema": schema_depth}},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/properties/a", "properties": {"a": {"$ref": "#"}}}}}]});
    let bytes = serde_json::to_vec(&body).expect("serialisable");
    for provider in [Anthropic, Gemini] {
        let _ = request(
            Endpoint::Chat,
            OpenAi,
            provider,
            &bytes,
            "gemini-2.5-flash",
            &Options::default(),
        );
    }
    let long = format!(
        "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{}\"}}]}}}}]}}\n\n",
        "x".repeat(2_000_000)
    );
    stream_everywhere(long.as_bytes());
}

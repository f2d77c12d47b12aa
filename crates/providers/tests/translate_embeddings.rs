//! Embeddings: OpenAI `/embeddings` → Gemini `batchEmbedContents` and back.

mod translate_support;

use base64::Engine;
use serde_json::{json, Value};
use switchyard_providers::translate::{request, response, Dialect, Endpoint, Options, Reply};
use translate_support::{fixture, json};
use Dialect::{Gemini, OpenAi};

const MODEL: &str = "text-embedding-004";

fn embed(
    body: &Value,
) -> Result<
    switchyard_providers::translate::Upstream,
    switchyard_providers::translate::TranslateError,
> {
    let bytes = serde_json::to_vec(body).expect("serialisable");
    request(
        Endpoint::Embeddings,
        OpenAi,
        Gemini,
        &bytes,
        MODEL,
        &Options::default(),
    )
}

fn answer(status: u16, body: &[u8], reply: Reply) -> (u16, Value) {
    let (s, b) = response(
        Endpoint::Embeddings,
        OpenAi,
        Gemini,
        status,
        body,
        MODEL,
        reply,
    );
    (s, json(&b))
}

#[test]
fn request_and_answer() {
    let u = embed(&json(&fixture("openai/embeddings_request.json"))).expect("ok");
    assert_eq!(
        (u.path.as_str(), u.stream),
        ("v1beta/models/text-embedding-004:batchEmbedContents", false)
    );
    assert_eq!(
        u.reply,
        Reply {
            embeddings_base64: false,
            embeddings_normalize: true,
            ..Reply::default()
        }
    );
    assert_eq!(
        json(&u.body),
        json!({"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "The food was delicious and the waiter was friendly."}]}, "outputDimensionality": 4},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "The service was slow."}]}, "outputDimensionality": 4}]})
    );

    let (s, mut b) = answer(200, &fixture("gemini/embeddings_response.json"), u.reply);
    assert_eq!(s, 200);
    // `dimensions` was sent: the vectors come back at unit length (see
    // `dimensions_give_unit_vectors`).
    let raw = [
        [0.013168523, -0.008711934, -0.046782676, 0.00069968984],
        [-0.0064178514, 0.033485886, -0.021546107, 0.0121042915],
    ];
    for (d, want) in b["data"].as_array_mut().expect("data").iter_mut().zip(raw) {
        assert_close(&floats(&d["embedding"]), &unit(&want));
        d["embedding"] = json!(null);
    }
    assert_eq!(
        b,
        json!({"object": "list", "data": [
        {"object": "embedding", "index": 0, "embedding": null},
        {"object": "embedding", "index": 1, "embedding": null}],
        "model": MODEL, "usage": {"prompt_tokens": 0, "total_tokens": 0}})
    );
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a float embedding")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn unit(xs: &[f64]) -> Vec<f64> {
    let norm = xs.iter().map(|x| x * x).sum::<f64>().sqrt();
    xs.iter().map(|x| x / norm).collect()
}

fn norm(xs: &[f64]) -> f64 {
    xs.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} != {want:?}");
    }
}

fn decode_f32(encoded: &Value) -> Vec<f64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().expect("base64 string"))
        .expect("base64");
    bytes
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

/// Gemini normalises only full-size output; OpenAI's vectors are always unit length, and
/// callers rank by dot product on that basis. With `dimensions`, the gateway scales each
/// vector, before base64 encoding too; without, the provider's values pass unchanged.
#[test]
fn dimensions_give_unit_vectors() {
    let gemini = br#"{"embeddings":[{"values":[0.3,-0.2,0.1,0.05]},{"values":[0,0,0,0]}]}"#;
    let want = unit(&[0.3, -0.2, 0.1, 0.05]);
    let floats_for = |body: Value| {
        let u = embed(&body).expect("ok");
        let (s, b) = answer(200, gemini, u.reply);
        assert_eq!(s, 200);
        b
    };

    let b = floats_for(json!({"input": ["a", "b"], "dimensions": 4}));
    let first = floats(&b["data"][0]["embedding"]);
    assert_close(&first, &want);
    assert!((norm(&first) - 1.0).abs() < 1e-12);
    // A zero vector has no direction: left as it is, not made NaN.
    assert_eq!(b["data"][1]["embedding"], json!([0.0, 0.0, 0.0, 0.0]));

    let b = floats_for(json!({"input": ["a", "b"], "dimensions": 4, "encoding_format": "base64"}));
    let first = decode_f32(&b["data"][0]["embedding"]);
    assert_close(&first, &want);
    assert!((norm(&first) - 1.0).abs() < 1e-6);

    let b = floats_for(json!({"input": ["a", "b"]}));
    assert_eq!(b["data"][0]["embedding"], json!([0.3, -0.2, 0.1, 0.05]));
}

#[test]
fn base64_is_little_endian_f32() {
    let u = embed(
        &json!({"model": "google/text-embedding-004", "input": "one", "encoding_format": "base64"}),
    )
    .expect("ok");
    assert!(u.reply.embeddings_base64);
    assert_eq!(
        json(&u.body)["requests"][0],
        json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "one"}]}})
    );
    let (_, b) = answer(200, &fixture("gemini/embeddings_response.json"), u.reply);
    let encoded = b["data"][1]["embedding"].as_str().expect("base64 string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(
        floats,
        [-0.0064178514f32, 0.033485886, -0.021546107, 0.0121042915]
    );
}

#[test]
fn refusals_name_the_field() {
    let cases = [
        (json!({"model": "m"}), "input"),
        (json!({"input": []}), "input"),
        (json!({"input": 5}), "input"),
        (json!({"input": [1, 2, 3]}), "input[0]"),
        (json!({"input": ["ok", [1, 2]]}), "input[1]"),
        (
            json!({"input": "x", "encoding_format": "int8"}),
            "encoding_format",
        ),
        (json!({"input": "x", "dimensions": "big"}), "dimensions"),
        (json!({"input": vec!["a"; 2049]}), "input"),
    ];
    for (body, want) in cases {
        let e = embed(&body).expect_err("refused");
        assert_eq!(e.param.as_deref(), Some(want), "{body}");
    }
    embed(&json!({"input": vec!["a"; 2048]})).expect("OpenAI's limit is fine");
}

#[test]
fn more_inputs_than_gemini_takes_in_one_batch_go_in_several_in_order() {
    let inputs: Vec<String> = (0..250).map(|i| format!("text {i}")).collect();
    let u = embed(&json!({"input": inputs, "dimensions": 4})).expect("ok");
    let bodies: Vec<Value> = std::iter::once(&u.body)
        .chain(&u.more)
        .map(|b| json(b))
        .collect();
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["requests"].as_array().expect("requests").len())
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    let texts: Vec<&str> = bodies
        .iter()
        .flat_map(|b| b["requests"].as_array().expect("requests"))
        .map(|r| {
            assert_eq!(r["outputDimensionality"], 4);
            r["content"]["parts"][0]["text"].as_str().expect("text")
        })
        .collect();
    assert_eq!(texts, inputs);
    // One batch: nothing more.
    assert!(embed(&json!({"input": vec!["a"; 100]}))
        .expect("ok")
        .more
        .is_empty());

    // The answers, joined in order, read as one.
    let part = |from: usize, n: usize| {
        let list: Vec<Value> = (from..from + n)
            .map(|i| json!({"values": [i as f64, 0.5]}))
            .collect();
        bytes::Bytes::from(json!({"embeddings": list}).to_string())
    };
    let joined = switchyard_providers::translate::join_answers(&[
        part(0, 100),
        part(100, 100),
        part(200, 50),
    ])
    .expect("joined");
    let (status, v) = answer(200, &joined, u.reply);
    assert_eq!(status, 200);
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), 250);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["index"], i);
        // Unit length (`dimensions` was sent): the first value still tells the vectors apart.
        assert_close(&floats(&d["embedding"]), &unit(&[i as f64, 0.5]));
    }
    let bad =
        switchyard_providers::translate::join_answers(&[part(0, 100), bytes::Bytes::from("{}")]);
    assert!(bad.is_err());
    // A batch short of a vector would shift every later one onto the wrong text.
    let short = switchyard_providers::translate::join_answers(&[part(0, 99), part(99, 50)]);
    assert!(short.is_err());
}

#[test]
fn errors_keep_their_status() {
    let (s, b) = answer(429, &fixture("gemini/error_429.json"), Reply::default());
    assert_eq!(
        (s, b["error"]["type"].as_str(), b["error"]["code"].as_str()),
        (429, Some("rate_limit_error"), Some("RESOURCE_EXHAUSTED"))
    );
    let (s, b) = answer(400, &fixture("gemini/error_400.json"), Reply::default());
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some("API key not valid. Please pass a valid API key."))
    );
    let (s, _) = answer(
        200,
        b"{\"embeddings\":[{\"values\":[\"x\"]}]}",
        Reply {
            embeddings_base64: true,
            ..Reply::default()
        },
    );
    assert_eq!(s, 502);
    let (s, _) = answer(200, b"{\"embedding\":{}}", Reply::default());
    assert_eq!(s, 502);
}

//! Usage extraction under chunking, truncation, compression and garbage: same answers where
//! the bytes allow one, and never a panic.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::io::Write;
use switchyard_core::Usage;
use switchyard_providers::usage::{decode, extract, Extracted};
use switchyard_testkit::encode::compress;

const SSE: &str = "text/event-stream";
const JSON: &str = "application/json";

/// A long xAI chat stream: many content chunks, then the usage chunk and `[DONE]`.
fn long_stream(chunks: usize) -> String {
    let mut s = String::new();
    for i in 0..chunks {
        s.push_str(&format!(
            "data: {{\"id\":\"53ae\",\"object\":\"chat.completion.chunk\",\"created\":1773345550,\"model\":\"grok-4-fast-reasoning\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word {i} \"}}}}]}}\r\n\r\n"
        ));
    }
    s.push_str("data: {\"id\":\"53ae\",\"object\":\"chat.completion.chunk\",\"created\":1773345550,\"model\":\"grok-4-fast-reasoning\",\"choices\":[],\"usage\":{\"prompt_tokens\":165,\"completion_tokens\":2,\"total_tokens\":296,\"prompt_tokens_details\":{\"cached_tokens\":164},\"completion_tokens_details\":{\"reasoning_tokens\":129},\"cost_in_usd_ticks\":739000}}\r\n\r\n");
    s.push_str("data: [DONE]\r\n\r\n");
    s
}

fn expected_stream_usage() -> Usage {
    Usage {
        tokens_in: Some(165),
        tokens_out: Some(2),
        cached_tokens_in: Some(164),
        cache_write_tokens_in: None,
        cache_write_1h_tokens_in: None,
        reasoning_tokens: Some(129),
        cost_in_usd_ticks: Some(739000),
    }
}

fn chunked(bytes: &[u8], size: usize) -> Vec<Bytes> {
    bytes
        .chunks(size.max(1))
        .map(Bytes::copy_from_slice)
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).expect("in-memory write");
    e.finish().expect("in-memory write")
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn any_chunking_gives_the_same_answer() {
    let stream = long_stream(20);
    let whole = extract("grok", Some(SSE), None, &[Bytes::from(stream.clone())], &[]);
    assert_eq!(whole.usage, expected_stream_usage());
    for size in [1, 2, 3, 7, 64, 500, 4096] {
        let x = extract(
            "grok",
            Some(SSE),
            None,
            &chunked(stream.as_bytes(), size),
            &[],
        );
        assert_eq!(x, whole, "chunks of {size}");
    }
}

#[test]
fn a_dropped_middle_still_finds_the_tail_usage() {
    let stream = long_stream(2000);
    let bytes = stream.as_bytes();
    let head = chunked(&bytes[..10_000], 4096);
    // The tail starts in the middle of some event.
    for cut in [bytes.len() - 900, bytes.len() - 1200, bytes.len() - 5001] {
        let tail = chunked(&bytes[cut..], 100);
        let x = extract("grok", Some(SSE), None, &head, &tail);
        assert_eq!(x.usage, expected_stream_usage(), "tail from {cut}");
        assert_eq!(x.model.as_deref(), Some("grok-4-fast-reasoning"));
    }
}

#[test]
fn a_tail_cut_inside_the_usage_event_falls_back_to_scanning() {
    let stream = long_stream(50);
    let bytes = stream.as_bytes();
    let usage_at = stream
        .find("\"choices\":[],\"usage\"")
        .expect("usage chunk");
    // The tail starts after the usage event's `data:` but before its usage object: the
    // event itself is skipped as partial, and the scan finds the object.
    let tail = vec![Bytes::copy_from_slice(&bytes[usage_at..])];
    let x = extract(
        "grok",
        Some(SSE),
        None,
        &[Bytes::copy_from_slice(&bytes[..300])],
        &tail,
    );
    assert_eq!(x.usage, expected_stream_usage());
}

#[test]
fn truncated_json_with_usage_in_the_tail() {
    // An embeddings answer too big to keep whole: usage and model come after the vectors.
    let mut body = String::from("{\"object\":\"list\",\"data\":[");
    for i in 0..5000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            "{{\"object\":\"embedding\",\"index\":{i},\"embedding\":[0.001,-0.25,0.5]}}"
        ));
    }
    body.push_str("],\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":5000,\"total_tokens\":5000}}");
    let bytes = body.as_bytes();
    let head = vec![Bytes::copy_from_slice(&bytes[..1000])];
    let tail = vec![Bytes::copy_from_slice(&bytes[bytes.len() - 200..])];
    let x = extract("openai", Some(JSON), None, &head, &tail);
    assert_eq!(x.usage.tokens_in, Some(5000));
    assert_eq!(x.model.as_deref(), Some("text-embedding-3-small"));
}

#[test]
fn gzip_and_deflate_bodies() {
    let stream = long_stream(30);
    let expected = extract("grok", Some(SSE), None, &[Bytes::from(stream.clone())], &[]);
    let gz = gzip(stream.as_bytes());
    for size in [1, 10, 1000, gz.len()] {
        let x = extract("grok", Some(SSE), Some("gzip"), &chunked(&gz, size), &[]);
        assert_eq!(x, expected, "gzip in chunks of {size}");
    }
    assert_eq!(
        extract(
            "grok",
            Some(SSE),
            Some("x-gzip"),
            &[Bytes::from(gz.clone())],
            &[]
        ),
        expected
    );
    assert_eq!(
        extract(
            "grok",
            Some(SSE),
            Some("identity, gzip"),
            &[Bytes::from(gz.clone())],
            &[]
        ),
        expected
    );

    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(stream.as_bytes()).expect("in-memory write");
    let zlib = z.finish().expect("in-memory write");
    assert_eq!(
        extract("grok", Some(SSE), Some("deflate"), &chunked(&zlib, 77), &[]),
        expected
    );

    let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
    d.write_all(stream.as_bytes()).expect("in-memory write");
    let raw = d.finish().expect("in-memory write");
    assert_eq!(
        extract("grok", Some(SSE), Some("DEFLATE"), &[Bytes::from(raw)], &[]),
        expected
    );

    let json = r#"{"model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    let x = extract(
        "openai",
        Some(JSON),
        Some("gzip"),
        &[Bytes::from(gzip(json.as_bytes()))],
        &[],
    );
    assert_eq!(x.usage.tokens_out, Some(4));
    assert_eq!(x.model.as_deref(), Some("gpt-4o"));
}

#[test]
fn a_truncated_gzip_body_is_read_as_far_as_it_goes() {
    let stream = long_stream(2000);
    let gz = gzip(stream.as_bytes());
    // Head only, tail dropped: the model is there, the usage is not.
    let x = extract(
        "grok",
        Some(SSE),
        Some("gzip"),
        &[Bytes::copy_from_slice(&gz[..gz.len() / 2])],
        &[Bytes::copy_from_slice(&gz[gz.len() - 50..])],
    );
    assert_eq!(x.usage, Usage::default());
    assert_eq!(x.model.as_deref(), Some("grok-4-fast-reasoning"));
    // Not gzip at all.
    let x = extract("grok", Some(SSE), Some("gzip"), &[Bytes::from(stream)], &[]);
    assert_eq!(x, Extracted::default());
}

#[test]
fn brotli_and_zstd_bodies() {
    let stream = long_stream(40);
    let expected = Extracted {
        usage: expected_stream_usage(),
        model: Some("grok-4-fast-reasoning".into()),
        stream_failed: false,
        finished: true,
        unclosed: false,
    };
    for coding in ["br", "zstd", "BR"] {
        let packed = compress(&coding.to_ascii_lowercase(), stream.as_bytes()).unwrap();
        for size in [1, 5, 64, packed.len()] {
            let x = extract(
                "grok",
                Some(SSE),
                Some(coding),
                &chunked(&packed, size),
                &[],
            );
            assert_eq!(x, expected, "{coding} in chunks of {size}");
        }
        // The decoded body is the original, complete.
        let d = decode(Some(coding), &chunked(&packed, 7)).unwrap().unwrap();
        assert_eq!(&d.body[..], stream.as_bytes(), "{coding}");
        assert!(d.complete, "{coding}");
        // Cut short: read as far as it goes, and said to be incomplete.
        let cut = &packed[..packed.len() * 3 / 4];
        let d = decode(Some(coding), &[Bytes::copy_from_slice(cut)])
            .unwrap()
            .unwrap();
        assert!(!d.complete, "{coding} cut");
        assert!(stream.as_bytes().starts_with(&d.body), "{coding} cut");
    }
}

#[test]
fn every_zstd_frame_is_read() {
    let (one, two) = ("data: first half\n\n", "data: second half\n\n");
    let mut packed = compress("zstd", one.as_bytes()).unwrap();
    packed.extend(compress("zstd", two.as_bytes()).unwrap());
    let d = decode(Some("zstd"), &chunked(&packed, 3)).unwrap().unwrap();
    assert_eq!(&d.body[..], format!("{one}{two}").as_bytes());
    assert!(d.complete);
    // Trailing bytes that are no frame: incomplete, the frames before them kept.
    packed.extend_from_slice(b"not zstd");
    let d = decode(Some("zstd"), &[Bytes::from(packed)])
        .unwrap()
        .unwrap();
    assert_eq!(&d.body[..], format!("{one}{two}").as_bytes());
    assert!(!d.complete);
}

#[test]
fn identity_is_no_coding() {
    for enc in [None, Some(""), Some("identity"), Some(" Identity , ")] {
        assert_eq!(
            decode(enc, &[Bytes::from_static(b"{}")]),
            Ok(None),
            "{enc:?}"
        );
    }
}

#[test]
fn unsupported_encodings_yield_nothing() {
    let json = r#"{"model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    for enc in ["gzip, br", "compress", "br, zstd"] {
        let x = extract("openai", Some(JSON), Some(enc), &[Bytes::from(json)], &[]);
        assert_eq!(x, Extracted::default(), "{enc}");
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let samples: Vec<Vec<u8>> = vec![
        long_stream(5).into_bytes(),
        br#"{"type":"message","usage":{"input_tokens":1,"output_tokens":2}}"#.to_vec(),
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\n".to_vec(),
        br#"[{"usageMetadata":{"promptTokenCount":1}},{"usageMetadata":{"candidatesTokenCount":2}}]"#.to_vec(),
        br#"{"response":{"usage":{"input_tokens":1,"output_tokens_details":{"reasoning_tokens":99}}}}"#.to_vec(),
        gzip(long_stream(5).as_bytes()),
        compress("br", long_stream(5).as_bytes()).unwrap(),
        compress("zstd", long_stream(5).as_bytes()).unwrap(),
    ];
    let alphabet = b"{}[]\":,data: \n\r\\usage0123456789-.e+modelVersionprompt_tokens";
    let types = [Some(SSE), Some(JSON), None, Some("text/plain")];
    let encodings = [
        None,
        Some("gzip"),
        Some("deflate"),
        Some("br"),
        Some("zstd"),
    ];
    for round in 0..3000 {
        let mut bytes = if round % 3 == 0 {
            (0..rng.below(300))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        } else {
            samples[rng.below(samples.len())].clone()
        };
        // Mutate: flip, delete, duplicate bytes; truncate.
        for _ in 0..rng.below(8) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = rng.next() as u8,
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
                _ => bytes.truncate(at),
            }
        }
        let split = rng.below(bytes.len() + 1);
        let gap = rng.below(bytes.len() + 1).max(split);
        let head = chunked(&bytes[..split], 1 + rng.below(50));
        let tail = if round % 2 == 0 {
            Vec::new()
        } else {
            chunked(&bytes[gap..], 1 + rng.below(50))
        };
        let x = extract(
            ["grok", "openai", ""][rng.below(3)],
            types[rng.below(types.len())],
            encodings[rng.below(encodings.len())],
            &head,
            &tail,
        );
        // Counts stay consistent whatever the input.
        let u = x.usage;
        if let (Some(i), Some(c)) = (u.tokens_in, u.cached_tokens_in) {
            assert!(
                c <= i || u.cache_write_tokens_in.is_none(),
                "round {round}: {u:?}"
            );
        }
    }
}

#[test]
fn huge_numbers_saturate() {
    let json = r#"{"type":"message","usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":18446744073709551615,"output_tokens":1e30}}"#;
    let x = extract("anthropic", Some(JSON), None, &[Bytes::from(json)], &[]);
    // Saturated, then held to the most tokens an answer is believed to use.
    assert_eq!(x.usage.tokens_in, Some(switchyard_core::usage::MAX_TOKENS));
    assert_eq!(x.usage.tokens_out, None);
}

#[test]
fn truncated_gemini_array_stream_takes_the_tail_report() {
    let mut body = String::from("[");
    for i in 0..3000 {
        body.push_str(&format!(
            "{{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"chunk {i}\"}}]}}}}],\"usageMetadata\":{{\"promptTokenCount\":50,\"totalTokenCount\":50}},\"modelVersion\":\"gemini-2.5-flash\"}}\r\n,"
        ));
    }
    body.push_str("{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":50,\"candidatesTokenCount\":3000,\"thoughtsTokenCount\":7,\"totalTokenCount\":3057},\"modelVersion\":\"gemini-2.5-flash\"}\r\n]");
    let bytes = body.as_bytes();
    let head = chunked(&bytes[..20_000], 1000);
    let tail = chunked(&bytes[bytes.len() - 600..], 64);
    let x = extract("google-ai-studio", Some(JSON), None, &head, &tail);
    assert_eq!(x.usage.tokens_in, Some(50));
    assert_eq!(x.usage.tokens_out, Some(3000));
    assert_eq!(x.usage.reasoning_tokens, Some(7));
    assert_eq!(x.model.as_deref(), Some("gemini-2.5-flash"));
}

#[test]
fn truncated_anthropic_stream_keeps_the_start_counts() {
    let mut stream = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":90,\"output_tokens\":1}}}\n\n",
    );
    for i in 0..1000 {
        stream.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"t{i}\"}}}}\n\n"
        ));
    }
    stream.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1000}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    let bytes = stream.as_bytes();
    let head = chunked(&bytes[..4000], 512);
    let usage_at = stream
        .find("\"usage\":{\"output_tokens\":1000")
        .expect("delta");
    let expected = Usage {
        tokens_in: Some(100),
        tokens_out: Some(1000),
        cached_tokens_in: Some(90),
        ..Usage::default()
    };
    // The tail holds whole events, or starts inside the message_delta event itself.
    for cut in [bytes.len() - 400, usage_at - 5] {
        let tail = chunked(&bytes[cut..], 100);
        let x = extract("anthropic", Some(SSE), None, &head, &tail);
        assert_eq!(x.usage, expected, "tail from {cut}");
    }
}

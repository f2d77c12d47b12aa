//! Usage extraction from each wire format, as the providers send it.

use bytes::Bytes;
use switchyard_core::Usage;
use switchyard_providers::usage::{extract, Extracted};

const JSON: &str = "application/json";
const SSE: &str = "text/event-stream; charset=utf-8";

fn body(provider: &str, ct: &str, text: &str) -> Extracted {
    extract(
        provider,
        Some(ct),
        None,
        &[Bytes::from(text.to_owned())],
        &[],
    )
}

fn usage(tokens_in: u64, tokens_out: u64) -> Usage {
    Usage {
        tokens_in: Some(tokens_in),
        tokens_out: Some(tokens_out),
        ..Usage::default()
    }
}

#[test]
fn xai_chat_json() {
    let x = body(
        "grok",
        JSON,
        r#"{"id":"0b1c","object":"chat.completion","created":1773345547,"model":"grok-4-fast-reasoning",
        "choices":[{"index":0,"message":{"role":"assistant","content":"Olá!","refusal":null},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":165,"completion_tokens":2,"total_tokens":292,
          "prompt_tokens_details":{"text_tokens":165,"audio_tokens":0,"image_tokens":0,"cached_tokens":156},
          "completion_tokens_details":{"reasoning_tokens":125,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},
          "num_sources_used":0,"cost_in_usd_ticks":731000},
        "system_fingerprint":"fp_3d7ed3b779"}"#,
    );
    assert_eq!(x.model.as_deref(), Some("grok-4-fast-reasoning"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(156),
            reasoning_tokens: Some(125),
            cost_in_usd_ticks: Some(731000),
            ..usage(165, 2)
        }
    );
}

#[test]
fn xai_chat_stream_with_final_usage_chunk() {
    let stream = concat!(
        "data: {\"id\":\"53ae\",\"object\":\"chat.completion.chunk\",\"created\":1773345550,\"model\":\"grok-4-fast-reasoning\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Olá\",\"role\":\"assistant\"}}],\"system_fingerprint\":\"fp_3d7ed3b779\"}\n\n",
        "data: {\"id\":\"53ae\",\"object\":\"chat.completion.chunk\",\"created\":1773345550,\"model\":\"grok-4-fast-reasoning\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"}}]}\n\n",
        "data: {\"id\":\"53ae\",\"object\":\"chat.completion.chunk\",\"created\":1773345550,\"model\":\"grok-4-fast-reasoning\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"53ae\",\"object\":\"chat.completion.chunk\",\"created\":1773345550,\"model\":\"grok-4-fast-reasoning\",\"choices\":[],\"usage\":{\"prompt_tokens\":165,\"completion_tokens\":2,\"total_tokens\":296,\"prompt_tokens_details\":{\"cached_tokens\":164},\"completion_tokens_details\":{\"reasoning_tokens\":129},\"num_sources_used\":0,\"cost_in_usd_ticks\":739000}}\n\n",
        "data: [DONE]\n\n",
    );
    let x = body("grok", SSE, stream);
    assert_eq!(x.model.as_deref(), Some("grok-4-fast-reasoning"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(164),
            reasoning_tokens: Some(129),
            cost_in_usd_ticks: Some(739000),
            ..usage(165, 2)
        }
    );
}

#[test]
fn legacy_xai_stream_with_cumulative_usage_on_every_chunk() {
    let mut stream = String::new();
    for n in 1..=3 {
        stream.push_str(&format!(
            "data: {{\"model\":\"grok-beta\",\"choices\":[{{\"delta\":{{\"role\":\"assistant\",\"content\":\"w\"}}}}],\"usage\":{{\"prompt_tokens\":9,\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\n",
            9 + n
        ));
    }
    stream.push_str("data: [DONE]\n\n");
    let x = body("grok", SSE, &stream);
    assert_eq!(x.usage, usage(9, 3));
    assert_eq!(x.model.as_deref(), Some("grok-beta"));
}

#[test]
fn openai_stream_with_null_usage_until_the_last_chunk() {
    let stream = concat!(
        "data: {\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
        "data: {\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n",
        "data: [DONE]\n\n",
    );
    let x = body("openai", SSE, stream);
    assert_eq!(x.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(0),
            ..usage(12, 5)
        }
    );
}

#[test]
fn stream_without_usage_has_none() {
    let stream = "data: {\"model\":\"grok-4-1-fast\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
    let x = body("grok", SSE, stream);
    assert_eq!(x.usage, Usage::default());
    assert!(!x.usage.is_known());
    assert_eq!(x.model.as_deref(), Some("grok-4-1-fast"));
}

#[test]
fn openai_reasoning_is_not_billed_twice() {
    let x = body(
        "openai",
        JSON,
        r#"{"model":"o4-mini-2025-04-16","usage":{"prompt_tokens":20,"completion_tokens":500,"total_tokens":520,
        "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":448}}}"#,
    );
    assert_eq!(x.usage.tokens_out, Some(52));
    assert_eq!(x.usage.reasoning_tokens, Some(448));
}

#[test]
fn xai_top_level_reasoning_tokens() {
    let x = body(
        "grok",
        JSON,
        r#"{"model":"grok-3-mini","usage":{"prompt_tokens":10,"completion_tokens":4,"reasoning_tokens":30}}"#,
    );
    assert_eq!(x.usage.tokens_out, Some(4));
    assert_eq!(x.usage.reasoning_tokens, Some(30));
}

#[test]
fn deepseek_cache_hit_fields() {
    let x = body(
        "deepseek",
        JSON,
        r#"{"model":"deepseek-chat","usage":{"prompt_tokens":100,"completion_tokens":10,"total_tokens":110,
        "prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#,
    );
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(64),
            ..usage(100, 10)
        }
    );
}

#[test]
fn groq_x_groq_usage() {
    let stream = concat!(
        "data: {\"id\":\"c\",\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"x_groq\":{\"id\":\"req_1\"}}\n\n",
        "data: {\"id\":\"c\",\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_1\",\"usage\":{\"queue_time\":0.01,\"prompt_tokens\":40,\"prompt_time\":0.002,\"completion_tokens\":8,\"completion_time\":0.01,\"total_tokens\":48,\"total_time\":0.012}}}\n\n",
        "data: [DONE]\n\n",
    );
    assert_eq!(body("groq", SSE, stream).usage, usage(40, 8));
}

#[test]
fn embeddings_usage_after_the_vectors() {
    let x = body(
        "openai",
        JSON,
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],
        "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#,
    );
    assert_eq!(x.model.as_deref(), Some("text-embedding-3-small"));
    assert_eq!(x.usage.tokens_in, Some(8));
    assert_eq!(x.usage.tokens_out, None);
}

#[test]
fn anthropic_message_json_counts_cache_inside_tokens_in() {
    let x = body(
        "anthropic",
        JSON,
        r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
        "content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,
        "usage":{"input_tokens":12,"cache_creation_input_tokens":300,"cache_read_input_tokens":1000,"output_tokens":40,
        "cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"service_tier":"standard"}}"#,
    );
    assert_eq!(x.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(1000),
            cache_write_tokens_in: Some(300),
            cache_write_1h_tokens_in: Some(200),
            ..usage(1312, 40)
        }
    );
}

#[test]
fn xai_messages_endpoint_json() {
    let x = body(
        "grok",
        JSON,
        r#"{"id":"4f224bfb-9d53-4c82-b40a-b7cd80831ec2","type":"message","role":"assistant",
        "content":[{"type":"text","text":"…"}],"model":"grok-3-fast-beta","stop_reason":"max_tokens","stop_sequence":null,
        "usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":32}}"#,
    );
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(0),
            cache_write_tokens_in: Some(0),
            cache_write_1h_tokens_in: None,
            ..usage(9, 32)
        }
    );
    assert_eq!(x.model.as_deref(), Some("grok-3-fast-beta"));
}

#[test]
fn anthropic_stream_merges_start_and_last_delta() {
    let stream = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5-20251001\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"the usage is\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let x = body("anthropic", SSE, stream);
    assert_eq!(x.model.as_deref(), Some("claude-haiku-4-5-20251001"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(100),
            cache_write_tokens_in: Some(0),
            cache_write_1h_tokens_in: None,
            ..usage(125, 15)
        }
    );
}

#[test]
fn anthropic_stream_with_cumulative_input_in_the_delta() {
    let stream = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-opus-4-6\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":10,\"cache_read_input_tokens\":20,\"output_tokens\":9}}\n\n",
        "data: [DONE]\n\n",
    );
    let x = body("anthropic", SSE, stream);
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(20),
            cache_write_tokens_in: Some(10),
            cache_write_1h_tokens_in: None,
            ..usage(80, 9)
        }
    );
}

#[test]
fn responses_json_output_includes_reasoning() {
    let x = body(
        "grok",
        JSON,
        r#"{"id":"r1","object":"response","created_at":1,"model":"grok-4.3","status":"completed","output":[],
        "usage":{"input_tokens":9212,"input_tokens_details":{"cached_tokens":3072},
        "output_tokens":923,"output_tokens_details":{"reasoning_tokens":907},
        "total_tokens":10135,"num_sources_used":0,"num_server_side_tools_used":3,"cost_in_usd_ticks":318319000}}"#,
    );
    assert_eq!(x.model.as_deref(), Some("grok-4.3"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(3072),
            reasoning_tokens: Some(907),
            cost_in_usd_ticks: Some(318319000),
            ..usage(9212, 16)
        }
    );
}

#[test]
fn responses_stream_terminal_event() {
    let stream = concat!(
        "event: response.created\n",
        "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"model\":\"gpt-5-mini-2025-08-07\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
        "event: response.output_text.delta\n",
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"\\\"usage\\\": {\"}\n\n",
        "event: response.completed\n",
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-mini-2025-08-07\",\"status\":\"completed\",\"usage\":{\"input_tokens\":30,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":100,\"output_tokens_details\":{\"reasoning_tokens\":64},\"total_tokens\":130}}}\n\n",
    );
    let x = body("openai", SSE, stream);
    assert_eq!(x.model.as_deref(), Some("gpt-5-mini-2025-08-07"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(0),
            reasoning_tokens: Some(64),
            ..usage(30, 36)
        }
    );
}

#[test]
fn gemini_json() {
    let x = body(
        "google-ai-studio",
        JSON,
        r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}],
        "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":30,"totalTokenCount":250,
        "cachedContentTokenCount":100,"thoughtsTokenCount":100,"promptTokensDetails":[{"modality":"TEXT","tokenCount":120}]},
        "modelVersion":"gemini-2.5-flash","responseId":"abc"}"#,
    );
    assert_eq!(x.model.as_deref(), Some("gemini-2.5-flash"));
    assert_eq!(
        x.usage,
        Usage {
            cached_tokens_in: Some(100),
            reasoning_tokens: Some(100),
            ..usage(120, 30)
        }
    );
}

#[test]
fn gemini_sse_last_metadata_wins() {
    let stream = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}}],\"usageMetadata\":{\"promptTokenCount\":8,\"totalTokenCount\":8},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":12,\"totalTokenCount\":20,\"toolUsePromptTokenCount\":3},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n",
    );
    let x = body("google-ai-studio", SSE, stream);
    assert_eq!(x.usage, usage(11, 12));
    assert_eq!(x.model.as_deref(), Some("gemini-2.5-pro"));
}

#[test]
fn gemini_json_array_stream() {
    let stream = "[{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":4},\"modelVersion\":\"gemini-2.0-flash\"}\r\n,\r\n{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":9,\"totalTokenCount\":13},\"modelVersion\":\"gemini-2.0-flash\"}\r\n]";
    let x = body("google-ai-studio", JSON, stream);
    assert_eq!(x.usage, usage(4, 9));
    assert_eq!(x.model.as_deref(), Some("gemini-2.0-flash"));
    // A first chunk alone: no output count means 0, as Gemini omits zeros.
    let x = body(
        "google-ai-studio",
        JSON,
        "[{\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":4}}]",
    );
    assert_eq!(x.usage, usage(4, 0));
}

#[test]
fn image_answer_with_only_a_bill() {
    let x = body(
        "grok",
        JSON,
        r#"{"data":[{"url":"https://x/1.png"}],"usage":{"cost_in_usd_ticks":200000000}}"#,
    );
    assert_eq!(
        x.usage,
        Usage {
            cost_in_usd_ticks: Some(200_000_000),
            ..Usage::default()
        }
    );
}

#[test]
fn content_type_is_only_a_hint() {
    let stream =
        "data: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n";
    // Mislabelled stream, no content type at all, and JSON sent as an event stream.
    assert_eq!(body("openai", JSON, stream).usage, usage(1, 2));
    let x = extract("openai", None, None, &[Bytes::from(stream)], &[]);
    assert_eq!(x.usage, usage(1, 2));
    let json = r#"{"model":"m","usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
    assert_eq!(body("openai", SSE, json).usage, usage(1, 2));
    // Not JSON, not a stream: nothing.
    assert_eq!(
        body("openai", "text/html", "<html>usage</html>"),
        Extracted::default()
    );
    assert_eq!(body("openai", JSON, ""), Extracted::default());
}

#[test]
fn error_bodies_have_no_usage() {
    let x = body(
        "grok",
        JSON,
        r#"{"code":"Client specified an invalid argument","error":"Incorrect API key provided"}"#,
    );
    assert_eq!(x, Extracted::default());
}

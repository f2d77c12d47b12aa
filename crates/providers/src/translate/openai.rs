//! The OpenAI answer shapes the Anthropic and Gemini translators build: `chat.completion`,
//! `chat.completion.chunk`, `usage`, ids and finish reasons.
//!
//! Usage follows OpenAI's convention: `prompt_tokens` counts every input token, cached ones
//! included (`prompt_tokens_details.cached_tokens` says how many were cache reads);
//! `completion_tokens` counts every output token, reasoning included
//! (`completion_tokens_details.reasoning_tokens` when the provider reports it), and
//! `total_tokens` is their sum.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Token counts in OpenAI's convention (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub cached: u64,
    /// Anthropic's cache writes, part of `prompt`; not shown to OpenAI clients.
    pub cache_write: u64,
    pub reasoning: Option<u64>,
}

impl Usage {
    pub fn to_json(self) -> Value {
        let mut u = json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt.saturating_add(self.completion),
            "prompt_tokens_details": {"cached_tokens": self.cached},
        });
        if let Some(r) = self.reasoning {
            u["completion_tokens_details"] = json!({"reasoning_tokens": r});
        }
        u
    }

    /// Reads an OpenAI `usage` object (any OpenAI-shaped provider).
    pub fn from_openai(u: &Value) -> Self {
        let n = |p: &str| u.pointer(p).and_then(Value::as_u64);
        let prompt = n("/prompt_tokens").unwrap_or(0);
        let mut completion = n("/completion_tokens").unwrap_or(0);
        let reasoning = n("/completion_tokens_details/reasoning_tokens");
        // xAI counts reasoning apart from `completion_tokens`; its total says so.
        if let (Some(r), Some(total)) = (reasoning, n("/total_tokens")) {
            if r > 0
                && Some(total)
                    == prompt
                        .checked_add(completion)
                        .and_then(|s| s.checked_add(r))
            {
                completion += r;
            }
        }
        Self {
            prompt,
            completion,
            cached: n("/prompt_tokens_details/cached_tokens").unwrap_or(0),
            cache_write: 0,
            reasoning,
        }
    }
}

/// `chatcmpl-{provider id}`.
pub fn chat_id(provider_id: &str) -> String {
    if provider_id.is_empty() {
        return fallback_id("chatcmpl-");
    }
    if provider_id.starts_with("chatcmpl-") {
        provider_id.to_owned()
    } else {
        format!("chatcmpl-{provider_id}")
    }
}

/// A process-unique id for answers whose provider gave none.
pub fn fallback_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{prefix}{t:x}{n:x}")
}

/// Seconds since the epoch, for `created`.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A whole `chat.completion`.
pub fn completion(
    id: &str,
    created: u64,
    model: &str,
    choices: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let mut v = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    });
    if let Some(u) = usage {
        v["usage"] = u.to_json();
    }
    v
}

/// One choice of a `chat.completion`.
pub fn choice(index: u64, content: Option<String>, tool_calls: Vec<Value>, finish: &str) -> Value {
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({"index": index, "message": message, "logprobs": null, "finish_reason": finish})
}

/// One `tool_calls` entry of a message (or, with `index`, of a stream delta).
pub fn tool_call(
    index: Option<u64>,
    id: &str,
    name: &str,
    arguments: &str,
    signature: Option<&str>,
) -> Value {
    let mut v = json!({});
    if let Some(i) = index {
        v["index"] = json!(i);
    }
    v["id"] = json!(id);
    v["type"] = json!("function");
    v["function"] = json!({"name": name, "arguments": arguments});
    if let Some(sig) = signature {
        v["extra_content"] = json!({"google": {"thought_signature": sig}});
    }
    v
}

/// What every chunk of one stream repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkHead {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// The client asked for usage: every chunk carries `"usage": null` until the last.
    pub include_usage: bool,
}

impl ChunkHead {
    fn base(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// A chunk with one choice.
    pub fn chunk(&self, index: u64, delta: Value, finish: Option<&str>) -> Value {
        let mut v = self.base(json!([{
            "index": index,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish,
        }]));
        if self.include_usage {
            v["usage"] = Value::Null;
        }
        v
    }

    /// The last chunk when usage was asked for: no choices, the usage.
    pub fn usage_chunk(&self, usage: &Usage) -> Value {
        let mut v = self.base(json!([]));
        v["usage"] = usage.to_json();
        v
    }
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_from_anthropic(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Gemini `finishReason` → OpenAI `finish_reason`; a stop after function calls is
/// `tool_calls`.
pub fn finish_from_gemini(reason: &str, called_tools: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xai_reasoning_is_added_to_completion() {
        let xai = Usage::from_openai(
            &json!({"prompt_tokens":10,"completion_tokens":2,"total_tokens":40,"completion_tokens_details":{"reasoning_tokens":28}}),
        );
        assert_eq!(xai.completion, 30);
        let openai = Usage::from_openai(
            &json!({"prompt_tokens":10,"completion_tokens":30,"total_tokens":40,"completion_tokens_details":{"reasoning_tokens":28}}),
        );
        assert_eq!(openai.completion, 30);
    }

    #[test]
    fn ids() {
        assert_eq!(chat_id("msg_01"), "chatcmpl-msg_01");
        assert_eq!(chat_id("chatcmpl-x"), "chatcmpl-x");
        assert!(chat_id("").starts_with("chatcmpl-"));
        assert_ne!(fallback_id("a"), fallback_id("a"));
    }
}

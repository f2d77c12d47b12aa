//! `GenerateContentResponse` bodies: the whole answer (pretty-printed, as
//! Google sends JSON unless `prettyPrint=false`) and the streamed forms,
//! `data: {…}\r\n\r\n` events (`alt=sse`) or one JSON array sent element
//! by element.
//!
//! A stream sends one response per chunk (at least one), each with that
//! chunk's text and the usage so far (`usageMetadata` is cumulative, so the
//! last one counts); the last also carries `finishReason`. `drop_after: N`
//! below the number of responses sends N of them and aborts, so the client
//! never sees a `finishReason`.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::body::{FrameKind, FrameSource};
use crate::wire::content::{Chunks, Usage};

/// Everything a response repeats in each chunk.
pub(super) struct Answer {
    pub(super) model: String,
    pub(super) response_id: String,
    pub(super) candidates: usize,
    pub(super) chunks: Chunks,
    /// A function call answers instead of text.
    pub(super) call: Option<(String, Value)>,
    pub(super) finish_reason: &'static str,
    pub(super) usage: Usage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    candidates: Vec<CandidateOut<'a>>,
    usage_metadata: UsageMetadata,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CandidateOut<'a> {
    content: ContentOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: usize,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    /// Absent when the model produced nothing, as Google omits empty lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<[PartOut<'a>; 1]>,
    role: &'static str,
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
enum PartOut<'a> {
    Text(&'a str),
    FunctionCall { name: &'a str, args: &'a Value },
}

/// Google omits zero counts (proto3 JSON); prompt and total are never 0.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    candidates_token_count: u64,
    total_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    cached_content_token_count: u64,
    prompt_tokens_details: [ModalityCount; 1],
    #[serde(skip_serializing_if = "is_zero")]
    thoughts_token_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModalityCount {
    modality: &'static str,
    token_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl UsageMetadata {
    /// Usage after `candidates` output tokens (all candidates together).
    fn after(usage: &Usage, candidates: u64) -> Self {
        Self {
            prompt_token_count: usage.prompt,
            candidates_token_count: candidates,
            total_token_count: usage.prompt + candidates + usage.reasoning,
            cached_content_token_count: usage.cached,
            prompt_tokens_details: [ModalityCount {
                modality: "TEXT",
                token_count: usage.prompt,
            }],
            thoughts_token_count: usage.reasoning,
        }
    }
}

impl Answer {
    /// One response carrying `part` (or nothing) for every candidate.
    fn response<'a>(
        &'a self,
        part: Option<PartOut<'a>>,
        last: bool,
        tokens: u64,
    ) -> ResponseOut<'a> {
        let candidates = (0..self.candidates)
            .map(|index| CandidateOut {
                content: ContentOut {
                    parts: part.map(|p| [p]),
                    role: "model",
                },
                finish_reason: last.then_some(self.finish_reason),
                index,
            })
            .collect();
        ResponseOut {
            candidates,
            usage_metadata: UsageMetadata::after(&self.usage, tokens),
            model_version: &self.model,
            response_id: &self.response_id,
        }
    }

    /// The whole answer as one JSON body.
    pub(super) fn json(&self, pretty: bool) -> Vec<u8> {
        let text;
        let part = match &self.call {
            Some((name, args)) => Some(PartOut::FunctionCall { name, args }),
            None => {
                text = self.chunks.full_text();
                (!text.is_empty()).then_some(PartOut::Text(&text))
            }
        };
        let response = self.response(part, true, self.usage.completion);
        let written = if pretty {
            serde_json::to_vec_pretty(&response)
        } else {
            serde_json::to_vec(&response)
        };
        // Plain structs of strings and numbers always serialise.
        written.unwrap_or_default()
    }
}

/// How a stream is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `alt=sse`: `data: {…}\r\n\r\n` per response.
    Sse,
    /// No `alt`: one JSON array, `[{…}`, `\r\n,{…}`…, `\r\n]`.
    Array,
}

/// Streamed responses, produced lazily.
pub(super) struct AnswerStream {
    pub(super) answer: Answer,
    pub(super) framing: Framing,
    pub(super) pretty: bool,
    pub(super) next: usize,
}

impl AnswerStream {
    /// Responses in the stream: one per chunk, at least one.
    fn total(&self) -> usize {
        if self.answer.call.is_some() {
            1
        } else {
            self.answer.chunks.len().max(1)
        }
    }

    fn frame(&self, i: usize, response: &ResponseOut<'_>) -> Bytes {
        let last = i + 1 == self.total();
        let mut out = Vec::with_capacity(512);
        match self.framing {
            Framing::Sse => {
                out.extend_from_slice(b"data: ");
                let _ = serde_json::to_writer(&mut out, response);
                out.extend_from_slice(b"\r\n\r\n");
            }
            Framing::Array => {
                out.extend_from_slice(if i == 0 { b"[" } else { b"\r\n," });
                let _ = if self.pretty {
                    serde_json::to_writer_pretty(&mut out, response)
                } else {
                    serde_json::to_writer(&mut out, response)
                };
                if last {
                    out.extend_from_slice(b"\r\n]");
                }
            }
        }
        Bytes::from(out)
    }
}

impl FrameSource for AnswerStream {
    fn next_frame(&mut self) -> Option<(FrameKind, Bytes)> {
        let i = self.next;
        let total = self.total();
        if i >= total {
            return None;
        }
        self.next += 1;
        let last = i + 1 == total;
        let answer = &self.answer;
        let text;
        let (part, tokens) = match &answer.call {
            Some((name, args)) => (
                Some(PartOut::FunctionCall { name, args }),
                answer.usage.completion,
            ),
            None if answer.chunks.len() == 0 => (None, answer.usage.completion),
            None => {
                text = answer.chunks.chunk(i);
                let per_candidate = u64::try_from(i + 1).unwrap_or(u64::MAX);
                let so_far = per_candidate.saturating_mul(answer.candidates as u64);
                let tokens = if last {
                    answer.usage.completion
                } else {
                    so_far.min(answer.usage.completion)
                };
                (Some(PartOut::Text(&text)), tokens)
            }
        };
        let response = answer.response(part, last, tokens);
        let frame = self.frame(i, &response);
        let kind = if last {
            FrameKind::Tail
        } else {
            FrameKind::Content
        };
        Some((kind, frame))
    }
}

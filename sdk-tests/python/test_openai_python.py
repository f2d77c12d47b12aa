"""OpenAI Python SDK against Switchyard: provider endpoint (grok) and the unified /compat endpoint."""

from __future__ import annotations

import json
import re
import time

import openai
import pytest

from conftest import ANSWER, API_KEY, assert_forwarded, gateway_error_body

MODEL = "grok-beta"
UUID_V7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def messages(nonce: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": f"Say hello. {nonce}"},
    ]


def sdk_headers(client: openai.OpenAI) -> dict[str, str]:
    """End-to-end headers the SDK sends that the provider must receive as sent."""
    assert client.auth_headers == {"Authorization": f"Bearer {API_KEY}"}
    return {"authorization": f"Bearer {API_KEY}",
            "user-agent": f"OpenAI/Python {openai.__version__}", "x-stainless-lang": "python"}


def check_completion(resp, model: str = MODEL) -> None:
    assert resp.object == "chat.completion"
    assert resp.model == model
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == ANSWER
    assert choice.finish_reason == "stop"
    u = resp.usage
    assert u is not None and u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens >= u.prompt_tokens + u.completion_tokens


def collect_stream(stream) -> tuple[list, str]:
    chunks = list(stream)  # ends at data: [DONE]; raises on a broken/truncated stream
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def check_stream(chunks, text: str, models: tuple[str, ...] = (MODEL,)) -> None:
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 2, f"expected several content chunks, got {len(content_chunks)}"
    assert text == ANSWER
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.model in models for c in chunks), {c.model for c in chunks}
    assert len({c.id for c in chunks}) == 1, "all chunks of one completion share its id"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    # stream_options.include_usage: the last chunk carries usage and no choices.
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert last.usage.total_tokens >= last.usage.prompt_tokens + last.usage.completion_tokens


# --------------------------------------------------------------------------- provider endpoint


def test_chat_completion(openai_client, fake, nonce):
    client = openai_client("grok")
    resp = client.chat.completions.create(model=MODEL, messages=messages(nonce), temperature=0.2, max_tokens=64)
    check_completion(resp)

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/chat/completions",
                     body={"model": MODEL, "messages": messages(nonce), "temperature": 0.2, "max_tokens": 64},
                     headers=sdk_headers(client))


def test_chat_completion_stream(openai_client, fake, nonce):
    client = openai_client("grok")
    stream = client.chat.completions.create(model=MODEL, messages=messages(nonce), stream=True,
                                            stream_options={"include_usage": True})
    chunks, text = collect_stream(stream)
    check_stream(chunks, text)

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/chat/completions",
                     body={"model": MODEL, "messages": messages(nonce), "stream": True,
                           "stream_options": {"include_usage": True}},
                     headers=sdk_headers(client))


def test_stream_is_relayed_incrementally(openai_client, fake, nonce):
    """SPEC 2.1: streamed bodies are relayed chunk by chunk, never buffered whole."""
    client = openai_client("grok")
    delay_ms = 150
    start = time.monotonic()
    stream = client.chat.completions.create(
        model=MODEL, messages=messages(nonce), stream=True,
        extra_headers={"x-fake-chunks": "6", "x-fake-chunk-delay-ms": str(delay_ms)},
    )
    arrivals = []
    for chunk in stream:
        arrivals.append(time.monotonic() - start)
    assert len(arrivals) >= 6, f"got {len(arrivals)} chunks"
    total = arrivals[-1]
    assert total >= 4 * delay_ms / 1000, f"fake did not pace the stream (took {total:.3f}s)"
    # If the gateway buffered the body, every chunk would arrive at the very end.
    assert arrivals[0] < total - 2 * delay_ms / 1000, (
        f"first chunk at {arrivals[0]:.3f}s, last at {total:.3f}s: stream was buffered"
    )
    fake.only_request(nonce)


def test_upstream_rate_limit_passes_through(openai_client, fake, nonce):
    client = openai_client("grok", max_retries=0)
    with pytest.raises(openai.RateLimitError) as exc_info:
        client.chat.completions.create(model=MODEL, messages=messages(nonce),
                                       extra_headers={"x-fake-status": "429"})
    err = exc_info.value
    assert err.status_code == 429
    body = err.response.json()
    # The provider's own error, untouched (not a gateway error).
    assert body.get("name") != "AiGatewayError", body
    assert "success" not in body, body
    rec = fake.only_request(nonce)  # exactly one attempt: no gateway retry by default
    assert rec["path"] == "/v1/chat/completions"
    assert rec["headers"].get("x-fake-status") == "429"


# --------------------------------------------------------------------------- unified /compat endpoint


def test_compat_chat_completion(openai_client, fake, nonce):
    client = openai_client("compat")
    resp = client.chat.completions.create(model="grok/grok-beta", messages=messages(nonce), max_tokens=32)
    # The fake echoes the model it was asked for; the gateway may report it with or without the prefix.
    assert resp.model in (MODEL, "grok/grok-beta")
    check_completion(resp, model=resp.model)

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/chat/completions",
                     body={"model": MODEL, "messages": messages(nonce), "max_tokens": 32},
                     headers={"authorization": f"Bearer {API_KEY}"})


def test_compat_chat_completion_stream(openai_client, fake, nonce):
    client = openai_client("compat")
    stream = client.chat.completions.create(model="grok/grok-beta", messages=messages(nonce), stream=True,
                                            stream_options={"include_usage": True})
    chunks, text = collect_stream(stream)
    check_stream(chunks, text, models=(MODEL, "grok/grok-beta"))

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/chat/completions",
                     body={"model": MODEL, "messages": messages(nonce), "stream": True,
                           "stream_options": {"include_usage": True}},
                     headers={"authorization": f"Bearer {API_KEY}"})


@pytest.mark.parametrize("model", ["nope/x", "grok-beta"], ids=["unknown-prefix", "no-prefix"])
def test_compat_bad_model_is_gateway_400(openai_client, fake, nonce, model):
    client = openai_client("compat")
    with pytest.raises(openai.BadRequestError) as exc_info:
        client.chat.completions.create(model=model, messages=messages(nonce))
    err = exc_info.value
    assert err.status_code == 400
    gateway_error_body(err.response.content, 400, 2008)
    assert fake.requests_with(nonce) == [], "nothing may be sent upstream"


# --------------------------------------------------------------------------- more of the contract


def test_response_headers_via_raw_response(openai_client, fake, nonce):
    """SPEC 2.5, as an SDK user reads it (`with_raw_response`): gateway ids, provider headers."""
    client = openai_client("grok")
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages(nonce), extra_headers={"cf-aig-event-id": nonce})
    assert raw.status_code == 200
    check_completion(raw.parse())
    log_id = raw.headers.get("cf-aig-log-id")
    assert log_id and UUID_V7.fullmatch(log_id), f"cf-aig-log-id: {log_id!r}"
    assert raw.headers.get("cf-aig-event-id") == nonce
    # The provider's own response headers pass through.
    assert raw.headers.get("x-request-id"), dict(raw.headers)
    fake.only_request(nonce)


def test_openai_provider_slug(openai_client, fake, nonce):
    """The `openai` slug (base https://api.openai.com/v1) behaves like grok for the OpenAI SDK."""
    client = openai_client("openai")
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=messages(nonce))
    check_completion(resp, model="gpt-4o-mini")
    assert_forwarded(fake.only_request(nonce), path="/v1/chat/completions",
                     body={"model": "gpt-4o-mini", "messages": messages(nonce)},
                     headers=sdk_headers(client))


def _anthropic_text(content) -> str:
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def check_translated_to_anthropic(rec, nonce: str, *, stream: bool) -> None:
    """SPEC 2.2: compat -> Anthropic Messages, credential in x-api-key, anthropic-version set."""
    assert (rec["method"], rec["path"]) == ("POST", "/v1/messages")
    h = rec["headers"]
    assert h.get("x-api-key") == API_KEY, h
    assert h.get("anthropic-version"), h
    assert not any(k.startswith("cf-aig-") for k in h), h
    body = rec["json"]
    assert body["model"] == "claude-haiku-4-5", body
    assert isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0, body
    assert [m["role"] for m in body["messages"]] == ["user"], body
    assert _anthropic_text(body["messages"][0]["content"]) == f"Say hello. {nonce}"
    assert _anthropic_text(body.get("system", "")) == "You are a test.", body
    assert bool(body.get("stream")) is stream, body


def test_compat_to_anthropic(openai_client, fake, nonce):
    client = openai_client("compat")
    resp = client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=messages(nonce),
                                          max_tokens=64)
    assert resp.model in ("claude-haiku-4-5", "anthropic/claude-haiku-4-5")
    check_completion(resp, model=resp.model)
    rec = fake.only_request(nonce)
    check_translated_to_anthropic(rec, nonce, stream=False)
    assert rec["json"]["max_tokens"] == 64


def test_compat_to_anthropic_stream(openai_client, fake, nonce):
    client = openai_client("compat")
    stream = client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=messages(nonce),
                                            stream=True, stream_options={"include_usage": True})
    chunks, text = collect_stream(stream)
    check_stream(chunks, text, models=("claude-haiku-4-5", "anthropic/claude-haiku-4-5"))
    check_translated_to_anthropic(fake.only_request(nonce), nonce, stream=True)


def test_compat_to_anthropic_reasoning(openai_client, fake, nonce):
    """reasoning_effort becomes Anthropic's thinking budget; the thinking comes back as the
    message's reasoning_content (an extra field the SDK keeps) and thinking_blocks."""
    client = openai_client("compat")
    answer = {"id": "msg_think", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
              "content": [{"type": "thinking", "thinking": "Greet back.", "signature": "sig-1"},
                          {"type": "text", "text": ANSWER}],
              "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 12}}
    resp = client.chat.completions.create(
        model="anthropic/claude-haiku-4-5", messages=messages(nonce), max_completion_tokens=2048,
        reasoning_effort="low", extra_headers={"x-fake-script": json.dumps({"body": json.dumps(answer)})})
    message = resp.choices[0].message
    assert message.content == ANSWER
    assert message.reasoning_content == "Greet back."
    assert message.thinking_blocks == [{"type": "thinking", "thinking": "Greet back.", "signature": "sig-1"}]
    body = fake.only_request(nonce)["json"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}, body
    assert body["max_tokens"] == 2048, body


def test_compat_to_anthropic_reasoning_stream_helper(openai_client, fake, nonce):
    """The SDK's stream helper (which merges list deltas) reads the streamed reasoning and the
    thinking blocks, sent once with the finish reason."""
    client = openai_client("compat")

    def event(data):
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"
    sse = "".join(event(e) for e in [
        {"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant",
         "model": "claude-haiku-4-5", "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Greet "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "back."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-1"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "opaque"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": ANSWER}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop"}])
    script = {"x-fake-script": json.dumps({"body": sse, "chunks": 4})}
    with client.chat.completions.stream(model="anthropic/claude-haiku-4-5", messages=messages(nonce),
                                        max_completion_tokens=2048, reasoning_effort="low",
                                        extra_headers=script) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == ANSWER
    assert message.reasoning_content == "Greet back."
    assert message.thinking_blocks == [
        {"type": "thinking", "thinking": "Greet back.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"}]


def check_translated_to_gemini(rec, nonce: str, *, stream: bool) -> None:
    """SPEC 2.2: compat -> Gemini generateContent, credential in x-goog-api-key."""
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    assert (rec["method"], rec["path"]) == ("POST", f"/v1beta/models/gemini-2.5-flash:{method}")
    h = rec["headers"]
    assert h.get("x-goog-api-key") == API_KEY, h
    assert "authorization" not in h, h
    body = rec["json"]
    texts = ["".join(p.get("text", "") for p in c["parts"]) for c in body["contents"]]
    assert texts == [f"Say hello. {nonce}"], body
    assert [c["role"] for c in body["contents"]] == ["user"], body
    system = "".join(p.get("text", "") for p in body["systemInstruction"]["parts"])
    assert system == "You are a test.", body


def test_compat_to_google_ai_studio(openai_client, fake, nonce):
    client = openai_client("compat")
    resp = client.chat.completions.create(model="google-ai-studio/gemini-2.5-flash",
                                          messages=messages(nonce))
    assert resp.model in ("gemini-2.5-flash", "google-ai-studio/gemini-2.5-flash")
    check_completion(resp, model=resp.model)
    check_translated_to_gemini(fake.only_request(nonce), nonce, stream=False)


def test_compat_to_google_ai_studio_stream(openai_client, fake, nonce):
    client = openai_client("compat")
    stream = client.chat.completions.create(model="google-ai-studio/gemini-2.5-flash",
                                            messages=messages(nonce), stream=True,
                                            stream_options={"include_usage": True})
    chunks, text = collect_stream(stream)
    check_stream(chunks, text, models=("gemini-2.5-flash", "google-ai-studio/gemini-2.5-flash"))
    check_translated_to_gemini(fake.only_request(nonce), nonce, stream=True)

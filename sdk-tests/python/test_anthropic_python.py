"""Anthropic Python SDK against Switchyard's grok provider endpoint (xAI's /v1/messages)."""

from __future__ import annotations

import json

import anthropic
import pytest

from conftest import ANSWER, API_KEY, assert_forwarded

MODEL = "grok-beta"


def messages(nonce: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Say hello. {nonce}"}]


def sdk_headers(client: anthropic.Anthropic) -> dict[str, str]:
    """The credential exactly as this SDK version sends it (x-api-key in older releases,
    Authorization: Bearer in newer ones), plus other end-to-end headers."""
    creds = {k.lower(): v for k, v in client.auth_headers.items()}
    assert API_KEY in " ".join(creds.values()), creds
    return {**creds,
            "anthropic-version": client.default_headers["anthropic-version"],
            "user-agent": f"Anthropic/Python {anthropic.__version__}"}


def check_usage(usage) -> None:
    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_messages_create(anthropic_client, fake, nonce):
    client = anthropic_client("grok")
    msg = client.messages.create(model=MODEL, max_tokens=64, messages=messages(nonce), system="You are a test.")
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.model == MODEL
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == ANSWER
    assert msg.stop_reason == "end_turn"
    check_usage(msg.usage)

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/messages",
                     body={"model": MODEL, "max_tokens": 64, "messages": messages(nonce),
                           "system": "You are a test."},
                     headers=sdk_headers(client))


def test_messages_stream(anthropic_client, fake, nonce):
    client = anthropic_client("grok")
    with client.messages.stream(model=MODEL, max_tokens=64, messages=messages(nonce)) as stream:
        events = list(stream)
        final = stream.get_final_message()
    types = [e.type for e in events]
    assert types[0] == "message_start", types
    assert types[-1] == "message_stop", types
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(deltas) >= 2, f"expected several text deltas, got {types}"
    assert "".join(d.delta.text for d in deltas) == ANSWER
    assert "message_delta" in types
    assert final.content[0].text == ANSWER
    assert final.stop_reason == "end_turn"
    assert final.model == MODEL
    check_usage(final.usage)

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/messages",
                     body={"model": MODEL, "max_tokens": 64, "messages": messages(nonce), "stream": True},
                     headers=sdk_headers(client))


def test_messages_create_stream_true(anthropic_client, fake, nonce):
    """The low-level `stream=True` form: raw SSE events through the gateway."""
    client = anthropic_client("grok")
    events = list(client.messages.create(model=MODEL, max_tokens=64, messages=messages(nonce), stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop", types
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == ANSWER
    stop = [e.delta.stop_reason for e in events if e.type == "message_delta"]
    assert stop == ["end_turn"]
    fake.only_request(nonce)


def test_upstream_rate_limit_passes_through(anthropic_client, fake, nonce):
    client = anthropic_client("grok", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as exc_info:
        client.messages.create(model=MODEL, max_tokens=64, messages=messages(nonce),
                               extra_headers={"x-fake-status": "429"})
    err = exc_info.value
    assert err.status_code == 429
    body = err.response.json()
    assert body.get("name") != "AiGatewayError" and "success" not in body, body
    rec = fake.only_request(nonce)
    assert rec["path"] == "/v1/messages"


# --------------------------------------------------------------------------- more of the contract


def test_anthropic_provider_slug(anthropic_client, fake, nonce):
    """The `anthropic` slug maps to the API root: the SDK's /v1/messages reaches /v1/messages."""
    client = anthropic_client("anthropic")
    msg = client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=messages(nonce))
    assert msg.content[0].text == ANSWER and msg.stop_reason == "end_turn"
    assert_forwarded(fake.only_request(nonce), path="/v1/messages",
                     body={"model": "claude-haiku-4-5", "max_tokens": 64, "messages": messages(nonce)},
                     headers=sdk_headers(client))


def check_compat_upstream(rec, nonce: str, *, stream: bool) -> None:
    """SPEC 2.2 compat/v1/messages for grok: translated to the provider's native API
    (chat completions, or xAI's own /v1/messages), model without prefix, key as a Bearer token."""
    assert rec["method"] == "POST"
    assert rec["path"] in ("/v1/chat/completions", "/v1/messages"), rec["path"]
    assert rec["headers"].get("authorization") == f"Bearer {API_KEY}", rec["headers"]
    assert not any(k.startswith("cf-aig-") for k in rec["headers"]), rec["headers"]
    body = rec["json"]
    assert body["model"] == MODEL, body
    assert bool(body.get("stream")) is stream, body
    assert nonce in str(body["messages"]), body


def test_compat_messages_create(anthropic_client, fake, nonce):
    """SPEC 2.2: the Anthropic SDK with base_url=.../compat calls grok/<model>."""
    client = anthropic_client("compat")
    msg = client.messages.create(model="grok/grok-beta", max_tokens=64, messages=messages(nonce))
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.model in (MODEL, "grok/grok-beta")
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == ANSWER
    assert msg.stop_reason == "end_turn"
    check_usage(msg.usage)
    check_compat_upstream(fake.only_request(nonce), nonce, stream=False)


def test_compat_count_tokens(anthropic_client, fake, nonce):
    """compat/v1/messages/count_tokens: the SDK's count reaches Anthropic without the prefix;
    a provider without Anthropic's API is refused as unknown to that endpoint (2008)."""
    client = anthropic_client("compat")
    count = client.messages.count_tokens(model="anthropic/claude-haiku-4-5", messages=messages(nonce))
    assert count.input_tokens > 0
    rec = fake.only_request(nonce)
    assert rec["path"] == "/v1/messages/count_tokens", rec["path"]
    assert rec["json"] == {"model": "claude-haiku-4-5", "messages": messages(nonce)}, rec["json"]
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.count_tokens(model="grok/grok-beta", messages=messages(nonce))
    assert refused.value.status_code == 400
    assert len(fake.requests_with(nonce)) == 1


def test_compat_messages_stream(anthropic_client, fake, nonce):
    client = anthropic_client("compat")
    with client.messages.stream(model="grok/grok-beta", max_tokens=64, messages=messages(nonce)) as stream:
        events = list(stream)
        final = stream.get_final_message()
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop", types
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(deltas) >= 2 and "".join(d.delta.text for d in deltas) == ANSWER, types
    assert final.content[0].text == ANSWER and final.stop_reason == "end_turn"
    check_usage(final.usage)
    check_compat_upstream(fake.only_request(nonce), nonce, stream=True)


def test_compat_messages_thinking(anthropic_client, fake, nonce):
    """An Anthropic client that asks for thinking gets an OpenAI-shaped provider's reasoning
    as a thinking block ahead of the answer, whole and streamed."""
    client = anthropic_client("compat")
    thinking = {"type": "enabled", "budget_tokens": 1024}
    answer = {"id": "c1", "object": "chat.completion", "model": "grok-3-mini",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {
                  "role": "assistant", "content": ANSWER, "reasoning_content": "Greet back."}}],
              "usage": {"prompt_tokens": 9, "completion_tokens": 5}}
    script = {"x-fake-script": json.dumps({"body": json.dumps(answer)})}
    msg = client.messages.create(model="grok/grok-3-mini", max_tokens=2048, thinking=thinking,
                                 messages=messages(nonce), extra_headers=script)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "Greet back." and msg.content[1].text == ANSWER
    sent = fake.only_request(nonce)["json"]
    assert "thinking" not in sent and "reasoning_effort" not in sent, sent

    def chunk(delta, finish=None):
        return {"id": "c2", "object": "chat.completion.chunk", "model": "grok-3-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in [
        chunk({"role": "assistant", "reasoning_content": "Greet "}),
        chunk({"reasoning_content": "back."}),
        chunk({"content": ANSWER}),
        chunk({}, "stop")]) + "data: [DONE]\n\n"
    script = {"x-fake-script": json.dumps({"body": sse, "chunks": 3})}
    with client.messages.stream(model="grok/grok-3-mini", max_tokens=2048, thinking=thinking,
                                messages=messages(nonce + "-s"), extra_headers=script) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Greet back." and final.content[1].text == ANSWER

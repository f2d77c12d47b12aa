"""The Cloudflare docs' curl examples, sent through Switchyard with a plain HTTP client (urllib)."""

from __future__ import annotations

import json
import urllib.request

from conftest import ANSWER, API_KEY, TIMEOUT, assert_forwarded, gateway_base, gateway_error_body, http


def test_grok_docs_curl_example(fake, nonce):
    # curl https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/grok/v1/chat/completions \
    #   --header 'content-type: application/json' \
    #   --header 'Authorization: Bearer {grok_api_token}' \
    #   --data '{"model": "grok-beta", "messages": [{"role": "user", "content": "What is Cloudflare?"}]}'
    body = {"model": "grok-beta", "messages": [{"role": "user", "content": f"What is Cloudflare? {nonce}"}]}
    raw = json.dumps(body, indent=2).encode()  # body bytes pass through unchanged
    status, headers, resp = http("POST", gateway_base("grok") + "/v1/chat/completions", raw,
                                 {"content-type": "application/json", "Authorization": f"Bearer {API_KEY}"})
    assert status == 200, resp
    assert headers.get("content-type", "").startswith("application/json")
    data = json.loads(resp)
    assert data["object"] == "chat.completion"
    assert data["model"] == "grok-beta"
    assert data["choices"][0]["message"]["content"] == ANSWER
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] > 0

    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/chat/completions", body=body,
                     headers={"authorization": f"Bearer {API_KEY}"})
    if isinstance(rec.get("body"), str):
        assert rec["body"].encode() == raw, "body bytes were not passed through unchanged"


def test_grok_curl_stream_raw_sse(fake, nonce):
    """The raw SSE stream reaches the client as the provider sent it, ending with [DONE]."""
    body = {"model": "grok-beta", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": f"Hi {nonce}"}]}
    req = urllib.request.Request(gateway_base("grok") + "/v1/chat/completions", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          "authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        assert resp.status == 200
        assert resp.headers.get("content-type", "").startswith("text/event-stream")
        text = resp.read().decode()
    events = [e for e in text.replace("\r\n", "\n").split("\n\n") if e.strip()]
    assert all(e.startswith("data:") for e in events), events
    assert events[-1].strip() == "data: [DONE]"
    payloads = [json.loads(e[len("data:"):]) for e in events[:-1]]
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads if p["choices"]) == ANSWER
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["completion_tokens"] > 0
    fake.only_request(nonce)


def test_grok_path_without_v1(fake, nonce):
    """SPEC 2.1: `.../grok/chat/completions` (OpenAI-SDK style) reaches the same upstream URL."""
    body = {"model": "grok-beta", "messages": [{"role": "user", "content": f"Hi {nonce}"}]}
    status, _, resp = http("POST", gateway_base("grok") + "/chat/completions", body,
                           {"authorization": f"Bearer {API_KEY}"})
    assert status == 200, resp
    assert fake.only_request(nonce)["path"] == "/v1/chat/completions"


def test_anthropic_docs_curl_with_x_api_key(fake, nonce):
    # curl .../grok/v1/messages --header 'x-api-key: KEY' --header 'anthropic-version: 2023-06-01' ...
    body = {"model": "grok-beta", "max_tokens": 64, "messages": [{"role": "user", "content": f"Hi {nonce}"}]}
    status, _, resp = http("POST", gateway_base("grok") + "/v1/messages", body,
                           {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})
    assert status == 200, resp
    data = json.loads(resp)
    assert data["type"] == "message" and data["content"][0]["text"] == ANSWER
    assert data["stop_reason"] == "end_turn"
    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/messages", body=body,
                     headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})


def test_compat_curl(fake, nonce):
    body = {"model": "grok/grok-beta", "messages": [{"role": "user", "content": f"Hi {nonce}"}]}
    status, _, resp = http("POST", gateway_base("compat") + "/chat/completions", body,
                           {"authorization": f"Bearer {API_KEY}"})
    assert status == 200, resp
    assert json.loads(resp)["choices"][0]["message"]["content"] == ANSWER
    rec = fake.only_request(nonce)
    assert_forwarded(rec, path="/v1/chat/completions", body={**body, "model": "grok-beta"},
                     headers={"authorization": f"Bearer {API_KEY}"})


def test_unknown_provider_slug(fake, nonce):
    """SPEC 2.1: unknown provider slug -> 400 code 2008, JSON error naming the slug."""
    body = {"model": "x", "messages": [{"role": "user", "content": nonce}]}
    status, _, resp = http("POST", gateway_base("no-such-provider") + "/v1/chat/completions", body,
                           {"authorization": f"Bearer {API_KEY}"})
    assert status == 400, resp
    err = gateway_error_body(resp, 400, 2008)
    assert "no-such-provider" in err["error"][0]["message"]
    assert fake.requests_with(nonce) == []

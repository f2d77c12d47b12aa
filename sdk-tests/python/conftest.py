"""Shared fixtures: gateway / fake-provider URLs, the fake's request log, SDK clients.

run.sh exports SWITCHYARD_URL (the gateway) and FAKE_URL (the fake provider).
Every test resets the fake's request log first and tags its prompt with a unique
nonce, so a test only ever sees the upstream requests it caused.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any

import anthropic
import openai
import pytest

SWITCHYARD_URL = os.environ.get("SWITCHYARD_URL", "").rstrip("/")
FAKE_URL = os.environ.get("FAKE_URL", "").rstrip("/")

API_KEY = "test-key"
ANSWER = "Hello from the fake provider."
ACCOUNT = "acct"
GATEWAY = "gw"
TIMEOUT = 15.0

# Headers a Cloudflare AI Gateway user typically sets on the SDK client. The
# gateway consumes them; none may reach the provider.
CF_HEADERS = {
    "cf-aig-metadata": json.dumps({"suite": "sdk-tests", "sdk": "python"}),
    "cf-aig-collect-log": "true",
}


def pytest_configure(config: pytest.Config) -> None:
    if not SWITCHYARD_URL or not FAKE_URL:
        raise pytest.UsageError("SWITCHYARD_URL and FAKE_URL must be set (use sdk-tests/run.sh)")


def gateway_base(provider: str, account: str = ACCOUNT, gateway: str = GATEWAY) -> str:
    """The base URL a user puts in the SDK: http://HOST/v1/{account}/{gateway}/{provider}."""
    return f"{SWITCHYARD_URL}/v1/{account}/{gateway}/{provider}"


# --------------------------------------------------------------------------- plain HTTP


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = TIMEOUT) -> tuple[int, dict[str, str], bytes]:
    """A tiny urllib wrapper that returns (status, lowercase headers, body) for any status."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("content-type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


# --------------------------------------------------------------------------- fake provider


class Fake:
    """Access to the fake provider's request recorder."""

    def reset(self) -> None:
        status, _, body = http("POST", f"{FAKE_URL}/__fake/reset", b"")
        assert status in (200, 204), f"fake reset failed: {status} {body!r}"

    def requests(self) -> list[dict[str, Any]]:
        status, _, body = http("GET", f"{FAKE_URL}/__fake/requests")
        assert status == 200, f"fake request log: {status} {body!r}"
        out = []
        for rec in json.loads(body):
            rec = dict(rec)
            rec["headers"] = {k.lower(): v for k, v in (rec.get("headers") or {}).items()}
            rec["json"] = _as_json(rec.get("body"))
            out.append(rec)
        return out

    def requests_with(self, nonce: str) -> list[dict[str, Any]]:
        return [r for r in self.requests() if nonce in json.dumps(r.get("body"))]

    def only_request(self, nonce: str) -> dict[str, Any]:
        """The single upstream request carrying `nonce` (fails on retries, duplicates, none)."""
        recs = self.requests_with(nonce)
        assert len(recs) == 1, (
            f"expected exactly one upstream request carrying {nonce}, got {len(recs)}: "
            f"{[(r.get('method'), r.get('path')) for r in recs]} "
            f"(all recorded: {[(r.get('method'), r.get('path')) for r in self.requests()]})"
        )
        return recs[0]


def _as_json(body: Any) -> Any:
    """The recorded body as JSON: the fake may record it parsed or as a string."""
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def assert_forwarded(rec: dict[str, Any], *, path: str, body: dict[str, Any],
                     headers: dict[str, str]) -> None:
    """What the fake got: exact method, path and JSON body; the given headers; no cf-aig-*."""
    assert (rec["method"], rec["path"]) == ("POST", path)
    assert rec["json"] == body, f"upstream body differs:\n  got  {rec['json']}\n  want {body}"
    for name, value in headers.items():
        assert rec["headers"].get(name.lower()) == value, (
            f"header {name}: got {rec['headers'].get(name.lower())!r}, want {value!r}"
        )
    leaked = sorted(h for h in rec["headers"] if h.startswith("cf-aig-"))
    assert not leaked, f"cf-aig-* headers reached the provider: {leaked}"


@pytest.fixture
def fake() -> Fake:
    f = Fake()
    f.reset()
    return f


@pytest.fixture
def nonce() -> str:
    return f"nonce-{uuid.uuid4()}"


# --------------------------------------------------------------------------- SDK clients


@pytest.fixture
def openai_client():
    def make(provider: str = "grok", **kw: Any) -> openai.OpenAI:
        kw.setdefault("max_retries", 0)
        return openai.OpenAI(api_key=API_KEY, base_url=gateway_base(provider),
                             default_headers=CF_HEADERS, timeout=TIMEOUT, **kw)

    return make


@pytest.fixture
def anthropic_client():
    def make(provider: str = "grok", **kw: Any) -> anthropic.Anthropic:
        kw.setdefault("max_retries", 0)
        return anthropic.Anthropic(api_key=API_KEY, base_url=gateway_base(provider),
                                   default_headers=CF_HEADERS, timeout=TIMEOUT, **kw)

    return make


def gateway_error_body(raw: bytes | str | dict, status: int, code: int) -> dict[str, Any]:
    """Assert the SPEC 2.6 gateway-error JSON shape and return it."""
    body = raw if isinstance(raw, dict) else json.loads(raw)
    assert body.get("success") is False, body
    assert body.get("result") == [] and body.get("messages") == [], body
    assert isinstance(body.get("error"), list) and body["error"], body
    assert body["error"][0].get("code") == code, body
    assert isinstance(body["error"][0].get("message"), str) and body["error"][0]["message"], body
    assert body.get("name") == "AiGatewayError", body
    assert body.get("httpCode") == status, body
    assert body.get("internalCode") == code, body
    return body

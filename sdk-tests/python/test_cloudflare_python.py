"""The official Cloudflare Python SDK against Switchyard's control plane (SPEC 3, `/client/v4`).

The client is built as a Cloudflare user builds it, with only the base URL changed:
`Cloudflare(api_token=..., base_url=SWITCHYARD_URL + "/client/v4")`. The one addition is an
httpx event hook that prints every request and response; pytest shows that output for a
failing test only, so a failure names exactly what the SDK sent and what came back.

Every test that looks at logs creates its own gateway through the SDK, so the logs it lists
are only the ones it caused. Traffic goes through the gateway as plain HTTP (urllib), like
the Grok docs' curl example. The gateway writes its logs in batches; a list flushes the batch
under way first, so a request's record is listed as soon as its answer is back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from typing import Any, Callable

import cloudflare
import httpx
import openai
import pytest
from cloudflare import Cloudflare

from conftest import ACCOUNT, ANSWER, API_KEY, FAKE_URL, SWITCHYARD_URL, TIMEOUT, gateway_base, http

# The main gateway has no admin_token: its control plane serves loopback clients, whatever
# token they send. run.sh also starts a gateway with an admin_token (see test_admin_token_*).
CF_TOKEN = "sdk-tests-cloudflare-token"
SWITCHYARD_AUTH_URL = os.environ.get("SWITCHYARD_AUTH_URL", "").rstrip("/")
SWITCHYARD_ADMIN_TOKEN = os.environ.get("SWITCHYARD_ADMIN_TOKEN", "")

TICKS_PER_USD = 10_000_000_000  # xAI's usage.cost_in_usd_ticks
LOG_WAIT = 5.0  # the log writer flushes within 50 ms; allow for a slow machine


# --------------------------------------------------------------------------- client


def _print_request(request: httpx.Request) -> None:
    headers = {k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in request.headers.items()}
    body = request.content.decode("utf-8", "replace") if request.content else ""
    print(f">>> {request.method} {request.url}\n    headers: {headers}\n    body: {body}")


def _print_response(response: httpx.Response) -> None:
    response.read()
    print(f"<<< {response.status_code} {response.request.method} {response.request.url}\n"
          f"    body: {response.text[:4000]}")


def make_client(base: str = SWITCHYARD_URL, token: str = CF_TOKEN) -> Cloudflare:
    return Cloudflare(
        api_token=token,
        base_url=base + "/client/v4",
        max_retries=0,  # a 409 or 5xx must surface, not be retried
        timeout=TIMEOUT,
        http_client=cloudflare.DefaultHttpxClient(
            event_hooks={"request": [_print_request], "response": [_print_response]}),
    )


@pytest.fixture
def cf():
    client = make_client()
    yield client
    client.close()


def new_gateway_id() -> str:
    return f"cf-sdk-{uuid.uuid4().hex[:12]}"


GATEWAY_DEFAULTS: dict[str, Any] = {
    "cache_invalidate_on_update": False,
    "cache_ttl": 0,
    "collect_logs": True,
    "rate_limiting_interval": 60,
    "rate_limiting_limit": 0,
}


@pytest.fixture
def gateway(cf):
    """A fresh gateway created through the SDK (collect_logs on); deleted afterwards."""
    gid = new_gateway_id()
    cf.ai_gateway.create(account_id=ACCOUNT, id=gid, **GATEWAY_DEFAULTS)
    yield gid
    try:
        cf.ai_gateway.delete(gid, account_id=ACCOUNT)
    except cloudflare.NotFoundError:
        pass


# --------------------------------------------------------------------------- traffic and logs


def chat(gid: str, nonce: str, provider: str = "grok", model: str = "grok-beta",
         headers: dict[str, str] | None = None, auth: bool = True) -> tuple[int, dict[str, str], dict, bytes]:
    """One chat completion through the gateway (plain HTTP). Returns (status, headers, request
    body, response bytes)."""
    body = {"model": model, "messages": [{"role": "user", "content": f"What is Cloudflare? {nonce}"}]}
    hdrs = {"content-type": "application/json"}
    if auth:
        hdrs["authorization"] = f"Bearer {API_KEY}"
    hdrs.update(headers or {})
    status, resp_headers, raw = http("POST", gateway_base(provider, gateway=gid) + "/v1/chat/completions",
                                     json.dumps(body).encode(), hdrs)
    assert resp_headers.get("cf-aig-log-id"), f"no cf-aig-log-id: {status} {resp_headers} {raw!r}"
    return status, resp_headers, body, raw


def poll(what: str, fn: Callable[[], Any], timeout: float = LOG_WAIT) -> Any:
    """fn() until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not there after {timeout} s")
        time.sleep(0.05)


def wait_logs(cf: Cloudflare, gid: str, log_ids: list[str]) -> dict[str, Any]:
    """Polls logs.list until every id is listed; returns {id: record}."""
    def listed():
        page = cf.ai_gateway.logs.list(gid, account_id=ACCOUNT, per_page=100)
        by_id = {r.id: r for r in page.result}
        return by_id if all(i in by_id for i in log_ids) else None

    return poll(f"log records {log_ids} in logs.list", listed)


def ids(page) -> list[str]:
    return [r.id for r in page.result]


def extra(model, name: str) -> Any:
    """A field the SDK's model does not declare (feedback, score, event_id, ...)."""
    return model.to_dict().get(name)


# --------------------------------------------------------------------------- gateways


def test_gateway_create_get_update_list_delete(cf, gateway):
    # `gateway` (another one) keeps the account known after this one is deleted: Switchyard
    # has no accounts of its own, and lists of an account it does not know are a 404 (SPEC 3).
    gid = new_gateway_id()
    created = cf.ai_gateway.create(
        account_id=ACCOUNT, id=gid,
        cache_invalidate_on_update=False, cache_ttl=0, collect_logs=True,
        rate_limiting_interval=60, rate_limiting_limit=0, rate_limiting_technique="fixed",
        authentication=False, log_management=10000, log_management_strategy="STOP_INSERTING",
        retry_max_attempts=2, retry_delay=100, retry_backoff="constant",
    )
    assert created.id == gid
    assert (created.cache_invalidate_on_update, created.cache_ttl, created.collect_logs) == (False, 0, True)
    assert (created.rate_limiting_interval, created.rate_limiting_limit,
            created.rate_limiting_technique) == (60, 0, "fixed")
    assert created.authentication is False
    assert (created.log_management, created.log_management_strategy) == (10000, "STOP_INSERTING")
    assert (created.retry_max_attempts, created.retry_delay, created.retry_backoff) == (2, 100, "constant")
    # The SDK parses the timestamps into datetimes.
    assert isinstance(created.created_at, dt.datetime), repr(created.created_at)
    assert isinstance(created.modified_at, dt.datetime), repr(created.modified_at)

    got = cf.ai_gateway.get(gid, account_id=ACCOUNT)
    assert got.to_dict() == created.to_dict()

    updated = cf.ai_gateway.update(
        gid, account_id=ACCOUNT,
        cache_invalidate_on_update=True, cache_ttl=300, collect_logs=False,
        rate_limiting_interval=30, rate_limiting_limit=100, rate_limiting_technique="sliding",
        retry_backoff="exponential", log_management_strategy="DELETE_OLDEST",
    )
    assert updated.id == gid
    assert (updated.cache_invalidate_on_update, updated.cache_ttl, updated.collect_logs) == (True, 300, False)
    assert (updated.rate_limiting_interval, updated.rate_limiting_limit,
            updated.rate_limiting_technique) == (30, 100, "sliding")
    assert updated.retry_backoff == "exponential"
    assert updated.log_management_strategy == "DELETE_OLDEST"
    assert updated.created_at == created.created_at
    assert updated.modified_at >= created.modified_at
    assert cf.ai_gateway.get(gid, account_id=ACCOUNT).to_dict() == updated.to_dict()

    # list: search by id, one page's result_info, and the SDK's auto-pagination.
    page = cf.ai_gateway.list(account_id=ACCOUNT, search=gid)
    assert ids(page) == [gid]
    assert page.result[0].to_dict() == updated.to_dict()
    assert page.result_info is not None and page.result_info.page == 1
    small = cf.ai_gateway.list(account_id=ACCOUNT, per_page=1)
    assert len(small.result) == 1 and small.result_info.per_page == 1
    assert gid in [g.id for g in cf.ai_gateway.list(account_id=ACCOUNT, per_page=1)]  # all pages

    deleted = cf.ai_gateway.delete(gid, account_id=ACCOUNT)
    assert deleted.id == gid  # the deleted object
    assert deleted.rate_limiting_limit == 100
    with pytest.raises(cloudflare.NotFoundError) as err:
        cf.ai_gateway.get(gid, account_id=ACCOUNT)
    assert err.value.status_code == 404
    assert err.value.body and err.value.body.get("success") is False  # type: ignore[union-attr]
    with pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.delete(gid, account_id=ACCOUNT)
    assert ids(cf.ai_gateway.list(account_id=ACCOUNT, search=gid)) == []
    assert gateway in ids(cf.ai_gateway.list(account_id=ACCOUNT))


def test_gateway_create_accepts_every_sdk_field_and_refuses_duplicates(cf):
    """Fields of Cloudflare's gateway object Switchyard does not implement are accepted as the
    SDK sends them; a second create with the same id is a 409 (the SDK's ConflictError)."""
    gid = new_gateway_id()
    created = cf.ai_gateway.create(
        account_id=ACCOUNT, id=gid, **GATEWAY_DEFAULTS,
        byok_only=False, dlp={"action": "FLAG", "enabled": False, "profiles": []},
        guardrails=None, log_classification=False, logpush=False, logpush_public_key=None,
        otel=None, spend_limits=None, store_id=None, stripe=None,
        workers_ai_billing_mode="postpaid", zdr=False,
    )
    try:
        assert created.id == gid
        # With the SDK's own retry policy (409 is retried unless the answer says not to), the
        # duplicate is sent once.
        sent: list[str] = []
        with Cloudflare(api_token=CF_TOKEN, base_url=SWITCHYARD_URL + "/client/v4", timeout=TIMEOUT,
                        http_client=cloudflare.DefaultHttpxClient(
                            event_hooks={"request": [lambda r: sent.append(r.method)]})) as retrying:
            with pytest.raises(cloudflare.ConflictError) as err:
                retrying.ai_gateway.create(account_id=ACCOUNT, id=gid, **GATEWAY_DEFAULTS)
        assert err.value.status_code == 409
        assert sent == ["POST"], sent
    finally:
        cf.ai_gateway.delete(gid, account_id=ACCOUNT)


def test_gateway_update_takes_effect_on_next_request(cf, gateway, fake, nonce):
    status, _, _, raw = chat(gateway, nonce)
    assert status == 200, raw
    cf.ai_gateway.update(gateway, account_id=ACCOUNT, **GATEWAY_DEFAULTS, authentication=True)
    status, _, _, raw = chat(gateway, nonce + "-2")
    assert status == 401, raw
    assert json.loads(raw)["error"][0]["code"] == 2009
    assert len(fake.requests_with(nonce)) == 1  # the second never reached the provider


def test_unknown_gateway_is_not_found(cf):
    gid = new_gateway_id()
    with pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.get(gid, account_id=ACCOUNT)
    with pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.logs.list(gid, account_id=ACCOUNT)


def test_gateway_url_names_the_provider_base(cf, gateway, nonce):
    """urls.get: the base URL a provider's client points at through this gateway, which works
    as the OpenAI SDK's base_url."""
    url = cf.ai_gateway.urls.get("grok", account_id=ACCOUNT, gateway_id=gateway)
    assert url == f"{SWITCHYARD_URL}/v1/{ACCOUNT}/{gateway}/grok", url
    client = openai.OpenAI(base_url=url, api_key=API_KEY, timeout=TIMEOUT, max_retries=0)
    answer = client.chat.completions.create(
        model="grok-beta", messages=[{"role": "user", "content": nonce}])
    assert answer.choices[0].message.content == ANSWER
    # A provider no request could reach has no URL: an unknown slug, a custom one not defined.
    for slug in ["no-such-provider", "custom-not-defined"]:
        with pytest.raises(cloudflare.BadRequestError):
            cf.ai_gateway.urls.get(slug, account_id=ACCOUNT, gateway_id=gateway)
    with pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.urls.get("grok", account_id=ACCOUNT, gateway_id=new_gateway_id())


# --------------------------------------------------------------------------- logs


def test_logs_list_get_and_stored_bodies(cf, gateway, fake, nonce):
    metadata = {"suite": "cf-sdk", "nonce": nonce}
    status, headers, sent, raw = chat(gateway, nonce, headers={
        "cf-aig-metadata": json.dumps(metadata), "cf-aig-event-id": f"evt-{nonce}"})
    assert status == 200, raw
    answer = json.loads(raw)
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0 and usage["cost_in_usd_ticks"] > 0
    log_id = headers["cf-aig-log-id"]

    rec = wait_logs(cf, gateway, [log_id])[log_id]
    assert rec.provider == "grok"
    assert rec.model == "grok-beta"
    assert rec.success is True and rec.cached is False
    assert rec.status_code == 200
    assert rec.path.endswith("chat/completions"), rec.path
    assert rec.tokens_in == usage["prompt_tokens"]
    assert rec.tokens_out == usage["completion_tokens"]
    # xAI reports its own cost: 1 USD = 10^10 ticks.
    assert rec.cost == pytest.approx(usage["cost_in_usd_ticks"] / TICKS_PER_USD, rel=1e-9)
    assert isinstance(rec.created_at, dt.datetime), repr(rec.created_at)
    assert isinstance(rec.duration, int) and rec.duration >= 0
    assert isinstance(rec.metadata, str) and json.loads(rec.metadata) == metadata  # a JSON string
    assert extra(rec, "event_id") == f"evt-{nonce}"

    one = cf.ai_gateway.logs.get(log_id, account_id=ACCOUNT, gateway_id=gateway)
    assert one.id == log_id
    assert (one.provider, one.model, one.tokens_in, one.tokens_out) == (
        "grok", "grok-beta", usage["prompt_tokens"], usage["completion_tokens"])
    assert one.cost == pytest.approx(rec.cost)
    assert one.request_content_type and one.request_content_type.startswith("application/json")
    assert one.response_content_type and one.response_content_type.startswith("application/json")
    assert one.request_size == len(json.dumps(sent).encode())
    assert one.response_size == len(raw)
    assert one.request_head is not None and nonce in one.request_head
    assert one.response_head is not None and ANSWER in one.response_head
    assert one.request_head_complete is True and one.response_head_complete is True

    # The stored bodies, as the SDK returns them (parsed JSON).
    assert cf.ai_gateway.logs.request(log_id, account_id=ACCOUNT, gateway_id=gateway) == sent
    assert cf.ai_gateway.logs.response(log_id, account_id=ACCOUNT, gateway_id=gateway) == answer

    with pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.logs.get(str(uuid.uuid4()), account_id=ACCOUNT, gateway_id=gateway)


def test_compressed_answers_are_read_by_the_sdk_and_logged_decoded(cf, gateway, fake, nonce):
    """A provider that answers gzip, as real ones behind a CDN do: the OpenAI SDK gets the
    compressed bytes through the gateway and reads them; the log has the usage and the decoded
    answer."""
    client = openai.OpenAI(api_key=API_KEY, base_url=gateway_base("grok", gateway=gateway),
                           max_retries=0, timeout=TIMEOUT)
    raw = client.chat.completions.with_raw_response.create(
        model="grok-beta", messages=[{"role": "user", "content": f"What is Cloudflare? {nonce}"}],
        extra_headers={"x-fake-encoding": "gzip"})
    assert raw.headers.get("content-encoding") == "gzip"
    resp = raw.parse()
    assert resp.choices[0].message.content == ANSWER
    log_id = raw.headers["cf-aig-log-id"]

    rec = wait_logs(cf, gateway, [log_id])[log_id]
    assert rec.tokens_in == resp.usage.prompt_tokens
    assert rec.tokens_out == resp.usage.completion_tokens
    assert rec.cost > 0
    stored = cf.ai_gateway.logs.response(log_id, account_id=ACCOUNT, gateway_id=gateway)
    assert stored["id"] == resp.id
    assert stored["usage"]["prompt_tokens"] == resp.usage.prompt_tokens


def test_logs_feedback_score_and_metadata(cf, gateway, fake, nonce):
    status, headers, _, raw = chat(gateway, nonce)
    assert status == 200, raw
    log_id = headers["cf-aig-log-id"]
    wait_logs(cf, gateway, [log_id])

    cf.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id=gateway, feedback=1)
    got = cf.ai_gateway.logs.get(log_id, account_id=ACCOUNT, gateway_id=gateway)
    assert extra(got, "feedback") == 1
    # Filter on it: the flat param and the filters array.
    assert ids(cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, feedback=1)) == [log_id]
    assert ids(cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, filters=[
        {"key": "feedback", "operator": "eq", "value": [1]}])) == [log_id]

    cf.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id=gateway, feedback=-1, score=0.5,
                            metadata={"reviewed": True, "reviewer": "sdk"})
    got = cf.ai_gateway.logs.get(log_id, account_id=ACCOUNT, gateway_id=gateway)
    assert extra(got, "feedback") == -1
    assert extra(got, "score") == pytest.approx(0.5)
    assert got.metadata is not None
    assert json.loads(got.metadata) == {"reviewed": True, "reviewer": "sdk"}
    assert ids(cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, feedback=1)) == []

    with pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.logs.edit(str(uuid.uuid4()), account_id=ACCOUNT, gateway_id=gateway, feedback=1)


def test_logs_filters_order_pages_and_delete(cf, gateway, fake, nonce):
    def usage_script(prompt_tokens: int) -> dict[str, str]:
        return {"x-fake-script": json.dumps({"usage": {"prompt_tokens": prompt_tokens}})}

    made: list[tuple[str, str]] = []  # (log id, what)
    for what, provider, model, hdrs in [
        ("grok-10", "grok", "grok-beta", usage_script(10)),
        ("openai-20", "openai", "gpt-4o-mini", usage_script(20)),
        ("grok-30", "grok", "grok-beta", usage_script(30)),
        ("grok-failed", "grok", "grok-beta", {"x-fake-status": "400"}),
    ]:
        status, headers, _, raw = chat(gateway, f"{nonce}-{what}", provider=provider, model=model, headers=hdrs)
        assert status == (400 if what == "grok-failed" else 200), raw
        made.append((headers["cf-aig-log-id"], what))
    log = {what: lid for lid, what in made}
    in_order = [lid for lid, _ in made]
    records = wait_logs(cf, gateway, in_order)
    assert records[log["grok-10"]].tokens_in == 10
    assert records[log["grok-failed"]].success is False
    assert records[log["grok-failed"]].status_code == 400

    def listed(**kw) -> list[str]:
        return ids(cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, **kw))

    # Newest first by default; order_by / order_by_direction.
    assert listed() == in_order[::-1]
    assert listed(order_by="created_at", order_by_direction="asc") == in_order
    assert listed(order_by="created_at", order_by_direction="desc") == in_order[::-1]
    by_provider = listed(order_by="provider", order_by_direction="asc")
    assert by_provider[-1] == log["openai-20"] and len(by_provider) == 4

    # filters (the SDK's encoding), one and several conditions.
    grok = {log["grok-10"], log["grok-30"], log["grok-failed"]}
    assert set(listed(filters=[{"key": "provider", "operator": "eq", "value": ["grok"]}])) == grok
    assert listed(filters=[{"key": "provider", "operator": "neq", "value": ["grok"]}]) == [log["openai-20"]]
    assert set(listed(filters=[{"key": "provider", "operator": "eq", "value": ["grok"]},
                               {"key": "success", "operator": "eq", "value": [True]}])) == {
        log["grok-10"], log["grok-30"]}
    assert set(listed(filters=[{"key": "tokens_in", "operator": "gt", "value": [15]}])) == {
        log["openai-20"], log["grok-30"]}
    assert listed(filters=[{"key": "model", "operator": "eq", "value": ["gpt-4o-mini", "no-such-model"]}]) == [
        log["openai-20"]]
    assert listed(filters=[{"key": "model", "operator": "contains", "value": ["gpt"]}]) == [log["openai-20"]]
    assert listed(filters=[{"key": "id", "operator": "eq", "value": [log["grok-30"]]}]) == [log["grok-30"]]
    # The SDK types filter values as floats: 10.0 is the whole number 10.
    assert set(listed(filters=[{"key": "tokens_in", "operator": "gt", "value": [10.0]}])) == {
        log["openai-20"], log["grok-30"]}
    assert listed(filters=[{"key": "tokens_in", "operator": "eq", "value": [10.0]}]) == [log["grok-10"]]
    # `[None]` asks for records without the field (the SDK sends no value for it).
    assert listed(filters=[{"key": "tokens_in", "operator": "eq", "value": [None]}]) == [log["grok-failed"]]
    assert set(listed(filters=[{"key": "tokens_in", "operator": "neq", "value": [None]}])) == {
        log["grok-10"], log["openai-20"], log["grok-30"]}

    # meta_info: ranges over every record the filters match, not only the page's.
    page = cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, per_page=1, meta_info=True,
                                   filters=[{"key": "provider", "operator": "eq", "value": ["grok"]}])
    info = page.result_info.to_dict()  # type: ignore[union-attr]
    assert (info["min_tokens_in"], info["max_tokens_in"], info["count"], info["total_count"]) == (10, 30, 1, 3)
    assert 0 <= info["min_duration"] <= info["max_duration"]
    assert 0 <= info["min_cost"] < info["max_cost"]

    # The flat (deprecated) params the SDK still offers.
    assert listed(provider="openai") == [log["openai-20"]]
    assert listed(success=False) == [log["grok-failed"]]
    assert set(listed(min_tokens_in=15)) == {log["openai-20"], log["grok-30"]}
    assert listed(model="gpt-4o-mini") == [log["openai-20"]]

    # Pages: result_info and the SDK's auto-pagination.
    first = cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, per_page=3, order_by="created_at",
                                    order_by_direction="asc")
    assert ids(first) == in_order[:3]
    info = first.result_info.to_dict()  # type: ignore[union-attr]
    assert (info["page"], info["per_page"], info.get("count"), info.get("total_count")) == (1, 3, 3, 4)
    second = cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, per_page=3, page=2,
                                     order_by="created_at", order_by_direction="asc")
    assert ids(second) == in_order[3:]
    every = [r.id for r in cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, per_page=1,
                                                    order_by="created_at", order_by_direction="asc")]
    assert every == in_order

    # Delete by filter.
    gone = cf.ai_gateway.logs.delete(gateway, account_id=ACCOUNT,
                                     filters=[{"key": "provider", "operator": "eq", "value": ["openai"]}])
    assert gone.success is True
    assert set(listed()) == grok


# What the SDK offers beyond SPEC 3: the contract is to accept what the SDK sends.


def test_logs_list_accepts_every_sdk_order_by(cf, gateway):
    """`order_by` is typed as created_at|provider|model|model_type|success|cached; the SDK sends
    `GET .../logs?order_by=model_type`. Switchyard records no model type and orders by model."""
    cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, order_by="model_type")


@pytest.mark.parametrize("key,value", [("model_type", "text-generation"), ("authentication", True),
                                       ("wholesale", True), ("compatibilityMode", "x"), ("dlp_action", "BLOCK")])
def test_logs_list_accepts_every_sdk_filter_key(cf, gateway, key, value):
    """The SDK's `Filter.key` literal includes keys SPEC 3 does not list; e.g.
    `GET .../logs?filters.key=model_type&filters.operator=eq&filters.value=text-generation`.
    Switchyard records none of these fields, so `eq` matches no record."""
    assert ids(cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, filters=[
        {"key": key, "operator": "eq", "value": [value]}])) == []


def test_logs_delete_honours_limit(cf, gateway, fake, nonce):
    """`logs.delete(limit=1, order_by="created_at", order_by_direction="asc")` sends
    `DELETE .../logs?limit=1&order_by=created_at&order_by_direction=asc`: only the oldest
    record goes."""
    made = []
    for i in range(3):
        status, headers, _, raw = chat(gateway, f"{nonce}-{i}")
        if status != 200:  # not an AssertionError: that is the expected failure below
            pytest.fail(f"request {i}: {status} {raw!r}")
        made.append(headers["cf-aig-log-id"])
    wait_logs(cf, gateway, made)
    cf.ai_gateway.logs.delete(gateway, account_id=ACCOUNT, limit=1, order_by="created_at",
                              order_by_direction="asc")
    assert ids(cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, order_by="created_at",
                                       order_by_direction="asc")) == made[1:]


# --------------------------------------------------------------------------- provider configs


def test_provider_configs_create_list_and_use(cf, gateway, fake, nonce):
    secret = f"xai-sdk-{uuid.uuid4().hex}"
    created = cf.ai_gateway.provider_configs.create(
        gateway, account_id=ACCOUNT, alias="default", provider_slug="grok", secret=secret,
        default_config=True)
    as_dict = created.to_dict()
    assert created.id and created.alias == "default" and created.provider_slug == "grok"
    assert created.default_config is True
    assert created.gateway_id == gateway
    assert "secret" not in as_dict and secret not in json.dumps(as_dict, default=str)
    assert created.secret_preview and created.secret_preview != secret

    raw = cf.ai_gateway.provider_configs.with_raw_response.list(gateway, account_id=ACCOUNT)
    assert secret not in raw.http_response.text  # never returned, not even in the raw JSON
    page = raw.parse()
    assert [c.id for c in page.result] == [created.id]
    assert page.result[0].secret_preview == created.secret_preview
    # Every field as the SDK types it (strict validation, not the SDK's lenient construction).
    type(created).model_validate(created.model_dump(by_alias=True))
    type(page.result[0]).model_validate(page.result[0].model_dump(by_alias=True))
    assert isinstance(created.secret_id, str) and created.secret_id

    # A call without a provider credential gets the stored key.
    status, _, _, body = chat(gateway, nonce, auth=False)
    assert status == 200, body
    assert fake.only_request(nonce)["headers"].get("authorization") == f"Bearer {secret}"


def test_a_list_right_after_requests_finds_them_with_the_sdks_types(cf, gateway, nonce):
    """No polling: a list flushes the records queued before it. A request naming no model (a
    GET of the model list) has a record whose every field fits the SDK's types."""
    status, headers, _, raw = chat(gateway, nonce)
    assert status == 200, raw
    status, models_headers, _ = http("GET", gateway_base("grok", gateway=gateway) + "/v1/models",
                                     None, {"authorization": f"Bearer {API_KEY}"})
    assert status == 200
    page = cf.ai_gateway.logs.list(gateway, account_id=ACCOUNT, per_page=10)
    listed = {r.id: r for r in page.result}
    assert set(listed) == {headers["cf-aig-log-id"], models_headers["cf-aig-log-id"]}
    for rec in page.result:
        type(rec).model_validate(rec.model_dump(by_alias=True))
    assert listed[models_headers["cf-aig-log-id"]].model == ""


def test_custom_provider_headers_set_through_the_sdk_reach_the_provider(cf, gateway, fake, nonce):
    """Cloudflare's `headers` (a JSON object as text) go with every request to the custom
    provider; they are never shown again."""
    slug = f"sdk-{nonce[-12:]}"
    secret = f"tenant-{uuid.uuid4().hex}"
    raw = cf.ai_gateway.custom_providers.with_raw_response.create(
        account_id=ACCOUNT, name="SDK custom", slug=slug, base_url=FAKE_URL,
        headers=json.dumps({"x-tenant-key": secret}))
    assert secret not in raw.http_response.text
    created = raw.parse()
    try:
        assert created.slug == slug and created.headers is None
        url = cf.ai_gateway.urls.get(f"custom-{slug}", account_id=ACCOUNT, gateway_id=gateway)
        assert url == f"{SWITCHYARD_URL}/v1/{ACCOUNT}/{gateway}/custom-{slug}", url
        status, _, _, body = chat(gateway, nonce, provider=f"custom-{slug}", model="m1")
        assert status == 200, body
        assert fake.only_request(nonce)["headers"].get("x-tenant-key") == secret
    finally:
        cf.ai_gateway.custom_providers.delete(created.id, account_id=ACCOUNT)


# --------------------------------------------------------------------------- admin_token


@pytest.mark.skipif(not SWITCHYARD_AUTH_URL, reason="SWITCHYARD_AUTH_URL not set (run.sh sets it)")
def test_admin_token_right_token_is_served():
    with make_client(SWITCHYARD_AUTH_URL, SWITCHYARD_ADMIN_TOKEN) as client:
        gid = new_gateway_id()
        assert client.ai_gateway.create(account_id=ACCOUNT, id=gid, **GATEWAY_DEFAULTS).id == gid
        assert gid in ids(client.ai_gateway.list(account_id=ACCOUNT))
        assert client.ai_gateway.delete(gid, account_id=ACCOUNT).id == gid


@pytest.mark.skipif(not SWITCHYARD_AUTH_URL, reason="SWITCHYARD_AUTH_URL not set (run.sh sets it)")
def test_admin_token_wrong_token_is_an_authentication_error():
    with make_client(SWITCHYARD_AUTH_URL, "not-the-admin-token") as client:
        with pytest.raises(cloudflare.AuthenticationError) as err:
            client.ai_gateway.list(account_id=ACCOUNT)
        assert err.value.status_code == 401
        body = err.value.body
        assert isinstance(body, dict) and body.get("success") is False, body
        assert body["errors"] and body["errors"][0]["code"] == 10000, body
        with pytest.raises(cloudflare.AuthenticationError):
            client.ai_gateway.create(account_id=ACCOUNT, id=new_gateway_id(), **GATEWAY_DEFAULTS)

"""`kind: transaction` against a real API: log in, take the token and cookie, call with them; failures at each step."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.config import load_text
from slowatch.config.endpoints import TransactionEndpoint
from slowatch.errors import ConfigError
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, probe_once
from slowatch.probes.registry import describe_target
from tests.support.hostile import HostileHttp, redirect, respond
from tests.support.transactions import FAIL, SEEN, TOKEN, make_app, transaction


@pytest.fixture
async def api(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(make_app())
    return server


def endpoint(server: TestServer, **options: Any) -> TransactionEndpoint:
    return TransactionEndpoint.model_validate(transaction(server.port, **options))


def fail(server: TestServer, **how: Any) -> None:
    app: web.Application = server.app  # type: ignore[assignment]
    app[FAIL].update(how)


async def test_every_step_passes_with_the_token_and_the_cookie(api: TestServer, ctx: ProbeContext) -> None:
    result = await probe_once(endpoint(api), ctx)
    assert (result.outcome, result.message, result.status_code) == (Outcome.SUCCESS, "", 200)
    assert list(result.phases) == ["login", "orders"] and all(v > 0 for v in result.phases.values())


@pytest.mark.parametrize(
    ("how", "outcome", "message"),
    [
        ({"login": 500}, Outcome.HTTP_STATUS, "step login: expected status 200, got 500"),
        ({"no_token": True}, Outcome.ASSERTION_FAILED, "step login: cannot extract token: $.session.token not found"),
        ({"orders": 503}, Outcome.HTTP_STATUS, "step orders: expected status 200, got 503"),
    ],
)
async def test_a_failure_names_its_step(
    api: TestServer, ctx: ProbeContext, how: dict[str, Any], outcome: Outcome, message: str
) -> None:
    fail(api, **how)
    result = await probe_once(endpoint(api), ctx)
    assert (result.outcome, result.message) == (outcome, message)
    assert list(result.phases) == (["login"] if "orders" not in how else ["login", "orders"])


async def test_form_bodies_regex_and_header_extraction(api: TestServer, ctx: ProbeContext) -> None:
    doc = transaction(api.port)
    doc["steps"][0] = {**doc["steps"][0], "json": None, "form": {"password": "pw"},
                       "extract": {"token": {"regex": r'"token": "([^"]+)"'}}}  # fmt: skip
    del doc["steps"][0]["json"]
    doc["steps"].append({"name": "again", "url": f"http://127.0.0.1:{api.port}/orders",
                         "headers": {"Authorization": "Bearer {{ steps.orders.echoed }}"}})  # fmt: skip
    doc["steps"][1]["extract"] = {"echoed": {"header": "X-Echo"}}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert (result.outcome, result.message) == (Outcome.SUCCESS, ""), result.message


async def test_extracted_values_never_appear_in_the_result(api: TestServer, ctx: ProbeContext) -> None:
    doc = transaction(api.port)
    doc["steps"][1]["expect"] = {"headers": {"X-Echo": "^nope$"}, "body": [{"json_path": "$.echo", "equals": "x"}]}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message == 'step orders: header X-Echo was "{{steps.login.token}}", expected /^nope$/'
    doc["steps"][1]["expect"] = {"body": [{"json_path": "$.echo", "equals": "x"}]}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert result.message == 'step orders: $.echo was "Bearer {{steps.login.token}}", expected "x"'
    assert TOKEN not in repr(result)


async def test_cookies_stay_within_one_run(api: TestServer, ctx: ProbeContext) -> None:
    for _ in range(2):
        assert (await probe_once(endpoint(api), ctx)).ok
    app: web.Application = api.app  # type: ignore[assignment]
    assert app[SEEN] == [{}, {}]  # the second run's login carried no cookie from the first


async def test_a_hanging_step_times_out_the_whole_run(api: TestServer, ctx: ProbeContext) -> None:
    fail(api, orders_hang=True)
    t0 = time.monotonic()
    result = await probe_once(endpoint(api, timeout=0.5), ctx)
    assert result.outcome is Outcome.TIMEOUT
    assert result.message == "step orders: timed out waiting for the response (0.5s for the whole transaction)"
    assert 0.45 < time.monotonic() - t0 < 1.0


async def test_a_refused_step_is_classified(ctx: ProbeContext) -> None:
    from tests.support.hostile import free_port

    result = await probe_once(TransactionEndpoint.model_validate(transaction(free_port())), ctx)
    assert result.outcome is Outcome.CONNECTION_REFUSED and result.message.startswith("step login: connection refused")


async def test_a_steps_host_header_is_not_sent_to_another_origin(ctx: ProbeContext, serve: Any) -> None:
    other = await serve(HostileHttp())
    first = await serve(HostileHttp(routes={"/away": redirect(lambda req: f"http://localhost:{other.port}/ok")}))
    steps = [{"name": "away", "url": f"http://127.0.0.1:{first.port}/away", "headers": {"Host": "vhost.example"}}]
    doc = {"kind": "transaction", "name": "t", "interval": 10, "timeout": 1, "steps": steps}
    assert (await probe_once(TransactionEndpoint.model_validate(doc), ctx)).outcome is Outcome.SUCCESS
    assert first.handler.requests[-1].headers["host"] == "vhost.example"
    assert other.handler.requests[-1].headers["host"] == f"localhost:{other.port}"


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "a\x00b", "line\nbreak"])
async def test_an_extracted_value_with_control_characters_is_never_sent_in_a_header(
    ctx: ProbeContext, serve: Any, token: str
) -> None:
    """A target handing out a token with CR/LF is trying header injection: the step fails, nothing is sent."""
    target = await serve(HostileHttp(routes={"/login": respond(200, {"token": token}), "/next": respond(200, "ok")}))
    base = f"http://127.0.0.1:{target.port}"
    steps = [
        {"name": "login", "url": f"{base}/login", "extract": {"token": {"json_path": "$.token"}}},
        {"name": "next", "url": f"{base}/next", "headers": {"Authorization": "Bearer {{steps.login.token}}"}},
    ]
    doc = {"kind": "transaction", "name": "t", "interval": 10, "timeout": 1, "steps": steps}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert (result.outcome, result.message) == (
        Outcome.ASSERTION_FAILED,
        "step next: header Authorization would carry a control character (CR, LF, NUL, ...); not sent",
    )
    assert [r.path for r in target.handler.requests] == ["/login"]


async def test_max_latency_fails_a_slow_step(api: TestServer, ctx: ProbeContext) -> None:
    doc = transaction(api.port)
    doc["steps"][0]["max_latency"] = 0.000001
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED and result.message.startswith("step login: took ")


def test_target_shows_the_first_step() -> None:
    assert describe_target(TransactionEndpoint.model_validate(transaction(8080))) == (
        "http://127.0.0.1:8080/login (+1 step)"
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"Authorization": "Bearer {{steps.orders.token}}"}, "{{steps.orders.token}} refers to no earlier step"),
        ({"Authorization": "Bearer {{steps.login.nope}}"}, "step 'login' extracts no 'nope' (it extracts: token)"),
    ],
)
def test_references_are_checked_at_load_time(change: dict[str, str], error: str) -> None:
    text = f"""
endpoints:
  - name: flow
    kind: transaction
    interval: 10s
    timeout: 2s
    steps:
      - name: login
        url: "http://127.0.0.1:1/login?k=${{SECRET}}"
        extract: {{token: {{json_path: $.token}}}}
      - name: orders
        url: http://127.0.0.1:1/orders
        headers: {{Authorization: "{change["Authorization"]}"}}
"""
    with pytest.raises(ConfigError) as caught:
        load_text(text, "c.yaml", env={"SECRET": "s3cr3t-value"})
    where = "c.yaml:3:5 endpoints[0]: steps[1] (orders): "
    assert any(error in str(p) and str(p).startswith(where) for p in caught.value.problems), caught.value.problems


def test_env_interpolation_and_step_references_coexist() -> None:
    text = """
endpoints:
  - name: flow
    kind: transaction
    interval: 10s
    timeout: 2s
    steps:
      - {name: login, url: "http://127.0.0.1:1/login", json: {password: "${PASSWORD}"},
         extract: {token: {json_path: $.token}}}
      - {name: orders, url: "http://127.0.0.1:1/orders", headers: {Authorization: "Bearer {{steps.login.token}}"}}
"""
    ep = load_text(text, env={"PASSWORD": "pw"}).endpoint("flow")
    assert isinstance(ep, TransactionEndpoint)
    assert ep.steps[0].json_body == {"password": "pw"}
    assert ep.steps[1].headers["Authorization"].get_secret_value() == "Bearer {{steps.login.token}}"


def _raw_header(name: bytes, value: bytes) -> Any:
    async def route(req: Any, reader: Any, writer: Any) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n" + name + b": " + value + b"\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    return route


@pytest.mark.parametrize("use", ["header", "url", "body", "form", "json"])
@pytest.mark.parametrize(
    ("route", "how", "source"),
    [
        (_raw_header(b"X-Token", b"caf\xe9"), {"header": "X-Token"}, "header X-Token"),  # latin-1, not UTF-8
        (respond(200, b'{"token": "caf\\udce9"}'), {"json_path": "$.token"}, "$.token"),  # a lone surrogate
        (respond(200, b'{"token": "caf\\ud800"}'), {"json_path": "$.token"}, "$.token"),
    ],
)
async def test_an_extracted_value_that_is_not_utf8_text_fails_its_step_and_is_never_sent(
    ctx: ProbeContext, serve: Any, route: Any, how: dict[str, str], source: str, use: str
) -> None:
    """Bytes that are not UTF-8 in a header, or a JSON string with a lone surrogate escape, cannot be sent on
    as they came (aiohttp dropped the character from a header or URL, so another token went out, and raised
    for a body); it was a probe bug (`error`, a logged traceback) even after a successful run (scrubbing)."""
    target = await serve(HostileHttp(routes={"/login": route, "/next": respond(200, "ok")}))
    base = f"http://127.0.0.1:{target.port}"
    ref = "{{steps.login.token}}"
    following: dict[str, Any] = {
        "header": {"headers": {"Authorization": f"Bearer {ref}"}},
        "url": {"url": f"{base}/next?t={ref}"},
        "body": {"body": f"t={ref}"},
        "form": {"form": {"t": ref}},
        "json": {"json": {"t": ref}},
    }[use]
    steps = [
        {"name": "login", "url": f"{base}/login", "extract": {"token": how}},
        {"name": "next", "url": f"{base}/next", **following},
    ]
    doc = {"kind": "transaction", "name": "t", "interval": 10, "timeout": 1, "steps": steps}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert (result.outcome, result.message) == (
        Outcome.ASSERTION_FAILED,
        f"step login: cannot extract token: {source} is not UTF-8 text",
    )
    assert [r.path for r in target.handler.requests] == ["/login"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a:b:c", "Invalid URL: port can't be converted to integer"),
        ("[::1", "Invalid IPv6 URL"),
        ("h:99999", "Port out of range 0-65535"),
        ("", "no host"),
    ],
)
async def test_an_extracted_value_that_makes_the_url_invalid_fails_the_step_unsent(
    ctx: ProbeContext, serve: Any, caplog: pytest.LogCaptureFixture, value: str, reason: str
) -> None:
    """A target handing out a host that does not parse raised ValueError from the URL: a probe bug (`error`,
    a traceback every interval); an empty one read as "invalid redirect target" though nothing redirected."""
    target = await serve(HostileHttp(routes={"/login": respond(200, {"host": value})}))
    steps = [
        {"name": "login", "url": f"http://127.0.0.1:{target.port}/login", "extract": {"host": {"json_path": "$.host"}}},
        {"name": "next", "url": "http://{{steps.login.host}}/next"},
    ]
    doc = {"kind": "transaction", "name": "t", "interval": 10, "timeout": 1, "steps": steps}
    with caplog.at_level("ERROR"):
        result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert (result.outcome, result.message) == (
        Outcome.ASSERTION_FAILED,
        f"step next: the URL is not valid once filled ({reason}); not sent",
    )
    assert not caplog.records

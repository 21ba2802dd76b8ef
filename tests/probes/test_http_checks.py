"""The HTTP probe's request options and response checks, against real loopback servers."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from slowatch.models import Outcome
from slowatch.probes import ProbeContext, http
from tests.probes.conftest import http_endpoint
from tests.support.hostile import HostileHttp, Request, TcpTarget, free_port, redirect, reset, respond

HEALTH = {"status": "up", "version": "1.4.2", "checks": [{"name": "db", "ok": True}, {"name": "cache", "ok": False}]}


async def test_healthy_endpoint_records_status_phases_and_final_url(ctx: ProbeContext, hostile: TcpTarget) -> None:
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/ok"), ctx)
    assert result.outcome is Outcome.SUCCESS and result.message == ""
    assert result.status_code == 200
    assert result.final_url == f"http://127.0.0.1:{hostile.port}/ok"
    assert {"connect", "processing", "transfer"} <= set(result.phases)
    assert "tls" not in result.phases and result.cert_expiry is None
    assert sum(result.phases.values()) <= result.duration


async def test_redirects_are_followed_and_final_url_recorded(ctx: ProbeContext, hostile: TcpTarget) -> None:
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/chain/3", max_redirects=3), ctx)
    assert result.outcome is Outcome.SUCCESS
    assert result.final_url == f"http://127.0.0.1:{hostile.port}/ok"
    # every hop's connect and processing are added up; nothing is counted twice
    assert {"connect", "processing", "transfer"} <= set(result.phases)
    assert sum(result.phases.values()) <= result.duration


async def test_one_redirect_too_many(ctx: ProbeContext, hostile: TcpTarget) -> None:
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/chain/3", max_redirects=2), ctx)
    assert result.outcome is Outcome.TOO_MANY_REDIRECTS


async def test_redirect_to_another_host_is_followed(ctx: ProbeContext, hostile: TcpTarget) -> None:
    """127.0.0.1 -> localhost: followed; final_url names the other host (and a resolve phase appears)."""
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/other-host"), ctx)
    assert result.outcome is Outcome.SUCCESS
    assert result.final_url == f"http://localhost:{hostile.port}/ok"
    assert "resolve" in result.phases


async def test_redirects_not_followed_when_disabled(ctx: ProbeContext, hostile: TcpTarget) -> None:
    url = f"http://127.0.0.1:{hostile.port}/chain/2"
    result = await http.probe(http_endpoint(url, follow_redirects=False), ctx)
    assert (result.outcome, result.message) == (Outcome.HTTP_STATUS, "expected status 200, got 302")
    accepted = await http.probe(http_endpoint(url, follow_redirects=False, expect={"status": ["3xx"]}), ctx)
    assert accepted.outcome is Outcome.SUCCESS and accepted.status_code == 302


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (["5xx"], 503, ""),
        ([200, "500-502"], 502, ""),
        ([200, "300-399"], 503, "expected status 200 or 300-399, got 503"),
        ([200, 204, "3xx"], 404, "expected status 200, 204 or 3xx, got 404"),
    ],
)
async def test_expected_status(
    ctx: ProbeContext, hostile: TcpTarget, status: list[Any], code: int, message: str
) -> None:
    result = await http.probe(
        http_endpoint(f"http://127.0.0.1:{hostile.port}/status/{code}", expect={"status": status}), ctx
    )
    assert result.message == message
    assert result.outcome is (Outcome.SUCCESS if not message else Outcome.HTTP_STATUS)
    assert result.status_code == code


async def test_method_headers_and_json_body_are_sent(ctx: ProbeContext, hostile: TcpTarget) -> None:
    endpoint = http_endpoint(
        f"http://127.0.0.1:{hostile.port}/echo",
        method="post",
        headers={"X-Api-Key": "s3cret"},
        json={"ping": 1},
        expect={
            "body": [
                {"json_path": "$.method", "equals": "POST"},
                {"json_path": "$.headers['x-api-key']", "equals": "s3cret"},
            ]
        },
    )
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    request: Request = hostile.handler.requests[0]  # type: ignore[attr-defined]
    assert json.loads(request.body) == {"ping": 1}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "slowatch"


async def test_text_body_is_sent(ctx: ProbeContext, hostile: TcpTarget) -> None:
    endpoint = http_endpoint(f"http://127.0.0.1:{hostile.port}/echo", method="PUT", body="hello")
    assert (await http.probe(endpoint, ctx)).outcome is Outcome.SUCCESS
    assert hostile.handler.requests[0].body == b"hello"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        ({"json_path": "$.status", "equals": "up"}, ""),
        ({"json_path": "$.status", "equals": "degraded"}, '$.status was "up", expected "degraded"'),
        ({"json_path": "$.checks[0].ok", "equals": True}, ""),
        ({"json_path": "$.checks[1].ok", "equals": True}, "$.checks[1].ok was false, expected true"),
        ({"json_path": "$.checks[-1].name", "equals": "cache"}, ""),
        ({"json_path": "$.checks[0].ok", "equals": 1}, "$.checks[0].ok was true, expected 1"),
        ({"json_path": "$.version"}, ""),
        ({"json_path": "$.checks[5]"}, "$.checks[5] is missing"),
        ({"json_path": "$.debug", "exists": False}, ""),
        ({"json_path": "$.version", "exists": False}, "$.version exists, expected it absent"),
        ({"json_path": "$.uptime", "equals": 5}, "$.uptime is missing, expected 5"),
        ({"contains": '"version"'}, ""),
        ({"contains": "degraded"}, 'body does not contain "degraded"'),
        ({"regex": r'"version": "1\.\d+'}, ""),
        ({"regex": r"^2\."}, r"body does not match /^2\./"),
    ],
)
async def test_body_assertions(ctx: ProbeContext, serve: Any, assertion: dict[str, Any], message: str) -> None:
    target = await serve(HostileHttp(routes={"/health": respond(200, HEALTH)}))
    endpoint = http_endpoint(f"http://127.0.0.1:{target.port}/health", expect={"body": [assertion]})
    result = await http.probe(endpoint, ctx)
    assert result.message == message
    assert result.outcome is (Outcome.SUCCESS if not message else Outcome.ASSERTION_FAILED)


async def test_json_assertion_on_a_non_json_body(ctx: ProbeContext, hostile: TcpTarget) -> None:
    endpoint = http_endpoint(f"http://127.0.0.1:{hostile.port}/ok", expect={"body": [{"json_path": "$.a"}]})
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message == "$.a: body is not JSON (Expecting value)"


async def test_status_is_checked_before_the_body(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(HostileHttp(routes={"/h": respond(503, {"status": "degraded"})}))
    expect = {"body": [{"json_path": "$.status", "equals": "up"}]}
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/h", expect=expect), ctx)
    assert (result.outcome, result.message) == (Outcome.HTTP_STATUS, "expected status 200, got 503")


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ({"Content-Type": "application/json"}, ""),
        ({"content-type": "^application/json$", "X-Build": r"\d+"}, ""),
        ({"Content-Type": "text/html"}, 'header Content-Type was "application/json", expected /text/html/'),
        ({"X-Missing": ""}, "header X-Missing is missing"),
    ],
)
async def test_expected_headers(ctx: ProbeContext, serve: Any, expected: dict[str, str], message: str) -> None:
    target = await serve(HostileHttp(routes={"/h": respond(200, HEALTH, {"X-Build": "42"})}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/h", expect={"headers": expected}), ctx)
    assert result.message == message
    assert result.outcome is (Outcome.SUCCESS if not message else Outcome.ASSERTION_FAILED)


async def test_body_at_the_limit_passes_one_byte_over_fails(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(HostileHttp(routes={"/b": respond(200, b"x" * 100)}))
    url = f"http://127.0.0.1:{target.port}/b"
    assert (await http.probe(http_endpoint(url, max_body_size=100), ctx)).outcome is Outcome.SUCCESS
    result = await http.probe(http_endpoint(url, max_body_size=99), ctx)
    assert (result.outcome, result.message) == (Outcome.BODY_TOO_LARGE, "body larger than max_body_size (99 bytes)")


async def test_http_proxy_gets_absolute_url_and_credentials(ctx: ProbeContext, serve: Any) -> None:
    proxy = HostileHttp(routes={"http://upstream.test/ok": respond(200, "via proxy")})
    target = await serve(proxy)
    endpoint = http_endpoint(
        "http://upstream.test/ok",
        proxy={"url": f"http://127.0.0.1:{target.port}", "username": "probe", "password": "pr0xy-pass"},
        expect={"body": [{"contains": "via proxy"}]},
    )
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    sent = proxy.requests[0]
    assert sent.path == "http://upstream.test/ok"
    assert sent.headers["proxy-authorization"] == "Basic " + base64.b64encode(b"probe:pr0xy-pass").decode()


async def test_unreachable_proxy_message_has_no_credentials(ctx: ProbeContext) -> None:
    port = free_port()
    endpoint = http_endpoint(
        "http://upstream.test/ok", proxy={"url": f"http://127.0.0.1:{port}", "username": "u", "password": "pr0xy-pass"}
    )
    result = await http.probe(endpoint, ctx)
    assert (result.outcome, result.message) == (
        Outcome.CONNECTION_REFUSED,
        f"connection refused by proxy 127.0.0.1:{port}",
    )
    assert "pr0xy-pass" not in repr(endpoint)


async def _read_then_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    reset(writer)


async def _read_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (_read_then_reset, "connection reset by proxy 127.0.0.1:{port} (to upstream.test:{target_port})"),
        (
            _read_then_close,
            "proxy 127.0.0.1:{port} (to upstream.test:{target_port}) closed the connection without a response",
        ),
    ],
)
async def test_a_proxy_that_drops_the_connection_is_named_not_the_target(
    ctx: ProbeContext, serve: Any, scheme: str, handler: Any, message: str
) -> None:
    """Through a proxy, the proxy is the socket's peer: its reset was reported as the target's (on-call chased a
    healthy upstream). The target is named too: the proxy may have been passing on what upstream did."""
    proxy = await serve(handler)
    endpoint = http_endpoint(f"{scheme}://upstream.test/ok", proxy={"url": f"http://127.0.0.1:{proxy.port}"}, timeout=2)
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.CONNECTION_RESET
    target_port = 443 if scheme == "https" else 80
    assert result.message == message.format(port=proxy.port, target_port=target_port)


async def _tunnel_then_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await reader.read(1)  # the start of the ClientHello, through the tunnel
    reset(writer)


async def _tunnel_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await reader.read(1)
    writer.close()


@pytest.mark.parametrize("handler", [_tunnel_then_reset, _tunnel_then_close])
async def test_a_proxy_that_drops_the_tunnel_during_the_tls_handshake_is_named_too(
    ctx: ProbeContext, serve: Any, handler: Any
) -> None:
    """The tunnel is up (CONNECT answered 200), then the socket's peer, the proxy, resets or closes it during
    the handshake: reported as 'connection reset by upstream.test:443' alone, though the target may never
    have been reached."""
    proxy = await serve(handler)
    endpoint = http_endpoint("https://upstream.test/ok", proxy={"url": f"http://127.0.0.1:{proxy.port}"}, timeout=2)
    result = await http.probe(endpoint, ctx)
    assert (result.outcome, result.message) == (
        Outcome.CONNECTION_RESET,
        f"connection reset by proxy 127.0.0.1:{proxy.port} (to upstream.test:443)",
    )


async def test_a_proxy_name_that_does_not_resolve_names_the_proxy_alone(ctx: ProbeContext) -> None:
    """(aiohttp raises a plain ClientConnectorDNSError for the proxy's host: not '... (to proxy.invalid:3128)'.)"""
    endpoint = http_endpoint("https://upstream.test/ok", proxy={"url": "http://proxy.invalid:3128"}, timeout=2)
    result = await http.probe(endpoint, ctx)
    assert (result.outcome, result.message) == (Outcome.DNS_ERROR, "cannot resolve proxy.invalid:3128")


async def test_redirect_to_a_non_http_location_is_protocol_error(ctx: ProbeContext, serve: Any) -> None:
    bad = redirect(lambda req: "ftp://user:hunter2@files.example/x?token=abc")
    target = await serve(HostileHttp(routes={"/r": bad}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/r"), ctx)
    assert result.outcome is Outcome.PROTOCOL_ERROR
    assert result.message.startswith("invalid redirect target: ftp://files.example/x"), result.message
    assert "hunter2" not in result.message and "abc" not in result.message


async def test_final_url_is_redacted(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(HostileHttp())
    url = f"http://127.0.0.1:{target.port}/echo?token=abc123"
    result = await http.probe(http_endpoint(url), ctx)
    assert result.final_url is not None and "abc123" not in result.final_url

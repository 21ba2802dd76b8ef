"""The HTTP probe against hostile targets: every behaviour yields its outcome within the timeout."""

from __future__ import annotations

import time
from typing import Any

import pytest

from slowatch.models import Outcome
from slowatch.probes import ProbeContext, http
from tests.probes.conftest import MARGIN, http_endpoint
from tests.support.hostile import HostileHttp, TcpTarget, free_port, respond

TIMEOUT = 0.5


@pytest.mark.parametrize(
    ("path", "outcome", "message"),
    [
        ("/hang", Outcome.TIMEOUT, "timed out after 0.5s waiting for the response"),
        ("/trickle", Outcome.TIMEOUT, "timed out after 0.5s reading the body"),
        ("/huge", Outcome.BODY_TOO_LARGE, "body larger than max_body_size (1048576 bytes)"),
        ("/huge-chunked", Outcome.BODY_TOO_LARGE, "body larger than max_body_size (1048576 bytes)"),
        ("/loop", Outcome.TOO_MANY_REDIRECTS, "more than 10 redirects"),
        ("/reset", Outcome.CONNECTION_RESET, "connection reset by 127.0.0.1:{port} while reading the body"),
        ("/garbage", Outcome.PROTOCOL_ERROR, "invalid HTTP response: Bad status line"),
        ("/close", Outcome.CONNECTION_RESET, "127.0.0.1:{port} closed the connection without a response"),
        ("/status/503", Outcome.HTTP_STATUS, "expected status 200, got 503"),
    ],
)
async def test_hostile_behaviour_yields_outcome_within_timeout(
    ctx: ProbeContext, hostile: TcpTarget, path: str, outcome: Outcome, message: str
) -> None:
    endpoint = http_endpoint(f"http://127.0.0.1:{hostile.port}{path}", timeout=TIMEOUT)
    t0 = time.monotonic()
    result = await http.probe(endpoint, ctx)
    elapsed = time.monotonic() - t0
    assert (result.outcome, result.kind) == (outcome, "http"), result.message
    assert result.message.startswith(message.format(port=hostile.port)), result.message
    assert elapsed <= TIMEOUT + MARGIN
    assert abs(result.duration - elapsed) < 0.05


async def test_trickled_body_records_status_and_no_transfer_phase(ctx: ProbeContext, hostile: TcpTarget) -> None:
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/trickle", timeout=0.3), ctx)
    assert result.status_code == 200
    assert "processing" in result.phases and "transfer" not in result.phases


async def test_nothing_listening_is_connection_refused(ctx: ProbeContext) -> None:
    port = free_port()
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{port}/", timeout=TIMEOUT), ctx)
    assert result.outcome is Outcome.CONNECTION_REFUSED
    assert result.message == f"connection refused by 127.0.0.1:{port}"
    assert result.duration < TIMEOUT


async def test_unresolvable_host_is_dns_error(ctx: ProbeContext) -> None:
    result = await http.probe(http_endpoint("http://no-such-host.invalid/", timeout=2), ctx)
    assert result.outcome is Outcome.DNS_ERROR
    assert result.message == "cannot resolve no-such-host.invalid:80"


async def test_huge_body_is_not_read_past_the_limit(ctx: ProbeContext, hostile: TcpTarget) -> None:
    """2 GiB chunked with a 64 KiB limit: the probe stops early, fast, whatever the body size."""
    url = f"http://127.0.0.1:{hostile.port}/huge-chunked"
    result = await http.probe(http_endpoint(url, max_body_size="64KiB"), ctx)
    assert result.outcome is Outcome.BODY_TOO_LARGE
    assert result.message == "body larger than max_body_size (65536 bytes)"
    assert result.duration < 0.5


async def test_head_of_a_huge_resource_is_fine(ctx: ProbeContext, hostile: TcpTarget) -> None:
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/huge", method="HEAD"), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message


async def test_redirect_loop_stops_at_max_redirects(ctx: ProbeContext, hostile: TcpTarget) -> None:
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/loop", max_redirects=3), ctx)
    assert result.outcome is Outcome.TOO_MANY_REDIRECTS
    assert result.message == "more than 3 redirects"
    handler_requests = len(hostile.handler.requests)  # type: ignore[attr-defined]
    assert handler_requests == 4  # the first request and 3 followed redirects


async def test_ssl_setup_failure_is_error_not_exception(ctx: ProbeContext, hostile: TcpTarget) -> None:
    endpoint = http_endpoint(f"https://127.0.0.1:{hostile.port}/", tls={"ca_file": "/nonexistent/ca.pem"})
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.ERROR
    assert result.message == "cannot load TLS files: No such file or directory: /nonexistent/ca.pem"


@pytest.mark.parametrize("charset", ["idna", "undefined", "punycode", "no-such-charset", "rot13"])
async def test_a_charset_python_cannot_decode_with_falls_back_to_utf8(
    ctx: ProbeContext, serve: Any, charset: str
) -> None:
    """`charset=idna` names a codec that refuses errors="replace"; `undefined` refuses everything."""
    headers = {"Content-Type": f"text/plain; charset={charset}"}
    target = await serve(HostileHttp(routes={"/": respond(200, "status: \xe9t\xe9 up".encode(), headers)}))
    url = f"http://127.0.0.1:{target.port}/"
    found = await http.probe(http_endpoint(url, expect={"body": [{"contains": "été up"}]}), ctx)
    assert found.outcome is Outcome.SUCCESS, found.message
    missing = await http.probe(http_endpoint(url, expect={"body": [{"contains": "down"}]}), ctx)
    assert (missing.outcome, missing.message) == (Outcome.ASSERTION_FAILED, 'body does not contain "down"')


async def test_a_body_that_does_not_decode_as_its_content_encoding_says_so(ctx: ProbeContext, serve: Any) -> None:
    headers = {"Content-Encoding": "gzip"}
    target = await serve(HostileHttp(routes={"/": respond(200, b"this is not gzip at all", headers)}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/"), ctx)
    assert (result.outcome, result.message) == (
        Outcome.PROTOCOL_ERROR,
        "cannot decode the body (Content-Encoding: gzip)",
    )


def _close_after(data: bytes) -> Any:
    async def route(req: Any, reader: Any, writer: Any) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()

    return route


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nContent-Type: text/pl", b"HTTP/1.1 503 Unavail"],
    ids=["after-status-line", "mid-header", "mid-status-line"],
)
async def test_a_close_in_the_middle_of_the_headers_is_a_cut_short_response(
    ctx: ProbeContext, serve: Any, head: bytes
) -> None:
    """In the hostile soak a server that sent its status line and part of a header, then closed, was
    `connection_reset` "closed the connection without a response": it had sent one. Like a body cut short,
    it is a `protocol_error` that says where the response stopped (aiohttp's ServerDisconnectedError carries
    the head parsed so far)."""
    target = await serve(HostileHttp(routes={"/": _close_after(head)}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/"), ctx)
    assert (result.outcome, result.message) == (
        Outcome.PROTOCOL_ERROR,
        f"127.0.0.1:{target.port} closed the connection in the middle of the response headers "
        f"(status {head.split()[1].decode()})",
    )

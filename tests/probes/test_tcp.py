"""The tcp probe: connect, send, expect, against banner/echo/hostile servers."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from slowatch.models import Outcome
from slowatch.probes import ProbeContext, dns, http, tcp, tls
from slowatch.probes.net import decode_escapes
from slowatch.probes.registry import describe_target
from tests.probes.conftest import MARGIN, dns_endpoint, http_endpoint, tcp_endpoint, tls_endpoint
from tests.support.hostile import banner, close_at_once, echo, free_port, hang, reset_at_once

SMTP = b"220 mail.example ESMTP ready\r\n"


async def test_connect_only(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(hang)
    result = await tcp.probe(tcp_endpoint(target.port), ctx)
    assert result.outcome is Outcome.SUCCESS and result.kind == "tcp"
    assert {"resolve", "connect"} <= set(result.phases)
    assert target.connections == 1


async def test_an_ip_literal_is_not_resolved_and_a_name_is(ctx: ProbeContext, serve: Any) -> None:
    """No resolver thread hop per probe for `host: 127.0.0.1` (it cost a TCP probe ~2x the bare loop's CPU)."""
    target = await serve(hang)
    literal = await tcp.probe(tcp_endpoint(target.port, host="127.0.0.1"), ctx)
    named = await tcp.probe(tcp_endpoint(target.port, host="localhost"), ctx)
    assert literal.outcome is Outcome.SUCCESS and literal.phases["resolve"] == 0.0
    assert named.outcome is Outcome.SUCCESS and named.phases["resolve"] > 0.0


@pytest.mark.parametrize("expect", [{"contains": "220 "}, {"regex": r"^220 [\w.]+ ESMTP"}])
async def test_banner_matches(ctx: ProbeContext, serve: Any, expect: dict[str, str]) -> None:
    target = await serve(banner(SMTP))
    result = await tcp.probe(tcp_endpoint(target.port, expect=expect), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert "processing" in result.phases


async def test_send_with_escapes_then_expect(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(echo)
    endpoint = tcp_endpoint(target.port, send="PING\\r\\n", expect={"contains": "+PONG"})
    result = await tcp.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message


async def test_banner_mismatch_while_server_holds_the_connection(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(banner(SMTP))
    t0 = time.monotonic()
    result = await tcp.probe(tcp_endpoint(target.port, timeout=0.3, expect={"contains": "+OK"}), ctx)
    assert time.monotonic() - t0 <= 0.3 + MARGIN
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message == 'expected "+OK" within 0.3s, got "220 mail.example ESMTP ready\\r\\n"'


async def test_mismatch_after_read_bytes_is_immediate(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(banner(b"x" * 10_000))
    result = await tcp.probe(tcp_endpoint(target.port, read_bytes=100, expect={"regex": "y"}), ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message.startswith('expected /y/ in the first bytes, got "xxxx')
    assert result.duration < 0.5


async def test_server_closes_after_partial_banner(ctx: ProbeContext, serve: Any) -> None:
    async def short_banner(reader: Any, writer: Any) -> None:
        writer.write(b"-ERR busy\r\n")
        await writer.drain()
        writer.close()

    target = await serve(short_banner)
    result = await tcp.probe(tcp_endpoint(target.port, expect={"contains": "+PONG"}), ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message == f'127.0.0.1:{target.port} closed the connection before "+PONG", got "-ERR busy\\r\\n"'


@pytest.mark.parametrize(
    ("handler", "outcome", "message"),
    [
        (hang, Outcome.TIMEOUT, "no data from 127.0.0.1:{port} within 0.3s"),
        (close_at_once, Outcome.CONNECTION_RESET, "127.0.0.1:{port} closed the connection without sending anything"),
        (reset_at_once, Outcome.CONNECTION_RESET, "connection reset by 127.0.0.1:{port}"),
    ],
)
async def test_hostile_servers(ctx: ProbeContext, serve: Any, handler: Any, outcome: Outcome, message: str) -> None:
    target = await serve(handler)
    t0 = time.monotonic()
    result = await tcp.probe(tcp_endpoint(target.port, timeout=0.3, expect={"contains": "220"}), ctx)
    assert time.monotonic() - t0 <= 0.3 + MARGIN
    assert (result.outcome, result.message) == (outcome, message.format(port=target.port))


async def test_refused_and_unresolvable(ctx: ProbeContext) -> None:
    port = free_port()
    refused = await tcp.probe(tcp_endpoint(port), ctx)
    assert (refused.outcome, refused.message) == (Outcome.CONNECTION_REFUSED, f"connection refused by 127.0.0.1:{port}")
    unknown = await tcp.probe(tcp_endpoint(25, host="no-such-host.invalid", timeout=2), ctx)
    assert unknown.outcome is Outcome.DNS_ERROR
    assert unknown.message.startswith("cannot resolve no-such-host.invalid:25")


async def test_an_ipv6_address_is_written_in_brackets(ctx: ProbeContext) -> None:
    """`::1:8080` reads as an address, or as port 1 of `::1:8080`: `[::1]:8080`, as in a URL."""
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
    refused = f"connection refused by [::1]:{port}"
    for endpoint in (tcp_endpoint(port, host="::1"), tls_endpoint(port, host="::1")):
        result = await (tcp.probe(endpoint, ctx) if endpoint.kind == "tcp" else tls.probe(endpoint, ctx))
        assert (result.outcome, result.message) == (Outcome.CONNECTION_REFUSED, refused)
        assert describe_target(endpoint) == f"[::1]:{port}"
    page = await http.probe(http_endpoint(f"http://[::1]:{port}/"), ctx)
    assert (page.outcome, page.message) == (Outcome.CONNECTION_REFUSED, refused)
    answer = await dns.probe(dns_endpoint("up.test", port, nameserver=f"[::1]:{port}", transport="tcp"), ctx)
    assert (answer.outcome, answer.message) == (Outcome.CONNECTION_REFUSED, refused)


async def test_an_ipv6_host_may_be_written_in_brackets(ctx: ProbeContext) -> None:
    """`host: "[::1]"`, as a URL writes the address, is the address `::1` (it was refused by the config)."""
    server = await asyncio.start_server(lambda r, w: w.close(), host="::1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        endpoint = tcp_endpoint(port, host="[::1]")
        assert endpoint.host == "::1" and describe_target(endpoint) == f"[::1]:{port}"
        result = await tcp.probe(endpoint, ctx)
        assert result.outcome is Outcome.SUCCESS, result.message
    finally:
        server.close()
        await server.wait_closed()


async def test_localhost_name_resolves_and_connects(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(banner(SMTP))
    result = await tcp.probe(tcp_endpoint(target.port, host="localhost", expect={"contains": "ESMTP"}), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("PING\\r\\n", b"PING\r\n"),
        ("PING\r\n", b"PING\r\n"),
        ("a\\tb\\\\n\\x00\\xff", b"a\tb\\n\x00\xff"),
        ("héllo\\n", "héllo\n".encode()),
        ("no escapes \\q", b"no escapes \\q"),
    ],
)
def test_decode_escapes(text: str, data: bytes) -> None:
    assert decode_escapes(text) == data

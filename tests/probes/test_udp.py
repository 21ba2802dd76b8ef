"""The udp probe: one datagram out, the first reply checked, against real UDP servers on loopback."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from typing import Any

import pytest

from slowatch.config import load_text
from slowatch.config.udp import UdpEndpoint
from slowatch.errors import ConfigError
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, probe_once, udp
from tests.probes.conftest import MARGIN
from tests.support.udpserver import closed_udp_port, udp_serve

__all__ = ["udp_serve"]  # the fixture


def udp_endpoint(port: int, **options: Any) -> UdpEndpoint:
    data = {"kind": "udp", "name": "t", "interval": 10, "timeout": 1, "host": "127.0.0.1", "port": port, "send": "x"}
    return UdpEndpoint.model_validate({**data, **options})


async def test_reply_matches_and_escapes_are_decoded(ctx: ProbeContext, udp_serve: Any) -> None:
    server, port = await udp_serve(lambda data: b"+PONG " + data)
    for expect in ({"contains": "+PONG"}, {"regex": r"^\+PONG PING\r\n$"}):
        result = await udp.probe(udp_endpoint(port, send="PING\\r\\n", expect=expect), ctx)
        assert result.outcome is Outcome.SUCCESS and result.kind == "udp", result.message
        assert {"resolve", "processing"} <= set(result.phases)
    assert server.received == [b"PING\r\n", b"PING\r\n"]


async def test_without_expect_sending_is_enough(ctx: ProbeContext, udp_serve: Any) -> None:
    server, port = await udp_serve(lambda data: None)
    result = await udp.probe(udp_endpoint(port, send="metric:1|c"), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    for _ in range(100):  # the datagram is on its way: the server reads it on its next turn of the loop
        if server.received:
            break
        await asyncio.sleep(0.01)
    assert server.received == [b"metric:1|c"]


async def test_without_expect_nothing_is_left_for_asyncio_to_log(
    ctx: ProbeContext, udp_serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The reply future of a probe that waits for no reply is not left holding an exception: asyncio logged
    'Future exception was never retrieved' (an ERROR) for every such probe once the socket was closed."""
    _, port = await udp_serve(lambda data: None)
    caplog.set_level(logging.ERROR, logger="asyncio")
    result = await udp.probe(udp_endpoint(port, send="metric:1|c"), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    for _ in range(3):  # connection_lost runs on a later turn of the loop
        await asyncio.sleep(0)
    gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_a_datagram_the_kernel_refuses_to_send_is_an_error(ctx: ProbeContext, udp_serve: Any) -> None:
    """80,000 bytes (40,000 two-byte characters, within `send`'s 65,000 characters) exceed a UDP datagram:
    the send fails at once (EMSGSIZE, through the protocol's error_received), and without expect too."""
    _, port = await udp_serve(lambda data: None)
    payload = "é" * 40_000
    got = [(await udp.probe(udp_endpoint(port, send=payload, expect=expect), ctx)) for expect in (None, {"regex": "."})]
    too_long = (Outcome.ERROR, f"OSError: Message too long (127.0.0.1:{port})")
    assert [(r.outcome, r.message) for r in got] == [too_long, too_long]


async def test_a_reply_that_does_not_match_fails_at_once(ctx: ProbeContext, udp_serve: Any) -> None:
    _, port = await udp_serve(lambda data: b"-ERR unknown command\n")
    t0 = time.monotonic()
    result = await udp.probe(udp_endpoint(port, timeout=2, expect={"contains": "+PONG"}), ctx)
    assert time.monotonic() - t0 < 1.0
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message == f'expected "+PONG" in the reply from 127.0.0.1:{port}, got "-ERR unknown command\\n"'


async def test_only_read_bytes_of_the_reply_are_checked(ctx: ProbeContext, udp_serve: Any) -> None:
    _, port = await udp_serve(lambda data: b"x" * 100 + b"+PONG")
    result = await udp.probe(udp_endpoint(port, read_bytes=100, expect={"contains": "+PONG"}), ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED


async def test_silence_is_a_timeout(ctx: ProbeContext, udp_serve: Any) -> None:
    _, port = await udp_serve(lambda data: None)
    t0 = time.monotonic()
    result = await udp.probe(udp_endpoint(port, timeout=0.3, expect={"regex": "."}), ctx)
    assert time.monotonic() - t0 <= 0.3 + MARGIN
    assert result.outcome is Outcome.TIMEOUT
    assert result.message == f"no reply from 127.0.0.1:{port} within 0.3s"


async def test_a_closed_port_is_refused(ctx: ProbeContext) -> None:
    """The kernel's ICMP port unreachable reaches the connected socket as ECONNREFUSED."""
    port = closed_udp_port()
    result = await udp.probe(udp_endpoint(port, timeout=2, expect={"contains": "x"}), ctx)
    assert result.outcome is Outcome.CONNECTION_REFUSED
    assert result.message == f"connection refused by 127.0.0.1:{port}"


async def test_an_ipv6_address_is_written_in_brackets(ctx: ProbeContext) -> None:
    """As for tcp (test_tcp.py): `::1:8080` reads as another address; `[::1]:8080`."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
    result = await udp.probe(udp_endpoint(port, host="::1", timeout=2, expect={"contains": "x"}), ctx)
    assert (result.outcome, result.message) == (Outcome.CONNECTION_REFUSED, f"connection refused by [::1]:{port}")


async def test_a_name_is_resolved_and_a_bad_one_is_a_dns_error(ctx: ProbeContext, udp_serve: Any) -> None:
    _, port = await udp_serve(lambda data: data)
    named = await udp.probe(udp_endpoint(port, host="localhost", expect={"contains": "x"}), ctx)
    assert named.outcome is Outcome.SUCCESS, named.message
    assert named.phases["resolve"] > 0.0
    literal = await udp.probe(udp_endpoint(port, expect={"contains": "x"}), ctx)
    assert literal.phases["resolve"] == 0.0
    bad = await udp.probe(udp_endpoint(port, host="nowhere.invalid"), ctx)
    assert bad.outcome is Outcome.DNS_ERROR
    assert bad.message.startswith(f"cannot resolve 127.0.0.1:{port}") is False
    assert bad.message.startswith(f"cannot resolve nowhere.invalid:{port}")


async def test_probe_once_finds_the_kind_in_the_registry(ctx: ProbeContext, udp_serve: Any) -> None:
    _, port = await udp_serve(lambda data: data)
    result = await probe_once(udp_endpoint(port, expect={"contains": "x"}), ctx)
    assert result.outcome is Outcome.SUCCESS and result.kind == "udp"
    assert udp.KIND.outcomes >= {Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.CONNECTION_REFUSED, Outcome.DNS_ERROR}


def test_config_errors_are_located() -> None:
    text = """endpoints:
  - name: syslog
    kind: udp
    host: 10.0.0.5
    port: 514
    read_bytes: 1MiB
    expect: {contains: a, regex: b}
"""
    with pytest.raises(ConfigError) as info:
        load_text(text, "udp.yaml")
    assert [str(p) for p in info.value.problems] == [
        "udp.yaml:2:5 endpoints[0].send: required field missing",
        "udp.yaml:6:17 endpoints[0].read_bytes: must be at most 65535 (got '1MiB')",
        "udp.yaml:7:5 endpoints[0].expect: set exactly one of contains, regex",
    ]

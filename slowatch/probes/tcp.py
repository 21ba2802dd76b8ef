"""TCP probe: connect; optionally send bytes and check the first bytes of the reply (banners, PING)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from slowatch.config.endpoints import TcpEndpoint, TcpExpect
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.failures import Failure, classify, show
from slowatch.probes.kind import TRANSPORT_OUTCOMES, ProbeKind
from slowatch.probes.net import decode_escapes, open_tcp
from slowatch.redact import join_host_port

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext


async def probe(endpoint: TcpEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    where = join_host_port(endpoint.host, endpoint.port)
    phases: dict[str, float] = {}
    received = bytearray()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(endpoint.timeout):
            reader, writer = await open_tcp(endpoint.host, endpoint.port, ctx.clock, phases)
            outcome, message = await _converse(endpoint, reader, writer, received, where, ctx, phases)
    except TimeoutError:
        outcome, message = _timed_out(endpoint, writer is not None, received, where)
    except OSError as exc:
        outcome, message = classify(exc, where, endpoint.timeout)
    finally:
        if writer is not None:
            writer.transport.abort()
    return ProbeResult(
        endpoint=endpoint.name,
        kind="tcp",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
        phases=phases,
    )


def matches(expect: TcpExpect, data: bytes | bytearray) -> bool:
    text = data.decode("utf-8", errors="replace")
    if expect.contains is not None:
        return expect.contains in text
    assert expect.regex is not None
    return re.search(expect.regex, text) is not None


def wanted(expect: TcpExpect) -> str:
    return show(expect.contains) if expect.contains is not None else f"/{expect.regex}/"


async def _converse(
    endpoint: TcpEndpoint,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    received: bytearray,
    where: str,
    ctx: ProbeContext,
    phases: dict[str, float],
) -> Failure:
    t = ctx.clock.monotonic()
    if endpoint.send is not None:
        writer.write(decode_escapes(endpoint.send))
        await writer.drain()
    expect = endpoint.expect
    if expect is None:
        return Outcome.SUCCESS, ""
    while not matches(expect, received):
        if len(received) >= endpoint.read_bytes:
            got = show(received.decode("utf-8", errors="replace"))
            return Outcome.ASSERTION_FAILED, f"expected {wanted(expect)} in the first bytes, got {got}"
        chunk = await reader.read(endpoint.read_bytes - len(received))
        if not chunk and not received:
            return Outcome.CONNECTION_RESET, f"{where} closed the connection without sending anything"
        if not chunk:
            got = show(received.decode("utf-8", errors="replace"))
            return Outcome.ASSERTION_FAILED, f"{where} closed the connection before {wanted(expect)}, got {got}"
        received += chunk
    phases["processing"] = ctx.clock.monotonic() - t
    return Outcome.SUCCESS, ""


def _timed_out(endpoint: TcpEndpoint, connected: bool, received: bytearray, where: str) -> Failure:
    if not connected:
        return Outcome.TIMEOUT, f"no connection to {where} within {endpoint.timeout:g}s"
    if received and endpoint.expect is not None:
        got = show(received.decode("utf-8", errors="replace"))
        return Outcome.ASSERTION_FAILED, f"expected {wanted(endpoint.expect)} within {endpoint.timeout:g}s, got {got}"
    return Outcome.TIMEOUT, f"no data from {where} within {endpoint.timeout:g}s"


KIND = ProbeKind(
    name="tcp",
    model=TcpEndpoint,
    probe=probe,
    target=lambda shown: shown.host_port(),
    outcomes=TRANSPORT_OUTCOMES | {Outcome.ASSERTION_FAILED},
    weight=lambda endpoint: 0.5,
)


__all__ = ["KIND", "matches", "probe", "wanted"]

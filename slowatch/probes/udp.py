"""UDP probe: send one datagram; with `expect`, the first reply datagram must match it (syslog, statsd,
NTP-style or home-made health ports).

A connected UDP socket hears the ICMP "port unreachable" a closed port answers with: that is
`connection_refused`. Without `expect` the probe succeeds once the datagram is sent: UDP says nothing
more (a silent drop looks the same as a delivery), unless the kernel refuses the datagram at once (too
long for UDP: `error`). Outcomes: `success`, `timeout` (no reply in time),
`connection_refused`, `dns_error`, `assertion_failed` (a reply that does not match), `error`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

from slowatch.config.udp import UdpEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.failures import Failure, classify, show
from slowatch.probes.kind import TRANSPORT_OUTCOMES, ProbeKind
from slowatch.probes.net import decode_escapes, getaddrinfo, literal_address
from slowatch.probes.tcp import matches, wanted
from slowatch.redact import join_host_port

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext


class _Reply(asyncio.DatagramProtocol):
    """The first datagram from the connected peer, or the socket error (ICMP unreachable) before it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.first: asyncio.Future[bytes] = loop.create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.first.done():
            self.first.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.first.done():
            self.first.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.first.done():
            return
        if exc is None:  # the probe closed it: nobody waits for a reply (an exception set here went unretrieved)
            self.first.cancel()
        else:
            self.first.set_exception(exc)


async def probe(endpoint: UdpEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    where = join_host_port(endpoint.host, endpoint.port)
    phases: dict[str, float] = {}
    transport: asyncio.DatagramTransport | None = None
    try:
        async with asyncio.timeout(endpoint.timeout):
            transport, reply = await _open(endpoint, ctx, phases)
            outcome, message = await _exchange(endpoint, transport, reply, where, ctx, phases)
    except TimeoutError:
        outcome, message = Outcome.TIMEOUT, f"no reply from {where} within {endpoint.timeout:g}s"
    except OSError as exc:
        outcome, message = classify(exc, where, endpoint.timeout)
    finally:
        if transport is not None:
            transport.abort()
    return ProbeResult(
        endpoint=endpoint.name,
        kind="udp",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
        phases=phases,
    )


async def _open(
    endpoint: UdpEndpoint, ctx: ProbeContext, phases: dict[str, float]
) -> tuple[asyncio.DatagramTransport, _Reply]:
    """A UDP socket connected to the first address of the host that takes it (socket.gaierror: no address)."""
    loop = asyncio.get_running_loop()
    addresses = literal_address(endpoint.host, endpoint.port)
    if addresses is None:
        t = ctx.clock.monotonic()
        infos = await getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_DGRAM)
        phases["resolve"] = ctx.clock.monotonic() - t
        addresses = list(dict.fromkeys((str(info[4][0]), int(info[4][1])) for info in infos))
    else:
        phases["resolve"] = 0.0
    error: OSError = OSError(f"no addresses for {endpoint.host}")
    for address in addresses:
        try:
            transport, reply = await loop.create_datagram_endpoint(lambda: _Reply(loop), remote_addr=address)
        except OSError as exc:  # no route to this family: try the next address
            error = exc
            continue
        return transport, reply
    raise error


async def _exchange(
    endpoint: UdpEndpoint,
    transport: asyncio.DatagramTransport,
    reply: _Reply,
    where: str,
    ctx: ProbeContext,
    phases: dict[str, float],
) -> Failure:
    t = ctx.clock.monotonic()
    transport.sendto(decode_escapes(endpoint.send))
    if endpoint.expect is None:
        if reply.first.done():  # the send failed at once (asyncio hands the OSError to error_received): EMSGSIZE
            await reply.first  # raises it
        return Outcome.SUCCESS, ""
    data = (await reply.first)[: endpoint.read_bytes]
    phases["processing"] = ctx.clock.monotonic() - t
    if matches(endpoint.expect, data):
        return Outcome.SUCCESS, ""
    got = show(data.decode("utf-8", errors="replace"))
    return Outcome.ASSERTION_FAILED, f"expected {wanted(endpoint.expect)} in the reply from {where}, got {got}"


KIND = ProbeKind(
    name="udp",
    model=UdpEndpoint,
    probe=probe,
    target=lambda shown: shown.host_port(),
    outcomes=TRANSPORT_OUTCOMES - {Outcome.CONNECTION_RESET} | {Outcome.ASSERTION_FAILED},
    weight=lambda endpoint: 0.25,  # measured: 0.2-0.25 of an HTTP probe (tcp: 0.35-0.55), asyncio and uvloop
)


__all__ = ["KIND", "probe"]

"""ICMP probe: `count` echo requests, replies matched by identifier and sequence, RTT min/avg/max and loss.

Sockets: an unprivileged datagram ICMP socket where the kernel allows it (`net.ipv4.ping_group_range`
includes the process's group), else a raw socket (root or CAP_NET_RAW). When neither is permitted the
result is `error` with a message that says what to change; nothing raises. The socket is non-blocking
and read through the event loop's reader callbacks (asyncio and uvloop alike), never in a thread.

Outcomes: every reply lost is `timeout`; more than `max_loss` lost is `packet_loss`; an average round
trip above `max_rtt` is `assertion_failed`. The result's `phases` carry `rtt_min`, `rtt_avg`, `rtt_max`
(seconds, over the replies received) and `loss_ratio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from slowatch.config.icmp import IcmpEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.failures import Failure, classify
from slowatch.probes.kind import KindGauge, ProbeKind
from slowatch.probes.net import getaddrinfo

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTO: dict[int, int] = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}


class IcmpNotPermitted(Exception):
    """Neither a datagram nor a raw ICMP socket may be opened by this process."""


Opener = Callable[[int], tuple[socket.socket, bool]]
"""family -> (a non-blocking ICMP socket, whether it is raw)."""


def open_icmp_socket(family: int) -> tuple[socket.socket, bool]:
    """A datagram ICMP socket where permitted, else a raw one. Raises IcmpNotPermitted."""
    errors: list[OSError] = []
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, PROTO[family])
        except PermissionError as exc:
            errors.append(exc)
            continue
        return sock, raw
    raise IcmpNotPermitted(not_permitted_message())


def not_permitted_message() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:  # a few bytes of procfs, on the error path only
            low, high = f.read().split()
        groups = f"net.ipv4.ping_group_range is {low}-{high}, gid {os.getgid()} is not in it"
    except (OSError, ValueError):
        groups = "unprivileged ICMP sockets are not available"
    return (
        f"ICMP not permitted: {groups}, and raw sockets need root or CAP_NET_RAW"
        " (setcap cap_net_raw+ep on the Python binary, or widen ping_group_range)"
    )


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:  # the kernel fills in ICMPv6 checksums
        return header + payload
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + payload), ident, seq) + payload


def parse_reply(family: int, data: bytes, raw: bool) -> tuple[int, int] | None:
    """(identifier, sequence) of an echo reply, or None for anything else (our own requests on loopback, ...)."""
    if raw and family == socket.AF_INET and data:
        data = data[(data[0] & 0x0F) * 4 :]  # past the IPv4 header
    if len(data) < 8:
        return None
    kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", data[:8])
    return (ident, seq) if kind == ECHO_REPLY[family] else None


async def _address(endpoint: IcmpEndpoint) -> tuple[int, str]:
    try:
        literal = ipaddress.ip_address(endpoint.host)
    except ValueError:
        pass
    else:  # no resolver thread for an address
        return (socket.AF_INET if literal.version == 4 else socket.AF_INET6), str(literal)
    families = {"auto": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
    infos = await getaddrinfo(endpoint.host, None, family=families[endpoint.family], type=socket.SOCK_RAW)
    family, _, _, _, address = infos[0]
    return int(family), str(address[0])


async def probe(endpoint: IcmpEndpoint, ctx: ProbeContext, *, opener: Opener = open_icmp_socket) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    rtts: dict[int, float] = {}
    phases: dict[str, float] = {}
    try:
        family, address = await _address(endpoint)
        sock, raw = opener(family)
    except IcmpNotPermitted as exc:
        outcome, message = Outcome.ERROR, str(exc)
    except OSError as exc:
        outcome, message = classify(exc, endpoint.host, endpoint.timeout)
    else:
        try:
            await _exchange(endpoint, ctx, sock, raw, family, address, rtts, t0)
            outcome, message = _judge(endpoint, rtts, address, phases)
        except OSError as exc:  # e.g. no route to the host
            outcome, message = classify(exc, address, endpoint.timeout)
        finally:
            sock.close()
    return ProbeResult(
        endpoint=endpoint.name,
        kind="icmp",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
        phases=phases,
    )


async def _exchange(
    endpoint: IcmpEndpoint, ctx: ProbeContext, sock: socket.socket, raw: bool, family: int, address: str,
    rtts: dict[int, float], t0: float,
) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    ident = random.getrandbits(16)
    payload = os.urandom(endpoint.payload_size)
    sent: dict[int, float] = {}
    done = asyncio.Event()
    clock = ctx.clock

    def readable() -> None:
        while True:
            try:
                data = sock.recv(65_535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket: the reply will not come
                return
            reply = parse_reply(family, data, raw)
            if reply is None or (raw and reply[0] != ident) or reply[1] not in sent or reply[1] in rtts:
                continue  # datagram sockets: the kernel matched the identifier already
            rtts[reply[1]] = clock.monotonic() - sent[reply[1]]
            if len(rtts) == endpoint.count:
                done.set()

    loop.add_reader(sock.fileno(), readable)
    deadline = loop.time() + max(0.0, endpoint.timeout - (clock.monotonic() - t0))
    try:
        # A timeout is no error: what did not come back by the deadline counts as lost (`_judge`).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                for seq in range(endpoint.count):
                    if seq:
                        await asyncio.sleep(endpoint.spacing)
                    sent[seq] = clock.monotonic()
                    sock.sendto(echo_request(family, ident, seq, payload), (address, 0))
                await done.wait()
    finally:
        loop.remove_reader(sock.fileno())


def _judge(endpoint: IcmpEndpoint, rtts: dict[int, float], address: str, phases: dict[str, float]) -> Failure:
    received = len(rtts)
    loss = 1.0 - received / endpoint.count
    phases["loss_ratio"] = loss
    if received:
        values = list(rtts.values())
        phases.update(rtt_min=min(values), rtt_avg=sum(values) / received, rtt_max=max(values))
    what = f"{received} of {endpoint.count} echo replies from {address}"
    if not received:
        within = f"within {endpoint.timeout:g}s"
        return Outcome.TIMEOUT, f"no echo reply from {address} to {endpoint.count} requests {within}"
    if loss > endpoint.max_loss:
        return Outcome.PACKET_LOSS, f"{what} ({loss:.0%} lost, more than max_loss {endpoint.max_loss:.0%})"
    if endpoint.max_rtt is not None and phases["rtt_avg"] > endpoint.max_rtt:
        avg, limit = phases["rtt_avg"] * 1000, endpoint.max_rtt * 1000
        return Outcome.ASSERTION_FAILED, f"average round trip {avg:.1f} ms to {address}, more than max_rtt {limit:g} ms"
    return Outcome.SUCCESS, ""


def _rtts(result: ProbeResult) -> dict[str, float]:
    return {key[4:]: value for key, value in result.phases.items() if key.startswith("rtt_")}


def _loss(result: ProbeResult) -> dict[str, float]:
    loss = result.phases.get("loss_ratio")
    return {} if loss is None else {"": loss}


KIND = ProbeKind(
    name="icmp",
    model=IcmpEndpoint,
    probe=probe,
    target=lambda shown: shown("host") or "",
    outcomes=frozenset({Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.PACKET_LOSS, Outcome.ASSERTION_FAILED,
                        Outcome.DNS_ERROR, Outcome.CONNECTION_REFUSED, Outcome.ERROR}),
    weight=lambda endpoint: 0.2 + 0.2 * endpoint.count,  # count 1: 0.38 of a plain HTTP probe (benchmarks)
    gauges=(
        KindGauge("slowatch_probe_icmp_rtt_seconds", "Round-trip times of the last ICMP probe (min, avg, max)", "stat",
                  _rtts),
        KindGauge("slowatch_probe_icmp_packet_loss_ratio", "Share of echo requests of the last ICMP probe unanswered",
                  None, _loss),
    ),
)  # fmt: skip

__all__ = ["KIND", "IcmpNotPermitted", "Opener", "echo_request", "open_icmp_socket", "parse_reply", "probe"]

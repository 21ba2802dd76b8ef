"""DNS probe: one query (recursion desired) to the configured nameserver, or to the system's nameservers
from /etc/resolv.conf in turn. Names are queried as absolute names (no search domains).

Outcomes: an rcode other than the expected one, or an empty answer where NOERROR was expected, is
`dns_error`; answers that differ from `expect.answers` / `expect.contains` are `assertion_failed`;
no answer in time is `timeout`; a reply to the query that does not parse is `protocol_error`; a TCP
connection the server closes before the whole reply is `connection_reset`.

Over UDP, like a stub resolver, a datagram that is not the reply (from another address or port, with
another id, or for another question: spoofed, or late from an earlier query) is ignored and the probe
keeps waiting for the real one; if none comes, the `timeout` message says how many were ignored.
A datagram with the query's id that does not parse is `protocol_error` (over TCP, on our own
connection, any mismatch is).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver

from slowatch.config.endpoints import DnsEndpoint, split_hostport
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.failures import Failure, classify, show
from slowatch.probes.kind import TRANSPORT_OUTCOMES, ProbeKind
from slowatch.probes.net import getaddrinfo
from slowatch.redact import Shown, join_host_port

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext

HEADER = 12  # bytes of a DNS header: a shorter datagram cannot be a reply
QUEUED = 64  # datagrams held unread at most; more are dropped (and counted as ignored)


@dataclass(slots=True)
class Ignored:
    """Datagrams that were not the reply to the query, over all servers asked."""

    count: int = 0

    def note(self) -> str:
        n = self.count
        return f"; ignored {n} {'reply' if n == 1 else 'replies'} not matching the query (id, question or source)"


async def probe(endpoint: DnsEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    phases: dict[str, float] = {}
    where = endpoint.nameserver or "system nameservers"
    ignored = Ignored()
    try:
        async with asyncio.timeout(endpoint.timeout):
            servers = await _nameservers(endpoint)
            where = ", ".join(join_host_port(host, port) for host, port in servers)
            t = ctx.clock.monotonic()
            response = await _ask(endpoint, servers, ignored)
            phases["resolve"] = ctx.clock.monotonic() - t
        outcome, message = judge(endpoint, response)
    except TimeoutError:
        outcome, message = Outcome.TIMEOUT, f"no answer from {where} within {endpoint.timeout:g}s"
        if ignored.count:
            message += ignored.note()
    except dns.exception.DNSException as exc:  # malformed or mismatched reply
        outcome, message = Outcome.PROTOCOL_ERROR, f"bad DNS reply from {where}: {type(exc).__name__}"
    except EOFError as exc:  # dnspython's end of a TCP stream; args: the server that closed (see _ask)
        outcome, message = Outcome.CONNECTION_RESET, f"{exc} closed the TCP connection without a complete reply"
    except OSError as exc:
        outcome, message = classify(exc, where, endpoint.timeout)
    return ProbeResult(
        endpoint=endpoint.name,
        kind="dns",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
        phases=phases,
    )


async def _nameservers(endpoint: DnsEndpoint) -> list[tuple[str, int]]:
    if endpoint.nameserver is not None:
        host, port = split_hostport(endpoint.nameserver, 53)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            infos = await getaddrinfo(host, port)
            host = str(infos[0][4][0])
        return [(host, port)]
    system = dns.resolver.Resolver(configure=True)
    servers = [(ns, system.port) for ns in system.nameservers if isinstance(ns, str)]
    if not servers:
        raise OSError("no nameservers in the system resolver configuration")
    return servers


async def _ask(endpoint: DnsEndpoint, servers: list[tuple[str, int]], ignored: Ignored) -> dns.message.Message:
    """Ask each server in turn (the first to answer wins); the overall timeout bounds it all."""
    query = dns.message.make_query(dns.name.from_text(endpoint.query), endpoint.record_type)
    share = endpoint.timeout / len(servers)
    last: Exception = TimeoutError()
    for host, port in servers:
        try:
            if endpoint.transport == "tcp":
                return await dns.asyncquery.tcp(query, host, timeout=share, port=port)
            async with asyncio.timeout(share):
                response = await _udp(query, host, port, ignored)
            if response is not None:
                return response
            return await dns.asyncquery.tcp(query, host, timeout=share, port=port)  # truncated: ask again over TCP
        except (TimeoutError, dns.exception.Timeout):
            last = TimeoutError()
        except EOFError:  # TCP (or a truncated UDP answer's TCP retry) closed before the whole reply
            last = EOFError(join_host_port(host, port))
        except OSError as exc:
            last = exc
    raise last


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any] | OSError] = asyncio.Queue(QUEUED)
        self.dropped = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            self.queue.put_nowait((data, addr))
        except asyncio.QueueFull:
            self.dropped += 1

    def error_received(self, exc: Exception) -> None:  # an ICMP error, where the OS reports one
        if isinstance(exc, OSError) and not self.queue.full():
            self.queue.put_nowait(exc)


async def _udp(query: dns.message.Message, host: str, port: int, ignored: Ignored) -> dns.message.Message | None:
    """Send `query` and wait for its reply, ignoring other datagrams; None: the reply is truncated."""
    wire = query.to_wire()
    server = ipaddress.ip_address(host)
    family = socket.AF_INET6 if server.version == 6 else socket.AF_INET
    loop = asyncio.get_running_loop()
    # Connected, as a stub resolver's: the kernel then drops datagrams from any other address or port, and an
    # ICMP port unreachable (nothing listens there) comes back as ECONNREFUSED at once instead of a timeout.
    transport, datagrams = await loop.create_datagram_endpoint(_Datagrams, family=family, remote_addr=(host, port))
    try:
        transport.sendto(wire)
        while True:
            got = await datagrams.queue.get()
            if isinstance(got, OSError):
                raise got
            data, addr = got
            if not _from(addr, server, port) or len(data) < HEADER or data[:2] != wire[:2]:
                ignored.count += 1
                continue
            try:  # the id matches: a reply that does not parse is the server's (protocol_error)
                response = dns.message.from_wire(data, raise_on_truncation=True)
            except dns.message.Truncated as exc:
                if query.is_response(exc.message()):  # type: ignore[no-untyped-call]
                    return None
                ignored.count += 1
                continue
            if query.is_response(response):
                return response
            ignored.count += 1
    finally:
        ignored.count += datagrams.dropped
        transport.close()


def _from(addr: Any, server: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
    try:
        return bool(addr[1] == port and ipaddress.ip_address(addr[0]) == server)
    except (ValueError, IndexError, TypeError):
        return False


def _normalize(text: str) -> str:
    """Lower case, no trailing dots, and an address in its canonical form (`2001:db8:0:0::1` is `2001:db8::1`)."""
    return " ".join(_canonical(token.rstrip(".")) for token in text.lower().split())


def _canonical(token: str) -> str:
    if ":" not in token:  # only IPv6 has several spellings (Python refuses IPv4 with leading zeros)
        return token
    try:
        return str(ipaddress.IPv6Address(token))
    except ValueError:
        return token


def _answer_text(rdata: dns.rdata.Rdata) -> str:
    strings = getattr(rdata, "strings", None)
    if isinstance(strings, tuple):  # TXT: the character-strings joined, without quotes
        return b"".join(strings).decode("utf-8", errors="replace")
    return rdata.to_text()


def answers(endpoint: DnsEndpoint, response: dns.message.Message) -> list[str]:
    """The answer rdata of the asked type (after any CNAME chain), as text."""
    rdtype = dns.rdatatype.from_text(endpoint.record_type)
    return [_answer_text(rd) for rrset in response.answer if rrset.rdtype == rdtype for rd in rrset]


def judge(endpoint: DnsEndpoint, response: dns.message.Message) -> Failure:
    expect = endpoint.expect
    rcode = dns.rcode.to_text(response.rcode())
    what = f"{endpoint.query} {endpoint.record_type}"
    if rcode != expect.rcode:
        return Outcome.DNS_ERROR, f"{rcode} for {what}, expected {expect.rcode}"
    if rcode != "NOERROR":
        return Outcome.SUCCESS, ""
    got = answers(endpoint, response)
    if not got and expect.answers != []:
        return Outcome.DNS_ERROR, f"no {endpoint.record_type} records for {endpoint.query}"
    normalized = {_normalize(a) for a in got}
    if expect.answers is not None and normalized != {_normalize(a) for a in expect.answers}:
        return Outcome.ASSERTION_FAILED, f"{what} answers were {show(sorted(got))}, expected {show(expect.answers)}"
    for wanted in expect.contains or []:
        if _normalize(wanted) not in normalized:
            return Outcome.ASSERTION_FAILED, f"{what} answers {show(sorted(got))} do not include {show(wanted)}"
    return Outcome.SUCCESS, ""


def _target(shown: Shown) -> str:
    server = shown("nameserver")
    return f"{shown('query')} {shown('record_type')}" + (f" @{server}" if server else "")


KIND = ProbeKind(
    name="dns",
    model=DnsEndpoint,
    probe=probe,
    target=_target,
    outcomes=TRANSPORT_OUTCOMES | {Outcome.ASSERTION_FAILED, Outcome.PROTOCOL_ERROR},
    weight=lambda endpoint: 0.5,
)


__all__ = ["KIND", "answers", "judge", "probe"]

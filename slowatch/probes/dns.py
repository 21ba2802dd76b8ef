"""DNS probe: one query (recursion desired) to the configured nameserver, or to the system's nameservers
from /etc/resolv.conf in turn. Names are queried as absolute names (no search domains).

Outcomes: an rcode other than the expected one, or an empty answer where NOERROR was expected, is
`dns_error`; answers that differ from `expect.answers` / `expect.contains` are `assertion_failed`;
no answer in time is `timeout`; an unparseable reply is `protocol_error`; a TCP connection the server
closes before the whole reply is `connection_reset`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import TYPE_CHECKING

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
from slowatch.redact import Shown

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext


async def probe(endpoint: DnsEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    phases: dict[str, float] = {}
    where = endpoint.nameserver or "system nameservers"
    try:
        async with asyncio.timeout(endpoint.timeout):
            servers = await _nameservers(endpoint)
            where = ", ".join(f"{host}:{port}" for host, port in servers)
            t = ctx.clock.monotonic()
            response = await _ask(endpoint, servers)
            phases["resolve"] = ctx.clock.monotonic() - t
        outcome, message = judge(endpoint, response)
    except TimeoutError:
        outcome, message = Outcome.TIMEOUT, f"no answer from {where} within {endpoint.timeout:g}s"
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
            infos = await asyncio.get_running_loop().getaddrinfo(host, port)
            host = str(infos[0][4][0])
        return [(host, port)]
    system = dns.resolver.Resolver(configure=True)
    servers = [(ns, system.port) for ns in system.nameservers if isinstance(ns, str)]
    if not servers:
        raise OSError("no nameservers in the system resolver configuration")
    return servers


async def _ask(endpoint: DnsEndpoint, servers: list[tuple[str, int]]) -> dns.message.Message:
    """Ask each server in turn (the first to answer wins); the overall timeout bounds it all."""
    query = dns.message.make_query(dns.name.from_text(endpoint.query), endpoint.record_type)
    share = endpoint.timeout / len(servers)
    last: Exception = TimeoutError()
    for host, port in servers:
        try:
            if endpoint.transport == "tcp":
                return await dns.asyncquery.tcp(query, host, timeout=share, port=port)
            response, _ = await dns.asyncquery.udp_with_fallback(query, host, timeout=share, port=port)
            return response
        except dns.exception.Timeout:
            last = TimeoutError()
        except EOFError:  # TCP (or a truncated UDP answer's TCP retry) closed before the whole reply
            last = EOFError(f"{host}:{port}")
        except OSError as exc:
            last = exc
    raise last


def _normalize(text: str) -> str:
    return " ".join(token.rstrip(".") for token in text.lower().split())


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

"""The dns probe against a loopback dnslib server: answers, rcodes, silence, junk, truncation."""

from __future__ import annotations

import time
from typing import Any

import dns.resolver as resolver
import pytest

from slowatch.models import Outcome
from slowatch.probes import ProbeContext, dns
from tests.probes.conftest import MARGIN, dns_endpoint
from tests.support.dnsserver import DECOYS, DnsTarget
from tests.support.hostile import free_port


@pytest.mark.parametrize(
    ("query", "record_type", "answers"),
    [
        ("up.test", "A", ["127.0.0.11", "127.0.0.10"]),
        ("v6.test", "AAAA", ["::1"]),
        ("v6.test", "AAAA", ["0:0:0:0:0:0:0:1"]),  # the same address written in full
        ("alias.test", "CNAME", ["up.test."]),
        ("alias.test", "A", ["127.0.0.10", "127.0.0.11"]),
        ("up.test", "MX", ["10 mail.up.test"]),
        ("up.test", "TXT", ["v=spf1 -all"]),
        ("_http._tcp.up.test", "SRV", ["0 5 8080 UP.test."]),
        ("up.test.", "NS", ["ns1.up.test."]),
    ],
)
async def test_expected_answers(
    ctx: ProbeContext, dns_server: DnsTarget, query: str, record_type: str, answers: list[str]
) -> None:
    endpoint = dns_endpoint(query, dns_server.port, record_type=record_type, expect={"answers": answers})
    result = await dns.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert result.kind == "dns" and "resolve" in result.phases


async def test_wrong_answers(ctx: ProbeContext, dns_server: DnsTarget) -> None:
    exact = await dns.probe(dns_endpoint("up.test", dns_server.port, expect={"answers": ["127.0.0.10"]}), ctx)
    assert exact.outcome is Outcome.ASSERTION_FAILED
    assert exact.message == 'up.test A answers were ["127.0.0.10", "127.0.0.11"], expected ["127.0.0.10"]'
    contains = await dns.probe(dns_endpoint("up.test", dns_server.port, expect={"contains": ["10.0.0.1"]}), ctx)
    assert contains.outcome is Outcome.ASSERTION_FAILED
    assert contains.message == 'up.test A answers ["127.0.0.10", "127.0.0.11"] do not include "10.0.0.1"'
    ok = await dns.probe(dns_endpoint("up.test", dns_server.port, expect={"contains": ["127.0.0.11"]}), ctx)
    assert ok.outcome is Outcome.SUCCESS


@pytest.mark.parametrize(
    ("query", "options", "outcome", "message"),
    [
        ("nxdomain.test", {}, Outcome.DNS_ERROR, "NXDOMAIN for nxdomain.test A, expected NOERROR"),
        ("servfail.test", {}, Outcome.DNS_ERROR, "SERVFAIL for servfail.test A, expected NOERROR"),
        ("nxdomain.test", {"expect": {"rcode": "NXDOMAIN"}}, Outcome.SUCCESS, ""),
        ("up.test", {"expect": {"rcode": "NXDOMAIN"}}, Outcome.DNS_ERROR, "NOERROR for up.test A, expected NXDOMAIN"),
        ("v6.test", {}, Outcome.DNS_ERROR, "no A records for v6.test"),
        ("v6.test", {"expect": {"answers": []}}, Outcome.SUCCESS, ""),
        ("garbage.test", {}, Outcome.PROTOCOL_ERROR, "bad DNS reply from 127.0.0.1:{port}"),
    ],
)
async def test_rcodes_and_bad_replies(
    ctx: ProbeContext, dns_server: DnsTarget, query: str, options: dict[str, Any], outcome: Outcome, message: str
) -> None:
    result = await dns.probe(dns_endpoint(query, dns_server.port, **options), ctx)
    assert result.outcome is outcome
    assert result.message.startswith(message.format(port=dns_server.port)), result.message


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_silent_nameserver_times_out_in_time(ctx: ProbeContext, dns_server: DnsTarget, transport: str) -> None:
    t0 = time.monotonic()
    result = await dns.probe(dns_endpoint("timeout.test", dns_server.port, timeout=0.3, transport=transport), ctx)
    assert time.monotonic() - t0 <= 0.3 + MARGIN
    assert result.outcome is Outcome.TIMEOUT
    assert result.message == f"no answer from 127.0.0.1:{dns_server.port} within 0.3s"


@pytest.mark.parametrize("decoys", [(kind,) for kind in DECOYS] + [DECOYS])
async def test_replies_not_matching_the_query_are_ignored_and_the_right_one_still_counts(
    ctx: ProbeContext, dns_server: DnsTarget, decoys: tuple[str, ...]
) -> None:
    """Another id or question, another source port, junk: spoofed or stale. A resolver keeps waiting."""
    dns_server.decoys["up.test."] = decoys
    endpoint = dns_endpoint("up.test", dns_server.port, expect={"answers": ["127.0.0.10", "127.0.0.11"]})
    result = await dns.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert list(dns_server.queries) == [("udp", "up.test.", "A")]  # a truncated decoy is no reason to ask over TCP


# (a reply from another port never reaches the probe's connected socket: the kernel drops it, uncounted)
@pytest.mark.parametrize(("decoys", "ignored"), [(("id",), "1 reply"), (DECOYS, f"{len(DECOYS) - 1} replies")])
async def test_only_mismatched_replies_until_the_deadline_is_a_timeout_that_counts_them(
    ctx: ProbeContext, dns_server: DnsTarget, decoys: tuple[str, ...], ignored: str
) -> None:
    dns_server.decoys["up.test."] = decoys
    dns_server.silent.add("up.test.")
    result = await dns.probe(dns_endpoint("up.test", dns_server.port, timeout=0.3), ctx)
    assert (result.outcome, result.message) == (
        Outcome.TIMEOUT,
        f"no answer from 127.0.0.1:{dns_server.port} within 0.3s; "
        f"ignored {ignored} not matching the query (id, question or source)",
    )
    assert 0.3 - MARGIN / 10 <= result.duration <= 0.3 + MARGIN


async def test_tcp_transport_is_used(ctx: ProbeContext, dns_server: DnsTarget) -> None:
    result = await dns.probe(dns_endpoint("up.test", dns_server.port, transport="tcp"), ctx)
    assert result.outcome is Outcome.SUCCESS
    assert list(dns_server.queries) == [("tcp", "up.test.", "A")]


async def test_truncated_udp_answer_falls_back_to_tcp(ctx: ProbeContext, dns_server: DnsTarget) -> None:
    result = await dns.probe(dns_endpoint("big.test", dns_server.port, expect={"contains": ["10.0.0.99"]}), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert [q[0] for q in dns_server.queries] == ["udp", "tcp"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])  # udp: the truncated answer's TCP retry is closed
async def test_a_nameserver_closing_the_tcp_connection_is_a_reset(
    ctx: ProbeContext, dns_server: DnsTarget, transport: str
) -> None:
    result = await dns.probe(dns_endpoint("close.test", dns_server.port, transport=transport), ctx)
    assert (result.outcome, result.message) == (
        Outcome.CONNECTION_RESET,
        f"127.0.0.1:{dns_server.port} closed the TCP connection without a complete reply",
    )
    assert result.duration < 0.5


async def test_nameserver_given_by_name(ctx: ProbeContext, dns_server: DnsTarget) -> None:
    endpoint = dns_endpoint("up.test", dns_server.port, nameserver=f"localhost:{dns_server.port}")
    result = await dns.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message


async def test_nothing_listening(ctx: ProbeContext) -> None:
    port = free_port()
    tcp = await dns.probe(dns_endpoint("up.test", port, transport="tcp", timeout=0.3), ctx)
    assert (tcp.outcome, tcp.message) == (Outcome.CONNECTION_REFUSED, f"connection refused by 127.0.0.1:{port}")
    udp = await dns.probe(dns_endpoint("up.test", port, timeout=3), ctx)
    # a connected UDP socket gets the ICMP port unreachable: refused at once, not silence until the timeout
    assert (udp.outcome, udp.message) == (Outcome.CONNECTION_REFUSED, f"connection refused by 127.0.0.1:{port}")
    assert udp.duration < 1


async def test_system_nameservers_are_tried_in_turn(
    ctx: ProbeContext, dns_server: DnsTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `nameserver`, /etc/resolv.conf's servers are asked in order, each with a share of the timeout."""

    class Configured(resolver.Resolver):
        def __init__(self, configure: bool = True) -> None:
            super().__init__(configure=False)
            self.nameservers = ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2
            self.port = dns_server.port

    monkeypatch.setattr(resolver, "Resolver", Configured)
    endpoint = dns_endpoint("up.test", dns_server.port, nameserver=None, timeout=0.6)
    t0 = time.monotonic()
    result = await dns.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    # nothing listens on 127.0.0.2: refused at once, so 127.0.0.1 is asked without waiting out its share (0.3 s)
    assert time.monotonic() - t0 < 0.3

"""`kind: icmp` to 127.0.0.1 over real sockets (raw here: tests run as root and `ping_group_range = 1 0`).

Unanswered and partly answered requests come from a kernel socket filter (BPF) on the real socket that
drops every reply or all but the first; "not permitted" from a subprocess that gives up root."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from slowatch.config.endpoints import IcmpEndpoint
from slowatch.config.schema import MetricsConfig
from slowatch.metrics import ProbeMetrics, render_metrics
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, icmp, probe_once
from slowatch.probes.registry import describe_target
from tests.support.icmpfilter import DROP_ALL, ONLY_SEQ_0, filtered

ROOT = Path(__file__).resolve().parents[2]


def icmp_endpoint(**options: Any) -> IcmpEndpoint:
    data = {"kind": "icmp", "name": "t", "interval": 10, "timeout": 1, "host": "127.0.0.1", "spacing": 0.02}
    return IcmpEndpoint.model_validate({**data, **options})


needs_icmp = pytest.mark.skipif(os.geteuid() != 0, reason="ICMP sockets need root here (ping_group_range = 1 0)")


@needs_icmp
async def test_echo_to_loopback(ctx: ProbeContext) -> None:
    result = await probe_once(icmp_endpoint(count=3, payload_size=100), ctx)
    assert (result.outcome, result.message) == (Outcome.SUCCESS, "")
    assert result.phases["loss_ratio"] == 0.0
    assert 0 < result.phases["rtt_min"] <= result.phases["rtt_avg"] <= result.phases["rtt_max"] < 0.5


@needs_icmp
async def test_no_reply_is_a_timeout(ctx: ProbeContext) -> None:
    ep = icmp_endpoint(count=2, timeout=0.3)
    result = await icmp.probe(ep, ctx, opener=filtered(*DROP_ALL))
    assert (result.outcome, result.message) == (
        Outcome.TIMEOUT, "no echo reply from 127.0.0.1 to 2 requests within 0.3s"
    )  # fmt: skip
    assert result.phases == {"loss_ratio": 1.0} and 0.28 < result.duration < 0.6


@needs_icmp
async def test_partial_loss_against_the_threshold(ctx: ProbeContext) -> None:
    result = await icmp.probe(icmp_endpoint(count=4, max_loss=0.5, timeout=0.4), ctx, opener=filtered(*ONLY_SEQ_0))
    assert (result.outcome, result.message) == (
        Outcome.PACKET_LOSS, "1 of 4 echo replies from 127.0.0.1 (75% lost, more than max_loss 50%)"
    )  # fmt: skip
    assert result.phases["loss_ratio"] == 0.75 and "rtt_avg" in result.phases
    tolerant = await icmp.probe(icmp_endpoint(count=4, max_loss=0.8, timeout=0.4), ctx, opener=filtered(*ONLY_SEQ_0))
    assert tolerant.outcome is Outcome.SUCCESS


@needs_icmp
async def test_rtt_threshold(ctx: ProbeContext) -> None:
    result = await probe_once(icmp_endpoint(max_rtt=0.000001), ctx)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.message.startswith("average round trip ") and result.message.endswith("more than max_rtt 0.001 ms")


async def test_an_unresolvable_host_is_a_dns_error(ctx: ProbeContext) -> None:
    result = await probe_once(icmp_endpoint(host="nowhere.invalid"), ctx)
    assert result.outcome is Outcome.DNS_ERROR


@needs_icmp
def test_without_privileges_the_probe_says_what_to_change() -> None:
    """In a process that gave up root: neither socket may be opened, and the probe returns an `error`."""
    script = textwrap.dedent("""
        import asyncio, concurrent.futures.thread, json, os
        from slowatch.clock import SystemClock
        from slowatch.config.endpoints import IcmpEndpoint
        from slowatch.probes import ProbeContext, icmp, make_session
        os.setgroups([]); os.setgid(65534); os.setuid(65534)  # nobody: no capabilities left
        async def main():
            ep = IcmpEndpoint.model_validate({"kind": "icmp", "name": "t", "interval": 10, "timeout": 1,
                                              "host": "127.0.0.1"})
            async with make_session() as session:
                return await icmp.probe(ep, ProbeContext(session=session, clock=SystemClock()))
        r = asyncio.run(main())
        print(json.dumps([r.outcome.value, r.message]))
    """)
    proc = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True,
                          timeout=30, cwd=ROOT, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    outcome, message = json.loads(proc.stdout)
    assert outcome == "error"
    assert message.startswith("ICMP not permitted: net.ipv4.ping_group_range is 1-0, gid 65534 is not in it")
    assert "CAP_NET_RAW" in message


def test_packets() -> None:
    request = icmp.echo_request(socket.AF_INET, 0x1234, 7, b"abcdefgh")
    assert icmp.checksum(request) == 0  # a correct checksum sums to zero
    reply = bytes([0]) + request[1:]
    assert icmp.parse_reply(socket.AF_INET, reply, raw=False) == (0x1234, 7)
    assert icmp.parse_reply(socket.AF_INET, request, raw=False) is None  # our own request seen on loopback
    ip_header = bytes([0x45]) + bytes(19)
    assert icmp.parse_reply(socket.AF_INET, ip_header + reply, raw=True) == (0x1234, 7)


def test_config_target_and_metrics() -> None:
    ep = icmp_endpoint()
    assert describe_target(ep) == "127.0.0.1"
    with pytest.raises(ValueError, match="take longer than the timeout"):
        icmp_endpoint(count=20, spacing=0.1, timeout=1)
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry, MetricsConfig())
    metrics.set_endpoints([ep])
    from slowatch.models import ProbeResult

    phases = {"loss_ratio": 0.25, "rtt_min": 0.001, "rtt_avg": 0.002, "rtt_max": 0.004}
    metrics.observe(ProbeResult("t", "icmp", Outcome.SUCCESS, 1.7e9, 0.1, phases=phases))
    text = render_metrics(registry, "")[0].decode()
    assert 'slowatch_probe_icmp_rtt_seconds{endpoint="t",stat="avg"} 0.002\n' in text
    assert 'slowatch_probe_icmp_packet_loss_ratio{endpoint="t"} 0.25\n' in text
    assert "slowatch_probe_http_status_code" not in text.split("# TYPE slowatch_probe_http_status_code gauge\n")[1][:40]

"""Run 1,000 failing probes of every kind against hostile targets and report open file descriptors and
RSS after the first 100 and after all 1,000, as JSON on stdout.

Run in a fresh interpreter (`python -m tests.support.leakcheck`) so the numbers are not blurred by what
earlier tests left on the heap. The targets live in the same process; measurements wait until they have
seen every client go away.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
from collections.abc import Awaitable
from pathlib import Path

from slowatch.clock import SystemClock
from slowatch.config.endpoints import Endpoint, GrpcEndpoint, IcmpEndpoint, TransactionEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes import ProbeContext, icmp, make_session, probe_once
from tests.support.certs import make_certs
from tests.support.dnsserver import DnsTarget
from tests.support.endpoints import dns_endpoint, http_endpoint, tcp_endpoint, tls_endpoint
from tests.support.grpcserver import GrpcTarget
from tests.support.hostile import HostileHttp, TcpTarget, free_port, hang
from tests.support.icmpfilter import DROP_ALL, filtered

_BASE = {"name": "t", "interval": 10, "timeout": 0.2}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def new_kind_endpoints(http_port: int, grpc_hang: int, grpc_huge: int) -> list[Endpoint]:
    """A transaction step that hangs, one that is refused; a gRPC server that accepts and never answers, one
    refused, one with a reply over max_message_size; ICMP to an address that does not answer (as root)."""
    refused = free_port()
    base = f"http://127.0.0.1:{http_port}"
    hanging = [
        {"name": "ok", "url": f"{base}/ok", "extract": {"v": {"regex": "o"}}},
        {"name": "stuck", "url": f"{base}/hang?v={{{{steps.ok.v}}}}"},
    ]
    found: list[Endpoint] = [
        TransactionEndpoint.model_validate({**_BASE, "kind": "transaction", "steps": hanging}),
        TransactionEndpoint.model_validate(
            {**_BASE, "kind": "transaction", "steps": [{"name": "a", "url": f"http://127.0.0.1:{refused}/"}]}
        ),
        GrpcEndpoint.model_validate({**_BASE, "kind": "grpc", "host": "127.0.0.1", "port": grpc_hang}),
        GrpcEndpoint.model_validate({**_BASE, "kind": "grpc", "host": "127.0.0.1", "port": refused}),
        GrpcEndpoint.model_validate(
            {**_BASE, "kind": "grpc", "host": "127.0.0.1", "port": grpc_huge, "max_message_size": "64KiB"}
        ),
    ]
    if os.geteuid() == 0:  # replies dropped by a socket filter (see `one` in `run`)
        found.append(IcmpEndpoint.model_validate({**_BASE, "kind": "icmp", "host": "127.0.0.1", "count": 2,
                                                  "spacing": 0.05}))  # fmt: skip
    return found


def failing_endpoints(http_port: int, tls_port: int, dns_port: int, ca_file: str) -> list[Endpoint]:
    refused = free_port()
    base = f"http://127.0.0.1:{http_port}"
    return [
        http_endpoint(f"http://127.0.0.1:{refused}/", timeout=0.2),
        http_endpoint(f"{base}/hang", timeout=0.2),
        http_endpoint(f"{base}/reset", timeout=0.2),
        http_endpoint(f"{base}/garbage", timeout=0.2),
        http_endpoint(f"{base}/close", timeout=0.2),
        http_endpoint(f"{base}/huge", timeout=0.2, max_body_size="16KiB"),
        http_endpoint(f"{base}/huge-chunked", timeout=0.2, max_body_size="16KiB"),
        http_endpoint(f"{base}/status/500", timeout=0.2),
        http_endpoint(f"https://127.0.0.1:{tls_port}/", timeout=0.2, tls={"ca_file": ca_file}),
        tls_endpoint(tls_port, timeout=0.2, ca_file=ca_file),
        tcp_endpoint(http_port, timeout=0.2, expect={"contains": "never"}),
        tcp_endpoint(refused, timeout=0.2),
        dns_endpoint("timeout.test", dns_port, timeout=0.2),
        dns_endpoint("servfail.test", dns_port, timeout=0.2, transport="tcp"),
    ]


async def run(total: int = 1000, batch: int = 100) -> dict[str, object]:
    certs = make_certs(Path(tempfile.mkdtemp(prefix="slowatch-leakcheck-")))
    http_target = await TcpTarget(HostileHttp()).start()
    tls_target = await TcpTarget(hang, certs.server_context("expired")).start()
    dns_target = await DnsTarget().start()
    grpc_hang = await TcpTarget(hang).start()
    grpc_huge = await GrpcTarget(huge=1 << 20).start()
    endpoints = failing_endpoints(http_target.port, tls_target.port, dns_target.port, str(certs.ca_file))
    endpoints += new_kind_endpoints(http_target.port, grpc_hang.port, grpc_huge.port)
    drop_all = filtered(*DROP_ALL)

    def one(ep: Endpoint, ctx: ProbeContext) -> Awaitable[ProbeResult]:
        return icmp.probe(ep, ctx, opener=drop_all) if isinstance(ep, IcmpEndpoint) else probe_once(ep, ctx)

    outcomes: dict[str, int] = {}
    measured: list[tuple[int, int]] = []
    try:
        async with make_session() as session:
            ctx = ProbeContext(session=session, clock=SystemClock())
            for start in range(0, total, batch):
                probes = (one(endpoints[i % len(endpoints)], ctx) for i in range(start, start + batch))
                for result in await asyncio.gather(*probes):
                    outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
                await http_target.idle()
                await tls_target.idle()
                await grpc_hang.idle()
                await asyncio.sleep(0.05)
                gc.collect()
                measured.append((open_fds(), rss_bytes()))
    finally:
        await http_target.close()
        await tls_target.close()
        await dns_target.close()
        await grpc_hang.close()
        await grpc_huge.close()
    return {
        "fds_100": measured[0][0],
        "fds_1000": measured[-1][0],
        "rss_100": measured[0][1],
        "rss_1000": measured[-1][1],
        "rss_trail_kib": [rss >> 10 for _, rss in measured],
        "outcomes": outcomes,
        "successes": outcomes.get(Outcome.SUCCESS.value, 0),
    }


def main() -> None:
    print(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    main()

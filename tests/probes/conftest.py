"""Fixtures: the daemon's real session and context, hostile HTTP/TCP/TLS targets and a DNS server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import SystemClock
from slowatch.probes import ProbeContext, make_session
from tests.support.certs import CertSet, make_certs
from tests.support.dnsserver import DnsTarget
from tests.support.endpoints import dns_endpoint, http_endpoint, tcp_endpoint, tls_endpoint
from tests.support.hostile import HostileHttp, TcpTarget

MARGIN = 0.35
"""Seconds a failing probe may take beyond its timeout (scheduling on a shared 2-core machine)."""

__all__ = ["MARGIN", "dns_endpoint", "http_endpoint", "tcp_endpoint", "tls_endpoint"]


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with make_session() as session:
        yield ProbeContext(session=session, clock=SystemClock())


@pytest.fixture
async def hostile() -> AsyncIterator[TcpTarget]:
    """HostileHttp on a random loopback port; `hostile.port`, routes by path."""
    target = await TcpTarget(HostileHttp()).start()
    yield target
    await target.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    """`await serve(handler, ssl_context=None)` -> a started TcpTarget, closed after the test."""
    started: list[TcpTarget] = []

    async def start(handler: Any, ssl_context: Any = None) -> TcpTarget:
        target = await TcpTarget(handler, ssl_context).start()
        started.append(target)
        return target

    yield start
    for target in started:
        await target.close()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_certs(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsTarget]:
    target = await DnsTarget().start()
    yield target
    await target.close()

"""PhaseRecorder bookkeeping (with a FakeClock) and the session's tracing left alone by other requests."""

from __future__ import annotations

from typing import Any

import pytest

from slowatch.clock import FakeClock
from slowatch.probes import ProbeContext
from slowatch.probes.tracing import PhaseRecorder
from tests.support.hostile import TcpTarget


class FakeTransport:
    def __init__(self, ssl_object: Any) -> None:
        self.ssl_object = ssl_object

    def get_extra_info(self, name: str) -> Any:
        return self.ssl_object if name == "ssl_object" else None


class FakeProtocol:
    def __init__(self, ssl_object: Any = None) -> None:
        self.transport = FakeTransport(ssl_object)


def test_resolve_is_not_counted_in_connect_and_tls_is_split_off() -> None:
    clock = FakeClock()
    rec = PhaseRecorder(clock)
    rec.start("connect")
    rec.start("resolve")
    clock.advance(0.010)
    rec.resolved()
    clock.advance(0.020)
    rec.tcp_connected(FakeProtocol(ssl_object=object()))  # type: ignore[arg-type]
    clock.advance(0.030)
    rec.connection_ready()
    rec.start("processing")
    clock.advance(0.040)
    rec.stop("processing")
    assert rec.phases == pytest.approx(
        {"resolve": 0.010, "connect": 0.020, "tls": 0.030, "processing": 0.040}, abs=1e-6
    )


def test_plain_connection_has_no_tls_phase_and_hops_add_up() -> None:
    clock = FakeClock()
    rec = PhaseRecorder(clock)
    for _ in range(2):  # a redirect: two connections
        rec.start("connect")
        clock.advance(0.005)
        rec.tcp_connected(FakeProtocol())  # type: ignore[arg-type]
        clock.advance(0.001)
        rec.connection_ready()
    assert rec.phases == pytest.approx({"connect": 0.010}, abs=1e-6)
    assert rec.cert_expiry is None


def test_without_the_connector_hook_tls_stays_in_connect() -> None:
    clock = FakeClock()
    rec = PhaseRecorder(clock)
    rec.start("connect")
    clock.advance(0.05)
    rec.connection_ready()
    assert rec.phases == pytest.approx({"connect": 0.05}, abs=1e-6)


async def test_requests_without_a_recorder_pass_through(ctx: ProbeContext, hostile: TcpTarget) -> None:
    async with ctx.session.get(f"http://127.0.0.1:{hostile.port}/ok") as resp:
        assert resp.status == 200
        assert await resp.read() == b"ok"

"""probe_once / run_probe: the safety net and retries around every probe kind; the registry."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from slowatch.config.endpoints import HttpEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes import ProbeContext, probe_once, run_probe
from slowatch.probes.registry import KINDS
from tests.probes.conftest import http_endpoint
from tests.support.hostile import TcpTarget


def test_registry_has_every_kind() -> None:
    """The kinds every release has had (a new kind adds to the registry, nothing here)."""
    assert {"dns", "grpc", "http", "icmp", "tcp", "tls", "transaction"} <= set(KINDS)
    assert all(name == kind.name for name, kind in KINDS.items())


async def test_a_probe_bug_becomes_an_error_result(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(endpoint: HttpEndpoint, ctx: ProbeContext) -> ProbeResult:
        raise KeyError("oops")

    monkeypatch.setitem(KINDS, "http", replace(KINDS["http"], probe=broken))
    result = await probe_once(http_endpoint("http://127.0.0.1:9/"), ctx)
    assert (result.outcome, result.message) == (Outcome.ERROR, "KeyError: 'oops'")
    assert "probe raised endpoint=t kind=http" in caplog.text


async def test_a_probe_overrunning_its_timeout_is_cut_off(ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    async def stuck(endpoint: HttpEndpoint, ctx: ProbeContext) -> ProbeResult:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    monkeypatch.setitem(KINDS, "http", replace(KINDS["http"], probe=stuck))
    t0 = time.monotonic()
    result = await probe_once(http_endpoint("http://127.0.0.1:9/", timeout=0.1), ctx)
    assert (result.outcome, result.message) == (Outcome.TIMEOUT, "no answer within 0.1s")
    assert time.monotonic() - t0 < 1.1 + 0.3


async def test_retries_report_every_attempt_and_only_the_last_is_final(ctx: ProbeContext, hostile: TcpTarget) -> None:
    seen: list[ProbeResult] = []
    endpoint = http_endpoint(f"http://127.0.0.1:{hostile.port}/status/503", retries=2, retry_delay=0.01)
    final = await run_probe(endpoint, ctx, seen.append)
    assert [(r.attempt, r.final) for r in seen] == [(1, False), (2, False), (3, True)]
    assert final is seen[-1] and final.outcome is Outcome.HTTP_STATUS


async def test_success_stops_retrying(ctx: ProbeContext, hostile: TcpTarget) -> None:
    seen: list[Any] = []
    await run_probe(http_endpoint(f"http://127.0.0.1:{hostile.port}/ok", retries=3), ctx, seen.append)
    assert [(r.attempt, r.final, r.ok) for r in seen] == [(1, True, True)]


async def test_an_attempt_cut_short_by_a_stalled_process_is_made_again(ctx: ProbeContext, aiohttp_server: Any) -> None:
    from aiohttp import web

    calls = 0

    async def slow_once(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(30)  # in flight while the process is "stopped"
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow_once)
    server = await aiohttp_server(app)
    seen: list[ProbeResult] = []
    probing = asyncio.create_task(run_probe(http_endpoint(f"http://127.0.0.1:{server.port}/", timeout=0.2), ctx,
                                            seen.append))  # fmt: skip
    while calls == 0:
        await asyncio.sleep(0.01)
    time.sleep(2.5)  # the event loop does not run, as under SIGSTOP: the 0.2 s timeout fires 2.5 s late
    result = await probing
    assert [r.outcome for r in seen] == [Outcome.SUCCESS] and result.ok  # not a timeout of the target's
    assert calls == 2

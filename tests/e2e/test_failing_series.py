"""`slowatch_probe_failing` under a real Prometheus scraping a real daemon with the generated rules.

The fleet rules read `slowatch_fleet:probe_success:down` from the sparse `slowatch_probe_failing` instead of every
`slowatch_probe_success == 0`. That is the same thing only if the failing series goes away in the very scrape that
sees the endpoint up: Prometheus marks a series missing from its target's scrape stale at once, where a series
that merely stops getting samples would linger for the 5-minute lookback (and keep a recovered endpoint "down").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.generate.fleet import PROBE_DOWN
from slowatch.generate.prometheus import render_rules
from tests.e2e.harness import DaemonProcess
from tests.e2e.promserver import PrometheusServer
from tests.e2e.test_prometheus import binary

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
DOWN = web.AppKey("down", set[str])


@pytest.fixture
async def switch() -> AsyncIterator[TestServer]:
    """/NAME answers 503 while NAME is in app[DOWN], else 200."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=503 if request.match_info["name"] in request.app[DOWN] else 200)

    app = web.Application()
    app[DOWN] = set()
    app.router.add_get("/{name}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_failing_series_and_the_down_rule_follow_success_both_ways(
    switch: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """api fails, recovers, fails again; web stays up. Whenever Prometheus has api's success as 0, it has its failing
    series (same labels, at the same instant) and the down rule records it; from the first scrape that has api up,
    the failing series is gone at that instant, and the recorded down series follows at the next evaluation."""
    path = write_config(f"""\
server: {{database: ./failing.db, jitter: 0}}
defaults: {{interval: 1s, timeout: 500ms}}
endpoints:
  - {{name: api, kind: http, url: "http://127.0.0.1:{switch.port}/api"}}
  - {{name: web, kind: http, url: "http://127.0.0.1:{switch.port}/web"}}
""")
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    prom = PrometheusServer(binary("prometheus"), tmp_path, [f"127.0.0.1:{d.port}"], render_rules(load(path, env={})))

    async def at(expr: str, ts: float) -> dict[str, float]:
        """`expr` at Prometheus time `ts`: {endpoint: value}."""
        return {i["metric"]["endpoint"]: float(i["value"][1]) for i in await prom.query_at(expr, ts)}

    async def phase(api_up: bool, timeout: float = 60) -> None:
        (switch.app[DOWN].discard if api_up else switch.app[DOWN].add)("api")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            ts = time.time() - 2  # one instant for every query, two scrapes back: every scrape before it is in
            success = await at("slowatch_probe_success", ts)
            failing = await at("slowatch_probe_failing", ts)
            labels = await prom.query_at("slowatch_probe_success == 0 or slowatch_probe_failing", ts)
            assert failing == {ep: 1.0 for ep, v in success.items() if v == 0.0}, (success, failing)
            assert len({frozenset((k, v) for k, v in i["metric"].items() if k != "__name__") for i in labels}) == len(
                failing
            ), labels  # the same label set: one series each once the name is dropped
            if success.get("api") != (1.0 if api_up else 0.0):
                continue
            down = await at(PROBE_DOWN, time.time())
            if down == ({} if api_up else {"api": 0.0}):
                return
        raise AssertionError(f"api {'up' if api_up else 'down'}: not seen within {timeout} s\n{prom.log()}")

    try:
        await asyncio.gather(d.start(), prom.start())
        for api_up in (False, True, False, True):
            await phase(api_up)
    finally:
        await prom.stop()
    assert await d.stop() == 0

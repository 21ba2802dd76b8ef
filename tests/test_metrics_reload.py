"""/metrics across a reload in a running daemon: an edited endpoint keeps its counters and leaves no
series of what it no longer has."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from slowatch.config import load
from slowatch.daemon import Daemon
from slowatch.metrics import render_metrics

STEP = "slowatch_probe_step_duration_seconds"
PROBES = "slowatch_probes_total"


def config_text(tmp_path: Path, base: str, second_step: str) -> str:
    return f"""
server: {{database: '{tmp_path / "d.db"}', metrics: {{phases: true}}}}
defaults: {{interval: 1s, timeout: 800ms}}
endpoints:
  - name: flow
    kind: transaction
    steps:
      - {{name: login, url: "{base}/ok"}}
      - {{name: {second_step}, url: "{base}/ok"}}
"""


def samples(daemon: Daemon, name: str) -> dict[str, float]:
    """`name`'s samples of endpoint flow, keyed by their step (or outcome) label."""
    text = render_metrics(daemon.registry, "")[0].decode()
    return {
        s.labels.get("step", s.labels.get("outcome", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and s.labels.get("endpoint") == "flow"
    }


async def until(daemon: Daemon, name: str, key: str, timeout: float = 10.0) -> dict[str, float]:
    deadline = asyncio.get_running_loop().time() + timeout
    while key not in (got := samples(daemon, name)):
        assert asyncio.get_running_loop().time() < deadline, f"no {name} {key} in time: {got}"
        await asyncio.sleep(0.05)
    return got


async def test_a_renamed_step_leaves_no_series_and_counters_go_on(aiohttp_server: Any, tmp_path: Path) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, base, "orders"))
    daemon = Daemon(load(path), config_path=path)
    await daemon.start(serve=False)
    try:
        assert set(await until(daemon, STEP, "orders")) == {"login", "orders"}
        before = (await until(daemon, PROBES, "success"))["success"]
        path.write_text(config_text(tmp_path, base, "basket"))
        assert await daemon.reload()
        steps = await until(daemon, STEP, "basket")
        assert set(steps) == {"login", "basket"}  # not "orders": the old step's series is gone
        assert samples(daemon, PROBES)["success"] > before  # the edited endpoint's counter was not reset
    finally:
        await daemon.stop()


def held_config(tmp_path: Path, base: str, second_step: str, workers: int) -> str:
    return f"""
server: {{database: '{tmp_path / "d.db"}', metrics: {{phases: true}}, probe_workers: {workers}}}
defaults: {{interval: 2s, timeout: 1500ms}}
endpoints:
  - name: flow
    kind: transaction
    steps:
      - {{name: login, url: "{base}/ok"}}
      - {{name: {second_step}, url: "{base}/second"}}
"""


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "prober-worker"])
async def test_a_probe_in_flight_across_the_reload_does_not_bring_the_old_step_back(
    aiohttp_server: Any, tmp_path: Path, workers: int
) -> None:
    """The probe that started before the reload (steps login, orders) answers after it: its result is counted
    (and stored), but its `orders` series does not come back, neither before nor after the new definition's
    first result. Before session 10 it came back with that result and stayed until a restart."""
    hold = asyncio.Event()  # set: the next request to /second waits for `release`
    held, release = asyncio.Event(), asyncio.Event()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def second(request: web.Request) -> web.Response:
        if hold.is_set():
            hold.clear()
            held.set()
            await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/second", second)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    path = tmp_path / "slowatch.yaml"
    path.write_text(held_config(tmp_path, base, "orders", workers))
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    await daemon.start(serve=False)
    try:
        assert set(await until(daemon, STEP, "orders")) == {"login", "orders"}
        hold.set()
        await asyncio.wait_for(held.wait(), 10.0)  # a probe of the old definition is in flight
        path.write_text(held_config(tmp_path, base, "basket", workers))
        assert await daemon.reload()
        before = sum(samples(daemon, PROBES).values())
        release.set()  # the old definition's probe finishes after the reload
        deadline = asyncio.get_running_loop().time() + 10.0
        while sum(samples(daemon, PROBES).values()) == before:  # its result is counted ...
            assert asyncio.get_running_loop().time() < deadline, "the in-flight probe's result never came"
            await asyncio.sleep(0.02)
        assert set(samples(daemon, STEP)) <= {"login", "orders"}  # ... (the series until the edit's first result)
        steps = await until(daemon, STEP, "basket")
        assert set(steps) == {"login", "basket"}  # ... but brings no "orders" back with it
        await asyncio.sleep(2.5)  # and a later result does not either
        assert set(samples(daemon, STEP)) == {"login", "basket"}
    finally:
        release.set()
        await daemon.stop()

"""/metrics across a reload in a running daemon: an edited endpoint keeps its counters and leaves no
series of what it no longer has."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

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

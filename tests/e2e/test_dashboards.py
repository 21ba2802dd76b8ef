"""Every panel query of the generated dashboards returns data from a real Prometheus that scrapes
`slowatch demo` (the shipped config against the demo platform) with the generated rules loaded."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from slowatch.config import load
from slowatch.generate.dashboards import dashboards, panel_queries
from slowatch.generate.prometheus import render_rules
from slowatch.generate.promql import BUDGET_REMAINING
from tests.e2e.harness import free_port
from tests.e2e.promserver import PrometheusServer
from tests.e2e.test_prometheus import binary

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
OWN_BUDGET = "slowatch_slo_error_budget_remaining_ratio"
ROOT = Path(__file__).resolve().parents[2]


def substitute(expr: str, consumer: str, now: float) -> str:
    """Grafana's variables as Grafana would fill them in, over a 5-minute dashboard range."""
    return (expr.replace("$consumer", consumer).replace("$__rate_interval", "1m")
            .replace("$__from", str(int((now - 300) * 1000))))  # fmt: skip


async def wait_ready(url: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            assert proc.returncode is None, log.read_text()
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(log.read_text())


async def test_every_panel_query_returns_data_from_the_demo(tmp_path: Path) -> None:
    prometheus = binary("prometheus")
    port, demo = free_port(), free_port()
    env = {**os.environ, "DEMO_HOST": f"127.0.0.1:{demo}", "DEMO_SMTP_PORT": str(demo + 25),
           "ONCALL_SLACK_WEBHOOK": f"http://127.0.0.1:{demo}/demo-slack/oncall",
           "PLATFORM_SLACK_WEBHOOK": f"http://127.0.0.1:{demo}/demo-slack/platform-feed"}  # fmt: skip
    config_path = ROOT / "config" / "slowatch.yaml"
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slowatch", "demo", "--config", str(config_path), "--listen", f"127.0.0.1:{port}",
            "--db", str(tmp_path / "demo.db"), "--demo-port", str(demo), stdout=out, stderr=out, env=env,
        )  # fmt: skip
    config = load(config_path, env=env)
    prom = PrometheusServer(prometheus, tmp_path, [f"127.0.0.1:{port}"], render_rules(config))
    try:
        # Prometheus starts while the demo does (it scrapes nothing until the demo listens)
        await asyncio.gather(wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log), prom.start())
        queries = [(uid, title, expr) for uid, doc in dashboards(config).items() for title, expr in panel_queries(doc)]
        # Budget left is recorded, as slowatch exports it, once the SLO window holds enough probes (1,000 at 99.9 %):
        # the demo's SLOs do not within 90 s, so its panels may be empty as long as slowatch's own gauge is too
        # (the wait ends once only those are left: it used to wait out the whole 90 s for them).
        empty = queries
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            now = time.time()
            empty = [q for q in empty if not await prom.query(substitute(q[2], "checkout", now))]
            own = await prom.query(OWN_BUDGET)
            if not [q for q in empty if BUDGET_REMAINING not in q[2] or own]:
                break
            await asyncio.sleep(1)
        empty = [q for q in empty if BUDGET_REMAINING not in q[2] or await prom.query(OWN_BUDGET)]
        assert not empty, "panels without data:\n" + "\n".join(f"{u}: {t}: {e}" for u, t, e in empty)
        assert len(queries) >= 20
        for doc in dashboards(config).values():  # a merged table's rows meet only on the very same labels
            for panel in (p for p in doc["panels"] if p.get("transformations")):
                now = time.time()
                keys = [
                    {frozenset(k for k in r["metric"] if k != "__name__") for r in await prom.query(expr)}
                    for expr in (substitute(t["expr"], "checkout", now) for t in panel["targets"])
                ]
                assert len(set().union(*keys)) == 1, (panel["title"], keys)
    finally:
        await prom.stop()
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()

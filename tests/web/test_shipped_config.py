"""Every GET route of the HTTP face, against the shipped config/slowatch.yaml: none may answer 500.

The shipped config selects endpoints by label (`{labels: {tier: critical}}`), which once made
`/api/v1/consumers` fail with "LabelSelector is not JSON serializable". The routes are taken from the
app's router, so a route added later is covered without editing this test.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from slowatch.config import load
from slowatch.config.consumers import resolve_endpoints
from slowatch.daemon import Daemon

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "slowatch.yaml"


@pytest.fixture
async def shipped(tmp_path: Path) -> AsyncIterator[Daemon]:
    # The demo platform is not running: every probe fails on loopback, which is the point (a fresh,
    # failing platform is where budgets read "collecting data").
    env = {"SLOWATCH_LISTEN": "127.0.0.1:0", "SLOWATCH_DB": str(tmp_path / "shipped.db"), "DEMO_SMTP_PORT": "9"}
    daemon = Daemon(load(SHIPPED, env=env))
    await daemon.start(schedule=False)
    yield daemon
    await daemon.stop()


def _paths(daemon: Daemon, app_paths: list[str]) -> list[str]:
    config = daemon.config
    consumer = next(c for c in config.consumers if any(not isinstance(r, str) for r in c.endpoints))
    values = {
        "name": config.endpoints[0].name,
        "consumer": consumer.name,
        "slo": consumer.slos[0].name,
    }
    out = []
    for path in app_paths:
        if "/consumers/" in path:
            path = path.replace("{name}", consumer.name)
        out.append(re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path))
    return out


async def test_every_get_route_answers_without_a_server_error(shipped: Daemon) -> None:
    await shipped.probe_all_once()
    await shipped.store.flush()
    runner = shipped._runner
    assert runner is not None
    app_paths = sorted(
        {r.resource.canonical for r in runner.app.router.routes() if r.method == "GET" and r.resource is not None}
    )
    assert "/api/v1/consumers" in app_paths
    async with aiohttp.ClientSession() as session:
        for path in _paths(shipped, app_paths):
            async with session.get(f"http://127.0.0.1:{shipped.bound_port}{path}") as r:
                body = await r.text()
                assert r.status < 500, f"{path} answered {r.status}: {body[:300]}"

        async with session.get(f"http://127.0.0.1:{shipped.bound_port}/api/v1/consumers") as r:
            doc = json.loads(await r.text())
    by_name = {c["name"]: c for c in doc["consumers"]}
    warehouse = next(c for c in shipped.config.consumers if c.name == "warehouse-ops")
    assert by_name["warehouse-ops"]["endpoint_refs"] == ["inventory-api", {"labels": {"tier": "critical"}}]
    assert by_name["warehouse-ops"]["endpoints"] == resolve_endpoints(warehouse.endpoints, shipped.config.endpoints)
    assert "payments-api" in by_name["warehouse-ops"]["endpoints"]


async def test_a_fresh_window_reads_collecting_data_not_a_huge_negative_budget(shipped: Daemon) -> None:
    from slowatch.demo import render_table

    for _ in range(3):
        await shipped.probe_all_once()
    shipped._slo.refresh()
    port = shipped.bound_port
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/") as r:
            page = await r.text()
        async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
            metrics = await r.text()
        async with session.get(f"http://127.0.0.1:{port}/api/v1/consumers") as r:
            doc = json.loads(await r.text())
    checkout = next(c for c in doc["consumers"] if c["name"] == "checkout")
    availability = next(s for s in checkout["slos"] if s["slo"] == "availability")
    # The JSON API keeps the raw figures next to the state.
    assert availability["state"] == "too_few_events" and availability["units_needed"] == 200  # 99.5%
    assert availability["total"] == 9 and availability["budget_remaining"] < -1
    # People read words: 9 probes (3 endpoints x 3) of the 200 a 99.5% objective needs.
    assert "collecting data: 9 of 200 probes needed" in page
    assert not re.search(r"-[\d,]{3,}(\.\d+)?%", page), "a huge negative percentage on the status page"
    table = render_table(shipped, {})
    expected = "SLO checkout/availability: collecting data: 9 of 200 probes needed (no burn-rate alerts until then)"
    assert expected in table
    assert not re.search(r"-[\d,]{3,}(\.\d+)?%", table)
    # /metrics: no budget series while too few events (slowatch_slo_too_few_events says why).
    assert 'slowatch_slo_too_few_events{consumer="checkout",slo="availability"} 1.0' in metrics
    assert 'slowatch_slo_error_budget_remaining_ratio{consumer="checkout",slo="availability"}' not in metrics

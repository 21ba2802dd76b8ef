"""The real daemon: a root dependency's outage with five dependents is one page and one resolved
message at a Slack stand-in; the dependents still burn their consumers' budgets; the API and the
consumer page show the tree with what is down."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.alerting.fakes import FakeReceiver
from tests.e2e.harness import DaemonProcess

DB_DOWN: web.AppKey[list[bool]] = web.AppKey("db_down", list)
DEPENDENTS = [f"svc{i}" for i in range(5)]


@pytest.fixture
async def platform() -> AsyncIterator[TestServer]:
    """/db fails while the db is down; /svc/<n> fails whenever the db does (they really depend on it)."""

    async def db(request: web.Request) -> web.Response:
        return web.Response(status=503 if request.app[DB_DOWN][0] else 200)

    async def svc(request: web.Request) -> web.Response:
        return web.Response(status=502 if request.app[DB_DOWN][0] else 200)

    app = web.Application()
    app[DB_DOWN] = [False]
    app.router.add_get("/db", db)
    app.router.add_get("/svc/{n}", svc)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
async def test_root_outage_is_one_page_and_one_resolved_message(tmp_path: Path, platform: TestServer) -> None:
    slack = await FakeReceiver().start()
    on_data = "depends_on: [{labels: {tier: data}}]"
    svcs = "\n".join(
        f'  - {{name: {n}, kind: http, url: "{platform.make_url("/svc/" + n)}", {on_data}}}' for n in DEPENDENTS
    )
    config = tmp_path / "slowatch.yaml"
    config.write_text(f"""
server: {{database: "{tmp_path / "daemon.db"}"}}
defaults:
  interval: 1s
  timeout: 500ms
  alerts: {{failure_threshold: 2, success_threshold: 2}}
endpoints:
  - {{name: db, kind: http, url: "{platform.make_url("/db")}", labels: {{tier: data}}}}
{svcs}
consumers:
  - name: shop
    endpoints: [svc0, svc1]
    slos: [{{name: availability, sli: availability, objective: 50, window: 1h}}]
  - {{name: ledger, endpoints: [svc4]}}
sinks:
  slack: {{kind: slack, webhook_url: "{slack.url()}"}}
routes:
  - {{match: {{kind: endpoint_down}}, sinks: [slack]}}   # SLO alerts (the budget burns) are not what is counted
alerting:
  storm: {{threshold: 50, group_wait: 0s}}
""")
    daemon = DaemonProcess(config, tmp_path)
    try:
        await daemon.start()
        await asyncio.sleep(2.5)  # every endpoint known up
        platform.app[DB_DOWN][0] = True

        async def down_alerts() -> list[str]:
            _, text = await daemon.get("/api/v1/alerts")
            return [a["endpoint"] for a in json.loads(text)["alerts"] if a["kind"] == "endpoint_down"]

        async def all_down() -> bool:
            return len(await down_alerts()) == 6

        await wait_for(all_down, 15, "the db and its five dependents down")
        await asyncio.sleep(3)  # more failing rounds: still nothing more is sent
        assert [h.body["text"].split(" — ")[0] for h in slack.attempts] == ["[FIRING] PAGE: endpoint db is down"]
        blocks = str(slack.attempts[0].body["blocks"])
        assert all(f"`{n}`" in blocks for n in DEPENDENTS) and "shop" in blocks and "ledger" in blocks
        status, text = await daemon.get("/api/v1/dependencies")
        doc = json.loads(text)
        assert status == 200 and doc["outages"][0]["root"] == "db"
        assert sorted(doc["outages"][0]["affected"]) == DEPENDENTS
        status, text = await daemon.get("/api/v1/endpoints/svc3")
        deps = json.loads(text)["dependencies"]
        assert deps["state"] == "down" and deps["depends_on"] == ["db"] and deps["root_cause"] == "db"
        status, page = await daemon.get("/consumers/shop")
        assert status == 200 and "<span class='dep dep-down'>db</span> down" in page
        assert "(because db is down)" in page
        assert "(covered: dependency db is down)" in page  # svc0's and svc1's own alerts

        async def shop_burnt() -> bool:  # the dependents' failures still count against their consumers
            _, text = await daemon.get("/api/v1/consumers/shop")
            [slo] = json.loads(text)["slos"]
            return bool(slo["total_events"] - slo["good_events"] >= 4)

        await wait_for(shop_burnt, 10, "shop's budget burning")
        platform.app[DB_DOWN][0] = False

        async def all_up() -> bool:
            return await down_alerts() == []

        await wait_for(all_up, 15, "everything up again")
        await asyncio.sleep(2)
        texts = [h.body["text"].split(" — ")[0] for h in slack.attempts]
        assert texts == ["[FIRING] PAGE: endpoint db is down", "[RESOLVED] PAGE: endpoint db is down"], texts
        assert len(slack.acked) == 2
        assert await daemon.stop(signal.SIGTERM) == 0
    finally:
        if daemon.proc is not None and daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()
        await slack.close()

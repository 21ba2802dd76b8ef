"""What a consumer's token shows of the others: nothing. checkout and partner share `cat`; `pay` and `far`
depend on `db`, which neither consumer lists. Every route a consumer token may read is swept for the
other consumer's name and its own endpoint (`far`), with alerts firing on the shared and upstream endpoints."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from tests.web.conftest import T0, config_text, feed, fetch
from tests.web.test_access import AUTH, CHECKOUT, CHECKOUT_ACCESS, OPERATOR, PARTNER_ACCESS

PAY = '{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}'
FAR = '{name: far, kind: http, url: "http://127.0.0.1:9/far"}'
DB = '{name: db, kind: http, url: "http://127.0.0.1:9/db"}'


def shared_config(tmp_path: Path) -> str:
    text = config_text(tmp_path, auth=AUTH, checkout_access=CHECKOUT_ACCESS, partner_access=PARTNER_ACCESS)
    text = text.replace(PAY, PAY.replace("}", ", depends_on: [db]}") + f"\n  - {DB}")
    text = text.replace(FAR, FAR.replace("}", ", depends_on: [db]}"))
    return text.replace("endpoints: [far]", "endpoints: [far, cat]")


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[Daemon]:
    """Three days of history, then db, pay, far and cat down: alerts firing for cat (shared) and db (root cause)."""
    clock = FakeClock(T0 - 60)
    daemon = Daemon(load_text(shared_config(tmp_path), env={}), clock=clock)
    await daemon.start(schedule=False)
    try:
        await feed(daemon, clock)
        for _ in range(3):
            clock.advance(60)
            for name in ("db", "pay", "far", "cat"):
                daemon.on_result(ProbeResult(name, "http", Outcome.CONNECTION_REFUSED, clock.time(), 0.01))
        await daemon.store.flush()
        for consumers, endpoints in ((["checkout", "partner"], ["cat", "far"]), (["partner"], [])):
            doc = {"kind": "deploy", "text": "v142", "consumers": consumers, "endpoints": endpoints, "time": T0 + 3600}
            status, _, body = await post(daemon, "/api/v1/annotations", doc)
            assert status == 201, body
        yield daemon
    finally:
        await daemon.stop()


async def post(daemon: Daemon, path: str, doc: object) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{daemon.bound_port}{path}", json=doc,
                                                     headers=headers) as r:  # fmt: skip
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def consumer_paths(daemon: Daemon) -> list[str]:
    """Every GET route a consumer token may read (a `{consumer}` part), from the router, for checkout."""
    assert daemon._runner is not None
    routes = {r.resource.canonical for r in daemon._runner.app.router.routes() if r.resource is not None}
    paths = sorted(p.replace("{consumer}", "checkout").replace("{slo}", "availability") for p in routes
                   if "{consumer}" in p)  # fmt: skip
    assert len(paths) >= 7, paths
    return paths


async def test_a_consumer_token_reads_nothing_about_another_consumer(shared: Daemon) -> None:
    others = re.compile(r"partner|(?<!so )\bfar\b")  # ("budget left as time, so far")
    for path in consumer_paths(shared):
        status, _, body = await fetch(shared, path, CHECKOUT)
        assert status == 200, (path, body)
        assert not others.search(body), (path, others.findall(body), body[:2000])


async def test_a_consumer_sees_the_alerts_that_concern_it_as_its_own(shared: Daemon) -> None:
    _, _, body = await fetch(shared, "/api/v1/consumers/checkout", CHECKOUT)
    alerts = {a["alert"]: a for a in json.loads(body)["alerts"]}
    assert {"endpoint:cat", "endpoint:db"} <= set(alerts)
    assert all(a["consumers"] == ["checkout"] for a in alerts.values())
    assert alerts["endpoint:db"]["summary"].endswith("root cause for 1 dependent endpoint(s): pay")
    assert alerts["endpoint:db"]["dependents"] == ["pay"]
    # The operator still sees the whole alert.
    _, _, body = await fetch(shared, "/api/v1/alerts", OPERATOR)
    full = {a["alert"]: a for a in json.loads(body)["alerts"]}
    assert full["endpoint:cat"]["consumers"] == ["checkout", "partner"]
    assert full["endpoint:db"]["summary"].endswith("root cause for 2 dependent endpoint(s): pay, far")


async def test_a_consumer_sees_a_shared_annotation_as_its_own(shared: Daemon) -> None:
    _, _, body = await fetch(shared, "/api/v1/consumers/checkout/annotations", CHECKOUT)
    [annotation] = json.loads(body)["annotations"]  # the one about partner alone is not there
    assert (annotation["text"], annotation["consumers"], annotation["endpoints"]) == ("v142", ["checkout"], ["cat"])
    _, _, body = await fetch(shared, "/api/v1/annotations", OPERATOR)
    assert [a["consumers"] for a in json.loads(body)["annotations"]] == [["checkout", "partner"], ["partner"]]

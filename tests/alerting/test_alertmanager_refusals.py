"""Alertmanager answers 400 to a POST when any alert in it fails validation, after storing the valid ones (its API
v2 `postAlertsHandler`). The sink batches every ready alert into one POST: one invalid alert made every other
alert in the batch `failed` (counted, logged, shown by the API) though Alertmanager had them, and a FIRING among
them never resolved there. Such a batch is now sent again one alert at a time: only the invalid one fails. Against
a real aiohttp receiver that validates like Alertmanager (a real one accepts everything slowatch sends, since the
clock-step fix in test_alertmanager.py: nothing left to provoke it with).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config
from tests.alerting.fakes import Target
from tests.alerting.test_alertmanager_races import until


class Validating:
    """POST /api/v2/alerts: stores the alerts it accepts; 400 if any is "invalid" (alert_key endpoint:bad)."""

    def __init__(self) -> None:
        self.posts: list[list[str]] = []
        self.stored: list[str] = []
        self.server: TestServer | None = None
        self.url = ""

    async def alerts(self, request: web.Request) -> web.Response:
        body: list[dict[str, Any]] = await request.json()
        keys = [a["labels"]["alert_key"] for a in body]
        self.posts.append(keys)
        self.stored += [k for k in keys if k != "endpoint:bad"]
        if "endpoint:bad" in keys:
            return web.Response(status=400, text="start time must be before end time")
        return web.Response(status=200)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/v2/alerts", self.alerts)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self.url = str(self.server.make_url("")).rstrip("/")
        return self.url


@pytest.fixture
async def validating() -> AsyncIterator[Validating]:
    v = Validating()
    await v.start()
    yield v
    assert v.server is not None
    await v.server.close()


async def test_one_invalid_alert_in_a_batch_fails_alone(
    tmp_path: Path, validating: Validating, rig: Callable[..., Awaitable[Rig]]
) -> None:
    bad, good = await Target().start(), await Target().start()
    try:
        url = validating.url
        config = make_config(
            tmp_path,
            endpoints=[
                http_endpoint("bad", bad.url(), failure_threshold=1),
                http_endpoint("good", good.url(), failure_threshold=1),
            ],
            sinks={"am": {"kind": "alertmanager", "url": url, "resend_interval": "1h", **FAST_SINK}},
            routes=[{"sinks": ["am"]}],
            alerting={"storm": {"threshold": 10, "window": "1m", "group_wait": "1s", "group_interval": "1s"}},
        )
        r = await rig(config)
        bad.up = good.up = False
        await r.probe("bad")
        await r.probe("good")  # both within group_wait: one POST
        counters = r.service.dispatcher.counters
        await until(lambda: not r.service.dispatcher.workers["am"].queue, "the batch settled")
        assert validating.posts[0] == ["endpoint:bad", "endpoint:good"]
        assert (counters[("am", "delivered")], counters[("am", "failed")]) == (1, 1), counters
        [view] = r.service.sinks_view()
        assert "endpoint:bad" in str(view["last_failure"]), view
    finally:
        await bad.close()
        await good.close()

"""The Alertmanager sink against Debian's real `prometheus-alertmanager` on a loopback port (`am`, conftest)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.alerting.conftest import FAST_SINK, am_alerts, http_endpoint, make_config
from tests.alerting.fakes import Target
from tests.alerting.test_restored_resolved import until, until_active


async def test_alerts_reach_alertmanager_stay_alive_and_resolve(
    tmp_path: Path, target: Target, am: str, rig: Any
) -> None:
    config = make_config(
        tmp_path,
        server={"database": str(tmp_path / "am.db"), "external_url": "https://slowatch.example"},
        endpoints=[http_endpoint("api", target.url(), failure_threshold=1, success_threshold=1)],
        consumers=[{"name": "checkout", "endpoints": ["api"]}],
        sinks={"am": {"kind": "alertmanager", "url": am, "resend_interval": "300ms", **FAST_SINK}},
        routes=[{"match": {"consumer": "checkout"}, "sinks": ["am"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("api")
    async with aiohttp.ClientSession() as s:
        deadline = time.monotonic() + 10
        alerts: list[dict[str, Any]] = []
        while not alerts and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            alerts = await am_alerts(s, am)
        [alert] = alerts
        assert alert["labels"] == {
            "alertname": "SlowatchEndpointDown",
            "alert_key": "endpoint:api",
            "severity": "page",
            "kind": "endpoint_down",
            "consumer": "checkout",
            "endpoint": "api",
        }
        assert "api failed 1 times in a row" in alert["annotations"]["summary"]
        assert alert["generatorURL"] == "https://slowatch.example/"
        assert alert["status"]["state"] == "active"
        first_update = alert["updatedAt"]
        await asyncio.sleep(1.0)  # the dispatcher re-POSTs firing alerts every resend_interval
        [alert] = await am_alerts(s, am)
        assert alert["updatedAt"] != first_update
        assert r.service.dispatcher.counters[("am", "refreshed")] >= 2
        target.up = True
        await r.probe("api")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if not [a for a in await am_alerts(s, am) if a["status"]["state"] == "active"]:
                break
        assert [a for a in await am_alerts(s, am) if a["status"]["state"] == "active"] == []
    assert r.service.dispatcher.counters[("am", "delivered")] == 2


async def test_only_alerts_this_process_saw_failing_are_re_posted(
    tmp_path: Path, target: Target, am: str, rig: Any
) -> None:
    """A replica restarted after its peer resolved an outage (its database still says firing), or one a probe
    behind its peer, used to re-POST the alert every resend_interval: Alertmanager took it as firing again
    and notified it anew. Re-posts now wait for a failed probe of this process, and stop at a success."""
    config = make_config(
        tmp_path,
        server={"database": str(tmp_path / "am.db")},
        endpoints=[http_endpoint("api", target.url(), failure_threshold=1, success_threshold=2)],
        sinks={"am": {"kind": "alertmanager", "url": am, "resend_interval": "200ms", **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
    )
    first = await rig(config)
    target.up = False
    await first.probe("api")
    await asyncio.sleep(0.7)
    assert first.service.dispatcher.counters[("am", "refreshed")] >= 2
    await first.stop()
    second = await rig(config)  # restored as firing, not seen failing by this process yet
    assert "endpoint:api" in second.service.book.firing
    await asyncio.sleep(0.7)
    assert second.service.dispatcher.counters[("am", "refreshed")] == 0
    await second.probe("api")  # still down: re-posted again
    await asyncio.sleep(0.7)
    refreshed = second.service.dispatcher.counters[("am", "refreshed")]
    assert refreshed >= 2
    target.up = True
    await second.probe("api")  # one success of two: not resolved, no longer re-posted
    await asyncio.sleep(0.3)
    refreshed = second.service.dispatcher.counters[("am", "refreshed")]
    await asyncio.sleep(0.7)
    assert "endpoint:api" in second.service.book.firing
    assert second.service.dispatcher.counters[("am", "refreshed")] == refreshed


async def test_a_resolved_decided_after_the_wall_clock_stepped_back_is_accepted_by_alertmanager(
    tmp_path: Path, target: Target, am: str, rig: Any
) -> None:
    """x fires, then the wall clock is stepped back an hour (NTP fixing a clock ahead) and x recovers: its RESOLVED had
    endsAt before startsAt, which Debian's real Alertmanager refuses with a 400 (for the whole POST: a permanent
    failure, every alert in it marked failed), so x stayed active there. endsAt is never before startsAt."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"am": {"kind": "alertmanager", "url": am, "resend_interval": "1h", **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("x")
    await until_active(am, ["endpoint:x"])
    r.clock.step(-3600)
    target.up = True
    await r.probe("x")
    await until(lambda: not r.service.dispatcher.workers["am"].queue, "x's RESOLVED posted")
    counters = r.service.dispatcher.counters
    assert (counters[("am", "failed")], counters[("am", "delivered")]) == (0, 2), counters
    await until_active(am, [])

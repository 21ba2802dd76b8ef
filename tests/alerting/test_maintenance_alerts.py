"""Maintenance windows against firing alerts, from real probes through SloService to a real Slack receiver."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import Clock, FakeClock
from slowatch.config.schema import Config
from tests.alerting.conftest import http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target
from tests.alerting.test_alertmanager_races import NO_DATA, SloReplica, replicas, slo_config, until
from tests.alerting.test_slo_alerts import SloRig

__all__ = ["replicas"]  # a fixture


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def shop(tmp_path: Path, target: Target, receiver: FakeReceiver, maintenance: list[dict[str, Any]]) -> Config:
    return make_config(
        tmp_path,
        server={"database": str(tmp_path / "maintenance.db")},
        endpoints=[http_endpoint("api", target.url(), failure_threshold=3, success_threshold=2)],
        consumers=[
            {"name": "shop", "endpoints": ["api"], "slos": [{"name": "avail", "sli": "availability", "objective": 99}]}
        ],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
        maintenance=maintenance,
        alerting={
            "resolve_after": "60s",
            "exhausted_threshold": -100,  # (only the page tier and the endpoint alert here)
            "burn_tiers": [{"severity": "page", "long": "1h", "short": "5m", "factor": 14.4}],
        },
    )


@pytest.fixture
async def rig(tmp_path: Path, target: Target, receiver: FakeReceiver) -> AsyncIterator[SloRig]:
    r = SloRig(shop(tmp_path, target, receiver, []), FakeClock())
    await r.store.start()
    await r.slo.start()
    await r.alerts.start()
    yield r
    await r.alerts.stop()
    await r.slo.stop()
    await r.session.close()
    await r.store.close()


async def texts(rig: SloRig, receiver: FakeReceiver, n: int) -> list[str]:
    await rig.store.flush()
    return [hit.body["text"].split(" — ")[0] for hit in await receiver.wait_acked(n)]


@pytest.mark.parametrize("scope", [{"consumers": ["shop"]}, {"endpoints": ["api"]}])
async def test_an_outage_outlasting_a_window_started_while_paged_is_paged_once_and_resolved_once(
    rig: SloRig, target: Target, receiver: FakeReceiver, tmp_path: Path, scope: dict[str, list[str]]
) -> None:
    """A window added (by a reload) while the endpoint and burn pages fire, the endpoint down throughout it
    and after. Before: the burn page resolved inside the window (its 5m window held no counted probe, as if
    the burn had stopped) and fired again as the window ended: FIRING, RESOLVED, FIRING for one outage."""
    for _ in range(200):
        await rig.step()
    target.up = False
    for _ in range(45):
        await rig.step()
    firing = ["[FIRING] PAGE: endpoint api is down", "[FIRING] PAGE: shop · avail: error budget burning fast"]
    assert sorted(await texts(rig, receiver, 2)) == firing
    now = rig.clock.time()
    window = {"name": "fix", **scope, "start": iso(now - 600), "end": iso(now + 1800)}
    rig.config = shop(tmp_path, target, receiver, [window])
    await rig.slo.reload(rig.config)
    await rig.alerts.reload(rig.config)
    for _ in range(180 + 60):  # through the window, and 10 minutes down after it
        await rig.step()
        assert set(rig.firing()) == {"endpoint:api", "burn:shop/avail:page"}
    target.up = True
    for _ in range(420):  # the 1h window clears of the failures, then resolve_after
        await rig.step()
        if not rig.firing():
            break
    assert not rig.firing()
    assert sorted(await texts(rig, receiver, 4)) == [
        *firing,
        "[RESOLVED] PAGE: endpoint api is down",
        "[RESOLVED] PAGE: shop · avail: error budget burning fast",
    ]
    assert len(receiver.attempts) == 4


async def test_an_slo_alert_clearing_when_a_window_starts_is_held_firing_in_alertmanager_too(
    tmp_path: Path, target: Target, receiver: FakeReceiver, replicas: Callable[[Config, Clock], Awaitable[SloReplica]]
) -> None:
    """An SLO alert whose condition is false is told to Alertmanager once with the end it will have, then no
    longer re-posted (test_alertmanager_races). A window starting meanwhile holds it firing, its resolve_after
    starting again after the window: it is re-posted as firing again, else Alertmanager would end it inside
    the window and page it anew if it still fires after."""
    clock = FakeClock()
    config = slo_config(tmp_path, "one", target, receiver.url(""), resend="100ms")
    r = await replicas(config, clock)
    r.evaluate()
    clock.advance(2)
    r.evaluate()
    await r.probe()
    r.evaluate()  # clearing: told its end once
    await until(lambda: any("endsAt" in a for hit in receiver.acked for a in hit.body), "the end told")
    now = clock.time()
    window = {"name": "fix", "consumers": ["quiet"], "start": iso(now - 60), "end": iso(now + 1800)}
    held = slo_config(tmp_path, "one", target, receiver.url(""), resend="100ms", maintenance=[window])
    await r.slo.reload(held)
    await r.alerts.reload(held)
    r.evaluate()
    assert NO_DATA in r.firing()
    posts = len(receiver.acked)
    await receiver.wait_acked(posts + 2)  # re-posted as firing again, every resend_interval
    assert all("endsAt" not in a for hit in receiver.acked[posts:] for a in hit.body), receiver.acked[posts:]

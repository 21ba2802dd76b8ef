"""Resharding moves an SLO whose alert fires to another shard (burn.py `SloAlerts._moved`): its RESOLVED from the old
shard says it was handed over, not that the SLO was removed from the config. Real SloService and AlertService, a real
SQLite store, real aiohttp receivers standing in for Slack, a webhook and Alertmanager, on a FakeClock.

An SLO alert carries `shard` (sinks/alertmanager.py): the old shard's alert is its own, and its RESOLVED goes to every
sink, Alertmanager included (the new owner fires under its own `shard` label)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting import AlertService
from slowatch.alerting.events import AlertEvent
from slowatch.clock import FakeClock
from slowatch.cluster import local_view
from slowatch.config.schema import Config, RetentionConfig
from slowatch.sharding import shard_of
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.alerting.conftest import FAST_SINK, FAST_STORM, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target
from tests.alerting.outbox_restart import until

KEY = "no_data:shop/avail"


def whole(tmp_path: Path, target: Target, receiver: FakeReceiver, shards: int, shop: bool = True) -> Config:
    """Shard 0 of `shards`: `shop` (its SLO on x3) and `keep` (on y1), routed to Slack, a webhook and Alertmanager
    (one receiver, by path); without `shop` when not `shop`."""
    consumers = [
        {"name": "shop", "endpoints": ["x3"], "slos": [{"name": "avail", "sli": "availability", "objective": 99}]},
        {"name": "keep", "endpoints": ["y1"], "slos": [{"name": "avail", "sli": "availability", "objective": 99}]},
    ]
    return make_config(
        tmp_path,
        server={"database": str(tmp_path / "s0.db"), "cluster": {"shards": shards, "shard": 0, "replica": "a"}},
        endpoints=[http_endpoint("x3", target.url()), http_endpoint("y1", target.url())],
        consumers=consumers if shop else consumers[1:],
        sinks={
            "slack": slack_sink(receiver.url("/slack")),
            "hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK},
            "am": {"kind": "alertmanager", "url": receiver.url("/am"), "resend_interval": "1h", **FAST_SINK},
        },
        routes=[{"sinks": ["slack", "hook", "am"]}],
        alerting={"resolve_after": "60s", "no_data_after": "30s", "storm": FAST_STORM},
    )


class Shard:
    """Shard 0's SloService + AlertService; `full` is what the daemon's view holds as the whole config."""

    def __init__(self, full: Config, clock: FakeClock) -> None:
        self.full, self.clock, self.stopped = full, clock, False
        local = local_view(full).local
        self.store = Store(local.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
        self.slo = SloService(local, self.store, clock, refresh_interval=3600, persist_interval=3600)
        self.alerts = AlertService(local, self.store, clock, whole=lambda: self.full)

    async def start(self) -> Shard:
        await self.store.start()
        await self.slo.start()
        await self.alerts.start()
        return self

    def evaluate(self) -> None:
        self.clock.advance(10)
        self.alerts.evaluate(self.slo.refresh())

    async def reshard(self, full: Config) -> None:
        """As Daemon._switch: the view first, then the SLOs, then alerting."""
        self.full = full
        local = local_view(full).local
        await self.slo.reload(local)
        await self.alerts.reload(local)
        self.slo.applied()

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self.alerts.stop()
        await self.slo.stop()
        await self.store.close()


@pytest.fixture
async def shards() -> AsyncIterator[Callable[[Config], Any]]:
    made: list[Shard] = []
    clock = FakeClock()  # (one clock for the instance, across its restarts)

    async def make(full: Config) -> Shard:
        made.append(s := await Shard(full, clock).start())
        return s

    yield make
    for s in made:
        await s.stop()


async def ended_after(s: Shard, receiver: FakeReceiver, after: Config) -> dict[str, dict[str, Any]]:
    """shop/avail's no-data alert fires on shard 0, then the whole config becomes `after`: what each sink was told
    of its end (Slack's message, the webhook's event, Alertmanager's alert)."""
    for _ in range(10):
        s.evaluate()
    assert {KEY, "no_data:keep/avail"} <= set(s.alerts.book.firing)
    await s.reshard(after)
    s.evaluate()
    assert KEY not in s.alerts.book.firing and "no_data:keep/avail" in s.alerts.book.firing
    await s.store.flush()
    await until(lambda: len(ends(receiver)) == 3, "the RESOLVED at each sink")
    return ends(receiver)


def ends(receiver: FakeReceiver) -> dict[str, dict[str, Any]]:
    """shop/avail's RESOLVED as each sink got it so far (Slack's message, the webhook's event, Alertmanager's
    alert): the sinks post the two alerts in batches of their own."""
    out: dict[str, dict[str, Any]] = {}
    for hit in receiver.acked:
        if hit.path == "/slack" and hit.body["text"].startswith("[RESOLVED] TICKET: shop · avail"):
            out["slack"] = hit.body
        for e in hit.body["events"] if hit.path == "/hook" else ():
            out.update({"hook": e} if e["alert"] == KEY and e["status"] == "resolved" else {})
        for a in hit.body if hit.path.startswith("/am") else ():
            out.update({"am": a} if a["labels"]["alert_key"] == KEY and "endsAt" in a else {})
    return out


async def test_an_slo_alert_ended_by_a_reshard_says_handed_over_not_removed(
    tmp_path: Path, target: Target, receiver: FakeReceiver, shards: Callable[[Config], Any]
) -> None:
    """shop/avail (on x3) fires on shard 0 of 2; the cluster goes to 3 shards, where x3 is shard 1's. The SLO is
    still in the config: shard 1 evaluates it now. Its RESOLVED from shard 0 said "SLO, tier or its alerting removed
    from the config" to Slack, the webhook and Alertmanager: on-call went looking for a config change nobody made."""
    assert (shard_of("x3", 2), shard_of("x3", 3), shard_of("y1", 2), shard_of("y1", 3)) == (0, 1, 0, 0)
    s = await shards(whole(tmp_path, target, receiver, 2))
    told = await ended_after(s, receiver, whole(tmp_path, target, receiver, 3))
    hook, am, slack = told["hook"], told["am"], told["slack"]
    assert hook["details"]["handed_over"] is True and am["annotations"]["reason"] == hook["details"]["reason"]
    for text in (hook["summary"], am["annotations"]["summary"], str(slack["blocks"]), hook["details"]["reason"]):
        assert "removed" not in text and "handed over" in text.lower(), text
    assert hook["summary"].startswith("shop/avail no-data alert no longer evaluated here after ")
    assert "another shard" in hook["summary"] and "not known to have cleared" in hook["summary"]
    assert ":white_check_mark:" not in str(slack["blocks"])


async def test_an_slo_alert_ended_by_a_restart_on_more_shards_says_handed_over(
    tmp_path: Path, target: Target, receiver: FakeReceiver, shards: Callable[[Config], Any]
) -> None:
    """`server.cluster` changes take effect at a restart: the firing alert is restored from the database, and the
    first evaluation finds shop/avail gone from this shard's part, still in the whole config."""
    s = await shards(whole(tmp_path, target, receiver, 2))
    for _ in range(10):
        s.evaluate()
    assert KEY in s.alerts.book.firing
    await s.store.flush()
    await until(lambda: any(h.path == "/hook" for h in receiver.acked), "the FIRING delivered")
    await s.stop()
    s = await shards(whole(tmp_path, target, receiver, 3))
    assert KEY in s.alerts.book.firing  # (restored)
    s.evaluate()
    assert KEY not in s.alerts.book.firing
    await s.store.flush()
    await until(lambda: len(ends(receiver)) == 3, "the RESOLVED at each sink")
    hook = ends(receiver)["hook"]
    assert hook["details"]["handed_over"] is True and "handed over to another shard" in hook["summary"]


async def test_an_slo_removed_from_a_sharded_config_still_says_removed(
    tmp_path: Path, target: Target, receiver: FakeReceiver, shards: Callable[[Config], Any]
) -> None:
    """The same cluster of 3 shards, but `shop` is gone from the whole config: no shard evaluates it, and its
    RESOLVED says it was removed, not handed over."""
    s = await shards(whole(tmp_path, target, receiver, 2))
    told = await ended_after(s, receiver, whole(tmp_path, target, receiver, 3, shop=False))
    hook = told["hook"]
    assert "handed_over" not in hook["details"] and "handed over" not in hook["summary"].lower()
    assert "removed from the config (not known to have cleared)" in hook["summary"]


def test_every_slo_alert_kind_handed_over_reads_as_handed_over() -> None:
    """burn_rate, budget_exhausted and no_data alike: no "again", no stale budget figure, the handover named."""
    for kind, what in (("burn_rate", "page burn-rate alert"), ("budget_exhausted", "budget-exhausted alert"),
                       ("no_data", "no-data alert")):  # fmt: skip
        fired = AlertEvent(f"x:{kind}", kind, "firing", "page", 1000.0, 1000.0, "shop · avail", "firing", ("shop",),
                           "avail", details={"budget_remaining": 0.25})  # fmt: skip
        ended = fired.as_resolved(1300.0, {"handed_over": True, "reason": "Handed over: another shard"})
        assert not ended.recovered
        assert ended.summary == (f"shop/avail {what} no longer evaluated here after 5m: handed over to another shard "
                                 "(resharding; not known to have cleared)")  # fmt: skip

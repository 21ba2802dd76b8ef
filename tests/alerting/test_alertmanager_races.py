"""What Alertmanager is told when the outbox queue, the periodic re-POST (`resend_interval`) and HA replicas
overlap: it must never see an alert's state older than the latest one this process decided.

Against a real aiohttp receiver recording the POSTs in the order it acknowledges them (Alertmanager applies a
POST before it answers), where the race is in what slowatch posts; against Debian's real
`prometheus-alertmanager` (`am`, conftest) where the race is between replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting import AlertService
from slowatch.alerting.sinks.text import iso
from slowatch.clock import Clock, FakeClock, SystemClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.probes import ProbeContext, make_session, run_probe
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config
from tests.alerting.fakes import FakeReceiver, Hit, Reply, Target
from tests.alerting.outbox_restart import active, am_config, drained, nowhere, stop_with_outbox, until, until_active


def states(acked: list[Hit], key: str) -> list[tuple[str, str]]:
    """(firing|resolved, startsAt) of alert `key` as each acknowledged POST left it, in order."""
    out = []
    for hit in acked:
        mine = [a for a in hit.body if a["labels"]["alert_key"] == key]
        if mine:
            out.append(("resolved" if "endsAt" in mine[-1] else "firing", mine[-1]["startsAt"]))
    return out


async def test_a_backlog_never_shows_alertmanager_an_alert_older_than_the_outbox_s_latest(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Alertmanager down while x fires, resolves, 200 other alerts fire, and x fires again. Batches hold at most
    200 alerts: x's old RESOLVED went in one batch and its newer FIRING in a later one, so Alertmanager showed x
    resolved in between (and the batch retried through the outage showed it firing since its OLD start). Every
    POST now carries each alert's latest state in the outbox."""
    others = Target()
    await others.start()
    try:
        config = make_config(
            tmp_path,
            endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)]
            + [http_endpoint(f"e{n:03}", others.url(), failure_threshold=1) for n in range(200)],
            sinks={"am": {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "200ms", **FAST_SINK}},
            routes=[{"sinks": ["am"]}],
        )
        receiver.default = Reply(503)
        r = await rig(config)
        target.up = others.up = False
        await r.probe("x")  # FIRING (since s1)
        target.up = True
        await r.probe("x")  # RESOLVED
        for n in range(200):
            await r.probe(f"e{n:03}")
        target.up = False
        await r.probe("x")  # FIRING again (since s2)
        since = r.service.book.firing["endpoint:x"].event.since
        await r.store.flush()
        receiver.default = Reply(200)
        await until(drained(r), "the outbox drained")
        seen = states(receiver.acked, "endpoint:x")
        assert seen, receiver.acked
        assert set(seen) == {("firing", iso(since))}, seen
    finally:
        await others.close()


async def test_a_re_post_in_flight_never_lands_after_the_resolution(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """The re-POST of firing alerts ran beside the queue: one in flight when the alert resolved could be applied
    after the queue's RESOLVED and re-open the alert until its timeout. A sink now has one request at a time,
    and a re-POST reads what fires when it is its turn."""
    config = am_config(tmp_path, receiver.url(""), {"x": target}, resend="200ms")
    r = await rig(config)
    target.up = False
    await r.probe("x")
    await receiver.wait_acked(1)
    receiver.script.append(Reply(hang=10.0))  # the next POST (a re-POST) is held until released
    await until(lambda: len(receiver.attempts) >= 2, "a re-POST")
    target.up = True
    await r.probe("x")  # resolved while the re-POST is in flight
    with contextlib.suppress(AssertionError):  # the old code had the RESOLVED acknowledged by now
        await until(lambda: len(receiver.acked) >= 2, "the RESOLVED", timeout=1.0)
    receiver.release.set()
    await until(lambda: len(receiver.acked) >= 3 and drained(r)(), "everything acknowledged")
    assert [s for s, _ in states(receiver.acked, "endpoint:x")][-1] == "resolved", receiver.acked


async def test_a_firing_restored_from_the_outbox_does_not_re_open_what_a_peer_resolved(
    tmp_path: Path, target: Target, am: str, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Replica a cannot reach Alertmanager when x goes down: its FIRING waits in its outbox, and it is stopped
    (killed, restarted: the same). Replica b fires and resolves x meanwhile. a's restored FIRING used to be posted
    at its restart although a had not seen x failing since: Alertmanager re-opened x and notified it anew. It is
    now posted only once this process sees the alert's condition (then by the re-POST)."""

    def replica(name: str, url: str) -> Config:
        return am_config(tmp_path, url, {"x": target}, replica=name, resend="200ms")

    target.up = False
    a = await rig(replica("a", nowhere()))
    await a.probe("x")
    await stop_with_outbox(a)
    b = await rig(replica("b", am))
    await b.probe("x")
    await until_active(am, ["endpoint:x"])
    target.up = True
    await b.probe("x")
    await until_active(am, [])
    a = await rig(replica("a", am))
    assert [i.event.status for i in a.service.dispatcher.workers["am"].queue] == ["firing"]
    await until(drained(a), "a's outbox drained")
    await asyncio.sleep(0.6)  # a few resend_intervals
    assert await active(am) == []
    await a.probe("x")  # a sees x up: resolved, which Alertmanager already knows
    await until(drained(a), "a's RESOLVED delivered")
    assert await active(am) == []
    target.up = False
    await a.probe("x")  # and a real failure still reaches it
    await until_active(am, ["endpoint:x"])


class SloReplica:
    """A Store + SloService + AlertService of one replica, evaluated when the test says."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self.config = config
        self.store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
        self.slo = SloService(config, self.store, clock, refresh_interval=3600, persist_interval=3600)
        self.alerts = AlertService(config, self.store, clock)
        self.session = make_session()
        self.ctx = ProbeContext(session=self.session, clock=clock)

    async def start(self) -> SloReplica:
        await self.store.start()
        await self.slo.start()
        await self.alerts.start()
        return self

    def observe(self, result: Any) -> None:
        self.slo.observe(result)
        self.alerts.observe(result)

    async def probe(self) -> None:
        await run_probe(self.config.endpoint("idle"), self.ctx, self.observe)

    def evaluate(self) -> None:
        self.alerts.evaluate(self.slo.refresh())

    def counter(self, outcome: str) -> int:
        return self.alerts.dispatcher.counters[("am", outcome)]

    def firing(self) -> set[str]:
        return set(self.alerts.book.firing)

    async def stop(self) -> None:
        await self.alerts.stop()
        await self.slo.stop()
        await self.session.close()
        await self.store.close()


NO_DATA = "no_data:quiet/avail"


def slo_config(tmp_path: Path, name: str, target: Target, url: str, resend: str = "200ms", **extra: Any) -> Config:
    return make_config(
        tmp_path,
        server={"database": str(tmp_path / f"{name}.db")},
        endpoints=[http_endpoint("idle", target.url())],
        consumers=[
            {
                "name": "quiet",
                "endpoints": ["idle"],
                "slos": [{"name": "avail", "sli": "availability", "objective": 99}],
            }
        ],
        sinks={"am": {"kind": "alertmanager", "url": url, "resend_interval": resend, **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
        alerting={"resolve_after": "2s", "no_data_after": "1s"},
        **extra,
    )


@pytest.fixture
async def replicas() -> AsyncIterator[Callable[[Config, Clock], Awaitable[SloReplica]]]:
    started: list[SloReplica] = []

    async def make(config: Config, clock: Clock) -> SloReplica:
        r = await SloReplica(config, clock).start()
        started.append(r)
        return r

    yield make
    for r in started:
        await r.stop()


async def test_a_replica_clearing_an_slo_alert_does_not_re_open_it_after_its_peer_resolved_it(
    tmp_path: Path, target: Target, am: str, replicas: Callable[[Config, Clock], Awaitable[SloReplica]]
) -> None:
    """Two replicas fire the same SLO alert (no data). Its condition ends at both, a second later at b. a resolves
    it after resolve_after; b, still waiting out its own, used to re-POST it as firing every resend_interval:
    Alertmanager took that as the alert firing again (and would notify it anew). Real time: Alertmanager
    compares endsAt with its own clock."""
    clock = SystemClock()
    a = await replicas(slo_config(tmp_path, "a", target, am), clock)
    b = await replicas(slo_config(tmp_path, "b", target, am), clock)
    a.evaluate()
    b.evaluate()
    await asyncio.sleep(1.1)  # no_data_after
    a.evaluate()
    b.evaluate()
    assert NO_DATA in a.firing() & b.firing()
    await until_active(am, [NO_DATA])
    await a.probe()
    a.evaluate()  # data again: clearing at a
    a_cleared = time.monotonic()
    await asyncio.sleep(1.0)
    await b.probe()
    b.evaluate()  # and at b, a second later
    b_cleared = time.monotonic()
    refreshed = b.counter("refreshed")
    await until(lambda: b.counter("refreshed") > refreshed, "b's re-POST while clearing")
    await asyncio.sleep(max(0.0, a_cleared + 2.05 - time.monotonic()))
    delivered = a.counter("delivered")
    a.evaluate()
    assert NO_DATA not in a.firing() and NO_DATA in b.firing()
    await until(lambda: a.counter("delivered") > delivered, "a's RESOLVED delivered")
    await asyncio.sleep(1.0)  # b's re-POSTs, every 200ms, re-opened it here
    assert await active(am) == []
    await asyncio.sleep(max(0.0, b_cleared + 2.05 - time.monotonic()))
    b.evaluate()
    assert NO_DATA not in b.firing()
    await until(lambda: not b.alerts.dispatcher.workers["am"].queue, "b's RESOLVED delivered")
    assert await active(am) == []


async def test_an_slo_alert_clearing_is_re_posted_once_with_the_end_it_will_have(
    tmp_path: Path, target: Target, receiver: FakeReceiver, replicas: Callable[[Config, Clock], Awaitable[SloReplica]]
) -> None:
    """While an SLO alert's condition is false for resolve_after it still fires here, but re-POSTing it as firing
    would re-open it after a peer resolved it. It is posted once more with endsAt set to when it will resolve
    (so Alertmanager's own resolve_timeout does not end it early), then not again until it fires or resolves."""
    clock = FakeClock()
    r = await replicas(slo_config(tmp_path, "one", target, receiver.url(""), resend="100ms"), clock)
    r.evaluate()
    clock.advance(2)
    r.evaluate()
    await receiver.wait_acked(2)  # the FIRING and a re-POST
    await r.probe()
    r.evaluate()
    cleared = clock.time()
    posts = len(receiver.acked)
    await until(lambda: r.counter("refreshed") >= 1 and len(receiver.acked) > posts, "a re-POST while clearing")
    await asyncio.sleep(0.5)  # five resend_intervals
    after = [[a for a in hit.body if a["labels"]["alert_key"] == NO_DATA] for hit in receiver.acked[posts:]]
    assert after and all(after), after
    assert len(after) == 1 and after[0][0]["endsAt"] == iso(cleared + 2), after


async def test_a_restored_firing_not_posted_is_counted_withheld_not_delivered(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """A FIRING restored from the outbox that is not posted (its alert not seen since start) was marked and counted
    `delivered`, beside the RESOLVED posted in the same batch: /api/v1/alerts, /metrics and `slowatch alerts` said
    Alertmanager got it. It is `withheld` (row status, counter, API) and only the RESOLVED is `delivered`."""
    other = await Target().start()
    try:
        a = await rig(am_config(tmp_path, nowhere(), {"x": target, "y": other}))
        other.up = False
        await a.probe("y")
        other.up = True
        await a.probe("y")  # y's RESOLVED (its FIRING folded into it) waits
        target.up = False
        await a.probe("x")  # x's FIRING waits
        await stop_with_outbox(a)

        a = await rig(am_config(tmp_path, receiver.url(""), {"x": target, "y": other}))
        await a.probe("y")  # y judged clear since start: its restored RESOLVED may go (test_restored_resolved.py)
        await until(drained(a), "the restored outbox drained")
        posted = [(al["labels"]["alert_key"], "endsAt" in al) for hit in receiver.acked for al in hit.body]
        assert posted == [("endpoint:y", True)]
        counters = a.service.dispatcher.counters
        assert (counters[("am", "delivered")], counters[("am", "withheld")]) == (1, 1)
        view = a.service.sinks_view()[0]
        assert (view["delivered"], view["withheld"]) == (1, 1)
        await a.store.flush()
        conn = sqlite3.connect(a.config.server.database)
        try:
            rows = dict(conn.execute("SELECT alert_key, status FROM alert_outbox WHERE status != 'superseded'"))
        finally:
            conn.close()
        assert rows == {"endpoint:x": "withheld", "endpoint:y": "delivered"}
    finally:
        await other.close()


async def test_a_sink_removed_and_added_back_by_reloads_has_one_re_post_loop_under_its_lock(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Removing an Alertmanager sink by a reload stopped its worker but not its re-POST loop; adding it back (a
    second reload) started another. The old loop then re-posted beside the new worker's POSTs, under the OLD
    worker's lock (a re-POST could land after a RESOLVED again), and every remove/add cycle added one more."""
    with_am = am_config(tmp_path, receiver.url(""), {"x": target}, resend="50ms")
    without = make_config(tmp_path, endpoints=[http_endpoint("x", target.url())])
    r = await rig(with_am)

    def loops() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("alert-resend-") and not t.done()]

    assert loops() == ["alert-resend-am"]
    await r.service.reload(without)
    await asyncio.sleep(0)  # (a cancelled task is done once it has run)
    assert loops() == []
    await r.service.reload(with_am)
    await r.service.reload(without)
    await r.service.reload(with_am)
    await asyncio.sleep(0)
    assert loops() == ["alert-resend-am"]
    worker = r.service.dispatcher.workers["am"]
    target.up = False
    await r.probe("x")
    await until(lambda: r.service.dispatcher.counters[("am", "refreshed")] >= 2, "re-POSTs by the new loop")
    assert not worker.queue

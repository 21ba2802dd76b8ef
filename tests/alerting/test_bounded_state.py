"""What alerting keeps of endpoints and sinks a reload removed is bounded: nothing keyed by a name that is gone
stays in the database or in memory (benchmarks/soak_days.py found each of these growing over simulated weeks)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slowatch.alerting import AlertService
from slowatch.alerting.suppress import silence_key
from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from tests.alerting.conftest import FAST_SINK, FAST_STORM, make_config
from tests.alerting.fakes import FakeReceiver, Reply


def endpoints_config(tmp_path: Path, names: list[str]) -> Config:
    alerts = {"failure_threshold": 1, "success_threshold": 1}
    eps = [{"name": n, "kind": "http", "url": f"http://127.0.0.1:9/{n}", "interval": "10s", "alerts": alerts}
           for n in names]  # fmt: skip
    return make_config(tmp_path, endpoints=eps)


def streak_rows(db: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT endpoint FROM alert_streaks")}


async def test_removed_endpoints_leave_no_streak_rows(tmp_path: Path, clock: FakeClock, rig: Any) -> None:
    """A config whose endpoints are renamed at every reload (tenants, per-deploy canaries) kept one
    `alert_streaks` row for every endpoint ever configured: forgotten in memory, never in the database."""
    names = ["steady", "canary-1", "canary-2"]
    r = await rig(endpoints_config(tmp_path, names))
    for n in names:
        r.service.observe(ProbeResult(n, "http", Outcome.TIMEOUT, clock.time(), 1.0))
    await r.store.flush()
    db = r.config.server.database
    assert streak_rows(db) == set(names)

    for gen in range(3, 6):  # each reload replaces the canaries
        clock.advance(60)
        new = ["steady", f"canary-{gen}"]
        await r.service.reload(endpoints_config(tmp_path, new))
        for n in new:
            r.service.observe(ProbeResult(n, "http", Outcome.SUCCESS, clock.time(), 0.1))
        await r.store.flush()
        assert streak_rows(db) == set(new)
        assert set(r.service.health.streaks) == set(new)


async def test_streak_rows_of_endpoints_gone_while_stopped_go_at_start(
    tmp_path: Path, clock: FakeClock, rig: Any
) -> None:
    r = await rig(endpoints_config(tmp_path, ["a", "b"]))
    for n in ("a", "b"):
        r.service.observe(ProbeResult(n, "http", Outcome.TIMEOUT, clock.time(), 1.0))
    await r.stop()
    db = r.config.server.database
    assert streak_rows(db) == {"a", "b"}

    r2 = await rig(endpoints_config(tmp_path, ["a"]))  # b left the config while the daemon was down
    await r2.store.flush()
    assert streak_rows(db) == {"a"}
    assert r2.service.health.streaks["a"].fails == 1  # (what stays is restored as it was)


async def test_removed_sinks_leave_no_counters_or_series(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """A sink per tenant, added and removed by reloads: each left its counts in memory and its
    `slowatch_notifications_total{sink=...}` series on every scrape, for good."""

    def with_sink(name: str) -> Config:
        hook = {"kind": "webhook", "url": receiver.url(f"/{name}"), **FAST_SINK}
        eps = [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/", "interval": "10s",
                "alerts": {"failure_threshold": 1, "success_threshold": 1}}]  # fmt: skip
        return make_config(tmp_path, endpoints=eps, sinks={name: hook}, routes=[{"match": {}, "sinks": [name]}])

    r = await rig(with_sink("tenant-1"))
    for gen in range(1, 4):
        if gen > 1:
            await r.service.reload(with_sink(f"tenant-{gen}"))
        for i, outcome in enumerate((Outcome.TIMEOUT, Outcome.SUCCESS)):  # down, then up: two notifications
            clock.advance(10)
            r.service.observe(ProbeResult("api", "http", outcome, clock.time(), 0.1))
            await receiver.wait_acked(2 * gen - 1 + i)
        sinks = {labels["sink"] for labels in series(r.service, "slowatch_notifications_total")}
        assert sinks == {f"tenant-{gen}"}, sinks
        assert {s for s, _ in r.service.dispatcher.counters} == {f"tenant-{gen}"}


def series(service: AlertService, name: str) -> list[dict[str, str]]:
    return [s.labels for fam in service.collector().collect() for s in fam.samples if s.name == name]


async def test_pending_rows_of_a_removed_sink_expire_once_no_sink_would_send_them(
    tmp_path: Path, clock: FakeClock, rig: Any
) -> None:
    """A sink removed while it was failing kept its undelivered rows `pending` for good (only done rows are
    pruned), each read back into memory at every start. Past the longest `give_up_after` (30d) any sink would
    give them up: they are marked expired then, and pruned 7 days later like any done row."""
    dead = {"kind": "webhook", "url": "http://127.0.0.1:9/refused", **FAST_SINK}
    eps = [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/", "interval": "10s",
            "alerts": {"failure_threshold": 1}}]  # fmt: skip

    def with_sinks(**sinks: Any) -> Config:
        routes = [{"match": {}, "sinks": sorted(sinks)}] if sinks else []
        return make_config(tmp_path, endpoints=eps, sinks=sinks, routes=routes,
                           alerting={"evaluate_interval": "20ms", "storm": FAST_STORM})  # fmt: skip

    r = await rig(with_sinks(broken=dead))
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.TIMEOUT, clock.time(), 0.1))
    await r.store.flush()
    await r.service.reload(with_sinks())  # the operator drops the broken sink; its notification stays pending
    db = r.config.server.database
    assert outbox(db) == [("broken", "pending")]

    clock.advance(29 * 86400)  # (a sink added back now could still deliver it)
    await asyncio.sleep(0.2)
    await r.store.flush()
    assert outbox(db) == [("broken", "pending")]
    clock.advance(2 * 86400)
    await wait_for(lambda: outbox(db) == [("broken", "expired")], r)
    clock.advance(8 * 86400)
    await wait_for(lambda: outbox(db) == [], r)


def outbox(db: str) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return [(s, st) for s, st in conn.execute("SELECT sink, status FROM alert_outbox ORDER BY id")]


async def wait_for(cond: Callable[[], bool], r: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)
        await r.store.flush()


async def test_stored_silences_go_a_week_after_they_end(tmp_path: Path, clock: FakeClock, rig: Any) -> None:
    """`slowatch alerts silence` stores one row per target; an ended one was never deleted, and every
    evaluation (every 5 s) read them all: silencing each deploy's canary endpoint grew that without bound."""
    r = await rig(make_config(tmp_path, alerting={"evaluate_interval": "20ms", "storm": FAST_STORM}))
    now = clock.time()
    r.store.put_state(silence_key("endpoint", "canary-1"), {"until": now + 3600, "reason": "deploy 1"})
    r.store.put_state(silence_key("consumer", "shop"), {"until": now + 30 * 86400, "reason": "migration"})
    await r.store.flush()
    db = r.config.server.database
    both = {silence_key("endpoint", "canary-1"), silence_key("consumer", "shop")}
    assert silences(db) == both

    clock.advance(3 * 86400)  # ended 2 days ago: still kept
    await asyncio.sleep(0.2)
    await r.store.flush()
    assert silences(db) == both
    clock.advance(6 * 86400)
    await wait_for(lambda: silences(db) == {silence_key("consumer", "shop")}, r)
    assert r.service.suppressor.silenced("consumer", "shop", clock.time())


def silences(db: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM state WHERE key LIKE 'alerting.silence.%'")}


async def test_dependency_memory_of_removed_endpoints_goes(tmp_path: Path, clock: FakeClock, rig: Any) -> None:
    """When an endpoint's down alert resolves, the dependency tracker notes when (to blame its dependents'
    failures that started before): a note per endpoint ever configured, kept after the endpoint was removed."""
    r = await rig(endpoints_config(tmp_path, ["steady", "canary-1"]))
    for gen in range(1, 4):
        if gen > 1:
            await r.service.reload(endpoints_config(tmp_path, ["steady", f"canary-{gen}"]))
        for outcome in (Outcome.TIMEOUT, Outcome.SUCCESS):  # the canary goes down and comes back
            clock.advance(10)
            r.service.observe(ProbeResult(f"canary-{gen}", "http", outcome, clock.time(), 0.1))
        assert set(r.service.health.deps._recovered) == {f"canary-{gen}"}


PATIENT_SINK = {**FAST_SINK, "retry_initial": "30s", "retry_max": "60s"}
"""A failed attempt is retried 15 s or more later: none is in flight while a test reloads."""


def hook_config(
    tmp_path: Path, receiver: FakeReceiver, *, hook: bool, patient: bool = False, kind: str = "webhook"
) -> Config:
    options = PATIENT_SINK if patient else FAST_SINK
    sinks = {"hook": {"kind": kind, "url": receiver.url("/hook"), **options}} if hook else {}
    eps = [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/", "interval": "10s",
            "alerts": {"failure_threshold": 1, "success_threshold": 1}}]  # fmt: skip
    routes = [{"match": {}, "sinks": ["hook"]}] if hook else []
    return make_config(tmp_path, endpoints=eps, sinks=sinks, routes=routes)


async def down_then_sink_removed(tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any) -> Any:
    """api goes down while the receiver refuses (503), so its FIRING stays pending for the sink; then a reload takes
    the sink out (the operator removes the broken sink). Returns the rig.

    The sink retries patiently: with FAST_SINK's 25-50 ms a retry could be on the wire when the reload removed the
    sink, reach the receiver only once a test had it answer 200, and count as acknowledged (4 runs of this file in
    19 failed so on a loaded machine; none in 25 since)."""
    receiver.default = Reply(503)
    r = await rig(hook_config(tmp_path, receiver, hook=True, patient=True))
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.TIMEOUT, clock.time(), 0.1))
    await wait_for(lambda: len(receiver.attempts) >= 1, r)
    await r.service.reload(hook_config(tmp_path, receiver, hook=False))
    return r


async def test_a_sink_added_back_gets_its_pending_notification_of_an_alert_still_firing(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """The rows of a removed sink are kept pending 30 days "for a sink added back", but a reload adding it back
    never queued them (only a restart read the outbox): the receiver never heard of an outage still going on,
    and as the sink was configured again, nothing ever expired the rows either."""
    r = await down_then_sink_removed(tmp_path, clock, receiver, rig)
    db = r.config.server.database
    await r.store.flush()
    assert outbox(db) == [("hook", "pending")]

    receiver.default = Reply(200)  # fixed: the sink is added back while api is still down
    await r.service.reload(hook_config(tmp_path, receiver, hook=True))
    (hit,) = await receiver.wait_acked(1, timeout=5.0)
    assert "api" in str(hit.body)
    await wait_for(lambda: outbox(db) == [("hook", "delivered")], r)


async def test_a_sink_added_back_is_not_told_of_an_alert_that_ended_meanwhile(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """An alert that resolved while its sink was removed sent its RESOLVED to no sink: its FIRING still pending
    for the sink would, sent once the sink is added back, show the receiver an outage that never ends."""
    r = await down_then_sink_removed(tmp_path, clock, receiver, rig)
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.SUCCESS, clock.time(), 0.1))  # resolved, told to no sink
    receiver.default = Reply(200)
    await r.service.reload(hook_config(tmp_path, receiver, hook=True))
    db = r.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "expired")], r)
    assert receiver.acked == []


async def test_a_sink_added_back_is_not_told_of_an_earlier_outage_of_an_alert_firing_again(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """api went down, came back and went down again while its sink was removed: the FIRING pending for the sink
    is of the first outage, whose RESOLVED went to no sink. Sent, the receiver shows that outage for good."""
    r = await down_then_sink_removed(tmp_path, clock, receiver, rig)
    for outcome in (Outcome.SUCCESS, Outcome.TIMEOUT):  # resolved, then firing again: told to no sink
        clock.advance(10)
        r.service.observe(ProbeResult("api", "http", outcome, clock.time(), 0.1))
    assert "endpoint:api" in r.service.book.firing
    receiver.default = Reply(200)
    await r.service.reload(hook_config(tmp_path, receiver, hook=True))
    db = r.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "expired")], r)
    assert receiver.acked == []


async def test_a_dependent_is_not_blamed_on_a_dependency_a_reload_removed(
    tmp_path: Path, clock: FakeClock, rig: Any
) -> None:
    """db down covers api (depends_on: [db]). A reload removes db (and api's depends_on): api's alert, still
    firing, kept `root_cause: db` and `suppressed_reason: dependency` in /api/v1/alerts and the status page for
    the rest of its outage, naming an endpoint no longer configured (the tracker forgot what db covered only by
    db's own name, and a dependent with no dependencies left never looked at its cover again)."""
    alerts = {"failure_threshold": 1, "success_threshold": 1}

    def config(*names: str, deps: bool) -> Config:
        eps = [{"name": n, "kind": "http", "url": f"http://127.0.0.1:9/{n}", "interval": "10s", "alerts": alerts,
                "depends_on": ["db"] if deps and n == "api" else []} for n in names]  # fmt: skip
        return make_config(tmp_path, endpoints=eps)

    r = await rig(config("db", "api", deps=True))
    for n in ("db", "api"):
        clock.advance(1)
        r.service.observe(ProbeResult(n, "http", Outcome.TIMEOUT, clock.time(), 0.1))
    (api,) = [a for a in r.service.firing_view() if a["endpoint"] == "api"]
    assert (api["root_cause"], api["suppressed_reason"]) == ("db", "dependency")

    await r.service.reload(config("api", deps=False))
    (api,) = r.service.firing_view()
    assert api["root_cause"] is None
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.TIMEOUT, clock.time(), 0.1))  # paged now: nothing covers it
    (api,) = r.service.firing_view()
    assert (api["root_cause"], api["suppressed"], api["suppressed_reason"]) == (None, False, None)


async def test_a_sink_added_back_at_a_restart_is_not_told_of_an_alert_that_ended_meanwhile(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """As above, but the sink is added back while the daemon is stopped: the filter ran only on a reload, so the
    restart restored the FIRING of the ended outage and sent it (the receiver showed api down for good)."""
    r = await down_then_sink_removed(tmp_path, clock, receiver, rig)
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.SUCCESS, clock.time(), 0.1))  # resolved, told to no sink
    await r.store.flush()
    await r.stop()
    receiver.default = Reply(200)
    attempts = len(receiver.attempts)
    again = await rig(hook_config(tmp_path, receiver, hook=True))  # the sink is in the file again at the restart
    db = again.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "expired")], again)
    assert len(receiver.attempts) == attempts
    assert again.service.dispatcher.counters[("hook", "expired")] == 1


async def test_a_pending_firing_of_an_alert_without_send_resolved_is_still_sent_after_a_restart(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """send_resolved: false queues no RESOLVED when an alert ends, so a FIRING pending then (the receiver down) is the
    sink's last news of it, sent when the receiver is back, across a restart as without one (the filter above leaves
    it alone)."""
    receiver.default = Reply(503)
    config = hook_config(tmp_path, receiver, hook=True)
    eps = [{**config.endpoints[0].model_dump(exclude_unset=True), "alerts": {
        "failure_threshold": 1, "success_threshold": 1, "send_resolved": False}}]  # fmt: skip
    sinks = {"hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK}}
    config = make_config(tmp_path, endpoints=eps, sinks=sinks, routes=[{"match": {}, "sinks": ["hook"]}])
    r = await rig(config)
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.TIMEOUT, clock.time(), 0.1))
    await wait_for(lambda: len(receiver.attempts) >= 1, r)
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.SUCCESS, clock.time(), 0.1))
    await r.store.flush()
    await r.stop()
    receiver.default = Reply(200)
    await rig(config)
    (hit,) = await receiver.wait_acked(1, timeout=5.0)
    assert hit.body["events"][0]["status"] == "firing"


async def firing_in_flight_then_sink_removed(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any, kind: str = "webhook"
) -> Any:
    """api goes down; its FIRING reaches the receiver, which holds its reply: the attempt is still in flight (its
    row says so, committed before it went out) when a reload takes the sink out. Returns the rig."""
    receiver.default = Reply(200, hang=60.0)
    r = await rig(hook_config(tmp_path, receiver, hook=True, patient=True, kind=kind))
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.TIMEOUT, clock.time(), 0.1))
    await wait_for(lambda: len(receiver.attempts) == 1, r)
    await r.service.reload(hook_config(tmp_path, receiver, hook=False))
    receiver.default = Reply(200)
    receiver.release.set()  # (the receiver has the FIRING: its late ack reaches no one)
    return r


def statuses(receiver: FakeReceiver) -> list[str]:
    return [e["status"] for hit in receiver.attempts for e in hit.body["events"]]


async def test_a_sink_added_back_gets_the_resolved_of_an_ended_alert_whose_firing_may_have_reached_it(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """The FIRING may have reached the receiver (in flight when the reload removed its sink), then the outage ended
    (its RESOLVED told to no sink): adding the sink back marked the FIRING's row expired without looking at that, and
    the receiver showed the outage firing for good. It gets the RESOLVED instead (the FIRING is not sent again)."""
    r = await firing_in_flight_then_sink_removed(tmp_path, clock, receiver, rig)
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.SUCCESS, clock.time(), 0.1))  # resolved, told to no sink
    await r.service.reload(hook_config(tmp_path, receiver, hook=True))
    db = r.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "delivered")], r)
    assert statuses(receiver) == ["firing", "resolved"]
    event = receiver.attempts[-1].body["events"][0]
    assert (event["alert"], event["since"]) == ("endpoint:api", receiver.attempts[0].body["events"][0]["since"])


async def test_a_sink_added_back_at_a_restart_gets_the_resolved_of_an_ended_alert_whose_firing_may_have_reached_it(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """As above, the sink added back while the daemon is stopped."""
    r = await firing_in_flight_then_sink_removed(tmp_path, clock, receiver, rig)
    clock.advance(10)
    r.service.observe(ProbeResult("api", "http", Outcome.SUCCESS, clock.time(), 0.1))
    await r.store.flush()
    await r.stop()
    again = await rig(hook_config(tmp_path, receiver, hook=True))
    db = again.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "delivered")], again)
    assert statuses(receiver) == ["firing", "resolved"]


async def test_a_sink_added_back_gets_the_resolved_of_an_earlier_outage_whose_firing_may_have_reached_it(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """As above, api firing again by then: the webhook receiver keys outages by their start, so the first one's
    RESOLVED is still owed to it."""
    r = await firing_in_flight_then_sink_removed(tmp_path, clock, receiver, rig)
    for outcome in (Outcome.SUCCESS, Outcome.TIMEOUT):  # resolved, then firing again: told to no sink
        clock.advance(10)
        r.service.observe(ProbeResult("api", "http", outcome, clock.time(), 0.1))
    await r.service.reload(hook_config(tmp_path, receiver, hook=True))
    db = r.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "delivered")], r)
    assert statuses(receiver) == ["firing", "resolved"]
    first, last = (hit.body["events"][0] for hit in (receiver.attempts[0], receiver.attempts[-1]))
    assert last["since"] == first["since"]


async def test_an_alertmanager_added_back_is_not_told_an_alert_firing_again_ended(
    tmp_path: Path, clock: FakeClock, receiver: FakeReceiver, rig: Any
) -> None:
    """Alertmanager keeps each alert's state by its labels, not by outage: the alert firing again, it shows the alert
    firing, which it is, and a RESOLVED of the earlier outage would end it there. The FIRING expires as before."""
    r = await firing_in_flight_then_sink_removed(tmp_path, clock, receiver, rig, kind="alertmanager")
    for outcome in (Outcome.SUCCESS, Outcome.TIMEOUT):
        clock.advance(10)
        r.service.observe(ProbeResult("api", "http", outcome, clock.time(), 0.1))
    await r.service.reload(hook_config(tmp_path, receiver, hook=True, kind="alertmanager"))
    db = r.config.server.database
    await wait_for(lambda: outbox(db) == [("hook", "expired")], r)
    assert not [a for hit in receiver.attempts for a in hit.body if "endsAt" in a]

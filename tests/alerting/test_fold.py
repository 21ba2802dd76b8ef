"""A long sink outage: the sink gets each alert's current state (plus how often it changed), not a replay."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.fold import PendingQueue, fold
from slowatch.alerting.outbox import Decision, FiringRow, OutboxItem
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_delivery import metrics_text
from tests.alerting.test_sink_audit import until

FLAPS = 30


def outbox_counts(path: str) -> dict[tuple[str, str, str], int]:
    """(sink, alert, status) -> rows, read by a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        sql = "SELECT sink, alert_key, status, count(*) FROM alert_outbox GROUP BY 1, 2, 3"
        return {(s, k, st): n for s, k, st, n in conn.execute(sql)}
    finally:
        conn.close()


def hook_events(receiver: FakeReceiver, alert: str) -> list[dict[str, Any]]:
    return [e for a in receiver.acked if a.path == "/hook" for e in a.body["events"] if e["alert"] == alert]


async def test_a_flapping_endpoint_through_a_sink_outage_delivers_its_latest_state_with_the_count(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """Both sinks answer 503 while `a` flaps 30 times (60 FIRING/RESOLVED) and `b` goes down for good.
    The outbox holds at most two rows per alert and sink (one may be in flight; the superseded ones are deleted:
    they were kept until the 7-day prune, 60 rows per sink), and after recovery each sink gets `a` once or
    twice, ending RESOLVED, saying how often it changed: not 60 messages."""
    b_target = await Target().start()
    try:
        receiver.default = Reply(503, "down")
        config = make_config(
            tmp_path,
            endpoints=[
                http_endpoint("a", target.url(), failure_threshold=1, success_threshold=1),
                http_endpoint("b", b_target.url(), failure_threshold=1, success_threshold=1),
            ],
            sinks={
                "slack": slack_sink(receiver.url("/slack")),
                "hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK},
            },
            routes=[{"match": {}, "sinks": ["slack", "hook"]}],
        )
        r = await rig(config)
        b_target.up = False
        await r.probe("b")
        await until(lambda: len(receiver.attempts) >= 2)  # both sinks tried b's FIRING and got 503
        for _ in range(FLAPS):
            target.up = False
            await r.probe("a")
            target.up = True
            await r.probe("a")
        await r.store.flush()
        counts = outbox_counts(config.server.database)
        for sink in ("slack", "hook"):
            assert counts.get((sink, "endpoint:a", "pending"), 0) <= 2, counts  # was 60 each
            assert counts[(sink, "endpoint:b", "pending")] == 1
            rows = sum(n for (s, k, _), n in counts.items() if s == sink and k == "endpoint:a")
            assert rows <= 2, counts  # the table is bounded like the queue; the count is in the payload
        workers = r.service.dispatcher.workers
        assert len(workers["hook"].queue) <= 3
        views = {v["sink"]: v for v in r.service.sinks_view()}
        assert views["hook"]["superseded"] >= 2 * FLAPS - 2  # type: ignore[operator]

        receiver.default = Reply(200, "ok")
        await until(lambda: not workers["slack"].queue and not workers["hook"].queue, 15)
        await r.store.flush()
        events = hook_events(receiver, "endpoint:a")
        assert 1 <= len(events) <= 2, [(e["status"], e["details"].get("folded")) for e in events]
        assert events[-1]["status"] == "resolved"  # its current state: up again
        assert sum(1 + e["details"].get("folded", 0) for e in events) == 2 * FLAPS  # each folded one counted
        last = events[-1]["details"]
        assert last["folded"] >= 2 * FLAPS - 2 and last["firing_undelivered"] is True
        assert "fired_at" in last and "duration" in last  # when the episode started and how long it lasted
        [b_event] = hook_events(receiver, "endpoint:b")
        assert b_event["status"] == "firing"

        slack = [a.body for a in receiver.acked if a.path == "/slack"]
        assert len(slack) <= 3, [b["text"] for b in slack]
        text = str(slack[-1]["blocks"])
        assert "RESOLVED" in slack[-1]["text"] and "Resolves `endpoint:a`, firing since" in text
        assert f"Changed state {last['folded']} times since" in text and "before this sink could be told" in text

        counts = outbox_counts(config.server.database)
        assert not any(st == "pending" for _, _, st in counts)
        assert not any(st == "superseded" for _, _, st in counts), counts
        superseded = 2 * FLAPS - counts[("hook", "endpoint:a", "delivered")]
        metrics = metrics_text(r)
        assert f'slowatch_notifications_total{{outcome="superseded",sink="hook"}} {superseded:.1f}' in metrics
    finally:
        await b_target.close()


async def test_a_reminder_waits_behind_its_alerts_pending_firing_instead_of_replacing_it(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """A FIRING never got through; the reminder that follows is not queued (the FIRING still says it)."""
    receiver.default = Reply(503, "down")
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1, reminder_interval="5m")],
        sinks={"hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    await until(lambda: len(receiver.attempts) >= 1)
    await r.probe("a", times=40, step=10)  # 400 s down: past the 5 min reminder
    receiver.default = Reply(200, "ok")
    await until(lambda: not r.service.dispatcher.workers["hook"].queue)
    await asyncio.sleep(0.2)
    assert [e["status"] for e in hook_events(receiver, "endpoint:a")] == ["firing"]  # was: firing, reminder
    assert r.service.dispatcher.counters[("hook", "superseded")] == 1  # the reminder, counted


async def test_past_max_pending_only_resolved_alerts_the_sink_never_heard_of_are_dropped(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """12 endpoints go down and stay down, then 15 more fail once and recover, while the sink answers
    503; max_pending is 10. The 12 firing states are all kept (never dropped, even past the cap); the
    oldest of the 15 RESOLVED of alerts the sink never got as firing are dropped, logged and counted."""
    down = await Target().start()
    try:
        receiver.default = Reply(503, "down")
        names = [f"d{i:02d}" for i in range(12)] + [f"f{i:02d}" for i in range(15)]
        eps = [http_endpoint(n, (down if n[0] == "d" else target).url(), failure_threshold=1, success_threshold=1)
               for n in names]  # fmt: skip
        sink = {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK, "retry_initial": "1s", "max_pending": 10}
        config = make_config(tmp_path, endpoints=eps, sinks={"hook": sink}, routes=[{"match": {}, "sinks": ["hook"]}])
        r = await rig(config)
        down.up = False
        with caplog.at_level(logging.WARNING, logger="slowatch"):
            for n in names[:12]:
                await r.probe(n)
            for n in names[12:]:
                target.up = False
                await r.probe(n)
                target.up = True
                await r.probe(n)
        queue = r.service.dispatcher.workers["hook"].queue
        pending = {i.event.alert_key: i.event.status for i in queue}
        assert {f"endpoint:{n}" for n in names[:12]} <= {k for k, s in pending.items() if s == "firing"}
        assert len(queue) <= 12 + 1  # the firing states, and at most one resolved in flight
        overflow = r.service.dispatcher.counters[("hook", "overflow")]
        assert overflow >= 15 - 2
        assert "outbox over max_pending: dropped" in caplog.text and "sink=hook" in caplog.text
        assert "only current alert states left" in caplog.text
        await r.store.flush()
        counts = outbox_counts(config.server.database)
        assert sum(n for (_, _, st), n in counts.items() if st == "pending") == len(queue)
        receiver.default = Reply(200, "ok")
        await until(lambda: not queue, 15)
        got = {e["alert"]: e["status"] for a in receiver.acked for e in a.body["events"]}
        assert all(got[f"endpoint:{n}"] == "firing" for n in names[:12])
        assert f"endpoint:{names[-1]}" in got or overflow == 15  # the newest resolved stays unless it was dropped
        text = metrics_text(r)
        assert f'slowatch_notifications_total{{outcome="overflow",sink="hook"}} {overflow:.1f}' in text
    finally:
        await down.close()


async def test_max_pending_is_validated(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"max_pending\n.*greater than or equal to 10"):
        make_config(tmp_path, sinks={"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/h", "max_pending": 0}})


async def test_restart_after_a_fold_sends_only_the_latest_state_with_the_count(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    """The rows a fold superseded are gone (deleted in the op that queued their successor), their count kept in
    the successor's payload: the new process sends the latest state once, saying what it stands for."""
    receiver.default = Reply(503, "down")
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    first = await Rig(config, clock).start()
    for _ in range(5):
        target.up = False
        await first.probe("a")
        target.up = True
        await first.probe("a")
    target.up = False
    await first.probe("a")  # down at the end: its current state is FIRING
    await first.stop()
    before = outbox_counts(config.server.database)
    assert before.get(("hook", "endpoint:a", "pending"), 0) <= 2 and sum(before.values()) <= 2, before
    receiver.default = Reply(200, "ok")
    second = await rig(config)
    await until(lambda: not second.service.dispatcher.workers["hook"].queue)
    await asyncio.sleep(0.2)
    events = hook_events(receiver, "endpoint:a")
    assert events[-1]["status"] == "firing" and len(events) <= 2
    assert sum(1 + e["details"].get("folded", 0) for e in events) == 11
    after = outbox_counts(config.server.database)  # (one in flight at the stop may be delivered, or folded at start)
    assert set(after) <= {("hook", "endpoint:a", "delivered")} and sum(after.values()) <= 2, after


async def test_a_replay_left_in_the_outbox_by_an_older_version_is_folded_at_start(
    tmp_path: Path, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    """Rows queued before folding existed (or an item in flight at a crash and the one behind it): the
    next start folds them as if queued now, stores that, and sends the alert's latest state once."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", "http://127.0.0.1:9/health")],
        sinks={"hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    now = clock.time()
    firing = [
        AlertEvent("endpoint:a", "endpoint_down", "firing", "page", t, t, "endpoint a is down", "down", endpoint="a")
        for t in (now - 300, now - 200, now - 100)
    ]
    replay = [firing[0], firing[0].as_resolved(firing[0].ts + 50), firing[1], firing[1].as_resolved(firing[1].ts + 50),
              firing[2], firing[2].as_reminder(clock.time(), 1)]  # fmt: skip
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    await store.start()
    # no fold: as before; with the alert's firing state, written with its rows by every version (service.py
    # `_unended` expires the FIRING of an alert not firing: its sink was not configured when it resolved)
    state = {"endpoint:a": FiringRow("endpoint:a", firing[2], True, firing[2].ts)}
    store.submit(Decision(clock.time(), firing=state, items=[OutboxItem("hook", e, e.ts) for e in replay]))
    await store.flush()
    await store.close()

    r = await rig(config)
    await until(lambda: not r.service.dispatcher.workers["hook"].queue)
    await asyncio.sleep(0.2)
    [event] = hook_events(receiver, "endpoint:a")  # was: all six, FIRING, RESOLVED, ..., STILL FIRING
    assert (event["id"], event["details"]["folded"]) == (firing[2].event_id, 4)
    await r.store.flush()
    counts = outbox_counts(config.server.database)
    assert counts == {("hook", "endpoint:a", "delivered"): 1}  # the 5 superseded rows deleted in the same op
    stored = await r.store.read(lambda db: db.execute("SELECT payload FROM alert_outbox WHERE status = 'delivered'"))
    assert AlertEvent.from_json(stored.fetchone()[0]).details["folded"] == 4  # the fold was stored with it


async def test_a_restart_adds_to_the_counts_a_restored_row_already_carries(
    tmp_path: Path, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    """An item in flight at a stop (or kill -9) and a newer one behind it that had already folded others: the fold at
    start replaced the newer one's `folded` / `folded_since` by the in-flight one's alone ('changed state 3 times'
    after 10 notifications: tests/alerting/test_fold.py's restart test failed now and then on this). It adds."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", "http://127.0.0.1:9/health")],
        sinks={"hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    now = clock.time()

    def firing(t: float, **details: Any) -> AlertEvent:
        return AlertEvent("endpoint:a", "endpoint_down", "firing", "page", t, t, "a is down", "down", endpoint="a",
                          details=details)  # fmt: skip

    in_flight = firing(now - 300, folded=2, folded_since=now - 400)  # stood for 3 notifications
    newer = firing(now - 100, folded=6, folded_since=now - 290)  # for 7, queued behind it
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    await store.start()
    state = {"endpoint:a": FiringRow("endpoint:a", newer, True, newer.ts)}  # (it fires: test above)
    store.submit(Decision(clock.time(), firing=state, items=[OutboxItem("hook", e, e.ts) for e in (in_flight, newer)]))
    await store.flush()
    await store.close()

    r = await rig(config)
    await until(lambda: not r.service.dispatcher.workers["hook"].queue)
    [event] = hook_events(receiver, "endpoint:a")
    assert (event["id"], event["details"]["folded"], event["details"]["folded_since"]) == (
        newer.event_id, 2 + 1 + 6, now - 400,
    )  # fmt: skip


def test_sinks_waiting_for_the_same_notifications_share_one_folded_event() -> None:
    """Each sink's item used to get its own folded copy of the event (and its own reason string): with two dead
    webhooks, a flapping partition's ops waiting for the store held twice the events (peak RSS 296 -> 249 MB in
    benchmarks/alert_fold.py, 2,000 endpoints x 20 flaps). Sinks with the same history now share one."""

    class Sink:
        def __init__(self) -> None:
            self.queue = PendingQueue()

        max_pending = 100

    sinks = {"one": Sink(), "two": Sink()}
    counts: Counter[tuple[str, str]] = Counter()
    down = AlertEvent("endpoint:a", "endpoint_down", "firing", "page", 100.0, 100.0, "a is down", "down", endpoint="a")
    for event in (down, down.as_resolved(150.0), replace(down, since=200.0, ts=200.0)):
        decision = Decision(event.ts, items=[OutboxItem(name, event, event.ts) for name in sinks])
        fold(decision, sinks, counts)
        for item in decision.items:
            sinks[item.sink].queue.append(item)
    one, two = (next(iter(s.queue)) for s in sinks.values())
    assert one.event is two.event and one.event.details["folded"] == 2
    assert len(decision.superseded) == 2 and decision.superseded[0][2] is decision.superseded[1][2]
    assert counts == {("one", "superseded"): 2, ("two", "superseded"): 2}

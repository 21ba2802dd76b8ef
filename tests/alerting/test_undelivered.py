"""`firing_undelivered` says a sink never got an alert's FIRING; it must not say so when the sink may have got it.

A RESOLVED that supersedes its episode's FIRING (fold.py) was flagged `firing_undelivered` whenever that FIRING was
still queued, even when the receiver had it: an attempt that timed out after the request went out (the receiver
acted, its answer came too late), or, for Alertmanager, a re-POST that carried the alert firing. The flag is what
a receiver is told ("this alert never paged you") and what `max_pending` may drop: the sink then kept the alert
firing for good. Against real aiohttp receivers and the outbox's real SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slowatch.config.schema import Config
from tests.alerting.conftest import Rig, http_endpoint, make_config
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_alertmanager_races import until

SLOW_RETRY = {"retry_initial": "2s", "retry_max": "2s"}  # the first retry 1-2 s after a failure: time to fold
SLOW_RETRY_4S = {"retry_initial": "4s", "retry_max": "4s"}


def payloads(r: Rig, sink: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(r.config.server.database)
    try:
        rows = conn.execute("SELECT payload FROM alert_outbox WHERE sink = ? ORDER BY id", (sink,)).fetchall()
    finally:
        conn.close()
    return [json.loads(p) for (p,) in rows]


def x_config(tmp_path: Path, target: Target, sink: str, settings: dict[str, Any]) -> Config:
    """One endpoint, x (down after one failure, up after one success), routed to one sink."""
    return make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={sink: settings},
        routes=[{"sinks": [sink]}],
    )


async def test_a_firing_whose_attempt_timed_out_is_not_said_undelivered(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """The webhook acts on x's FIRING but answers after the sink's timeout; x recovers before the retry. The RESOLVED
    that folds the FIRING must not tell the receiver it never got it."""
    receiver.script.append(Reply(200, hang=1.0))  # acted on, answered too late
    config = x_config(
        tmp_path, target, "hook", {"kind": "webhook", "url": receiver.url("/hook"), "timeout": "300ms", **SLOW_RETRY}
    )
    r = await rig(config)
    queue = r.service.dispatcher.workers["hook"].queue
    target.up = False
    await r.probe("x")
    await until(lambda: bool(queue) and queue[0].attempts == 1 and not queue[0].in_flight, "the FIRING timed out")
    target.up = True
    await r.probe("x")  # before the retry: the RESOLVED supersedes the FIRING waiting for it
    await until(lambda: not queue, "the RESOLVED delivered")
    got = [e["status"] for hit in receiver.attempts for e in hit.body["events"]]
    assert got == ["firing", "resolved"]  # the receiver did get the FIRING (its answer was cut)
    [resolved] = [e for hit in receiver.acked for e in hit.body["events"]]
    assert resolved["details"]["folded"] == 1
    assert "firing_undelivered" not in resolved["details"], resolved["details"]


async def test_a_firing_an_alertmanager_re_post_carried_is_not_said_undelivered(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """x's queued FIRING is refused (503) and waits for its retry; meanwhile the re-POST carries x firing and is
    acknowledged. The RESOLVED that folds the waiting FIRING is not flagged (nor droppable by max_pending)."""
    receiver.script.append(Reply(503))
    config = x_config(
        tmp_path,
        target,
        "am",
        {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "100ms", **SLOW_RETRY},
    )
    r = await rig(config)
    queue = r.service.dispatcher.workers["am"].queue
    target.up = False
    await r.probe("x")
    await until(lambda: bool(queue) and queue[0].attempts == 1 and not queue[0].in_flight, "the FIRING refused")
    await until(lambda: r.service.dispatcher.counters[("am", "refreshed")] >= 1, "a re-POST of x acknowledged")
    target.up = True
    await r.probe("x")
    await r.store.flush()
    [resolved] = [p for p in payloads(r, "am") if p["status"] == "resolved"]
    assert resolved["details"]["folded"] == 1  # type: ignore[index]
    assert "firing_undelivered" not in resolved["details"], resolved  # type: ignore[operator]
    await until(lambda: not queue, "the RESOLVED delivered")


async def test_a_firing_that_may_have_reached_the_receiver_is_known_so_after_a_restart(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """x's FIRING timed out once (the receiver acted on it), then got a 503; the process stops with it pending. The
    restarted one folds it into x's RESOLVED: still not `firing_undelivered` (the row's last error says so)."""
    receiver.script.append(Reply(200, hang=1.0))
    receiver.default = Reply(503)
    config = x_config(
        tmp_path, target, "hook", {"kind": "webhook", "url": receiver.url("/hook"), "timeout": "300ms", **SLOW_RETRY}
    )
    first = await rig(config)
    target.up = False
    await first.probe("x")
    await until(lambda: len(receiver.attempts) >= 2, "the timed-out attempt and a 503")
    await first.stop()
    second = await rig(config)
    queue = second.service.dispatcher.workers["hook"].queue
    await until(lambda: len(receiver.attempts) >= 3 and not queue[0].in_flight, "the restored FIRING refused")
    target.up = True
    await second.probe("x")  # the RESOLVED folds the FIRING restored from the outbox
    receiver.default = Reply()
    await until(lambda: not queue, "the RESOLVED delivered")
    [resolved] = [e for hit in receiver.acked for e in hit.body["events"] if e["status"] == "resolved"]
    assert resolved["details"]["folded"] == 1, resolved
    assert "firing_undelivered" not in resolved["details"], resolved["details"]


async def test_max_pending_never_drops_the_resolved_of_a_firing_the_receiver_may_have(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """The consequence: x's RESOLVED, wrongly flagged, was the oldest "quiet" one when ten other alerts fired and
    resolved through the outage, and `max_pending` (10) dropped it: the receiver, which had x's FIRING, never
    heard x resolve. The RESOLVEDs of alerts it never got go first."""
    receiver.script.append(Reply(200, hang=1.0))
    receiver.default = Reply(503)
    others = [await Target().start() for _ in range(10)]
    try:
        config = make_config(
            tmp_path,
            endpoints=[
                http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1),
                *(
                    http_endpoint(f"y{i}", t.url(), failure_threshold=1, success_threshold=1)
                    for i, t in enumerate(others)
                ),
            ],
            sinks={
                "hook": {
                    "kind": "webhook",
                    "url": receiver.url("/hook"),
                    "timeout": "300ms",
                    "max_pending": 10,
                    "retry_initial": "4s",
                    "retry_max": "4s",
                }
            },
            routes=[{"sinks": ["hook"]}],
        )
        r = await rig(config)
        queue = r.service.dispatcher.workers["hook"].queue
        target.up = False
        await r.probe("x")
        await until(lambda: bool(queue) and queue[0].attempts == 1 and not queue[0].in_flight, "the FIRING timed out")
        target.up = True
        await r.probe("x")  # x's RESOLVED folds its FIRING
        for i, t in enumerate(others):  # ten alerts fire and resolve, never sent: quiet RESOLVEDs
            t.up = False
            await r.probe(f"y{i}")
            t.up = True
            await r.probe(f"y{i}")
        assert r.service.dispatcher.counters[("hook", "overflow")] == 1
        receiver.default = Reply()
        await until(lambda: not queue, "the queue delivered", timeout=15.0)
        sent = [(e["alert"], e["status"]) for hit in receiver.acked for e in hit.body["events"]]
        assert ("endpoint:x", "resolved") in sent, sent
    finally:
        for t in others:
            await t.close()


async def test_a_resolved_owed_from_an_earlier_episode_survives_a_fold_through_the_next_firing(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """x's FIRING is delivered; then the receiver answers 503 and x flaps: its RESOLVED (refused, waiting) is folded
    into the next FIRING, and that FIRING into the next RESOLVED. That RESOLVED was flagged `firing_undelivered` (its
    own episode's FIRING was never sent) though the receiver still shows x firing from the first episode, and
    `max_pending` dropped it first: the receiver never heard x resolve."""
    others = [await Target().start() for _ in range(10)]
    try:
        config = make_config(
            tmp_path,
            endpoints=[
                http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1),
                *(
                    http_endpoint(f"y{i}", t.url(), failure_threshold=1, success_threshold=1)
                    for i, t in enumerate(others)
                ),
            ],
            sinks={"hook": {"kind": "webhook", "url": receiver.url("/hook"), "max_pending": 10, **SLOW_RETRY_4S}},
            routes=[{"sinks": ["hook"]}],
        )
        r = await rig(config)
        queue = r.service.dispatcher.workers["hook"].queue
        target.up = False
        await r.probe("x")
        await receiver.wait_acked(1)  # the receiver shows x firing
        receiver.default = Reply(503)
        target.up = True
        await r.probe("x")
        await until(lambda: bool(queue) and queue[0].attempts == 1 and not queue[0].in_flight, "the RESOLVED refused")
        target.up = False
        await r.probe("x")  # the next FIRING folds the waiting RESOLVED
        target.up = True
        await r.probe("x")  # and the next RESOLVED folds that FIRING
        for i, t in enumerate(others):  # ten alerts fire and resolve, never sent: quiet RESOLVEDs
            t.up = False
            await r.probe(f"y{i}")
            t.up = True
            await r.probe(f"y{i}")
        assert r.service.dispatcher.counters[("hook", "overflow")] == 1
        receiver.default = Reply()
        await until(lambda: not queue, "the queue delivered", timeout=15.0)
        x = [e for hit in receiver.acked for e in hit.body["events"] if e["alert"] == "endpoint:x"]
        assert [e["status"] for e in x] == ["firing", "resolved"], x
        assert "firing_undelivered" not in x[1]["details"] and x[1]["details"]["folded"] == 2, x[1]["details"]
    finally:
        for t in others:
            await t.close()


async def test_a_firing_an_alertmanager_re_post_carried_is_known_so_after_a_restart(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """x's FIRING is refused (503) and waits; a re-POST carrying x firing is acknowledged; x recovers while the
    FIRING's retry is in flight (so its RESOLVED queues behind it), and the process stops (a kill -9 keeps the same
    rows). The re-POST's reach was held in memory only: the restarted process folded the RESOLVED over the FIRING as
    `firing_undelivered`, which `max_pending` drops first, though Alertmanager had x firing."""
    receiver.script.append(Reply(503))
    config = x_config(
        tmp_path,
        target,
        "am",
        {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "100ms", **SLOW_RETRY},
    )
    first = await rig(config)
    queue = first.service.dispatcher.workers["am"].queue
    target.up = False
    await first.probe("x")
    await until(lambda: bool(queue) and queue[0].attempts == 1 and not queue[0].in_flight, "the FIRING refused")
    await until(lambda: first.service.dispatcher.counters[("am", "refreshed")] >= 1, "a re-POST of x acknowledged")
    receiver.default = Reply(200, hang=30.0)  # what comes next hangs: the FIRING's retry is in flight meanwhile
    await until(lambda: queue[0].in_flight, "the FIRING's retry in flight")
    target.up = True
    await first.probe("x")  # queued behind the FIRING in flight: not folded
    await first.store.flush()
    assert [i.event.status for i in queue] == ["firing", "resolved"]
    await first.stop()
    second = await rig(config)
    await second.store.flush()
    [resolved] = [p for p in payloads(second, "am") if p["status"] == "resolved"]
    assert resolved["details"]["folded"] == 1  # type: ignore[index]
    assert "firing_undelivered" not in resolved["details"], resolved  # type: ignore[operator]


async def test_a_firing_in_flight_at_a_stop_is_known_to_have_maybe_reached_the_receiver_after_it(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """The webhook has x's FIRING (and is slow to answer) when the process stops: nothing of that attempt was in the
    outbox row (attempts 0, no error), so the restarted process, its receiver now refusing, folded x's RESOLVED over
    the restored FIRING as `firing_undelivered`: droppable by `max_pending`, though the receiver shows x firing."""
    receiver.script.append(Reply(200, hang=30.0))
    receiver.default = Reply(503)
    config = x_config(tmp_path, target, "hook", {"kind": "webhook", "url": receiver.url("/hook"), **SLOW_RETRY_4S})
    first = await rig(config)
    target.up = False
    await first.probe("x")
    await until(lambda: len(receiver.attempts) == 1, "the FIRING at the receiver, its answer pending")
    await first.stop()  # (a kill -9 leaves the same rows: the attempt in flight is cut either way)
    second = await rig(config)
    queue = second.service.dispatcher.workers["hook"].queue
    await until(lambda: len(receiver.attempts) >= 2 and not queue[0].in_flight, "the restored FIRING refused")
    target.up = True
    await second.probe("x")  # the RESOLVED folds the FIRING restored from the outbox
    await second.store.flush()
    [resolved] = [p for p in payloads(second, "hook") if p["status"] == "resolved"]
    assert resolved["details"]["folded"] == 1  # type: ignore[index]
    assert "firing_undelivered" not in resolved["details"], resolved  # type: ignore[operator]


async def test_each_sink_s_resolved_says_what_that_sink_may_have_got_when_two_sinks_fold_the_same_firing(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """x's FIRING goes to two webhooks: `acted` acts on it but answers after the timeout (it may have it), `down`
    answers 503 (it does not). x recovers before either retries. The fold computes one folded RESOLVED for the
    sinks that wait for the same events (fold.fold's `shared`), but whether the FIRING may have reached the
    receiver is the sink's own: whichever sink came first, the other got its flag. `acted` told "never got the
    FIRING" (`firing_undelivered`: droppable by max_pending, the receiver showing x firing for good), or `down`
    not told that it never got it."""
    other = await FakeReceiver().start()
    try:
        receiver.script.append(Reply(200, hang=1.0))  # acted on, answered too late
        other.script.append(Reply(503))
        hook = {"kind": "webhook", "timeout": "300ms", **SLOW_RETRY}
        config = make_config(
            tmp_path,
            endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)],
            sinks={"acted": {**hook, "url": receiver.url("/hook")}, "down": {**hook, "url": other.url("/hook")}},
            routes=[{"sinks": ["acted", "down"]}],
        )
        r = await rig(config)
        queues = [r.service.dispatcher.workers[name].queue for name in ("acted", "down")]
        target.up = False
        await r.probe("x")
        await until(lambda: all(q and q[0].attempts == 1 and not q[0].in_flight for q in queues), "both FIRINGs failed")
        target.up = True
        await r.probe("x")  # before either retry: each sink's RESOLVED folds its FIRING
        await until(lambda: not any(queues), "both RESOLVEDs delivered")
        [acted] = [e for hit in receiver.acked for e in hit.body["events"]]
        [down] = [e for hit in other.acked for e in hit.body["events"]]
        assert (acted["status"], down["status"]) == ("resolved", "resolved")
        assert "firing_undelivered" not in acted["details"], acted["details"]
        assert down["details"].get("firing_undelivered") is True, down["details"]
    finally:
        await other.close()

"""A sink's worker survives what nobody anticipated: an exception while sending is a failed attempt
(retried, counted, kept in the outbox); a crash of the worker itself restarts it after a backoff."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.events import AlertEvent, endpoint_key
from slowatch.alerting.outbox import Decision, OutboxItem, list_outbox
from slowatch.alerting.sink_worker import INTERNAL_STRIKES
from slowatch.alerting.sinks import SlackSink
from slowatch.alerting.sinks.base import Request
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.store import Store
from tests.alerting.conftest import http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target
from tests.alerting.test_delivery import metrics_text

SECRET_PATH = "/services/T000/B000/SUPERVISESECRET"


def one_sink_config(tmp_path: Path, target: Target, url: str, **sink: Any) -> Config:
    return make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"oncall": {**slack_sink(url), **sink}},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "Traceback" in r.getMessage()]


def odd_event(clock: FakeClock) -> AlertEvent:
    """An alert with a status this version does not know (an outbox row left by another slowatch version):
    the Slack formatter raises on it."""
    now = clock.time()
    return AlertEvent(endpoint_key("old"), "endpoint_down", "escalated", "page", now - 60, now - 55,  # type: ignore[arg-type]
                      "endpoint old is down", "written by a newer slowatch", endpoint="old")  # fmt: skip


async def left_in_outbox(config: Config, clock: FakeClock, event: AlertEvent) -> None:
    store = Store(config.server.database, clock=clock, retention=RetentionConfig())
    await store.start()
    store.submit(Decision(clock.time(), items=[OutboxItem("oncall", event, created=clock.time() - 55)]))
    await store.flush()
    await store.close()


async def test_a_notification_the_sink_cannot_render_fails_after_three_tries_and_the_sink_keeps_delivering(
    tmp_path: Path, clock: FakeClock, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """It used to end the sink's worker (nothing more delivered until a restart); then it was retried until
    `give_up_after` (a day by default), holding up every alert behind it on that sink."""
    config = one_sink_config(tmp_path, target, receiver.url())
    odd = odd_event(clock)
    await left_in_outbox(config, clock, odd)

    with caplog.at_level(logging.INFO, logger="slowatch"):
        r = await rig(config)  # restores the odd row from the outbox and tries it at once
        counters = r.service.dispatcher.counters
        await until(lambda: counters[("oncall", "failed")] == 1, timeout=10)
        target.up = False
        await r.probe("a")
        acked = await receiver.wait_acked(1)
    assert len(receiver.attempts) == 1 and "endpoint a is down" in acked[0].body["text"]
    # (the receiver has answered; the dispatcher records the acknowledgement in the outbox right after)
    deadline = asyncio.get_running_loop().time() + 5
    while "pending" in {row.status for row in await r.store.read(list_outbox)}:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    rows = {row.event_id: row for row in await r.store.read(list_outbox)}
    assert (rows[odd.event_id].status, rows[odd.event_id].attempts) == ("failed", INTERNAL_STRIKES)
    assert rows[odd.event_id].last_error == "internal error: KeyError: 'escalated'"
    assert sorted(row.status for row in rows.values()) == ["delivered", "failed"]
    [trace] = tracebacks(caplog)  # once, however often it was retried
    assert "sink raised while sending" in trace and "sink=oncall" in trace and "KeyError" in trace
    assert "cannot be sent by this version, giving up on it sink=oncall" in caplog.text
    assert "crashed" not in caplog.text
    text = metrics_text(r)
    assert f'slowatch_notifications_total{{outcome="error",sink="oncall"}} {INTERNAL_STRIKES:.1f}' in text
    assert 'slowatch_notifications_total{outcome="delivered",sink="oncall"} 1.0' in text
    assert 'slowatch_alert_sink_restarts_total{sink="oncall"} 0.0' in text


class RaisesOnB(SlackSink):
    """Sends whatever is queued as one message (as the Alertmanager sink does), and cannot render endpoint b's."""

    always_batch = True

    def request(self, events: Sequence[AlertEvent], *, test: bool = False) -> Request:
        if any(e.endpoint == "b" for e in events):
            raise RuntimeError("cannot render endpoint b")
        return super().request(events, test=test)


async def test_a_batch_the_sink_raises_on_is_retried_one_by_one_and_the_good_ones_go_out(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in ("a", "b", "c")],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    dispatcher = r.service.dispatcher
    dispatcher.set_sinks({"oncall": RaisesOnB("oncall", config.sinks["oncall"], None)}, config.alerting.storm)
    target.up = False
    for name in ("a", "b", "c"):  # queued within the head's group_wait: one batch
        await r.probe(name)
    await until(lambda: dispatcher.counters[("oncall", "failed")] == 1, timeout=10)
    await until(lambda: dispatcher.counters[("oncall", "delivered")] == 2, timeout=10)
    sent = " ".join(hit.body["text"] for hit in receiver.acked)
    assert "endpoint a is down" in sent and "endpoint c is down" in sent and "endpoint b" not in sent
    statuses = sorted(row.status for row in await r.store.read(list_outbox))
    assert statuses == ["delivered", "delivered", "failed"]


class RaisesOnce(SlackSink):
    """A Slack sink with a bug on its first message: the exception quotes the webhook URL (a secret)."""

    calls = 0

    def request(self, events: Sequence[AlertEvent], *, test: bool = False) -> Request:
        RaisesOnce.calls += 1
        if RaisesOnce.calls == 1:
            raise RuntimeError(f"cannot build a message for {self.secrets()[0]}")
        return super().request(events, test=test)


async def test_a_sink_that_raises_once_delivers_the_notification_on_the_retry_exactly_once(
    tmp_path: Path, receiver: FakeReceiver, target: Target, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = one_sink_config(tmp_path, target, receiver.url(SECRET_PATH))
    r = await rig(config)
    dispatcher = r.service.dispatcher
    RaisesOnce.calls = 0
    dispatcher.set_sinks({"oncall": RaisesOnce("oncall", config.sinks["oncall"], None)}, config.alerting.storm)
    target.up = False
    with caplog.at_level(logging.INFO, logger="slowatch"):
        await r.probe("a")
        await receiver.wait_acked(1)
        await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 1 and RaisesOnce.calls == 2
    [row] = await r.store.read(list_outbox)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert row.last_error == "internal error: RuntimeError: cannot build a message for <hidden>"
    assert [dispatcher.counters[("oncall", k)] for k in ("error", "retried", "delivered")] == [1, 1, 1]
    [trace] = tracebacks(caplog)
    assert "sink=oncall" in trace and "RuntimeError" in trace
    assert "SUPERVISESECRET" not in caplog.text and "/services/" not in caplog.text


class CrashesWorker(SlackSink):
    """A bug outside `send`: the dispatcher reading `always_batch` raises while `crashes` is positive."""

    crashes = 0

    @property  # type: ignore[misc]
    def always_batch(self) -> bool:  # type: ignore[override]
        if CrashesWorker.crashes > 0:
            CrashesWorker.crashes -= 1
            raise ValueError("storm control bug")
        return False


async def test_a_crashed_worker_is_restarted_with_backoff_and_stop_stays_bounded(
    tmp_path: Path, receiver: FakeReceiver, target: Target, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = one_sink_config(tmp_path, target, receiver.url())
    r = await rig(config)
    dispatcher = r.service.dispatcher
    CrashesWorker.crashes = 3
    dispatcher.set_sinks({"oncall": CrashesWorker("oncall", config.sinks["oncall"], None)}, config.alerting.storm)
    target.up = False
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="slowatch"):
        await r.probe("a")
        await receiver.wait_acked(1)
        took = time.monotonic() - t0
        await asyncio.sleep(0.3)
    assert dispatcher.restarts["oncall"] == 3 and len(receiver.attempts) == 1
    assert took >= 0.05 + 0.1 + 0.2 - 0.05  # backoff: retry_initial 50ms, doubling to retry_max 200ms
    [row] = await r.store.read(list_outbox)
    assert (row.status, row.attempts) == ("delivered", 1)
    crashed = [rec.getMessage() for rec in caplog.records if "worker crashed" in rec.getMessage()]
    assert len(crashed) == 3 and all("sink=oncall" in m and "storm control bug" in m for m in crashed)
    assert len(tracebacks(caplog)) == 1  # then one line per restart
    assert 'slowatch_alert_sink_restarts_total{sink="oncall"} 3.0' in metrics_text(r)

    CrashesWorker.crashes = 1_000_000  # crashing for good: stop() must not wait on its restart loop
    target.up = True
    await r.probe("a", times=2)  # resolved: a new message for the worker to crash on
    await until(lambda: dispatcher.restarts["oncall"] >= 5)
    t0 = time.monotonic()
    await dispatcher.stop(grace=1.0)
    assert time.monotonic() - t0 < 1.0
    assert all(w.task is not None and w.task.done() for w in dispatcher.workers.values())


class CrashesWhileSending(SlackSink):
    """A bug inside the send step (after the batch is marked in flight): reading `latest_only` raises once."""

    crashes = 0

    @property  # type: ignore[misc]
    def latest_only(self) -> bool:  # type: ignore[override]
        if CrashesWhileSending.crashes > 0:
            CrashesWhileSending.crashes -= 1
            raise ValueError("payload bug")
        return False


async def test_a_worker_crashed_mid_send_leaves_nothing_marked_in_flight_while_it_waits_to_restart(
    tmp_path: Path, receiver: FakeReceiver, target: Target, rig: Any
) -> None:
    """The items a crash interrupted stayed `in_flight` through the restart backoff (up to retry_max): a newer state
    of their alert could not supersede them (fold.py), so the sink got both. Nothing is in flight while the worker
    is down: the RESOLVED supersedes the FIRING it interrupted."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"oncall": slack_sink(receiver.url(), retry_initial="30s", retry_max="30s")},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    dispatcher = r.service.dispatcher
    dispatcher.set_sinks({"oncall": CrashesWhileSending("oncall", config.sinks["oncall"], None)}, config.alerting.storm)
    target.up = False
    await r.probe("a")  # queued; the worker reads `latest_only` again after awaiting the outbox commit:
    CrashesWhileSending.crashes = 1
    await until(lambda: dispatcher.restarts["oncall"] == 1)  # crashed; restarts in 30 s
    target.up = True
    await r.probe("a")
    queue = dispatcher.workers["oncall"].queue
    assert [i.event.status for i in queue] == ["resolved"] and dispatcher.counters[("oncall", "superseded")] == 1
    assert not receiver.attempts

"""The going-out mark (SinkWorker.going_out) against real receivers and the outbox's real SQLite file: a row says
IN_FLIGHT only while its attempt may really be out, what a restart makes of one is what users are then shown,
and a store that stops committing while an alert waits for its mark does not hold that alert back."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting import AlertService
from slowatch.alerting.cli import alerts_report
from slowatch.alerting.outbox import list_outbox, load_pending
from slowatch.alerting.sinks.base import IN_FLIGHT, maybe_received
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.probes import ProbeContext, make_session, run_probe
from slowatch.store import Store
from tests.alerting.conftest import http_endpoint, make_config
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_sink_audit import until
from tests.store.helpers import eventually


def rows(path: str) -> dict[str, tuple[str, int, str]]:
    """alert key -> (status, attempts, last_error) of each outbox row, read from the file itself."""
    conn = sqlite3.connect(path)
    try:
        got = conn.execute("SELECT alert_key, status, attempts, last_error FROM alert_outbox").fetchall()
    finally:
        conn.close()
    return {k: (s, a, e) for k, s, a, e in got}


async def test_a_grouped_message_refused_as_too_large_leaves_no_row_saying_it_is_going_out(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """Four alerts go as one grouped message; the receiver answers 413, so they go again in halves, and the first
    half is refused (503) and waits for its retry. The second half's rows kept the 413 attempt's IN_FLIGHT mark
    (never replaced: its outcome was only in memory): `slowatch alerts` said an attempt of them was going out
    while none was, and a restart then took them for maybe received (a RESOLVED folding one was no longer
    `firing_undelivered`, though the receiver had refused them)."""
    receiver.script.extend([Reply(413, "too large"), Reply(503, "busy")])
    storm = {"threshold": 2, "window": "1m", "group_wait": "1s", "group_interval": "200ms"}
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in "abcd"],
        sinks={"hook": {"kind": "webhook", "url": receiver.url(), "retry_initial": "20s", "retry_max": "20s"}},
        routes=[{"match": {}, "sinks": ["hook"]}],
        alerting={"storm": storm},
    )
    r = await rig(config)
    target.up = False
    for name in "abcd":
        await r.probe(name)
    await until(lambda: r.service.dispatcher.counters[("hook", "retried")] == 1)  # the first half's 503
    assert [len(hit.body["events"]) for hit in receiver.attempts] == [4, 2]
    await asyncio.wait_for(r.store.flush(), 10)
    first = {e["alert"] for e in receiver.attempts[1].body["events"]}
    second = {k: v for k, v in rows(config.server.database).items() if k not in first}
    assert len(second) == 2
    for status, attempts, error in second.values():
        assert (status, attempts) == ("pending", 1)
        assert error.startswith("HTTP 413") and IN_FLIGHT not in error, error
    restored = await r.store.read(load_pending)
    assert [i.reached for i in restored] == [False] * 4  # nothing of them may have reached the receiver


async def test_a_row_in_flight_at_a_stop_is_shown_as_maybe_received_not_as_going_out_after_the_restart(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """The daemon stops while its webhook hangs on x's FIRING. After the restart the row is delivered; `slowatch
    alerts` showed it delivered with the old run's IN_FLIGHT text as its last error ("an attempt going out: if
    this process stopped..."), about an attempt of a process long gone (so did /api/v1/alerts for its head)."""
    receiver.script.append(Reply(200, hang=30))
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1)],
        sinks={"hook": {"kind": "webhook", "url": receiver.url(), "timeout": "20s", "retry_initial": "3s"}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    first = await rig(config)
    target.up = False
    await first.probe("x")
    await until(lambda: len(receiver.attempts) == 1)
    await first.stop()  # the attempt is cancelled after the stop's grace: its row says IN_FLIGHT
    [(_, _, error)] = rows(config.server.database).values()
    assert error.endswith(IN_FLIGHT)

    second = await rig(config)
    await receiver.wait_acked(1)
    await eventually(lambda: second.service.dispatcher.counters[("hook", "delivered")] == 1)
    await asyncio.wait_for(second.store.flush(), 10)
    lines, code = alerts_report(config)
    assert code == 0
    [line] = [line for line in lines if "delivered" in line]
    assert "going out" not in line and "may have reached the receiver" in line, line
    [row] = await second.store.read(list_outbox)
    assert IN_FLIGHT not in row.last_error


async def test_a_store_failing_while_an_alert_waits_for_its_going_out_mark_does_not_hold_the_alert(
    tmp_path: Path, target: Target, receiver: FakeReceiver, clock: FakeClock
) -> None:
    """Another process holds the database's write lock as x fires (a backup, a `sqlite3` shell; a full disk fails
    the same way, only at once): the store is still healthy when x's attempt starts waiting for its going-out
    mark, and turns unhealthy when that commit fails (after `busy_timeout`, 0.3 s here). The wait went on for the
    whole `durable_wait` (10 s by default; 120 s here) though the store had said it could not commit."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1)],
        sinks={"hook": {"kind": "webhook", "url": receiver.url()}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02,
                  busy_timeout=0.3)  # fmt: skip
    service = AlertService(config, store, clock, durable_wait=120.0)
    session = make_session()
    await store.start()
    await service.start()
    lock = sqlite3.connect(config.server.database, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # nothing commits until it ends
        assert store.healthy
        target.up = False
        clock.advance(10)
        await run_probe(config.endpoint("x"), ProbeContext(session=session, clock=clock), service.observe)
        await receiver.wait_acked(1, timeout=30)
        assert not store.healthy
        lock.execute("ROLLBACK")
        await asyncio.wait_for(store.flush(), 30)
        assert [row.status for row in await store.read(list_outbox)] == ["delivered"]
    finally:
        lock.close()
        await service.stop()
        await session.close()
        await store.close()


async def test_no_attempt_starts_once_a_stop_is_asked_while_its_going_out_mark_commits(
    tmp_path: Path, target: Target, receiver: FakeReceiver, clock: FakeClock
) -> None:
    """x's attempt waits for its going-out mark (another process holds the write lock: `durable_wait`, 1 s here)
    when the daemon is asked to stop. The attempt then went out all the same, after the stop was asked (before the
    going-out mark, the worker looked at `closing` after that wait and sent nothing): a POST during shutdown, cut
    by the stop's grace or acknowledged with nothing left to record it."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1)],
        sinks={"hook": {"kind": "webhook", "url": receiver.url()}},
        routes=[{"match": {}, "sinks": ["hook"]}],
    )
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02,
                  busy_timeout=30.0)  # fmt: skip  # (healthy all along: the lock outlasts the test's wait)
    service = AlertService(config, store, clock, durable_wait=1.0, stop_timeout=5.0)
    session = make_session()
    await store.start()
    await service.start()
    lock = sqlite3.connect(config.server.database, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        target.up = False
        clock.advance(10)
        await run_probe(config.endpoint("x"), ProbeContext(session=session, clock=clock), service.observe)
        worker = service.dispatcher.workers["hook"]
        await until(lambda: worker.queue and worker.queue[0].attempts == 0 and not worker.queue[0].in_flight)
        await asyncio.sleep(0.2)  # (in its going-out wait: a worker not there yet sends nothing either way)
        await service.stop()
        assert receiver.attempts == []
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        await service.stop()
        await session.close()
        await store.close()
    rows_now = rows(config.server.database)
    assert [(s, a, IN_FLIGHT in e) for s, a, e in rows_now.values()] == [("pending", 0, False)], rows_now


@pytest.mark.parametrize("re_post", [Reply(200, hang=30), Reply(500, "down")], ids=["out-at-the-stop", "refused"])
async def test_an_alertmanager_re_post_carrying_a_queued_firing_says_so_before_it_goes_out(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, re_post: Reply
) -> None:
    """x's FIRING is refused by Alertmanager (503) and waits for its retry; the re-POST loop then carries that very
    alert, and Alertmanager has it as the daemon stops (or is killed) with the re-POST out. Its row said so only once
    the re-POST was acknowledged (REPOSTED): it was left saying the 503, so the restart took it for never received
    (a RESOLVED folding it was `firing_undelivered`, which max_pending may drop, while Alertmanager shows it
    firing). The mark is committed before the re-POST goes out, like the worker's own (IN_FLIGHT), and taken back
    when the re-POST is refused (Alertmanager surely does not have it)."""
    receiver.script.extend([Reply(503, "busy"), re_post])  # the queue's POST, then the first re-POST
    sink = {"kind": "alertmanager", "url": receiver.url("/am"), "resend_interval": "2s", "timeout": "20s",
            "retry_initial": "60s", "retry_max": "60s"}  # fmt: skip
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1)],
        sinks={"am": sink},
        routes=[{"match": {}, "sinks": ["am"]}],
    )
    first = await rig(config)
    target.up = False
    await first.probe("x")
    await until(lambda: first.service.dispatcher.counters[("am", "retried")] == 1)
    assert len(receiver.attempts) == 1  # (the queue's POST came first: the re-POST waits 2 s)
    await until(lambda: len(receiver.attempts) == 2)  # the re-POST
    if re_post.status == 500:
        await until(lambda: first.service.dispatcher.counters[("am", "refresh_failed")] == 1)
    await first.stop()
    [(status, attempts, error)] = rows(config.server.database).values()
    assert (status, attempts) == ("pending", 1) and error.startswith("HTTP 503"), error
    # out at the stop: a restart takes it as maybe received (OutboxItem.reached); refused: not
    assert maybe_received(error) is (re_post.status == 200), error

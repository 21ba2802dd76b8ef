"""Delivery: retries with backoff and Retry-After, permanent failures, hung sinks, storm control."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from slowatch.alerting.outbox import list_outbox
from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.store.helpers import eventually


@pytest.fixture
async def other() -> AsyncIterator[FakeReceiver]:
    r = await FakeReceiver().start()
    yield r
    await r.close()


def metrics_text(rig: Any) -> str:
    registry = CollectorRegistry()
    registry.register(rig.service.collector())
    return generate_latest(registry).decode()


def keyed(body: dict[str, Any]) -> tuple[str, str]:
    """(status word, endpoint) of a single Slack alert message."""
    word, _, rest = body["text"].partition(" ")
    return word.strip("[]"), rest.split("endpoint ", 1)[1].split(" ", 1)[0]


async def test_500s_then_429_then_200_every_alert_in_order_its_latest_state_last(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """Three alerts fire and resolve while the sink fails. Each alert's messages arrive in order and end
    RESOLVED; a FIRING that was not in flight when its RESOLVED came is folded into it (fold.py): the
    RESOLVED says so, and every notification is delivered or superseded, none lost."""
    receiver.script.extend(
        [Reply(500, "oops"), Reply(502), Reply(500), Reply(429, "rate_limited", {"Retry-After": "1"})]
    )
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1, success_threshold=1) for n in "abc"],
        sinks={"oncall": slack_sink(receiver.url(), retry_max="1s")},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    for name in "abc":
        await r.probe(name)
    target.up = True
    for name in "abc":
        await r.probe(name)
    worker = r.service.dispatcher.workers["oncall"]
    for _ in range(300):
        if not worker.queue:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    got = [keyed(a.body) for a in receiver.acked]
    for name in "abc":
        mine = [(s, a.body) for (s, n), a in zip(got, receiver.acked, strict=True) if n == name]
        assert [s for s, _ in mine] in (["FIRING", "RESOLVED"], ["RESOLVED"])  # in order, its latest state last
        if len(mine) == 1:
            assert "Changed state once since" in str(mine[0][1]["blocks"])  # the folded FIRING, told
    statuses = [a.status for a in receiver.attempts]
    assert statuses[:5] == [500, 502, 500, 429, 200] and set(statuses[5:]) <= {200}
    assert receiver.attempts[4].at - receiver.attempts[3].at >= 1.0  # Retry-After honoured
    rows = await r.store.read(list_outbox)
    assert {row.status for row in rows} == {"delivered"}  # the superseded rows deleted (their count is in the payload)
    delivered = len(rows)
    assert delivered == len(got)
    text = metrics_text(r)
    assert f'slowatch_notifications_total{{outcome="delivered",sink="oncall"}} {delivered:.1f}' in text
    assert f'slowatch_notifications_total{{outcome="superseded",sink="oncall"}} {6 - delivered:.1f}' in text
    assert 'slowatch_notifications_total{outcome="retried",sink="oncall"} 4.0' in text
    assert 'slowatch_outbox_pending{sink="oncall"} 0.0' in text


async def test_permanent_failure_is_not_retried(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default = Reply(404, "no_service")
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"oncall": slack_sink(receiver.url("/services/T000/B000/XXXXSECRET"))},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    with caplog.at_level(logging.INFO, logger="slowatch"):
        await r.probe("a")
        await r.store.flush()
        for _ in range(50):
            if r.service.dispatcher.counters[("oncall", "failed")]:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    assert len(receiver.attempts) == 1
    [row] = await r.store.read(list_outbox)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 404: no_service")
    assert 'slowatch_notifications_total{outcome="failed",sink="oncall"} 1.0' in metrics_text(r)
    [record] = [rec for rec in caplog.records if "permanently" in rec.getMessage()]
    assert "sink=oncall" in record.getMessage() and "no_service" in record.getMessage()
    assert "XXXXSECRET" not in caplog.text and "/services/" not in caplog.text


async def test_a_hung_sink_delays_neither_other_sinks_nor_is_waited_on_forever(
    tmp_path: Path, target: Target, receiver: FakeReceiver, other: FakeReceiver, rig: Any
) -> None:
    other.default = Reply(hang=60)
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"fast": slack_sink(receiver.url()), "hung": {**slack_sink(other.url()), "timeout": "2s"}},
        routes=[{"match": {}, "sinks": ["hung", "fast"]}],
    )
    r = await rig(config)
    target.up = False
    started = time.monotonic()
    await r.probe("a")
    await receiver.wait_acked(1)
    assert time.monotonic() - started < 1.5  # not behind the hung sink (its attempt takes 2s)
    await asyncio.sleep(4.3)
    assert 2 <= len(other.attempts) <= 3  # each attempt cut at the 2s timeout, then retried
    assert other.acked == []
    text = metrics_text(r)
    assert 'slowatch_outbox_pending{sink="hung"} 1.0' in text
    assert 'slowatch_outbox_pending{sink="fast"} 0.0' in text
    started = time.monotonic()
    await r.service.stop()  # bounded even with a send in flight
    assert time.monotonic() - started < 3.0
    [row] = [row for row in await r.store.read(list_outbox) if row.sink == "hung"]
    assert row.status == "pending" and row.last_error == "timeout after 2s"


async def test_storm_control_groups_50_failures_into_one_message_per_sink(
    tmp_path: Path, target: Target, receiver: FakeReceiver, other: FakeReceiver, rig: Any
) -> None:
    names = [f"svc-{i:02d}" for i in range(50)]
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in names],
        sinks={"slack": slack_sink(receiver.url()), "hook": {"kind": "webhook", "url": other.url(), **FAST_SINK}},
        routes=[{"match": {}, "sinks": ["slack", "hook"]}],
        alerting={"storm": {"threshold": 10, "window": "1m", "group_wait": "500ms", "group_interval": "1s"}},
    )
    r = await rig(config)
    target.up = False
    r.clock.advance(10)
    await asyncio.gather(*(r.probe(n, step=0) for n in names))
    [slack] = await receiver.wait_acked(1)
    [hook] = await other.wait_acked(1)
    await asyncio.sleep(0.8)
    assert len(receiver.attempts) == 1 and len(other.attempts) == 1
    assert slack.body["text"] == "50 alerts at once: 50 firing, 0 resolved"
    listed = str(slack.body["blocks"])
    assert all(f"endpoint {n} is down" in listed for n in names)
    assert hook.body["grouped"] is True and len(hook.body["events"]) == 50
    assert hook.headers["Idempotency-Key"].startswith("group-")
    assert {e["alert"] for e in hook.body["events"]} == {f"endpoint:{n}" for n in names}


async def retrying(tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, give_up_after: str) -> Any:
    """A rig whose one alert the receiver keeps refusing (503), once it was tried twice."""
    receiver.default = Reply(503, "unavailable")
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"oncall": {**slack_sink(receiver.url()), "give_up_after": give_up_after}},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    for _ in range(100):
        if len(receiver.attempts) >= 2:
            break
        await asyncio.sleep(0.02)
    return r


async def test_undeliverable_items_expire_after_give_up_after(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    r = await retrying(tmp_path, target, receiver, rig, "1m")
    r.clock.advance(61)  # the next retry finds the item older than give_up_after
    for _ in range(100):
        if r.service.dispatcher.counters[("oncall", "expired")]:
            break
        await asyncio.sleep(0.02)
    [row] = await r.store.read(list_outbox)
    assert row.status == "expired" and row.last_error == "HTTP 503: unavailable"
    attempts = len(receiver.attempts)
    await asyncio.sleep(0.5)
    assert len(receiver.attempts) == attempts  # no more retries
    assert 'slowatch_notifications_total{outcome="expired",sink="oncall"} 1.0' in metrics_text(r)


async def test_a_wall_clock_step_forward_expires_no_notification(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    r = await retrying(tmp_path, target, receiver, rig, "1h")
    r.clock.step(86400)  # NTP fixes a clock a day behind: the notification is seconds old, not a day
    attempts = len(receiver.attempts)
    for _ in range(100):
        if len(receiver.attempts) >= attempts + 2:
            break
        await asyncio.sleep(0.02)
    assert len(receiver.attempts) >= attempts + 2  # still retried
    assert not r.service.dispatcher.counters[("oncall", "expired")]
    receiver.default = Reply(200, "ok")
    for _ in range(100):
        if r.service.dispatcher.counters[("oncall", "delivered")]:
            break
        await asyncio.sleep(0.02)
    [row] = await r.store.read(list_outbox)
    assert row.status == "delivered"


async def test_a_store_that_cannot_commit_does_not_silence_alerts(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config, durable_wait=0.3)
    lock = sqlite3.connect(config.server.database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: nothing commits
    try:
        target.up = False
        await r.probe("a")
        await receiver.wait_acked(1, timeout=5)  # delivered anyway, after durable_wait
        assert r.store.pending > 0  # the decision and the delivered mark wait for the lock
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    await asyncio.wait_for(r.store.flush(), 30)
    [row] = await r.store.read(list_outbox)
    assert row.status == "delivered"  # the writes landed once the store recovered
    await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 1


async def test_endpoint_down_series_exist_only_while_the_alert_fires(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """Like Prometheus's ALERTS: no `slowatch_endpoint_down 0` per healthy endpoint (100,000 series at scale)."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1, success_threshold=1) for n in "ab"],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    await r.probe("b")
    target.up = False
    await r.probe("a")
    down = [line for line in metrics_text(r).splitlines() if line.startswith("slowatch_endpoint_down{")]
    assert down == ['slowatch_endpoint_down{endpoint="a"} 1.0']
    target.up = True
    await r.probe("a")
    assert "slowatch_endpoint_down{" not in metrics_text(r)


async def test_each_delivery_waits_for_its_commit_not_for_a_fold(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """Before and after every delivery the outbox waits until its marks are committed. That wait used to
    fold the rollups too: ~0.5 s of the writer's CPU per alert at 100,000 endpoints, in an outage."""
    from tests.store.helpers import result

    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in "abc"],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    for name in "abc":
        r.store.record(result(name, at=r.clock.time()))
    target.up = False
    for name in "abc":
        await r.probe(name)
    await receiver.wait_acked(3)
    assert r.store.committed == 3
    assert r.store.rollup_watermark == 0  # committed, not folded: the fold keeps to its interval


async def test_a_full_disk_delays_no_alert_once_the_store_is_known_to_be_failing(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """While the disk is full every alert waited `durable_wait` (10 s) for a commit before its send and again
    after its ack, one alert after another: the third page of an outage left 50 s late. A store already known
    not to commit (unhealthy) is not waited for: the alerts go at once, their writes land when space is back."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in "abc"],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config, durable_wait=120.0)  # the old code waits 2 x 120 s per alert: far past the wait below
    pages = await r.store.read(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
    r.store.set_max_page_count(pages)  # the database cannot grow: SQLITE_FULL, as on a full disk
    r.store.put_state("filler", "x" * 100_000)
    await eventually(lambda: not r.store.healthy)
    target.up = False
    for name in "abc":
        await r.probe(name)
    acked = await receiver.wait_acked(3, timeout=20)
    assert sorted(keyed(hit.body)[1] for hit in acked) == ["a", "b", "c"]
    assert r.store.pending > 0  # the outbox rows and marks wait for space
    r.store.set_max_page_count(None)  # space is back
    await asyncio.wait_for(r.store.flush(), 30)
    assert sorted(row.status for row in await r.store.read(list_outbox)) == ["delivered"] * 3
    assert len(receiver.attempts) == 3

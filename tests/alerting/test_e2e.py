"""The real daemon (subprocess): SIGKILL with undelivered notifications, and a hung sink vs probes."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.alerting.fakes import FakeReceiver, Reply
from tests.e2e.harness import DaemonProcess, metric_value

DOWN: web.AppKey[set[str]] = web.AppKey("down", set)


@pytest.fixture
async def targets() -> AsyncIterator[TestServer]:
    """GET /ep/<name>: 503 while <name> is in app[DOWN], else 200."""

    async def ep(request: web.Request) -> web.Response:
        down = request.match_info["name"] in request.app[DOWN]
        return web.Response(status=503 if down else 200, text="down" if down else "ok")

    app = web.Application()
    app[DOWN] = set()
    app.router.add_get("/ep/{name}", ep)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def daemons() -> AsyncIterator[list[DaemonProcess]]:
    """Daemons a test left running are killed at teardown."""
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        if d.proc is not None and d.proc.returncode is None:
            d.proc.kill()
            await d.proc.wait()


@pytest.fixture
async def hook() -> AsyncIterator[FakeReceiver]:
    r = await FakeReceiver().start()
    yield r
    await r.close()


def daemon_config(tmp_path: Path, targets: TestServer, names: list[str], sinks: str, routes: str) -> Path:
    eps = "\n".join(f'  - {{name: {n}, kind: http, url: "{targets.make_url("/ep/" + n)}"}}' for n in names)
    path = tmp_path / "slowatch.yaml"
    path.write_text(f"""
server: {{database: "{tmp_path / "daemon.db"}"}}
defaults:
  interval: 1s
  timeout: 500ms
  alerts: {{failure_threshold: 1, success_threshold: 1}}
endpoints:
{eps}
sinks:
{sinks}
routes:
{routes}
alerting:
  storm: {{threshold: 50, group_wait: 0s}}
""")
    return path


async def wait_until(predicate: object, timeout: float = 15.0, what: str = "") -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_with_undelivered_outbox_then_restart(
    tmp_path: Path, targets: TestServer, hook: FakeReceiver, daemons: list[DaemonProcess]
) -> None:
    sinks = f'  hook: {{kind: webhook, url: "{hook.url()}", retry_initial: 100ms, retry_max: 200ms}}'
    config = daemon_config(tmp_path, targets, ["e1", "e2", "e3"], sinks, "  - {match: {}, sinks: [hook]}")
    first = DaemonProcess(config, tmp_path)
    daemons.append(first)
    await first.start()
    targets.app[DOWN].add("e1")
    await hook.wait_acked(1, timeout=15)  # e1 down: delivered and acknowledged before the kill
    hook.default = Reply(503, "unavailable")
    targets.app[DOWN].update({"e2", "e3"})

    async def two_pending() -> bool:
        return metric_value(await first.metrics(), 'slowatch_outbox_pending{sink="hook"}') == 2

    await wait_until(two_pending, what="two undelivered notifications")
    assert len(hook.attempts) > 1  # the sink was tried and failed
    first.proc.kill()  # type: ignore[union-attr]  # SIGKILL: no shutdown, no flush
    await first.proc.wait()  # type: ignore[union-attr]
    hook.default = Reply()
    second = DaemonProcess(config, tmp_path)
    daemons.append(second)
    await second.start()
    await hook.wait_acked(3, timeout=15)
    await asyncio.sleep(2.5)  # e1..e3 stay down for two more probe rounds: nothing is re-sent
    keys = [h.headers["Idempotency-Key"] for h in hook.acked]
    assert len(keys) == 3 and len(set(keys)) == 3, keys
    alerts = [h.body["events"][0]["alert"] for h in hook.acked]
    assert alerts[0] == "endpoint:e1" and sorted(alerts[1:]) == ["endpoint:e2", "endpoint:e3"]
    assert all(h.body["events"][0]["status"] == "firing" for h in hook.acked)
    text = await second.metrics()
    assert metric_value(text, 'slowatch_outbox_pending{sink="hook"}') == 0
    assert metric_value(text, 'slowatch_endpoint_down{endpoint="e1"}') == 1
    assert await second.stop(signal.SIGTERM) == 0


async def test_hung_sink_does_not_delay_probes_or_other_sinks(
    tmp_path: Path, targets: TestServer, hook: FakeReceiver, daemons: list[DaemonProcess]
) -> None:
    hung = await FakeReceiver().start()
    hung.default = Reply(hang=60)
    try:
        sinks = f'  hung: {{kind: slack, webhook_url: "{hung.url()}"}}\n  fast: {{kind: webhook, url: "{hook.url()}"}}'
        names = [f"s{i}" for i in range(8)]
        config = daemon_config(tmp_path, targets, names, sinks, "  - {match: {}, sinks: [hung, fast]}")
        daemon = DaemonProcess(config, tmp_path)
        daemons.append(daemon)
        await daemon.start()
        await asyncio.sleep(2.0)
        before, t_before = await daemon.metrics(), time.monotonic()
        targets.app[DOWN].update(names)
        started = time.monotonic()
        await hook.wait_acked(8, timeout=5)  # every alert reached the healthy sink
        assert time.monotonic() - started < 3.5
        await asyncio.sleep(3.0)
        after, elapsed = await daemon.metrics(), time.monotonic() - t_before
        assert len(hung.attempts) >= 1 and hung.acked == []  # the hung sink is stuck in its first attempt
        assert metric_value(after, 'slowatch_outbox_pending{sink="hung"}') >= 1
        runs = metric_value(after, "slowatch_scheduler_lag_seconds_count") - metric_value(
            before, "slowatch_scheduler_lag_seconds_count"
        )
        late = runs - (
            metric_value(after, 'slowatch_scheduler_lag_seconds_bucket{le="0.25"}')
            - metric_value(before, 'slowatch_scheduler_lag_seconds_bucket{le="0.25"}')
        )
        assert runs >= 8 * (elapsed - 1.0)  # 8 endpoints kept their 1 s cadence (one run of slack for jitter)
        assert late <= runs * 0.05  # at most 5% (a busy shared machine) started >250 ms late
        started = time.monotonic()
        assert await daemon.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 8.0  # shutdown is bounded with a send in flight
    finally:
        await hung.close()


async def test_a_permanent_slack_error_is_visible_in_the_api_metrics_and_log_never_the_url(
    tmp_path: Path, targets: TestServer, hook: FakeReceiver, daemons: list[DaemonProcess]
) -> None:
    """A Slack webhook whose channel is gone: one attempt, then `failed` in /metrics, the log and
    /api/v1/alerts (`sinks`), while a second sink that keeps answering 503 shows what it retries."""
    flaky = await FakeReceiver().start()
    flaky.default = Reply(503, "upstream down")
    hook.default = Reply(404, "channel_not_found")
    try:
        secret = "/services/T0E2ESECRET/B0E2ESECRET/e2eSECRETxyz"
        sinks = (
            f'  oncall: {{kind: slack, webhook_url: "{hook.url(secret)}"}}\n'
            f'  feed: {{kind: slack, webhook_url: "{flaky.url(secret)}", retry_initial: 100ms, retry_max: 200ms}}'
        )
        config = daemon_config(tmp_path, targets, ["e1"], sinks, "  - {match: {}, sinks: [oncall, feed]}")
        daemon = DaemonProcess(config, tmp_path)
        daemons.append(daemon)
        await daemon.start()
        targets.app[DOWN].add("e1")
        await daemon.wait_for_metric('slowatch_notifications_total{outcome="failed",sink="oncall"} 1.0')
        await wait_until(lambda: len(flaky.attempts) >= 2, what="retries of the flaky sink")
        _, text = await daemon.get("/api/v1/alerts")
        doc = json.loads(text)
        assert [a["alert"] for a in doc["alerts"]] == ["endpoint:e1"]
        feed, oncall = doc["sinks"]
        assert (oncall["sink"], oncall["kind"], oncall["failed"], oncall["pending"]) == ("oncall", "slack", 1, 0)
        assert oncall["last_failure"]["status"] == "failed"
        assert oncall["last_failure"]["event"].startswith("endpoint:e1@")
        assert oncall["last_failure"]["error"] == "HTTP 404: channel_not_found"
        assert (feed["sink"], feed["failed"], feed["pending"], feed["last_failure"]) == ("feed", 0, 1, None)
        assert feed["retrying"]["error"] == "HTTP 503: upstream down" and feed["retrying"]["attempts"] >= 1
        assert len(hook.attempts) == 1  # permanent: never retried
        metrics = await daemon.metrics()
        assert await daemon.stop(signal.SIGTERM) == 0
        log = daemon.log()
        assert "rejected permanently" in log and "sink=oncall" in log and "channel_not_found" in log
        assert "SECRET" not in text + metrics + log
    finally:
        await flaky.close()


async def test_sigkill_after_the_receiver_got_the_post_resends_it_once_with_the_same_key(
    tmp_path: Path, targets: TestServer, daemons: list[DaemonProcess]
) -> None:
    """The residual window of at-least-once: the receiver has the POST, the daemon dies before it
    records the acknowledgement. The next start sends that notification once more (same
    `Idempotency-Key`), and nothing else twice."""
    victim: list[DaemonProcess] = []
    seen: list[tuple[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((request.headers["Idempotency-Key"], body["events"][0]["status"]))
        if len(seen) == 2 and victim[0].proc is not None:  # the second notification: kill -9 mid-delivery
            victim[0].proc.kill()
            await victim[0].proc.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        sinks = f'  hook: {{kind: webhook, url: "{server.make_url("/hook")}", retry_initial: 100ms}}'
        config = daemon_config(tmp_path, targets, ["e1", "e2"], sinks, "  - {match: {}, sinks: [hook]}")
        first = DaemonProcess(config, tmp_path)
        victim.append(first)
        daemons.append(first)
        await first.start()
        targets.app[DOWN].add("e1")
        await wait_until(lambda: len(seen) == 1, what="e1 firing delivered")
        targets.app[DOWN].add("e2")
        await wait_until(lambda: first.proc is not None and first.proc.returncode is not None, what="the kill")
        second = DaemonProcess(config, tmp_path)
        daemons.append(second)
        await second.start()
        await wait_until(lambda: len(seen) >= 3, what="the re-send")
        targets.app[DOWN].clear()
        await wait_until(lambda: len(seen) >= 5, what="both resolved")
        await asyncio.sleep(1.5)
        keys = [k for k, _ in seen]
        assert keys[1] == keys[2] and keys[1].startswith("endpoint:e2@")  # the one in flight, sent again
        assert len(keys) == 5 and len(set(keys)) == 4, seen  # and nothing else twice
        assert sorted(s for _, s in seen[3:]) == ["resolved", "resolved"]
        assert await second.stop(signal.SIGTERM) == 0
    finally:
        await server.close()


async def test_sigkill_after_a_flapping_outage_keeps_the_count_and_sends_the_latest_state(
    tmp_path: Path, targets: TestServer, hook: FakeReceiver, daemons: list[DaemonProcess]
) -> None:
    """e1 flaps while the webhook answers 503: each notification supersedes the one before (fold.py), its row
    deleted in the op that queues the new one (whose payload counts it). kill -9, the webhook recovers, restart:
    the hook gets e1's latest state (down) with the count of what it stands for, and nothing else."""
    hook.default = Reply(503, "unavailable")
    sinks = f'  hook: {{kind: webhook, url: "{hook.url()}", retry_initial: 100ms, retry_max: 200ms}}'
    config = daemon_config(tmp_path, targets, ["e1"], sinks, "  - {match: {}, sinks: [hook]}")
    first = DaemonProcess(config, tmp_path)
    daemons.append(first)
    await first.start()

    async def is_down() -> bool:
        return 'slowatch_endpoint_down{endpoint="e1"} 1' in await first.metrics()

    async def is_up() -> bool:
        return not await is_down()

    for _ in range(2):  # two FIRING/RESOLVED pairs, then down: 5 notifications
        targets.app[DOWN].add("e1")
        await wait_until(is_down, what="e1 down")
        targets.app[DOWN].discard("e1")
        await wait_until(is_up, what="e1 up")
    targets.app[DOWN].add("e1")
    await wait_until(is_down, what="e1 down")

    def outbox() -> dict[str, tuple[str, int]]:
        """event id -> (status, notifications it stands for: itself and those folded into it)."""
        db = sqlite3.connect(tmp_path / "daemon.db")
        try:
            rows = db.execute("SELECT event_id, status, payload FROM alert_outbox").fetchall()
        finally:
            db.close()
        return {k: (st, 1 + json.loads(p)["details"].get("folded", 0)) for k, st, p in rows}

    await wait_until(lambda: sum(n for _, n in outbox().values()) == 5, what="the 5 notifications committed")
    first.proc.kill()  # type: ignore[union-attr]  # SIGKILL: no shutdown, no flush
    await first.proc.wait()  # type: ignore[union-attr]
    before = outbox()
    assert len(before) <= 2 and {st for st, _ in before.values()} == {"pending"}, before  # one may be in flight
    hook.default = Reply()
    second = DaemonProcess(config, tmp_path)
    daemons.append(second)
    await second.start()
    await hook.wait_acked(1, timeout=15)
    await asyncio.sleep(1.5)  # e1 stays down: nothing more is sent
    events = [e for h in hook.acked for e in h.body["events"]]
    assert 1 <= len(events) <= 2 and events[-1]["status"] == "firing", events
    assert sum(1 + e["details"].get("folded", 0) for e in events) == 5  # every notification accounted for
    after = outbox()
    assert len(after) <= 2 and {st for st, _ in after.values()} == {"delivered"}, after
    # (the one in flight at the kill, if any, is folded at the start into the latest, its row deleted)
    assert await second.stop(signal.SIGTERM) == 0

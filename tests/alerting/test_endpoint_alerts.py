"""Endpoint down/up alerts driven by real probes against a local target, on a FakeClock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slowatch.alerting.suppress import silence_key
from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from tests.alerting.conftest import http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target


def config_for(tmp_path: Path, target: Target, receiver: FakeReceiver, **alerts: Any) -> Config:
    extra: dict[str, Any] = alerts.pop("extra", {})
    return make_config(
        tmp_path,
        endpoints=[http_endpoint("api", target.url(), **alerts)],
        consumers=[{"name": "checkout", "endpoints": ["api"]}],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
        **extra,
    )


async def settle(rig: Any) -> None:
    """Everything decided so far is committed, and the dispatcher had time to send it."""
    await rig.store.flush()
    await asyncio.sleep(0.3)


async def test_down_after_threshold_up_after_successes(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    r = await rig(config_for(tmp_path, target, receiver, failure_threshold=3, success_threshold=2))
    target.up = False
    await r.probe("api", 2)
    await settle(r)
    assert receiver.attempts == []
    await r.probe("api")
    [fired] = await receiver.wait_acked(1)
    assert fired.body["text"].startswith("[FIRING] PAGE: endpoint api is down")
    text = str(fired.body["blocks"])
    assert "down for &lt;maintenance&gt; &amp; more" in text  # target text escaped for mrkdwn
    assert "<maintenance>" not in text
    assert "checkout" in text  # the consumers depending on the endpoint
    await r.probe("api", 5)
    target.up = True
    await r.probe("api")
    await settle(r)
    assert len(receiver.acked) == 1  # neither more failures nor one success sends anything
    await r.probe("api")
    acked = await receiver.wait_acked(2)
    assert acked[1].body["text"].startswith("[RESOLVED] PAGE: endpoint api is down")
    assert "api is up again after" in acked[1].body["text"] and "failed 3 times" not in acked[1].body["text"]
    assert "Resolves `endpoint:api`" in str(acked[1].body["blocks"])
    await settle(r)
    assert len(receiver.attempts) == 2
    assert r.service.book.firing == {}


async def test_streaks_survive_a_restart(tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any) -> None:
    config = config_for(tmp_path, target, receiver, failure_threshold=3, success_threshold=2)
    first = await rig(config)
    target.up = False
    await first.probe("api", 2)
    await first.stop()
    second = await rig(config)
    assert second.service.health.streaks["api"].fails == 2
    await second.probe("api")  # the third failure in a row, across the restart
    await receiver.wait_acked(1)
    await second.stop()
    third = await rig(config)  # restarted while firing: no second "down"
    assert "endpoint:api" in third.service.book.firing
    await third.probe("api", 3)
    target.up = True
    await third.probe("api", 2)
    acked = await receiver.wait_acked(2)
    await settle(third)
    assert [a.body["text"].split(" ")[0] for a in acked] == ["[FIRING]", "[RESOLVED]"]
    assert len(receiver.attempts) == 2


async def test_reminders_and_send_resolved_false(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    r = await rig(
        config_for(tmp_path, target, receiver, failure_threshold=1, reminder_interval="5m", send_resolved=False)
    )
    target.up = False
    await r.probe("api")
    await receiver.wait_acked(1)
    await settle(r)
    await r.probe("api", 29)  # 290 s later: no reminder yet
    await settle(r)
    assert len(receiver.acked) == 1
    await r.probe("api")  # 300 s after the first notification
    acked = await receiver.wait_acked(2)
    assert acked[1].body["text"].startswith("[STILL FIRING] PAGE: endpoint api is down")
    await r.probe("api")
    target.up = True
    await r.probe("api", 3)
    await settle(r)
    assert len(receiver.attempts) == 2  # send_resolved: false
    assert r.service.book.firing == {}


async def test_only_final_results_count(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    r = await rig(config_for(tmp_path, target, receiver, failure_threshold=2))
    for attempt in (1, 2, 3):
        r.service.observe(ProbeResult("api", "http", Outcome.TIMEOUT, clock.time(), 1.0, attempt=attempt, final=False))
    await settle(r)
    assert r.service.health.streaks.get("api") is None
    assert receiver.attempts == []


async def test_silences_and_maintenance_suppress(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    extra = {
        "silences": [{"consumer": "checkout", "until": "2026-01-01T00:10:00Z"}],
        "maintenance": [
            {"name": "db-upgrade", "endpoints": ["api"], "start": "2026-01-01T01:00:00Z", "end": "2026-01-01T02:00:00Z"}
        ],
    }
    r = await rig(config_for(tmp_path, target, receiver, failure_threshold=1, extra=extra))
    target.up = False
    await r.probe("api")  # 00:00:10, its only consumer is silenced
    await settle(r)
    assert receiver.attempts == []
    assert not r.service.book.firing["endpoint:api"].notified
    clock.set(1_767_225_600.0 + 600)  # the silence ends at 00:10: the next failure notifies
    await r.probe("api")
    [fired] = await receiver.wait_acked(1)
    assert fired.body["text"].startswith("[FIRING]")
    target.up = True
    await r.probe("api", 2)
    await receiver.wait_acked(2)
    clock.set(1_767_225_600.0 + 3600)  # 01:00: inside the maintenance window
    target.up = False
    await r.probe("api", 3)
    await settle(r)
    assert len(receiver.attempts) == 2
    target.up = True
    await r.probe("api", 2)  # resolving an alert never notified sends nothing
    # a silence set through the store's state table (what `slowatch silence` writes)
    clock.set(1_767_225_600.0 + 3 * 3600)
    r.store.put_state(silence_key("endpoint", "api"), {"until": clock.time() + 3600, "reason": "test"})
    await r.store.flush()
    r.service.suppressor.load_stored(await r.store.get_states("alerting.silence."))
    target.up = False
    await r.probe("api")
    await settle(r)
    assert len(receiver.attempts) == 2
    assert r.service.suppressor.silenced("endpoint", "api", clock.time())


async def test_reload_applies_new_thresholds_routes_and_resolves_removed_endpoints(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    config = config_for(tmp_path, target, receiver, failure_threshold=5)
    r = await rig(config)
    target.up = False
    await r.probe("api", 2)
    await r.service.reload(config_for(tmp_path, target, receiver, failure_threshold=3))
    await r.probe("api")  # the streak is kept; the new threshold applies
    [fired] = await receiver.wait_acked(1)
    assert fired.body["text"].startswith("[FIRING]")
    emptied = config.model_copy(update={"endpoints": [], "consumers": []})
    await r.service.reload(emptied)  # the endpoint is gone: its alert resolves
    acked = await receiver.wait_acked(2)
    assert acked[1].body["text"].startswith("[RESOLVED]")
    assert r.service.book.firing == {} and r.service.health.streaks == {}


async def test_a_location_leaves_a_quorum_endpoint_alert_to_the_rules(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """With `alerts.locations.quorum`, whether enough locations see the endpoint down is the Prometheus rules'
    call: one location's own alert used to be notified too, so a blip near one monitor paged someone."""
    server = {"database": str(tmp_path / "eu.db"), "cluster": {"locations": ["eu", "us"], "location": "eu"}}
    config = config_for(tmp_path, target, receiver, failure_threshold=1, locations={"quorum": 2},
                        extra={"server": server})  # fmt: skip
    r = await rig(config)
    target.up = False
    await r.probe("api", 2)
    await settle(r)
    assert r.service.firing_view()[0]["suppressed"] is True  # recorded and shown, not sent
    assert receiver.attempts == []
    plain = {"database": str(tmp_path / "plain.db"), "cluster": {"locations": ["eu", "us"]}}  # no location:
    r2 = await rig(config_for(tmp_path, target, receiver, failure_threshold=1, locations={"quorum": 2},
                              extra={"server": plain}))  # fmt: skip
    await r2.probe("api")
    await receiver.wait_acked(1)


async def test_a_clock_stepped_back_delays_a_reminder_by_its_interval_not_by_the_step(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    """The reminder waited for the wall clock to pass the last notice again: after NTP stepped it back an hour,
    an endpoint still down got no reminder for an hour and `reminder_interval` (here 65 minutes, not 5)."""
    r = await rig(config_for(tmp_path, target, receiver, failure_threshold=1, reminder_interval="5m"))
    target.up = False
    await r.probe("api")
    await receiver.wait_acked(1)
    await settle(r)
    clock.step(-3600.0)
    await r.probe("api", 31)  # 310 s after the step, every probe down
    acked = await receiver.wait_acked(2)
    assert acked[1].body["text"].startswith("[STILL FIRING] PAGE: endpoint api is down")
    await settle(r)
    assert len(receiver.acked) == 2  # one reminder, not one per probe


async def test_a_reminder_after_a_clock_step_back_is_a_new_notification_not_a_duplicate_of_the_last(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: FakeClock
) -> None:
    """A reminder's id is `<alert>@<since>/reminder/<n>`, n counted from `since` on the wall clock. After a step back
    the reminder that is now sent after `reminder_interval` (not after the step) got n = 1 again: the id of the one
    already sent. A webhook receiver drops it as a duplicate (its `Idempotency-Key`), and its outbox row was not
    written (INSERT OR IGNORE: a kill -9 lost it). Each reminder has its own id."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("api", target.url(), failure_threshold=1, reminder_interval="5m")],
        sinks={"oncall": {"kind": "webhook", "url": receiver.url(), "retry_initial": "50ms", "timeout": "2s"}},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("api")
    await receiver.wait_acked(1)
    await settle(r)  # (a reminder is not queued while the FIRING still waits for the sink: fold.py)
    await r.probe("api", 31)  # 310 s: the first reminder
    await receiver.wait_acked(2)
    clock.step(-3600.0)
    await r.probe("api", 31)  # 310 s after the step: the second
    acked = await receiver.wait_acked(3)
    keys = [hit.headers["Idempotency-Key"] for hit in acked]
    assert len(set(keys)) == 3, keys
    await settle(r)
    rows = await r.store.read(lambda db: db.execute("SELECT event_id FROM alert_outbox").fetchall())
    assert len(rows) == 3, rows

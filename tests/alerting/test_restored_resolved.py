"""A RESOLVED restored from the outbox for Alertmanager waits until this process has judged its alert.

Replica A is killed with x's RESOLVED pending for Alertmanager; meanwhile x fails again and its peer fires it. A
restarted posted its stale RESOLVED at once: Alertmanager resolved x, the peer re-posted it firing at its next
resend, and receivers got a spurious RESOLVED and FIRING. Against a real aiohttp receiver recording the POSTs.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from slowatch.alerting.events import AlertEvent, no_data_key
from slowatch.config.schema import Config
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import Snapshot
from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.outbox_restart import active, am_config, drained, nowhere, stop_with_outbox, until, until_active


def posted(receiver: FakeReceiver, key: str) -> list[str]:
    """firing|resolved of alert `key` in each POST Alertmanager acknowledged, in order."""
    return [
        "resolved" if "endsAt" in a else "firing"
        for hit in receiver.acked
        if hit.path == "/api/v2/alerts"
        for a in hit.body
        if a["labels"]["alert_key"] == key
    ]


def rows(r: Rig, sink: str = "am") -> dict[tuple[str, str], str]:
    conn = sqlite3.connect(r.config.server.database)
    try:
        sql = "SELECT alert_key, payload, status FROM alert_outbox WHERE sink = ? AND status != 'superseded'"
        return {(k, "resolved" if '"resolved"' in p else "firing"): s for k, p, s in conn.execute(sql, (sink,))}
    finally:
        conn.close()


async def killed_with_x_resolved_pending(
    tmp_path: Path, target: Target, other: Target, rig: Callable[..., Awaitable[Rig]], receiver: FakeReceiver
) -> Callable[[str], Config]:
    """A replica whose Alertmanager is unreachable sees x fire and resolve, and stops with x's RESOLVED pending."""

    def config(url: str) -> Config:
        return am_config(tmp_path, url, {"x": target, "z": other}, sinks={"slack": slack_sink(receiver.url("/slack"))})

    a = await rig(config(nowhere()))
    target.up = False
    await a.probe("x")
    await until(lambda: any(h.path == "/slack" for h in receiver.acked), "x's FIRING posted to Slack")
    receiver.scripts["/slack"] = deque([Reply(503)] * 1000)  # Slack's RESOLVED stays pending too
    target.up = True
    await a.probe("x")  # x's RESOLVED (its FIRING folded into it) waits for Alertmanager
    await stop_with_outbox(a)
    del receiver.scripts["/slack"]
    return config


async def test_a_restored_resolved_is_superseded_when_this_process_finds_the_alert_failing(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    other = await Target().start()
    try:
        config = await killed_with_x_resolved_pending(tmp_path, target, other, rig, receiver)
        target.up = other.up = False  # x fails again while A is down (its peer fires it)
        a = await rig(config(receiver.url("")))
        await a.probe("z")  # a new FIRING queued behind x's restored RESOLVED: posted, the RESOLVED is not
        await until(lambda: posted(receiver, "endpoint:z") == ["firing"], "z's FIRING posted")
        assert posted(receiver, "endpoint:x") == []
        await a.probe("x")  # A judges x failing: its FIRING supersedes the held RESOLVED
        await until(lambda: posted(receiver, "endpoint:x") == ["firing"], "x's FIRING posted")
        await until(drained(a), "the queue drained")
        assert posted(receiver, "endpoint:x") == ["firing"]
        await a.store.flush()
        assert rows(a)[("endpoint:x", "firing")] == "delivered"
        assert ("endpoint:x", "resolved") not in rows(a)  # superseded, not delivered
    finally:
        await other.close()


async def test_a_restored_resolved_is_posted_once_this_process_finds_the_alert_clear_other_sinks_at_once(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    other = await Target().start()
    try:
        config = await killed_with_x_resolved_pending(tmp_path, target, other, rig, receiver)
        slack_before = len([h for h in receiver.acked if h.path == "/slack"])
        other.up = False
        a = await rig(config(receiver.url("")))
        await a.probe("z")
        await until(lambda: posted(receiver, "endpoint:z") == ["firing"], "z's FIRING posted")
        assert posted(receiver, "endpoint:x") == []
        await a.store.flush()
        assert rows(a)[("endpoint:x", "resolved")] == "pending"  # held, not lost

        def slack_resolved() -> bool:  # Slack: as before (once its going-out mark committed: sink_worker.going_out)
            slack = [h for h in receiver.acked if h.path == "/slack"][slack_before:]
            return any("x" in str(h.body) and "resolved" in str(h.body).lower() for h in slack)

        await until(slack_resolved, "x's RESOLVED posted to Slack while Alertmanager's is held")
        await a.probe("x")  # A judges x clear: the RESOLVED goes
        await until(lambda: posted(receiver, "endpoint:x") == ["resolved"], "x's RESOLVED posted")
        await until(drained(a), "the queue drained")
        await a.store.flush()
        assert rows(a)[("endpoint:x", "resolved")] == "delivered"
    finally:
        await other.close()


async def test_a_restored_resolved_never_judged_is_posted_after_the_hold(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """x is never probed again (say it left the config): its RESOLVED is posted once `hold_resolved` has passed."""
    other = await Target().start()
    try:
        config = await killed_with_x_resolved_pending(tmp_path, target, other, rig, receiver)
        a = await rig(config(receiver.url("")), hold_resolved=0.3)
        await until(lambda: posted(receiver, "endpoint:x") == ["resolved"], "x's RESOLVED posted after the hold")
        await until(drained(a), "the queue drained")
        await a.store.flush()
        assert rows(a)[("endpoint:x", "resolved")] == "delivered"
    finally:
        await other.close()


async def test_a_resolved_restored_from_the_outbox_does_not_close_what_a_peer_fires(
    tmp_path: Path, target: Target, am: str, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """The same against Debian's real Alertmanager: replica a is stopped with x's RESOLVED pending, replica b fires
    x meanwhile, a restarts. Once a's POST of a new alert z is applied, x is still active in Alertmanager."""
    other = await Target().start()
    try:

        def replica(name: str, url: str) -> Config:
            return am_config(tmp_path, url, {"x": target, "z": other}, replica=name)

        a = await rig(replica("a", nowhere()))
        target.up = False
        await a.probe("x")
        target.up = True
        await a.probe("x")  # x's RESOLVED waits in a's outbox
        await stop_with_outbox(a)
        target.up = other.up = False
        b = await rig(replica("b", am))
        await b.probe("x")
        await until_active(am, ["endpoint:x"])
        a = await rig(replica("a", am))
        await a.probe("z")
        await until(lambda: not [i for i in a.service.dispatcher.workers["am"].queue if i.event.firing], "z posted")
        assert await active(am) == ["endpoint:x", "endpoint:z"]
        await a.probe("x")  # a finds x failing: its FIRING supersedes the held RESOLVED
        await until(drained(a), "a's outbox drained")
        assert await active(am) == ["endpoint:x", "endpoint:z"]
    finally:
        await other.close()


async def test_a_restored_slo_resolved_is_posted_once_an_evaluation_finds_its_slo_clear(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """An SLO alert's RESOLVED restored from the outbox waits for an evaluation that covers its SLO (one that does
    not, say before the SLO is loaded, leaves it held), then goes."""
    other = await Target().start()
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("idle", target.url()), http_endpoint("z", other.url(), failure_threshold=1)],
        consumers=[
            {
                "name": "quiet",
                "endpoints": ["idle"],
                "slos": [{"name": "avail", "sli": "availability", "objective": 99}],
            }
        ],
        sinks={"am": {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "1h", **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
    )
    key = no_data_key("quiet", "avail")
    first = await rig(config)  # (creates the schema)
    await first.stop()
    now = first.clock.time()
    resolved = AlertEvent(key, "no_data", "firing", "warning", now - 60, now - 60, "no data", "-", ("quiet",), "avail")
    resolved = resolved.as_resolved(now - 10)
    conn = sqlite3.connect(config.server.database)
    with conn:
        conn.execute(
            "INSERT INTO alert_outbox (sink, event_id, alert_key, payload, created) VALUES (?, ?, ?, ?, ?)",
            ("am", resolved.event_id, key, resolved.to_json(), now - 10),
        )
    conn.close()
    r = await rig(config)
    slo = SloService(config, r.store, r.clock, refresh_interval=3600, persist_interval=3600)
    await slo.start()
    try:
        other.up = False
        await r.probe("z")
        await until(lambda: posted(receiver, "endpoint:z") == ["firing"], "z's FIRING posted")
        assert posted(receiver, key) == []  # (its RESOLVED is ahead of z's FIRING in the queue)
        r.service.evaluate(Snapshot(r.clock.time()))  # its SLO not in it: not judged
        assert [e.alert_key for e in r.service.dispatcher.holds.alerts()] == [key]
        r.service.evaluate(slo.refresh())
        await until(lambda: posted(receiver, key) == ["resolved"], "the SLO alert's RESOLVED posted")
    finally:
        await slo.stop()
        await other.close()

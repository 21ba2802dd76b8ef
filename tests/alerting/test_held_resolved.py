"""A RESOLVED restored for Alertmanager and held until this process judges its alert (restored.py): shown as `held`,
not `pending`; and not held at all where no replica will ever judge it (the endpoint or SLO is not this instance's:
left the config, or another shard owns it since a resharding), where holding only left the alert open.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from slowatch.alerting.events import AlertEvent, no_data_key
from slowatch.cluster import local_view
from slowatch.config.schema import Config
from tests.alerting.conftest import FAST_SINK, Rig, am_alerts, http_endpoint, make_config
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_delivery import metrics_text
from tests.alerting.test_restored_resolved import killed_with_x_resolved_pending, posted, until, until_active
from tests.e2e.harness import free_port


async def test_a_held_resolved_shows_as_held_not_pending_in_the_api_and_metrics(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    other = await Target().start()
    try:
        config = await killed_with_x_resolved_pending(tmp_path, target, other, rig, receiver)
        receiver.scripts["/slack"] = deque([Reply(503)] * 1000)  # Slack down: its copy of x's RESOLVED waits
        a = await rig(config(receiver.url("")))
        [am] = [v for v in a.service.sinks_view() if v["sink"] == "am"]
        assert (am["pending"], am["held"], am["oldest_pending_age_seconds"]) == (0, 1, 0.0), am
        [slack] = [v for v in a.service.sinks_view() if v["sink"] == "slack"]
        assert (slack["pending"], slack["held"]) == (1, 0), slack  # only Alertmanager sinks hold
        receiver.scripts["/slack"].clear()
        text = metrics_text(a)
        assert 'slowatch_outbox_held{sink="am"} 1.0' in text and 'slowatch_outbox_pending{sink="am"} 0.0' in text
        assert 'slowatch_outbox_oldest_pending_age_seconds{sink="am"} 0.0' in text
        assert 'slowatch_notifications_total{outcome="held",sink="am"} 1.0' in text
        await a.probe("x")  # judged clear: released and posted
        await until(lambda: posted(receiver, "endpoint:x") == ["resolved"], "x's RESOLVED posted")
        await until(lambda: not a.service.dispatcher.workers["am"].queue, "the queue drained")
        [am] = [v for v in a.service.sinks_view() if v["sink"] == "am"]
        assert (am["pending"], am["held"], am["delivered"]) == (0, 0, 1), am
        assert 'slowatch_outbox_held{sink="am"} 0.0' in metrics_text(a)
    finally:
        await other.close()


async def test_a_reload_dropping_the_endpoint_of_a_held_resolved_posts_it_at_once(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    other = await Target().start()
    try:
        config = await killed_with_x_resolved_pending(tmp_path, target, other, rig, receiver)
        a = await rig(config(receiver.url("")))
        assert [e.alert_key for e in a.service.dispatcher.holds.alerts()] == ["endpoint:x"]
        without_x = make_config(
            tmp_path,
            endpoints=[http_endpoint("z", other.url(), failure_threshold=1, success_threshold=1)],
            sinks={"am": {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "1h", **FAST_SINK}},
            routes=[{"sinks": ["am"]}],
        )
        await a.service.reload(without_x)
        await until(lambda: posted(receiver, "endpoint:x") == ["resolved"], "x's RESOLVED posted", timeout=5.0)
    finally:
        await other.close()


async def test_a_restored_slo_resolved_of_an_slo_not_in_the_config_is_posted_at_once(
    tmp_path: Path, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    config = make_config(
        tmp_path,
        sinks={"am": {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "1h", **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
    )
    first = await rig(config)  # (creates the schema)
    await first.stop()
    now, key = first.clock.time(), no_data_key("gone", "avail")
    event = AlertEvent(key, "no_data", "firing", "ticket", now - 60, now - 60, "no data", "-", ("gone",), "avail")
    resolved = event.as_resolved(now - 10)
    conn = sqlite3.connect(config.server.database)
    with conn:
        conn.execute(
            "INSERT INTO alert_outbox (sink, event_id, alert_key, payload, created) VALUES (?, ?, ?, ?, ?)",
            ("am", resolved.event_id, key, resolved.to_json(), now - 10),
        )
    conn.close()
    await rig(config)  # hold_resolved: the default 5 minutes
    await until(lambda: posted(receiver, key) == ["resolved"], "the RESOLVED posted at once", timeout=5.0)


async def active(url: str) -> list[str]:
    async with aiohttp.ClientSession() as s:
        alerts = await am_alerts(s, url)
    return sorted(a["labels"]["alert_key"] for a in alerts if a["status"]["state"] == "active")


async def test_after_a_resharding_a_resolved_of_an_endpoint_another_shard_owns_is_dropped_not_posted(
    tmp_path: Path, target: Target, am: str, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Against Debian's real Alertmanager. 2 shards: shard 0 owns x3 and fires it; its RESOLVED then waits in the
    outbox (Alertmanager unreachable) when the cluster goes to 3 shards, where x3 is shard 1's, which fires it
    again. An endpoint alert has no shard label (one owner per endpoint): shard 0's RESOLVED names the very alert
    shard 1 fires. It used to wait the 5-minute hold and then be posted (or, once a not-judged-here RESOLVED was
    posted at once, be posted at restart), resolving in Alertmanager an outage that goes on. It is dropped:
    handed over, counted superseded, and x3 stays active."""

    def config(db: str, url: str, shard: int, shards: int) -> tuple[Config, Config]:
        full = make_config(
            tmp_path,
            server={"database": str(tmp_path / db), "cluster": {"shards": shards, "shard": shard, "replica": "a"}},
            endpoints=[http_endpoint("x3", target.url(), failure_threshold=1, success_threshold=1)],
            sinks={"am": {"kind": "alertmanager", "url": url, "resend_interval": "1h", **FAST_SINK}},
            routes=[{"sinks": ["am"]}],
        )
        return full, local_view(full).local  # what the daemon gives AlertService: the part this shard owns

    async def shard(db: str, url: str, index: int, shards: int) -> Rig:
        full, local = config(db, url, index, shards)
        wanted = {ep.name for ep in full.endpoints}  # (Daemon._owned_elsewhere)
        elsewhere = None if full is local else (lambda names: [n for n in names if n in wanted])
        return await rig(local, elsewhere=elsewhere)

    def settled(r: Rig) -> Callable[[], bool]:
        return lambda: not r.service.dispatcher.workers["am"].queue

    target.up = False
    a = await shard("s0.db", am, 0, 2)
    await a.probe("x3")
    await until_active(am, ["endpoint:x3"])
    await a.stop()
    dead = f"http://127.0.0.1:{free_port()}"
    a = await shard("s0.db", dead, 0, 2)  # Alertmanager unreachable from shard 0 now
    target.up = True
    await a.probe("x3")  # resolved: its RESOLVED waits in shard 0's outbox
    await a.store.flush()
    await a.stop()

    target.up = False  # x3 fails again; now shard 1's (3 shards), which fires it
    owner = await shard("s1.db", am, 1, 3)
    await owner.probe("x3")
    await until(lambda: settled(owner)(), "shard 1's FIRING posted")
    a = await shard("s0.db", am, 0, 3)  # shard 0 restarts on 3 shards: x3 is not its own
    assert settled(a)() and not a.service.dispatcher.holds
    assert a.service.dispatcher.counters[("am", "superseded")] == 1
    await asyncio.sleep(0.5)  # (what a post would take: FAST_SINK)
    assert await active(am) == ["endpoint:x3"]


def sharded(tmp_path: Path, target: Target, db: str, url: str, shard: int, shards: int) -> tuple[Config, Config]:
    """x3's config on shard `shard` of `shards`: (the whole, the part this shard owns)."""
    full = make_config(
        tmp_path,
        server={"database": str(tmp_path / db), "cluster": {"shards": shards, "shard": shard, "replica": "a"}},
        endpoints=[http_endpoint("x3", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"am": {"kind": "alertmanager", "url": url, "resend_interval": "1h", **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
    )
    return full, local_view(full).local


def owned_elsewhere(full: Config) -> Callable[[list[str]], list[str]] | None:
    wanted = {ep.name for ep in full.endpoints}  # (Daemon._owned_elsewhere)
    return lambda names: [n for n in names if n in wanted]


async def test_after_a_resharding_a_restored_firing_of_an_endpoint_another_shard_owns_is_dropped_not_posted(
    tmp_path: Path, target: Target, am: str, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Against Debian's real Alertmanager. Shard 0 of 2 fires x3 while Alertmanager is unreachable: its FIRING waits
    in the outbox. x3 recovers; the cluster goes to 3 shards, where x3 is shard 1's (which sees it up: no alert).
    Shard 0 restarts: its alert of x3 is handed over (not resolved, no RESOLVED queued), which also ended the doubt
    that withheld a restored FIRING (`doubtful` asks the book, which no longer has x3): the stale FIRING was posted,
    paging an endpoint that is up, for Alertmanager's resolve_timeout. It is dropped like a restored RESOLVED."""
    dead = f"http://127.0.0.1:{free_port()}"
    full, local = sharded(tmp_path, target, "s0.db", dead, 0, 2)
    target.up = False
    a = await rig(local, elsewhere=owned_elsewhere(full))
    await a.probe("x3")  # FIRING: waits in shard 0's outbox (Alertmanager unreachable)
    await a.store.flush()
    await a.stop()

    target.up = True
    full, local = sharded(tmp_path, target, "s0.db", am, 0, 3)
    a = await rig(local, elsewhere=owned_elsewhere(full))  # x3 is shard 1's now
    await until(lambda: not a.service.dispatcher.workers["am"].queue, "shard 0's queue settled")
    assert await active(am) == []
    assert a.service.dispatcher.counters[("am", "superseded")] == 1

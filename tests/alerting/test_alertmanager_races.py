"""What Alertmanager is told when the outbox queue, the periodic re-POST (`resend_interval`) and HA replicas
overlap: it must never see an alert's state older than the latest one this process decided.

Against a real aiohttp receiver recording the POSTs in the order it acknowledges them (Alertmanager applies a
POST before it answers), where the race is in what slowatch posts; against Debian's real
`prometheus-alertmanager` (`am`, conftest) where the race is between replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from slowatch.alerting.sinks.text import iso
from slowatch.config.schema import Config
from tests.alerting.conftest import FAST_SINK, Rig, am_alerts, http_endpoint, make_config
from tests.alerting.fakes import FakeReceiver, Hit, Reply, Target
from tests.e2e.harness import free_port


def states(acked: list[Hit], key: str) -> list[tuple[str, str]]:
    """(firing|resolved, startsAt) of alert `key` as each acknowledged POST left it, in order."""
    out = []
    for hit in acked:
        mine = [a for a in hit.body if a["labels"]["alert_key"] == key]
        if mine:
            out.append(("resolved" if "endsAt" in mine[-1] else "firing", mine[-1]["startsAt"]))
    return out


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def drained(r: Rig, sink: str = "am") -> Callable[[], bool]:
    return lambda: not r.service.dispatcher.workers[sink].queue


async def test_a_backlog_never_shows_alertmanager_an_alert_older_than_the_outbox_s_latest(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Alertmanager down while x fires, resolves, 200 other alerts fire, and x fires again. Batches hold at most
    200 alerts: x's old RESOLVED went in one batch and its newer FIRING in a later one, so Alertmanager showed x
    resolved in between (and the batch retried through the outage showed it firing since its OLD start). Every
    POST now carries each alert's latest state in the outbox."""
    others = Target()
    await others.start()
    try:
        config = make_config(
            tmp_path,
            endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)]
            + [http_endpoint(f"e{n:03}", others.url(), failure_threshold=1) for n in range(200)],
            sinks={"am": {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "200ms", **FAST_SINK}},
            routes=[{"sinks": ["am"]}],
        )
        receiver.default = Reply(503)
        r = await rig(config)
        target.up = others.up = False
        await r.probe("x")  # FIRING (since s1)
        target.up = True
        await r.probe("x")  # RESOLVED
        for n in range(200):
            await r.probe(f"e{n:03}")
        target.up = False
        await r.probe("x")  # FIRING again (since s2)
        since = r.service.book.firing["endpoint:x"].event.since
        await r.store.flush()
        receiver.default = Reply(200)
        await until(drained(r), "the outbox drained")
        seen = states(receiver.acked, "endpoint:x")
        assert seen, receiver.acked
        assert set(seen) == {("firing", iso(since))}, seen
    finally:
        await others.close()


async def test_a_re_post_in_flight_never_lands_after_the_resolution(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """The re-POST of firing alerts ran beside the queue: one in flight when the alert resolved could be applied
    after the queue's RESOLVED and re-open the alert until its timeout. A sink now has one request at a time,
    and a re-POST reads what fires when it is its turn."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"am": {"kind": "alertmanager", "url": receiver.url(""), "resend_interval": "200ms", **FAST_SINK}},
        routes=[{"sinks": ["am"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("x")
    await receiver.wait_acked(1)
    receiver.script.append(Reply(hang=10.0))  # the next POST (a re-POST) is held until released
    await until(lambda: len(receiver.attempts) >= 2, "a re-POST")
    target.up = True
    await r.probe("x")  # resolved while the re-POST is in flight
    with contextlib.suppress(AssertionError):  # the old code had the RESOLVED acknowledged by now
        await until(lambda: len(receiver.acked) >= 2, "the RESOLVED", timeout=1.0)
    receiver.release.set()
    await until(lambda: len(receiver.acked) >= 3 and drained(r)(), "everything acknowledged")
    assert [s for s, _ in states(receiver.acked, "endpoint:x")][-1] == "resolved", receiver.acked


async def active(url: str) -> list[str]:
    """The alert keys Alertmanager holds active."""
    async with aiohttp.ClientSession() as s:
        return sorted(a["labels"]["alert_key"] for a in await am_alerts(s, url) if a["status"]["state"] == "active")


async def until_active(url: str, keys: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := await active(url)) != keys:
        if time.monotonic() > deadline:
            raise AssertionError(f"Alertmanager holds {got} active, waiting for {keys}")
        await asyncio.sleep(0.05)


async def test_a_firing_restored_from_the_outbox_does_not_re_open_what_a_peer_resolved(
    tmp_path: Path, target: Target, am: str, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Replica a cannot reach Alertmanager when x goes down: its FIRING waits in its outbox, and it is stopped
    (killed, restarted: the same). Replica b fires and resolves x meanwhile. a's restored FIRING used to be posted
    at its restart although a had not seen x failing since: Alertmanager re-opened x and notified it anew. It is
    now posted only once this process sees the alert's condition (then by the re-POST)."""

    def replica(name: str, url: str) -> Config:
        return make_config(
            tmp_path,
            server={"database": str(tmp_path / f"{name}.db")},
            endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)],
            sinks={"am": {"kind": "alertmanager", "url": url, "resend_interval": "200ms", **FAST_SINK}},
            routes=[{"sinks": ["am"]}],
        )

    target.up = False
    a = await rig(replica("a", f"http://127.0.0.1:{free_port()}"))  # nothing listens there
    await a.probe("x")
    await a.store.flush()
    await a.stop()
    b = await rig(replica("b", am))
    await b.probe("x")
    await until_active(am, ["endpoint:x"])
    target.up = True
    await b.probe("x")
    await until_active(am, [])
    a = await rig(replica("a", am))
    assert [i.event.status for i in a.service.dispatcher.workers["am"].queue] == ["firing"]
    await until(drained(a), "a's outbox drained")
    await asyncio.sleep(0.6)  # a few resend_intervals
    assert await active(am) == []
    await a.probe("x")  # a sees x up: resolved, which Alertmanager already knows
    await until(drained(a), "a's RESOLVED delivered")
    assert await active(am) == []
    target.up = False
    await a.probe("x")  # and a real failure still reaches it
    await until_active(am, ["endpoint:x"])

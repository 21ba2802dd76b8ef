"""Resharding moves an endpoint whose alert fires to another shard (service.py `_forget_removed`): what the sinks
that keep no alert state (Slack, webhook) are told, against real aiohttp receivers and real SQLite files.

Alertmanager deduplicates by labels (an endpoint alert has no `shard`): the new owner's FIRING is the same alert,
and the old owner tells it nothing. Slack and a webhook keep a log of messages instead: the old owner's FIRING stays
there until a RESOLVED names that outage, which only the old owner can send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slowatch.cluster import local_view
from slowatch.config.schema import Config
from slowatch.sharding import shard_of
from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target
from tests.alerting.outbox_restart import until


def sharded(tmp_path: Path, target: Target, receiver: FakeReceiver, shard: int, shards: int) -> tuple[Config, Config]:
    """x3 on shard `shard` of `shards`, routed to Slack, a webhook and Alertmanager (all one receiver, by path):
    (the whole config, the part this shard owns)."""
    full = make_config(
        tmp_path,
        server={"database": str(tmp_path / "s0.db"), "cluster": {"shards": shards, "shard": shard, "replica": "a"}},
        endpoints=[http_endpoint("x3", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={
            "slack": slack_sink(receiver.url("/slack")),
            "hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK},
            "am": {"kind": "alertmanager", "url": receiver.url("/am"), "resend_interval": "1h", **FAST_SINK},
        },
        routes=[{"sinks": ["slack", "hook", "am"]}],
    )
    return full, local_view(full).local


async def shard0(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]], shards: int
) -> Rig:
    full, local = sharded(tmp_path, target, receiver, 0, shards)
    wanted = {ep.name for ep in full.endpoints}  # (Daemon._owned_elsewhere)
    return await rig(local, elsewhere=lambda names: [n for n in names if n in wanted])


def told(receiver: FakeReceiver, path: str) -> list[dict[str, Any]]:
    """The x3 events the receiver acknowledged at `path` (webhook bodies), or Alertmanager alerts (`/am/...`)."""
    out: list[dict[str, Any]] = []
    for hit in receiver.acked:
        if hit.path.startswith(path):
            out.extend(hit.body if isinstance(hit.body, list) else hit.body.get("events", [hit.body]))
    return out


async def test_a_slack_or_webhook_sink_gets_the_resolved_of_an_alert_handed_over_at_a_reshard(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """Shard 0 of 2 pages x3 to Slack, a webhook and Alertmanager. The cluster goes to 3 shards, where x3 is shard
    1's: shard 0 restarts and hands the alert over. It dropped it without a word to every sink: Alertmanager was
    right (the new owner fires the same labels), but Slack and the webhook kept shard 0's FIRING for good (the new
    owner's messages name its own outage, from its own `since`; if x3 came back during the restart, nothing at all
    followed). Now those two get a RESOLVED that says the alert was handed over (not that x3 is up), and
    Alertmanager still nothing."""
    assert (shard_of("x3", 2), shard_of("x3", 3)) == (0, 1)
    target.up = False
    a = await shard0(tmp_path, target, receiver, rig, 2)
    await a.probe("x3")
    await receiver.wait_acked(3)
    await until(lambda: not any(w.queue for w in a.service.dispatcher.workers.values()), "shard 0's pages delivered")
    await a.store.flush()
    await a.stop()

    a = await shard0(tmp_path, target, receiver, rig, 3)  # x3 is shard 1's now
    await receiver.wait_acked(5)
    await until(lambda: not any(w.queue for w in a.service.dispatcher.workers.values()), "shard 0's queues settled")
    assert a.service.book.firing == {}
    hook = told(receiver, "/hook")
    assert [e["status"] for e in hook] == ["firing", "resolved"]
    resolved = hook[1]
    assert resolved["details"]["handed_over"] is True
    assert resolved["since"] == hook[0]["since"] and "handed over" in resolved["summary"]
    assert "up again" not in resolved["summary"]
    slack = [h.body for h in receiver.acked if h.path == "/slack"]
    assert len(slack) == 2 and "RESOLVED" in slack[1]["text"] and "handed over" in str(slack[1]["blocks"]).lower()
    assert [("endsAt" in alert) for alert in told(receiver, "/am")] == [False]  # Alertmanager: the FIRING only

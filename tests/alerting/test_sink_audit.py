"""Sinks through real outages (outside audit): Slack's error codes, hostile receivers, and the
outbox after a long outage with a flapping endpoint. Real aiohttp receivers on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.outbox import list_outbox
from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_delivery import metrics_text


async def one_alert(tmp_path: Path, target: Target, rig: Any, sink: dict[str, Any]) -> Any:
    """A rig with one endpoint routed to sink `oncall`, whose first failed probe fires its alert."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"oncall": sink},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    return r


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("code", ["invalid_payload", "no_text", "channel_not_found", "no_service"])
async def test_slack_error_code_in_a_2xx_reply_is_a_permanent_failure_not_a_delivery(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, code: str
) -> None:
    """Slack-compatible receivers (and Slack's legacy webhooks) can answer 200 with Slack's error code:
    the message was not posted. Counting it delivered lost the alert without a trace."""
    receiver.default = Reply(200, code)
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "failed")])
    [row] = await r.store.read(list_outbox)
    assert row.status == "failed" and code in row.last_error
    assert 'slowatch_notifications_total{outcome="failed",sink="oncall"} 1.0' in metrics_text(r)
    await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 1  # permanent: not retried


async def test_slack_ok_and_other_2xx_bodies_are_deliveries(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.default = Reply(200, '{"success": true}')  # e.g. Rocket.Chat's Slack-compatible hook
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "delivered")])


async def test_a_flapping_endpoint_through_an_outage_is_delivered_in_order_and_slack_shows_each_alert_once(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """60 FIRING/RESOLVED pairs queue up while both sinks answer 503. After recovery the webhook gets
    every event in order (the last one RESOLVED), and Slack's grouped message lists the alert once,
    in its latest state: not "60 firing, 60 resolved" for one endpoint that is up again."""
    receiver.default = Reply(503, "down")
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={
            "slack": slack_sink(receiver.url("/slack")),
            "hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK},
        },
        routes=[{"match": {}, "sinks": ["slack", "hook"]}],
    )
    r = await rig(config)
    for _ in range(60):
        target.up = False
        await r.probe("a")
        target.up = True
        await r.probe("a")
    workers = r.service.dispatcher.workers
    await until(lambda: len(workers["slack"].queue) == 120 and len(workers["hook"].queue) == 120)
    receiver.default = Reply(200, "ok")
    await until(lambda: not workers["slack"].queue and not workers["hook"].queue, 20)
    hook = [e for a in receiver.acked if a.path == "/hook" for e in a.body["events"]]
    assert [e["status"] for e in hook] == ["firing", "resolved"] * 60  # every event, in order
    assert [e["since"] for e in hook] == sorted(e["since"] for e in hook)
    slack = [a.body for a in receiver.acked if a.path == "/slack"]
    grouped = [b for b in slack if "at once" in b["text"]]
    assert grouped, [b["text"] for b in slack]
    for body in grouped:
        lines = [ln for blk in body["blocks"][2:] if "text" in blk for ln in blk["text"]["text"].splitlines()]
        assert len([ln for ln in lines if "endpoint a is down" in ln]) == 1, lines  # the alert once
        assert body["text"].startswith("1 alert at once (")
    last = grouped[-1]
    assert last["text"].endswith("0 firing, 1 resolved")  # its latest state: up again
    rows = await r.store.read(lambda db: list_outbox(db, 1000))
    assert len(rows) == 240 and {row.status for row in rows} == {"delivered"}

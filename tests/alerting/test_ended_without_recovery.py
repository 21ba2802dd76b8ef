"""An endpoint alert that ends for a reason other than a recovery (its endpoint removed or disabled in the config,
its alerting turned off) must not tell on-call the endpoint is up: real probes against a real target, real aiohttp
receivers standing in for Slack, a webhook and Alertmanager, a real SQLite store, on a FakeClock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.sinks.slack import message
from slowatch.config.schema import Config
from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Hit, Target


def watched(tmp_path: Path, target: Target, receiver: FakeReceiver, **endpoint: Any) -> Config:
    """`api` (alerting after one failure) routed to Slack, a webhook and Alertmanager (one receiver, by path)."""
    ep = {**http_endpoint("api", target.url(), **endpoint.pop("alerts", {"failure_threshold": 1})), **endpoint}
    return make_config(
        tmp_path,
        endpoints=[ep],
        consumers=[{"name": "checkout", "endpoints": ["api"]}],
        sinks={
            "slack": slack_sink(receiver.url("/slack")),
            "hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK},
            "am": {"kind": "alertmanager", "url": receiver.url("/am"), "resend_interval": "1h", **FAST_SINK},
        },
        routes=[{"sinks": ["slack", "hook", "am"]}],
    )


async def down_then(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]], after: Config
) -> tuple[Hit, dict[str, Any], dict[str, Any], Rig]:
    """`api` goes down and pages; the config is reloaded to `after` (the target still down): (the Slack RESOLVED,
    the webhook's resolved event, Alertmanager's resolved alert, the rig)."""
    r = await rig(watched(tmp_path, target, receiver))
    target.up = False
    await r.probe("api")
    await receiver.wait_acked(3)
    r.clock.advance(230)
    await r.service.reload(after)
    if any(ep.enabled for ep in after.endpoints):
        await r.probe("api")  # (still down)
    await r.store.flush()
    await receiver.wait_acked(6)
    for _ in range(100):  # (the three are POSTed by three workers: let each finish)
        if not any(w.queue for w in r.service.dispatcher.workers.values()):
            break
        await asyncio.sleep(0.02)
    [slack] = [h for h in receiver.acked[3:] if h.path == "/slack"]
    [hook] = [e for h in receiver.acked[3:] if h.path == "/hook" for e in h.body["events"]]
    [am] = [a for h in receiver.acked[3:] if h.path.startswith("/am") for a in h.body]
    assert hook["status"] == "resolved" and "endsAt" in am
    return slack, hook, am, r


def not_up(slack: Hit, hook: dict[str, Any], am: dict[str, Any], because: str) -> None:
    """None of the three says `api` is up; each says it ended `because`, not known to be up."""
    for text in (slack.body["text"], str(slack.body["blocks"]), hook["summary"], am["annotations"]["summary"]):
        assert "up again" not in text, text
        assert because in text, text
    for text in (slack.body["text"], hook["summary"], am["annotations"]["summary"]):
        assert "not known to be up" in text, text
    assert ":white_check_mark:" not in str(slack.body["blocks"])  # no green tick for an outage nobody saw end
    assert hook["details"]["reason"] == am["annotations"]["reason"]


async def test_an_endpoint_removed_while_down_is_not_said_to_be_up(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """`api` pages, then leaves the config while still down. Its RESOLVED said "api is up again after 10s down"
    to Slack, the webhook and Alertmanager's summary annotation: on-call stood down for an outage going on."""
    emptied = watched(tmp_path, target, receiver).model_copy(update={"endpoints": [], "consumers": []})
    slack, hook, am, r = await down_then(tmp_path, target, receiver, rig, emptied)
    not_up(slack, hook, am, "removed from the config")
    assert hook["summary"].startswith("api no longer alerted on after 3m50s down: endpoint removed")
    assert r.service.book.firing == {}


async def test_an_endpoint_disabled_while_down_is_not_said_to_be_up_nor_removed(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """`enabled: false` stops probing `api` (it leaves the live set like a removed endpoint): its RESOLVED says
    it was disabled, not removed, and not that it is up."""
    slack, hook, am, _ = await down_then(
        tmp_path, target, receiver, rig, watched(tmp_path, target, receiver, enabled=False)
    )
    not_up(slack, hook, am, "disabled in the config")
    assert "removed" not in hook["summary"]


async def test_alerting_turned_off_while_down_is_not_said_to_be_up(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Callable[..., Awaitable[Rig]]
) -> None:
    """`alerts.enabled: false` on a firing endpoint: its next (failed) probe ended the alert as "api is up
    again"."""
    off = watched(tmp_path, target, receiver, alerts={"enabled": False})
    slack, hook, am, _ = await down_then(tmp_path, target, receiver, rig, off)
    not_up(slack, hook, am, "alerting turned off")


def test_no_slo_alert_ended_for_a_reason_reads_as_cleared() -> None:
    """Every SLO alert kind, ended for a reason (burn.py: its SLO, tier or alerting gone from the config): the
    summary names the alert and the reason, not "burns below the thresholds again" or "above its threshold
    again", and leaves out the budget figure it fired with (stale by then)."""
    for kind in ("burn_rate", "budget_exhausted", "no_data"):
        fired = AlertEvent(
            f"x:{kind}", kind, "firing", "page", 1000.0, 1000.0, "shop · avail", "firing", ("shop",), "avail",
            details={"budget_remaining": 0.25},
        )  # fmt: skip
        ended = fired.as_resolved(1300.0, {"reason": "SLO, tier or its alerting removed from the config"})
        assert not ended.recovered and fired.as_resolved(1300.0).recovered
        assert ended.summary.startswith("shop/avail ") and "no longer evaluated after 5m" in ended.summary
        assert "removed from the config (not known to have cleared)" in ended.summary
        assert "again" not in ended.summary and "budget left" not in ended.summary


def test_a_grouped_slack_message_gives_no_green_tick_to_an_alert_ended_for_a_reason() -> None:
    """Storm control's one message per burst: each alert's line in its latest state; an alert ended for a reason
    reads as not recovered, with the reason, and one that recovered keeps its tick."""
    down = [AlertEvent(f"endpoint:{n}", "endpoint_down", "firing", "page", 100.0, 100.0, f"endpoint {n} is down",
                       "down", endpoint=n) for n in ("gone", "back", "still")]  # fmt: skip
    events = [down[0].as_resolved(400.0, {"reason": "endpoint removed from the config"}), down[1].as_resolved(400.0),
              down[2]]  # fmt: skip
    texts = [b["text"]["text"] for b in message(events, None)["blocks"] if b["type"] == "section"]
    gone, back, still = [line for text in texts for line in text.split("\n") if " — endpoint " in line]
    assert still.startswith(":rotating_light: *FIRING* page — endpoint still is down"), still
    assert "endpoint gone is down" in gone and "endpoint back is down" in back
    assert ":white_check_mark:" not in gone and "not recovered: endpoint removed from the config" in gone
    assert back.startswith(":white_check_mark: *RESOLVED*") and "not recovered" not in back

"""Retry-After (alerting/retry_gate.py): honoured on 429 and 503, bounded, logged once when not honoured as sent,
and every sender to the receiver that asked waits, not only the refused notification.

Arrival times are the receiver's `time.monotonic()`, the clock of the event loop the dispatcher waits on; only
"not before" is asserted (a late retry on a loaded machine is fine, an early one is the bug)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_sink_audit import one_alert, until


def not_before(receiver: FakeReceiver, first: int) -> list[float]:
    """How long after attempt `first` each later attempt arrived."""
    t0 = receiver.attempts[first].at
    return [a.at - t0 for a in receiver.attempts[first + 1 :]]


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_on_429_or_503_is_waited_for(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, status: int
) -> None:
    """A 503 with Retry-After (a receiver in maintenance) was retried after `retry_initial` (50 ms), like any 5xx."""
    receiver.script.append(Reply(status, "busy", {"Retry-After": "1"}))
    await one_alert(tmp_path, target, rig, slack_sink(receiver.url(), retry_max="5s"))
    await receiver.wait_acked(1)
    assert [a.status for a in receiver.attempts] == [status, 200]
    assert min(not_before(receiver, 0)) >= 1.0


@pytest.mark.parametrize(
    ("status", "path", "waits"),
    [(429, "/hook", True), (429, "/other", False), (503, "/other", True)],
    ids=["429-same-webhook", "429-other-webhook", "503-same-host"],
)
async def test_other_sinks_posting_to_a_receiver_that_asked_to_wait_wait_too(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, status: int, path: str, waits: bool
) -> None:
    """Sink `oncall` is told to wait 2 s; then an alert for sink `team` comes. A 429 limits the URL it answered (the
    same Slack webhook in two sinks waits; another webhook does not); a 503 closes the host."""
    asked = 2 if waits else 60  # (60: the other sink's post comes first however loaded the machine)
    receiver.script.append(Reply(status, "slow down", {"Retry-After": str(asked)}))
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in "ab"],
        sinks={"oncall": slack_sink(receiver.url(), retry_max="60s"), "team": slack_sink(receiver.url(path))},
        routes=[
            {"match": {"endpoint": "a"}, "sinks": ["oncall"]},
            {"match": {"endpoint": "b"}, "sinks": ["team"]},
        ],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    await until(lambda: r.service.dispatcher.counters[("oncall", "retried")] == 1)
    await r.probe("b")
    if waits:  # team's first post, and oncall's retry, after the 2 s asked
        await receiver.wait_acked(2)
        assert [a.status for a in receiver.attempts] == [status, 200, 200]
        assert min(not_before(receiver, 0)) >= 2.0
        assert {a.path for a in receiver.attempts[1:]} == {"/hook", path}
    else:  # team's post did not wait for oncall's limit (a minute)
        await receiver.wait_acked(1)
        assert [(a.path, a.status) for a in receiver.attempts] == [("/hook", 429), ("/other", 200)]


async def test_an_alertmanager_re_post_loop_waits_out_a_retry_after_too(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """The re-POST loop (every 200 ms here) retried a 429 after `retry_initial` (50 ms), twice, while told 1 s."""
    receiver.script.extend([Reply(200), Reply(429, "", {"Retry-After": "1"})])  # the POST, then the first re-POST
    sink = {"kind": "alertmanager", "url": receiver.url("/"), "resend_interval": "200ms", **FAST_SINK}
    await one_alert(tmp_path, target, rig, {**sink, "retry_max": "5s"})
    await until(lambda: len(receiver.attempts) >= 3)
    assert [a.status for a in receiver.attempts[:3]] == [200, 429, 200]
    assert min(not_before(receiver, 1)) >= 1.0


async def test_a_huge_retry_after_is_clamped_to_retry_max_and_logged_once(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """`Retry-After: 86400` was waited for an hour (the old cap), far past the sink's own `retry_max`."""
    receiver.script.extend([Reply(429, "", {"Retry-After": "86400"})] * 2 + [Reply(429, "", {"Retry-After": "²"})] * 2)
    with caplog.at_level(logging.WARNING, logger="slowatch"):
        await one_alert(tmp_path, target, rig, slack_sink(receiver.url(), retry_max="500ms"))
        await receiver.wait_acked(1, timeout=10)
    assert [a.status for a in receiver.attempts] == [429, 429, 429, 429, 200]
    gaps = [b.at - a.at for a, b in zip(receiver.attempts, receiver.attempts[1:], strict=False)]
    assert min(gaps[:2]) >= 0.5  # retry_max, not the 25 ms floor
    said = [rec.getMessage() for rec in caplog.records if "Retry-After not honoured" in rec.getMessage()]
    assert len(said) == 2, said  # once per reason, not per reply
    assert "reason=clamped" in said[0] and "asked=86400s" in said[0] and "sink=oncall" in said[0]
    assert "reason=unreadable" in said[1] and "'²'" in said[1]
    assert "/hook" not in caplog.text  # (never the URL)


async def test_a_retry_after_date_is_read_against_the_replys_own_date(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """A receiver whose clock is a year behind ours asked for 1 s; against our clock the date was long past (0 s)."""
    headers = {"Date": "Thu, 01 Jan 2025 00:00:00 GMT", "Retry-After": "Thu, 01 Jan 2025 00:00:01 GMT"}
    receiver.script.append(Reply(429, "", headers))
    await one_alert(tmp_path, target, rig, slack_sink(receiver.url(), retry_max="5s"))
    await receiver.wait_acked(1)
    assert min(not_before(receiver, 0)) >= 1.0


async def test_a_test_send_to_a_receiver_that_asked_to_wait_is_not_sent(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """An operator's `test` (API) while Slack rate-limits the webhook was posted at once, spending the limit."""
    receiver.script.append(Reply(429, "", {"Retry-After": "60"}))
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url(), retry_max="60s"))
    await until(lambda: r.service.dispatcher.counters[("oncall", "retried")] == 1)
    attempt = await r.service.test_sink("oncall")
    assert not attempt.ok and attempt.error.startswith("not sent: the receiver asked to wait (Retry-After)")
    assert len(receiver.attempts) == 1


def webhook_sink(url: str, token: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "webhook", "url": url, "headers": {"Authorization": f"Bearer {token}"}, **FAST_SINK, **extra}


@pytest.mark.parametrize(("tokens", "waits"), [(("tok-A1x", "tok-B2y"), False), (("tok-A1x", "tok-A1x"), True)],
                         ids=["other-credentials", "same-credentials"])  # fmt: skip
async def test_a_429_limits_the_credentials_it_answered_not_other_tenants_of_the_same_url(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture,
    tokens: tuple[str, str], waits: bool,
) -> None:  # fmt: skip
    """Two webhook sinks post to one URL with their own tokens (a multi-tenant receiver rate-limits per token). A 429
    to tenant A's token paused tenant B's page as well, for as long as A was told to wait (a minute here)."""
    asked = 2 if waits else 60
    receiver.script.append(Reply(429, "slow down", {"Retry-After": str(asked)}))
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in "ab"],
        sinks={
            "tenant-a": webhook_sink(receiver.url(), tokens[0], retry_max="60s"),
            "tenant-b": webhook_sink(receiver.url(), tokens[1]),
        },
        routes=[
            {"match": {"endpoint": "a"}, "sinks": ["tenant-a"]},
            {"match": {"endpoint": "b"}, "sinks": ["tenant-b"]},
        ],
    )
    with caplog.at_level(logging.DEBUG, logger="slowatch"):
        r = await rig(config)
        target.up = False
        await r.probe("a")
        await until(lambda: r.service.dispatcher.counters[("tenant-a", "retried")] == 1)
        await r.probe("b")
        if waits:  # the same credentials: B waits with A (and A's retry comes after the 2 s too)
            await receiver.wait_acked(2)
            assert min(not_before(receiver, 0)) >= 2.0
        else:  # B's page went at once, A still waiting out its minute
            await receiver.wait_acked(1)
            assert [(a.headers["Authorization"], a.status) for a in receiver.attempts] == [
                ("Bearer tok-A1x", 429), ("Bearer tok-B2y", 200)
            ]  # fmt: skip
    assert "tok-" not in caplog.text  # (the credential is never logged)

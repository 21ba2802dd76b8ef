"""Sinks against receivers that answer in odd ways: whatever a receiver sends back, the alert is retried
and delivered in the end, and the sink's worker keeps running."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.outbox import list_outbox
from slowatch.alerting.sinks.base import retry_after
from tests.alerting.conftest import http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target


@pytest.mark.parametrize("value", ["²", "٣", "1_0", " 7 ", "1e3", "-1", "0x10"])
def test_retry_after_that_is_not_ascii_digits_or_a_date_is_ignored_or_read(value: str) -> None:
    """`str.isdigit()` is true for '²' (and float() refuses it): only ASCII digits are seconds."""
    assert retry_after(value) == (7.0 if value == " 7 " else None)


async def test_a_429_with_an_unreadable_retry_after_is_retried_not_fatal_to_the_sink(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script.append(Reply(429, "rate_limited", {"Retry-After": "²"}))
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in "ab"],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    with caplog.at_level(logging.WARNING, logger="slowatch"):
        await r.probe("a")
        await r.probe("b")
        await receiver.wait_acked(2, timeout=5)
    assert [a.status for a in receiver.attempts] == [429, 200, 200]
    # (the receiver has answered; the dispatcher records the acknowledgement in the outbox right after)
    deadline = asyncio.get_running_loop().time() + 5
    while sorted(row.status for row in await r.store.read(list_outbox)) != ["delivered", "delivered"]:
        assert asyncio.get_running_loop().time() < deadline, await r.store.read(list_outbox)
        await asyncio.sleep(0.02)
    assert "crashed" not in caplog.text and "Traceback" not in caplog.text

"""The re-POST telling Alertmanager when a clearing SLO alert will end (`Firing.ends_at`) is retried until it lands.

It used to be tried once: a 503 (Alertmanager restarting) left Alertmanager with the alert's last firing POST, which
it ends by itself `resolve_timeout` after it (early, when that is before the alert resolves here). Against a real
aiohttp receiver recording every POST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from slowatch.alerting.sinks.text import iso
from slowatch.clock import Clock, FakeClock
from slowatch.config.schema import Config
from tests.alerting.fakes import FakeReceiver, Hit, Reply, Target
from tests.alerting.test_alertmanager_races import NO_DATA, SloReplica, slo_config, until
from tests.alerting.test_alertmanager_races import replicas as replicas  # (the fixture)


def ends(hits: list[Hit]) -> list[str]:
    """The endsAt of NO_DATA in each of `hits` that carried it with one."""
    return [a["endsAt"] for hit in hits for a in hit.body if a["labels"]["alert_key"] == NO_DATA and "endsAt" in a]


async def test_a_failed_post_of_a_clearing_alerts_end_is_retried_until_it_lands(
    tmp_path: Path, target: Target, receiver: FakeReceiver, replicas: Callable[[Config, Clock], Awaitable[SloReplica]]
) -> None:
    clock = FakeClock()
    r = await replicas(slo_config(tmp_path, "one", target, receiver.url(""), resend="100ms"), clock)
    r.evaluate()
    clock.advance(2)
    r.evaluate()
    await receiver.wait_acked(2)  # the FIRING and a re-POST
    receiver.default = Reply(503)  # Alertmanager restarting
    await r.probe()
    r.evaluate()
    cleared = clock.time()
    await until(lambda: ends([h for h in receiver.attempts if h.status == 503]) != [], "the end POSTed, refused")
    receiver.default = Reply()
    await until(lambda: ends(receiver.acked) != [], "the end POSTed again and acknowledged", timeout=5.0)
    assert ends(receiver.acked) == [iso(cleared + 2)]
    await asyncio.sleep(0.5)  # five resend_intervals: once it landed, not again
    assert ends(receiver.acked) == [iso(cleared + 2)]
    assert r.counter("refresh_failed") >= 1

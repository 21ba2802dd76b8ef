"""SIGTERM during a long Slack outage (every post answered 429 with a 10-minute Retry-After): the daemon stops
cleanly within its shutdown grace, keeps the undelivered notifications in the outbox, and the next run delivers
each of them once when Slack is back. (Audit: no bug found; the hung-sink case is in tests/alerting/test_e2e.py.)
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.alerting.fakes import FakeReceiver, Reply
from tests.e2e.harness import DaemonProcess, metric_value


def config(port: int, slack: str) -> str:
    return f"""
server: {{database: ./slowatch.db, shutdown_grace: 2s}}
defaults:
  interval: 1s
  timeout: 800ms
  alerts: {{failure_threshold: 1, success_threshold: 1}}
endpoints:
  - {{name: e0, kind: http, url: 'http://127.0.0.1:{port}/fail'}}
  - {{name: e1, kind: http, url: 'http://127.0.0.1:{port}/fail'}}
  - {{name: e2, kind: http, url: 'http://127.0.0.1:{port}/ok'}}
sinks:
  team: {{kind: slack, webhook_url: "{slack}"}}
routes:
  - {{match: {{}}, sinks: [team]}}
alerting:
  storm: {{threshold: 50, group_wait: 0s}}
"""


async def test_sigterm_during_a_slack_outage_keeps_the_outbox_for_the_next_run(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    slack = await FakeReceiver().start()
    try:
        slack.default = Reply(429, "rate_limited", headers={"Retry-After": "600"})
        cfg = write_config(config(targets.port, slack.url("/services/T0/B0/x")))
        first = DaemonProcess(cfg, tmp_path)
        daemons.append(first)
        await first.start()
        deadline = time.monotonic() + 15
        while metric_value(await first.metrics(), 'slowatch_outbox_pending{sink="team"}') < 2 or not slack.attempts:
            assert time.monotonic() < deadline, first.log()[-3000:]
            await asyncio.sleep(0.1)
        started = time.monotonic()
        assert await first.stop(signal.SIGTERM) == 0, first.log()[-3000:]
        assert time.monotonic() - started < 10.0  # the grace (2 s), not the Retry-After (600 s)
        assert slack.acked == []

        slack.default = Reply()
        second = DaemonProcess(cfg, tmp_path)
        daemons.append(second)
        await second.start()
        await slack.wait_acked(2, timeout=15)
        await asyncio.sleep(2.0)  # e0 and e1 stay down: nothing more is sent
        texts = sorted(h.body["text"].split(" — ")[0] for h in slack.acked)
        assert texts == ["[FIRING] PAGE: endpoint e0 is down", "[FIRING] PAGE: endpoint e1 is down"], texts
        assert metric_value(await second.metrics(), 'slowatch_outbox_pending{sink="team"}') == 0
        assert await second.stop(signal.SIGTERM) == 0
    finally:
        await slack.close()
    assert "alerting: 2 undelivered notification(s) restored from the outbox" in second.log()
    log = first.log() + second.log()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]

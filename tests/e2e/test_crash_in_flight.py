"""kill -9 while a notification is at its receiver, unanswered: the outbox row left behind says the receiver may have
it (alerting/sink_worker.py `going_out`), so after the restart its alert's RESOLVED is not `firing_undelivered`
(which `max_pending` drops first). Before, the row said nothing (attempts 0, no error): the restarted process took
the FIRING for one the receiver never saw."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer
from sqlite_utils import Database

from slowatch.alerting.outbox import OutboxItem, load_pending
from tests.alerting.fakes import FakeReceiver, Reply
from tests.e2e.harness import DaemonProcess


def pending(path: Path) -> list[OutboxItem]:
    db = Database(path)
    try:
        return load_pending(db)
    finally:
        db.close()


def config(port: int, hook: str) -> str:
    return f"""
server: {{database: ./slowatch.db, shutdown_grace: 2s}}
defaults:
  interval: 1s
  timeout: 800ms
  alerts: {{failure_threshold: 1, success_threshold: 1}}
endpoints:
  - {{name: e0, kind: http, url: 'http://127.0.0.1:{port}/fail'}}
sinks:
  hook: {{kind: webhook, url: "{hook}", timeout: 30s}}
routes:
  - {{match: {{}}, sinks: [hook]}}
alerting:
  storm: {{group_wait: 0s}}
"""


async def test_a_kill_9_while_a_firing_is_at_the_receiver_leaves_a_row_that_says_it_may_have_it(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    hook = await FakeReceiver().start()
    try:
        hook.default = Reply(200, hang=60.0)  # acted on, never answered while the daemon lives
        cfg = write_config(config(targets.port, hook.url("/hook")))
        daemon = DaemonProcess(cfg, tmp_path)
        daemons.append(daemon)
        await daemon.start()
        deadline = time.monotonic() + 15
        while not hook.attempts:
            assert time.monotonic() < deadline, daemon.log()[-3000:]
            await asyncio.sleep(0.05)
        assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        await hook.close()
    [item] = await asyncio.to_thread(pending, tmp_path / "slowatch.db")
    assert item.event.status == "firing" and item.attempts == 1, item
    assert item.reached, item.last_error

"""`slowatch report`, `gate`, `silence`, `correct` and `annotate` run two at a time against the database of a running
daemon, which is killed -9 and restarted meanwhile: every command answers (no "database is locked", no traceback),
what they wrote is there after the restart, and the restarted daemon is ready. (Audit: no bug found.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess, http_fleet, numbered
from tests.support.cli import run_cli

SEED = 11


def config(port: int) -> str:
    return (
        http_fleet(port, numbered(8, lambda i: i % 3 == 0))
        + """consumers:
  - name: app
    endpoints: [ep0, ep1, ep2]
    slos: [{name: avail, sli: availability, objective: 99, window: 1d}]
"""
    )


async def test_cli_commands_beside_a_daemon_killed_and_restarted(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(config(targets.port))
    d = DaemonProcess(cfg, tmp_path)
    daemons.append(d)
    await d.start()
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(minutes=30)).isoformat(), (now - dt.timedelta(minutes=1)).isoformat()
    commands = [
        ("report", "--config", str(cfg), "--format", "json"),
        ("gate", "-c", str(cfg), "--consumer", "app"),
        ("silence", "-c", str(cfg), "--endpoint", "ep1", "--until", "2099-01-01T00:00Z"),
        ("correct", "-c", str(cfg), "--consumer", "app", "--from", start, "--to", end, "--reason", "probe host"),
        ("annotate", "-c", str(cfg), "--kind", "deploy", "--text", "v2"),
    ]
    rng = random.Random(SEED)
    answers: list[tuple[str, int, str]] = []

    async def loop(order: list[tuple[str, ...]]) -> None:
        for args in order:
            code, out, err = await run_cli(*args, cwd=tmp_path, timeout=60)
            answers.append((args[0], code, out + err))

    async def kill_and_restart() -> DaemonProcess:
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        d.send(signal.SIGKILL)
        assert d.proc is not None
        await d.proc.wait()
        again = DaemonProcess(cfg, tmp_path)
        daemons.append(again)
        await again.start()
        return again

    order = rng.sample(commands, len(commands))
    orders = [order[:3], order[3:]]  # two at a time, each command once
    *_, last = await asyncio.gather(loop(orders[0]), loop(orders[1]), kill_and_restart())
    for name, code, text in answers:
        assert code == 0 or (name == "gate" and code == 1), (name, code, text)
        assert "Traceback" not in text and "locked" not in text, (name, text)
    assert (await last.get("/readyz"))[0] == 200
    assert await last.stop() == 0, last.log()[-3000:]
    conn = sqlite3.connect(tmp_path / "slowatch.db")
    try:
        written = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("annotations", "corrections")]
        silences = conn.execute("SELECT count(*) FROM state WHERE key LIKE 'alerting.silence.%'").fetchone()[0]
    finally:
        conn.close()
    assert written == [1, 1] and silences == 1, (written, silences)
    assert " ERROR " not in last.log() and "Traceback" not in last.log()

"""An SLO that leaves the config and comes back (by a reload or by a restart with another file): its budget
counts every stored result in its window, like a new SLO rebuilt from raw history does.

Before, a restart found the cells the SLO had saved before it left and loaded them as they were: every result
stored while it was away (and counted into the SLO watermark by the other SLOs' saves) was missing from its
budget for good, while the same config reached by a reload rebuilt it exactly. Found with kill -9 during
reloads that swap consumers: 84 stored results, 64 in the budget.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.slo.definitions import compile_config
from tests.e2e.harness import DaemonProcess


def config(port: int, *, slo: bool) -> str:
    slos = "    slos:\n      - {name: avail, sli: availability, objective: 99, window: 1h}\n" if slo else ""
    return f"""
server:
  database: ./slowatch.db
  shutdown_grace: 1s
defaults:
  interval: 1s
  timeout: 800ms
endpoints:
  - {{name: a, kind: http, url: 'http://127.0.0.1:{port}/ok'}}
  - {{name: b, kind: http, url: 'http://127.0.0.1:{port}/fail'}}
consumers:
  - name: app
    endpoints: [a, b]
{slos}"""


def stored(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT count(*) FROM results WHERE final = 1").fetchone()[0])
    finally:
        conn.close()


async def run_until(cfg: Path, workdir: Path, daemons: list[DaemonProcess], results: int) -> DaemonProcess:
    """Start a daemon on `cfg`, wait until the database holds `results` more final results, stop it cleanly."""
    db = workdir / "slowatch.db"
    before = await asyncio.to_thread(stored, db) if db.exists() else 0
    d = DaemonProcess(cfg, workdir)
    daemons.append(d)
    await d.start()
    deadline = time.monotonic() + 15
    while await asyncio.to_thread(stored, db) < before + results:
        assert time.monotonic() < deadline, d.log()[-3000:]
        await asyncio.sleep(0.1)
    assert await d.stop(signal.SIGTERM) == 0, d.log()[-3000:]
    return d


async def test_an_slo_back_after_a_restart_without_it_counts_the_results_stored_meanwhile(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    await run_until(write_config(config(targets.port, slo=True)), tmp_path, daemons, 2)
    # without the SLO: its saved cells stay behind while the other saves move the watermark past these results
    await run_until(write_config(config(targets.port, slo=False)), tmp_path, daemons, 4)
    cfg = write_config(config(targets.port, slo=True))
    last = await run_until(cfg, tmp_path, daemons, 1)

    conn = sqlite3.connect(tmp_path / "slowatch.db")
    try:
        total, good = conn.execute("SELECT count(*), sum(outcome = 'success') FROM results WHERE final = 1").fetchone()
        (slo,) = compile_config(load(cfg))
        sql = "SELECT sum(total), sum(good) FROM slo_cells WHERE layer = 'c' AND fingerprint = ?"
        cells = conn.execute(sql, (slo.fingerprint,)).fetchone()
    finally:
        conn.close()
    assert total >= 7
    assert cells == (total, good), (cells, total, good)
    log = "\n".join(d.log() for d in daemons)
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    assert "slo ledger rebuilt from the store" in last.log()

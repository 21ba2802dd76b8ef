"""An SLO that leaves the config and comes back (by a reload or by a restart with another file): its budget
counts every stored result in its window, like a new SLO rebuilt from raw history does.

Before, a restart found the cells the SLO had saved before it left and loaded them as they were: every result
stored while it was away (and counted into the SLO watermark by the other SLOs' saves) was missing from its
budget for good, while the same config reached by a reload rebuilt it exactly. Found with kill -9 during
reloads that swap consumers: 84 stored results, 64 in the budget.

The second test kills the daemon right after reloads that swap endpoints, a consumer and SLOs: every SLO's
budget equals the stored results, the SLO that never left counts them in its counters too, every alert
notification reaches the receiver once, and no error is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.slo.definitions import compile_config
from tests.alerting.fakes import FakeReceiver
from tests.e2e.harness import DaemonProcess, http_fleet
from tests.e2e.test_crash_migration import config as migration_config
from tests.e2e.test_crash_migration import opened, v1_database

SEED = 7


def config(port: int, *, slo: bool) -> str:
    slos = "    slos:\n      - {name: avail, sli: availability, objective: 99, window: 1h}\n" if slo else ""
    return http_fleet(port, {"a": "ok", "b": "fail"}) + "consumers:\n  - name: app\n    endpoints: [a, b]\n" + slos


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


@pytest.mark.slow
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


def swapping(port: int, hook: str, variant: int) -> str:
    """`core` stays; two endpoints, the consumer beside it and its SLO swap with each `variant` (the swapped
    consumer's endpoints stay probed while it is away)."""
    names = [f"ep{i}" for i in range(12)] + ([f"ep{12 + i}" for i in range(2)] if variant == 0 else ["ep14", "ep15"])
    eps = "".join(
        f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:{port}/{'fail' if int(n[2:]) % 4 == 0 else 'ok'}'}}\n"
        for n in names
    )
    members = ", ".join(f"ep{i}" for i in range(6)) + (", ep12" if variant == 0 else ", ep14")
    extra = (
        "      - {name: avail, sli: availability, objective: 99, window: 1h}\n"
        if variant == 0
        else "      - {name: fast, sli: latency, threshold: 50ms, objective: 95, window: 1d}\n"
    )
    return f"""
server: {{database: ./slowatch.db, shutdown_grace: 1s}}
defaults:
  interval: 1s
  timeout: 800ms
  alerts: {{failure_threshold: 1, success_threshold: 1}}
endpoints:
{eps}consumers:
  - name: core
    endpoints: [ep6, ep7, ep8, ep9]
    slos: [{{name: avail, sli: availability, objective: 99, window: 1h}}]
  - name: team{variant}
    endpoints: [{members}]
    slos:
{extra}sinks:
  hook: {{kind: webhook, url: "{hook}", retry_initial: 100ms, retry_max: 200ms}}
routes:
  - {{match: {{}}, sinks: [hook]}}
"""


async def switched(d: DaemonProcess, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while "config reloaded" not in d.log():
        assert time.monotonic() < deadline, d.log()[-3000:]
        await asyncio.sleep(0.02)


async def test_kill_9_right_after_a_reload_that_swaps_endpoints_consumers_and_slos(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    rng = random.Random(SEED)
    hook = await FakeReceiver().start()
    try:
        variant = 0
        cfg = write_config(swapping(targets.port, hook.url(), variant))
        for _ in range(2):
            d = DaemonProcess(cfg, tmp_path)
            daemons.append(d)
            await d.start()
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            variant = 1 - variant
            write_config(swapping(targets.port, hook.url(), variant))
            d.send(signal.SIGHUP)
            await switched(d)  # the old SLOs saved, the new ones rebuilt: then the kill, before or after a save
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            d.send(signal.SIGKILL)
            assert d.proc is not None
            await d.proc.wait()
        last = DaemonProcess(cfg, tmp_path)
        daemons.append(last)
        await last.start()
        await asyncio.sleep(1.5)
        assert await last.stop() == 0, last.log()[-3000:]
        delivered = Counter(e["id"] for h in hook.acked for e in h.body["events"])
    finally:
        await hook.close()

    conn = sqlite3.connect(tmp_path / "slowatch.db")
    try:
        rows = conn.execute("SELECT consumer, slo, events, good FROM slo_counters")
        counters = {(c, s): (e, g) for c, s, e, g in rows}
        sql = "SELECT fingerprint, sum(total), sum(good) FROM slo_cells WHERE layer = 'c' GROUP BY 1"
        cells = {fp: (t, g) for fp, t, g in conn.execute(sql)}
        for slo in compile_config(load(cfg)):
            marks = ", ".join("?" for _ in slo.endpoints)
            good = "outcome = 'success'" + ("" if slo.threshold is None else f" AND duration <= {slo.threshold!r}")
            q = f"SELECT count(*), coalesce(sum({good}), 0) FROM results WHERE final = 1 AND endpoint IN ({marks})"
            stored = conn.execute(q, slo.endpoints).fetchone()
            assert cells[slo.fingerprint] == stored, (slo.key, cells[slo.fingerprint], stored)
            if slo.consumer == "core":  # never left the config: its counters saw every result
                assert counters[slo.key] == stored, (slo.key, counters[slo.key], stored)
    finally:
        conn.close()
    assert delivered and all(n == 1 for n in delivered.values()), delivered
    log = "\n".join(d.log() for d in daemons)
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]


async def test_sighup_while_the_daemon_starts_is_a_reload_once_started_never_a_kill(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """SIGHUP's default action ends a process: before, a reload requested while `slowatch run` started (here
    while it migrates an old database, seconds) killed it with no word in its log."""
    await asyncio.to_thread(v1_database, tmp_path / "slowatch.db", time.time())
    cfg = write_config(migration_config(targets.port))
    d = DaemonProcess(cfg, tmp_path)
    daemons.append(d)
    await d.spawn()
    assert d.proc is not None
    await opened(d.proc.pid, tmp_path / "slowatch.db")  # in its start: migrating
    added = f"endpoints:\n  - {{name: added, kind: http, url: 'http://127.0.0.1:{targets.port}/ok'}}\n"
    write_config(migration_config(targets.port).replace("endpoints:\n", added, 1))
    for _ in range(5):
        with contextlib.suppress(ProcessLookupError):  # (it died of the first, before)
            d.send(signal.SIGHUP)
        await asyncio.sleep(0.02)
    await d.ready(timeout=60)
    await switched(d)  # to the new file, once started
    assert "config reloaded added=1 " in d.log()
    assert await d.stop() == 0, d.log()[-3000:]


async def test_sigterm_while_the_daemon_starts_is_a_clean_stop_once_started(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """SIGTERM's default action ended `slowatch run` while it started (here while it migrates an old
    database): exit status -15, no summary line, no word in the log. Now a stop, once started, as at any
    other time (a pending SIGHUP is then no reload)."""
    await asyncio.to_thread(v1_database, tmp_path / "slowatch.db", time.time())
    cfg = write_config(migration_config(targets.port))
    d = DaemonProcess(cfg, tmp_path)
    daemons.append(d)
    await d.spawn()
    assert d.proc is not None
    await opened(d.proc.pid, tmp_path / "slowatch.db")  # in its start: migrating
    d.send(signal.SIGHUP)
    d.send(signal.SIGTERM)
    assert await asyncio.wait_for(d.proc.wait(), 60) == 0, d.log()[-3000:]
    log = d.log()
    assert "stop requested while starting: stopping once started signal=SIGTERM" in log
    assert "slowatch stopped uptime=" in log
    assert "config reload" not in log and "Traceback" not in log, log[-3000:]

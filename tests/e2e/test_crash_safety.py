"""kill -9 the real daemon at random moments, many times: afterwards every SLO counts exactly the stored
final results in its scope (maintenance excluded), like the rollups do.

Before the SLO watermark each unclean stop lost up to `persist_interval` (5 s) of SLO counts: after 27
kills a database held 2,964 results against 2,332 SLO events. Most runs here are shorter than one
persist interval, so without the catch-up at start most results would be missing from the budgets; a
first clean run and two longer ones leave saved cells behind, so kills hit both a saved state with
results above its watermark and ledgers with nothing saved yet (rebuilt from the store).
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.slo.definitions import compile_config
from tests.e2e.harness import DaemonProcess, http_fleet, numbered

# Every kind of moment a kill can hit, and both kinds of probing, against the real process. The exact
# property at chosen moments (before any save, above the watermark, a save queued, a restart killed before
# its first save) is checked deterministically by tests/slo/test_kill_restart_counts.py (20 kills here before).
KILLS = 10  # alternating in-process probing and two prober workers
LONG_RUNS = (4, 7)  # these outlive one SLO persist (5 s) before their kill (one of each kind of probing)
DURING_START = (1, 6)  # killed during start-up (one of each kind), besides the random ones
THRESHOLD = 0.05


def crash_config(port: int, workers: int) -> str:
    server = f"  probe_workers: {workers}\n"
    return (
        http_fleet(port, numbered(24, lambda i: i % 4 == 0), server=server)
        + f"""maintenance:
  - name: forever
    endpoints: [ep3]
    start: 2000-01-01T00:00:00Z
    end: 2100-01-01T00:00:00Z
consumers:
  - name: app
    endpoints: [ep0, ep1, ep2, ep3, ep4, ep5]
    slos:
      - {{name: avail, sli: availability, objective: 99, window: 1h}}
      - {{name: fast, sli: latency, threshold: {THRESHOLD * 1000:g}ms, objective: 95, window: 1d}}
  - name: batch
    endpoints: [ep6, ep7, ep8, ep9, ep10, ep11, ep12, ep13, ep14, ep15, ep16, ep17, ep18, ep19]
    slos:
      - {{name: avail, sli: availability, objective: 99.5, window: 7d}}
"""
    )


async def run(cfg: Path, workdir: Path, daemons: list[DaemonProcess], seconds: float, *, ready: bool = True) -> None:
    """Run the daemon for about `seconds` (after it is ready, or after the spawn), then kill -9 it."""
    d = DaemonProcess(cfg, workdir)
    daemons.append(d)
    if ready:
        await d.start()
    else:  # during start-up: migrations, restore, the catch-up itself
        await d.spawn()
    await asyncio.sleep(seconds)
    assert d.proc is not None
    d.proc.kill()  # SIGKILL
    await d.proc.wait()


def expected(db: sqlite3.Connection, endpoints: tuple[str, ...], threshold: float | None) -> tuple[int, int, int]:
    """(events, good, excluded) of the stored final results of `endpoints` (ep3 is in maintenance)."""
    marks = ", ".join("?" for _ in endpoints)
    good_sql = "outcome = 'success'" + ("" if threshold is None else f" AND duration <= {threshold!r}")
    sql = (
        f"SELECT coalesce(sum(endpoint != 'ep3'), 0), coalesce(sum(endpoint != 'ep3' AND {good_sql}), 0), "
        f"coalesce(sum(endpoint = 'ep3'), 0) FROM results WHERE final = 1 AND endpoint IN ({marks})"
    )
    events, good, excluded = db.execute(sql, endpoints).fetchone()
    return int(events), int(good), int(excluded)


@pytest.mark.slow
async def test_slo_counts_equal_stored_results_after_many_kill_9s(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    cfg = write_config(crash_config(targets.port, workers=0))
    first = DaemonProcess(cfg, tmp_path)  # a clean run first: saved cells and a watermark to kill after
    daemons.append(first)
    await first.start()
    await asyncio.sleep(1.0)
    assert await first.stop(signal.SIGTERM) == 0, first.log()[-3000:]
    for i in range(KILLS):
        cfg = write_config(crash_config(targets.port, workers=2 if i % 2 else 0))
        if i in LONG_RUNS:
            await run(cfg, tmp_path, daemons, rng.uniform(5.2, 6.0))
        elif i in DURING_START or rng.random() < 0.2:
            await run(cfg, tmp_path, daemons, rng.uniform(0.05, 0.8), ready=False)
        else:
            await run(cfg, tmp_path, daemons, rng.uniform(0.0, 1.2))
    last = DaemonProcess(cfg, tmp_path)  # one clean run: the catch-up, live probes, the final persist
    daemons.append(last)
    await last.start()
    await asyncio.sleep(1.0)
    assert await last.stop(signal.SIGTERM) == 0, last.log()[-3000:]

    db = sqlite3.connect(tmp_path / "slowatch.db")
    assert db.execute("SELECT count(*) FROM result_blocks").fetchone()[0] == 0  # all raw rows in `results`
    stored = db.execute("SELECT count(*) FROM results WHERE final = 1").fetchone()[0]
    assert stored >= 200, stored
    counters = {(c, s): (e, g) for c, s, e, g in db.execute("SELECT consumer, slo, events, good FROM slo_counters")}
    cells = {
        fp: (t, g, x)
        for fp, t, g, x in db.execute(
            "SELECT fingerprint, sum(total), sum(good), sum(excluded) FROM slo_cells WHERE layer = 'c' GROUP BY 1"
        )
    }
    for slo in compile_config(load(cfg)):
        events, good, excluded = expected(db, slo.endpoints, slo.threshold)
        assert counters[slo.key] == (events, good), (slo.key, stored, seed, last.log()[-3000:])
        assert cells[slo.fingerprint] == (events, good, excluded), (slo.key, seed)
    # the catch-up ran (and said so) at some start after a kill: not always at the last one, which finds
    # nothing uncounted when the run before it was killed after its own catch-up had been saved (seed-dependent)
    assert any("the last stop was unclean" in d.log() for d in daemons), seed

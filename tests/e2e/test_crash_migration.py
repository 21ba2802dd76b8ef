"""kill -9 of `slowatch run` while it opens an old (v1) database: during the migrations (v6 copies a large
`rollups` table, seconds), the start-up fold and the first pack pass over hours of raw rows. Each start
finishes or redoes what the killed one left; the last one is ready, and no row is lost or doubled: every
old raw result is read exactly once (packed or not), the rollups keep every hour, the schema is the newest.

Audit result: no bug found here (each migration commits with its version; the pack pass resumes from its
marker); this keeps it so.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer
from sqlite_utils import Database

from slowatch.store.raw import raw_results
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS, MIGRATIONS, migrate
from tests.e2e.harness import DaemonProcess, http_fleet, numbered

SEED = 20261207
ENDPOINTS = 10
RAW = 20_000  # over the last 20 hours: all but the newest due for packing at start
OLD_HOURS = 100_000  # rollup rows of endpoints long gone: what makes migration v6 take seconds
KILLS = 2


async def opened(pid: int, db: Path, timeout: float = 30.0) -> None:
    """Wait until process `pid` has `db` open (its store is starting): kill points after this fall in the
    migrations, the start-up fold and pack, whatever the interpreter's start-up took (Linux /proc)."""
    deadline = time.monotonic() + timeout
    fds = Path(f"/proc/{pid}/fd")
    while time.monotonic() < deadline:
        try:
            if any(Path(os.readlink(fd)) == db for fd in fds.iterdir()):
                return
        except OSError:  # a descriptor closed meanwhile
            pass
        await asyncio.sleep(0.01)
    raise AssertionError(f"process {pid} did not open {db}")


def v1_database(path: Path, now: float) -> list[tuple[str, float, str]]:
    """A database as slowatch v1 left it: raw rows, their rollups (latency_sum REAL) and `latest`;
    returns the raw rows as (endpoint, ts, outcome)."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(Database(conn), MIGRATIONS[:1])
    rng = random.Random(SEED)
    rows = []
    for i in range(RAW):
        ok = rng.random() < 0.9
        ts = now - 20 * 3600 + i * (20 * 3600 - 60) / RAW
        rows.append((ts, f"ep{i % ENDPOINTS}", "success" if ok else "timeout", rng.uniform(0.001, 0.3) if ok else 1.0))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, ?, 'http', ?, ?)", rows)
    hours: dict[tuple[str, int], list[float]] = {}
    outcomes: Counter[tuple[str, int, str]] = Counter()
    for ts, ep, outcome, duration in rows:
        hour = int(ts // 3600 * 3600)
        cell = hours.setdefault((ep, hour), [0, 0, 0.0] + [0] * len(BUCKET_COLUMNS))
        cell[0] += 1
        if outcome == "success":
            cell[1] += 1
            cell[2] += duration
            for j, bound in enumerate(LATENCY_BUCKETS):
                cell[3 + j] += duration <= bound
        outcomes[(ep, hour, outcome)] += 1
    old = int(now // 3600 * 3600) - 100 * 3600
    for i in range(OLD_HOURS):
        hours[(f"gone{i % 500}", old - 3600 * (i // 500))] = [1, 1, 0.1] + [1] * len(BUCKET_COLUMNS)
    marks = ", ".join("?" for _ in range(5 + len(BUCKET_COLUMNS)))
    conn.executemany(
        f"INSERT INTO rollups (endpoint, hour, total, good, latency_sum, {', '.join(BUCKET_COLUMNS)}) VALUES ({marks})",
        [(ep, hour, *cell) for (ep, hour), cell in hours.items()],
    )
    conn.executemany(
        "INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) VALUES (?, ?, ?, ?)",
        [(*key, n) for key, n in outcomes.items()],
    )
    conn.executemany(
        "INSERT INTO latest (ts, endpoint, kind, outcome, duration) VALUES (?, ?, 'http', ?, ?)", rows[-ENDPOINTS:]
    )
    conn.execute("COMMIT")
    conn.close()
    return [(ep, ts, outcome) for ts, ep, outcome, _ in rows]


def config(port: int) -> str:
    return (
        http_fleet(port, numbered(ENDPOINTS))
        + """consumers:
  - name: app
    endpoints: [ep0, ep1]
    slos:
      - {name: avail, sli: availability, objective: 99, window: 1d}
"""
    )


def inspect(path: Path) -> tuple[int, str, list[tuple[str, float, str]], dict[str, int]]:
    """(user_version, integrity_check, every raw result read as (endpoint, ts, outcome), rollup total per endpoint)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        read = [(r[2], r[1], r[4]) for r in raw_results(Database(conn))]
        totals = {ep: int(n) for ep, n in conn.execute("SELECT endpoint, sum(total) FROM rollups GROUP BY 1")}
        return version, integrity, read, totals
    finally:
        conn.close()


async def test_kill_9_while_an_old_database_is_migrated_and_packed_loses_and_doubles_nothing(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    built = time.time()
    old = await asyncio.to_thread(v1_database, tmp_path / "slowatch.db", built)
    cfg = write_config(config(targets.port))
    rng = random.Random(SEED)
    for _ in range(KILLS):
        d = DaemonProcess(cfg, tmp_path)
        daemons.append(d)
        await d.spawn()
        assert d.proc is not None
        await opened(d.proc.pid, tmp_path / "slowatch.db")
        await asyncio.sleep(rng.uniform(0.0, 0.8))  # the migrations (the first start), the fold, the first pack pass
        d.send(signal.SIGKILL)
        await d.proc.wait()
    last = DaemonProcess(cfg, tmp_path)
    daemons.append(last)
    await last.start(timeout=60)
    await asyncio.sleep(0.5)
    assert await last.stop() == 0, last.log()[-3000:]

    version, integrity, read, totals = await asyncio.to_thread(inspect, tmp_path / "slowatch.db")
    assert (version, integrity) == (len(MIGRATIONS), "ok")
    kept = sorted(row for row in read if row[1] < built)  # packed rows keep ts to the ms
    assert len(kept) == len(old), (len(kept), len(old))
    for (ep, ts, outcome), was in zip(kept, sorted(old), strict=True):
        assert (ep, outcome) == (was[0], was[2]) and abs(ts - was[1]) < 0.002, ((ep, ts, outcome), was)
    new = Counter(ep for ep, _, _ in read)  # every raw result, old and new
    for i in range(ENDPOINTS):
        assert totals[f"ep{i}"] == new[f"ep{i}"], (i, totals[f"ep{i}"], new[f"ep{i}"])
    assert sum(n for ep, n in totals.items() if ep.startswith("gone")) == OLD_HOURS
    log = "\n".join(d.log() for d in daemons)
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]

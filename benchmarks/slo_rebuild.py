"""Benchmark: rebuilding every SLO from the store at once, one SLO per read (before) and in groups (after).

    .venv/bin/python benchmarks/slo_rebuild.py --endpoints 100000 [--consumers 300] [--alone 20] [--reuse]

When every SLO needs a rebuild (a default every fingerprint includes changed, or the SLO state is lost),
the restore (`SloService._restore`, now `slo/restore.py`) used to read the store once per SLO; each read scans
the unpacked rows of `results` (no index on endpoint since store schema v11). Now it reads once per group of SLOs
(slo/rebuild.py).

The database (benchmarks/dbgen.py's generator, `--db`): `--endpoints` probed every `--interval` s for
`--raw-hours`, packed up to `--pack-after` before now (the rest, ~25-35 rows per endpoint at the
defaults, left in `results` as the daemon leaves them), one day of hourly rollups. The SLOs are run.py's:
`--consumers` consumers of 20 endpoints, each an availability SLO (30d) and a 300ms latency SLO (30d) or,
every 5th, a timeslice SLO over a calendar month; 600 SLOs at the defaults (`--consumers 600 --slos-each 1`:
600 availability SLOs over 12,000 endpoints).

Each read runs like the store's reader (one transaction, `rebuild` / `rebuild_group` in-process).
Before: `--alone` SLOs spread over the list, one read each (the per-SLO figure times the SLO count is the
old total); after: every SLO, a read per group (`groups`). Prints CPU (process_time) and wall per read and
in all, the scans of `results`, whether the cells of the `--alone` SLOs are identical, the event loop's
share (`rules_for` per SLO before the read, loading each ledger's cells after it: the service yields between
ledgers), and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dbgen  # noqa: E402
import measure as m  # noqa: E402

from slowatch.config import load  # noqa: E402
from slowatch.slo.engine import Engine  # noqa: E402
from slowatch.slo.rebuild import Cells, Job, groups, rebuild, rebuild_group  # noqa: E402


def write_config(path: Path, n: int, consumers: int, slos_each: int) -> None:
    """run.py's consumers (20 endpoints each, spread over the `n` endpoints), with only their endpoints;
    `slos_each` 1: only their availability SLO."""
    per, stride = 20, max(1, n // (consumers * 20))
    used: dict[str, None] = {}
    rows = []
    for c in range(consumers):
        eps = sorted({f"ep-{((c * per + k) * stride) % n:06d}" for k in range(per)})
        used.update(dict.fromkeys(eps))
        slos: list[dict[str, Any]] = [{"name": "availability", "sli": "availability", "objective": 99.9}]
        if slos_each == 1:
            pass
        elif c % 5 == 0:
            slos.append({"name": "minutes", "sli": "availability", "objective": 99.5, "budgeting": "timeslices",
                         "window": {"calendar": "month", "timezone": "Europe/Berlin"}})  # fmt: skip
        else:
            slos.append({"name": "fast", "sli": "latency", "threshold": "300ms", "objective": 99, "window": "30d"})
        rows.append({"name": f"consumer-{c}", "endpoints": eps, "slos": slos})
    endpoints = [{"name": e, "kind": "http", "url": f"http://127.0.0.1:9/{e}"} for e in used]
    path.write_text(json.dumps({"endpoints": endpoints, "consumers": rows}))  # JSON is YAML


def timed_read(conn: sqlite3.Connection, fn: Any, statements: list[str]) -> tuple[Any, float, float]:
    """`fn(db)` in one read transaction, as the store's reader runs it: (result, CPU s, wall s)."""
    from sqlite_utils import Database

    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    conn.set_trace_callback(statements.append)
    c0, w0 = time.process_time(), time.perf_counter()
    conn.execute("BEGIN")
    try:
        out = fn(db)
    finally:
        conn.execute("ROLLBACK")
        conn.set_trace_callback(None)
    return out, time.process_time() - c0, time.perf_counter() - w0


def scans(statements: list[str]) -> int:
    return sum(1 for sql in statements if "FROM results WHERE ts >=" in sql)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=100_000)
    p.add_argument("--interval", type=float, default=60.0)
    p.add_argument("--raw-hours", type=float, default=1.0)
    p.add_argument("--pack-after", type=float, default=1500.0, help="seconds; the rows after it stay in results")
    p.add_argument("--consumers", type=int, default=300)
    p.add_argument("--slos-each", type=int, choices=(1, 2), default=2, help="SLOs per consumer")
    p.add_argument("--alone", type=int, default=20, help="SLOs rebuilt one per read (the old way)")
    p.add_argument("--db", default="/tmp/bench/rebuild/rebuild.db")
    p.add_argument("--reuse", action="store_true", help="keep an existing --db")
    args = p.parse_args()
    db_path = Path(args.db)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    config_path = db_path.with_suffix(".yaml")
    if not (args.reuse and db_path.exists()):
        write_config(config_path, args.endpoints, args.consumers, args.slos_each)
        print(f"generating {db_path} ...", flush=True)
        dbgen.generate(db_path, config_path, n=args.endpoints, interval=args.interval, raw_hours=args.raw_hours,
                       days=1, now=time.time(), pack_after=args.pack_after)  # fmt: skip
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA query_only = 1")
    unpacked = conn.execute("SELECT count(*), count(DISTINCT endpoint), max(ts) FROM results").fetchone()
    blocks = conn.execute("SELECT count(*), sum(n) FROM result_blocks").fetchone()
    print(f"results: {unpacked[0]} unpacked rows of {unpacked[1]} endpoints; {blocks[0]} blocks ({blocks[1]} rows)")
    until = float(unpacked[2]) + 1.0  # "now": just after the newest stored result
    engine = Engine(load(config_path), until)
    defs = [engine.definition(fp) for fp in sorted(set(engine.ledgers) - set(engine.composites))]
    t0 = time.process_time()
    jobs: dict[str, Job] = {
        d.fingerprint: (d, engine.ledgers[d.fingerprint], engine.rules_for(d.fingerprint)) for d in defs
    }
    rules_cpu = time.process_time() - t0
    formed = groups(defs)
    sizes = ", ".join(f"{len(g)} SLOs / {len({e for d in g for e in d.endpoints})} endpoints" for g in formed)
    print(f"{len(defs)} SLOs over {len({e for d in defs for e in d.endpoints})} endpoints; "
          f"groups: {len(formed)} ({sizes}); "
          f"rules_for on the loop: {rules_cpu * 1e3:.0f} ms CPU")  # fmt: skip
    timed_read(conn, lambda db: db.conn.execute("SELECT count(*), max(endpoint) FROM results").fetchone(), [])  # warm
    print(f"load before: {m.loadavg()}", flush=True)

    picked = defs[:: max(1, len(defs) // args.alone)][: args.alone]
    alone: dict[str, Cells] = {}
    before_cpu = before_wall = 0.0
    before_sql: list[str] = []
    for d in picked:
        job = jobs[d.fingerprint]
        alone[d.fingerprint], cpu, wall = timed_read(conn, lambda db, j=job: rebuild(db, *j, until=until), before_sql)
        before_cpu, before_wall = before_cpu + cpu, before_wall + wall
    k = len(picked)
    print(f"before (one read per SLO, {k} SLOs): {before_cpu / k:.3f} s CPU, {before_wall / k:.3f} s wall per SLO, "
          f"{scans(before_sql)} scans; x {len(defs)} SLOs = {before_cpu / k * len(defs):.0f} s CPU "
          f"({before_wall / k * len(defs):.0f} s wall); load {m.loadavg()[0]:.2f}", flush=True)  # fmt: skip

    after_cpu = after_wall = 0.0
    after_sql: list[str] = []
    same = 0
    for g in formed:
        cells, cpu, wall = timed_read(
            conn, lambda db, g=g: rebuild_group(db, [jobs[d.fingerprint] for d in g], until), after_sql
        )
        after_cpu, after_wall = after_cpu + cpu, after_wall + wall
        loads = []
        for d, c in zip(g, cells, strict=True):
            t0 = time.process_time()
            jobs[d.fingerprint][1].load(*c, add=True)
            loads.append(time.process_time() - t0)
        print(f"  group of {len(g)} SLOs: {cpu:.2f} s CPU, {wall:.2f} s wall; loading the cells (on the loop): "
              f"{sum(loads) * 1e3:.0f} ms CPU, at most {max(loads) * 1e3:.1f} ms per ledger", flush=True)  # fmt: skip
        same += sum(1 for d, c in zip(g, cells, strict=True) if alone.get(d.fingerprint) == c)
    print(f"after (one read per group, {len(defs)} SLOs): {after_cpu:.1f} s CPU ({after_cpu / len(defs) * 1e3:.0f} ms "
          f"per SLO), {after_wall:.1f} s wall, {scans(after_sql)} scans; cells identical for {same}/{k} SLOs "
          f"also rebuilt alone; load {m.loadavg()[0]:.2f}; cpus {os.cpu_count()}")  # fmt: skip
    print(f"ratio: {before_cpu / k * len(defs) / after_cpu:.0f}x less CPU")
    return 0 if same == k else 1


if __name__ == "__main__":
    sys.exit(main())

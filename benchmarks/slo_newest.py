"""The newest saved SLO cell at start (`store/slo_tables.drop_cells_after`), in-process: `SELECT max(start)` of
`slo_cells` and `slo_fine` (before session 10: a walk of every cell) against `NEWEST_CELL` / `NEWEST_FINE` (a few
seeks per SLO layer through the primary keys), side by side, best of `--repeat`, CPU (process_time).

  .venv/bin/python benchmarks/slo_newest.py [--slos 1000] [--days 90] [--repeat 5]

Each SLO gets hourly coarse cells for `--days` days, daily ones, and 72 hours of fine cells (a database file in
a temporary directory, in the store's schema).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlite_utils import Database

from slowatch.store.schema import migrate
from slowatch.store.slo_tables import NEWEST_CELL, NEWEST_FINE

T = 1_767_225_600


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slos", type=int, default=1000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "cells.db", isolation_level=None)
        migrate(Database(conn))
        conn.execute("BEGIN")
        for s in range(args.slos):
            fp = f"fp-{s:05d}"
            conn.executemany(
                "INSERT INTO slo_cells (fingerprint, layer, res, start, good, total) VALUES (?, ?, ?, ?, 60, 60)",
                [(fp, "c", 3600, T + k * 3600) for k in range(args.days * 24)]
                + [(fp, "d", 86400, T + k * 86400) for k in range(args.days)],
            )
            conn.executemany(
                "INSERT INTO slo_fine (fingerprint, res, start, good, total) VALUES (?, 60, ?, ?, ?)",
                [(fp, T + h * 3600, bytes(240), bytes(240)) for h in range(72)],
            )
        conn.execute("COMMIT")
        cells = conn.execute("SELECT count(*) FROM slo_cells").fetchone()[0]
        load0 = os.getloadavg()[0]
        ways = {
            "before (max(start))": ["SELECT max(start) FROM slo_cells", "SELECT max(start) FROM slo_fine"],
            "after (through the keys)": [NEWEST_CELL, NEWEST_FINE],
        }
        best = dict.fromkeys(ways, float("inf"))
        values = {}
        for _ in range(args.repeat):
            for name, sqls in ways.items():
                c = time.process_time()
                values[name] = [conn.execute(sql).fetchone()[0] for sql in sqls]
                best[name] = min(best[name], time.process_time() - c)
        conn.close()
    a, b = values.values()
    assert a == b, values
    print(f"newest SLO cell: {args.slos} SLOs, {cells:,} coarse cells, {args.slos * 72:,} fine hours; load "
          f"{load0:.2f} -> {os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, seconds in best.items():
        print(f"  {name:26s} {seconds * 1e3:7.1f} ms CPU")


if __name__ == "__main__":
    main()

"""Rollup size over `--days` with daily downsampling (store/daily.py), measured on a generated database.

    .venv/bin/python benchmarks/dbgen_daily.py --endpoints 1000 --days 400 --db /tmp/bench/daily.db

Two databases, the same rollups as benchmarks/dbgen.py writes them (per endpoint-hour: 3600 / `--interval`
results, 1% of the endpoints failing with `http_status`, whose count goes to rollup_outcomes):

  steady   day by day, as the daemon lives: each day's hourly rows inserted hour by hour in random key
           order (the fold's upserts), then the retention step merging the hours older than `--hourly`
           (95d) into daily rows, `--batch` rows per transaction. Its sizes are the steady state.
  upgrade  `--days` of hourly rows at once (a v6 database), then ONE retention pass downsampling every
           day older than `--hourly`: the time a first start after the upgrade spends on it.

Prints bytes per table (dbstat), per hourly and per daily endpoint-row, the batch times, and the size
projected to 10,000 endpoints (rows are per endpoint, so the bytes scale linearly).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure as m  # noqa: E402

HOUR, DAY = 3600, 86400


def _open(path: Path) -> sqlite3.Connection:
    from sqlite_utils import Database

    from slowatch.store.schema import migrate

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(Database(conn), path=str(path))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _hours(conn: sqlite3.Connection, n: int, interval: float, first: int, hours: int, shuffle: bool) -> None:
    """Hourly rollups (and outcome rows of the failing endpoints) for `hours` hours from `first`."""
    from slowatch.store.schema import BUCKET_COLUMNS

    per = int(HOUR / interval)
    eps = f"e(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM e WHERE j + 1 < {n})"
    hrs = f"h(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM h WHERE k + 1 < {hours})"
    order = "ORDER BY k, random()" if shuffle else "ORDER BY j, k"
    ok = f"CASE WHEN j % 100 = 0 THEN 0 ELSE {per} END"
    conn.execute("BEGIN")
    conn.execute(
        f"""WITH RECURSIVE {hrs}, {eps}
        INSERT INTO rollups (endpoint, hour, total, good, latency_us, {", ".join(BUCKET_COLUMNS)})
        SELECT printf('ep-%06d', j), ?1 + k * 3600, {per}, {ok},
               CASE WHEN j % 100 = 0 THEN 0 ELSE CAST(({per} * 0.0021 + (abs(random()) % 1000) / 1e6) * 1e6
                                                      AS INTEGER) END, {", ".join(ok for _ in BUCKET_COLUMNS)}
        FROM h, e {order}""",
        (first,),
    )
    conn.execute(
        f"""WITH RECURSIVE {hrs}, {eps} INSERT INTO rollup_outcomes (endpoint, hour, outcome, count)
        SELECT printf('ep-%06d', j), ?1 + k * 3600, 'http_status', {per} FROM h, e WHERE j % 100 = 0 {order}""",
        (first,),
    )
    conn.execute("COMMIT")


def _downsample(conn: sqlite3.Connection, cutoff: int, batch: int, times: list[float]) -> int:
    """One retention step, as store/retention.py runs it: batches until one comes back short."""
    from sqlite_utils import Database

    from slowatch.store.daily import downsample_batch

    db = Database(conn)
    merged = 0
    while True:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        n = downsample_batch(db, cutoff, batch)
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t0)
        merged += n
        if n < batch:
            return merged


def _report(name: str, path: Path, n: int, times: list[float], merged: int) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    hourly = conn.execute("SELECT count(*) FROM rollups").fetchone()[0]
    daily = conn.execute("SELECT count(*) FROM rollups_daily").fetchone()[0]
    conn.close()
    tables = m.table_bytes(str(path))
    h_bytes = tables.get("rollups", 0) + tables.get("rollup_outcomes", 0)
    d_bytes = tables.get("rollups_daily", 0) + tables.get("rollup_outcomes_daily", 0)
    busy = [t for t in times if t > 0]
    out = {
        "hourly_rows": hourly, "daily_rows": daily, "hourly_bytes": h_bytes, "daily_bytes": d_bytes,
        "per_hourly_row": h_bytes / max(1, hourly), "per_daily_row": d_bytes / max(1, daily),
        "file_bytes": path.stat().st_size, "merged": merged, "batches": len(busy),
        "batch_ms_max": 1000 * max(busy, default=0.0), "batch_ms_total": 1000 * sum(busy),
        "per_merged_us": 1e6 * sum(busy) / max(1, merged),
        "projected_10k_gb": (h_bytes + d_bytes) * 10_000 / n / 1e9,
    }  # fmt: skip
    print(f"{name}: {hourly} hourly rows ({h_bytes / 1e6:.1f} MB, {out['per_hourly_row']:.1f} B each), "
          f"{daily} daily rows ({d_bytes / 1e6:.1f} MB, {out['per_daily_row']:.1f} B each), file "
          f"{out['file_bytes'] / 1e6:.1f} MB; {merged} hours merged in {len(busy)} batches "
          f"(max {out['batch_ms_max']:.0f} ms, {out['per_merged_us']:.2f} µs per hour merged); "
          f"at 10,000 endpoints: {out['projected_10k_gb']:.2f} GB of rollups", flush=True)  # fmt: skip
    return out


def steady(path: Path, *, n: int, interval: float, days: int, hourly: int, batch: int) -> dict[str, Any]:
    conn = _open(path)
    start = 1_735_689_600  # 2025-01-01T00:00:00Z
    times: list[float] = []
    merged = 0
    for d in range(days):
        _hours(conn, n, interval, start + d * DAY, 24, shuffle=True)
        now = start + (d + 1) * DAY  # the day just ended: one retention pass
        merged += _downsample(conn, (now - hourly * DAY) // DAY * DAY, batch, times)
    conn.close()
    return _report("steady", path, n, times, merged)


def upgrade(path: Path, *, n: int, interval: float, days: int, hourly: int, batch: int) -> dict[str, Any]:
    conn = _open(path)
    start = 1_735_689_600
    _hours(conn, n, interval, start, days * 24, shuffle=False)
    times: list[float] = []
    merged = _downsample(conn, start + (days - hourly) * DAY, batch, times)
    conn.close()
    return _report("upgrade", path, n, times, merged)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=1000)
    p.add_argument("--interval", type=float, default=30.0)
    p.add_argument("--days", type=int, default=400)
    p.add_argument("--hourly", type=int, default=95, help="days kept hourly (retention.hourly)")
    p.add_argument("--batch", type=int, default=5000, help="hourly rows per transaction (retention_batch)")
    p.add_argument("--db", required=True, help="path of the steady-state database (upgrade: DB.upgrade)")
    p.add_argument("--json")
    args = p.parse_args()
    db = Path(args.db).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    kw = {"n": args.endpoints, "interval": args.interval, "days": args.days, "hourly": args.hourly,
          "batch": args.batch}  # fmt: skip
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "args": vars(args),
           "load": m.loadavg()[0]}  # fmt: skip
    out["steady"] = steady(db, **kw)
    out["upgrade"] = upgrade(db.with_suffix(".upgrade.db"), **kw)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

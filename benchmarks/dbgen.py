"""A realistic 30-day database for N endpoints, written straight through the store's schema,
then the daemon's start -> /readyz time on it.

    .venv/bin/python benchmarks/dbgen.py --endpoints 10000 --interval 30 --db /tmp/bench/30d.db [--restarts 3]

Contents (all times end "now", so retention has nothing to delete at start):
  result_blocks    every endpoint every `--interval` for `--raw-hours` (48 h: the raw retention), packed
                   per endpoint and 10-minute block (schema v6) up to the pack cutoff (the last block that
                   ended 15 min ago: `retention.pack_after`), like the daemon's pack step leaves them
  results          the rows after the pack cutoff (15-25 min), shaped like the daemon's (phases as JSON
                   text, as before session 5: still read, 32 B more per row than the binary form of
                   store/phase_codec.py; final_url; 1% of endpoints failing)
  rollups          one row per endpoint-hour for `--days` (30); rollup_outcomes for the failing endpoints
                   (since v6 it keeps only outcomes other than success)
  latest, incidents, alert_streaks  one row per endpoint (incidents: failing endpoints)
  slo_cells        per SLO ledger of the generated consumers (fingerprints from slowatch.slo's
                   Engine, so the daemon loads them instead of rebuilding): fine cells for 3 days,
                   coarse cells for `--days`; slo_counters per SLO
The schema comes from slowatch.store.schema.migrate; rows are generated in SQL (recursive CTEs)
with the two `results` indexes dropped during the load and re-created from their own DDL.
Prints the size per table (dbstat) and bytes per raw row, per rollup row; then starts
`python -m slowatch run` on a copy-free config `--restarts` times and times start -> ready.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sqlite3
import sys
import time
from array import array
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure as m  # noqa: E402
import run as bench  # noqa: E402
from dbgen_blocks import packed_blocks  # noqa: E402

HOUR = 3600
_CELL = "INSERT OR REPLACE INTO slo_cells (fingerprint, layer, res, start, good, total, excluded, good_slices, slices)"


def generate(db_path: Path, config_path: Path, *, n: int, interval: float, raw_hours: float, days: int,
             now: float, pack_after: float = 900.0) -> dict[str, Any]:  # fmt: skip
    from sqlite_utils import Database

    from slowatch.config import load
    from slowatch.store.blocks import block_of
    from slowatch.store.schema import BUCKET_COLUMNS, migrate

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(Database(conn), path=str(db_path))
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB
    conn.execute("PRAGMA temp_store = FILE")
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params: tuple[Any, ...] = ()) -> None:
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(sql, params)
        conn.execute("COMMIT")
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)

    idx_sql = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'results' AND sql IS NOT NULL")]  # fmt: skip
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'results' AND sql IS NOT NULL"
    ).fetchall():
        conn.execute(f"DROP INDEX {name}")
    # Raw history: packed blocks up to the pack cutoff (what the daemon packs `retention.pack_after` after
    # a block ends), recent rows in `results` after it. 1% of endpoints fail with HTTP 500.
    steps = int(raw_hours * HOUR / interval)
    start = now - steps * interval
    packed_until = float(block_of(now - pack_after))
    first_recent = max(0, math.ceil((packed_until - start) / interval))
    if "result_blocks" in {name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}:
        packed_blocks(conn, step, n=n, interval=interval, since=start, until=packed_until)
    else:
        first_recent = 0
    endpoints_cte = f"e(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM e WHERE j + 1 < {n})"
    step(
        "results",
        f"""WITH RECURSIVE t(i) AS (SELECT {first_recent} UNION ALL SELECT i + 1 FROM t WHERE i + 1 < {steps}),
        {endpoints_cte}
        INSERT INTO results (ts, endpoint, kind, outcome, duration, status_code, message, attempt, final,
                             phases, cert_expiry, final_url)
        SELECT ?1 + i * ?2 + ((j * 7919) % 30000) / 30000.0 * ?2, printf('ep-%06d', j), 'http',
               CASE WHEN j % 100 = 0 THEN 'http_status' ELSE 'success' END,
               0.0005 + (abs(random()) % 4000000) / 1e9,
               CASE WHEN j % 100 = 0 THEN 500 ELSE 200 END,
               CASE WHEN j % 100 = 0 THEN 'expected status 200, got 500' ELSE '' END, 1, 1,
               printf('{{"connect":%.17g,"processing":%.17g,"transfer":%.17g}}',
                      (abs(random()) % 1000000) / 1e10 + 0.0001, (abs(random()) % 1000000) / 1e9 + 0.0002,
                      (abs(random()) % 1000000) / 1e11 + 0.00001),
               NULL, printf('http://127.0.0.1:%d/%s/%d', 33000 + j % 8, CASE WHEN j % 100 = 0 THEN 'fail'
                                                                       ELSE 'fast' END, j)
        FROM t, e""",
        (start, interval),
    )
    for sql in idx_sql:
        step("results indexes", sql)
    hours = days * 24
    first_hour = (int(now) // HOUR - hours + 1) * HOUR
    per_hour = int(HOUR / interval)
    zero = ", ".join("0" for _ in BUCKET_COLUMNS)
    buckets = ", ".join(f"CASE WHEN j % 100 = 0 THEN 0 ELSE {per_hour} END" for _ in BUCKET_COLUMNS)
    v6 = "latency_us" in {name for _, name, *_ in conn.execute("PRAGMA table_info(rollups)")}
    latency = ("latency_us", "1000000") if v6 else ("latency_sum", "1.0")
    step(
        "rollups",
        f"""WITH RECURSIVE h(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM h WHERE k + 1 < {hours}), {endpoints_cte}
        INSERT INTO rollups (endpoint, hour, total, good, {latency[0]}, {", ".join(BUCKET_COLUMNS)})
        SELECT printf('ep-%06d', j), ?1 + k * 3600, {per_hour},
               CASE WHEN j % 100 = 0 THEN 0 ELSE {per_hour} END,
               CASE WHEN j % 100 = 0 THEN 0 ELSE CAST(({per_hour} * 0.0021 + (abs(random()) % 1000) / 1e6)
                                                      * {latency[1]} AS {"INTEGER" if v6 else "REAL"}) END,
               {buckets if per_hour else zero}
        FROM h, e""",
        (first_hour,),
    )
    step(  # since v6 only outcomes other than success (whose count is rollups.good)
        "rollup_outcomes",
        f"""WITH RECURSIVE h(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM h WHERE k + 1 < {hours}), {endpoints_cte}
        INSERT INTO rollup_outcomes (endpoint, hour, outcome, count)
        SELECT printf('ep-%06d', j), ?1 + k * 3600, CASE WHEN j % 100 = 0 THEN 'http_status' ELSE 'success' END,
               {per_hour}
        FROM h, e WHERE NOT ?2 OR j % 100 = 0""",
        (first_hour, v6),
    )
    step(
        "latest",
        """INSERT INTO latest (ts, endpoint, kind, outcome, duration, status_code, message, attempt, final, phases,
                               cert_expiry, final_url)
        SELECT ts, endpoint, kind, outcome, duration, status_code, message, attempt, final, phases, cert_expiry,
               final_url FROM results
        WHERE id IN (SELECT max(id) FROM results WHERE ts >= ?1 GROUP BY endpoint)""",
        (now - 2 * interval,),
    )
    step(
        "incidents",
        f"""WITH RECURSIVE {endpoints_cte}
        INSERT INTO incidents (endpoint, ts, from_state, to_state, outcome, message)
        SELECT printf('ep-%06d', j), ?1, 'unknown', CASE WHEN j % 100 = 0 THEN 'down' ELSE 'up' END,
               CASE WHEN j % 100 = 0 THEN 'http_status' ELSE 'success' END, '' FROM e""",
        (now - days * 86400 + 60,),
    )
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    if "alert_streaks" in tables:
        step(
            "alert_streaks",
            f"""WITH RECURSIVE {endpoints_cte}
            INSERT INTO alert_streaks (endpoint, fails, oks, updated)
            SELECT printf('ep-%06d', j), CASE WHEN j % 100 = 0 THEN 5 ELSE 0 END,
                   CASE WHEN j % 100 = 0 THEN 0 ELSE 5 END, ?1 FROM e""",
            (now,),
        )
    if "rollup_watermark" in tables:
        # The generated rollups and latest already include every raw row: mark them folded
        # (store migration v5), or the first start would fold them all a second time.
        step("watermark", "UPDATE rollup_watermark SET results_id = (SELECT coalesce(max(id), 0) FROM results)")
    slo = {}
    if "slo_cells" in tables:
        slo = slo_cells(conn, config_path, now, days, load)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return {"timings_s": timings, "raw_rows": steps * n, "packed_rows": first_recent * n, "rollup_rows": hours * n,
            "slo": slo}  # fmt: skip


def slo_cells(conn: sqlite3.Connection, config_path: Path, now: float, days: int, load: Any) -> dict[str, Any]:
    """Cells for every ledger the daemon will build from this config (its fingerprints, its resolutions)."""
    try:
        from slowatch.slo.engine import Engine

        engine = Engine(load(config_path), now)
    except Exception as e:  # the SLO engine is being finished: fall back to no cells
        print(f"  slo_cells skipped: {type(e).__name__}: {e}")
        return {"skipped": str(e)}
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    fine_rows = coarse_rows = 0
    for fp, ledger in engine.ledgers.items():
        fine, coarse = int(ledger.fine), int(ledger.coarse)
        nf = int(3 * 86400 // fine)
        nc = int(days * 86400 // coarse)
        f0 = (int(now) // fine - nf + 1) * fine
        c0 = (int(now) // coarse - nc + 1) * coarse
        # Fine cells live packed per UTC hour in slo_fine (store migration v4): 72 hours of blocks.
        per_hour = 3600 // fine
        block = array("I", [40] * per_hour).tobytes()
        h0 = (int(now) // 3600 - 71) * 3600
        conn.executemany(
            "INSERT OR REPLACE INTO slo_fine (fingerprint, res, start, good, total) VALUES (?, ?, ?, ?, ?)",
            ((fp, fine, h0 + i * 3600, block, block) for i in range(72)),
        )
        del f0
        conn.executemany(
            f"{_CELL} VALUES (?, 'c', ?, ?, 2400, 2400, 0, 60, 60)",
            ((fp, coarse, c0 + i * coarse) for i in range(nc)),
        )
        fine_rows += nf
        coarse_rows += nc
    for consumer, slo_name in engine.counters:
        conn.execute(
            "INSERT OR REPLACE INTO slo_counters (consumer, slo, events, good) VALUES (?, ?, ?, ?)",
            (consumer, slo_name, 1_000_000, 999_000),
        )
    conn.execute("COMMIT")
    print(f"  slo_cells: {time.perf_counter() - t0:.1f} s ({len(engine.ledgers)} ledgers)", flush=True)
    return {"ledgers": len(engine.ledgers), "fine_rows": fine_rows, "coarse_rows": coarse_rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=30.0)
    p.add_argument("--raw-hours", type=float, default=48.0)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--consumers", type=int, default=300)
    p.add_argument("--db", required=True)
    p.add_argument("--reuse", action="store_true", help="keep an existing --db, only time the restarts")
    p.add_argument("--restarts", type=int, default=3)
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--json")
    args = p.parse_args()
    db = Path(args.db).resolve()
    workdir = db.parent
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "restart.yaml"
    listen = f"127.0.0.1:{bench.free_port()}"
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    bench.write_config(
        config, n=args.endpoints, interval=args.interval, timeout=2.0, ports=[port], refused_port=port,
        mix={"fast": 1.0, "slow": 0.0, "fail": 0.0, "refused": 0.0}, consumers=args.consumers, db=db,
        listen=listen, histograms=True, max_concurrency=None, jitter=None,
    )  # fmt: skip
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "args": vars(args)}
    if not (args.reuse and db.exists()):
        print(f"generating {db} ...", flush=True)
        out["generate"] = generate(db, config, n=args.endpoints, interval=args.interval, raw_hours=args.raw_hours,
                                   days=args.days, now=time.time())  # fmt: skip
    tables = m.table_bytes(str(db))
    recent_rows = int(m.query(str(db), "SELECT count(*) FROM results")[0][0])  # type: ignore[call-overload]
    has_blocks = "result_blocks" in tables
    packed = m.query(str(db), "SELECT count(*), sum(n) FROM result_blocks")[0] if has_blocks else (0, 0)
    blocks, packed_rows = int(packed[0] or 0), int(packed[1] or 0)  # type: ignore[call-overload]
    raw_rows = recent_rows + packed_rows
    rollup_rows = int(m.query(str(db), "SELECT count(*) FROM rollups")[0][0])  # type: ignore[call-overload]
    out.update(file_bytes=db.stat().st_size, tables=tables, raw_rows=raw_rows, packed_rows=packed_rows,
               blocks=blocks, rollup_rows=rollup_rows)  # fmt: skip
    print(f"database {db}: {db.stat().st_size / 1e9:.2f} GB, {raw_rows} raw results ({packed_rows} packed in "
          f"{blocks} blocks, {recent_rows} recent), {rollup_rows} rollup rows")  # fmt: skip
    for name, size in sorted(tables.items(), key=lambda kv: -kv[1]):
        if size > 1e6:
            print(f"  {name:20} {size / 1e9:7.3f} GB")
    print(f"  bytes per raw result, all raw (results + result_blocks, indexes included): "
          f"{(tables.get('results', 0) + tables.get('result_blocks', 0)) / max(1, raw_rows):.1f}")  # fmt: skip
    if packed_rows:
        print(f"  bytes per packed result (result_blocks + index): {tables['result_blocks'] / packed_rows:.1f}; "
              f"per recent row (results + index): {tables.get('results', 0) / max(1, recent_rows):.0f}")  # fmt: skip
    print(f"  bytes per rollup endpoint-hour (rollups + rollup_outcomes): "
          f"{(tables.get('rollups', 0) + tables.get('rollup_outcomes', 0)) / max(1, rollup_rows):.1f}")  # fmt: skip
    children = bench.Children()
    readies = []
    try:
        for i in range(args.restarts):
            proc, ready = bench.start_daemon(children, config, listen, workdir / "restart.log", args.ready_timeout)
            rss = m.proc_status(proc.pid).get("VmRSS", 0) / 1024
            children.stop(proc, timeout=60)
            readies.append(ready)
            print(f"restart {i + 1}: start -> ready {ready:.2f} s (RSS {rss:.0f} MB, load {m.loadavg()[0]:.2f})",
                  flush=True)  # fmt: skip
    finally:
        children.stop_all()
        refused.close()
    out["ready_s"] = readies
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

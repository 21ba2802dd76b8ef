"""Migrations v6 and v7, compact storage: packed raw result blocks, WITHOUT ROWID rollups, daily rollups.

v6:

- `result_blocks` (new): raw results older than `retention.pack_after`, packed per endpoint and
  10-minute block (blocks.py); the writer's pack step (pack.py) moves folded rows there from
  `results`. Rows already in `results` are left there: the pack step packs them in bounded batches
  once the daemon runs (a v5 database with 48 h of raw rows is packed within minutes).
- `rollups` is rebuilt WITHOUT ROWID, keyed (endpoint, hour), without the (hour) index, and with the
  latency sum in whole µs (`latency_us` INTEGER, 1-4 bytes) instead of `latency_sum` REAL (8 bytes).
- `rollup_outcomes` is rebuilt WITHOUT ROWID keyed (endpoint, hour, outcome), without the (hour)
  index, and keeps non-success outcomes only: the count of `success` is `rollups.good`.

Retention deletes from these tables endpoint by endpoint through their primary keys (retention.py).

v7 (`daily_rollups`): `rollups_daily` and `rollup_outcomes_daily`, the same columns keyed by UTC `day`
instead of `hour`, both WITHOUT ROWID; retention merges hourly rows older than `retention.hourly`
into them (daily.py). Created empty: no existing row moves, so the migration is instant.
"""

from __future__ import annotations

from sqlite_utils import Database


def _bucket_columns(db: Database) -> list[str]:
    """The latency bucket columns of the v5 `rollups` table (le_5ms ... le_10000ms)."""
    return [name for _, name, *_ in db.execute("PRAGMA table_info(rollups)") if name.startswith("le_")]


def compact_storage(db: Database) -> None:
    """Migration v6 (see the module docstring). The old tables are copied into their new layout and
    dropped; when they are empty (a new database) they are dropped first, so the new tables take the
    pages they leave and the file keeps no free pages (a cap on its size bites at once, as before)."""
    buckets = _bucket_columns(db)
    cols = ", ".join(buckets)
    rows = db.execute("SELECT EXISTS (SELECT 1 FROM rollups) OR EXISTS (SELECT 1 FROM rollup_outcomes)").fetchone()
    empty = not rows[0]
    if empty:
        db.execute("DROP TABLE rollups")  # its index rollups_hour goes with it
        db.execute("DROP TABLE rollup_outcomes")
    suffix = "" if empty else "_v6"
    db.execute(
        f"CREATE TABLE rollups{suffix} (endpoint TEXT NOT NULL, hour INTEGER NOT NULL, "
        "total INTEGER NOT NULL DEFAULT 0, good INTEGER NOT NULL DEFAULT 0, latency_us INTEGER NOT NULL DEFAULT 0, "
        + "".join(f"{c} INTEGER NOT NULL DEFAULT 0, " for c in buckets)
        + "PRIMARY KEY (endpoint, hour)) WITHOUT ROWID"
    )
    db.execute(
        f"""CREATE TABLE rollup_outcomes{suffix} (
            endpoint TEXT NOT NULL,
            hour INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (endpoint, hour, outcome)) WITHOUT ROWID"""
    )
    if not empty:
        db.execute(
            f"INSERT INTO rollups_v6 (endpoint, hour, total, good, latency_us, {cols}) "
            f"SELECT endpoint, hour, total, good, CAST(round(latency_sum * 1e6) AS INTEGER), {cols} FROM rollups "
            "ORDER BY endpoint, hour"
        )
        db.execute(
            "INSERT INTO rollup_outcomes_v6 (endpoint, hour, outcome, count) SELECT endpoint, hour, outcome, count "
            "FROM rollup_outcomes WHERE outcome != 'success' ORDER BY endpoint, hour, outcome"
        )
        for table in ("rollups", "rollup_outcomes"):
            db.execute(f"DROP TABLE {table}")
            db.execute(f"ALTER TABLE {table}_v6 RENAME TO {table}")
    db.execute(
        """CREATE TABLE result_blocks (
            id INTEGER PRIMARY KEY,
            endpoint TEXT NOT NULL,
            start INTEGER NOT NULL,
            end REAL NOT NULL,
            n INTEGER NOT NULL,
            data BLOB NOT NULL)"""
    )
    db.execute("CREATE INDEX result_blocks_endpoint_start ON result_blocks (endpoint, start)")


def daily_rollups(db: Database) -> None:
    """Migration v7 (see the module docstring): the daily rollup tables, with the hourly table's buckets."""
    buckets = "".join(f"{c} INTEGER NOT NULL DEFAULT 0, " for c in _bucket_columns(db))
    db.execute(
        "CREATE TABLE rollups_daily (endpoint TEXT NOT NULL, day INTEGER NOT NULL, "
        "total INTEGER NOT NULL DEFAULT 0, good INTEGER NOT NULL DEFAULT 0, latency_us INTEGER NOT NULL DEFAULT 0, "
        f"{buckets}PRIMARY KEY (endpoint, day)) WITHOUT ROWID"
    )
    db.execute(
        """CREATE TABLE rollup_outcomes_daily (
            endpoint TEXT NOT NULL,
            day INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (endpoint, day, outcome)) WITHOUT ROWID"""
    )


__all__ = ["compact_storage", "daily_rollups"]

"""Downsampling: hourly rollups older than `retention.hourly` become one row per endpoint and UTC day.

Hourly rows (`rollups`, `rollup_outcomes`) are kept `retention.hourly` (95d, longer than the longest
calendar SLO window, a quarter); retention (retention.py) then merges each endpoint's hours of a UTC
day into `rollups_daily` / `rollup_outcomes_daily` (migration v7, compact.py), keyed by `day` (its
start, a multiple of 86400), summing every counter: total, good, latency_us and the cumulative
latency buckets, and each outcome's count. Those are sums, so a day's row is exactly the sum of the
hourly rows it replaces; only the hour within the day is lost. Daily rows are kept until the whole
day is older than `retention.rollups` (400d). At 10,000 endpoints that bounds the rollups at ~1.5 GB
instead of ~5.5 GB for 400 days of hourly rows (benchmarks/README.md, "Database size").

Separate tables, not daily rows in `rollups`: every hourly reader (the fold's upserts, the SLO
rebuild's hours, `rollup_counts_since`) keeps meaning "one row = one hour" with no resolution column
to check, and a day's row cannot collide with the key of its own first hour; the two readers that
go further back (queries.rollups for the API, persist.hourly_rollups for long rolling SLO windows)
read both tables. Each query is a range scan of a primary key led by endpoint in either table.

A merge is one batch of at most `limit` hourly rows, in ONE writer transaction: the batch's keys
go into a temporary table, their counters are added to the daily rows (`INSERT ... ON CONFLICT DO
UPDATE SET c = c + excluded.c`), and exactly those hourly rows (and their outcome rows) are
deleted. So each hour is counted in exactly one of the hourly and daily tables at every commit: a
crash rolls the whole batch back, and a later pass merges it again from the start. Days may be
merged over several batches (the upsert adds), and an hour folded late (a result older than
`retention.hourly` arriving now) is merged by the next pass. Readers see one snapshot per read
(`store.read` runs in one transaction), so never an hour in both tables or in neither.
"""

from __future__ import annotations

from sqlite_utils import Database

from slowatch.store.queries import EACH_ENDPOINT
from slowatch.store.results import DAY, day_of
from slowatch.store.schema import BUCKET_COLUMNS

COUNTERS: tuple[str, ...] = ("total", "good", "latency_us", *BUCKET_COLUMNS)
"""The columns of a rollup row that are summed: every one but the key."""

_KEYS = (
    "CREATE TEMP TABLE IF NOT EXISTS downsample_keys "
    "(endpoint TEXT NOT NULL, hour INTEGER NOT NULL, PRIMARY KEY (endpoint, hour)) WITHOUT ROWID"
)
_PICK = (  # endpoint by endpoint through the primary key: `rollups` has no index on time
    f"WITH RECURSIVE {EACH_ENDPOINT.format(table='rollups')} INSERT INTO temp.downsample_keys (endpoint, hour) "
    "SELECT r.endpoint, r.hour FROM eps JOIN rollups AS r ON r.endpoint = eps.e AND r.hour < :cutoff LIMIT :limit"
)
_DAY = f"r.hour - r.hour % {DAY}"  # == results.day_of(hour) for hour >= 0
_MERGE = (  # CROSS JOIN: the keys drive the loop (the planner, without statistics, might scan rollups)
    f"INSERT INTO rollups_daily (endpoint, day, {', '.join(COUNTERS)}) "
    f"SELECT r.endpoint, {_DAY}, {', '.join(f'sum(r.{c})' for c in COUNTERS)} "
    "FROM temp.downsample_keys AS k CROSS JOIN rollups AS r ON r.endpoint = k.endpoint AND r.hour = k.hour "
    "WHERE true GROUP BY 1, 2 "
    "ON CONFLICT (endpoint, day) DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNTERS)
)
_MERGE_OUTCOMES = (
    f"INSERT INTO rollup_outcomes_daily (endpoint, day, outcome, count) SELECT r.endpoint, {_DAY}, r.outcome, "
    "sum(r.count) FROM temp.downsample_keys AS k CROSS JOIN rollup_outcomes AS r ON r.endpoint = k.endpoint "
    "AND r.hour = k.hour WHERE true GROUP BY 1, 2, 3 "
    "ON CONFLICT (endpoint, day, outcome) DO UPDATE SET count = count + excluded.count"
)
_DELETE = "DELETE FROM {table} WHERE (endpoint, hour) IN (SELECT endpoint, hour FROM temp.downsample_keys)"


def downsample_cutoff(now: float, hourly: float) -> int:
    """Hours before this UTC midnight are merged: the days that ended at least `hourly` seconds ago
    (so hourly rows are kept at least `hourly`, at most a day more)."""
    return day_of(now - hourly)


def downsample_batch(db: Database, cutoff: float, limit: int) -> int:
    """Merge up to `limit` hourly rollup rows with hour < cutoff (and their outcome rows) into the daily
    tables and delete them, in the caller's transaction; return how many hourly rows were merged."""
    conn = db.conn
    conn.execute(_KEYS)
    conn.execute("DELETE FROM temp.downsample_keys")
    conn.execute(_PICK, {"cutoff": cutoff, "limit": limit})
    picked: int = conn.execute("SELECT count(*) FROM temp.downsample_keys").fetchone()[0]
    if picked:
        conn.execute(_MERGE)
        conn.execute(_MERGE_OUTCOMES)
        conn.execute(_DELETE.format(table="rollup_outcomes"))
        conn.execute(_DELETE.format(table="rollups"))
        conn.execute("DELETE FROM temp.downsample_keys")
    return picked


__all__ = ["COUNTERS", "downsample_batch", "downsample_cutoff"]

"""Rollups, per-outcome counts and `latest` are folded from raw results, not upserted per batch.

The writer inserts only raw rows (and incidents) per batch. A fold then adds every *final* result with
`watermark < id <= max(id)` into `rollups`, `rollup_outcomes` (non-success outcomes only: the success
count is `rollups.good`) and `latest` (each endpoint's newest final result by write order, i.e. by id: the
order the writer's up/down state and its incidents follow, whatever the wall clock did) with
`INSERT ... ON CONFLICT DO UPDATE` statements and advances the watermark (the one row of
`rollup_watermark`) in the caller's transaction, so a fold is all or nothing and the watermark always
says exactly which raw rows the derived tables include: each result is counted once, however the
process stops.

Two ways to the same tables. `fold(db)` here derives everything in SQL from the raw rows (three
`INSERT ... SELECT` statements: no Python per row; the sqlite3 module releases the GIL while SQLite
steps): the catch-up at start, and the fallback. The writer's folds normally come from its memory
(fold_memory.py: `FoldSchedule(memory=FoldMemory())`): the same aggregates accumulated from the rows it
committed, written without reading the raw rows back (at 100,000 endpoints @ 60 s: 1.8 s of SQL per
5-minute fold); rows the memory did not see (committed in the fold's own transaction, or by someone
else) are added by `fold_range` in SQL, and whenever the memory cannot vouch for a range it falls back
to `fold` for all of it.

The writer folds every `interval` seconds (by its Clock's monotonic time: a step of the wall clock a day
back does not hold the next fold a day), in the transaction of any batch that
carries a flush marker (`await store.flush()`), when it closes, and once at start before anything
else (the catch-up after a kill: raw rows are committed before their fold, so they are all there).

Invariants kept by retention (retention.py) and the pack step (pack.py): neither deletes a raw row
above the watermark, nor the newest row (SQLite numbers a new row max(id) + 1, so ids are never reused
and the watermark only grows: every row above it is unfolded, every row at or below it folded). Nothing
updates or deletes a raw row above the watermark (the memory would still count it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.models import Outcome
from slowatch.store.incident_log import move_recent
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS, RESULT_COLUMNS

if TYPE_CHECKING:
    from slowatch.store.fold_memory import FoldMemory
    from slowatch.store.recent_ids import Numbered

logger = logging.getLogger(__name__)

_RANGE = "FROM results WHERE id > :lo AND id <= :hi AND final = 1"
_HOUR = "(CAST(ts AS INTEGER) / 3600) * 3600"  # == results.hour_of(ts) for ts >= 0 (floor, integer math)
COUNTERS = ("total", "good", "latency_us", *BUCKET_COLUMNS)
UPSERT_ROLLUPS = "ON CONFLICT (endpoint, hour) DO UPDATE SET " + ", ".join(
    f"{c} = {c} + excluded.{c}" for c in COUNTERS
)
UPSERT_OUTCOMES = "ON CONFLICT (endpoint, hour, outcome) DO UPDATE SET count = count + excluded.count"
UPSERT_LATEST = (  # a fold's rows are newer (by id) than every row folded before: always replaced. (Until
    # session 8 only by a row with a ts at least as late: after the wall clock stepped back an hour, `latest`
    # kept the row from before the step for that hour, and a restart then read a stale up/down state.)
    "ON CONFLICT (endpoint) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RESULT_COLUMNS if c != "endpoint")
)
_FOLD_ROLLUPS = (  # d: the duration of a good (successful) attempt, NULL otherwise; latency_us sums whole µs
    f"WITH f AS MATERIALIZED (SELECT endpoint, {_HOUR} AS hour, iif(outcome = :ok, duration, NULL) AS d {_RANGE}) "
    f"INSERT INTO rollups (endpoint, hour, {', '.join(COUNTERS)}) "
    "SELECT endpoint, hour, count(*), count(d), CAST(total(round(d * 1e6)) AS INTEGER), "
    + ", ".join(f"count(*) FILTER (WHERE d <= :b{i})" for i in range(len(LATENCY_BUCKETS)))  # (sum(d <= b): +13 %)
    + " FROM f WHERE true GROUP BY 1, 2 "
    + UPSERT_ROLLUPS
)
_FOLD_OUTCOMES = (
    f"INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) SELECT endpoint, {_HOUR}, outcome, count(*) "
    f"{_RANGE} AND outcome != :ok GROUP BY 1, 2, 3 " + UPSERT_OUTCOMES
)
_COLS = ", ".join(RESULT_COLUMNS)
_NEWEST = f"SELECT max(id) {_RANGE} GROUP BY endpoint"  # each endpoint's newest final result in the range, by id
_FOLD_LATEST = f"INSERT INTO latest ({_COLS}) SELECT {_COLS} FROM results WHERE id IN ({_NEWEST}) " + UPSERT_LATEST
_BOUNDS = {f"b{i}": b for i, b in enumerate(LATENCY_BUCKETS)}  # bound as doubles: the same as Python's


def watermark(db: Database) -> int:
    """The highest result id already folded (0 if none)."""
    row = db.conn.execute("SELECT results_id FROM rollup_watermark").fetchone()
    return 0 if row is None else int(row[0])


def unfolded_newest(db: Database) -> list[tuple[str, float, str]]:
    """(endpoint, ts, outcome) of each endpoint's newest final result (by id) not folded into `latest` yet."""
    params = {"lo": watermark(db), "hi": 1 << 62}
    sql = f"SELECT endpoint, ts, outcome FROM results WHERE id IN ({_NEWEST})"
    return [(ep, ts, outcome) for ep, ts, outcome in db.conn.execute(sql, params)]


def newest_id(db: Database) -> int:
    """max(results.id), 0 if there is none."""
    return int(db.conn.execute("SELECT max(id) FROM results").fetchone()[0] or 0)


def fold_range(db: Database, lo: int, hi: int) -> None:
    """Add the final results with `lo < id <= hi` to the derived tables, in SQL (the watermark is the caller's)."""
    conn = db.conn
    params = {"lo": lo, "hi": hi}
    conn.execute(_FOLD_ROLLUPS, {**params, **_BOUNDS, "ok": Outcome.SUCCESS.value})
    conn.execute(_FOLD_OUTCOMES, {**params, "ok": Outcome.SUCCESS.value})
    conn.execute(_FOLD_LATEST, params)


def set_watermark(db: Database, results_id: int, now: float) -> None:
    db.conn.execute("UPDATE rollup_watermark SET results_id = ?, updated = ?", (results_id, now))


def fold(db: Database, now: float = 0.0) -> tuple[int, int]:
    """Fold the unfolded raw results into the derived tables in SQL; return (old, new) watermark.

    Runs inside the caller's transaction (the writer's `BEGIN IMMEDIATE`); `now` is stored as the
    watermark's `updated` time.
    """
    lo, hi = watermark(db), newest_id(db)
    if hi <= lo:
        return lo, lo
    fold_range(db, lo, hi)
    set_watermark(db, hi, now)
    return lo, hi


Transact = Callable[[Callable[[Database], tuple[int, int]]], "tuple[int, int] | None"]
"""Runs a function in one writer transaction; returns its value, or None if the transaction failed."""


Written = tuple[int, Sequence[tuple[object, ...]]]
"""Committed rows: (id of the first, the rows in RESULT_COLUMNS order with ids first, first + 1, ...)."""


class FoldSchedule:
    """The writer's folds: every `interval` monotonic seconds of its Clock after the last one, and when asked.

    With a `memory` (fold_memory.py) a fold writes what it accumulated from the committed rows
    (`committed`) whenever it can vouch for them, otherwise the SQL `fold`; without one, always the SQL.
    """

    def __init__(self, clock: Clock, interval: float, *, path: str = "", memory: FoldMemory | None = None) -> None:
        self._clock = clock
        self._path = path
        self.memory = memory
        self.sql_folds = 0  # folds of the SQL `fold` (tried: a failed transaction counts too)
        self.interval = interval
        self.next_due = clock.monotonic() + interval  # (a step of the wall clock neither stalls nor hurries it)
        self.watermark = 0  # as last committed (read by other threads: an int, swapped atomically)
        self.failed = False  # the last fold in a transaction of its own failed: the writer retries it with backoff

    @property
    def due(self) -> bool:
        return self._clock.monotonic() >= self.next_due

    def fold(self, db: Database) -> tuple[int, int]:
        """Fold in the caller's transaction (from memory if it can, else `fold(db)`); call `folded` once it
        commits. The memory is left as it was: a failed transaction changes nothing."""
        now = self._clock.time()
        marks = None if self.memory is None else self.memory.fold(db, now)
        if marks is None:
            self.sql_folds += 1
            marks = fold(db, now)
        move_recent(db)  # the transitions since the last fold, into `incidents` (incident_log.py)
        return marks

    def committed(self, written: Sequence[Written], numbered: Sequence[Numbered] | None = None) -> None:
        """The rows of a transaction were committed (in id order): the memory takes them in (`numbered`: their
        endpoints' numbers, recent_ids.py)."""
        if self.memory is not None:
            self.memory.add(written, numbered)

    def folded(self, watermark: int) -> None:
        """A fold committed (everything up to `watermark`, max(id) then): start the next interval."""
        self.watermark, self.failed = watermark, False
        now = self._clock.monotonic()
        if self.memory is not None:
            self.memory.arm(watermark, now)
        self.next_due = now + self.interval

    def run(self, transact: Transact) -> tuple[int, int] | None:
        """Fold in a transaction of its own; a failure (logged by `transact`) sets `failed`: the writer retries it
        (with a backoff: step_backoff.py), and a batch folds at the next interval (not before: a fold that cannot
        be written must not hold back the results)."""
        marks = transact(self.fold)
        if marks is None:
            self.next_due = self._clock.monotonic() + self.interval
            self.failed = True
        else:
            self.folded(marks[1])
        return marks

    def catch_up(self, transact: Transact) -> None:
        """At open, before anything else: fold what a killed run committed but did not fold."""
        marks = self.run(transact)
        if marks is not None and marks[1] > marks[0]:
            logger.info("store: folded result ids %d..%d into rollups at start (the last stop was unclean): "
                        "path=%s", marks[0] + 1, marks[1], self._path)  # fmt: skip


__all__ = [
    "COUNTERS", "UPSERT_LATEST", "UPSERT_OUTCOMES", "UPSERT_ROLLUPS", "FoldSchedule", "Written", "fold", "fold_range",
    "newest_id", "set_watermark", "unfolded_newest", "watermark",
]  # fmt: skip

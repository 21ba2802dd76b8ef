"""Retention: delete expired rows in small transactions on the writer thread.

Every `interval` seconds (by the Clock's monotonic time) a pass starts: for each table, rows older than its cutoff
are deleted at most `batch` rows per transaction. The cutoffs are taken from the wall clock, unless it jumped
ahead: then from a time that advances no faster than twice the monotonic clock (retention_clock.py), so a clock
stepped a year ahead does not delete a year of history. The writer runs one such transaction per loop
turn, between result batches, so retention never holds the write lock long and never starves
recording. Raw `results` and packed `result_blocks` use `retention.raw`; rollups, per-outcome counts,
incidents and stale `latest` rows (endpoints not probed for that long) use `retention.rollups`.
Hourly rollups older than `retention.hourly` are merged into daily rows first (daily.py: the step
DOWNSAMPLE, one merge-and-delete transaction per batch); a daily row goes once its whole day is
older than `retention.rollups`.

`result_blocks` and the rollup tables (hourly and daily) have no index on time: their rows are found endpoint
by endpoint through the index or primary key led by endpoint (a skip scan run inside SQLite, a few µs
per endpoint). A block goes once all of its rows have expired (`end < cutoff`), so up to one block
(10 minutes) of older rows per endpoint may outlive the cutoff until the next pass.

Raw results are deleted by id range: there is no index on `results.ts` (it cost ~19 B per row).
Ids follow time within a probe's duration, so a bisection on id finds where `ts` crosses the cutoff
plus OUT_OF_ORDER seconds, and each transaction deletes the oldest ids below that point whose `ts` is
before the cutoff: the same rows as a delete by `ts` unless a row arrived more than OUT_OF_ORDER late
(it then waits for a later pass), in id rather than ts order. So, as before, the rows left are those
with ts >= cutoff (the SLO rebuild relies on that: slo/rebuild.py). Only rows already folded into the rollups (id <= the
fold watermark, see fold.py) and counted in the persisted SLO state (the SLO watermark, slo_tables.py) are
deleted, and never the newest row (ids are never reused); while a pack pass runs, none of its rows (it packs
exactly what its snapshot holds; they go with their block: pack_marker.py).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Literal

from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError
from slowatch.store.daily import downsample_batch, downsample_cutoff
from slowatch.store.fold import watermark
from slowatch.store.pack_marker import outside_pass
from slowatch.store.queries import EACH_ENDPOINT
from slowatch.store.results import DAY
from slowatch.store.retention_clock import (
    SAVE_EVERY,
    START_SLACK,
    RetentionClock,
    save_reference,
    save_run,
    saved_reference,
    saved_run,
)
from slowatch.store.slo_tables import counted_watermark

logger = logging.getLogger(__name__)

DOWNSAMPLE = "rollups_downsampled"
"""The step merging hourly rollups into daily ones (daily.py); its count is hourly rows merged."""

TARGETS: tuple[tuple[str, str, Literal["raw", "rollups", "hourly"]], ...] = (
    ("results", "ts", "raw"),
    ("result_blocks", "end", "raw"),
    ("rollups", "hour", "rollups"),  # (only on an upgraded database, or with hourly = rollups)
    ("rollup_outcomes", "hour", "rollups"),
    (DOWNSAMPLE, "hour", "hourly"),  # after the hourly deletes: expired hours are not merged first
    ("rollups_daily", "day", "rollups"),
    ("rollup_outcomes_daily", "day", "rollups"),
    ("incidents", "ts", "rollups"),
    ("latest", "ts", "rollups"),
)

OUT_OF_ORDER = 120.0
"""Seconds by which a raw row's `ts` (its probe's start) may trail the rows stored before it."""

Transact = Callable[[Callable[[Database], int]], "int | None"]
"""Runs a function in one writer transaction; returns its value, or None if the transaction failed."""


def delete_batch(db: Database, table: str, column: str, cutoff: float, limit: int) -> int:
    """Delete up to `limit` rows of `table` with `column < cutoff`, oldest first; return how many."""
    cur = db.conn.execute(
        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {column} < ? ORDER BY {column} LIMIT ?)",
        (cutoff, limit),
    )
    return cur.rowcount


_KEYED = {  # table -> (its key, the condition on a row `r` to delete; :cutoff, via the endpoint-led index)
    "result_blocks": ("id", "r.start < :cutoff AND r.end < :cutoff"),
    "rollups": ("(endpoint, hour)", "r.hour < :cutoff"),
    "rollup_outcomes": ("(endpoint, hour, outcome)", "r.hour < :cutoff"),
    "rollups_daily": ("(endpoint, day)", f"r.day <= :cutoff - {DAY}"),  # once the whole day has expired
    "rollup_outcomes_daily": ("(endpoint, day, outcome)", f"r.day <= :cutoff - {DAY}"),
}


def delete_per_endpoint(db: Database, table: str, cutoff: float, limit: int, since: float | None = None) -> int:
    """Delete up to `limit` expired rows of `table` (a key of _KEYED), endpoint by endpoint; return how many.
    `since` (result_blocks only): only blocks starting at or after it."""
    key, expired = _KEYED[table]
    if since is not None:
        assert table == "result_blocks"
        expired += " AND r.start >= :since"
    cols = ", ".join(f"r.{c.strip()}" for c in key.strip("()").split(","))
    before = db.conn.total_changes  # (a statement starting with WITH has no rowcount)
    db.conn.execute(
        f"WITH RECURSIVE {EACH_ENDPOINT.format(table=table)} DELETE FROM {table} WHERE {key} IN "
        f"(SELECT {cols} FROM eps JOIN {table} AS r ON r.endpoint = eps.e AND {expired} LIMIT :limit)",
        {"cutoff": cutoff, "limit": limit, "since": since},
    )
    return db.conn.total_changes - before


def first_id_at(db: Database, cutoff: float) -> int:
    """Where `results.ts` crosses `cutoff`: the smallest id found by bisection whose row has ts >= cutoff
    (max(id) + 1 if none). Exact when ids follow ts; ~log2(rows) primary-key lookups."""
    conn = db.conn
    lo, hi = conn.execute("SELECT (SELECT min(id) FROM results), (SELECT max(id) FROM results)").fetchone()
    if lo is None:
        return 0
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        nxt = conn.execute("SELECT id, ts FROM results WHERE id >= ? ORDER BY id LIMIT 1", (mid,)).fetchone()
        if nxt is None or nxt[1] >= cutoff:
            hi = mid
        else:
            lo = int(nxt[0]) + 1
    return int(lo)


def delete_results_batch(db: Database, cutoff: float, limit: int, since: float | None = None) -> int:
    """Delete up to `limit` raw results with ts < cutoff (and >= `since`, if given), oldest ids first; return how
    many.

    Only rows already folded (id <= the watermark) and counted in the persisted SLO state (id <= the SLO
    watermark, slo_tables.py), and never the newest row: SQLite numbers a new
    row max(id) + 1, so keeping the newest one keeps ids (and the watermark) growing forever."""
    top = db.conn.execute("SELECT max(id) FROM results").fetchone()[0]
    if top is None:
        return 0
    counted = counted_watermark(db)
    below = min(first_id_at(db, cutoff + OUT_OF_ORDER), watermark(db) + 1, top if counted is None else counted + 1, top)
    outside, params = outside_pass(db.conn)  # a pack pass's rows are its own until it ends (pack_marker.py)
    if since is not None:  # (from where ts crosses it, less the rows that may arrive late: not every older id)
        outside += " AND id >= :first AND ts >= :since"
        params = {**params, "first": first_id_at(db, since - OUT_OF_ORDER), "since": since}
    cur = db.conn.execute(
        "DELETE FROM results WHERE id IN (SELECT id FROM results WHERE id < :below AND ts < :cutoff"
        f"{outside} ORDER BY id LIMIT :limit)",
        {**params, "below": below, "cutoff": cutoff, "limit": limit},
    )
    return cur.rowcount


def _saving(db: Database, step: Callable[[Database], int], trusted: float, run: tuple[float, float]) -> int:
    """`step`, and save the time the pass goes by and this run's (for the next run: retention_clock.py)."""
    save_reference(db, trusted)
    save_run(db, *run)
    return step(db)


class Retention:
    """The retention schedule. `tick` is called by the writer thread once per loop turn."""

    def __init__(self, clock: Clock, config: RetentionConfig, *, interval: float, batch: int) -> None:
        self._clock = clock
        self._config = config
        self._interval = interval
        self._batch = batch
        self._next_due = clock.monotonic()  # (a step of the wall clock neither stalls nor hurries the passes)
        self.time = RetentionClock(clock, what="retention")  # the wall clock, unless it jumped ahead
        # The raw rows stamped since `_run_since` by this run's clock (or a restarted one's) go by that clock: held
        # back like `time` if it jumps ahead while it runs, not by an earlier run's time (retention_clock.py).
        self.run_time = RetentionClock(clock, what=None)
        self._run_since = clock.time()
        self._save: tuple[float, float] | None = None  # the times this pass goes by, saved with its first step
        self._saved: float | None = None  # the time last saved (by this run)
        self._todo: list[tuple[str, str, float, float | None]] = []  # table, column, cutoff, since
        self._deleted: dict[str, int] = {}
        self._requests: deque[Future[dict[str, int]]] = deque()  # appended from any thread
        self._waiters: list[Future[dict[str, int]]] = []

    @property
    def busy(self) -> bool:
        """A pass is under way (the writer should not sleep between its transactions)."""
        return bool(self._todo) or bool(self._requests)

    def request(self, future: Future[dict[str, int]]) -> None:
        """Ask for a full pass now; `future` gets the rows deleted per table when it ends."""
        self._requests.append(future)

    def tick(self, transact: Transact) -> None:
        if not self._todo:
            if not self._requests and self._clock.monotonic() < self._next_due:
                return
            now, run_now = self.time.now(), self.run_time.now()
            if self._saved is None or abs(now - self._saved) >= SAVE_EVERY:
                self._save = (now, run_now)
            while self._requests:
                self._waiters.append(self._requests.popleft())
            hourly = self._config.hourly_kept
            cutoff = {"raw": now - self._config.raw, "rollups": now - self._config.rollups,
                      "hourly": downsample_cutoff(now, hourly)}  # fmt: skip
            self._todo = [
                (table, column, cutoff[kind], None) for table, column, kind in TARGETS
                if kind != "hourly" or hourly < self._config.rollups
            ]  # fmt: skip
            run_cutoff = run_now - self._config.raw
            if run_cutoff > max(cutoff["raw"], self._run_since):  # held back, and this run's rows have expired
                low = max(cutoff["raw"], self._run_since)  # (older ones: gone by the held-back time, or kept)
                self._todo[2:2] = [("results", "ts", run_cutoff, low), ("result_blocks", "end", run_cutoff, low)]
            self._deleted = dict.fromkeys((t for t, _, _ in TARGETS), 0)
        table, column, cutoff_ts, since = self._todo[0]
        limit = self._batch
        step: Callable[[Database], int]
        if table == "results":
            step = partial(delete_results_batch, cutoff=cutoff_ts, limit=limit, since=since)
        elif table == DOWNSAMPLE:
            step = partial(downsample_batch, cutoff=cutoff_ts, limit=limit)
        elif table in _KEYED:
            step = partial(delete_per_endpoint, table=table, cutoff=cutoff_ts, limit=limit, since=since)
        else:
            step = partial(delete_batch, table=table, column=column, cutoff=cutoff_ts, limit=limit)
        save = self._save
        n = transact(
            step if save is None else partial(_saving, step=step, trusted=save[0], run=(self._run_since, save[1]))
        )
        if n is None:  # the writer logged and counted the failure; retry on the next turn
            return
        if save is not None:
            self._saved, self._save = save[0], None
        self._deleted[table] += n
        if n < limit:
            self._todo.pop(0)
        if not self._todo:
            self._next_due = self._clock.monotonic() + self._interval
            if any(self._deleted.values()):
                logger.info(
                    "store retention pass done: %s",
                    " ".join(f"{t}={n}" for t, n in self._deleted.items()),
                )
            for fut in self._waiters:
                fut.set_result(dict(self._deleted))
            self._waiters.clear()

    def start(self, db: Database) -> None:
        """At open: where the time retention goes by starts (the time an earlier run last went by), and since when
        raw rows were stamped by this clock (an earlier run's time, if it was restarted within START_SLACK)."""
        self.time.start(saved_reference(db))
        self.run_time.start(None)
        wall, run = self._clock.time(), saved_run(db)
        self._run_since = run[0] if run is not None and run[1] - START_SLACK <= wall <= run[1] + START_SLACK else wall

    def fail_waiters(self, error: StoreError) -> None:
        while self._requests:
            self._waiters.append(self._requests.popleft())
        for fut in self._waiters:
            fut.set_exception(error)
        self._waiters.clear()


__all__ = [
    "DOWNSAMPLE", "TARGETS", "Retention", "delete_batch", "delete_per_endpoint", "delete_results_batch", "first_id_at",
]  # fmt: skip

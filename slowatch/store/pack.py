"""The pack step: folded raw rows older than `retention.pack_after` move from `results` into `result_blocks`.

`results` stays the crash-safe table the writer inserts into (nothing is buffered in memory). Every
`interval` seconds (the fold's, on the Clock's monotonic time) a pass starts when the cutoff moved to another
block (every 10 minutes, or when the wall clock stepped: rows stamped while it was ahead are not due until it
catches up, and must not hold back the others) or the oldest row is due; otherwise there is nothing to pack
but rows that arrived late, and they wait for the next such pass. A pass packs the rows that are
  - folded (id <= the fold watermark, fold.py), counted in the persisted SLO state (id <= the SLO
    watermark, slo_tables.py) and not the newest row (ids are never reused): `id <= top`, and
  - in a block that ended at least `pack_after` ago: `ts < cutoff = block_of(now - pack_after)`;
`top` and `cutoff` are fixed at its start and recorded in the marker (pack_marker.py) in one transaction.

There is no index on `results (endpoint, ts)` (v11, pack_marker.py). A pass reads its rows once, sorted by
(endpoint, ts, id), through a cursor on a second connection: one WAL snapshot and one sort (SQLite's
sorter: bounded memory, spilling to temporary files) per pass, instead of one index walk per batch. Each
writer loop turn takes the next `batch` rows (whole (endpoint, block) groups: the last group goes on to the
next turn, unless it is the only one, then a group larger than the batch is split), packs each group into
one `result_blocks` row (blocks.py) and moves the marker's position to its last row, in one transaction
on the writer connection (results are written in between). Those rows are then *covered*: readers leave
them out, and once the cursor is done they are deleted from `results` by id range (pack_marker.py).

So a crash or a failed transaction anywhere leaves every result either in a block or (uncovered) in
`results`, never both and never neither: a failed turn ends the pass (its rows stay uncovered), and
what the marker covers is deleted before the next pass starts (also after a restart). A result
arriving after its block was packed is packed later into another row with the same (endpoint, start):
blocks are never read back and rewritten.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from itertools import groupby
from typing import Protocol, TypeVar

from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.store.blocks import BLOCK, RawRow, block_of, encode
from slowatch.store.fold import watermark
from slowatch.store.pack_marker import COVERED, DUE, marker
from slowatch.store.schema import RESULT_COLUMNS
from slowatch.store.slo_tables import counted_watermark

logger = logging.getLogger(__name__)

_COLUMNS = ", ".join("iif(outcome = 'success', NULL, phases)" if c == "phases" else c for c in RESULT_COLUMNS)
_SELECT = (  # (the phases of successful results are not kept: not even read)
    f"SELECT id, {_COLUMNS} FROM results WHERE {DUE} ORDER BY endpoint, ts, id"
)
_INSERT = "INSERT INTO result_blocks (endpoint, start, end, n, data) VALUES (?, ?, ?, ?, ?)"
_POSITION = "UPDATE pack_progress SET endpoint = ?, ts = ?, rid = ?"
DELETE_CHUNK = 50_000
"""Ids per transaction when covered rows are deleted (~30 ms each)."""

T = TypeVar("T")


class Transact(Protocol):
    """Runs a function in one writer transaction; returns its value, or None if the transaction failed."""

    def __call__(self, fn: Callable[[Database], T], /) -> T | None: ...


LEFTOVER = -1
"""`start_pass`: a marker is there already, left by a pass of another process (one killed mid-pass is
finished at our start; this one appeared since: a store of an older slowatch command, store/owner.py)."""


def start_pass(db: Database, cutoff: float) -> int | None:
    """Record a pass up to `cutoff` in the marker; return its `top` (None: no row may be packed;
    LEFTOVER: a marker is there, to be finished first)."""
    conn = db.conn
    if marker(conn) is not None:
        return LEFTOVER
    top = conn.execute("SELECT max(id) FROM results").fetchone()[0]
    if top is None:
        return None
    held = min(w for w in (watermark(db), counted_watermark(db), top - 1) if w is not None)
    if held <= 0:
        return None
    conn.execute("INSERT INTO pack_progress (id, top, cutoff) VALUES (1, ?, ?)", (held, cutoff))
    return int(held)


def _group(row: RawRow) -> tuple[str, float]:
    return row[2], row[1] // BLOCK  # (endpoint, block number): block_of(ts) == block number * BLOCK


def pack_rows(db: Database, rows: list[RawRow]) -> int:
    """Write `rows` (sorted by endpoint, ts, id) as blocks, one per (endpoint, block) group, and move the
    marker's position to the last one. Runs in the caller's transaction."""
    blocks = []
    for (endpoint, number), grouped in groupby(rows, _group):
        group = list(grouped)
        start = int(number) * BLOCK
        last_ts, blob = encode(start, group)
        blocks.append((endpoint, start, last_ts, len(group), blob))
    db.conn.executemany(_INSERT, blocks)
    last = rows[-1]
    db.conn.execute(_POSITION, (last[2], last[1], last[0]))
    return len(rows)


def delete_covered(db: Database, after: int, end: int | None, chunk: int) -> int | None:
    """Delete the covered rows with after < id <= after + chunk (after < 0: from the oldest row); return
    where to go on, or None once the marker is gone: the chunk reaching `end` (the pass's greatest packed
    id; None: its top) deletes it too. Runs in the caller's transaction."""
    conn = db.conn
    mark = marker(conn)
    if mark is None:
        return None
    last = mark["p_top"] if end is None else min(end, mark["p_top"])
    if mark["p_ep"] is not None:
        if after < 0:
            after = conn.execute("SELECT coalesce(min(id), 1) - 1 FROM results").fetchone()[0]
        conn.execute(f"DELETE FROM results WHERE id > :lo AND id <= :hi AND {COVERED}",
                     {**mark, "lo": after, "hi": after + chunk})  # fmt: skip
    if mark["p_ep"] is None or after + chunk >= last:
        conn.execute("DELETE FROM pack_progress")
        return None
    return after + chunk


def _split(rows: list[RawRow]) -> int:
    """Where the last (endpoint, block) group of `rows` starts (0 if there is only one)."""
    last = _group(rows[-1])
    i = len(rows) - 1
    while i > 0 and _group(rows[i - 1]) == last:
        i -= 1
    return i


class Pack:
    """The pack schedule. `tick` is called by the writer thread once per loop turn; `close` at its end."""

    def __init__(self, clock: Clock, *, pack_after: float, interval: float, batch: int, path: str = "") -> None:
        self._clock = clock
        self._pack_after = pack_after
        self._interval = interval
        self._batch = batch
        self._path = path
        self._next_due = clock.monotonic()
        self._last_cutoff = -1.0
        self._reader: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None  # a pass is reading its rows
        self._carry: list[RawRow] = []  # the start of a group read with the last turn's rows
        self._after: int | None = -1  # deleting covered rows with a greater id (-1: from the oldest row)
        self._first_id: int | None = None  # the least and greatest id the pass packed (None: unknown)
        self._end_id: int | None = None
        self.packed = 0  # rows packed since start (read by other threads)
        self.passes = 0  # passes whose covered rows are all deleted from `results` since start

    @property
    def busy(self) -> bool:
        """A pass is under way (the writer should not sleep between its transactions)."""
        return self._cursor is not None or self._after is not None

    def tick(self, transact: Transact, due_check: Callable[[float], bool]) -> None:
        if self._after is not None:  # delete what the last pass (or one a kill cut short) covered first
            after, end, chunk = self._after, self._end_id, DELETE_CHUNK
            done = transact(lambda db: (delete_covered(db, after, end, chunk),))
            if done is not None:  # (a failed transaction is retried next turn)
                self._after = done[0]
                self.passes += self._after is None
            return
        if self._cursor is None:
            self._start(transact, due_check)
        else:
            self._turn(transact)

    def _start(self, transact: Transact, due_check: Callable[[float], bool]) -> None:
        mono = self._clock.monotonic()
        if mono < self._next_due:
            return
        self._next_due = mono + self._interval
        cutoff = float(block_of(self._clock.time() - self._pack_after))
        if cutoff == self._last_cutoff and not due_check(cutoff):  # (a cutoff back in time: the clock stepped)
            return
        last, self._last_cutoff = self._last_cutoff, cutoff
        started = transact(lambda db: (start_pass(db, cutoff),))
        if started is None:  # failed: retried at the next turn (after the writer's backoff: step_backoff.py)
            self._next_due, self._last_cutoff = mono, last
            return
        top = started[0]
        if top is None:
            return
        if top == LEFTOVER:  # finish it (delete what it covered) in the next turns, then pass again
            logger.warning("store: finishing a pack pass another process left: path=%s", self._path)
            self._after, self._first_id, self._end_id, self._last_cutoff = -1, None, None, -1.0
            return
        self._first_id = self._end_id = None
        try:
            self._cursor = self._connect().execute(_SELECT, {"p_top": top, "p_cutoff": cutoff})
        except sqlite3.Error as e:
            self._end(f"cannot read the rows to pack: {e!r}")

    def _turn(self, transact: Transact) -> None:
        assert self._cursor is not None
        want = self._batch - len(self._carry)
        try:
            fetched: list[RawRow] = self._cursor.fetchmany(want)
        except sqlite3.Error as e:
            self._end(f"reading the rows to pack failed: {e!r}")
            return
        rows, self._carry = self._carry + fetched, []
        more = len(fetched) == want
        if more and (cut := _split(rows)) > 0:
            rows, self._carry = rows[:cut], rows[cut:]
        if rows:
            n = transact(lambda db: pack_rows(db, rows))
            if n is None:  # the writer logged and counted the failure: end the pass, its rows stay uncovered
                self._end()
                return
            self.packed += len(rows)
            low, high = min(row[0] for row in rows), max(row[0] for row in rows)
            self._first_id = low if self._first_id is None else min(self._first_id, low)
            self._end_id = high if self._end_id is None else max(self._end_id, high)
        if not more:
            self._end()

    def _end(self, error: str = "") -> None:
        """End the pass (after an error: log it); the next turns delete what it covered."""
        if error:
            logger.error("store: pack pass ended early: %s path=%s", error, self._path)
        if self._cursor is not None:
            self._cursor.close()
        self._cursor, self._carry = None, []
        self._after = -1 if self._first_id is None else self._first_id - 1

    def _connect(self) -> sqlite3.Connection:
        if self._reader is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            self._reader = conn
        return self._reader

    def interrupt(self) -> None:
        """Interrupt a statement of the pass's read connection (any thread: the writer's `abort`)."""
        reader = self._reader
        if reader is not None:
            reader.interrupt()

    def close(self) -> None:
        """Close the pass's read connection (the writer thread, when it stops)."""
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def oldest_due(db: Database, cutoff: float) -> bool:
    """Whether the oldest raw row (by id) is before `cutoff`: a pass has something to pack."""
    row = db.conn.execute("SELECT ts FROM results ORDER BY id LIMIT 1").fetchone()
    return row is not None and row[0] < cutoff


__all__ = ["DELETE_CHUNK", "LEFTOVER", "Pack", "delete_covered", "oldest_due", "pack_rows", "start_pass"]

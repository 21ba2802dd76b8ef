"""The ledger's SQLite side: its tables, batched saves, restores and rebuilds from raw history.

Every function here runs on a store thread (`store.submit(op)` or `await store.read(fn)`), never
on the event loop. Tables (created by `store/slo_tables.py`, migrations v2 and v4):

    slo_cells     (fingerprint, layer, start) -> res, good, total, excluded, good_slices, slices
                  layer 'c': coarse cells (`res` 3600 or 900 s), kept for `retention.rollups`, so
                  `slowatch report` can look back at past months. (Layer 'f' until migration v4.)
    slo_fine      (fingerprint, start) -> res, good, total: the fine cells (`res` 60 s or the
                  timeslice length) of one UTC hour, packed as little-endian uint32 arrays; kept
                  for the fine ring (3 days). A save rewrites every hour with a changed cell.
    slo_counters  (consumer, slo) -> events, good: the monotonic `*_events_total` counters
    slo_watermark the highest `results.id` the cells and counters include: every save sets it to the
                  newest stored result, in the same transaction. Results reach the store's queue before
                  the ledger sees them (daemon.on_result), so the rows up to it are exactly those the saved
                  state counts; after a kill the rows above it are counted again at start (`uncounted`).
    state['slo.saved_fingerprints']  the fingerprints whose cells the watermark holds for: the ledgers of
                  the run that last moved it, written with the first save after each start, reload or
                  restore (`SAVED_KEY`); a ledger still loading or rebuilding its cells is not in it. A
                  fingerprint with cells but not in it left the config (or was being restored) while the
                  watermark moved on: its cells miss the results stored meanwhile, so it is rebuilt from raw
                  history (`load_all_cells`), as a reload that adds it back rebuilds it (a composite is
                  recomputed from its members' fine rings, its older cells dropped: composite.py). Absent (a database
                  saved before it existed): every fingerprint's cells are taken as they are.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence

from sqlite_utils import Database

from slowatch.slo.ledger import CoarseRow, FineBlock, FineRow, Ledger
from slowatch.store import raw
from slowatch.store.results import DAY
from slowatch.store.slo_tables import counted_watermark, set_counted_watermark

HOUR = 3600
_SWAP = sys.byteorder == "big"  # blobs are little-endian

_UPSERT_CELL = (
    "INSERT OR REPLACE INTO slo_cells (fingerprint, layer, res, start, good, total, excluded, good_slices, slices) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FINE, COARSE = "f", "c"
_UPSERT_FINE = "INSERT OR REPLACE INTO slo_fine (fingerprint, res, start, good, total) VALUES (?, ?, ?, ?, ?)"
_UPSERT_COUNTER = "INSERT OR REPLACE INTO slo_counters (consumer, slo, events, good) VALUES (?, ?, ?, ?)"
SAVED_KEY = "slo.saved_fingerprints"
"""The `state` key of the fingerprints the SLO watermark holds for (see the module docstring)."""


class Batch:
    """Dirty cells and counters collected on the event loop, written in one transaction."""

    def __init__(self) -> None:
        # (fingerprint, since, until): drop its cells with since <= start < until first (a rebuild's range)
        self.replace: list[tuple[str, float, float]] = []
        self.cells: list[tuple[str, str, int, int, int, int, int, int, int]] = []
        self.fine: list[tuple[str, int, int, bytes, bytes]] = []
        self.counters: list[tuple[str, str, int, int]] = []
        # (fingerprint, layer, cutoff): drop its cells with start < cutoff (through the primary key);
        # a None fingerprint sweeps every fingerprint (a table scan: removed SLOs' leftovers)
        self.prune: list[tuple[str | None, str, float]] = []
        self.saved_at: float | None = None  # set: advance the watermark to the newest stored result
        self.extra: list[Callable[[Database], object]] = []  # more writes that must commit with these cells
        self.started = False  # the writer thread has taken it (set on its first try)

    def add_fine(self, fingerprint: str, ledger: Ledger, rows: Iterable[FineRow]) -> None:
        """The whole hour of each changed fine cell, as the ledger holds it now."""
        for hour in sorted({start - start % HOUR for start, _, _ in rows}):
            _, good, total = ledger.fine_block(hour, HOUR // ledger.fine)
            self.fine.append((fingerprint, ledger.fine, hour, _pack(good), _pack(total)))

    def add_coarse(self, fingerprint: str, res: int, rows: Iterable[CoarseRow]) -> None:
        self.cells.extend((fingerprint, COARSE, res, *row) for row in rows)

    def __bool__(self) -> bool:
        return bool(
            self.replace
            or self.cells
            or self.fine
            or self.counters
            or self.prune
            or self.extra
            or self.saved_at is not None
        )

    def __call__(self, db: Database) -> None:
        self.started = True
        conn = db.conn
        for replaced, since, until in self.replace:
            sql = "DELETE FROM slo_cells WHERE fingerprint = ? AND start >= ? AND start < ?"
            conn.execute(sql, (replaced, since, until))
            sql = "DELETE FROM slo_fine WHERE fingerprint = ? AND start >= ? AND start + ? <= ?"
            conn.execute(sql, (replaced, since, HOUR, until))  # hours wholly in the range
        conn.executemany(_UPSERT_CELL, self.cells)
        conn.executemany(_UPSERT_FINE, self.fine)
        conn.executemany(_UPSERT_COUNTER, self.counters)
        for fingerprint, layer, cutoff in self.prune:
            fine = layer == FINE  # a fine hour goes once all of it is before the cutoff
            table, where = ("slo_fine", "start + 3600 <= ?") if fine else ("slo_cells", "layer = 'c' AND start < ?")
            if fingerprint is None:
                conn.execute(f"DELETE FROM {table} WHERE {where}", (cutoff,))
            else:
                conn.execute(f"DELETE FROM {table} WHERE fingerprint = ? AND {where}", (fingerprint, cutoff))
        if self.saved_at is not None:
            set_counted_watermark(db, self.saved_at)
        for op in self.extra:
            op(db)


def _pack(cells: array[int]) -> bytes:
    if _SWAP:
        cells = array("I", cells)
        cells.byteswap()
    return cells.tobytes()


def _unpack(blob: bytes) -> array[int]:
    cells = array("I", blob)
    if _SWAP:
        cells.byteswap()
    return cells


def load_cells(
    db: Database,
    fingerprint: str,
    fine: int,
    coarse: int,
    fine_since: float,
    coarse_since: float,
    sliced: bool = True,
) -> tuple[list[FineBlock], list[CoarseRow]]:
    """Persisted cells of one fingerprint from the given starts on, at the given resolutions: the
    fine cells as runs of consecutive hours (`Ledger.add_fine_blocks`), the coarse ones as rows
    (without timeslices, `sliced` False, their slice counts are not read: 0, as a ledger keeps them)."""
    sql = "SELECT start, good, total FROM slo_fine WHERE fingerprint = ? AND res = ? AND start > ? ORDER BY start"
    size = 4 * (HOUR // fine)
    runs: list[tuple[int, list[bytes], list[bytes]]] = []
    for start, good, total in db.conn.execute(sql, (fingerprint, fine, fine_since - HOUR)):
        if len(good) != size or len(total) != size:
            continue  # not this resolution's hour: cannot be written
        if runs and runs[-1][0] + len(runs[-1][1]) * HOUR == start:
            runs[-1][1].append(good)
            runs[-1][2].append(total)
        else:
            runs.append((start, [good], [total]))
    blocks = [(start, _unpack(b"".join(good)), _unpack(b"".join(total))) for start, good, total in runs]
    sql = _COARSE if sliced else _COARSE.replace("good_slices, slices", "0, 0")
    return blocks, db.conn.execute(sql, (fingerprint, coarse, coarse_since)).fetchall()


_COARSE = (
    "SELECT start, good, total, excluded, good_slices, slices FROM slo_cells "
    "WHERE fingerprint = ? AND layer = 'c' AND res = ? AND start >= ? ORDER BY start"
)


def kept_counters_op(keys: Iterable[tuple[str, str]]) -> Callable[[Database], None]:
    """A write (for a save's transaction) deleting the `slo_counters` rows of SLOs not in `keys` (the configured
    ones): else a row stayed for every SLO ever configured, and was read at every start."""
    kept = set(keys)

    def drop(db: Database) -> None:
        stored = db.conn.execute("SELECT consumer, slo FROM slo_counters").fetchall()
        gone = [(c, s) for c, s in stored if (c, s) not in kept]
        db.conn.executemany("DELETE FROM slo_counters WHERE consumer = ? AND slo = ?", gone)

    return drop


def saved_fingerprints_op(fingerprints: Iterable[str], now: float) -> Callable[[Database], None]:
    """A write (for a save's transaction, `Batch.extra`) recording `fingerprints` as those the watermark it
    moves holds for."""
    params = (SAVED_KEY, json.dumps(sorted(fingerprints)), now)

    def put(db: Database) -> None:
        db.conn.execute("INSERT OR REPLACE INTO state (key, value, updated) VALUES (?, ?, ?)", params)

    return put


def saved_fingerprints(db: Database) -> set[str] | None:
    """The fingerprints the SLO watermark holds for; None if no save recorded them (see the module docstring)."""
    row = db.conn.execute("SELECT value FROM state WHERE key = ?", (SAVED_KEY,)).fetchone()
    return None if row is None else set(json.loads(row[0]))


def load_all_cells(
    db: Database, plans: Mapping[str, tuple[int, int, float, float, bool]]
) -> dict[str, tuple[list[FineBlock], list[CoarseRow]]]:
    """`load_cells` for each fingerprint -> (fine, coarse, fine_since, coarse_since, sliced), in one
    store read; only fingerprints with persisted cells are in the result, and only those the watermark holds
    for (`saved_fingerprints`), composites included (a stale one is recomputed from its members' cells)."""
    saved = saved_fingerprints(db)
    out = {}
    for fingerprint, plan in plans.items():
        if saved is not None and fingerprint not in saved:
            continue  # stale: rebuilt from raw history (a composite: from its members' fine rings)
        blocks, rows = load_cells(db, fingerprint, *plan)
        if blocks or rows:
            out[fingerprint] = (blocks, rows)
    return out


def load_counters(db: Database) -> dict[tuple[str, str], list[int]]:
    return {(c, s): [e, g] for c, s, e, g in db.conn.execute("SELECT consumer, slo, events, good FROM slo_counters")}


RawRow = tuple[float, str, str, float]  # ts, endpoint, outcome, duration


def uncounted(db: Database) -> tuple[int | None, int, list[RawRow]]:
    """(the SLO watermark or None if never set, the newest results.id, the final results above the
    watermark in id order): what a killed run stored but never saved into the SLO state."""
    top = int(db.conn.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0])
    mark = counted_watermark(db)
    if mark is None or mark >= top:
        return mark, top, []
    sql = "SELECT ts, endpoint, outcome, duration FROM results WHERE id > ? AND final = 1 ORDER BY id"
    return mark, top, db.conn.execute(sql, (mark,)).fetchall()


HourRow = tuple[int, str, int, int, tuple[int, ...]]  # hour, endpoint, total, good, latency buckets


def raw_results(
    db: Database, endpoints: Sequence[str], since: float, until: float, recent: Sequence[raw.RawRow] | None = None
) -> list[RawRow]:
    """Final raw results of `endpoints` with since <= ts <= until, oldest first (packed and recent alike:
    store/raw.py; `recent`: `recent_rows(db, endpoints)` read before, else `results` is scanned)."""
    rows = raw.raw_results(db, endpoints, since, math.nextafter(until, math.inf), final_only=True, recent=recent)
    return [(r[1], r[2], r[4], r[5]) for r in rows]


def oldest_raw(db: Database, endpoints: Sequence[str], recent: Sequence[raw.RawRow] | None = None) -> float | None:
    """From when on the raw results of `endpoints` are complete (store/raw.py `oldest_raw`)."""
    return raw.oldest_raw(db, endpoints, recent)


def recent_rows(db: Database, endpoints: Sequence[str]) -> list[raw.RawRow]:
    """The rows of `endpoints` still in `results` (one scan: store/raw.py `recent_rows`)."""
    return raw.recent_rows(db, endpoints)


def hourly_rollups(
    db: Database, endpoints: Sequence[str], since: float, until: float, columns: Sequence[str]
) -> list[HourRow]:
    """Hourly rollups of `endpoints` with since <= hour < until; `columns` picks latency buckets.

    Beyond `retention.hourly` (95d, store/daily.py) the hours are merged per UTC day: only a rolling
    SLO window longer than that reaches them. Each such day whose whole span is in [since, until)
    comes as ONE row at its start hour (`hour` = the day's start) with the day's sums: per-day exact,
    but the window's oldest day leaves it at once, and a maintenance check sees its first hour only."""
    marks = ", ".join("?" for _ in endpoints)
    extra = "".join(f", {c}" for c in columns)
    sql = (
        f"SELECT hour, endpoint, total, good{extra} FROM rollups WHERE endpoint IN ({marks}) "
        "AND hour >= ? AND hour < ? UNION ALL "
        f"SELECT day, endpoint, total, good{extra} FROM rollups_daily WHERE endpoint IN ({marks}) "
        f"AND day >= ? AND day <= ? - {DAY} ORDER BY 1"
    )
    params = (*endpoints, since, until, *endpoints, since, until)
    return [(r[0], r[1], r[2], r[3], tuple(r[4:])) for r in db.conn.execute(sql, params)]


__all__ = [
    "COARSE",
    "FINE",
    "Batch",
    "HourRow",
    "RawRow",
    "hourly_rollups",
    "kept_counters_op",
    "load_all_cells",
    "load_cells",
    "load_counters",
    "oldest_raw",
    "raw_results",
    "recent_rows",
    "uncounted",
]

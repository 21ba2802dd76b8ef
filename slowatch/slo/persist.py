"""The ledger's SQLite side: its tables, batched saves, restores and rebuilds from raw history.

Every function here runs on a store thread (`store.submit(op)` or `await store.read(fn)`), never
on the event loop. Tables (created by `store/slo_tables.py`, migration v2):

    slo_cells     (fingerprint, layer, start) -> res, good, total, excluded, good_slices, slices
                  layer 'f': fine cells (`res` 60 s or the timeslice length), kept for the fine
                  ring (3 days); layer 'c': coarse cells (`res` 3600 or 900 s), kept for
                  `retention.rollups`, so `slowatch report` can look back at past months.
    slo_counters  (consumer, slo) -> events, good: the monotonic `*_events_total` counters
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlite_utils import Database

from slowatch.slo.ledger import CoarseRow, FineRow

_UPSERT_CELL = (
    "INSERT OR REPLACE INTO slo_cells (fingerprint, layer, res, start, good, total, excluded, good_slices, slices) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FINE, COARSE = "f", "c"
_UPSERT_COUNTER = "INSERT OR REPLACE INTO slo_counters (consumer, slo, events, good) VALUES (?, ?, ?, ?)"


class Batch:
    """Dirty cells and counters collected on the event loop, written in one transaction."""

    def __init__(self) -> None:
        # (fingerprint, since, until): drop its cells with since <= start < until first (a rebuild's range)
        self.replace: list[tuple[str, float, float]] = []
        self.cells: list[tuple[str, str, int, int, int, int, int, int, int]] = []
        self.counters: list[tuple[str, str, int, int]] = []
        # (fingerprint, layer, cutoff): drop its cells with start < cutoff (through the primary key);
        # a None fingerprint sweeps every fingerprint (a table scan: removed SLOs' leftovers)
        self.prune: list[tuple[str | None, str, float]] = []

    def add_fine(self, fingerprint: str, res: int, rows: Iterable[FineRow]) -> None:
        self.cells.extend((fingerprint, FINE, res, start, g, t, 0, 0, 0) for start, g, t in rows)

    def add_coarse(self, fingerprint: str, res: int, rows: Iterable[CoarseRow]) -> None:
        self.cells.extend((fingerprint, COARSE, res, *row) for row in rows)

    def __bool__(self) -> bool:
        return bool(self.replace or self.cells or self.counters or self.prune)

    def __call__(self, db: Database) -> None:
        conn = db.conn
        for replaced, since, until in self.replace:
            sql = "DELETE FROM slo_cells WHERE fingerprint = ? AND start >= ? AND start < ?"
            conn.execute(sql, (replaced, since, until))
        conn.executemany(_UPSERT_CELL, self.cells)
        conn.executemany(_UPSERT_COUNTER, self.counters)
        for fingerprint, layer, cutoff in self.prune:
            if fingerprint is None:
                conn.execute("DELETE FROM slo_cells WHERE layer = ? AND start < ?", (layer, cutoff))
            else:
                sql = "DELETE FROM slo_cells WHERE fingerprint = ? AND layer = ? AND start < ?"
                conn.execute(sql, (fingerprint, layer, cutoff))


def load_cells(
    db: Database, fingerprint: str, fine: int, coarse: int, fine_since: float, coarse_since: float
) -> tuple[list[FineRow], list[CoarseRow]]:
    """Persisted cells of one fingerprint from the given starts on, at the given resolutions."""
    sql = (
        "SELECT start, good, total, excluded, good_slices, slices FROM slo_cells "
        "WHERE fingerprint = ? AND layer = ? AND res = ? AND start >= ? ORDER BY start"
    )
    rows = db.conn.execute(sql, (fingerprint, FINE, fine, fine_since))
    fine_rows = [(r[0], r[1], r[2]) for r in rows]
    rows = db.conn.execute(sql, (fingerprint, COARSE, coarse, coarse_since))
    coarse_rows = [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
    return fine_rows, coarse_rows


def load_counters(db: Database) -> dict[tuple[str, str], list[int]]:
    return {(c, s): [e, g] for c, s, e, g in db.conn.execute("SELECT consumer, slo, events, good FROM slo_counters")}


RawRow = tuple[float, str, str, float]  # ts, endpoint, outcome, duration
HourRow = tuple[int, str, int, int, tuple[int, ...]]  # hour, endpoint, total, good, latency buckets


def raw_results(db: Database, endpoints: Sequence[str], since: float, until: float) -> list[RawRow]:
    """Final raw results of `endpoints` with since <= ts <= until, oldest first."""
    marks = ", ".join("?" for _ in endpoints)
    sql = (
        f"SELECT ts, endpoint, outcome, duration FROM results WHERE final = 1 AND endpoint IN ({marks}) "
        "AND ts >= ? AND ts <= ? ORDER BY ts"
    )
    return [(r[0], r[1], r[2], r[3]) for r in db.conn.execute(sql, (*endpoints, since, until))]


def oldest_raw(db: Database, endpoints: Sequence[str]) -> float | None:
    marks = ", ".join("?" for _ in endpoints)
    row = db.conn.execute(f"SELECT min(ts) FROM results WHERE endpoint IN ({marks})", tuple(endpoints)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def hourly_rollups(
    db: Database, endpoints: Sequence[str], since: float, until: float, columns: Sequence[str]
) -> list[HourRow]:
    """Hourly rollups of `endpoints` with since <= hour < until; `columns` picks latency buckets."""
    marks = ", ".join("?" for _ in endpoints)
    extra = "".join(f", {c}" for c in columns)
    sql = (
        f"SELECT hour, endpoint, total, good{extra} FROM rollups WHERE endpoint IN ({marks}) "
        "AND hour >= ? AND hour < ? ORDER BY hour"
    )
    return [(r[0], r[1], r[2], r[3], tuple(r[4:])) for r in db.conn.execute(sql, (*endpoints, since, until))]


__all__ = [
    "COARSE",
    "FINE",
    "Batch",
    "HourRow",
    "RawRow",
    "hourly_rollups",
    "load_cells",
    "load_counters",
    "oldest_raw",
    "raw_results",
]

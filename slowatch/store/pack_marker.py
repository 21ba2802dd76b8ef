"""Migration v11 and the pack pass marker: which rows of `results` already live in `result_blocks`.

v11 (`pack_marker`) drops the `results (endpoint, ts)` index and creates the marker table. Results arrive in
the scheduler's phase order (a hash of the name), so every inserted row dirtied a different leaf of that
index: each batch's commit wrote about one 4 KiB WAL page per row, then the checkpoint again (23.9 µs per
row into a 1.5 M-row table, 3.9 without the index). Nothing reads `results` by endpoint on the write path
any more: the fold groups its id range (fold.py), the pack step sorts its due rows once per pass (pack.py),
and the readers read the recent rows of a few endpoints by the ids the writer listed for them (recent_ids.py),
the others by a scan (raw.py; bounded by `retention.pack_after`).

    pack_progress   one row while a pack pass runs (or after one was interrupted), none otherwise
        id INTEGER PRIMARY KEY CHECK (id = 1), top INTEGER, cutoff REAL: the pass packs the rows with
        `id <= top AND ts < cutoff` (chosen at its start, see pack.py); endpoint TEXT, ts REAL, rid INTEGER:
        the last row packed so far in (endpoint, ts, id) order, NULL until the pass's first turn commits

A row of `results` in the pass and at or before that position is *covered*: it was written into a block in
the transaction that moved the position there, and it counts as packed. Readers leave covered rows out
(`not_covered`, raw.py), so every result is read from exactly one of the two tables; retention leaves the
pass's rows alone while the marker exists (`outside_pass`, retention.py), so a pass packs exactly the rows
its snapshot holds. Covered rows are deleted from `results` at the end of the pass, in id order (a few
thousand neighbouring rows per page: 0.6 µs per row, against 6.5-14 µs for the same rows deleted by id
in the pass's endpoint order, one scattered page per row), in transactions of their own; the last one
deletes the marker. A pass cut short (a failed transaction, a kill) is finished the same way: the next
turn deletes what the marker covers, then a new pass starts.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlite_utils import Database

DUE = "id <= :p_top AND ts < :p_cutoff AND ts > -1e15"
"""A row in the pass (`:p_top`, `:p_cutoff`); the `ts > -1e15` keeps it a range on ts for SQLite."""

COVERED = f"{DUE} AND (endpoint, ts, id) <= (:p_ep, :p_ts, :p_id)"
"""A row already packed by the pass (`:p_ep`, `:p_ts`, `:p_id`: its position): see the module docstring."""


def pack_marker(db: Database) -> None:
    """Migration v11 (see the module docstring); existing rows stay, the pack step packs them as before."""
    db.execute("DROP INDEX IF EXISTS results_endpoint_ts")
    db.execute(
        "CREATE TABLE pack_progress (id INTEGER PRIMARY KEY CHECK (id = 1), top INTEGER NOT NULL, "
        "cutoff REAL NOT NULL, endpoint TEXT, ts REAL, rid INTEGER)"
    )


def marker(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The marker as named parameters (p_top, p_cutoff, p_ep, p_ts, p_id), or None if no pass left one."""
    row = conn.execute("SELECT top, cutoff, endpoint, ts, rid FROM pack_progress").fetchone()
    return None if row is None else dict(zip(("p_top", "p_cutoff", "p_ep", "p_ts", "p_id"), row, strict=True))


def not_covered(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]]:
    """A condition (" AND ...", named parameters) leaving out the rows of `results` already packed."""
    mark = marker(conn)
    if mark is None or mark["p_ep"] is None:
        return "", {}
    return f" AND NOT ({COVERED})", mark


def outside_pass(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]]:
    """A condition (" AND ...", named parameters) leaving out every row of the pass under way, if any."""
    mark = marker(conn)
    if mark is None:
        return "", {}
    return f" AND NOT ({DUE})", mark


__all__ = ["COVERED", "DUE", "marker", "not_covered", "outside_pass", "pack_marker"]

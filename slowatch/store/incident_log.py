"""Migration v13 and the incidents' intake: new up/down transitions go to `incidents_recent`, without an index.

`incidents` has two indexes, (endpoint, ts) and (ts). Transitions come in the scheduler's phase order (a hash
of the name), so each one the writer inserted there dirtied a different leaf of the (endpoint, ts) index: a
4 KiB page written to the WAL at the batch's commit, and again by the checkpoint, for every transition (the
same cost v11 took off `results`, pack_marker.py). At 100,000 endpoints with 4 % of results failing at random
(store_writer.py: ~66 transitions per batch) those pages were most of the WAL: the batch writes' system time
fell from 0.72-0.88 to 0.14-0.26 µs per result without that index (benchmarks/README.md, session 15).

    incidents_recent  (v13) the transitions written since the last fold, same columns as `incidents`;
                      no index: rows are appended in id order

The writer inserts each transition here (`INSERT_INCIDENT`) with the id it would have had in `incidents`
(one more than the greatest of both tables: ids keep the order the transitions were written in, and a moved
row keeps its id). Every fold (fold.py, in its transaction) moves them all to `incidents` sorted by
(endpoint, ts), each index leaf written once per fold (`move_recent`). Readers read both tables (queries.py,
slo/history.py): the recent one holds at most a fold interval of transitions (a scan of a few thousand rows).
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

COLUMNS = "id, endpoint, ts, from_state, to_state, outcome, message"

INSERT_INCIDENT = (
    "INSERT INTO incidents_recent (id, endpoint, ts, from_state, to_state, outcome, message) VALUES ("
    "coalesce((SELECT max(id) FROM incidents_recent), (SELECT max(id) FROM incidents), 0) + 1, ?, ?, ?, ?, ?, ?)"
)
"""One transition (endpoint, ts, from_state, to_state, outcome, message), numbered after every other: the
recent table's ids are all above `incidents`' (its rows move there, keeping their ids, all at once)."""

_MOVE = f"INSERT INTO incidents ({COLUMNS}) SELECT {COLUMNS} FROM incidents_recent ORDER BY endpoint, ts, id"
_COLUMNS_BUT_ID = COLUMNS.removeprefix("id, ")
_RENUMBER = f"INSERT INTO incidents ({_COLUMNS_BUT_ID}) SELECT {_COLUMNS_BUT_ID} FROM incidents_recent ORDER BY id"
_CLASH = "SELECT (SELECT min(id) FROM incidents_recent) <= (SELECT max(id) FROM incidents)"


def incidents_recent(db: Database) -> None:
    """Migration v13: `incidents_recent` (see the module docstring)."""
    db.execute(
        """CREATE TABLE incidents_recent (
            id INTEGER PRIMARY KEY,
            endpoint TEXT NOT NULL,
            ts REAL NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            outcome TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '')"""
    )


def move_recent(db: Database) -> int:
    """Move every recent transition to `incidents` (in the caller's transaction); return how many."""
    conn = db.conn
    if conn.execute("SELECT 1 FROM incidents_recent LIMIT 1").fetchone() is None:
        return 0
    clash = conn.execute(_CLASH).fetchone()[0]  # a row not numbered by INSERT_INCIDENT (another program's)
    moved = conn.execute(_RENUMBER if clash else _MOVE).rowcount  # (renumbered in their order: not lost, no conflict)
    conn.execute("DELETE FROM incidents_recent")
    return int(moved)


def both(conn: sqlite3.Connection, select: str) -> str:
    """`select` (reading `incidents`) over both tables: a UNION ALL of it and the same on `incidents_recent`
    (an ORDER BY after it orders the whole; name its columns by position or as selected). On a database of
    before v13 (read as it is by `report`, `gate` and `alerts`: read_only.py), `select` alone."""
    if conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'incidents_recent'").fetchone():
        return f"{select} UNION ALL {select.replace(' FROM incidents ', ' FROM incidents_recent ')}"
    return select


__all__ = ["COLUMNS", "INSERT_INCIDENT", "both", "incidents_recent", "move_recent"]

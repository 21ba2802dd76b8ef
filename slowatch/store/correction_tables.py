"""Budget corrections (migration v9): an append-only log, and the daemon's record of what it applied.

corrections         the log (triggers refuse UPDATE and DELETE): one row per correction or revocation
    id INTEGER PRIMARY KEY, created_at REAL, author TEXT (a token name, or cli:<user>),
    action 'correct' | 'revoke', consumer, slo NULL, endpoint NULL, start REAL, end REAL,
    reason TEXT, revokes INTEGER NULL (the corrected row a revocation takes back)
correction_applied  correction_id PRIMARY KEY, active 0/1: whether the persisted SLO cells include it
                    (written in the same transaction as those cells: slo/correcting.py)
correction_effects  what applying a correction changed, per SLO ledger and coarse cell (the budget it
    returned, for reports): correction_id, fingerprint, start, good, total, excluded, good_slices, slices
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database


def correction_tables(db: Database) -> None:
    """Migration v9."""
    db.execute(
        """CREATE TABLE corrections (
            id INTEGER PRIMARY KEY, created_at REAL NOT NULL, author TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('correct', 'revoke')), consumer TEXT NOT NULL,
            slo TEXT, endpoint TEXT, start REAL NOT NULL, end REAL NOT NULL, reason TEXT NOT NULL,
            revokes INTEGER REFERENCES corrections (id))"""
    )
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER corrections_no_{event.lower()} BEFORE {event} ON corrections "
            "BEGIN SELECT RAISE(ABORT, 'corrections are append-only: revoke one instead'); END"
        )
    db.execute("CREATE TABLE correction_applied (correction_id INTEGER PRIMARY KEY, active INTEGER NOT NULL)")
    db.execute(
        """CREATE TABLE correction_effects (
            correction_id INTEGER NOT NULL, fingerprint TEXT NOT NULL, start INTEGER NOT NULL,
            good INTEGER NOT NULL, total INTEGER NOT NULL, excluded INTEGER NOT NULL,
            good_slices INTEGER NOT NULL, slices INTEGER NOT NULL,
            PRIMARY KEY (correction_id, fingerprint, start)) WITHOUT ROWID"""
    )


COLUMNS = ("id", "created_at", "author", "action", "consumer", "slo", "endpoint", "start", "end", "reason", "revokes")


def insert_correction(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    """Append one row (a correction or a revocation); returns its id. The caller commits."""
    values = [row.get(c) for c in COLUMNS[1:]]
    cur = conn.execute(f"INSERT INTO corrections ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * 10)})", values)
    assert cur.lastrowid is not None
    return cur.lastrowid


def all_corrections(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every row of the log, oldest first, each correction with `revoked_by` (the revocation's id or None)."""
    rows = [
        dict(zip(COLUMNS, r, strict=True))
        for r in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM corrections ORDER BY id")
    ]
    revoked = {r["revokes"]: r["id"] for r in rows if r["action"] == "revoke"}
    for r in rows:
        r["revoked_by"] = revoked.get(r["id"]) if r["action"] == "correct" else None
    return rows


def applied(conn: sqlite3.Connection) -> dict[int, bool]:
    return {int(i): bool(a) for i, a in conn.execute("SELECT correction_id, active FROM correction_applied")}


def record_applied(db: Database, correction_id: int, active: bool, effects: Iterable[tuple[Any, ...]]) -> None:
    """Mark a correction applied (or taken back) with its effects (fingerprint, start, 5 deltas)."""
    conn = db.conn
    conn.execute(
        "INSERT OR REPLACE INTO correction_applied (correction_id, active) VALUES (?, ?)", (correction_id, int(active))
    )
    conn.execute("DELETE FROM correction_effects WHERE correction_id = ?", (correction_id,))
    if active:
        conn.executemany(
            "INSERT INTO correction_effects VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(correction_id, *e) for e in effects]
        )


def effects(conn: sqlite3.Connection, fingerprint: str, start: float, end: float) -> dict[int, tuple[int, ...]]:
    """Per correction, the summed deltas (good, total, excluded, good_slices, slices) on `fingerprint`'s
    coarse cells starting in [start, end)."""
    sql = (
        "SELECT correction_id, sum(good), sum(total), sum(excluded), sum(good_slices), sum(slices) "
        "FROM correction_effects WHERE fingerprint = ? AND start >= ? AND start < ? GROUP BY correction_id"
    )
    return {int(r[0]): tuple(int(x) for x in r[1:]) for r in conn.execute(sql, (fingerprint, start, end))}


__all__ = [
    "COLUMNS",
    "all_corrections",
    "applied",
    "correction_tables",
    "effects",
    "insert_correction",
    "record_applied",
]

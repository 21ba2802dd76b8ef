"""The newest saved SLO cell at start (`slo_tables.drop_cells_after`): found through the keys, not by a walk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from slowatch.store.schema import migrate
from slowatch.store.slo_tables import NEWEST_CELL, NEWEST_FINE, drop_cells_after

T = 1_767_225_600
_CELL = "fingerprint, layer, res, start, good, total"


def cells_db(path: Path, fingerprints: int, hours: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(Database(conn))
    conn.execute("BEGIN")
    cells = [
        (f"fp-{i:03d}", layer, res, T + k * res, 1, 1)
        for i in range(fingerprints)
        for layer, res, n in (("c", 3600, hours), ("d", 86400, hours // 24))
        for k in range(n)
    ]
    conn.executemany(f"INSERT INTO slo_cells ({_CELL}) VALUES (?, ?, ?, ?, ?, ?)", cells)
    fine = [(f"fp-{i:03d}", 60, T + h * 3600, b"", b"") for i in range(fingerprints) for h in range(hours)]
    conn.executemany("INSERT INTO slo_fine (fingerprint, res, start, good, total) VALUES (?, ?, ?, ?, ?)", fine)
    conn.execute("COMMIT")
    return conn


def steps(conn: sqlite3.Connection, sql: str) -> tuple[object, int]:
    """The statement's value and the SQLite VM instructions it ran (in hundreds)."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        return conn.execute(sql).fetchone()[0], count[0]
    finally:
        conn.set_progress_handler(None, 0)


def test_the_newest_cell_is_found_by_seeks_per_slo_not_by_walking_every_cell(tmp_path: Path) -> None:
    conn = cells_db(tmp_path / "cells.db", fingerprints=10, hours=24 * 60)  # 14,400 coarse cells, 14,400 fine hours
    conn.execute(f"INSERT INTO slo_cells ({_CELL}) VALUES ('fp-004', 'x', 60, ?, 1, 1)", (T + 10**8,))
    conn.execute("INSERT INTO slo_fine (fingerprint, res, start, good, total) VALUES ('fp-007', 60, ?, x'', x'')",
                 (T + 10**9,))  # fmt: skip
    for sql, table, want in ((NEWEST_CELL, "slo_cells", T + 10**8), (NEWEST_FINE, "slo_fine", T + 10**9)):
        assert conn.execute(f"SELECT max(start) FROM {table}").fetchone()[0] == want
        value, hundreds = steps(conn, sql)
        assert value == want
        _, walk = steps(conn, f"SELECT max(start) FROM {table}")
        assert hundreds * 10 < walk, (hundreds, walk)  # (a walk visits every cell, the seeks a few per key)
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert not [p for p in plan if p.startswith(f"SCAN {table}")], plan
        per_key = "(fingerprint=? AND layer=?)" if table == "slo_cells" else "(fingerprint=?)"
        assert f"SEARCH {table} USING PRIMARY KEY {per_key}" in plan, plan
        assert f"SEARCH {table} USING PRIMARY KEY (fingerprint>?)" in plan, plan


def test_empty_tables_have_no_newest_cell_and_nothing_is_dropped(tmp_path: Path) -> None:
    conn = cells_db(tmp_path / "empty.db", fingerprints=0, hours=0)
    assert conn.execute(NEWEST_CELL).fetchone()[0] is None
    assert conn.execute(NEWEST_FINE).fetchone()[0] is None
    drop_cells_after(Database(conn), T)


def test_cells_after_now_are_dropped_as_before(tmp_path: Path) -> None:
    conn = cells_db(tmp_path / "ahead.db", fingerprints=3, hours=48)
    now = T + 24 * 3600 - 1  # the second day's cells (and fine hours) start after now: stamped by a clock ahead
    drop_cells_after(Database(conn), now)
    assert conn.execute("SELECT max(start) FROM slo_cells").fetchone()[0] <= now
    assert conn.execute("SELECT max(start) FROM slo_fine").fetchone()[0] <= now
    assert conn.execute("SELECT count(*) FROM slo_fine").fetchone()[0] == 3 * 24

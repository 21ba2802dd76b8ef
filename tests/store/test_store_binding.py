"""The store binds None and bytes parameters without the sqlite3 adaptation protocol (results.fast_binding), and
inserts a run of results many rows to a statement (results.insert_rows)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.models import Outcome
from slowatch.phases import Phases
from slowatch.store.results import ROWS_PER_INSERT, Written, fast_binding, result_row, write_results
from slowatch.store.schema import RESULT_COLUMNS, migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, result


class Blob(bytes):
    """A bytes subclass: not covered by the exact-type adapter, so it takes the protocol as before."""


def test_none_and_bytes_have_adapters_that_bind_them_unchanged(tmp_path: Path) -> None:
    fast_binding()
    fast_binding()  # idempotent
    proto = sqlite3.PrepareProtocol
    assert sqlite3.adapters[(type(None), proto)](None) is None
    blob = b"\x00\x01phases"
    assert sqlite3.adapters[(bytes, proto)](blob) is blob
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("CREATE TABLE t (a, b, c, d)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(None, blob, Blob(b"sub"), bytearray(b"ba"))])
    conn.execute("INSERT INTO t VALUES (:a, :b, :c, :d)", {"a": None, "b": b"", "c": Blob(), "d": 1.5})
    rows = conn.execute("SELECT typeof(a), a, typeof(b), b, typeof(c), c, typeof(d) FROM t ORDER BY rowid").fetchall()
    assert rows == [
        ("null", None, "blob", blob, "blob", b"sub", "blob"),
        ("null", None, "blob", b"", "blob", b"", "real"),
    ]
    conn.close()


async def test_the_store_registers_them(make_store: MakeStore) -> None:
    proto = sqlite3.PrepareProtocol
    sqlite3.adapters.pop((type(None), proto), None)
    sqlite3.adapters.pop((bytes, proto), None)
    make_store()
    assert (type(None), proto) in sqlite3.adapters
    assert (bytes, proto) in sqlite3.adapters


@pytest.mark.parametrize("n", [1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 2 * ROWS_PER_INSERT + 7])
def test_rows_go_in_by_many_to_a_statement_in_order_with_consecutive_ids(tmp_path: Path, n: int) -> None:
    """write_results inserts ROWS_PER_INSERT rows per statement (results.insert_rows): the rows stored, with the
    ids `written` says, are each result's row in order, whatever the remainder."""
    conn = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    db = Database(conn)
    migrate(db)
    conn.execute("INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (1, 'before', 'http', 'x', 0)")
    rs = [
        result(f"e{k % 5}", Outcome.SUCCESS if k % 3 else Outcome.TIMEOUT, at=T0 + k, duration=k / 1e3,
               status_code=None if k % 2 else 200, phases=Phases.of({"connect": k / 4}) if k % 4 else {},
               final_url=None if k % 5 else f"http://h/{k}", message=f"m{k}", final=k % 7 != 1)
        for k in range(n)
    ]  # fmt: skip
    written: list[Written] = []
    conn.execute("BEGIN")
    write_results(db, rs, {}, written)
    conn.execute("COMMIT")
    [(first, rows)] = written
    assert first == 2 and rows == [result_row(r) for r in rs]
    stored = conn.execute(f"SELECT id, {', '.join(RESULT_COLUMNS)} FROM results WHERE id > 1 ORDER BY id").fetchall()
    assert stored == [(first + k, *row) for k, row in enumerate(rows)]
    conn.close()

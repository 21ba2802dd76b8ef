"""The store binds None and bytes parameters without the sqlite3 adaptation protocol (results.fast_binding)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from slowatch.store.results import fast_binding
from tests.store.conftest import MakeStore


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

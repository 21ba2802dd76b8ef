"""The database file is deleted, moved away or replaced while the store runs: writes are held, loudly."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys

from slowatch.models import Outcome
from slowatch.store import Store
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, result, settled


async def filled(make_store: MakeStore, path: str, n: int = 300) -> None:
    """A database with `n` results in it, checkpointed into the main file and closed (no WAL left)."""
    store = make_store(path)
    await store.start()
    for i in range(n):
        store.record(result(f"ep{i % 30}", Outcome.TIMEOUT, at=T0 + i, message="x" * 300))
    await store.flush()
    await store.close()
    assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0


def count(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])
    finally:
        conn.close()


async def start_over(store: Store) -> None:
    """The start's upkeep (retention, a transaction per table; the pack's first look) is done: had the file gone
    during one of its steps, that step would stay unhealthy until its own backoff retried it, after the test's
    final `healthy` check (seen under load: `source=retention`)."""
    await settled(store)
    await eventually(lambda: not store._writer.retention.busy)


async def test_a_database_moved_away_holds_writes_until_it_is_back(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    store.record(result(at=T0))
    await store.flush()
    await start_over(store)
    os.rename(db_path, db_path + ".away")  # `mv` by an operator, a cleanup job
    for i in range(20):
        store.record(result(f"ep{i}", at=T0 + 1 + i))
    await eventually(lambda: not store.healthy)
    assert store.last_error is not None and f"database {db_path} was deleted or moved" in store.last_error
    assert store.pending == 20  # held, not written into a file nobody can find

    os.rename(db_path + ".away", db_path)  # back: writes resume by themselves
    await asyncio.wait_for(store.flush(), 5.0)
    assert store.healthy and store.pending == 0
    await store.close()
    assert count(db_path) == 21


async def test_a_database_replaced_under_the_store_is_not_written_to(
    make_store: MakeStore, db_path: str, tmp_path: object
) -> None:
    other = str(tmp_path) + "/other.db"
    await filled(make_store, other, n=10)
    store = make_store()
    await store.start()
    store.record(result(at=T0))
    await store.flush()
    await start_over(store)
    os.link(db_path, db_path + ".mine")  # ours kept under another name (same file), so that the path is never
    shutil.copy(other, db_path + ".tmp")  # missing (a writer turn then would say "deleted or moved": a flake)
    os.replace(db_path + ".tmp", db_path)  # another file where ours was, in one step
    store.record(result(at=T0 + 1))
    await eventually(lambda: not store.healthy)
    assert store.last_error is not None and f"database {db_path} was replaced by another file" in store.last_error
    with open(db_path, "rb") as f, open(other, "rb") as g:
        assert f.read() == g.read()  # the other file is untouched (not opened with SQLite: our -wal is beside it)

    os.replace(db_path + ".mine", db_path)
    await asyncio.wait_for(store.flush(), 5.0)
    assert store.healthy
    await store.close()
    assert count(db_path) == 2


async def test_the_wal_is_cut_back_after_a_large_catch_up_write(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    store.submit(lambda db: db.conn.execute("CREATE TABLE big (b BLOB)"))
    store.submit(lambda db: db.conn.executemany("INSERT INTO big VALUES (zeroblob(1048576))", [()] * 40))
    await store.flush(fold=False)  # one 40 MB transaction: the -wal grows past it
    assert os.path.getsize(db_path + "-wal") > 40 * 2**20
    for i in range(3):  # later small transactions restart the -wal once it is checkpointed
        store.submit(lambda db: db.conn.execute("DELETE FROM big WHERE rowid IN (SELECT rowid FROM big LIMIT 1)"))
        store.record(result(at=T0 + i))
        await store.flush(fold=False)
        await asyncio.sleep(0.05)
    assert os.path.getsize(db_path + "-wal") <= 17 * 2**20  # JOURNAL_SIZE_LIMIT (16 MB) plus a transaction


async def test_a_clean_close_leaves_the_history_in_the_database_file_itself(
    make_store: MakeStore, db_path: str, tmp_path: object
) -> None:
    """Once the store's reader had read (the daemon always does: the SLO rebuild, the API), a clean close left
    every row in `-wal` and a main file of one page: a backup of `slowatch.db` taken after `systemctl stop`, or
    the `-wal` deleted as a leftover, lost the whole history. Now the close checkpoints: the file is complete."""
    store = make_store()
    await store.start()
    for i in range(50):
        store.record(result(f"ep{i % 5}", at=T0 + i))
    await store.flush()
    assert await store.read(lambda db: db.execute("SELECT count(*) FROM results").fetchone()[0]) == 50
    await store.close()
    assert not os.path.exists(db_path + "-wal") or os.path.getsize(db_path + "-wal") == 0
    copy = str(tmp_path) + "/backup.db"
    shutil.copyfile(db_path, copy)  # the file alone, as `cp slowatch.db` takes it
    assert count(copy) == 50


async def test_a_clean_close_does_not_wait_for_another_process_reading(make_store: MakeStore, db_path: str) -> None:
    """The close's checkpoint (TRUNCATE) waited `busy_timeout` for every reader of another process to end its
    read (a long `slowatch report`, a backup tool that holds a read open): the daemon's stop hung that long.
    It now copies what no reader needs and leaves the rest in -wal, which the reader's close or the next
    start checkpoints: nothing is lost."""
    store = make_store(busy_timeout=120.0)
    await store.start()
    for i in range(50):
        store.record(result(f"ep{i % 5}", at=T0 + i))
    await store.flush()
    assert await store.read(lambda db: db.execute("SELECT count(*) FROM results").fetchone()[0]) == 50
    with subprocess.Popen(
        [sys.executable, "-c", READER, db_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as reader:
        try:
            assert reader.stdout is not None and reader.stdin is not None
            assert reader.stdout.readline().strip() == "50"  # its read transaction is open
            for i in range(50, 80):
                store.record(result(f"ep{i % 5}", at=T0 + i))
            await store.flush()
            # (generous: the old close waited the whole busy_timeout, 120 s, for the reader)
            await asyncio.wait_for(store.close(), timeout=30.0)
            assert reader.poll() is None  # the reader still holds its read: the close did not wait for it
            reader.stdin.write("\n")
            reader.stdin.flush()
            assert reader.wait(timeout=30) == 0
        finally:
            if reader.poll() is None:
                reader.kill()
    assert count(db_path) == 80


READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
print(conn.execute("SELECT count(*) FROM results").fetchone()[0], flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
conn.close()
"""

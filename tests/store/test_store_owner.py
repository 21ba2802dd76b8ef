"""One store maintains a database (store/owner.py): a second one fails to start naming the holder; a store
that only adds rows (`maintain=False`) works beside it without folding, packing or pruning; a pack pass
another process left behind is finished, not tripped over."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.errors import StoreError
from slowatch.store import Store
from slowatch.store.blocks import BLOCK
from slowatch.store.owner import DatabaseLock, lock_path
from slowatch.store.pack import Pack, oldest_due
from slowatch.store.queries import history
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, pass_done, result
from tests.store.helpers import query_value as scalar

T = TypeVar("T")


async def started_with_rows(store: Store) -> Store:
    """`store` started with 10 results of "api" in the first block and the newest row ("other") two blocks
    on, once its pack schedule's first (empty) look is over."""
    await store.start()
    for i in range(10):
        store.record(result(at=T0 + i * 30))
    store.record(result("other", at=T0 + 2 * BLOCK))
    await store.flush()
    packs = store._writer.packs
    await eventually(lambda: packs._next_due > T0)
    return store


async def test_a_second_store_on_the_database_fails_naming_the_holder(make_store: MakeStore, db_path: str) -> None:
    first = make_store()
    await first.start()
    second = make_store()
    with pytest.raises(StoreError) as caught:
        await second.start()
    message = str(caught.value)
    assert f"database {db_path} is in use by another slowatch run (pid {os.getpid()} on " in message
    assert "each instance needs a database of its own: set server.database or pass --db FILE" in message
    assert await asyncio.to_thread(lock_path, db_path) in message
    first.record(result(at=T0))  # the first one is untouched
    await first.flush()
    await first.close()
    again = make_store()
    await again.start()  # released at close
    assert [r.ts for r in await again.read(lambda db: history(db, "api"))] == [T0]


async def test_another_name_for_the_database_file_is_the_same_database(
    make_store: MakeStore, db_path: str, tmp_path: Path
) -> None:
    """A symlink to the database (`--db current.db`) used to take a lock of its own (`current.db.lock`), so two
    daemons wrote one file and counted each other's results; a hard link also got a `-wal` of its own: two WALs
    on one database file corrupt it. The symlink meets the same lock; a hard-linked database is refused."""
    first = make_store()
    await first.start()
    first.record(result(at=T0))
    await first.flush()
    link = tmp_path / "current.db"
    link.symlink_to(db_path)
    with pytest.raises(StoreError, match=f"database {link} is in use by another slowatch run"):
        await make_store(str(link)).start()
    await first.close()
    hard = tmp_path / "hard.db"
    os.link(db_path, hard)
    for name, maintain in ((db_path, True), (str(hard), True), (str(hard), False)):
        with pytest.raises(StoreError) as caught:
            await make_store(name, maintain=maintain).start()
        assert f"database {name} has 2 names (hard links)" in str(caught.value)
    assert not os.path.exists(f"{hard}-wal")  # refused before SQLite opened it
    os.unlink(hard)
    again = make_store(str(link))  # through the symlink, alone: fine
    await again.start()
    assert [r.ts for r in await again.read(lambda db: history(db, "api"))] == [T0]


async def test_a_store_that_only_adds_rows_leaves_folds_and_packs_to_the_owner(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    owner = await started_with_rows(make_store(rollup_interval=3600.0))  # its next fold and pass: at T0 + 1 h
    sql_folds = owner._writer.folds.sql_folds
    clock.set(T0 + BLOCK + 900)  # rows are due for a pass, the owner's is not due yet
    tool = make_store(maintain=False)
    await tool.start()
    tool.put_state("silence:endpoint:api", {"until": T0 + 7200})
    await tool.flush()
    await tool.close()
    assert scalar(db_path, "SELECT count(*) FROM result_blocks") == 0  # the tool packed nothing
    assert pass_done(db_path)
    await owner.flush()  # a fold from the owner's memory: the tool folded nothing under it
    assert owner._writer.folds.sql_folds == sql_folds
    clock.set(T0 + 3600)
    await eventually(lambda: owner.packed == 10 and pass_done(db_path))
    assert owner.healthy and owner._writer.write_errors == 0
    assert scalar(db_path, "SELECT value FROM state WHERE key = 'silence:endpoint:api'") == '{"until": 1767232800.0}'


async def test_a_pack_pass_another_process_left_is_finished(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    """A store of an older slowatch command (or anything else) started a pass and stopped after one turn,
    while this store was running: this store's next pass finishes that one first (it used to fail on the
    marker at every attempt: `UNIQUE constraint failed: pack_progress.id`, unhealthy, nothing packed)."""
    store = await started_with_rows(make_store(rollup_interval=60.0, pack_batch=3))

    def other_process() -> None:
        conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        db = Database(conn, execute_plugins=False)

        def transact(fn: Callable[[Database], T]) -> T:
            conn.execute("BEGIN IMMEDIATE")
            value = fn(db)
            conn.execute("COMMIT")
            return value

        other = Pack(FakeClock(T0 + BLOCK + 900), pack_after=900, interval=300, batch=3, path=db_path)
        for _ in range(3):  # nothing left to delete; start a pass; pack 3 rows: then it stops for good
            other.tick(transact, lambda cutoff: oldest_due(db, cutoff))
        other.close()
        conn.close()

    await asyncio.to_thread(other_process)
    assert not pass_done(db_path) and scalar(db_path, "SELECT sum(n) FROM result_blocks") == 3
    clock.set(T0 + BLOCK + 900)  # this store's pass is due
    await eventually(lambda: pass_done(db_path))  # the leftover is finished (its rows deleted: they are packed)
    clock.advance(60.0)  # the next pass packs the rest
    await eventually(lambda: pass_done(db_path) and store.packed == 7)
    assert store.healthy and store._writer.write_errors == 0
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") == 10
    assert scalar(db_path, "SELECT count(*) FROM results") == 1  # "other", the newest row
    rows = await store.read(lambda db: history(db, "api"))
    assert sorted(r.ts for r in rows) == [T0 + i * 30 for i in range(10)]  # each once


def test_a_database_in_a_missing_directory_says_so(tmp_path: Path) -> None:
    """`--db /srv/slowatch/x.db` before /srv/slowatch exists read `its lock file /srv/slowatch/x.db.lock: No such
    file or directory`, a file the user never named."""
    database = str(tmp_path / "missing" / "x.db")
    with pytest.raises(StoreError) as caught:
        DatabaseLock(database).acquire()
    assert str(caught.value) == (
        f"cannot open database {database}: the directory {tmp_path / 'missing'} does not exist "
        "(create it, or set server.database or pass --db FILE)"
    )

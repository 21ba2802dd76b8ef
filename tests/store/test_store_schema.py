"""Migrations and retention."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError
from slowatch.models import Outcome
from slowatch.store import MIGRATIONS, history, incidents, latest_results, rollups
from slowatch.store.schema import migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, result

HOUR = 3600.0
DAY = 86400.0


def user_version(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


async def test_migrations_run_once_and_set_user_version(make_store: MakeStore, db_path: str) -> None:
    runs: list[int] = []

    def add_outbox(db: Database) -> None:
        runs.append(1)
        db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT)")  # fails if run twice

    migrations = [*MIGRATIONS, add_outbox]
    for _ in range(3):
        store = make_store(db_path, migrations=migrations)
        await store.start()
        assert await store.read(lambda db: db["outbox"].exists())
        mode = await store.read(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
        await store.close()
    assert runs == [1]
    assert user_version(db_path) == len(MIGRATIONS) + 1


async def test_a_newer_schema_is_refused(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    await store.close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match=r"schema version \d+, newer than this slowatch knows"):
        await make_store(db_path).start()


async def test_a_failing_migration_is_rolled_back(make_store: MakeStore, db_path: str) -> None:
    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise ValueError("boom")

    first = make_store()
    await first.start()
    await first.close()
    with pytest.raises(StoreError, match=rf"migration {len(MIGRATIONS) + 1} \(broken\) failed: boom"):
        await make_store(migrations=[*MIGRATIONS, broken]).start()
    assert user_version(db_path) == len(MIGRATIONS)
    store = make_store()
    await store.start()
    assert not await store.read(lambda db: db["half_done"].exists())


async def test_a_new_database_is_created_whole_or_not_at_all(make_store: MakeStore, db_path: str) -> None:
    """Creation is one transaction (so another process never sees a half-made database, which a command
    would take for an older schema): a failing last migration leaves no table behind."""

    def broken(db: Database) -> None:
        raise ValueError("boom")

    with pytest.raises(StoreError, match=rf"migration {len(MIGRATIONS) + 1} \(broken\) failed: boom"):
        await make_store(migrations=[*MIGRATIONS, broken]).start()
    assert user_version(db_path) == 0
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()
    store = make_store()
    await store.start()
    assert user_version(db_path) == len(MIGRATIONS)


async def test_retention_deletes_old_raw_rows_in_batches_and_keeps_rollups(
    make_store: MakeStore, clock: FakeClock
) -> None:
    store = make_store(
        retention=RetentionConfig(raw=48 * HOUR, rollups=400 * DAY, pack_after="3650d"),  # `results` alone
        retention_batch=100,
        retention_interval=1e9,
    )
    await store.start()
    await store.prune()
    for i in range(350):
        store.record(result(at=T0 + i))
    store.record(result(at=T0 + 47 * HOUR))
    await store.flush()
    clock.advance(48 * HOUR + 1000)
    before = store.transactions
    deleted = await store.prune()
    assert deleted["results"] == 350
    assert store.transactions - before >= 4 + 4  # 100+100+100+50 rows, then one per other table
    assert [r.ts for r in await store.read(lambda db: history(db, "api"))] == [T0 + 47 * HOUR]
    kept = await store.read(lambda db: rollups(db, "api", since=T0))
    assert sum(r.total for r in kept) == 351
    assert len(await store.read(lambda db: incidents(db))) == 1
    assert "api" in await store.read(latest_results)


async def test_retention_of_rollups_incidents_and_stale_endpoints(make_store: MakeStore, clock: FakeClock) -> None:
    no_pack = RetentionConfig(raw=HOUR, rollups=10 * DAY, pack_after="3650d")  # blocks: test_store_blocks.py
    store = make_store(retention=no_pack, retention_interval=1e9)
    await store.start()
    await store.prune()  # the pass due at start is over: none again (retention_interval)
    store.record(result("gone", Outcome.TIMEOUT, at=T0))  # rollup_outcomes keeps non-success outcomes only
    store.record(result("api", at=T0))
    await store.flush()
    clock.advance(10 * DAY + HOUR)
    store.record(result("api", at=clock.time()))
    await store.flush()
    deleted = await store.prune()
    assert deleted == {
        "results": 2, "result_blocks": 0, "rollups": 2, "rollup_outcomes": 1, "incidents": 2, "latest": 1,
        "rollups_downsampled": 0, "rollups_daily": 0, "rollup_outcomes_daily": 0,  # hourly = rollups: none
    }  # fmt: skip
    assert list(await store.read(latest_results)) == ["api"]
    assert [r.hour for r in await store.read(lambda db: rollups(db, "api", since=T0))] == [clock.time()]


async def test_retention_runs_on_its_own_every_interval(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(retention=RetentionConfig(raw=HOUR, pack_after="3650d"), retention_interval=2 * HOUR)
    await store.start()
    await store.prune()  # the next pass is due at T0 + 2h
    store.record(result(at=T0))
    store.record(result(at=T0 + 2 * HOUR))  # the newest raw row is always kept (ids are never reused)
    await store.flush()
    clock.advance(HOUR + 1)  # the first row has expired, but no pass is due
    await store.flush()
    await store.flush()  # a whole writer turn (and its retention tick) has passed
    assert await store.read(lambda db: db["results"].count) == 2
    clock.advance(HOUR)
    counts = [2]
    while counts[-1] > 1 and len(counts) < 500:
        await asyncio.sleep(0.01)
        counts.append(await store.read(lambda db: db["results"].count))
    assert counts[-1] == 1


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("version", [0, 3, len(MIGRATIONS)])
async def test_a_foreign_sqlite_database_is_refused_and_left_as_it_was(
    make_store: MakeStore, db_path: str, version: int
) -> None:
    """`server.database` pointed at another program's SQLite file (a typo, a shared volume): slowatch added its
    twenty tables to it, switched it to WAL and ran. Now it names the file and what to do, and writes nothing."""
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'ada')")
    conn.execute(f"PRAGMA user_version = {version}")  # some programs number their schema too
    conn.commit()
    conn.close()
    before = digest(db_path)
    with pytest.raises(StoreError, match=rf"database {db_path} is not a slowatch database \(it holds table users"):
        await make_store().start()
    assert digest(db_path) == before
    assert not os.path.exists(db_path + "-wal")


async def test_a_copy_without_its_schema_version_says_which_version_its_tables_are(
    make_store: MakeStore, db_path: str, tmp_path: Path
) -> None:
    """A backup restored through `sqlite3 FILE .dump`, which does not copy `user_version`: slowatch took the
    file for a new one, ran migration 1 on it and failed ('table results already exists'), saying nothing of
    the cause. Now it says so, names the version its tables are, and changes nothing."""
    store = make_store()
    await store.start()
    store.record(result("api", at=T0))
    await store.flush()
    await store.close()
    copy = str(tmp_path / "restored.db")
    src, dst = sqlite3.connect(db_path), sqlite3.connect(copy)
    dst.executescript(";".join(src.iterdump()))  # as `sqlite3 FILE .dump | sqlite3 COPY`: no user_version
    src.close()
    dst.close()
    assert user_version(copy) == 0
    before = digest(copy)
    with pytest.raises(StoreError) as info:
        await make_store(copy).start()
    assert str(info.value) == (
        f"database {copy} holds slowatch's tables but no schema version (user_version 0: a copy made with "
        f"`sqlite3 .dump` loses it); slowatch wrote nothing to it. Its tables are those of version "
        f"{len(MIGRATIONS)}: `sqlite3 {copy} 'PRAGMA user_version = {len(MIGRATIONS)}'`, then try again"
    )
    assert digest(copy) == before
    conn = sqlite3.connect(copy)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    conn.close()
    restored = make_store(copy)
    await restored.start()
    assert await restored.read(lambda db: db.execute("SELECT count(*) FROM results").fetchone()[0]) == 1


def test_each_migration_creates_the_table_introduced_names() -> None:
    """`INTRODUCED` is how a copy without its user_version is dated: one table per migration, made by it."""
    from slowatch.store.schema import INTRODUCED

    assert len(INTRODUCED) == len(MIGRATIONS)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for version, table in enumerate(INTRODUCED, 1):
            assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0] == 0
            migrate(Database(conn), MIGRATIONS[:version])
            assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0] == 1
    finally:
        conn.close()

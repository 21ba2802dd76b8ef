"""A full, locked or stuck database: recording never blocks, errors are loud, nothing is lost."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError
from slowatch.models import Outcome
from slowatch.store import Store, history, incidents
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, result
from tests.support.fulldisk import tmpfs


def page_count(store_path: str) -> int:
    conn = sqlite3.connect(store_path)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


async def test_database_full_is_loud_and_loses_nothing(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    store.record(result(at=T0))
    await store.flush()
    store.set_max_page_count(page_count(db_path) + 2)  # a "disk" with two free pages

    for i in range(500):
        store.record(result(f"ep{i}", Outcome.TIMEOUT, at=T0 + 1 + i, message="x" * 500))
    await eventually(lambda: store.write_errors >= 2)  # it failed and retried
    assert not store.healthy
    assert store.last_error is not None and "full" in store.last_error
    assert store.pending == 500
    store.record(result(at=T0 + 1000))  # still accepted while failing
    assert store.pending == 501
    assert store.dropped == 0

    store.set_max_page_count(None)  # space freed
    await asyncio.wait_for(store.flush(), 5.0)
    assert store.healthy
    assert store.pending == 0
    assert store.committed == 502
    assert await store.read(lambda db: db["results"].count) == 502
    assert await store.read(lambda db: db["rollups"].count) == 501  # one per endpoint-hour


async def test_a_locked_database_never_blocks_record(make_store: MakeStore, db_path: str) -> None:
    store = make_store(busy_timeout=0.1)
    await store.start()
    await store.flush()
    # (the start's retention pass, a transaction per table, may still run after the flush: had the lock below caught
    # one, retention would stay unhealthy until its own backoff retried it, after the final flush: seen under load)
    await eventually(lambda: not store._writer.retention.busy)
    locker = sqlite3.connect(db_path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        store.record(result(at=T0))
        await eventually(lambda: store.write_errors >= 1)
        assert not store.healthy
        assert "locked" in (store.last_error or "")

        started = time.perf_counter()
        for i in range(10_000):
            store.record(result(at=T0 + 1 + i))
        assert time.perf_counter() - started < 1.0  # ~1 µs each; the writer is stuck on the lock
        assert store.pending == 10_001
        # reads still work while the writer waits (WAL)
        assert await store.read(lambda db: db["results"].count) == 0
    finally:
        locker.execute("COMMIT")
        locker.close()
    await asyncio.wait_for(store.flush(), 5.0)
    assert store.healthy and store.pending == 0
    assert await store.read(lambda db: db["results"].count) == 10_001


async def test_record_is_constant_time_and_does_no_io(make_store: MakeStore) -> None:
    store = make_store(batch_interval=30.0)
    await store.start()
    await store.prune()
    r = result()
    per_call: list[float] = []
    for size in (1_000, 50_000):
        started = time.perf_counter()
        for _ in range(size):
            store.record(r)
        per_call.append((time.perf_counter() - started) / size)
    assert per_call[1] < max(per_call[0] * 5, 20e-6)  # a 50x longer queue costs no more per call
    assert store.pending == 51_000
    assert store.committed == 0  # record() itself wrote nothing: the writer is still asleep


async def test_overflow_drops_new_results_and_says_so(make_store: MakeStore, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(batch_interval=30.0, max_pending=10)
    await store.start()
    await store.prune()
    for i in range(15):
        store.record(result(at=T0 + i))
    assert store.pending == 10
    assert store.dropped == 5
    with caplog.at_level(logging.ERROR, logger="slowatch.store"):
        await store.flush()
    assert any("dropped 5 results" in rec.getMessage() for rec in caplog.records)
    rows = await store.read(lambda db: history(db, "api"))
    assert [r.ts for r in rows][-1] == T0 and len(rows) == 10  # the oldest were kept


async def test_close_is_bounded_when_the_database_stays_locked(
    make_store: MakeStore, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store(busy_timeout=0.2, close_timeout=0.5)
    await store.start()
    await store.flush()
    locker = sqlite3.connect(db_path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        for i in range(100):
            store.record(result(at=T0 + i))
        waiting = asyncio.ensure_future(store.flush())
        await asyncio.sleep(0)  # the flush marker is queued
        started = time.perf_counter()
        with caplog.at_level(logging.ERROR, logger="slowatch.store"):
            await store.close()
        assert time.perf_counter() - started < 3.0
        with pytest.raises(StoreError, match="unwritten"):
            await waiting
        assert any("closed with 100 unwritten items" in rec.getMessage() for rec in caplog.records)
    finally:
        locker.execute("ROLLBACK")
        locker.close()


async def test_close_interrupts_a_stuck_statement(make_store: MakeStore) -> None:
    store = make_store(close_timeout=0.2)
    await store.start()
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    store.submit(lambda db: db.conn.execute(forever).fetchone())
    store.record(result(at=T0))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    await store.close()
    assert time.perf_counter() - started < 3.0
    assert "interrupted" in (store.last_error or "")


async def test_unopenable_database_is_a_clear_store_error(make_store: MakeStore, tmp_path: object) -> None:
    store = make_store("/nonexistent-dir/x/history.db")
    with pytest.raises(StoreError, match=r"cannot open database /nonexistent-dir/x/history\.db"):
        await store.start()
    assert not store.healthy


async def test_a_file_that_is_not_a_database_is_refused(make_store: MakeStore, db_path: str) -> None:
    with open(db_path, "wb") as f:
        f.write(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a database"):
        await make_store().start()


async def test_a_store_that_cannot_write_reports_it(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    await store.flush()
    store.set_max_page_count(page_count(db_path))
    store.submit(lambda db: db.conn.execute("CREATE TABLE big (x)"))
    store.record(result(at=T0, message="y" * 20_000))
    await eventually(lambda: not store.healthy)
    assert store.rejected == 0  # "disk full" inside an op is the environment, not a bug in the op
    store.set_max_page_count(None)
    await store.flush()
    assert store.healthy
    assert await store.read(lambda db: db["big"].exists())


async def test_a_full_disk_is_logged_once_and_resumed_only_by_a_real_write(
    make_store: MakeStore, db_path: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A fold that cannot be written is retried every `rollup_interval`: each failure logged its own "store write
    failed" line, and a transaction that wrote nothing (a retention step with nothing to delete: it commits on a full
    disk) logged "store writes resumed" and made the store healthy between them, though nothing could be written."""
    store = make_store(rollup_interval=60)
    await store.start()
    for i in range(300):
        store.record(result(f"ep{i}", at=T0 + i, message="x" * 500))
    await store.flush(fold=False)  # committed, not yet folded
    store.set_max_page_count(page_count(db_path))  # no free page: the fold's rollups cannot be written
    with caplog.at_level(logging.INFO, logger="slowatch.store"):
        for tries in range(1, 5):
            clock.advance(120)  # the fold is due: it fails (retried after another interval)
            await eventually(lambda: store.write_errors >= tries)  # noqa: B023
            await asyncio.wait_for(store.prune(), 5.0)  # a retention pass commits between the fold's tries
        assert not store.healthy
        failing = [r.getMessage() for r in caplog.records if "store write" in r.getMessage()]
        assert len(failing) == 1 and "database or disk is full" in failing[0], failing
        store.set_max_page_count(None)
        await asyncio.wait_for(store.flush(), 5.0)
        assert store.healthy
    lines = [r.getMessage() for r in caplog.records if "store write" in r.getMessage()]
    assert len(lines) == 2 and lines[1].startswith("store writes resumed after "), lines


async def test_flush_after_close_and_prune_after_close_fail(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.flush()
    with pytest.raises(StoreError, match="closed"):
        await store.prune()


async def test_state_changes_of_a_failed_batch_are_logged_once_when_it_commits(
    make_store: MakeStore, db_path: str
) -> None:
    """The writer keeps a batch's up/down changes apart from its committed states until the commit: a
    failed attempt neither loses the incident nor logs it twice, and later batches see the state."""
    store = make_store()
    await store.start()
    store.record(result("api", at=T0))
    await store.flush()
    store.set_max_page_count(page_count(db_path) + 2)  # two free pages: the next batch fails until lifted
    store.record(result("api", Outcome.TIMEOUT, at=T0 + 60, message="down"))
    for i in range(300):
        store.record(result(f"ep{i}", at=T0 + 61 + i / 10, message="x" * 500))
    store.record(result("api", Outcome.TIMEOUT, at=T0 + 120, message="still down"))
    await eventually(lambda: store.write_errors >= 2)
    store.set_max_page_count(None)
    await asyncio.wait_for(store.flush(), 5.0)
    store.record(result("api", at=T0 + 180))
    await store.flush()
    logged = await store.read(lambda db: incidents(db, "api"))
    assert [(i.from_state, i.to_state, i.ts) for i in reversed(logged)] == [
        ("unknown", "up", T0), ("up", "down", T0 + 60), ("down", "up", T0 + 180)
    ]  # fmt: skip


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed header"])
async def test_a_damaged_database_is_refused_with_what_to_do_and_left_as_it_was(
    make_store: MakeStore, db_path: str, damage: str
) -> None:
    """It said `cannot open database X: file is not a database` (or `database disk image is malformed`) and no
    more: now it says the file is damaged, that slowatch changed nothing in it, and what to do."""
    store = make_store()
    await store.start()
    for i in range(200):
        store.record(result(f"ep{i % 10}", at=T0 + i, message="x" * 200))
    await store.flush()
    await store.close()
    with open(db_path, "r+b") as f:
        if damage == "garbage":
            f.write(os.urandom(8192))
        elif damage == "truncated":
            f.truncate(os.path.getsize(db_path) // 3)
        else:
            f.write(b"\0" * 100)
    with open(db_path, "rb") as f:
        before = f.read()
    with pytest.raises(StoreError) as raised:
        await make_store().start()
    message = str(raised.value)
    assert f"database {db_path} is damaged or not an SQLite database" in message
    assert "slowatch changed nothing in it" in message and "restore it from a backup" in message
    with open(db_path, "rb") as f:
        assert f.read() == before


async def test_a_start_on_a_full_disk_says_the_disk_may_be_full(tmp_path: Path, clock: FakeClock) -> None:
    """After a clean stop SQLite must create `-shm` at the next open; on a full disk that fails and the start
    said only `cannot open database X: disk I/O error`. Now it says what to look at."""
    with tmpfs(tmp_path / "disk") as disk:
        path = str(disk.root / "history.db")
        store = Store(path, clock=clock, retention=RetentionConfig(), batch_interval=0.02, close_timeout=2.0)
        await store.start()
        store.record(result(at=T0))
        await store.flush()
        assert await store.read(lambda db: db.execute("SELECT count(*) FROM results").fetchone()[0]) == 1
        await store.close()
        disk.fill()
        again = Store(path, clock=clock, retention=RetentionConfig(), batch_interval=0.02, close_timeout=2.0)
        with pytest.raises(StoreError) as raised:
            await again.start()
        message = str(raised.value)
        assert f"database {path}" in message and "disk I/O error" in message
        assert "the file system holding it may be full" in message and "ulimit -f" in message

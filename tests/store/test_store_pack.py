"""The pack pass (pack.py, pack_marker.py): one sorted snapshot per pass, turns with writes in between, the
marker that makes packed rows vanish from `results` for readers, retention during a pass, kills mid-pass,
and migration v11 on a v10 database with data."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.models import ProbeResult
from slowatch.store import MIGRATIONS
from slowatch.store.fold import fold
from slowatch.store.incident_log import incidents_recent, move_recent
from slowatch.store.pack import Pack, oldest_due
from slowatch.store.raw import raw_results
from slowatch.store.results import write_results
from slowatch.store.retention import delete_results_batch
from slowatch.store.schema import migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, mixed, result
from tests.store.helpers import query_value as scalar

T = TypeVar("T")
HOUR = 3600.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(db_path: str) -> Iterator[Database]:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    database = Database(conn, execute_plugins=False)
    migrate(database)
    yield database
    conn.close()


def transact(db: Database) -> Callable[[Callable[[Database], T]], T | None]:
    def run(fn: Callable[[Database], T]) -> T | None:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            value = fn(db)
        except sqlite3.Error:
            db.conn.execute("ROLLBACK")
            return None
        db.conn.execute("COMMIT")
        return value

    return run


def record(db: Database, results: Sequence[ProbeResult]) -> None:
    transact(db)(lambda d: (write_results(d, results, {}), fold(d)))


def seen(path: str) -> list[tuple[str, str]]:
    """(endpoint, message) of every raw result a reader sees, in one read transaction of its own."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        return sorted((row[2], row[7]) for row in raw_results(Database(conn)))
    finally:
        conn.close()


def tick(pack: Pack, db: Database) -> None:
    pack.tick(transact(db), lambda cutoff: oldest_due(db, cutoff))


def test_a_pass_spans_turns_with_writes_in_between_and_readers_see_each_result_once(db: Database, db_path: str) -> None:
    first = mixed(150, seed=2)  # ~1.5 h from T0, 7 endpoints, ties and late rows among them
    record(db, first)
    clock = FakeClock(T0 + 3 * HOUR)  # every block of `first` is due
    pack = Pack(clock, pack_after=900, interval=60, batch=7, path=db_path)
    tick(pack, db)  # the first tick deletes what an earlier run's marker covered: none here
    assert not pack.busy
    tick(pack, db)  # starts the pass: its top and cutoff in the marker, its snapshot cursor open
    assert pack.busy and scalar(db_path, "SELECT count(*) FROM pack_progress") == 1
    later: list[ProbeResult] = []
    turns = 0
    while pack.busy:
        tick(pack, db)
        turns += 1
        more = [
            result(f"ep{turns % 9}", at=T0 + 4 * HOUR + turns, message=f"new{turns}"),  # not due
            result("ep1", at=T0 + 60 + turns, message=f"late{turns}"),
        ]  # due, but newer than the pass's top
        record(db, more)
        later += more
        assert seen(db_path) == sorted((r.endpoint, r.message) for r in first + later)
    assert turns > 150 // 7  # one snapshot, many turns
    assert pack.packed == len(first) - 1  # all but the newest row (ids are never reused)
    assert scalar(db_path, "SELECT count(*) FROM pack_progress") == 0
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") == pack.packed
    assert scalar(db_path, "SELECT count(*) FROM results") == len(later) + 1  # the covered rows are deleted
    clock.advance(600)  # the cutoff moves a block on: the late rows go with the next pass
    while True:
        tick(pack, db)
        if not pack.busy:
            break
    late = sum(r.message.startswith("late") for r in later)
    assert pack.packed == len(first) - 1 + late  # the rest of `first` and the late rows but the newest one
    assert seen(db_path) == sorted((r.endpoint, r.message) for r in first + later)
    pack.close()


def test_retention_leaves_a_pass_alone_and_resurrects_nothing(db: Database, db_path: str) -> None:
    rows = [result(f"ep{i % 5}", at=T0 + i * 20, message=f"m{i}") for i in range(540)]  # 3 hours
    record(db, rows)
    clock = FakeClock(T0 + HOUR + 900)  # the pass packs the first hour
    pack = Pack(clock, pack_after=900, interval=60, batch=25, path=db_path)
    tick(pack, db)
    tick(pack, db)
    tick(pack, db)  # the pass has packed its first turn
    assert pack.busy and 0 < pack.packed < 180
    cutoff = T0 + 2 * HOUR  # retention expires the first two hours, in the middle of the pass
    deleted = transact(db)(lambda d: delete_results_batch(d, cutoff, 10_000))
    assert deleted == 180  # the second hour; the pass's rows are its own until it ends
    keep = [(r.endpoint, r.message) for r in rows if r.started_at < T0 + HOUR or r.started_at >= cutoff]
    assert seen(db_path) == sorted(keep)
    while pack.busy:
        tick(pack, db)
        assert seen(db_path) == sorted(keep)
    assert pack.packed == 180
    assert transact(db)(lambda d: delete_results_batch(d, cutoff, 10_000)) == 0  # nothing before it is left
    assert scalar(db_path, f"SELECT count(*) FROM results WHERE ts < {cutoff}") == 0
    pack.close()


def test_a_failed_turn_ends_the_pass_with_its_rows_unpacked(db: Database, db_path: str) -> None:
    record(db, mixed(120, seed=4))
    pack = Pack(FakeClock(T0 + 3 * HOUR), pack_after=900, interval=60, batch=7, path=db_path)
    tick(pack, db)
    tick(pack, db)
    tick(pack, db)
    tick(pack, db)
    done = pack.packed
    assert done > 0
    db.conn.execute("CREATE TRIGGER fail_pack BEFORE INSERT ON result_blocks "
                    "BEGIN SELECT RAISE(FAIL, 'injected failure'); END")  # fmt: skip
    tick(pack, db)  # this turn's transaction fails: the pass ends, the rows of its turn stay in results
    assert pack.packed == done
    while pack.busy:  # deletes what the marker covers
        tick(pack, db)
    assert scalar(db_path, "SELECT count(*) FROM results") == 120 - done
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") == done
    assert seen(db_path) == sorted((r.endpoint, r.message) for r in mixed(120, seed=4))
    db.conn.execute("DROP TRIGGER fail_pack")
    pack.close()


KILLED = """
import os, signal, sqlite3, sys
from sqlite_utils import Database
from slowatch.clock import FakeClock
from slowatch.store.fold import fold
from slowatch.store.pack import Pack, oldest_due
from slowatch.store.results import write_results
from slowatch.store.schema import migrate
from tests.store.helpers import T0, mixed

conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
db = Database(conn)
migrate(db)
conn.execute("BEGIN IMMEDIATE")
write_results(db, mixed(200, seed=8), {})
fold(db)
conn.execute("COMMIT")

def transact(fn):
    conn.execute("BEGIN IMMEDIATE")
    value = fn(db)
    conn.execute("COMMIT")
    return value

pack = Pack(FakeClock(T0 + 10 * 3600), pack_after=900, interval=60, batch=9, path=sys.argv[1])
while pack.packed < int(sys.argv[2]):
    pack.tick(transact, lambda cutoff: oldest_due(db, cutoff))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("packed", [9, 90, 199])
async def test_a_kill_mid_pass_loses_and_doubles_nothing(
    make_store: MakeStore, clock: FakeClock, db_path: str, packed: int
) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED, db_path, str(packed)], cwd=REPO, timeout=60)
    assert proc.returncode == -9
    want = sorted((r.endpoint, r.message) for r in mixed(200, seed=8))
    assert scalar(db_path, "SELECT count(*) FROM results") == 200  # covered, not deleted yet
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") >= packed
    assert await asyncio.to_thread(seen, db_path) == want  # readers leave the covered rows out
    clock.set(T0 + 10 * HOUR)
    store = make_store(rollup_interval=60.0)
    await store.start()  # deletes what the marker covers, then a new pass packs the rest
    await eventually(lambda: scalar(db_path, "SELECT count(*) FROM results") == 1)
    await eventually(lambda: scalar(db_path, "SELECT count(*) FROM pack_progress") == 0)
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") == 199
    assert await asyncio.to_thread(seen, db_path) == want
    assert sorted((r[2], r[7]) for r in await store.read(lambda db: raw_results(db))) == want


async def test_migration_v11_on_a_v10_database_with_data(make_store: MakeStore, clock: FakeClock, db_path: str) -> None:
    recorded = mixed(100, seed=5)

    def v10_database() -> None:  # written by the v10 schema, with its (endpoint, ts) index
        conn = sqlite3.connect(db_path, isolation_level=None)
        migrate(Database(conn), MIGRATIONS[:10])
        incidents_recent(Database(conn))  # (today's writer appends incidents there: v10's wrote `incidents`)
        record(Database(conn), recorded)
        assert move_recent(Database(conn)) > 0
        conn.execute("DROP TABLE incidents_recent")
        conn.close()

    await asyncio.to_thread(v10_database)
    assert scalar(db_path, "SELECT count(*) FROM sqlite_schema WHERE name = 'results_endpoint_ts'") == 1
    clock.set(T0 + 10 * HOUR)
    store = make_store(rollup_interval=60.0)
    await store.start()
    assert scalar(db_path, "PRAGMA user_version") == len(MIGRATIONS) >= 11
    assert scalar(db_path, "SELECT count(*) FROM sqlite_schema WHERE name = 'results_endpoint_ts'") == 0
    await eventually(lambda: scalar(db_path, "SELECT count(*) FROM results") == 1)  # the rows are packed as before
    want = sorted((r.endpoint, r.message) for r in recorded)
    assert sorted((r[2], r[7]) for r in await store.read(lambda db: raw_results(db))) == want


def test_the_fold_keeps_the_result_written_last_whatever_its_ts(db: Database, db_path: str) -> None:
    record(db, [result("a", at=T0 + 5, message="first"), result("a", at=T0 + 5, message="second"),
                result("a", at=T0 + 1, message="older")])  # fmt: skip
    assert scalar(db_path, "SELECT message FROM latest WHERE endpoint = 'a'") == "older"
    record(db, [result("a", at=T0 + 5, message="third"), result("b", at=T0, message="b")])  # a later fold
    assert scalar(db_path, "SELECT message FROM latest WHERE endpoint = 'a'") == "third"
    record(db, [result("a", at=T0 + 4, message="earlier")])  # (the wall clock stepped back)
    assert scalar(db_path, "SELECT message FROM latest WHERE endpoint = 'a'") == "earlier"

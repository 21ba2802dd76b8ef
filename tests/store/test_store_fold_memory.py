"""Folds from the writer's memory (store/fold_memory.py) equal the SQL fold of the same raw rows (random rows on
hour and bucket edges, through the real writer), also after failed transactions, unseen rows and restarts."""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.store.fold import FoldSchedule, fold
from slowatch.store.fold_memory import MAX_HOURS, SLOTS_TTL, FoldMemory
from slowatch.store.recent_ids import RecentIds
from slowatch.store.results import Written, write_results
from slowatch.store.schema import LATENCY_BUCKETS, RESULT_COLUMNS, migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, mixed, result, scalar
from tests.store.recompute import Tables, actual, assert_exact

HOUR = 3600
REPO = Path(__file__).resolve().parents[2]
NO_PACK = RetentionConfig(pack_after="3650d")  # the raw rows stay in `results` (recompute.py reads them there)
OUTCOMES = [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.HTTP_STATUS]


def edge_duration(rng: random.Random) -> float:
    """Bucket bounds and their neighbours, x.5 µs (SQLite rounds half away from zero), anything."""
    bound = rng.choice(LATENCY_BUCKETS)
    return rng.choice([
        bound, math.nextafter(bound, 0.0), math.nextafter(bound, math.inf), (rng.randrange(10**7) + 0.5) / 1e6,
        0.49999999999999994e-6, 0.0, rng.uniform(0.0, 12.0), rng.uniform(0.0, 0.01),
    ])  # fmt: skip


def tricky(
    rng: random.Random, n: int, start: float, endpoints: int = 9, late: tuple[int, ...] = (0, 0, 0, 0, 1, 5)
) -> list[ProbeResult]:
    """Hour edges, late rows of older hours, equal ts per endpoint, non-final attempts, edge durations."""
    out: list[ProbeResult] = []
    for i in range(n):
        ep = f"ep{rng.randrange(endpoints)}" if rng.random() < 0.9 else "é-ü"
        hour = start // HOUR * HOUR - HOUR * rng.choice(late)
        at = hour + rng.choice([0.0, 0.5, HOUR - 0.001, HOUR, HOUR + 0.25, rng.uniform(0, 2 * HOUR)])
        if out and rng.random() < 0.1:
            at, ep = out[-1].started_at, out[-1].endpoint  # the same instant, the same endpoint
        final = rng.random() < 0.85
        out.append(result(ep, rng.choice(OUTCOMES), at=at, duration=edge_duration(rng), final=final,
                          attempt=1 if final else 2, message=f"m{i}"))  # fmt: skip
    return out


def sql_fold_of(path: str, tmp: Path) -> Tables:
    """The derived tables of a copy of `path`'s raw rows folded by the SQL fold alone."""
    copy = str(tmp / f"sql-{random.random()}.db")
    conn = sqlite3.connect(copy, isolation_level=None)
    migrate(Database(conn))
    conn.execute("ATTACH ? AS src", (path,))
    cols = ", ".join(("id", *RESULT_COLUMNS))
    conn.execute(f"INSERT INTO results ({cols}) SELECT {cols} FROM src.results")
    conn.execute("DETACH src")
    conn.execute("BEGIN")
    fold(Database(conn))
    conn.execute("COMMIT")
    conn.close()
    return actual(copy)


def schedule(store_folds: object) -> FoldSchedule:
    assert isinstance(store_folds, FoldSchedule) and isinstance(store_folds.memory, FoldMemory)
    return store_folds


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_memory_folds_equal_the_sql_fold(
    make_store: MakeStore, clock: FakeClock, db_path: str, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    store = make_store(rollup_interval=60.0, retention=NO_PACK)
    await store.start()
    folds = schedule(store._writer.folds)
    for _ in range(30):
        rs = tricky(rng, rng.randrange(1, 60), clock.time())
        for r in rs:
            store.record(r)
        way = rng.choice(["interval", "flush", "flush-after-commit", "none"])
        if way != "flush":
            await eventually(lambda: store.pending == 0)
        if way == "interval":  # the idle writer folds in a transaction of its own
            top = scalar(db_path, "SELECT max(id) FROM results")
            clock.advance(60)
            await eventually(lambda top=top: store.rollup_watermark == top)  # type: ignore[misc]
        elif way.startswith("flush"):  # folded in the batch's transaction (with its rows, if any)
            await store.flush()
            assert_exact(db_path)
        clock.advance(rng.choice([1, 30, HOUR / 3]))
    await store.flush()
    assert actual(db_path) == await asyncio.to_thread(sql_fold_of, db_path, tmp_path)
    assert_exact(db_path)
    assert folds.memory is not None and folds.memory.folds >= 10 and folds.memory.armed
    assert folds.sql_folds == 1  # the catch-up at start


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), plan=st.lists(st.sampled_from(["write", "fold", "write+fold", "failed", "renumber",
                                                                  "slots"]), min_size=1, max_size=12),
       numbered=st.booleans())  # fmt: skip
def test_each_fold_equals_the_sql_fold_of_its_range(tmp_path: Path, seed: int, plan: list[str], numbered: bool) -> None:
    """The memory's tables and the SQL's, fold by fold, on the same rows (the same ids); the memory finding its
    slots by name, or by the writer's endpoint numbers (recent_ids.py), also after they start over ("renumber")
    and after the memory's own slots are rebuilt ("slots": an arm SLOTS_TTL later)."""
    rng = random.Random(seed)
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = [str(where / "memory.db"), str(where / "sql.db")]
    mem, ref = (Database(sqlite3.connect(path, isolation_level=None)) for path in paths)
    for db in (mem, ref):
        migrate(db)
    clock = FakeClock(T0)
    folds = FoldSchedule(clock, 1e9, memory=FoldMemory())
    recent = RecentIds()
    recent.start(mem.conn)
    mem.conn.execute("BEGIN")
    folds.folded(folds.fold(mem)[1])  # at start: SQL, then armed
    mem.conn.execute("COMMIT")
    for step in plan:
        if step == "renumber":  # the list's numbers start over (as after a gap, or a prune that empties it)
            generation = recent.generation
            recent.start(mem.conn)
            assert recent.generation == generation + 1
            continue
        if step == "slots":
            clock.advance(SLOTS_TTL)
            continue
        rs = tricky(rng, rng.randrange(1, 40), T0 + rng.uniform(0, 2 * HOUR), endpoints=4, late=(0, 1))  # 5 hours
        written: list[Written] = []
        mem.conn.execute("BEGIN")
        if step != "fold":
            write_results(mem, rs, {}, written)
        marks = folds.fold(mem) if step != "write" else None
        if step == "failed":  # rolled back: the memory must not have changed
            mem.conn.execute("ROLLBACK")
            continue
        mem.conn.execute("COMMIT")
        folds.committed(written, recent.add(written) if numbered else None)
        if marks is not None:
            folds.folded(marks[1])
        ref.conn.execute("BEGIN")
        if step != "fold":
            write_results(ref, rs, {})
        if marks is not None:
            fold(ref)
        ref.conn.execute("COMMIT")
        if marks is not None:
            assert actual(paths[0]) == actual(paths[1])
    assert folds.sql_folds == 1 and folds.memory is not None and folds.memory.armed
    for db in (mem, ref):
        db.conn.close()


async def test_a_failed_fold_is_counted_once_when_it_succeeds(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=1e9)
    await store.start()
    folds = schedule(store._writer.folds)
    rng = random.Random(11)
    for r in tricky(rng, 300, clock.time(), endpoints=300):  # many new rollup rows: the fold needs pages
        store.record(r)
    await eventually(lambda: store.pending == 0)
    store.set_max_page_count(scalar(db_path, "PRAGMA page_count"))  # a full "disk": the fold's upserts fail
    flushed = asyncio.ensure_future(store.flush())
    await eventually(lambda: store.write_errors >= 3)  # the fold failed, was rolled back and retried
    assert folds.memory is not None and folds.memory.folds >= 3 and store.rollup_watermark == 0
    for r in tricky(rng, 20, clock.time(), endpoints=300):  # queued behind it
        store.record(r)
    store.set_max_page_count(None)
    await flushed
    await store.flush()
    assert_exact(db_path)
    assert folds.sql_folds == 1
    for r in tricky(rng, 50, clock.time()):
        store.record(r)
    await eventually(lambda: store.pending == 0)
    await store.flush()
    assert_exact(db_path)
    assert folds.sql_folds == 1


async def test_rows_the_memory_did_not_see_fall_back_to_sql_and_stay_exact(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=1e9)
    await store.start()
    folds = schedule(store._writer.folds)
    rng = random.Random(5)
    raw = "INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, 'op', 'http', 'success', 0.25)"

    async def committed(n: int) -> None:
        for r in tricky(rng, n, clock.time()):
            store.record(r)
        await eventually(lambda: store.pending == 0)

    await committed(40)
    store.submit(lambda db: db.conn.execute(raw, (T0 + 5,)))  # a submitted op inserts results
    await committed(40)  # the next batch's ids start after the op's row: a gap
    await store.flush()
    assert folds.sql_folds == 2
    assert_exact(db_path)

    await committed(40)  # armed again: from memory
    store.submit(lambda db: db.conn.execute(raw, (T0 + 6,)))  # after the memory's rows, before the fold
    await store.flush()
    assert folds.sql_folds == 2  # memory up to its top, that row in SQL
    assert_exact(db_path)

    await committed(20)
    other = sqlite3.connect(db_path)  # another process writes between two batches
    with other:
        other.execute(raw, (T0 + 7,))
    other.close()
    await committed(20)
    await store.flush()
    assert folds.sql_folds == 3
    assert_exact(db_path)
    assert folds.memory is not None and folds.memory.folds == 1 and folds.memory.armed


async def test_unusual_values_fall_back_to_sql(
    make_store: MakeStore, clock: FakeClock, db_path: str, tmp_path: Path
) -> None:
    store = make_store(rollup_interval=1e9)
    await store.start()
    folds = schedule(store._writer.folds)
    for n, r in enumerate([result(at=-1.5), result(duration=-0.001), result(at=math.inf), result(duration=2e6)]):
        store.record(result("before", at=T0 + n))
        store.record(r)
        await eventually(lambda: store.pending == 0)
        await store.flush()
        assert folds.sql_folds == 2 + n
        assert actual(db_path) == await asyncio.to_thread(sql_fold_of, db_path, tmp_path)  # (recompute.py: floors)
    for hour in range(MAX_HOURS + 1):  # rows of too many hours between two folds
        store.record(result(at=T0 - hour * HOUR))
    await eventually(lambda: store.pending == 0)
    await store.flush()
    assert folds.sql_folds == 6
    for hour in range(MAX_HOURS):
        store.record(result(at=T0 - hour * HOUR))
    store.record(result(at=T0 + 100, final=False, duration=-5.0))  # not final: not counted, fine in memory
    store.record(result(at=T0 + 100))
    await eventually(lambda: store.pending == 0)
    await store.flush()
    assert folds.sql_folds == 6
    assert actual(db_path) == await asyncio.to_thread(sql_fold_of, db_path, tmp_path)


KILLED_WRITER = """
import asyncio, os, signal, sys
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.store.helpers import mixed

async def main(path):
    store = Store(path, clock=FakeClock(), retention=RetentionConfig(), batch_interval=0.01, rollup_interval=1e9)
    await store.start()
    results = mixed(900, seed=8)
    for part in (results[:300], results[300:600], results[600:]):
        for r in part:
            store.record(r)
        while store.pending:  # committed: taken in by the memory
            await asyncio.sleep(0.005)
        if part[0] is not results[600]:
            await store.flush()  # folded from memory
    assert store._writer.folds.memory.folds == 2
    os.kill(os.getpid(), signal.SIGKILL)  # 300 rows committed, in memory, not folded

asyncio.run(main(sys.argv[1]))
"""


async def test_after_a_kill_the_catch_up_is_exact_and_memory_folds_go_on(make_store: MakeStore, db_path: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_WRITER, db_path, cwd=REPO)
    assert await asyncio.wait_for(proc.wait(), 60) == -9
    assert (
        scalar(db_path, "SELECT max(id) FROM results") == 900
        and scalar(db_path, "SELECT results_id FROM rollup_watermark") == 600
    )
    store = make_store(rollup_interval=1e9)
    await store.start()  # the catch-up: SQL
    assert_exact(db_path)
    folds = schedule(store._writer.folds)
    for r in mixed(200, seed=9):
        store.record(r)
    await eventually(lambda: store.pending == 0)
    await store.flush()
    assert_exact(db_path)
    assert folds.sql_folds == 1 and folds.memory is not None and folds.memory.folds == 1


def test_the_name_order_of_slots_is_kept_by_insertion_and_rebuilt_in_chunks() -> None:
    """The fold upserts in name order. One sort of every name held the GIL ~45 ms at 100,000 endpoints (the
    event loop waited that long): a few new names are inserted in place, many are sorted in chunks and merged."""
    import random

    from slowatch.store.fold_memory import GIL_CHUNK, name_order

    rng = random.Random(7)
    names = [f"ep-{rng.randrange(10**9):09d}" for _ in range(3 * GIL_CHUNK + 5)]
    order = name_order(names, [])  # all new: chunks, merged
    assert order == sorted(range(len(names)), key=names.__getitem__)
    names += ["a-first", "zz-last", "ep-5", names[3]]  # a few more, one equal to an existing name
    grown = name_order(names, order)
    assert [names[i] for i in grown] == sorted(names)
    assert sorted(grown) == list(range(len(names))) and order is not grown

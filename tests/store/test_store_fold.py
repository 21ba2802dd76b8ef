"""Rollups, per-outcome counts and `latest` are folded from raw results up to a watermark: exact after
a kill, never counted twice, folded on the Clock's interval, on flush and at close."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome
from slowatch.store import MIGRATIONS, latest_results, rollups
from slowatch.store.schema import migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, mixed, query_value, result, scalar
from tests.store.recompute import actual, assert_exact, expected

HOUR = 3600
REPO = Path(__file__).resolve().parents[2]

KILLED_WRITER = """
import asyncio, os, signal, sys
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.store.helpers import mixed

async def main(path, folded, unfolded):
    store = Store(path, clock=FakeClock(), retention=RetentionConfig(), batch_interval=0.01, rollup_interval=1e9)
    await store.start()
    results = mixed(folded + unfolded, seed=3)
    for r in results[:folded]:
        store.record(r)
    await store.flush()  # committed and folded
    for r in results[folded:]:
        store.record(r)
    while store.committed < folded + unfolded:  # committed, not folded
        await asyncio.sleep(0.005)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def watermark(path: str) -> int:
    return scalar(path, "SELECT results_id FROM rollup_watermark")


async def test_after_a_kill_start_up_makes_rollups_and_latest_exact(make_store: MakeStore, db_path: str) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, db_path, "300", "500"], cwd=REPO, timeout=60)
    assert proc.returncode == -9
    assert scalar(db_path, "SELECT count(*) FROM results") == 800
    assert 0 < watermark(db_path) < scalar(db_path, "SELECT max(id) FROM results")
    assert actual(db_path) != expected(db_path)  # the kill left the derived tables behind

    store = make_store()
    await store.start()
    assert_exact(db_path)
    assert watermark(db_path) == store.rollup_watermark == scalar(db_path, "SELECT max(id) FROM results")
    latest = await store.read(latest_results)
    assert {ep: r.message for ep, r in latest.items()} == {
        ep[0]: row[6] for ep, row in expected(db_path)["latest"].items()
    }
    await store.close()

    again = make_store()  # a second start folds nothing more
    await again.start()
    assert_exact(db_path)


async def test_no_double_counting_across_restarts(make_store: MakeStore, db_path: str) -> None:
    results = mixed(600, seed=5)
    for part in range(3):
        store = make_store()
        await store.start()
        for r in results[part * 200 : part * 200 + 100]:
            store.record(r)
        await store.flush()
        assert_exact(db_path)
        for r in results[part * 200 + 100 : (part + 1) * 200]:
            store.record(r)
        await store.close()  # folds what is left
        assert_exact(db_path)
    assert scalar(db_path, "SELECT sum(total) FROM rollups") == sum(r.final for r in results)


async def test_crash_states_fold_exactly_at_start(make_store: MakeStore, db_path: str) -> None:
    """Raw rows committed but never folded (what any kill leaves) are folded at start, and incidents
    go on from the newest of them."""
    store = make_store()
    await store.start()
    store.record(result("api", at=T0))
    await store.close()
    conn = sqlite3.connect(db_path)
    with conn:  # as a killed writer leaves it: raw rows and their incident, no fold
        raw = "INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, 'api', 'http', 'timeout', 5)"
        conn.execute(raw, (T0 + 60,))
        conn.execute("INSERT INTO incidents_recent (endpoint, ts, from_state, to_state, outcome) "
                     "VALUES ('api', ?, 'up', 'down', 'timeout')", (T0 + 60,))  # fmt: skip
    conn.close()
    again = make_store()
    await again.start()
    assert_exact(db_path)
    again.record(result("api", Outcome.TIMEOUT, at=T0 + 120))  # still down: no new incident
    await again.flush()
    assert scalar(db_path, "SELECT count(*) FROM incidents") == 2
    assert_exact(db_path)


async def test_a_failed_catch_up_is_retried_and_the_states_see_unfolded_rows(
    make_store: MakeStore, db_path: str
) -> None:
    store = make_store()
    await store.start()
    store.record(result("api", at=T0))
    await store.close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, 'api', 'http', 'timeout', 5)",
                 (T0 + 60,))  # fmt: skip
    conn.execute("INSERT INTO incidents_recent (endpoint, ts, from_state, to_state, outcome) "
                 "VALUES ('api', ?, 'up', 'down', 'timeout')", (T0 + 60,))  # fmt: skip
    conn.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the start-up fold fails
    again = make_store(busy_timeout=0.1, rollup_interval=1e9)
    await again.start()
    assert not again.healthy and again.write_errors == 1
    conn.execute("ROLLBACK")
    conn.close()
    again.record(result("api", Outcome.TIMEOUT, at=T0 + 120))  # still down (unfolded row): no new incident
    await again.flush()
    assert again.healthy
    assert scalar(db_path, "SELECT count(*) FROM incidents") == 2
    assert_exact(db_path)


async def test_after_the_wall_clock_steps_back_latest_and_the_states_follow_write_order(
    make_store: MakeStore, db_path: str
) -> None:
    """A result written after another is the newer one whatever its ts: after the wall clock stepped back an
    hour, `latest` (the status page after a restart) and the up/down state a restart reads follow it, from the
    fold memory and from the SQL fold at start alike."""

    def latest() -> str:
        return str(query_value(db_path, "SELECT outcome FROM latest WHERE endpoint = 'api'"))

    store = make_store()
    await store.start()
    store.record(result("api", at=T0))
    await store.flush()
    store.record(result("api", Outcome.TIMEOUT, at=T0 - HOUR))  # the clock stepped back an hour; api went down
    await store.flush()
    assert latest() == "timeout"
    await store.close()
    conn = sqlite3.connect(db_path)
    with conn:  # as a killed writer leaves it: a raw row (an hour further back), not folded, and its incident
        conn.execute("INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, 'api', 'http', "
                     "'success', 0.1)", (T0 - 2 * HOUR,))  # fmt: skip
        conn.execute("INSERT INTO incidents_recent (endpoint, ts, from_state, to_state, outcome) "
                     "VALUES ('api', ?, 'down', 'up', 'success')", (T0 - 2 * HOUR,))  # fmt: skip
    conn.close()
    again = make_store()
    await again.start()
    assert latest() == "success"
    again.record(result("api", at=T0 - 2 * HOUR + 60))  # still up: no new incident
    await again.flush()
    assert scalar(db_path, "SELECT count(*) FROM incidents") == 3


async def test_rollups_fold_on_the_clocks_interval(make_store: MakeStore, clock: FakeClock, db_path: str) -> None:
    store = make_store(rollup_interval=60.0)
    await store.start()
    store.record(result(at=T0 + 1))
    store.record(result("db", Outcome.TIMEOUT, at=T0 + 2))
    await eventually(lambda: store.committed == 2)
    clock.advance(59)
    store.put_state("turn", 1)  # a later batch commits: no fold is due yet
    await eventually(lambda: scalar(db_path, "SELECT count(*) FROM state WHERE key = 'turn'") == 1)
    assert await store.read(lambda db: rollups(db, "api", since=T0)) == []
    assert await store.read(latest_results) == {}
    assert store.rollup_watermark == 0
    clock.advance(1)
    await eventually(lambda: store.rollup_watermark == 2)  # folded by the idle writer, without a flush
    assert [r.total for r in await store.read(lambda db: rollups(db, "api", since=T0))] == [1]
    assert set(await store.read(latest_results)) == {"api", "db"}
    assert_exact(db_path)


async def test_flush_folds_everything_recorded_before_it(make_store: MakeStore, db_path: str) -> None:
    store = make_store(rollup_interval=1e9)
    await store.start()
    store.record(result(at=T0, duration=0.004))
    store.record(result(at=T0 + 5, duration=0.3))
    await store.flush()
    (hour,) = await store.read(lambda db: rollups(db, "api", since=T0))
    assert (hour.total, hour.good, hour.buckets[0]) == (2, 2, 1)
    assert (await store.read(latest_results))["api"].ts == T0 + 5
    assert store.rollup_watermark == 2


async def test_a_flush_without_fold_only_waits_for_the_commit(make_store: MakeStore, db_path: str) -> None:
    """The alert outbox and the SLO state wait for their writes to be committed; each such wait used to
    fold too (~0.5 s of the writer's CPU at 100,000 endpoints, for every alert delivered)."""
    store = make_store(rollup_interval=1e9)
    await store.start()
    store.record(result(at=T0, duration=0.004))
    store.put_state("outbox", 1)
    await store.flush(fold=False)
    assert scalar(db_path, "SELECT count(*) FROM results") == 1  # committed, visible to another connection
    assert scalar(db_path, "SELECT count(*) FROM state WHERE key = 'outbox'") == 1
    assert store.rollup_watermark == 0 and await store.read(latest_results) == {}  # not folded
    await store.flush()
    assert store.rollup_watermark == 1 and set(await store.read(latest_results)) == {"api"}


async def test_the_watermark_only_grows(make_store: MakeStore, clock: FakeClock, db_path: str) -> None:
    store = make_store(retention=RetentionConfig(raw=HOUR), rollup_interval=30.0)
    await store.start()
    seen = [store.rollup_watermark]
    for step, r in enumerate(mixed(120, seed=9, start=clock.time())):
        store.record(r)
        if step % 7 == 0:
            await store.flush()
        if step % 11 == 0:
            clock.advance(31)
            await store.prune()  # deletes raw rows older than an hour, never the newest
        seen.append(store.rollup_watermark)
        assert watermark(db_path) == seen[-1] or step % 7
    await store.flush()
    seen.append(store.rollup_watermark)
    assert seen == sorted(seen)
    assert seen[-1] == scalar(db_path, "SELECT max(id) FROM results") > 120 - 10
    await store.close()
    assert watermark(db_path) == seen[-1]


async def test_retention_deletes_only_folded_rows_and_keeps_the_newest(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    no_pack = RetentionConfig(raw=HOUR, pack_after="3650d")  # this is about `results` alone
    store = make_store(retention=no_pack, rollup_interval=1e9, retention_interval=1e9)
    await store.start()
    await store.prune()  # the pass due at start is over: none again (retention_interval)
    store.record(result(at=T0))
    store.record(result(at=T0 + 1))
    await store.flush()
    store.record(result(at=T0 + 2))  # committed, not folded
    await eventually(lambda: store.committed == 3)
    clock.advance(2 * HOUR)
    assert (await store.prune())["results"] == 2  # ids 1 and 2; id 3 waits for its fold
    await store.flush()
    assert (await store.prune())["results"] == 0  # id 3 is folded but the newest: ids are never reused
    store.record(result(at=clock.time()))
    await store.flush()
    assert [r[0] for r in sqlite3.connect(db_path).execute("SELECT id FROM results")] == [3, 4]
    assert (await store.prune())["results"] == 1
    (hour,) = await store.read(lambda db: rollups(db, "api", since=T0, until=T0 + HOUR))
    assert hour.total == 3


async def test_retention_by_id_copes_with_rows_out_of_time_order(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    no_pack = RetentionConfig(raw=HOUR, pack_after="3650d")  # this is about `results` alone
    store = make_store(retention=no_pack, retention_batch=7, retention_interval=1e9)
    await store.start()
    await store.prune()  # the pass due at start is over: none again (retention_interval)
    cutoff = T0 + HOUR
    late = [cutoff + 5, cutoff - 30, cutoff + 6, cutoff - 1000, cutoff + 100]  # two rows arrive late
    for at in [T0 + i for i in range(50)] + late + [cutoff + 200, cutoff + 300]:
        store.record(result(at=at))
    await store.flush()

    def remaining() -> list[float]:
        return sorted(r[0] for r in sqlite3.connect(db_path).execute("SELECT ts FROM results"))

    clock.set(cutoff + HOUR)
    assert (await store.prune())["results"] == 52  # the 50 in order and the two late ones
    assert remaining() == [cutoff + 5, cutoff + 6, cutoff + 100, cutoff + 200, cutoff + 300]
    clock.set(cutoff + 2 * HOUR)
    await store.prune()
    assert remaining() == [cutoff + 300]  # all expired; the newest row stays


async def test_upgrading_a_database_whose_rollups_were_written_per_batch(make_store: MakeStore, db_path: str) -> None:
    """Before the fold (schema v4) rollups and latest included every committed row: the migration
    starts the watermark at max(id), so nothing is counted twice."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(Database(conn), MIGRATIONS[:4])
    raw = "INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, 'api', 'http', 'success', 0.1)"
    conn.execute(raw, (T0,))
    conn.execute("INSERT INTO rollups (endpoint, hour, total, good, latency_sum) VALUES ('api', ?, 1, 1, 0.1)", (T0,))
    conn.execute("INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) VALUES ('api', ?, 'success', 1)", (T0,))
    conn.execute("INSERT INTO latest (ts, endpoint, kind, outcome, duration) VALUES (?, 'api', 'http', 'success', 0.1)",
                 (T0,))  # fmt: skip
    conn.close()
    store = make_store()
    await store.start()
    assert store.rollup_watermark == 1
    store.record(result(at=T0 + 10))
    await store.flush()
    (hour,) = await store.read(lambda db: rollups(db, "api", since=T0))
    assert (hour.total, hour.outcomes) == (2, {"success": 2})
    assert scalar(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'results_ts'") == 0

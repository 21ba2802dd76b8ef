"""Daily rollups through the store: retention downsamples and expires them, readers span both tables,
and migration v7 on a v6 database."""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome
from slowatch.slo.persist import hourly_rollups
from slowatch.store import MIGRATIONS, Rollup, rollup_counts_since, rollups
from slowatch.store.schema import BUCKET_COLUMNS, migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, result
from tests.store.test_store_migration_v6 import schema_sql

HOUR, DAY = 3600, 86400


def two_days() -> list[tuple[float, Outcome, float]]:
    """(at, outcome, duration) every 20 minutes for two days from T0; every 7th a timeout."""
    return [
        (T0 + i * 1200.0, Outcome.TIMEOUT if i % 7 == 0 else Outcome.SUCCESS, 0.004 + (i % 5) * 0.06)
        for i in range(2 * 72)
    ]


def day_sum(hours: list[Rollup], day: int) -> tuple[int, int, float, tuple[int, ...], dict[str, int]]:
    rows = [r for r in hours if day <= r.hour < day + DAY]
    outcomes: dict[str, int] = {}
    for r in rows:
        for k, n in r.outcomes.items():
            outcomes[k] = outcomes.get(k, 0) + n
    buckets = tuple(sum(col) for col in zip(*(r.buckets for r in rows), strict=True))
    return sum(r.total for r in rows), sum(r.good for r in rows), sum(r.latency_sum for r in rows), buckets, outcomes


async def test_old_hours_become_days_readers_span_both_and_days_expire(make_store: MakeStore,
                                                                       clock: FakeClock) -> None:  # fmt: skip
    store = make_store(retention_interval=1e9)
    await store.start()
    await store.prune()  # the pass due at start is over: none again (retention_interval)
    for at, outcome, duration in two_days():
        store.record(result("api", outcome, at=at, duration=duration))
    await store.flush()
    clock.set(T0 + 97 * DAY + 30)
    store.record(result("api", at=clock.time()))
    await store.flush()
    hours = await store.read(lambda db: rollups(db, "api", since=T0))
    counts = await store.read(lambda db: rollup_counts_since(db, T0))
    now = clock.time()
    recent = await store.read(lambda db: hourly_rollups(db, ["api"], now - 93 * DAY, now, ["le_10ms"]))
    assert len(hours) == 49 and all(r.seconds == HOUR for r in hours)

    deleted = await store.prune()  # the cutoff is T0 + 2d: both days are merged
    assert (deleted["rollups_downsampled"], deleted["rollups"], deleted["rollups_daily"]) == (48, 0, 0)
    after = await store.read(lambda db: rollups(db, "api", since=T0))
    assert [(r.hour, r.seconds) for r in after] == [(T0, DAY), (T0 + DAY, DAY), (T0 + 97 * DAY, HOUR)]
    for day, row in zip((T0, T0 + DAY), after, strict=False):
        total, good, latency, buckets, outcomes = day_sum(hours, int(day))
        assert (row.total, row.good, row.buckets, dict(row.outcomes)) == (total, good, buckets, outcomes)
        assert abs(row.latency_sum - latency) < 1e-9
    assert after[0].outcomes == {"success": 61, "timeout": 11} and after[2] == hours[-1]
    # the API's default (7 days) and any range inside `retention.hourly` see hours only, as before
    assert await store.read(lambda db: rollups(db, "api", since=now - 7 * DAY)) == [hours[-1]]
    assert await store.read(lambda db: rollups(db, "api", since=T0 + DAY + 5, until=T0 + 2 * DAY)) == [after[1]]
    assert await store.read(lambda db: rollup_counts_since(db, T0)) == counts
    # the SLO rebuild's reads: unchanged for windows up to 93 days; longer ones get whole days
    assert await store.read(lambda db: hourly_rollups(db, ["api"], now - 93 * DAY, now, ["le_10ms"])) == recent
    long = await store.read(lambda db: hourly_rollups(db, ["api"], T0, now, ["le_10ms"]))
    assert [(h, total, good) for h, _, total, good, _ in long] == [
        (T0, 72, 61), (T0 + DAY, 72, 62), (T0 + 97 * DAY, 1, 1),
    ]  # fmt: skip
    assert long[0][4] == (sum(r.buckets[1] for r in hours[:24]),)
    assert len(await store.read(lambda db: hourly_rollups(db, ["api"], T0 + 1, now, []))) == 2  # day 1: part only

    assert (await store.prune())["rollups_downsampled"] == 0  # idempotent
    clock.set(T0 + 401 * DAY + HOUR)  # day 0 has wholly expired (400d), day 1 not yet
    deleted = await store.prune()
    assert (deleted["rollups_daily"], deleted["rollup_outcomes_daily"], deleted["rollups_downsampled"]) == (1, 1, 1)
    kept = await store.read(lambda db: rollups(db, "api", since=T0))
    assert [(r.hour, r.seconds, r.total) for r in kept] == [(T0 + DAY, DAY, 72), (T0 + 97 * DAY, DAY, 1)]
    clock.advance(DAY)
    assert (await store.prune())["rollups_daily"] == 1


async def test_hourly_equal_to_rollups_keeps_every_hour(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(retention=RetentionConfig(hourly="400d"), retention_interval=1e9)
    await store.start()
    await store.prune()  # the pass due at start is over: none again (retention_interval)
    store.record(result("api", at=T0))
    await store.flush()
    clock.set(T0 + 399 * DAY)
    deleted = await store.prune()
    assert deleted["rollups_downsampled"] == 0 and deleted["rollups"] == 0
    assert [r.seconds for r in await store.read(lambda db: rollups(db, "api", since=T0))] == [HOUR]


async def test_v6_to_v7_adds_empty_daily_tables(make_store: MakeStore, db_path: str) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(Database(conn), MIGRATIONS[:6])
    conn.execute(f"INSERT INTO rollups (endpoint, hour, total, good, latency_us, {', '.join(BUCKET_COLUMNS)}) "
                 f"VALUES ('api', ?, 3, 2, 250000, {', '.join('2' for _ in BUCKET_COLUMNS)})", (T0,))  # fmt: skip
    conn.execute("INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) VALUES ('api', ?, 'timeout', 1)", (T0,))
    conn.close()
    store = make_store()
    await store.start()
    await store.close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    daily = [name for _, name, *_ in conn.execute("PRAGMA table_info(rollups_daily)")]
    assert daily == ["endpoint", "day", "total", "good", "latency_us", *BUCKET_COLUMNS]
    assert conn.execute("SELECT count(*) FROM rollups_daily").fetchone()[0] == 0
    assert conn.execute("SELECT total, good, latency_us FROM rollups").fetchall() == [(3, 2, 250000)]
    conn.close()
    for table in ("rollups_daily", "rollup_outcomes_daily"):
        assert "WITHOUT ROWID" in schema_sql(db_path, table)

"""The writer's schedules (fold, pack, retention) across a step of the wall clock."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome
from slowatch.store import Store
from slowatch.store.retention import TARGETS
from slowatch.store.retention_clock import RetentionClock
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, result, scalar, settled

DAY = 86400.0


async def test_a_wall_clock_stepped_back_stalls_neither_fold_nor_pack_nor_retention(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    """A day ahead, then back: the folds, pack passes and retention go on at their intervals (they waited a day:
    the rollups and `latest` went stale and raw rows piled up in `results` until the clock caught up)."""
    retention = RetentionConfig(raw=7200, rollups=7200, hourly=7200, pack_after=900)
    store = make_store(rollup_interval=60, retention_interval=60, retention=retention)
    await store.start()
    await settled(store)
    clock.step(DAY)  # the clock runs a day ahead for 20 minutes: its folds and passes are due a day ahead
    for _ in range(20):
        clock.advance(60)
        store.record(result("api", at=clock.time(), message="ahead"))
        await store.flush(fold=False)
    await store.flush()  # a fold ...
    await store.prune()  # ... and a retention pass end while it is ahead
    clock.step(-DAY)
    for _ in range(3 * 60):  # three hours: one result a minute
        clock.advance(60)
        store.record(result("api", at=clock.time()))
        await store.flush(fold=False)
    await eventually(lambda: store.rollup_watermark >= store.committed - 1)  # folded every 60 s
    now = clock.time()
    # packed 15 minutes after their block: only the last ~25 minutes' rows (and the day-ahead ones) are raw
    await eventually(lambda: scalar(db_path, f"SELECT count(*) FROM results WHERE ts < {now - 1800}") == 0)
    # and retention deletes the blocks older than 2 hours (at its last pass, up to a minute ago)
    await eventually(lambda: scalar(db_path, f"SELECT count(*) FROM result_blocks WHERE end < {now - 7260}") == 0)
    assert scalar(db_path, f"SELECT count(*) FROM result_blocks WHERE end < {now - 3600}") > 0
    assert scalar(db_path, "SELECT count(*) FROM results WHERE message = 'ahead'") == 20  # kept, not yet due
    await store.close()


YEAR = 365 * DAY
TARGETS_NAMES = [table for table, _, _ in TARGETS]
KEPT = (
    "SELECT (SELECT count(*) FROM results) + (SELECT coalesce(sum(n), 0) FROM result_blocks), "
    "(SELECT count(*) FROM rollups), (SELECT count(*) FROM latest), (SELECT count(*) FROM incidents)"
)


def kept(db_path: str) -> tuple[int, ...]:
    """Raw results (in `results` or packed), hourly rollups, `latest` rows and incidents in the database."""
    return tuple(query_value_row(db_path, KEPT))


def query_value_row(path: str, sql: str) -> tuple[int, ...]:
    conn = sqlite3.connect(path)
    try:
        return tuple(int(v) for v in conn.execute(sql).fetchone())
    finally:
        conn.close()


async def two_hours(store: Store, clock: FakeClock, endpoints: int = 3) -> None:
    """Two hours of history: one result a minute per endpoint, one failure (an incident) each, folded."""
    for minute in range(120):
        clock.advance(60)
        for e in range(endpoints):
            outcome = Outcome.TIMEOUT if minute == 30 else Outcome.SUCCESS
            store.record(result(f"ep{e}", outcome, at=clock.time()))
    await store.flush()


async def test_a_wall_clock_a_year_ahead_and_back_deletes_no_history(
    make_store: MakeStore, clock: FakeClock, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Retention took its cutoffs from the wall clock: one pass while it was a year ahead deleted every raw result,
    rollup, `latest` row and incident, and stepping it back brought nothing back."""
    store = make_store(retention=RetentionConfig(raw=DAY, rollups=30 * DAY, hourly=30 * DAY))
    await store.start()
    await two_hours(store, clock)
    await store.prune()
    before = kept(db_path)
    assert before == (360, 9, 3, 9)  # (up, down, up per endpoint)
    with caplog.at_level(logging.INFO, logger="slowatch.store"):
        clock.step(YEAR)
        assert await store.prune() == dict.fromkeys(TARGETS_NAMES, 0)
        assert store.retention_behind == YEAR
        clock.advance(600)  # ten minutes pass while it is ahead: retention's time moves twice that, not a year
        await store.prune()
        assert store.retention_behind == YEAR - 600
        clock.step(-YEAR)
        clock.advance(60)
        await store.prune()
        assert store.retention_behind == 0.0
    assert kept(db_path) == before
    held = [r for r in caplog.records if "ahead of the time retention trusts" in r.getMessage()]
    assert len(held) == 1 and held[0].levelno == logging.WARNING
    assert any("retention goes by the wall clock again" in r.getMessage() for r in caplog.records)
    clock.advance(DAY)  # and retention goes on by the wall clock: a day later the raw results have expired
    await store.prune()
    assert kept(db_path)[0] == 1  # (the newest row is kept: ids are never reused)


async def test_a_start_with_the_wall_clock_a_year_ahead_deletes_no_history(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    """Without a monotonic reference a new run goes by the time the last run's retention went by: a restart on a
    machine whose clock is a year ahead (a VM restored with a wrong RTC) deleted the whole history at once."""
    retention = RetentionConfig(raw=DAY, rollups=30 * DAY, hourly=30 * DAY)
    store = make_store(retention=retention)
    await store.start()
    await two_hours(store, clock)
    await store.prune()
    before = kept(db_path)
    await store.close()
    clock.step(YEAR)
    again = make_store(retention=retention)
    await again.start()
    await again.prune()
    assert kept(db_path) == before
    assert again.retention_behind >= YEAR - 60
    await again.close()
    clock.step(-YEAR)  # set right, and restarted: the history is there
    clock.advance(600)
    third = make_store(retention=retention)
    await third.start()
    await third.prune()
    assert kept(db_path) == before and third.retention_behind == 0.0


def test_a_clock_following_retention_holds_back_a_second_step_ahead(clock: FakeClock) -> None:
    """The SLO state's and the alert outbox's prunes follow retention's clock without logging; once a hold ended,
    such a clock stayed in catch-up mode and took a later step ahead as it was if it was shorter than the time
    since its last reading (an hour for those prunes), instead of holding back any step over 60 s."""
    leader = RetentionClock(clock, what="retention")
    leader.start(None)
    follower = RetentionClock(clock, what="")
    follower.follow(leader)
    clock.step(YEAR)
    assert follower.now() == T0 and follower.behind == YEAR
    clock.step(-YEAR)
    clock.advance(3600)
    assert follower.now() == clock.time() and follower.behind == 0.0
    clock.advance(3600)
    clock.step(1800)
    assert follower.now() == clock.time() - 1800 and follower.behind == 1800


RAW_ROWS = "(SELECT count(*) FROM results WHERE ts < {t})"
RAW_BLOCKED = "(SELECT coalesce(sum(n), 0) FROM result_blocks WHERE end < {t})"
RAW_KEPT = f"SELECT {RAW_ROWS} + {RAW_BLOCKED}"


async def test_after_a_long_stop_what_this_run_records_is_kept_raw_for_retention_raw_not_half_the_stop(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    """Started 30 days after the last run stopped, retention went by the last run's time, catching up at 2x: for
    16 days nothing this run recorded was deleted (16 days of raw history with `raw: 1d`, 183 days after a
    year-old backup was restored: a disk sized for the configured retention fills). This run's own rows were
    stamped by this run's clock, whose steps are held back while it runs: they go by it; the older rows (a clock
    ahead at the start would make them look expired) still go by the held time."""
    retention = RetentionConfig(raw=DAY, rollups=30 * DAY, hourly=30 * DAY)
    store = make_store(retention=retention)
    await store.start()
    await two_hours(store, clock)
    await store.prune()
    await store.close()
    before_stop = clock.time()
    clock.step(30 * DAY)
    again = make_store(retention=retention)
    await again.start()
    assert again.retention_behind >= 30 * DAY - 60
    for _ in range(3 * 24):  # three days of this run: one result an hour per endpoint
        clock.advance(3600)
        for e in range(3):
            again.record(result(f"ep{e}", at=clock.time()))
        await again.flush(fold=False)
    await again.flush()
    await again.prune()
    now = clock.time()
    assert again.retention_behind > 0  # (still catching up: what was recorded before the stop ...)
    expired = RAW_KEPT.format(t=now - DAY - 3600)
    assert query_value_row(db_path, expired) == (0,)  # ... but this run's rows older than a day are gone
    assert query_value_row(db_path, RAW_KEPT.format(t=now + 1))[0] >= 3 * 24  # (and the last day's kept)
    assert query_value_row(db_path, RAW_KEPT.format(t=before_stop + 1))[0] <= 1  # (the old ones: held, expired)
    assert query_value_row(db_path, "SELECT count(*) FROM result_blocks")[0] > 0  # (packed ones too)
    await again.close()
    clock.advance(600)  # a restart: this run's rows still go by its clock, the older ones by the held time
    third = make_store(retention=retention)
    await third.start()
    for _ in range(24):
        clock.advance(3600)
        for e in range(3):
            third.record(result(f"ep{e}", at=clock.time()))
        await third.flush(fold=False)
    await third.flush()
    await third.prune()
    now = clock.time()
    assert third.retention_behind > 0
    assert query_value_row(db_path, RAW_KEPT.format(t=now - DAY - 3600)) == (0,)
    await third.close()

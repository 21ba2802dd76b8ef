"""The writer's schedules (fold, pack, retention) across a step of the wall clock."""

from __future__ import annotations

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from tests.store.conftest import MakeStore
from tests.store.helpers import eventually, result, scalar, settled

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

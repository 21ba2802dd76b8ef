"""A maintenance step (retention, pack) that keeps failing is retried with a backoff of its own: the other steps and
the result batches go on at their pace meanwhile."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from slowatch.clock import FakeClock
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, pass_done, result

NO_RETENTION = """
CREATE TRIGGER no_retention_time_insert BEFORE INSERT ON state WHEN NEW.key = 'store.retention_time'
BEGIN SELECT RAISE(ABORT, 'retention refused'); END;
CREATE TRIGGER no_retention_time_update BEFORE UPDATE ON state WHEN NEW.key = 'store.retention_time'
BEGIN SELECT RAISE(ABORT, 'retention refused'); END;
"""


async def test_a_failing_retention_step_does_not_hold_back_the_pack_or_the_batches(
    make_store: MakeStore, db_path: str, clock: FakeClock
) -> None:
    """A failed retention (or pack) step made the whole writer wait out its backoff, doubling up to `max_backoff`
    (30 s), whenever no result was queued at that moment: with a retention step that kept failing, a pack pass moved
    one batch per retention retry (its 2,000 rows here: ~20 turns, minutes), so `results` grew faster than it was
    packed at a few thousand endpoints, and results recorded meanwhile waited up to 30 s to be written."""
    first = make_store()
    await first.start()
    await first.close()
    conn = sqlite3.connect(db_path)
    conn.executescript(NO_RETENTION)  # a step that fails every time (a real SQLite error on each try)
    conn.close()
    store = make_store(max_backoff=30.0, pack_batch=100, rollup_interval=60.0, batch_interval=0.05)
    await store.start()
    await eventually(lambda: store.write_errors >= 1)  # the start's retention pass fails, and keeps failing
    for i in range(2_000):
        store.record(result(f"ep{i % 20}", at=T0 + i))
    store.record(result("ep0", at=T0 + 3_600.0))  # (the newest row is never packed)
    await store.flush()
    clock.advance(3_600.0)  # a pass is due: its rows are an hour old (pack_after: 15 minutes)
    await store.flush(fold=False)  # (wakes the writer once; then it runs by itself)
    await eventually(lambda: store.packed == 2_000 and pass_done(db_path), timeout=20.0)
    assert "retention refused" in (store.last_error or "")
    errors = store.write_errors
    assert errors <= 12, errors  # retried with backoff all along, not once per pack turn
    store.record(result("ep1", at=T0 + 3_601.0))  # written at the next batch, not after the retention's backoff
    await eventually(lambda: store.committed == 2_002, timeout=10.0)


NO_PACK = """
CREATE TRIGGER no_pack BEFORE INSERT ON result_blocks BEGIN SELECT RAISE(ABORT, 'pack refused'); END;
"""


async def test_steps_failing_with_alternating_causes_keep_the_store_unhealthy_and_are_logged_once_each(
    make_store: MakeStore, db_path: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With the retention step and the pack step failing (each with its own error) while result batches commit,
    every committed batch logged "store writes resumed" and made the store healthy (/readyz 200,
    slowatch_store_healthy 1) though retention and pack still failed, and every failure after it logged "store write
    failed" again (or "with another error", as the two causes alternated): two lines per retry, for as long as it
    lasted."""
    first = make_store()
    await first.start()
    await first.close()
    conn = sqlite3.connect(db_path)
    conn.executescript(NO_RETENTION + NO_PACK)
    conn.close()
    store = make_store(max_backoff=0.05, rollup_interval=60.0, batch_interval=0.05)
    with caplog.at_level(logging.INFO, logger="slowatch.store"):
        await store.start()
        for turn in range(6):
            for i in range(50):
                store.record(result(f"ep{i % 5}", at=T0 + turn * 50 + i))
            await store.flush()  # results are written
            clock.advance(1_800.0)  # a pack pass is due (and fails)
            errors = store.write_errors
            await eventually(lambda: store.write_errors >= errors + 2)  # noqa: B023
            assert not store.healthy, turn
            assert store.last_error is not None and "refused" in store.last_error
        await store.flush()  # a batch commits (the batch source was never failing: nothing changes)
        assert not store.healthy and "refused" in (store.last_error or "")
        assert store.committed == 300
        lines = [r.getMessage() for r in caplog.records if "store write" in r.getMessage()]
        assert len(lines) == 2, lines  # each cause once (reminders come after a minute)
        assert {"retention refused" in lines[0], "pack refused" in lines[0]} == {True, False}, lines
        assert "another error" in lines[1] and "refused" in lines[1], lines
        conn = sqlite3.connect(db_path)
        conn.executescript("DROP TRIGGER no_retention_time_insert; DROP TRIGGER no_retention_time_update;")
        conn.executescript("DROP TRIGGER no_pack;")
        conn.close()
        clock.advance(1_800.0)
        await eventually(lambda: store.healthy)
        await eventually(lambda: store.packed > 0)
    lines = [r.getMessage() for r in caplog.records if "store write" in r.getMessage()]
    assert len(lines) == 3 and lines[2].startswith("store writes resumed after "), lines

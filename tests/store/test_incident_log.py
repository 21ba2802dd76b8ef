"""New up/down transitions are appended to `incidents_recent` and moved to the indexed `incidents` by each fold
(store/incident_log.py): readers see every transition once, in order, before and after the move."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from slowatch.clock import FakeClock
from slowatch.models import Outcome
from slowatch.slo.history import incidents as down_periods
from slowatch.store import incidents
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, result


def read_rows(db_path: str, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(f"SELECT id, endpoint, ts, from_state, to_state FROM {table} ORDER BY id").fetchall()
    finally:
        conn.close()


async def rows(db_path: str, table: str) -> list[tuple[Any, ...]]:
    return await asyncio.to_thread(read_rows, db_path, table)


def read_down_periods(db_path: str) -> tuple[Any, ...]:
    conn = sqlite3.connect(db_path)
    try:
        return down_periods(conn, ("a", "other"), T0 - 60, T0 + 600)
    finally:
        conn.close()


def flips(endpoint: str, start: float, n: int) -> list[Any]:
    """n final results of `endpoint` a minute apart, down and up in turn (the first down: a transition each)."""
    return [result(endpoint, Outcome.TIMEOUT if i % 2 == 0 else Outcome.SUCCESS, at=start + 60 * i) for i in range(n)]


async def test_transitions_wait_unindexed_until_a_fold_moves_them_keeping_their_ids(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=3600.0)  # (no fold of its own while the test looks)
    await store.start()
    for r in flips("a", T0, 3) + flips("b", T0 + 30, 2):
        store.record(r)
    await store.flush()  # a flush folds: everything moved
    first = await rows(db_path, "incidents")
    want = [("a", "down"), ("a", "up"), ("a", "down"), ("b", "down"), ("b", "up")]  # (ids: the order written)
    assert [(ep, to) for _, ep, _, _, to in first] == want
    assert await rows(db_path, "incidents_recent") == []

    for r in flips("a", T0 + 600, 2):  # a is down: the success at +660 is the one transition
        store.record(r)
    await store.flush(fold=False)  # committed, not folded
    recent = await rows(db_path, "incidents_recent")
    assert [(ep, to) for _, ep, _, _, to in recent] == [("a", "up")]
    assert recent[0][0] == first[-1][0] + 1  # numbered after every moved one
    shown = await store.read(lambda db: incidents(db, limit=3))
    assert [(i.endpoint, i.ts, i.to_state) for i in shown] == [("a", T0 + 660, "up"), ("a", T0 + 120, "down"),
                                                               ("b", T0 + 90, "up")]  # fmt: skip
    assert [i.endpoint for i in await store.read(lambda db: incidents(db, "b"))] == ["b", "b"]

    await store.flush()
    assert await rows(db_path, "incidents") == first + recent  # moved whole, same ids
    assert await rows(db_path, "incidents_recent") == []
    await store.close()


async def test_down_periods_join_a_moved_start_to_a_recent_end(make_store: MakeStore, db_path: str) -> None:
    store = make_store(rollup_interval=3600.0)
    await store.start()
    store.record(result("a", Outcome.TIMEOUT, at=T0, message="slow"))
    await store.flush()  # the start of the outage is moved to `incidents`
    store.record(result("a", at=T0 + 300))
    await store.flush(fold=False)
    assert len(await rows(db_path, "incidents_recent")) == 1  # its end is not
    (period,) = await asyncio.to_thread(read_down_periods, db_path)
    assert (period.endpoint, period.start, period.end, period.message) == ("a", T0, T0 + 300, "slow")
    await store.close()


async def test_a_recent_row_numbered_by_another_program_is_moved_renumbered_not_lost(
    make_store: MakeStore, db_path: str
) -> None:
    store = make_store(rollup_interval=3600.0)
    await store.start()
    for r in flips("a", T0, 3):
        store.record(r)
    await store.flush()
    moved = await rows(db_path, "incidents")

    def foreign() -> None:  # a row with an id that `incidents` has already (not INSERT_INCIDENT's numbering)
        conn = sqlite3.connect(db_path)
        with conn:
            conn.execute("INSERT INTO incidents_recent (id, endpoint, ts, from_state, to_state, outcome) "
                         "VALUES (1, 'b', ?, 'up', 'down', 'timeout')", (T0 + 500,))  # fmt: skip
        conn.close()

    await asyncio.to_thread(foreign)
    store.record(result("a", at=T0 + 600))  # a's recovery, numbered after both
    await store.flush()  # the fold moves both, renumbered in their order
    after = await rows(db_path, "incidents")
    assert after[:3] == moved and [(ep, to) for _, ep, _, _, to in after[3:]] == [("b", "down"), ("a", "up")]
    assert await rows(db_path, "incidents_recent") == []
    assert store.healthy
    await store.close()

"""Migration v6 (compact storage) on a v5 database built by the released migrations."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.store import MIGRATIONS, history, latest_results, rollup_counts_since, rollups
from slowatch.store.schema import BUCKET_COLUMNS, migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually

HOUR = 3600
V5 = MIGRATIONS[:5]
RAW = "INSERT INTO results (ts, endpoint, kind, outcome, duration, status_code, message, phases) VALUES (?, ?, 'http', ?, ?, ?, ?, ?)"  # noqa: E501


def v5_database(path: str) -> None:
    """A v5 database as the v5 writer leaves it: raw rows, their rollups (latency_sum REAL, success
    counted in rollup_outcomes), latest and the watermark at the last row."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(Database(conn), V5)
    raw = [
        (T0 + 10, "api", "success", 0.0123456, 200, "", '{"connect":0.001}'),
        (T0 + 20, "api", "timeout", 5.0, None, "timed out after 5s", '{"connect":0.002}'),
        (T0 + HOUR + 5, "api", "success", 0.25, 200, "", None),
        (T0 + 30, "db", "connection_refused", 0.001, None, "refused", None),
    ]
    conn.executemany(RAW, raw)
    buckets = ", ".join(BUCKET_COLUMNS)
    for ep, hour, total, good, latency, le in (
        ("api", T0, 2, 1, 0.0123456, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        ("api", T0 + HOUR, 1, 1, 0.25, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]),
        ("db", T0, 1, 0, 0.0, [0] * 11),
    ):
        values = ", ".join("?" for _ in le)
        conn.execute(f"INSERT INTO rollups (endpoint, hour, total, good, latency_sum, {buckets}) VALUES "
                     f"(?, ?, ?, ?, ?, {values})", (ep, hour, total, good, latency, *le))  # fmt: skip
    conn.executemany(
        "INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) VALUES (?, ?, ?, ?)",
        [("api", T0, "success", 1), ("api", T0, "timeout", 1), ("api", T0 + HOUR, "success", 1),
         ("db", T0, "connection_refused", 1)],
    )  # fmt: skip
    conn.execute("INSERT INTO latest (ts, endpoint, kind, outcome, duration) SELECT ts, endpoint, kind, outcome, "
                 "duration FROM results WHERE id IN (3, 4)")  # fmt: skip
    conn.execute("UPDATE rollup_watermark SET results_id = 4")
    conn.close()


def schema_sql(path: str, name: str) -> str:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (name,)).fetchone()
        return "" if row is None else str(row[0])
    finally:
        conn.close()


async def test_v5_to_v6_keeps_every_answer(make_store: MakeStore, clock: FakeClock, db_path: str) -> None:
    v5_database(db_path)
    clock.set(T0 + 3 * HOUR)  # every raw row but the newest is due for packing at start
    store = make_store()
    await store.start()
    assert "WITHOUT ROWID" in schema_sql(db_path, "rollups")
    assert "WITHOUT ROWID" in schema_sql(db_path, "rollup_outcomes")
    assert schema_sql(db_path, "rollups_hour") == schema_sql(db_path, "rollup_outcomes_hour") == ""
    first, second = await store.read(lambda db: rollups(db, "api", since=T0))
    assert (first.hour, first.total, first.good, first.outcomes) == (T0, 2, 1, {"success": 1, "timeout": 1})
    assert first.latency_sum == pytest.approx(0.0123456, abs=1e-6)
    assert first.buckets == (0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    assert (second.total, second.good, second.latency_sum, second.outcomes) == (1, 1, 0.25, {"success": 1})
    (db_hour,) = await store.read(lambda db: rollups(db, "db", since=T0))
    assert (db_hour.total, db_hour.good, db_hour.outcomes) == (1, 0, {"connection_refused": 1})
    counts = await store.read(lambda db: rollup_counts_since(db, T0))
    assert {ep: (c.total, c.good) for ep, c in counts.items()} == {"api": (3, 2), "db": (1, 0)}
    assert set(await store.read(latest_results)) == {"api", "db"}
    assert store.rollup_watermark == 4  # nothing folded twice

    await eventually(lambda: store.packed == 3)  # the v5 raw rows are packed by the running store (not the newest)
    api = await store.read(lambda db: history(db, "api"))
    assert [(r.ts, r.outcome.value, r.message, dict(r.phases)) for r in api] == [
        (T0 + HOUR + 5, "success", "", {}),
        (T0 + 20, "timeout", "timed out after 5s", {"connect": 0.002}),
        (T0 + 10, "success", "", {}),  # the phases of a packed success are not kept
    ]
    assert api[2].duration == 0.012346
    (db_row,) = await store.read(lambda db: history(db, "db"))
    assert (db_row.id, db_row.message) == (4, "refused")  # the newest row: still in `results`

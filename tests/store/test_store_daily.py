"""Downsampling hourly rollups into daily rows (store/daily.py): exact sums, crash safety, retention, config."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlite_utils import Database

from slowatch.config.schema import RetentionConfig
from slowatch.store.daily import COUNTERS, downsample_batch, downsample_cutoff
from slowatch.store.schema import BUCKET_COLUMNS, migrate

HOUR, DAY = 3600, 86400
DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z
Key = tuple[str, int]
Row = tuple[int, ...]  # the COUNTERS of one rollup row


@contextmanager
def memory_db() -> Iterator[Database]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db = Database(conn)
        migrate(db)
        yield db
    finally:
        conn.close()


def insert(db: Database, table: str, key: str, rows: dict[Key, Row]) -> None:
    cols = ", ".join(COUNTERS)
    marks = ", ".join("?" for _ in COUNTERS)
    db.conn.executemany(f"INSERT INTO {table} (endpoint, {key}, {cols}) VALUES (?, ?, {marks})",
                        [(*k, *v) for k, v in rows.items()])  # fmt: skip


def insert_outcomes(db: Database, table: str, key: str, rows: dict[tuple[str, int, str], int]) -> None:
    db.conn.executemany(f"INSERT INTO {table} (endpoint, {key}, outcome, count) VALUES (?, ?, ?, ?)",
                        [(*k, n) for k, n in rows.items()])  # fmt: skip


def table_rows(db: Database, table: str, key: str) -> dict[Key, Row]:
    sql = f"SELECT endpoint, {key}, {', '.join(COUNTERS)} FROM {table}"
    return {(r[0], r[1]): tuple(r[2:]) for r in db.conn.execute(sql)}


def outcome_rows(db: Database, table: str, key: str) -> dict[tuple[str, int, str], int]:
    return {(e, t, o): n for e, t, o, n in db.conn.execute(f"SELECT endpoint, {key}, outcome, count FROM {table}")}


def run_passes(db: Database, cutoff: int, limit: int) -> int:
    """What retention does: one transaction per batch until a batch comes back short."""
    merged = 0
    while True:
        db.conn.execute("BEGIN IMMEDIATE")
        n = downsample_batch(db, cutoff, limit)
        db.conn.execute("COMMIT")
        merged += n
        if n < limit:
            return merged


def add(a: Row, b: Row) -> Row:
    return tuple(x + y for x, y in zip(a, b, strict=True))


@st.composite
def rollup_row(draw: st.DrawFn) -> Row:
    total = draw(st.integers(0, 500))
    good = draw(st.integers(0, total))
    cuts = sorted(draw(st.lists(st.integers(0, good), min_size=len(BUCKET_COLUMNS), max_size=len(BUCKET_COLUMNS))))
    return (total, good, draw(st.integers(0, good * 10_000_000)), *cuts)


keys = st.tuples(st.sampled_from(["a", "b", "c-1", "z"]), st.integers(0, 5 * 24 - 1).map(lambda h: DAY0 + h * HOUR))
days = st.tuples(st.sampled_from(["a", "z"]), st.integers(0, 4).map(lambda d: DAY0 + d * DAY))
outcome_keys = st.tuples(keys, st.sampled_from(["timeout", "http_status"]))


@settings(max_examples=60, deadline=None)
@given(
    hourly=st.dictionaries(keys, rollup_row(), max_size=60),
    daily=st.dictionaries(days, rollup_row(), max_size=4),
    outcomes=st.dictionaries(outcome_keys, st.integers(1, 9), max_size=40),
    cut_day=st.integers(0, 5),
    limit=st.integers(1, 25),
)
def test_downsampling_sums_exactly_the_hourly_rows_it_replaces(
    hourly: dict[Key, Row], daily: dict[Key, Row], outcomes: dict[tuple[Key, str], int], cut_day: int, limit: int
) -> None:
    cutoff = DAY0 + cut_day * DAY
    hourly_outcomes = {(ep, h, o): n for ((ep, h), o), n in outcomes.items() if (ep, h) in hourly}
    with memory_db() as db:
        insert(db, "rollups", "hour", hourly)
        insert(db, "rollups_daily", "day", daily)  # an earlier pass's days: merged into, not replaced
        insert_outcomes(db, "rollup_outcomes", "hour", hourly_outcomes)
        merged = run_passes(db, cutoff, limit)
        expected = dict(daily)
        expected_outcomes: Counter[tuple[str, int, str]] = Counter()
        for (ep, hour), row in hourly.items():
            if hour < cutoff:
                day = hour - hour % DAY
                expected[ep, day] = add(expected.get((ep, day), (0,) * len(COUNTERS)), row)
        for (ep, hour, outcome), n in hourly_outcomes.items():
            if hour < cutoff:
                expected_outcomes[ep, hour - hour % DAY, outcome] += n
        assert merged == sum(hour < cutoff for _, hour in hourly)
        assert table_rows(db, "rollups_daily", "day") == expected
        assert outcome_rows(db, "rollup_outcomes_daily", "day") == dict(expected_outcomes)
        assert table_rows(db, "rollups", "hour") == {k: v for k, v in hourly.items() if k[1] >= cutoff}
        assert outcome_rows(db, "rollup_outcomes", "hour") == {
            k: n for k, n in hourly_outcomes.items() if k[1] >= cutoff
        }


def test_a_crash_between_merge_and_delete_counts_nothing_twice(tmp_path: Path) -> None:
    """The merge and the delete share one transaction: killed after the merge (the connection closes
    without COMMIT), the database is as before, and the next pass merges each hour once."""
    path = str(tmp_path / "crash.db")
    hourly = {(ep, DAY0 + h * HOUR): (10, 9, 900_000, *[9] * len(BUCKET_COLUMNS)) for ep in "ab" for h in range(30)}
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    migrate(db)
    insert(db, "rollups", "hour", hourly)
    insert_outcomes(db, "rollup_outcomes", "hour", {(ep, h, "timeout"): 1 for ep, h in hourly})
    conn.execute("CREATE TEMP TRIGGER crash BEFORE DELETE ON rollups BEGIN SELECT RAISE(ABORT, 'killed'); END")
    conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.IntegrityError, match="killed"):
        downsample_batch(db, DAY0 + DAY, 20)  # merged 20 hours into the day, then "died"
    conn.close()  # no COMMIT: what a killed process leaves

    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    assert table_rows(db, "rollups_daily", "day") == {}
    assert table_rows(db, "rollups", "hour") == hourly
    assert run_passes(db, DAY0 + DAY, 20) == 48
    assert run_passes(db, DAY0 + DAY, 20) == 0  # idempotent: nothing left below the cutoff
    per_day = (240, 216, 21_600_000, *[216] * len(BUCKET_COLUMNS))
    assert table_rows(db, "rollups_daily", "day") == {("a", DAY0): per_day, ("b", DAY0): per_day}
    assert outcome_rows(db, "rollup_outcomes_daily", "day") == {("a", DAY0, "timeout"): 24, ("b", DAY0, "timeout"): 24}
    assert len(table_rows(db, "rollups", "hour")) == 12  # the second day's first six hours stay hourly
    conn.close()


def test_the_cutoff_is_a_midnight_at_least_hourly_ago() -> None:
    now = DAY0 + 100 * DAY + 5 * HOUR
    assert downsample_cutoff(now, 95 * DAY) == DAY0 + 5 * DAY  # hours stay hourly 95d to 96d
    assert downsample_cutoff(DAY0 + 95 * DAY, 95 * DAY) == DAY0


def test_retention_hourly_bounds() -> None:
    assert RetentionConfig().hourly_kept == 95 * DAY
    assert RetentionConfig(rollups="30d").hourly_kept == 30 * DAY  # unset: never longer than rollups
    assert RetentionConfig(hourly="400d").hourly_kept == 400 * DAY  # = rollups: nothing is downsampled
    assert RetentionConfig(rollups="60d", hourly="60d").hourly_kept == 60 * DAY
    with pytest.raises(ValidationError, match=r"must not be longer than retention\.rollups"):
        RetentionConfig(hourly="401d")
    with pytest.raises(ValidationError, match="at least 93d"):
        RetentionConfig(hourly="92d")
    with pytest.raises(ValidationError, match="at least 93d"):
        RetentionConfig(rollups="60d", hourly="30d")

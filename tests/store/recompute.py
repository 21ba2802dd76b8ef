"""Brute-force recomputation of the derived tables (rollups, rollup_outcomes, latest) from raw results,
in plain Python, to check the writer's SQL fold against. Raw results are read from `results` only:
these checks run before anything is old enough to be packed."""

from __future__ import annotations

import sqlite3
from typing import Any

from slowatch.store.results import hour_of
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS, RESULT_COLUMNS

Tables = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


def expected(path: str) -> Tables:
    """What rollups, rollup_outcomes and latest must hold, computed from every final raw result."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            f"SELECT id, {', '.join(RESULT_COLUMNS)} FROM results WHERE final = 1 ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    rollups: dict[tuple[Any, ...], list[Any]] = {}
    outcomes: dict[tuple[Any, ...], int] = {}
    latest: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        ts, ep, outcome, duration = row[1], row[2], row[4], row[5]
        key = (ep, hour_of(ts))
        acc = rollups.setdefault(key, [0, 0, 0] + [0] * len(LATENCY_BUCKETS))
        acc[0] += 1
        if outcome == "success":
            acc[1] += 1
            acc[2] += int(duration * 1e6 + 0.5)  # whole µs, rounded as SQLite's round() does
            for i, bound in enumerate(LATENCY_BUCKETS):
                acc[3 + i] += duration <= bound
        if outcome != "success":  # its count is rollups.good
            okey = (*key, outcome)
            outcomes[okey] = outcomes.get(okey, 0) + 1
        latest[ep] = row[1:]  # ordered by id: the later row, whatever its ts (fold.py)
    return {
        "rollups": {k: tuple(v) for k, v in rollups.items()},
        "rollup_outcomes": {k: (n,) for k, n in outcomes.items()},
        "latest": {(ep,): row for ep, row in latest.items()},
    }


def actual(path: str) -> Tables:
    conn = sqlite3.connect(path)
    try:
        cols = ", ".join(("total", "good", "latency_us", *BUCKET_COLUMNS))
        rollups = conn.execute(f"SELECT endpoint, hour, {cols} FROM rollups").fetchall()
        outcomes = conn.execute("SELECT endpoint, hour, outcome, count FROM rollup_outcomes").fetchall()
        latest = conn.execute(f"SELECT {', '.join(RESULT_COLUMNS)} FROM latest").fetchall()
    finally:
        conn.close()
    return {
        "rollups": {r[:2]: tuple(r[2:]) for r in rollups},
        "rollup_outcomes": {r[:3]: (r[3],) for r in outcomes},
        "latest": {(r[1],): tuple(r) for r in latest},
    }


def assert_exact(path: str) -> None:
    """Every count and the µs latency sums equal exactly."""
    want, got = expected(path), actual(path)
    assert got["rollup_outcomes"] == want["rollup_outcomes"]
    assert got["latest"] == want["latest"]
    assert got["rollups"] == want["rollups"]


__all__ = ["actual", "assert_exact", "expected"]

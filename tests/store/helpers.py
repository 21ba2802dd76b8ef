from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from slowatch.models import Outcome, ProbeResult
from slowatch.store import Store

T0 = 1_767_225_600.0  # FakeClock's default start, 2026-01-01T00:00:00Z (an hour boundary)


def result(
    endpoint: str = "api",
    outcome: Outcome = Outcome.SUCCESS,
    at: float = T0,
    duration: float = 0.1,
    **kw: Any,
) -> ProbeResult:
    return ProbeResult(endpoint=endpoint, kind="http", outcome=outcome, started_at=at, duration=duration, **kw)


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("slowatch-store")]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def settled(store: Store, quiet: float = 0.1) -> None:
    """Wait until the writer's start-up work is over: the pack schedule has had its first look (its
    `_next_due` moved past the FakeClock's time, in a transaction of its own) and the transaction count then
    stays the same for `quiet` seconds."""
    packs = store._writer.packs
    await eventually(lambda: packs._next_due > packs._clock.monotonic())
    count = -1
    while count != store.transactions:
        count = store.transactions
        await asyncio.sleep(quiet)


def pass_done(path: str) -> bool:
    """No pack pass under way: the rows the last one packed are gone from `results` (store/pack_marker.py)."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM pack_progress").fetchone()[0]) == 0
    finally:
        conn.close()


def query_value(path: str, sql: str) -> Any:
    """The first column of a query's first row, on its own connection."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def scalar(path: str, sql: str) -> int:
    """One integer from a query on its own connection (0 for NULL)."""
    return int(query_value(path, sql) or 0)


def mixed(n: int, seed: int = 1, start: float = T0, endpoints: int = 7) -> list[ProbeResult]:
    """`n` varied results over a few hours: outcomes, non-final attempts, bucket-edge durations,
    equal timestamps per endpoint (ties for `latest`) and a little out-of-order time."""
    rng = random.Random(seed)
    edges = (0.005, 0.01, 0.25, 10.0, 10.5, 0.0)
    out: list[ProbeResult] = []
    for i in range(n):
        ep = f"ep{rng.randrange(endpoints)}"
        ok = rng.random() < 0.8
        at = start + i * 37.0 + (rng.random() * 20 if rng.random() < 0.2 else 0.0)
        if rng.random() < 0.05 and out:
            at, ep = out[-1].started_at, out[-1].endpoint  # the same instant, the same endpoint
        duration = rng.choice(edges) if rng.random() < 0.3 else rng.uniform(0.0, 3.0)
        outcome = Outcome.SUCCESS if ok else rng.choice([Outcome.TIMEOUT, Outcome.HTTP_STATUS])
        final = rng.random() > 0.1
        out.append(result(ep, outcome, at=at, duration=duration, final=final, attempt=1 if final else 2,
                          message=f"m{i}"))  # fmt: skip
    return out

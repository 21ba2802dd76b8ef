"""SLO rebuilds in groups: one scan of `results` per group, the same cells as one SLO at a time."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.slo.definitions import SloDef
from slowatch.slo.engine import Engine
from slowatch.slo.ledger import CoarseRow
from slowatch.slo.rebuild import Cells, Job, groups, rebuild, rebuild_group
from slowatch.slo.service import SloService
from slowatch.store import Store
from slowatch.store.blocks import block_of
from tests.slo.helpers import T0, config, result
from tests.store.helpers import eventually, pass_done

HOUR = 3600
ENDPOINTS = ("a", "b", "c", "d", "e", "f")
SCAN = re.compile(r"\bFROM results WHERE (id < \d+ AND )?ts >=")  # raw.recent_rows: a read of the unpacked
# rows (by the ids the writer listed and two id ranges in one statement, store/recent_ids.py; or a scan)


def _config() -> Config:
    shop = [
        {"name": "avail", "sli": "availability", "objective": 99, "window": "30d"},
        {"name": "fast", "sli": "latency", "threshold": "300ms", "objective": 95, "window": "7d"},
        {"name": "minutes", "sli": "availability", "objective": 99, "budgeting": "timeslices",
         "window": {"calendar": "month", "timezone": "Europe/Berlin"}},
        {"name": "journey", "objective": 99,
         "composite": {"method": "worst", "members": [{"slo": "avail"}, {"slo": "fast"}]}},
    ]  # fmt: skip
    api = [
        {"name": "avail", "sli": "availability", "objective": 99.5, "window": "7d"},
        {"name": "slow", "sli": "latency", "threshold": "250ms", "objective": 90, "window": "30d"},  # a rollup bucket
        {"name": "slices", "sli": "availability", "objective": 95, "budgeting": "timeslices", "window": "1d"},
    ]
    ops = [{"name": "avail", "sli": "availability", "objective": 90, "window": "1d"}]
    maintenance = [
        {"name": "raw", "endpoints": ["b"], "start": "2026-09-24T09:00:00Z", "end": "2026-09-24T10:00:00Z"},
        {"name": "packed", "consumers": ["api"], "start": "2026-09-23T20:00:00Z", "end": "2026-09-23T22:30:00Z"},
        {"name": "rollups", "endpoints": ["e"], "start": "2026-09-22T03:00:00Z", "end": "2026-09-22T05:00:00Z"},
    ]
    consumers = [
        {"name": "shop", "endpoints": ["a", "b", "c"], "slos": shop},
        {"name": "api", "endpoints": ["b", "c", "d", "e"], "slos": api},
        {"name": "ops", "endpoints": ["e", "f"], "slos": ops},
    ]
    return config(consumers, ENDPOINTS, maintenance=maintenance)


CONFIG = _config()  # built here, off the event loop: a calendar window loads its time zone from disk


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    """Three days of results on a..f: rollups only before the last 24 h, packed blocks up to 6 h ago,
    unpacked rows in `results` since; some fail, some are slow, some are retried (not final)."""
    retention = RetentionConfig(raw=24 * HOUR, pack_after=6 * HOUR)
    store = Store(str(tmp_path / "slo.db"), clock=clock, retention=retention, batch_interval=0.01, close_timeout=2.0)
    await store.start()
    for i in range(3 * 24 * 80):
        clock.advance(45)
        k = i * 7919
        endpoint = ENDPOINTS[k % len(ENDPOINTS)]
        store.record(result(clock.time(), ok=k % 13 != 0, endpoint=endpoint, duration=(k % 7) * 0.06))
        if k % 17 == 0:
            store.record(result(clock.time() - 1, ok=False, endpoint=endpoint, final=False))
    await store.flush()
    clock.advance(301)  # a pack pass is due (every `rollup_interval`) after the last result was written
    cutoff = block_of(clock.time() - 6 * HOUR)
    await eventually(lambda: pass_done(store.path) and _unpacked_since(store.path) >= cutoff)
    await store.prune()
    yield store
    await store.close()


def _unpacked_since(path: str) -> float:
    conn = sqlite3.connect(path)
    try:
        return float(conn.execute("SELECT coalesce(min(ts), 1e18) FROM results").fetchone()[0])
    finally:
        conn.close()


def _by_start(rows: list[CoarseRow]) -> dict[int, tuple[int, ...]]:
    """Coarse rows summed per cell (a rebuild gives one rollup row per endpoint and hour)."""
    cells: dict[int, tuple[int, ...]] = {}
    for start, *counts in rows:
        cells[start] = tuple(a + b for a, b in zip(cells.get(start, (0,) * len(counts)), counts, strict=True))
    return {start: counts for start, counts in cells.items() if any(counts)}


def _scans(statements: list[str]) -> int:
    return sum(1 for sql in statements if SCAN.search(sql))


def _traced(fn: Callable[[Database], Any], statements: list[str]) -> Callable[[Database], Any]:
    def run(db: Database) -> Any:
        conn: sqlite3.Connection = db.conn
        conn.set_trace_callback(statements.append)
        try:
            return fn(db)
        finally:
            conn.set_trace_callback(None)

    return run


def _jobs(engine: Engine, defs: list[SloDef]) -> list[Job]:
    return [(d, engine.ledgers[d.fingerprint], engine.rules_for(d.fingerprint)) for d in defs]


async def test_a_group_gives_the_cells_of_one_slo_at_a_time_with_one_scan(store: Store, clock: FakeClock) -> None:
    kept = await store.read(
        lambda db: [db.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("results", "result_blocks")]
    )
    assert kept[0] > 0 and kept[1] > 0  # unpacked rows and packed blocks alike
    engine = Engine(CONFIG, clock.time())
    defs = [engine.definition(fp) for fp in sorted(set(engine.ledgers) - set(engine.composites))]
    assert len(defs) == 7
    jobs = _jobs(engine, defs)
    until = clock.time() - 30
    alone: list[str] = []
    together: list[str] = []
    expected: list[Cells] = await store.read(
        _traced(lambda db: [rebuild(db, *job, until=until) for job in jobs], alone)
    )
    got = await store.read(_traced(lambda db: rebuild_group(db, jobs, until), together))
    assert got == expected
    assert (_scans(alone), _scans(together)) == (len(jobs), 1)
    coarse = [row for _, rows in expected for row in rows]
    assert sum(row[3] for row in coarse) > 0  # maintenance excluded something
    assert len({row[0] for row in coarse}) > 48  # rollup hours before the raw rows

    small = groups(defs, limit=4)  # groups of up to 4 endpoints: several reads, the same cells
    assert 1 < len(small) < len(defs)
    assert all(len({e for d in group for e in d.endpoints}) <= 4 for group in small)
    in_groups: list[str] = []
    by_fp: dict[str, Cells] = {}
    for group in small:
        cells = await store.read(_traced(lambda db, g=group: rebuild_group(db, _jobs(engine, g), until), in_groups))
        by_fp.update((d.fingerprint, c) for d, c in zip(group, cells, strict=True))
    assert [by_fp[d.fingerprint] for d in defs] == expected
    assert _scans(in_groups) == len(small)


def _defs(*endpoint_sets: tuple[str, ...]) -> list[SloDef]:
    consumers = [
        {"name": f"c{i}", "endpoints": list(eps), "slos": [{"name": "s", "sli": "availability", "objective": 99}]}
        for i, eps in enumerate(endpoint_sets)
    ]
    engine = Engine(config(consumers, sorted({e for eps in endpoint_sets for e in eps})), T0)
    return list(engine.defs)


def test_groups_bound_the_union_of_endpoints_and_keep_sharing_slos_together() -> None:
    defs = _defs(("a", "b"), ("x", "y"), ("a", "c"), ("b", "c"), ("p", "q", "r", "s", "t"), ("x", "z"))
    formed = groups(defs, limit=3)
    names = [sorted(tuple(sorted(d.endpoints)) for d in group) for group in formed]
    assert names == [
        [("a", "b"), ("a", "c"), ("b", "c")],
        [("p", "q", "r", "s", "t")],  # more than the limit: a group of its own
        [("x", "y"), ("x", "z")],
    ]
    assert sorted(d.fingerprint for g in formed for d in g) == sorted(d.fingerprint for d in defs)
    assert groups([], limit=3) == []
    capped = groups(defs, limit=3, most=2)  # and at most `most` SLOs each: a read's block decoding stays short
    assert [len(g) for g in capped] == [2, 1, 1, 2]


async def test_start_rebuilds_every_slo_from_one_scan_per_group(
    store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    statements: list[str] = []
    await store.read(lambda db: db.conn.set_trace_callback(statements.append))  # the reader thread's connection
    service = SloService(CONFIG, store, clock, refresh_interval=3600, persist_interval=3600)
    seen: list[int] = []  # rebuilt ledgers so far, each time another task gets the loop

    def rebuilt_so_far() -> int:
        return sum(1 for r in caplog.records if "rebuilt from the store" in r.getMessage())

    async def other_task() -> None:
        while True:
            seen.append(rebuilt_so_far())
            await asyncio.sleep(0)

    with caplog.at_level(logging.INFO, logger="slowatch.slo.restore"):
        ticker = asyncio.create_task(other_task())
        await service.start()
        ticker.cancel()
    await store.read(lambda db: db.conn.set_trace_callback(None))
    engine = service.engine
    rebuilt = set(engine.ledgers) - set(engine.composites)
    assert _scans(statements) == 1  # one per SLO before
    assert set(range(len(rebuilt))) <= set(seen)  # the loop ran between the group's ledger loads
    logged = [r.getMessage() for r in caplog.records if "rebuilt from the store" in r.getMessage()]
    assert sorted(m.split("fingerprint=")[1].split()[0] for m in logged) == sorted(rebuilt)
    floors = {engine.ledgers[fp].floor for fp in rebuilt}
    assert len(floors) == 1 and engine.ledgers[next(iter(engine.composites))].floor < min(floors)
    until = floors.pop()
    jobs = _jobs(engine, [engine.definition(fp) for fp in sorted(rebuilt)])
    alone = await store.read(lambda db: [rebuild(db, *job, until=until) for job in jobs])
    for (slo, ledger, _), (fine, coarse) in zip(jobs, alone, strict=True):  # each ledger holds its own cells
        got_fine, got_coarse = ledger.rows()
        assert (sorted(got_fine), _by_start(got_coarse)) == (sorted(fine), _by_start(coarse)), slo.key
    await service.stop()


async def test_slos_beyond_the_group_bound_are_rebuilt_in_more_reads(tmp_path: Path, clock: FakeClock) -> None:
    names = [f"ep-{i:04d}" for i in range(5500)]  # 3,000 + 3,000 endpoints sharing 500: over 5,000 together
    consumers = [
        {"name": "low", "endpoints": names[:3000], "slos": [{"name": "s", "sli": "availability", "objective": 99}]},
        {"name": "high", "endpoints": names[2500:], "slos": [{"name": "s", "sli": "availability", "objective": 99}]},
        {"name": "few", "endpoints": names[:10], "slos": [{"name": "s", "sli": "availability", "objective": 99}]},
    ]
    cfg = await asyncio.to_thread(config, consumers, names)  # 5,500 endpoints: off the loop
    store = Store(str(tmp_path / "big.db"), clock=clock, retention=RetentionConfig(), batch_interval=0.01)
    await store.start()
    for name in (names[0], names[2999], names[5499]):
        store.record(result(clock.time() - 60, endpoint=name))
    statements: list[str] = []
    await store.read(lambda db: db.conn.set_trace_callback(statements.append))
    service = SloService(cfg, store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    await store.read(lambda db: db.conn.set_trace_callback(None))
    assert _scans(statements) == 2  # {low, few}, {high}
    totals = {(s.consumer, s.total) for s in service.refresh().slos}
    assert totals == {("low", 2), ("high", 2), ("few", 1)}
    await service.stop()
    await store.close()


async def test_a_young_database_is_rebuilt_from_its_raw_rows_to_the_second(tmp_path: Path) -> None:
    """Raw results starting mid-hour (a database younger than an hour): the rebuild replays that hour's rows,
    so a maintenance window inside it is excluded to the second, and rows the rollup has not folded yet count.
    (Before session 9 that hour came from its rollup: the window, touching neither end of the hour, was not
    excluded, and the rows after the last fold were lost.)"""
    hour = int(T0) // HOUR * HOUR + HOUR  # 13:00 UTC
    iso = "%Y-%m-%dT%H:%M:%SZ"
    window = {"name": "deploy", "endpoints": ["a"], "start": time.strftime(iso, time.gmtime(hour + 20 * 60)),
              "end": time.strftime(iso, time.gmtime(hour + 30 * 60))}  # fmt: skip
    slos = [{"name": "avail", "sli": "availability", "objective": 99, "window": "7d"}]
    cfg = config([{"name": "shop", "endpoints": ["a", "b"], "slos": slos}], maintenance=[window])
    clock = FakeClock(hour + 15 * 60)
    store = Store(str(tmp_path / "young.db"), clock=clock, retention=RetentionConfig(), batch_interval=0.01,
                  close_timeout=2.0)  # fmt: skip
    await store.start()
    try:
        sent = {"a": 0, "b": 0}
        in_window = 0
        for i in range(70):  # 13:15 .. 13:49:30, every 30 s
            ts = clock.time()
            for endpoint in ("a", "b"):
                store.record(result(ts, ok=i % 9 != 0, endpoint=endpoint))
                sent[endpoint] += 1
            in_window += hour + 20 * 60 <= ts < hour + 30 * 60
            if i == 50:
                await store.flush()  # folded up to here: the rollup of 13:00 holds 51 rows per endpoint
            clock.advance(30)
        await store.flush(fold=False)
        engine = Engine(cfg, clock.time())
        (fp,) = engine.ledgers
        _, coarse = await store.read(
            lambda db: rebuild(db, engine.definition(fp), engine.ledgers[fp], engine.rules_for(fp), clock.time())
        )
    finally:
        await store.close()
    total = sum(row[2] for row in coarse)
    excluded = sum(row[3] for row in coarse)
    assert excluded == in_window == 20
    assert total + excluded == sent["a"] + sent["b"] == 140

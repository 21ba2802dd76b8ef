"""After a kill -9 at any moment, a restart's SLO counts equal the stored final results in each SLO's scope.

A kill -9 leaves the database's committed state (see test_exported_counters.py): here a consistent copy
of it is taken at chosen moments (before any save, with results committed above the last save's
watermark, with a save queued but not committed, with results recorded but not committed), a new
SloService starts on the copy (the catch-up above the watermark) and stops cleanly (the final save);
its counters and coarse cells must then equal what the copy's final results say, maintenance excluded.
Restarted services run on and are killed again, so kills also hit a restart that has not saved yet.
tests/e2e/test_crash_safety.py does the same with the real daemon and real kill -9s at random moments.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from pathlib import Path

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.slo.definitions import compile_config
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.slo.helpers import config, result
from tests.slo.restarts import MakeStore, kill

THRESHOLD = 0.3
MAINTENANCE = "c"


def crash_config(fast_window: str = "1d") -> Config:
    app = [
        {"name": "avail", "sli": "availability", "objective": 99, "window": "1h"},
        {"name": "fast", "sli": "latency", "threshold": f"{THRESHOLD * 1000:g}ms", "objective": 95,
         "window": fast_window},
    ]  # fmt: skip
    forever = {"name": "forever", "endpoints": [MAINTENANCE], "start": "2000-01-01T00:00:00Z",
               "end": "2100-01-01T00:00:00Z"}  # fmt: skip
    consumers = [
        {"name": "app", "endpoints": ["a", "b", "c"], "slos": app},
        {"name": "batch", "endpoints": ["d"], "slos": [{"name": "avail", "sli": "availability", "objective": 99.5,
                                                        "window": "7d"}]},
    ]  # fmt: skip
    return config(consumers, endpoints=("a", "b", "c", "d"), maintenance=[forever])


async def start(make_store: MakeStore, db: Path, clock: FakeClock) -> tuple[Store, SloService]:
    store = make_store(db)
    await store.start()
    service = SloService(crash_config(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    return store, service


async def feed(service: SloService, store: Store, clock: FakeClock, seconds: int) -> None:
    """A result of every endpoint every 5 s (some failing, some slow, some retried: a non-final attempt)."""
    for _ in range(seconds // 5):
        clock.advance(5)
        t = int(clock.time())
        for i, ep in enumerate("abcd"):
            if (t // 5 + i) % 4 == 0:
                attempt = result(clock.time(), ok=False, endpoint=ep, final=False)
                store.record(attempt)
                service.observe(attempt)
            r = result(clock.time(), ok=(t // 5 + i) % 7 != 0, endpoint=ep, duration=0.5 if (t // 5) % 3 else 0.1)
            store.record(r)
            service.observe(r)


def stored(db: sqlite3.Connection, endpoints: tuple[str, ...], threshold: float | None) -> tuple[int, int, int]:
    """(events, good, excluded) of the final results of `endpoints` in `db`."""
    marks = ", ".join("?" for _ in endpoints)
    good_sql = "outcome = 'success'" + ("" if threshold is None else f" AND duration <= {threshold!r}")
    sql = (
        f"SELECT coalesce(sum(endpoint != '{MAINTENANCE}'), 0), "
        f"coalesce(sum(endpoint != '{MAINTENANCE}' AND {good_sql}), 0), "
        f"coalesce(sum(endpoint = '{MAINTENANCE}'), 0) FROM results WHERE final = 1 AND endpoint IN ({marks})"
    )
    events, good, excluded = db.execute(sql, endpoints).fetchone()
    return int(events), int(good), int(excluded)


async def restart_counts_what_is_stored(make_store: MakeStore, copy: Path, clock: FakeClock, what: str) -> None:
    """A clean run on the killed database `copy` (catch-up, then the final save): its SLO state counts exactly
    the stored final results."""
    store, service = await start(make_store, copy, clock)
    await service.stop()
    await store.close()
    db = sqlite3.connect(copy)
    try:
        finals = db.execute("SELECT count(*) FROM results WHERE final = 1").fetchone()[0]
        assert finals > 0, what
        counters = {(c, s): (e, g) for c, s, e, g in db.execute("SELECT consumer, slo, events, good FROM slo_counters")}
        cells = {
            fp: (t, g, x)
            for fp, t, g, x in db.execute(
                "SELECT fingerprint, sum(total), sum(good), sum(excluded) FROM slo_cells WHERE layer = 'c' GROUP BY 1"
            )
        }
        for slo in compile_config(crash_config()):
            events, good, excluded = stored(db, slo.endpoints, slo.threshold)
            assert counters[slo.key] == (events, good), (what, slo.key, finals)
            assert cells[slo.fingerprint] == (events, good, excluded), (what, slo.key, finals)
    finally:
        db.close()


async def test_a_restart_after_a_kill_at_any_moment_counts_exactly_the_stored_results(
    make_store: MakeStore, clock: FakeClock, tmp_path: Path
) -> None:
    live = tmp_path / "live.db"
    store, service = await start(make_store, live, clock)
    moments: list[tuple[str, Path]] = []

    def killed(what: str) -> None:
        moments.append((what, kill(live, tmp_path / f"kill{len(moments)}.db")))

    await feed(service, store, clock, 60)
    await store.flush(fold=False)
    killed("results committed, no save yet")
    service.persist()
    await store.flush(fold=False)
    await feed(service, store, clock, 40)
    await store.flush(fold=False)
    killed("results committed above the saved watermark")
    await feed(service, store, clock, 30)
    service.persist()  # queued with results observed but not committed
    killed("a save queued, not committed; results recorded, not committed")
    await store.flush(fold=False)
    killed("that save and its results committed")
    await feed(service, store, clock, 20)
    killed("results recorded after the save, not committed")
    await service.stop()
    await store.close()

    for what, copy in moments:  # each on its own copy: a second restart must not see the first one's save
        await restart_counts_what_is_stored(make_store, kill(copy, tmp_path / "restart.db"), clock, what)

    # Kills of a restarted daemon: before its first save (a second catch-up on top of the first), and after it.
    again = kill(moments[1][1], tmp_path / "again.db")
    store, service = await start(make_store, again, clock)  # the catch-up of the killed run's last 40 s
    await feed(service, store, clock, 30)
    await store.flush(fold=False)
    second = kill(again, tmp_path / "second.db")
    store2, service2 = await start(make_store, kill(second, tmp_path / "third.db"), clock)
    await feed(service2, store2, clock, 15)
    await store2.flush(fold=False)
    third = kill(tmp_path / "third.db", tmp_path / "third-killed.db")
    await service2.stop()
    await store2.close()
    service.persist()
    await feed(service, store, clock, 10)
    await store.flush(fold=False)
    fourth = kill(again, tmp_path / "fourth.db")
    await service.stop()
    await store.close()
    await restart_counts_what_is_stored(make_store, second, clock, "a restart killed before its first save")
    await restart_counts_what_is_stored(make_store, third, clock, "killed twice before any save since")
    await restart_counts_what_is_stored(make_store, fourth, clock, "a restart killed after its first save")


def without_batch() -> Config:
    """`crash_config` without the consumer `batch` (its SLO over endpoint d): d is still probed and stored."""
    data = crash_config().model_dump(mode="json", exclude_unset=True, by_alias=True)
    data["consumers"] = [c for c in data["consumers"] if c["name"] != "batch"]
    return Config.model_validate(data)


def cells_count_what_is_stored(path: Path, what: str, cfg: Config | None = None) -> None:
    """Each SLO's coarse cells (its budget) count exactly the stored final results of its endpoints."""
    db = sqlite3.connect(path)
    try:
        cells = {
            fp: (t, g, x)
            for fp, t, g, x in db.execute(
                "SELECT fingerprint, sum(total), sum(good), sum(excluded) FROM slo_cells WHERE layer = 'c' GROUP BY 1"
            )
        }
        for slo in compile_config(cfg or crash_config()):
            assert cells[slo.fingerprint] == stored(db, slo.endpoints, slo.threshold), (what, slo.key)
    finally:
        db.close()


async def test_a_save_during_the_rebuild_of_an_slo_added_back_does_not_vouch_for_its_stale_cells(
    make_store: MakeStore, clock: FakeClock, tmp_path: Path
) -> None:
    """An SLO removed (by a reload), its endpoint probed meanwhile, then added back: the reload rebuilds it from
    raw history, and a periodic save that lands while that rebuild reads (before its cells are saved) recorded
    it among the fingerprints the watermark holds for. A kill -9 then: the restart loaded its stale cells, which
    miss every result stored while it was away."""
    live = tmp_path / "live.db"
    store, service = await start(make_store, live, clock)
    await feed(service, store, clock, 30)
    await service.reload(without_batch())
    await feed(service, store, clock, 60)  # d's results, counted by no SLO
    service.persist()
    await store.flush(fold=False)

    reload = asyncio.create_task(service.reload(crash_config()))
    batch_fp = next(s.fingerprint for s in compile_config(crash_config()) if s.consumer == "batch")
    while batch_fp not in service.engine.ledgers or service.engine.ledgers[batch_fp].floor == -math.inf:
        await asyncio.sleep(0)  # until its rebuild has started (it flushes, then reads the store)
    service.persist()  # the periodic save, while the rebuild reads
    await reload
    await store.flush(fold=False)
    killed = kill(live, tmp_path / "killed.db")  # before the save that carries the rebuilt cells
    await service.stop()
    await store.close()

    store, service = await start(make_store, killed, clock)
    await service.stop()
    await store.close()
    cells_count_what_is_stored(killed, "restart after a kill before the re-added SLO's rebuilt cells were saved")


async def test_a_periodic_save_while_a_resized_slo_loads_its_cells_does_not_overwrite_them(
    make_store: MakeStore, clock: FakeClock, tmp_path: Path
) -> None:
    """A reload that changes an SLO's window gives it an empty ledger that then loads its saved cells. A periodic
    save before that read (a slow reader: a big store, a report being read) wrote the live results counted
    meanwhile over the saved cells of the same hours, and the load then read those instead of the saved ones."""
    live = tmp_path / "live.db"
    store, service = await start(make_store, live, clock)
    await feed(service, store, clock, 60)
    service.persist()
    await store.flush(fold=False)

    reader_free = threading.Event()
    busy = asyncio.ensure_future(store.read(lambda db: reader_free.wait(10)))  # the reader is busy
    old = service.engine
    reload = asyncio.create_task(service.reload(crash_config(fast_window="2d")))
    while service.engine is old:
        await asyncio.sleep(0.01)  # swapped: its resized ledger waits for the reader
    assert service.engine.resized
    await feed(service, store, clock, 20)  # live results in the resized ledger
    service.persist_due()
    await store.flush(fold=False)
    reader_free.set()
    await busy
    await reload
    await service.stop()
    await store.close()
    cells_count_what_is_stored(live, "a save during a resized SLO's load", crash_config(fast_window="2d"))

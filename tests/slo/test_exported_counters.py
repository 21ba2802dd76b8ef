"""The exported SLO counters are the ones a restart would restore: never above what the database holds.

At any moment the database's committed state is what a kill -9 leaves behind (the store commits raw
results every `batch_interval`, the SLO state every `persist_interval`). Here a consistent copy of it is
taken at several moments, a second SloService starts on the copy, and every counter it restores must be
at least the one the first service exported then: Prometheus takes any drop for a counter reset.

Every kind of SLO is in it: availability, latency, timeslices (their counters count probes) and a
composite (its counters count final slices, and a restart restores them from the saved counters only:
counting results once they are committed would not be enough for it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import Snapshot
from slowatch.store import Store
from tests.slo.helpers import config, result
from tests.slo.restarts import MakeStore

Counters = dict[tuple[str, str], tuple[int, int]]


def journey() -> Config:
    slos = [
        {"name": "avail", "sli": "availability", "objective": 99, "window": "30d"},
        {"name": "fast", "sli": "latency", "threshold": "300ms", "objective": 95, "window": "7d"},
        {"name": "minutes", "sli": "availability", "objective": 99, "budgeting": "timeslices", "window": "7d"},
        {"name": "journey", "objective": 95, "window": "7d",
         "composite": {"method": "weighted", "members": [{"slo": "avail"}, {"slo": "fast"}]}},
    ]  # fmt: skip
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": slos}])


def counters(snap: Snapshot) -> Counters:
    return {(s.consumer, s.slo): (s.events_total, s.good_events_total) for s in snap.slos}


async def restored(make_store: MakeStore, db: Path, copy: Path, clock: FakeClock) -> Counters:
    """What a restart on the database's committed state now restores (a kill -9 leaves exactly that)."""
    copy.unlink(missing_ok=True)
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    store = make_store(copy)
    await store.start()
    service = SloService(journey(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    out = counters(service.snapshot)
    await service.stop()
    await store.close()
    return out


async def feed(service: SloService, store: Store, clock: FakeClock, minutes: int) -> None:
    """Results of a and b every 20 s (some failing, some slow), refreshing every minute as the daemon does."""
    for _ in range(minutes * 3):
        clock.advance(20)
        t = int(clock.time())
        for ep in "ab":
            r = result(clock.time(), ok=(t // 20) % 7 != 0, endpoint=ep, duration=0.5 if (t // 20) % 5 == 0 else 0.1)
            store.record(r)
            service.observe(r)
        if t % 60 < 20:
            service.refresh()


async def test_every_exported_counter_is_at_most_what_a_restart_restores(
    make_store: MakeStore, clock: FakeClock, tmp_path: Path
) -> None:
    db, copy = tmp_path / "slo.db", tmp_path / "copy.db"
    store = make_store(db)
    await store.start()
    service = SloService(journey(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    last: Counters = {}
    checks = 0

    async def check() -> None:
        nonlocal last, checks
        exported = counters(service.refresh())
        assert all(exported[k] >= v for k, v in last.items()), (last, exported)  # monotonic while running
        back = await restored(make_store, db, copy, clock)
        dips = {k: (v, back[k]) for k, v in exported.items() if back[k][0] < v[0] or back[k][1] < v[1]}
        assert not dips, f"exported (before) above restored (after): {dips}"
        last, checks = exported, checks + 1

    await feed(service, store, clock, 10)
    await check()  # nothing committed yet: the counters the start restored (zero)
    service.persist()
    await store.flush(fold=False)
    await check()  # saved and committed: exported
    await feed(service, store, clock, 7)  # more results and final composite slices, none committed
    await check()
    await store.flush(fold=False)  # the raw results committed, the composite's new slices not saved
    await check()
    service.persist()  # a save queued, not committed
    await feed(service, store, clock, 3)
    await check()
    await store.flush(fold=False)
    await check()
    assert last[("shop", "journey")][0] > 0 and last[("shop", "avail")][0] > 0
    live = {key: (c[0], c[1]) for key, c in service.engine.counters.items()}
    await service.stop()  # the final save: everything counted is exported
    assert counters(service.refresh()) == live
    assert checks == 6


async def test_a_save_the_store_drops_is_never_exported(
    make_store: MakeStore, clock: FakeClock, tmp_path: Path
) -> None:
    store = make_store(tmp_path / "slo.db")
    await store.start()
    service = SloService(journey(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    await feed(service, store, clock, 3)

    def broken(db: object) -> None:
        raise RuntimeError("a bug in a write that commits with the save")

    service.persist(broken)  # the store drops the whole op (logged, counted in `rejected`)
    await store.flush(fold=False)
    assert store.rejected == 1
    assert counters(service.refresh())[("shop", "avail")] == (0, 0)
    await feed(service, store, clock, 1)
    service.persist()
    await store.flush(fold=False)
    assert counters(service.refresh())[("shop", "avail")] == tuple(service.engine.counters[("shop", "avail")])
    await service.stop()

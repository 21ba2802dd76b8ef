"""A reload rolled back after the SLO service applied it (a later step of the daemon's switch failed, reload.py):
the SLOs the rejected config removed are the running config's, so they carry on as if it had never been tried:
counters not reset (no dip to 0 in /metrics, no reset for Prometheus, rows kept in slo_counters), ledgers and
composites not rebuilt, and the results that arrived while they were out counted. The oracle is a service on
another database fed the same results that never reloaded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.models import ProbeResult
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import SloStatus
from slowatch.store import Store
from tests.slo.helpers import config, result
from tests.slo.restarts import MakeStore

AVAIL = {"sli": "availability", "objective": 99}
KEEP = {"name": "keep", "endpoints": ["a"], **AVAIL}
TWIN = {"name": "twin", "endpoints": ["a"], **AVAIL, "objective": 95}  # keep's ledger: only its counter goes
GONE = {"name": "gone", "endpoints": ["b"], **AVAIL}
SLICED = {"name": "sliced", "endpoints": ["b"], **AVAIL, "budgeting": "timeslices"}
SERIAL = {"method": "serial", "members": [{"slo": "keep"}, {"slo": "gone"}]}
JOURNEY = {"name": "journey", "objective": 99, "composite": SERIAL}


def shop(*slos: dict[str, Any]) -> Config:
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": list(slos)}])


RUNNING = shop(KEEP, TWIN, GONE, SLICED, JOURNEY)
REJECTED = shop(KEEP)


def stored(db: Path) -> dict[tuple[str, str], tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        return {(c, s): (e, g) for c, s, e, g in conn.execute("SELECT consumer, slo, events, good FROM slo_counters")}


def by_key(service: SloService) -> dict[tuple[str, str], SloStatus]:
    return {(s.consumer, s.slo): s for s in service.snapshot.slos}


def figures(s: SloStatus) -> tuple[object, ...]:
    return s.good, s.total, s.good_events, s.total_events, s.windows, s.events_total, s.good_events_total


async def test_a_rolled_back_reload_keeps_the_slos_it_removed(
    tmp_path: Path, clock: FakeClock, make_store: MakeStore
) -> None:
    services: list[tuple[SloService, Store]] = []
    for name in ("rolled.db", "reference.db"):
        store = make_store(tmp_path / name)
        await store.start()
        service = SloService(RUNNING, store, clock, refresh_interval=3600, persist_interval=3600)
        await service.start()
        services.append((service, store))
    (rolled, _), (reference, _) = services

    async def minutes(n: int) -> None:
        for m in range(n):
            clock.advance(60)
            for r in (result(clock.time(), m % 7 != 0, "a"), result(clock.time() + 1, m % 3 != 0, "b")):
                for service, store in services:
                    store.record(r)
                    service.observe(r)
        for service, store in services:
            service.persist()
            await store.flush()
            service.refresh()

    await minutes(60)
    before = by_key(rolled)[("shop", "gone")].events_total
    assert before == 60

    await rolled.reload(REJECTED)  # what the daemon's switch does first; then a later step fails:
    assert set(rolled.engine.counters) == {("shop", "keep")}
    await minutes(5)  # (results go on arriving while the rest of the switch runs)
    await rolled.reload(RUNNING, rollback=True)  # the switch back to the running config (reload.py)
    rolled.refresh()
    assert by_key(rolled)[("shop", "gone")].events_total == before  # exported at once, no dip to (0, 0)
    await minutes(5)

    want = {k: figures(s) for k, s in by_key(reference).items()}
    assert {k: figures(s) for k, s in by_key(rolled).items()} == want
    assert rolled.engine.counters == reference.engine.counters
    assert rolled.engine.counters[("shop", "gone")] == [70, 46]
    assert stored(tmp_path / "rolled.db") == stored(tmp_path / "reference.db")
    for service, _ in services:
        await service.stop()


async def test_a_reload_that_went_through_forgets_what_it_removed(
    tmp_path: Path, clock: FakeClock, make_store: MakeStore
) -> None:
    store = make_store(tmp_path / "slo.db")
    await store.start()
    service = SloService(RUNNING, store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    clock.advance(60)
    r: ProbeResult = result(clock.time(), True, "b")
    store.record(r)
    service.observe(r)
    await service.reload(REJECTED)
    service.applied()  # the daemon switched everything
    service.observe(result(clock.time() + 1, True, "b"))
    await service.reload(RUNNING, rollback=True)  # (no rollback left to do: as an SLO added back)
    assert service.engine.counters[("shop", "gone")] == [0, 0]
    await service.stop()

"""The SLO counters of SLOs a reload removed are forgotten, in memory and in `slo_counters`: with a consumer
added and removed by every reload (tenants, benchmarks/soak_days.py) both kept one entry per SLO ever
configured, the saved and exported copies too. An SLO added back starts from 0 whether it came back by a
reload or a restart (Prometheus reads that as a counter reset)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.slo.service import SloService
from tests.slo.helpers import config, result
from tests.slo.restarts import MakeStore


def tenants(*names: str) -> Config:
    consumers: list[dict[str, Any]] = [
        {"name": n, "endpoints": ["a"], "slos": [{"name": "avail", "sli": "availability", "objective": 99}]}
        for n in ("core", *names)
    ]
    return config(consumers)


def stored(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return {(c, s) for c, s in conn.execute("SELECT consumer, slo FROM slo_counters")}


async def test_counters_of_removed_slos_are_forgotten(tmp_path: Path, clock: FakeClock, make_store: MakeStore) -> None:
    db = tmp_path / "slo.db"
    store = make_store(db)
    await store.start()
    service = SloService(tenants("t1"), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    for gen in range(2, 6):  # every reload swaps the tenant for a new one
        clock.advance(60)
        r = result(clock.time())
        store.record(r)
        service.observe(r)
        service.persist()
        await store.flush()
        await service.reload(tenants(f"t{gen}"))
        service.persist()
        await store.flush()
        want = {("core", "avail"), (f"t{gen}", "avail")}
        assert set(service.engine.counters) == want
        assert stored(db) == want
        assert set(service._saved_counters) <= want and set(service._exported.values) <= want
    assert service.engine.counters[("core", "avail")] == [4, 4]  # (what stays keeps counting)

    await service.reload(tenants("t5", "t1"))  # t1 back by a reload: from 0, as after a restart
    assert service.engine.counters[("t1", "avail")] == [0, 0]
    await service.stop()


async def test_counters_of_slos_gone_while_stopped_go_at_start(
    tmp_path: Path, clock: FakeClock, make_store: MakeStore
) -> None:
    db = tmp_path / "slo.db"
    store = make_store(db)
    await store.start()
    service = SloService(tenants("t1"), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    clock.advance(60)
    r = result(clock.time())
    store.record(r)
    service.observe(r)
    await service.stop()
    await store.close()
    assert stored(db) == {("core", "avail"), ("t1", "avail")}

    store = make_store(db)
    await store.start()
    service = SloService(tenants(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    service.persist()
    await store.flush()
    assert stored(db) == {("core", "avail")}
    assert service.engine.counters[("core", "avail")] == [1, 1]
    await service.stop()

"""SloService while the store's filesystem is full: saves are held, not piled up, and nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.slo.helpers import T0
from tests.slo.test_service import essentials, run, shop, stream
from tests.store.helpers import eventually
from tests.support.fulldisk import tmpfs


def make(path: Path, clock: FakeClock) -> Store:
    return Store(str(path), clock=clock, retention=RetentionConfig(), batch_interval=0.01, max_backoff=0.05,
                 close_timeout=5.0)  # fmt: skip


async def test_saves_during_a_full_disk_are_held_not_queued_and_the_newest_state_lands(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    with tmpfs(tmp_path / "disk") as disk:
        store = make(disk.root / "slo.db", clock)
        await store.start()
        service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=0.01)
        try:
            await service.start()
            await run(service, store, stream(clock, 200))
            await asyncio.sleep(0.05)
            await store.flush()

            disk.fill()
            results = stream(clock, 300, seed=5)
            await run(service, store, results)
            await eventually(lambda: store.write_errors >= 3)
            await asyncio.sleep(0.5)  # ~50 persist ticks with the disk full
            assert not store.healthy
            assert store.pending - len(results) <= 2  # results plus at most two saves (was one per tick)
            assert service.saves_held >= 10

            disk.free()
            await asyncio.wait_for(store.flush(), 10.0)
            await asyncio.sleep(0.05)  # a tick after the writer took the held save: a new one goes out
            await asyncio.wait_for(store.flush(), 10.0)
            assert service.saves_held == 0
            before = service.refresh()
            await service.stop()
            await store.close()

            store = make(disk.root / "slo.db", clock)
            await store.start()
            service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
            await service.start()
            assert essentials(service.refresh()) == essentials(before)
        finally:
            await service.stop()
            await store.close()

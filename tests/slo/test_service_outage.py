"""SloService while the store's filesystem is full: saves are held, not piled up, and nothing is lost."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

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


def resumed(caplog: pytest.LogCaptureFixture) -> int | None:
    """`held=` of the first "state saves resumed" record SloService.persist_due logged, None before one."""
    for record in caplog.records:
        if found := re.fullmatch(r"slo: state saves resumed: held=(\d+)", record.getMessage()):
            return int(found[1])
    return None


async def test_saves_during_a_full_disk_are_held_not_queued_and_the_newest_state_lands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slowatch.slo.service")
    clock = FakeClock(T0)
    with tmpfs(tmp_path / "disk") as disk:
        store = make(disk.root / "slo.db", clock)
        await store.start()
        service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=0.01)
        try:
            await service.start()
            await run(service, store, stream(clock, 200))
            service.persist()  # the state before the outage, saved
            await store.flush()

            disk.fill()
            results = stream(clock, 300, seed=5)
            await run(service, store, results)
            await eventually(lambda: store.write_errors >= 3)
            await eventually(lambda: service.saves_held >= 10, timeout=30.0)  # ten ticks with the disk full
            assert not store.healthy
            assert store.pending - len(results) <= 2  # results plus at most two saves (was one per tick)

            caplog.clear()
            disk.free()
            await asyncio.wait_for(store.flush(), 10.0)
            # Saves resume: the first tick that finds the held save taken by the writer says so (with the count
            # it held) and queues a new one. Waited for as that event, not as a time: `saves_held` is not 0 at
            # any given moment after it, since a later tick holds again while that new save waits for the
            # writer (10 ms ticks and a loaded writer thread; as designed, service.persist_due).
            await eventually(lambda: resumed(caplog) is not None, timeout=30.0)
            assert (resumed(caplog) or 0) >= 10
            await asyncio.wait_for(store.flush(), 10.0)
            assert store.healthy
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


async def test_a_start_on_a_full_disk_does_not_wait_for_the_store_for_ever(tmp_path: Path) -> None:
    """`slowatch run` restarted on a full disk (after a kill -9, so the saved SLO state was behind) hung in
    its start: the SLO rebuild and the first start's watermark awaited a store flush that never came, so no
    probe ran, no alert could fire, and SIGTERM only logged `stop requested while starting`. Now each waits
    `store_wait` at most, says so, and the start goes on; what it could not write lands once space is back."""
    clock = FakeClock(T0)
    with tmpfs(tmp_path / "disk") as disk:
        store = make(disk.root / "slo.db", clock)
        await store.start()
        try:
            disk.fill()
            store.put_state("filler", "x" * 200_000)
            await eventually(lambda: not store.healthy)
            service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600, store_wait=0.2)
            await asyncio.wait_for(service.start(), 20)  # rebuilt from the store, the watermark not committed
            await run(service, store, stream(clock, 10))
            assert service.refresh().get("shop", "avail") is not None
            assert service.refresh().slos[0].total == 10  # it counts: its alerts can fire
            disk.free()
            await asyncio.wait_for(store.flush(), 20)
            assert store.healthy
            await service.stop()
        finally:
            await store.close()

"""Alert state while the store's filesystem is full: streak writes coalesce, transitions are all kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slowatch.alerting import AlertService
from slowatch.alerting.outbox import load_firing, load_streaks
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.store import Store
from tests.store.helpers import eventually
from tests.support.fulldisk import tmpfs


def flap(service: AlertService, clock: FakeClock, pattern: str) -> None:
    """One result per character of `pattern` ('+' ok, '-' failed) for each of three endpoints."""
    for c in pattern:
        clock.advance(2)
        for name in ("a", "b", "c"):
            outcome = Outcome.SUCCESS if c == "+" else Outcome.TIMEOUT
            service.observe(ProbeResult(name, "http", outcome, clock.time(), 0.01))


async def test_a_flapping_endpoint_during_a_full_disk_holds_one_streak_write_and_loses_no_transition(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with tmpfs(tmp_path / "disk") as disk:
        eps = [{"name": n, "kind": "http", "url": f"http://127.0.0.1:9/{n}"} for n in ("a", "b", "c")]
        config = Config.model_validate({"server": {"database": str(disk.root / "a.db")}, "endpoints": eps})
        store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.01,
                      max_backoff=0.05, close_timeout=5.0)  # fmt: skip
        service = AlertService(config, store, clock)
        await store.start()
        try:
            await service.start()
            flap(service, clock, "+-" * 5)
            await store.flush()

            disk.fill()
            flap(service, clock, "+-" * 200)
            await eventually(lambda: store.write_errors >= 2)
            assert store.pending <= 2  # was 1,200: one write per result
            flap(service, clock, "---")  # each fires: a decision with firing state (never merged)
            assert store.pending <= 2 + 3
            flap(service, clock, "+" + "+-" * 50)  # each resolves, then flaps: one streak write after that
            assert store.pending <= 2 + 3 + 1 + 3 + 1
            flap(service, clock, "---")  # and fires again
            assert store.pending <= 2 + 3 + 1 + 3 + 1 + 3
            fired = {k: f.event.since for k, f in service.book.firing.items()}
            assert set(fired) == {"endpoint:a", "endpoint:b", "endpoint:c"}

            disk.free()
            await asyncio.wait_for(store.flush(), 10.0)
            streaks = {k: (s.fails, s.oks) for k, s in service.health.streaks.items()}
            assert await store.read(load_streaks) == streaks
            assert {row.key: row.event.since for row in await store.read(load_firing)} == fired
        finally:
            await service.stop()
            await store.close()

"""The alert outbox's prune of delivered rows (kept 7 days, the delivery history `slowatch alerts` shows)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slowatch.alerting import AlertService
from slowatch.alerting.service import KEEP_DONE
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.alerting.conftest import make_config

YEAR = 365 * 86400.0


def delivered(now: float, n: int) -> str:
    rows = ", ".join(
        f"('sink', 'e{i}', 'endpoint:a', '{{}}', {now - i * 3600}, 'delivered', 1, {now - i * 3600})" for i in range(n)
    )
    columns = "sink, event_id, alert_key, payload, created, status, attempts, done_at"
    return f"INSERT INTO alert_outbox ({columns}) VALUES {rows}"


async def outbox_rows(store: Store) -> int:
    return int(await store.read(lambda db: db.execute("SELECT count(*) FROM alert_outbox").fetchone()[0]))


async def test_a_wall_clock_a_year_ahead_prunes_no_delivery_history(tmp_path: Path, clock: FakeClock) -> None:
    """The prune took its cutoff from the wall clock: the first one after a step a year ahead deleted the whole
    delivery history of the last 7 days."""
    config = make_config(tmp_path, alerting={"evaluate_interval": "20ms"})
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    await store.start()
    service = AlertService(config, store, clock)
    try:
        store.submit(lambda db: db.execute(delivered(clock.time(), 24)))
        await store.flush()
        assert await outbox_rows(store) == 24
        clock.step(YEAR)
        await service.start()
        for _ in range(500):  # the first evaluation prunes (none ran before: one is due)
            if service._last_prune > 0:
                break
            await asyncio.sleep(0.01)
        assert service._last_prune > 0
        await store.flush()
        assert await outbox_rows(store) == 24
        clock.step(-YEAR)
        clock.advance(KEEP_DONE + 2 * 3600)  # a week later all but the newest ones have expired (one prune an hour)
        for _ in range(500):
            if await outbox_rows(store) < 24:
                break
            await asyncio.sleep(0.01)
        assert await outbox_rows(store) < 24
    finally:
        await service.stop()
        await store.close()

"""A composite SLO that leaves the config for longer than its members' fine rings (3 days) and comes back gets
the same budget whether it comes back by a reload or by a restart (kill -9 included), and keeps it across
later restarts.

Its figures are recomputed from its members' fine cells, which reach back 3 days: the slices older than that
cannot be recomputed (serial and worst need each member's slice) and the time it was away cannot be known, so
it holds no units before then. Before, a restart loaded its cells saved before it left (never dropped: a
composite was always loaded), so its budget counted the slices of 4 days ago that a reload's had not, and a
reload followed by a restart brought them back too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.slo.helpers import config, result
from tests.slo.restarts import MakeStore, kill

DAY = 86400


def journey_config(*, journey: bool, method: str = "serial") -> Config:
    slos: list[dict[str, Any]] = [
        {"name": "pay", "sli": "availability", "objective": 99, "endpoints": ["a"], "window": "7d"},
        {"name": "cart", "sli": "availability", "objective": 99, "endpoints": ["b"], "window": "7d"},
    ]
    if journey:
        composite = {"method": method, "members": [{"slo": "pay"}, {"slo": "cart"}]}
        slos.append({"name": "j", "objective": 90, "window": "7d", "composite": composite})
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": slos}])


async def start(make_store: MakeStore, db: Path, clock: FakeClock, cfg: Config) -> tuple[Store, SloService]:
    store = make_store(db)
    await store.start()
    service = SloService(cfg, store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    return store, service


async def feed(service: SloService, store: Store, clock: FakeClock, seconds: int, step: int, bad_every: int) -> None:
    """A result of a and of b every `step` seconds; every `bad_every`-th of a's fails."""
    for k in range(seconds // step):
        clock.advance(step)
        for ep in "ab":
            r = result(clock.time(), ok=not (ep == "a" and k % bad_every == 0), endpoint=ep)
            store.record(r)
            service.observe(r)
        if k % 30 == 0:
            service.refresh()  # (the composite follows its members at each refresh)
    service.refresh()
    service.persist()
    await store.flush(fold=False)


def journey_figures(service: SloService) -> tuple[int, int, float | None, float | None]:
    status = service.refresh().get("shop", "j")
    assert status is not None
    return status.good, status.total, status.sli, status.data_since


@pytest.mark.parametrize("method", ["serial", "weighted", "worst"])
async def test_a_composite_back_after_days_away_has_the_same_budget_after_a_reload_or_a_restart(
    make_store: MakeStore, clock: FakeClock, tmp_path: Path, method: str
) -> None:
    live = tmp_path / "live.db"
    store, service = await start(make_store, live, clock, journey_config(journey=True, method=method))
    await feed(service, store, clock, 3600, 10, 3)  # an hour of bad slices in the journey
    await service.reload(journey_config(journey=False))
    await feed(service, store, clock, 4 * DAY, 600, 5)  # 4 days away: its members count on
    killed = kill(live, tmp_path / "killed.db")

    # back by a reload
    await service.reload(journey_config(journey=True, method=method))
    reloaded = journey_figures(service)
    assert reloaded[1] > 0
    await service.stop()
    await store.close()

    # back by a restart after a kill -9 (the same moment, the same stored results)
    store, service = await start(make_store, killed, clock, journey_config(journey=True, method=method))
    restarted = journey_figures(service)
    await service.stop()
    await store.close()
    assert restarted == reloaded

    # and a clean restart after the reload, and after that restart, keeps those figures
    for db in (live, killed):
        store, service = await start(make_store, db, clock, journey_config(journey=True, method=method))
        again = journey_figures(service)
        await service.stop()
        await store.close()
        assert again == reloaded, db.name

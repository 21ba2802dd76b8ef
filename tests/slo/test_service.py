"""SloService with a real Store on SQLite: restart safety, reloads, rebuilds from raw history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import ProbeResult
from slowatch.slo.persist import load_all_cells, raw_results
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import SloStatus, Snapshot
from slowatch.store import Store
from tests.slo.helpers import T0, config, result

Make = Callable[[], Store]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def make_store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Make]:
    built: list[Store] = []

    def make() -> Store:
        store = Store(
            str(tmp_path / "slo.db"), clock=clock, retention=RetentionConfig(), batch_interval=0.01, close_timeout=2.0
        )
        built.append(store)
        return store

    yield make
    for store in built:
        await store.close()


def shop(**slo: Any) -> Config:
    slos = [
        {"name": "avail", "sli": "availability", "objective": 99, "window": "30d"},
        {"name": "fast", "sli": "latency", "threshold": "300ms", "objective": 95, "window": "7d"},
        {
            "name": "minutes",
            "sli": "availability",
            "objective": 99,
            "budgeting": "timeslices",
            "window": {"calendar": "month", "timezone": "Europe/Berlin"},
        },
        {"name": "daily", "sli": "availability", "objective": 90, "window": "1d", "endpoints": ["a"]},
    ]
    slos[1].update(slo)
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": slos}])


def stream(clock: FakeClock, n: int, seed: int = 0) -> list[ProbeResult]:
    """n results 45 s apart on a and b, advancing the clock; some fail, some are slow, some retried."""
    out = []
    for i in range(n):
        clock.advance(45)
        k = i * 7919 + seed
        out.append(result(clock.time(), ok=k % 13 != 0, endpoint="ab"[k % 2], duration=(k % 5) * 0.1))
        if k % 17 == 0:
            out.append(result(clock.time() - 1, ok=False, endpoint="a", final=False))
    return out


def essentials(snap: Snapshot) -> list[tuple[Any, ...]]:
    def one(s: SloStatus) -> tuple[Any, ...]:
        windows = tuple((w.window, w.good, w.total, w.burn_rate) for w in s.windows)
        return (s.consumer, s.slo, s.good, s.total, s.excluded_events, s.sli, s.budget_remaining,
                s.burn_rate, s.time_to_exhaustion, s.events_total, s.good_events_total, windows)  # fmt: skip

    return [one(s) for s in snap.slos]


async def run(service: SloService, store: Store, results: list[ProbeResult]) -> None:
    for r in results:
        store.record(r)
        service.observe(r)


async def test_budgets_are_identical_after_a_restart(make_store: Make, clock: FakeClock) -> None:
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    await run(service, store, stream(clock, 5000))  # ~2.6 days
    service.persist()  # a mid-run persist, then more results, then the final persist in stop()
    await run(service, store, stream(clock, 500, seed=3))
    await service.stop()
    before = service.refresh()  # (the counters of the last save, committed by stop(): all of them)
    assert all(s.total > 0 for s in before.slos) and before.slos[0].events_total > 5000
    await store.close()

    store = make_store()
    await store.start()
    restarted = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await restarted.start()
    after = restarted.refresh()
    assert essentials(after) == essentials(before)
    restarted.observe(result(clock.time(), ok=True))
    counters = restarted.refresh().get("shop", "avail")  # exported once saved: what a restart restores
    assert counters is not None and counters.events_total == before.slos[0].events_total
    restarted.persist()
    await store.flush(fold=False)
    counters = restarted.refresh().get("shop", "avail")
    assert counters is not None and counters.events_total == before.slos[0].events_total + 1
    await restarted.stop()


async def test_a_reload_during_the_start_waits_and_every_slo_is_restored(make_store: Make, clock: FakeClock) -> None:
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    await run(service, store, stream(clock, 3000))
    before = service.refresh().get("shop", "avail")
    await service.stop()
    await store.close()

    store = make_store()
    await store.start()
    restarted = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    restoring, go_on = asyncio.Event(), asyncio.Event()
    read = store.read

    async def held_read(fn: Callable[[Any], Any]) -> Any:  # the start's read of the saved cells waits for go_on
        if getattr(fn, "func", None) is load_all_cells:
            restoring.set()
            await go_on.wait()
        return await read(fn)

    store.read = held_read  # type: ignore[method-assign]
    starting = asyncio.create_task(restarted.start())
    await restoring.wait()
    reloading = asyncio.create_task(restarted.reload(shop(objective=90)))  # "avail" keeps its ledger
    await asyncio.wait([reloading], timeout=0.5)  # (it waits for the start to finish: give it time to try)
    go_on.set()
    await asyncio.gather(starting, reloading)
    after = restarted.refresh().get("shop", "avail")
    assert before is not None and after is not None and before.total > 1000
    assert (after.good, after.total) == (before.good, before.total)
    await restarted.stop()


async def test_objective_change_reuses_buckets_and_definition_change_rebuilds_from_raw(
    make_store: Make, clock: FakeClock
) -> None:
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    results = stream(clock, 3000)
    await run(service, store, results)
    before = service.refresh().get("shop", "fast")
    assert before is not None

    await service.reload(shop(objective=90))
    loosened = service.snapshot.get("shop", "fast")
    assert loosened is not None and (loosened.good, loosened.total) == (before.good, before.total)
    assert loosened.fingerprint == before.fingerprint
    assert loosened.budget_remaining == pytest.approx(1 - (1 - before.good / before.total) / 0.1)

    await service.reload(shop(threshold="350ms"))  # what counts as good changed: rebuild from raw
    rebuilt = service.snapshot.get("shop", "fast")
    assert rebuilt is not None and rebuilt.fingerprint != before.fingerprint
    finals = [r for r in results if r.final]
    assert (rebuilt.good, rebuilt.total) == (sum(r.ok and r.duration <= 0.35 for r in finals), len(finals))
    w = rebuilt.window_status("1d")
    assert w is not None and w.total == sum(r.started_at >= clock.time() // 60 * 60 - 86400 for r in finals)
    # live results after the rebuild point still count, once
    clock.advance(60)
    service.observe(result(clock.time(), ok=True, duration=0.3))
    assert service.refresh().get("shop", "fast").total == len(finals) + 1  # type: ignore[union-attr]
    await service.stop()


async def test_rebuild_uses_rollups_beyond_raw_retention(make_store: Make, clock: FakeClock) -> None:
    store = make_store()
    await store.start()
    old = stream(clock, 4 * 24 * 80)  # four days of results
    for r in old:
        store.record(r)
    await store.flush()
    await store.prune()  # raw results older than 48 h are gone; hourly rollups stay
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()  # no persisted cells: every ledger is rebuilt
    snap = service.refresh()
    finals = [r for r in old if r.final]
    avail = snap.get("shop", "avail")
    assert avail is not None and (avail.good, avail.total) == (sum(r.ok for r in finals), len(finals))
    fast = snap.get("shop", "fast")  # 300ms is no rollup bucket bound: raw results only
    # Retention keeps the last 48 h of raw results; a packed block that straddles the cutoff is kept whole
    # until all its rows have expired, so "the raw results" start at the oldest one still stored.
    kept = await store.read(lambda db: raw_results(db, ["a", "b"], 0.0, clock.time()))
    first_kept = min(row[0] for row in kept)
    assert clock.time() - 48 * 3600 - 600 <= first_kept <= clock.time() - 48 * 3600 + 60
    recent = [r for r in finals if r.started_at >= first_kept]
    assert fast is not None and (fast.good, fast.total) == (
        sum(r.ok and r.duration <= 0.3 for r in recent),
        len(recent),
    )
    minutes = snap.get("shop", "minutes")  # timeslices: raw results only
    assert minutes is not None and minutes.total_events == len(
        [r for r in recent if r.started_at >= minutes.window_start]
    )
    await service.reload(shop(threshold="250ms"))  # the le_250ms rollup bucket fits
    fast = service.snapshot.get("shop", "fast")
    assert fast is not None and (fast.good, fast.total) == (
        sum(r.ok and r.duration <= 0.25 for r in finals),
        len(finals),
    )
    await service.stop()


async def test_stop_persists_and_periodic_tasks_run(make_store: Make, clock: FakeClock) -> None:
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=0.01, persist_interval=0.01)
    await service.start()
    service.observe(result(clock.time() + 1))
    clock.advance(5)
    import asyncio

    for _ in range(200):
        await asyncio.sleep(0.01)
        if service.snapshot.taken_at == clock.time():
            break
    assert service.snapshot.get("shop", "avail").total == 1  # type: ignore[union-attr]
    await service.stop()
    rows = await store.read(lambda db: db.conn.execute("SELECT count(*) FROM slo_cells").fetchone()[0])
    assert rows > 0


async def test_growing_a_window_reloads_the_longer_history_from_the_store(make_store: Make, clock: FakeClock) -> None:
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    results = stream(clock, 10 * 24 * 80)  # ten days
    await run(service, store, results[: len(results) // 2])
    service.persist()
    await run(service, store, results[len(results) // 2 :])
    finals = [r for r in results if r.final]
    week = service.refresh().get("shop", "fast")
    assert week is not None and week.total < len(finals)
    await service.reload(shop(window="30d"))
    month = service.snapshot.get("shop", "fast")
    assert month is not None and month.fingerprint == week.fingerprint
    assert (month.good, month.total) == (sum(r.ok and r.duration <= 0.3 for r in finals), len(finals))
    assert month.windows == week.windows  # the alerting windows carried over exactly
    clock.advance(30)
    service.observe(result(clock.time()))
    assert service.refresh().get("shop", "fast").total == len(finals) + 1  # type: ignore[union-attr]
    await service.stop()


async def test_expired_cells_are_pruned_in_the_persist_transaction(make_store: Make, clock: FakeClock) -> None:
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    clock.advance(1)  # results at or before the start-up rebuild point belong to the rebuild
    first = clock.time()
    service.observe(result(first))
    service.persist()
    clock.advance(5 * 86400)
    service.observe(result(clock.time()))
    await service.stop()  # persists, and prunes: over an hour since the last prune

    def cells(db: Any) -> list[tuple[str, int]]:
        coarse = db.conn.execute("SELECT layer, start FROM slo_cells").fetchall()
        return [*coarse, *(("f", start) for (start,) in db.conn.execute("SELECT start FROM slo_fine"))]

    kept = await store.read(cells)
    assert {layer for layer, _ in kept} == {"c", "f"}
    # fine cells are kept per hour: an hour goes once all of it is older than the cutoff
    assert not [start for layer, start in kept if layer == "f" and start + 3600 < clock.time() - 4 * 86400]
    assert [start for layer, start in kept if layer == "c" and start <= first]  # coarse: kept for reports
    assert [start for layer, start in kept if layer == "f" and start >= clock.time() - 3600]


async def test_a_wall_clock_a_year_ahead_prunes_no_saved_cell(make_store: Make, clock: FakeClock) -> None:
    """The prune of the saved SLO state took its cutoffs from the wall clock: a save while it was a year ahead
    deleted every fine cell and every coarse one older than 35 days, so the rolling windows that README says come
    back at the next restart (read from the database) could not."""
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    for _ in range(120):
        clock.advance(60)
        r = result(clock.time(), endpoint="a")
        store.record(r)
        service.observe(r)
    service.persist()
    await store.flush()

    def saved(db: Any) -> tuple[int, int]:
        cells = db.conn.execute("SELECT count(*) FROM slo_cells WHERE layer = 'c'").fetchone()[0]
        return int(cells), int(db.conn.execute("SELECT count(*) FROM slo_fine").fetchone()[0])

    before = await store.read(saved)
    assert before[0] > 0 and before[1] > 0
    clock.step(365 * 86400.0)
    clock.advance(2 * 3600)  # (over an hour: a prune is due)
    await service.stop()  # persists, and prunes
    assert await store.read(saved) == before


async def test_cells_stamped_ahead_are_dropped_by_a_start_behind_them(make_store: Make, clock: FakeClock) -> None:
    """The wall clock a day ahead while the daemon runs and stops; it starts again after the clock stepped
    back. The running daemon's rewind empties such cells; a start left them in slo_cells, out of its
    rings, and once the clock had passed them the next start loaded them: a day-old outage that never
    happened then, counted again (and shown by reports) wherever the daemon had recorded nothing since."""

    async def session(results: int, ok: bool) -> None:
        store = make_store()
        await store.start()
        service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
        await service.start()
        for _ in range(results):
            clock.advance(60)
            r = result(clock.time(), ok=ok, endpoint="a")
            store.record(r)
            service.observe(r)
        await service.stop()
        await store.close()

    await session(120, ok=True)  # two good hours
    clock.step(86400.0)
    await session(120, ok=False)  # two failing hours, stamped a day ahead
    clock.step(-86400.0)
    await session(0, ok=True)  # a start while the clock is behind them: nothing to record

    def after_now(db: Any) -> int:
        cells = db.conn.execute("SELECT count(*) FROM slo_cells WHERE start > ?", (clock.time(),)).fetchone()[0]
        return int(cells) + int(
            db.conn.execute("SELECT count(*) FROM slo_fine WHERE start > ?", (clock.time(),)).fetchone()[0]
        )

    store = make_store()
    await store.start()
    assert await store.read(after_now) == 0
    await store.close()
    clock.advance(2 * 86400.0)  # past the hours stamped ahead, with the daemon stopped through them
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    avail = service.refresh().get("shop", "avail")
    assert avail is not None and (avail.good, avail.total) == (120, 120)
    await service.stop()


async def test_a_start_with_the_clock_far_behind_the_saved_state_drops_none_of_it(
    make_store: Make, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A machine booted before NTP synced (or with a reset RTC) is weeks or years behind its data: the clock
    now is what is wrong, and dropping every cell after it would erase the SLO state of every run before."""
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()
    for _ in range(120):
        clock.advance(60)
        r = result(clock.time(), endpoint="a")
        store.record(r)
        service.observe(r)
    await service.stop()
    await store.close()

    def saved(db: Any) -> int:
        return int(db.conn.execute("SELECT count(*) FROM slo_cells").fetchone()[0]) + int(
            db.conn.execute("SELECT count(*) FROM slo_fine").fetchone()[0]
        )

    store = make_store()
    await store.start()
    before = await store.read(saved)
    await store.close()
    assert before > 0
    clock.step(-30 * 86400.0)
    store = make_store()
    await store.start()
    with caplog.at_level(logging.ERROR, logger="slowatch.store.slo_tables"):
        service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
        await service.start()
        await store.flush(fold=False)
    assert await store.read(saved) >= before
    assert any("is the clock set" in r.getMessage() for r in caplog.records)
    await service.stop()


async def test_a_clock_stepped_back_after_a_rebuild_leaves_the_slos_counting(
    make_store: Make, clock: FakeClock
) -> None:
    """A rebuild from the store (every start on a new or changed SLO, a reload adding one) ignores live results
    stamped at or before its time (`floor`), which the rebuild counted. After NTP stepped the wall clock back an
    hour, every new result was stamped before that time: ignored, so the SLOs counted nothing for an hour and
    an outage then paged no one (a real `slowatch run` on a new database: 12 probes, SLO total 0)."""
    store = make_store()
    await store.start()
    service = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600)
    await service.start()  # a new database: rebuilt from the store, up to now
    clock.advance(30)
    service.refresh()
    clock.step(-3600.0)  # NTP: the clock was an hour fast
    service.refresh()  # (the engine's refresh, every 5 s, sees the step)
    for _ in range(20):
        clock.advance(10)
        r = result(clock.time(), ok=False, endpoint="a")
        store.record(r)
        service.observe(r)
    avail = service.refresh().get("shop", "avail")
    assert avail is not None and (avail.good, avail.total) == (0, 20)
    burn = {w.window: (w.good, w.total) for w in avail.windows}
    assert burn and all(counts == (0, 20) for counts in burn.values())  # the burn windows too: it pages
    await service.stop()

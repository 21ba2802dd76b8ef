"""Budget corrections through SloService on a real SQLite store: exact as a maintenance window, revocable,
restart-safe, with composite SLOs following their members; and the `slowatch correct` command."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from slowatch.cli import main
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import ProbeResult
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import Snapshot
from slowatch.store import Store
from slowatch.store.correction_tables import insert_correction
from tests.slo.helpers import T0, config, result

Make = Callable[[str], Store]
OUTAGE = (T0 + 20 * 3600 + 600, T0 + 21 * 3600 + 1200)  # 1 h 10 min, not aligned to hours


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def shop(maintenance: bool = False) -> Config:
    slos = [
        {"name": "avail", "sli": "availability", "objective": 99, "window": "30d"},
        {"name": "minutes", "sli": "availability", "objective": 99, "budgeting": "timeslices", "window": "7d"},
        {"name": "fast", "sli": "latency", "threshold": "250ms", "objective": 95, "window": "1d", "endpoints": ["a"]},
        {"name": "journey", "objective": 98, "window": "7d",
         "composite": {"method": "serial", "members": [{"slo": "avail"}, {"slo": "minutes"}]}},
    ]  # fmt: skip
    extra: dict[str, Any] = {}
    if maintenance:
        extra["maintenance"] = [{"name": "m", "consumers": ["shop"], "start": iso(OUTAGE[0]), "end": iso(OUTAGE[1])}]
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": slos}], **extra)


def stream(clock: FakeClock, hours: int) -> list[ProbeResult]:
    """Every 30 s on a and b; during OUTAGE endpoint a fails; a few failures elsewhere."""
    out = []
    for i in range(hours * 120):
        clock.advance(30)
        ts = clock.time()
        for k, ep in enumerate("ab"):
            bad = (ep == "a" and OUTAGE[0] <= ts < OUTAGE[1]) or (i * 31 + k) % 97 == 0
            out.append(result(ts + k, ok=not bad, endpoint=ep, duration=0.1 + 0.2 * ((i + k) % 2)))
    return out


def figures(snap: Snapshot) -> list[tuple[Any, ...]]:
    """Everything but the monotonic counters (which a correction does not rewind)."""
    return [
        (s.slo, s.good, s.total, s.good_events, s.total_events, s.excluded_events, s.sli, s.budget_remaining,
         tuple((w.window, w.good, w.total) for w in s.windows))
        for s in snap.slos
    ]  # fmt: skip


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[Make]:
    built: list[Store] = []

    def make(name: str, clock: FakeClock | None = None) -> Store:
        store = Store(str(tmp_path / name), clock=clock or FakeClock(T0), retention=RetentionConfig(),
                      batch_interval=0.01, close_timeout=2.0)  # fmt: skip
        built.append(store)
        return store

    yield make  # type: ignore[misc]
    for store in built:
        await store.close()


async def play(make: Any, name: str, cfg: Config) -> tuple[FakeClock, Store, SloService]:
    clock = FakeClock(T0)
    store = make(name, clock)
    await store.start()
    service = SloService(cfg, store, clock, refresh_interval=3600, persist_interval=3600, corrections_poll=3600)
    await service.start()
    for r in stream(clock, 30):
        store.record(r)
        service.observe(r)
    return clock, store, service


def correct(store_path: str, row: dict[str, Any]) -> int:
    conn = sqlite3.connect(store_path, isolation_level=None)
    try:
        return insert_correction(conn, {"created_at": T0, "author": "test", "revokes": None, **row})
    finally:
        conn.close()


async def test_a_correction_equals_a_maintenance_window_and_a_revocation_takes_it_back(
    make_store: Make, tmp_path: Path
) -> None:
    _, _, planned = await play(make_store, "planned.db", shop(maintenance=True))
    expected = figures(planned.refresh())
    clock, store, service = await play(make_store, "corrected.db", shop())
    burnt = figures(service.refresh())
    assert burnt != expected  # the outage burnt budget (composite included)
    journey = service.snapshot.get("shop", "journey")
    assert journey is not None and journey.good < journey.total

    row = {"action": "correct", "consumer": "shop", "slo": None, "endpoint": None, "start": OUTAGE[0],
           "end": OUTAGE[1], "reason": "the monitor's own network"}  # fmt: skip
    cid = await asyncio.to_thread(correct, store.path, row)
    assert await service.sync_corrections() == 1
    assert figures(service.snapshot) == expected  # every SLO, the composite too, exactly

    await service.stop()  # a restart keeps the corrected figures and does not apply it twice
    await store.close()
    store = make_store("corrected.db", clock)  # type: ignore[call-arg]
    await store.start()
    again = SloService(shop(), store, clock, refresh_interval=3600, persist_interval=3600, corrections_poll=3600)
    await again.start()
    assert figures(again.refresh()) == expected
    assert await again.sync_corrections() == 0

    revoke = {**row, "action": "revoke", "reason": "it was a real outage", "revokes": cid}
    await asyncio.to_thread(correct, store.path, revoke)
    assert await again.sync_corrections() == 1
    assert figures(again.snapshot) == burnt
    await again.stop()


async def test_an_endpoint_correction_only_touches_that_endpoint(make_store: Make) -> None:
    _, store, service = await play(make_store, "ep.db", shop())
    before = service.refresh()
    row = {"action": "correct", "consumer": "shop", "slo": None, "endpoint": "b",
           "start": OUTAGE[0], "end": OUTAGE[1], "reason": "b's planned test"}  # fmt: skip
    await asyncio.to_thread(correct, store.path, row)
    await service.sync_corrections()
    after = service.snapshot
    fast_before, fast_after = before.get("shop", "fast"), after.get("shop", "fast")  # endpoint a only
    assert fast_before is not None and fast_after is not None and fast_before.total == fast_after.total
    avail_before, avail_after = before.get("shop", "avail"), after.get("shop", "avail")
    assert avail_before is not None and avail_after is not None
    # b's results in the 70 minutes, every 30 s: 140 excluded, of which 2 were bad ((i * 31 + 1) % 97 == 0)
    assert (avail_after.excluded_events, avail_before.total_events - avail_after.total_events) == (140, 140)
    assert avail_before.good_events - avail_after.good_events == 138
    await service.stop()


def test_the_correct_command_records_lists_revokes_and_refuses_bad_input(tmp_path: Path, capsys: Any) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    path = tmp_path / "c.yaml"
    path.write_text(
        "server: {database: " + str(tmp_path / "x.db") + "}\n"
        "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:1/'}\n"
        "consumers:\n  - {name: shop, endpoints: [a], slos: [{name: s, sli: availability, objective: 99}]}\n"
    )
    base = ["correct", "--config", str(path)]
    ok = [*base, "--consumer", "shop", "--from", iso(now - 3600), "--to", iso(now - 60), "--reason", "test"]
    assert main(ok) == 0
    assert "recorded correction as #1" in capsys.readouterr().out
    assert main([*base, "--consumer", "shop", "--slo", "nope", "--from", iso(now - 3600), "--to", iso(now + 3600)]) == 2
    err = capsys.readouterr().err
    assert "has no SLO 'nope'" in err and "must end in the past" in err and "a reason is required" in err
    assert (
        main([*base, "--consumer", "shop", "--from", iso(now - 5 * 86400), "--to", iso(now - 60), "--reason", "x"]) == 2
    )
    assert "can only correct the last 2d" in capsys.readouterr().err
    assert main([*base, "--revoke", "1", "--reason", "wrong"]) == 0
    made_then = {"created_at": now - 3 * 86400, "author": "test", "action": "correct", "consumer": "shop",
                 "start": now - 3 * 86400, "end": now - 3 * 86400 + 600, "reason": "recorded 3 days ago"}  # fmt: skip
    old = correct(str(tmp_path / "x.db"), made_then)  # (#3) its raw results are gone: revoking it would do nothing
    assert main([*base, "--revoke", str(old), "--reason", "a real outage"]) == 2
    err = capsys.readouterr().err
    assert f"correction #{old} can no longer be revoked" in err and "retention.raw" in err
    assert main([*base, "--revoke", "1", "--reason", "again"]) == 2
    assert main([*base, "--list"]) == 0
    listed = capsys.readouterr().out
    assert "#1 shop" in listed and "revoked by #2" in listed and "#2 revokes #1 by cli:" in listed
    assert "#3 shop" in listed and "#4" not in listed
    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM corrections")


async def test_a_correction_over_a_maintenance_window_removed_since_never_makes_a_cell_negative(
    make_store: Make,
) -> None:
    """The outage was inside a maintenance window (excluded); a reload then drops the window. Correcting
    the outage replays it with today's rules (counted -> excluded) and takes from cells that never held
    it: the cells never go below 0 nor good above total (before: OverflowError, the correction never applied)."""
    _, store, service = await play(make_store, "dropped.db", shop(maintenance=True))
    planned = figures(service.refresh())
    await service.reload(shop())
    assert figures(service.refresh()) == planned  # a maintenance change does not rebuild the past
    row = {"action": "correct", "consumer": "shop", "slo": None, "endpoint": None,
           "start": OUTAGE[0], "end": OUTAGE[1], "reason": "the monitor's own network"}  # fmt: skip
    await asyncio.to_thread(correct, store.path, row)
    assert await service.sync_corrections() == 1
    after = figures(service.snapshot)
    for slo, good, total, good_ev, total_ev, excluded, sli, *_ in after:
        assert 0 <= good <= total and 0 <= good_ev <= total_ev and excluded >= 0, slo
        assert sli is None or 0.0 <= sli <= 1.0
    await service.stop()

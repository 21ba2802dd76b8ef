"""The real APScheduler, with a probe function that records calls (no network needed here)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import replace

import pytest

from slowatch.config.diff import diff_endpoints
from slowatch.config.endpoints import HttpEndpoint
from slowatch.scheduler import ProbeScheduler, phase_offset


def ep(name: str, interval: float = 1.0, **kw: object) -> HttpEndpoint:
    return HttpEndpoint.model_validate(
        {"name": name, "kind": "http", "url": "http://127.0.0.1:1/", "interval": interval, "timeout": 0.5, **kw}
    )


class Recorder:
    def __init__(self, hold: float = 0.0) -> None:
        self.calls: Counter[str] = Counter()
        self.revisions: dict[str, list[int]] = {}
        self.lags: list[float] = []
        self.skipped: list[str] = []
        self.missed: list[str] = []
        self.hold = hold
        self.active = 0
        self.peak = 0

    async def run(self, endpoint: HttpEndpoint, revision: int) -> None:
        self.calls[endpoint.name] += 1
        self.revisions.setdefault(endpoint.name, []).append(revision)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
        finally:
            self.active -= 1

    def scheduler(self, max_concurrency: int = 10) -> ProbeScheduler:
        return ProbeScheduler(
            self.run,  # type: ignore[arg-type]
            max_concurrency=max_concurrency,
            jitter=0.0,
            observe_lag=self.lags.append,
            on_skipped=self.skipped.append,
            on_missed=self.missed.append,
        )


def test_phase_offset_is_stable_and_spread() -> None:
    offsets = [phase_offset(f"ep-{i}", 60.0) for i in range(2000)]
    assert all(0 <= o < 60 for o in offsets)
    assert phase_offset("ep-1", 60.0) == offsets[1]
    # Spread: every 6-second slice of the interval gets roughly a tenth of the endpoints.
    slices = Counter(int(o // 6) for o in offsets)
    assert min(slices.values()) > 140 and max(slices.values()) < 260


async def test_jobs_run_each_interval_and_lag_is_measured() -> None:
    rec = Recorder()
    sched = rec.scheduler()
    sched.start([ep("a"), ep("b"), ep("disabled", enabled=False)])
    await asyncio.sleep(3.2)
    await sched.stop(grace=1.0)
    assert 2 <= rec.calls["a"] <= 4 and 2 <= rec.calls["b"] <= 4
    assert "disabled" not in rec.calls
    assert len(rec.lags) == sum(rec.calls.values())
    assert max(rec.lags) < 0.25


async def test_overrunning_probe_is_skipped_not_stacked() -> None:
    rec = Recorder(hold=2.5)
    sched = rec.scheduler()
    sched.start([ep("slow")])
    await asyncio.sleep(3.5)
    assert sched.in_flight <= 1
    await sched.stop(grace=0.1)
    assert rec.skipped and set(rec.skipped) == {"slow"}


async def test_update_adds_removes_and_changes() -> None:
    rec = Recorder()
    sched = rec.scheduler()
    sched.start([ep("keep"), ep("drop"), ep("retime")])
    added, removed, changed = sched.update([ep("keep"), ep("retime", interval=2.0), ep("new")])
    assert (added, removed, changed) == (1, 1, 1)
    assert sched.job_count == 3
    await asyncio.sleep(2.2)
    await sched.stop(grace=0.5)
    assert rec.calls["new"] >= 1
    assert "drop" not in rec.calls


async def test_the_probes_of_a_reloads_changes_carry_its_revision() -> None:
    """What a reload adds or edits is probed with the reload's number (ProbeResult.revision), the unchanged
    keep theirs; a scheduler started with revisions (a restarted prober worker) uses them."""
    rec = Recorder()
    sched = rec.scheduler()
    sched.start([ep("keep"), ep("edit"), ep("retime")], {"keep": 2})
    await asyncio.sleep(1.1)
    changes = diff_endpoints(
        [ep("keep"), ep("edit"), ep("retime")],
        [ep("keep"), ep("edit", timeout=0.4), ep("retime", interval=2.0), ep("new")],
    )
    rec.revisions.clear()
    assert sched.apply(replace(changes, revision=7)) == (1, 0, 2)
    await asyncio.sleep(2.2)
    await sched.stop(grace=0.5)
    assert {name: set(r) for name, r in rec.revisions.items()} == {"keep": {2}, "edit": {7}, "retime": {7}, "new": {7}}


async def test_concurrency_bound_holds_and_lag_shows_the_wait() -> None:
    rec = Recorder(hold=0.6)
    sched = rec.scheduler(max_concurrency=2)
    # All six start at once (same phase is impossible to force by name, so start them together).
    sched.start([ep(f"e{i}", interval=30.0) for i in range(6)])
    now = asyncio.get_running_loop().time()
    for i in range(6):
        sched._fire(sched._slots[f"e{i}"], now)
    while sched.in_flight:
        await asyncio.sleep(0.05)
    await sched.stop(grace=1.0)
    assert sum(rec.calls.values()) == 6
    assert rec.peak == 2
    assert sorted(rec.lags)[-1] >= 1.1  # the last two waited for two rounds of 0.6 s


async def test_a_stalled_loop_coalesces_overdue_runs_and_counts_them_missed() -> None:
    rec = Recorder()
    sched = rec.scheduler()
    sched.start([ep("a", interval=1.0)])
    await asyncio.sleep(1.2)
    before = rec.calls["a"]
    time.sleep(3.5)  # the loop is blocked: three or four runs cannot happen
    await asyncio.sleep(1.1)
    await sched.stop(grace=1.0)
    assert rec.calls["a"] - before <= 3  # one catch-up run, then back on the grid
    assert 2 <= len(rec.missed) <= 4
    assert set(rec.missed) == {"a"}


async def test_runs_stay_on_their_grid_with_exact_small_lag() -> None:
    rec = Recorder()
    sched = rec.scheduler()
    sched.start([ep(f"g{i}", interval=1.0) for i in range(20)])
    await asyncio.sleep(3.05)
    await sched.stop(grace=1.0)
    assert all(2 <= rec.calls[f"g{i}"] <= 4 for i in range(20))
    lags = sorted(rec.lags)
    # an idle loop starts probes within a few ms of their planned time (the 5 ms slot included); the
    # bounds leave room for a shared machine's hiccups, they are not a benchmark
    assert lags[len(lags) * 9 // 10] < 0.02 and lags[-1] < 0.5, lags


async def test_jitter_delays_runs_within_its_share_of_the_interval() -> None:
    rec = Recorder()
    sched = ProbeScheduler(rec.run, max_concurrency=10, jitter=0.5, observe_lag=rec.lags.append,  # type: ignore[arg-type]
                           on_skipped=rec.skipped.append, on_missed=rec.missed.append)  # fmt: skip
    sched.start([ep(f"j{i}", interval=1.0) for i in range(30)])
    # the grid's anchor (`now` in start(), not a time read before it: on a loaded machine the two differ by
    # more than the assertion's 1e-6); each slot's base stays on its grid point plus whole intervals
    t0 = sched._slots["j0"].base - phase_offset("j0", 1.0)
    planned: list[float] = []
    original = sched._fire

    def spy(slot: object, when: float) -> None:
        name = slot.ep.name  # type: ignore[attr-defined]
        delay = (when - t0 - phase_offset(name, 1.0)) % 1.0  # how far past its grid point the run is planned
        planned.append(0.0 if delay > 0.999 else delay)
        original(slot, when)  # type: ignore[arg-type]

    sched._fire = spy  # type: ignore[method-assign]
    await asyncio.sleep(2.5)
    await sched.stop(grace=1.0)
    assert planned and all(-1e-6 <= d <= 0.5 + 1e-6 for d in planned)
    assert max(planned) > 0.2  # really jittered


async def test_stop_cancels_after_grace_without_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder(hold=30)
    sched = rec.scheduler()
    sched.start([ep("hang", interval=5.0)])
    t_end = time.monotonic() + 6
    while not rec.calls["hang"] and time.monotonic() < t_end:
        await asyncio.sleep(0.05)
    assert rec.calls["hang"] == 1
    caplog.set_level(logging.DEBUG)
    t0 = time.monotonic()
    cancelled = await sched.stop(grace=0.3)
    assert cancelled == 1
    assert time.monotonic() - t0 < 2
    assert "Traceback" not in caplog.text and "CancelledError" not in caplog.text

"""Probe scheduling: APScheduler drives a dispatch tick; a heap of planned runs arms each probe on time.

Why not one APScheduler job per endpoint (the first design): every run of an APScheduler job costs
~0.06-0.1 ms of CPU in trigger datetime arithmetic, job-store bookkeeping and event objects
(benchmarks/README.md), 10-20 % of a probe at 1,000+ probes/s. Here APScheduler runs one interval job,
`_dispatch`, every `TICK` seconds; it pops the runs due within the next 4 ticks from a heap keyed by
planned time and arms them with `loop.call_at`, grouped in `BATCH` (5 ms) slots so that the probes of
one slot start in one loop wake-up. Per run that is one heap push and one task, like a hand-written
asyncio loop, and the planned time of every run is known exactly, so lag is exact too (it includes
the ≤ 5 ms wait for the slot).

The contract is the same as before:
- first runs are spread over each endpoint's interval by a stable hash of its name (`phase_offset`),
  so thousands of endpoints do not fire at once and keep roughly their phase across restarts;
- runs are planned at `first + k * interval` (+ a uniform jitter of `jitter * interval`, not
  accumulated);
- skip-if-running: a probe still running when its next run comes is skipped and counted;
- coalesce: after a stall longer than an interval (a suspended process, a blocked loop) the overdue
  runs collapse into one, and the runs dropped are counted as missed;
- one global semaphore bounds concurrency; lag = the moment a probe gets its slot - its planned time
  (scheduler overhead, event-loop stalls and waits for the concurrency bound).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from slowatch.config.diff import EndpointChanges, diff_endpoints
from slowatch.config.endpoints import Endpoint

logger = logging.getLogger(__name__)

RunProbe = Callable[[Endpoint, int], Awaitable[None]]
"""Runs one endpoint's probe (with its retries) and hands the results on, stamped with the definition's revision
(the second argument: `ProbeResult.revision`); must not raise."""

TICK = 0.25
"""Seconds between dispatch ticks; each arms the runs due within the next 4 ticks (so a tick that comes
late under load does not make runs late)."""
BATCH = 0.005
"""Runs planned within the same BATCH-wide slot start together, at the slot's end (so at most this much
late): one timer and one loop wake-up for several probes. Arming every run at its own instant cost
~25 % more CPU per probe at 1,667 probes/s (benchmarks/README.md)."""


def phase_offset(name: str, interval: float) -> float:
    """A stable offset in [0, interval) for the endpoint's first run."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64) * interval


@dataclass(eq=False, slots=True)
class _Slot:
    ep: Endpoint
    base: float  # loop time of the next planned run, before jitter (first + k * interval)
    running: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    revision: int = 0  # of `ep`: the reload that last added or edited it (EndpointChanges.revision)


class ProbeScheduler:
    def __init__(
        self,
        run_probe: RunProbe,
        *,
        max_concurrency: int,
        jitter: float,
        observe_lag: Callable[[float], None],
        on_skipped: Callable[[str], None],
        on_missed: Callable[[str], None],
    ) -> None:
        self._run_probe = run_probe
        self._jitter = jitter
        self._observe_lag = observe_lag
        self._on_skipped = on_skipped
        self._on_missed = on_missed
        self._slots_sem = asyncio.Semaphore(max_concurrency)
        self._slots: dict[str, _Slot] = {}
        self._heap: list[tuple[float, int, _Slot]] = []
        self._seq = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._accepting = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running) and self._accepting

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def job_count(self) -> int:
        return len(self._slots)

    def names(self) -> set[str]:
        """The endpoints scheduled here."""
        return set(self._slots)

    def scheduled(self, name: str) -> bool:
        """Whether the endpoint `name` is scheduled here (not removed or disabled by a reload)."""
        return name in self._slots

    def endpoints(self) -> Iterator[Endpoint]:
        """The definitions scheduled here (lazily: do not reload meanwhile)."""
        return (slot.ep for slot in self._slots.values())

    workers = 0
    """Prober worker processes: none, this scheduler probes in the daemon's own loop (cf. ProberPool)."""

    def down(self) -> list[int]:
        """Prober workers that are down: none here (cf. ProberPool.down)."""
        return []

    def start(self, endpoints: list[Endpoint], revisions: Mapping[str, int] | None = None) -> None:
        """Schedule `endpoints`; `revisions` (by name, default 0) are their definitions' (a prober worker restarted
        after reloads is given them)."""
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        revisions = revisions or {}
        for ep in endpoints:
            self._add(ep, now, revisions.get(ep.name, 0))
        self._scheduler.add_job(self._tick, IntervalTrigger(seconds=TICK, timezone=UTC), id="dispatch")
        self._scheduler.start()
        self._dispatch()  # arm the first window now, not one tick from now

    def _push(self, slot: _Slot) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (slot.base, self._seq, slot))

    def _add(self, ep: Endpoint, now: float, revision: int) -> None:
        if not ep.enabled:
            return
        slot = _Slot(ep, now + phase_offset(ep.name, ep.interval), revision=revision)
        self._slots[ep.name] = slot
        self._push(slot)

    def update(self, endpoints: list[Endpoint], changes: EndpointChanges | None = None) -> tuple[int, int, int]:
        """Apply a new endpoint list: returns (added, removed, changed). Unchanged jobs keep their phase.

        `changes` (from the running list to `endpoints`, worked out off the loop) makes this touch only
        what changed; without it every endpoint is compared here."""
        if changes is None:
            changes = diff_endpoints([slot.ep for slot in self._slots.values()], endpoints)
        return self.apply(changes)

    def apply(self, changes: EndpointChanges) -> tuple[int, int, int]:
        """`update` with only the changes (what a prober worker is sent): (added, removed, changed). The probes of
        `changes.upserts` carry `changes.revision` from their next run on (one running now keeps its own)."""
        assert self._loop is not None, "update() before start()"
        now = self._loop.time()
        added = removed = changed = 0
        for name in changes.removed:
            if self._slots.pop(name, None) is not None:  # its heap entry is dropped when popped
                removed += 1
        for ep in changes.upserts:
            old = self._slots.get(ep.name)
            if not ep.enabled:
                if old is not None:
                    del self._slots[ep.name]
                    removed += 1
            elif old is None:
                added += 1
                self._add(ep, now, changes.revision)
            elif old.ep != ep:
                changed += 1
                if old.ep.interval == ep.interval:
                    old.ep, old.revision = ep, changes.revision  # same timing: keep the phase, new definition
                else:  # from the next run
                    del self._slots[ep.name]
                    self._add(ep, now, changes.revision)
        self._dispatch()
        return added, removed, changed

    async def _tick(self) -> None:
        """The APScheduler job (a coroutine, so AsyncIOExecutor runs it on the loop, not in a thread)."""
        self._dispatch()

    def _dispatch(self) -> None:
        """Arm every run due within 4 ticks, grouped in BATCH-wide slots; plan each endpoint's next run."""
        loop = self._loop
        if loop is None or not self._accepting:
            return
        now = loop.time()
        horizon = now + 4 * TICK  # slack for a late tick: a run is armed up to a second ahead
        heap, slots, jitter = self._heap, self._slots, self._jitter
        batches: dict[int, list[tuple[_Slot, float]]] = {}
        while heap and heap[0][0] < horizon:
            base, _, slot = heapq.heappop(heap)
            if slots.get(slot.ep.name) is not slot:
                continue  # removed or replaced since it was planned
            interval = slot.ep.interval
            if base < now - interval:  # overdue by more than an interval: coalesce into one run now
                dropped = int((now - base) // interval)
                base += dropped * interval
                for _ in range(dropped):
                    self._on_missed(slot.ep.name)
            planned = base + (random.uniform(0.0, jitter * interval) if jitter else 0.0)
            batches.setdefault(math.ceil(planned / BATCH), []).append((slot, planned))
            slot.base = base + interval
            self._push(slot)
        for key, runs in batches.items():
            loop.call_at(key * BATCH, self._fire_batch, runs)

    def _fire_batch(self, runs: list[tuple[_Slot, float]]) -> None:
        for slot, planned in runs:
            self._fire(slot, planned)

    def _fire(self, slot: _Slot, planned: float) -> None:
        if not self._accepting or self._slots.get(slot.ep.name) is not slot:
            return
        if slot.running:
            self._on_skipped(slot.ep.name)
            return
        slot.running = True
        task = asyncio.create_task(self._job(slot, planned))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _job(self, slot: _Slot, planned: float) -> None:
        name = slot.ep.name
        try:
            async with self._slots_sem:
                assert self._loop is not None
                self._observe_lag(max(0.0, self._loop.time() - planned))
                # Not when a reload removed (or re-timed) the endpoint while this waited for a slot: its probe would
                # rebuild the per-endpoint caches the reload let go (ProbeContext.forget), for good (session 15).
                if self._accepting and self._slots.get(name) is slot:
                    await self._run_probe(slot.ep, slot.revision)  # read together: one definition
        except asyncio.CancelledError:
            # Only stop() cancels probes: a cancelled probe at shutdown is expected, not an error.
            logger.info("probe cancelled at shutdown endpoint=%s", name)
        except Exception:  # run_probe must not raise; if it does, the endpoint keeps its schedule
            logger.exception("probe raised endpoint=%s", name)
        finally:
            slot.running = False

    async def stop(self, grace: float) -> int:
        """Stop starting probes, wait up to `grace` seconds for running ones, cancel the rest.
        Returns how many were cancelled."""
        self._accepting = False
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        pending = set(self._in_flight)
        cancelled = 0
        if pending:
            started = time.monotonic()
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            cancelled = len(still)
            if still:
                await asyncio.wait(still, timeout=1.0)
            logger.debug("scheduler stopped after %.2fs cancelled=%d", time.monotonic() - started, cancelled)
        return cancelled


__all__ = ["TICK", "ProbeScheduler", "RunProbe", "phase_offset"]

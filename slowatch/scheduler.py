"""APScheduler wiring: one job per enabled endpoint, spread over its interval, bounded concurrency.

Each job is `max_instances=1` (a probe still running when its next run comes is skipped and counted,
never stacked), `coalesce=True` (after a stall, one catch-up run, not a burst). First runs are spread
over each endpoint's interval by a stable hash of its name, so a restart with thousands of endpoints
does not fire them all at once and an endpoint keeps roughly the same phase across restarts.

Scheduling lag = the moment the probe gets its concurrency slot - the moment APScheduler planned it.
It covers scheduler overhead, event-loop stalls and waiting for the global concurrency bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from slowatch.config.endpoints import Endpoint

logger = logging.getLogger(__name__)

RunProbe = Callable[[Endpoint], Awaitable[None]]
"""Runs one endpoint's probe (with its retries) and hands the results on; must not raise."""


def phase_offset(name: str, interval: float) -> float:
    """A stable offset in [0, interval) for the endpoint's first run."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64) * interval


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
        self._slots = asyncio.Semaphore(max_concurrency)
        self._planned: dict[str, datetime] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._accepting = True
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self._scheduler.add_listener(self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running) and self._accepting

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def job_count(self) -> int:
        return len(self._endpoints)

    def start(self, endpoints: list[Endpoint]) -> None:
        for ep in endpoints:
            self._add(ep)
        self._scheduler.start()

    def _add(self, ep: Endpoint) -> None:
        if not ep.enabled:
            return
        now = datetime.now(UTC)
        first = now + timedelta(seconds=phase_offset(ep.name, ep.interval))
        trigger = IntervalTrigger(
            seconds=ep.interval,
            start_date=first,
            timezone=UTC,
            jitter=ep.interval * self._jitter if self._jitter else None,
        )
        self._scheduler.add_job(
            self._job, trigger, args=[ep.name], id=ep.name, name=ep.name, replace_existing=True
        )
        self._endpoints[ep.name] = ep

    def _remove(self, name: str) -> None:
        self._endpoints.pop(name, None)
        self._planned.pop(name, None)
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def update(self, endpoints: list[Endpoint]) -> tuple[int, int, int]:
        """Apply a new endpoint list: returns (added, removed, changed). Unchanged jobs keep their phase."""
        new = {ep.name: ep for ep in endpoints if ep.enabled}
        added = removed = changed = 0
        for name in list(self._endpoints):
            if name not in new:
                self._remove(name)
                removed += 1
        for name, ep in new.items():
            old = self._endpoints.get(name)
            if old is None:
                added += 1
                self._add(ep)
            elif old != ep:
                changed += 1
                if old.interval == ep.interval:
                    self._endpoints[name] = ep  # same timing: keep the job, use the new definition
                else:
                    self._remove(name)
                    self._add(ep)
        return added, removed, changed

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            assert isinstance(event, JobSubmissionEvent)
            if event.scheduled_run_times:
                self._planned[event.job_id] = max(event.scheduled_run_times)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self._on_skipped(event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            self._on_missed(event.job_id)

    async def _job(self, name: str) -> None:
        ep = self._endpoints.get(name)
        if ep is None or not self._accepting:
            return
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            async with self._slots:
                planned = self._planned.pop(name, None)
                if planned is not None:
                    self._observe_lag(max(0.0, (datetime.now(UTC) - planned).total_seconds()))
                if self._accepting:
                    await self._run_probe(ep)
        except asyncio.CancelledError:
            # Only stop() cancels probes: a cancelled probe at shutdown is expected, not an error
            # for APScheduler to log with a traceback.
            logger.info("probe cancelled at shutdown endpoint=%s", name)
        finally:
            self._in_flight.discard(task)

    async def stop(self, grace: float) -> int:
        """Stop starting probes, wait up to `grace` seconds for running ones, cancel the rest.
        Returns how many were cancelled."""
        self._accepting = False
        if self._scheduler.running:
            self._scheduler.pause()
        pending = set(self._in_flight)
        cancelled = 0
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            cancelled = len(still)
            if still:
                await asyncio.wait(still, timeout=1.0)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        return cancelled


__all__ = ["ProbeScheduler", "RunProbe", "phase_offset"]

"""How the daemon runs its probes: on its own event loop, or in prober worker processes.

    probe_workers 0 (or "auto" and few endpoints)   ProbeScheduler (scheduler.py) fires each endpoint's runs on
                                                     this loop; every probe shares one aiohttp session and one
                                                     ProbeContext (probes/), opened at start, closed at stop
    otherwise                                        ProberPool (workers/) spreads the endpoints over child
                                                     processes, each with its own session and context

Either way the daemon (daemon.py) sees one thing: it opens and starts it, hands it each reload's changes,
asks whether it runs (/readyz), stops it within the grace and closes it. Results go to `observe` (results.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import aiohttp

from slowatch.clock import Clock
from slowatch.config.diff import EndpointChanges
from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import Config
from slowatch.metrics import SelfMetrics
from slowatch.models import ProbeResult
from slowatch.probes import ProbeContext, make_session, run_probe
from slowatch.scheduler import ProbeScheduler
from slowatch.workers import ProberPool, worker_count
from slowatch.workers.plan import ApplyPlan


class Probing:
    def __init__(
        self, config: Config, observe: Callable[[ProbeResult], None], metrics: SelfMetrics, *, concurrency: int,
        shards: int,
    ) -> None:  # fmt: skip
        """`concurrency`: probes in flight at once (`server.max_concurrency` fitted to the open-file limit)."""
        self._observe = observe
        self.concurrency = concurrency
        self.scheduler: ProbeScheduler | ProberPool
        server = config.server
        workers = worker_count(server.probe_workers, config.endpoints)
        if workers:
            self.scheduler = ProberPool(
                workers, on_result=observe, observe_lag=metrics.lag.observe,
                on_skipped=metrics.skipped_run, on_missed=metrics.missed_run, max_concurrency=concurrency,
                jitter=server.jitter, log_format=server.log_format, event_loop=server.event_loop,
                on_restart=metrics.worker_restarts.inc, shards=shards,
            )  # fmt: skip
        else:
            self.scheduler = ProbeScheduler(
                self._probe, max_concurrency=concurrency, jitter=server.jitter,
                observe_lag=metrics.lag.observe, on_skipped=metrics.skipped_run, on_missed=metrics.missed_run,
            )  # fmt: skip
        self.session: aiohttp.ClientSession | None = None
        self.ctx: ProbeContext | None = None
        self._scheduling = False

    @property
    def pool(self) -> ProberPool | None:
        return self.scheduler if isinstance(self.scheduler, ProberPool) else None

    def open(self, clock: Clock) -> None:
        """The session and context the probes on this loop use (`probe_all_once`, and the in-process scheduler)."""
        self.session = make_session(limit=self.concurrency)
        self.ctx = ProbeContext(session=self.session, clock=clock)

    async def start(self, endpoints: list[Endpoint]) -> None:
        self._scheduling = True
        if isinstance(self.scheduler, ProberPool):
            await self.scheduler.start(endpoints)
        else:
            self.scheduler.start(endpoints)

    def not_running(self) -> str | None:
        """Why probes are not being scheduled although they were started (for /readyz), or None."""
        if not self._scheduling or self.scheduler.running:
            return None
        down = self.scheduler.down()
        return f"prober workers down: {down}" if down else "scheduler is not running"

    async def _probe(self, endpoint: Endpoint, revision: int) -> None:
        assert self.ctx is not None
        await run_probe(endpoint, self.ctx, self._observe, revision)
        if isinstance(self.scheduler, ProbeScheduler) and not self.scheduler.scheduled(endpoint.name):
            self.ctx.forget([endpoint.name])  # removed by a reload during the probe: a retry rebuilt its caches

    async def probe_all_once(self, endpoints: Iterable[Endpoint]) -> list[ProbeResult]:
        """Probe every enabled one of `endpoints` once, concurrently within the bound (`slowatch run --once`)."""
        assert self.ctx is not None
        ctx = self.ctx
        slots = asyncio.Semaphore(self.concurrency)

        async def one(ep: Endpoint) -> ProbeResult:
            async with slots:
                return await run_probe(ep, ctx, self._observe)

        return list(await asyncio.gather(*(one(ep) for ep in endpoints if ep.enabled)))

    def update(
        self, endpoints: list[Endpoint], changes: EndpointChanges, plan: ApplyPlan | None, gone: list[str]
    ) -> tuple[int, int, int]:
        """Apply a reload's `changes` (split among the prober workers: `plan`); forget what was built for the
        endpoints `gone` (removed or disabled). Returns how many were added, removed and changed."""
        if isinstance(self.scheduler, ProberPool):
            counts = self.scheduler.update(endpoints, changes, plan)
        else:
            counts = self.scheduler.update(endpoints, changes)
        if self.ctx is not None:  # (the prober workers prune their own)
            self.ctx.forget(gone)
        return counts

    async def stop(self, grace: float) -> int:
        """Stop scheduling; in-flight probes get `grace` seconds. Returns how many were cancelled."""
        return await self.scheduler.stop(grace)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


__all__ = ["Probing"]

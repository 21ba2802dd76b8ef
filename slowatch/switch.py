"""What a reload changes, worked out before the daemon switches (daemon.py `_switch`).

Everything here that costs (at 100,000 endpoints: this instance's part of the new config ~0.1 s, the
endpoint diff ~0.3 s, the prober worker count, the metrics' new slot table) runs in threads, so the event
loop only applies the result. What cannot change without a restart is named for the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from slowatch.cluster import ClusterView, local_view
from slowatch.config.diff import EndpointChanges, diff_endpoints
from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import Config
from slowatch.metrics import ProbeMetrics
from slowatch.workers import worker_count
from slowatch.workers.plan import ApplyPlan

logger = logging.getLogger(__name__)
T = TypeVar("T")

RESTART_KEYS = ("listen", "database", "max_concurrency", "probe_workers", "event_loop", "http", "metrics")
"""`server` settings a running daemon keeps until a restart."""


@dataclass(frozen=True, slots=True)
class Switch:
    view: ClusterView  # the new config and this instance's part of it (`view.local`)
    changes: EndpointChanges  # from the running endpoints to `view.local`'s
    workers: int  # prober workers `view.local` calls for
    cpu: float = 0.0  # CPU seconds the threads took to work this out
    plan: ApplyPlan | None = None  # `changes` split among the prober workers (with `planner`)
    disabled: tuple[str, ...] = ()  # endpoints `changes` disables (their latest results are forgotten)


async def prepare(
    running: ClusterView,
    endpoints: Sequence[Endpoint],
    new: Config,
    metrics: ProbeMetrics,
    revision: int,
    planner: Callable[[EndpointChanges], ApplyPlan] | None = None,
) -> Switch:
    """The switch from `running` (whose local endpoints are `endpoints`) to `new`, off the event loop;
    `metrics` gets the new endpoints' slot table if any endpoint changed (a scrape sees one or the other).
    `revision` numbers this reload (from 1, never reused): the changes carry it, and with them the results of
    the new definitions. `planner` (ProberPool.plan) splits the changes among the prober workers. A changed
    `server.cluster` is kept as it runs (logged: it takes effect after a restart)."""
    cluster = running.full.server.cluster
    if new.server.cluster != cluster:
        logger.warning("config reload: server.cluster changed; takes effect after a restart")
        new = new.model_copy(update={"server": new.server.model_copy(update={"cluster": cluster})})
    cpu = [0.0]
    view = await _thread(cpu, local_view, new)
    local = view.local
    changes = replace(await _thread(cpu, diff_endpoints, endpoints, local.endpoints), revision=revision)
    workers = await _thread(cpu, worker_count, local.server.probe_workers, local.endpoints)
    plan: ApplyPlan | None = None
    disabled: tuple[str, ...] = ()
    if changes:
        await _thread(cpu, metrics.set_endpoints, local.endpoints, frozenset(changes.changed), revision)
        disabled = await _thread(cpu, _disabled, changes)
        if planner is not None:
            plan = await _thread(cpu, planner, changes)
    return Switch(view, changes, workers, cpu[0], plan, disabled)


def _disabled(changes: EndpointChanges) -> tuple[str, ...]:
    return tuple(ep.name for ep in changes.upserts if not ep.enabled)


async def _thread(cpu: list[float], fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a thread; its CPU seconds added to `cpu[0]`."""

    def timed() -> T:
        start = time.thread_time()
        try:
            return fn(*args)
        finally:
            cpu[0] += time.thread_time() - start

    return await asyncio.to_thread(timed)


def restart_needed(old: Config, new: Config) -> list[str]:
    """The `server` settings that differ (and wait for a restart)."""
    return [key for key in RESTART_KEYS if getattr(old.server, key) != getattr(new.server, key)]


def say_waiting(old: Config, new: Config, want: int, have: int) -> None:
    """Log what switching from `old` to `new` leaves for a restart: `server` settings, and the prober workers
    `new` calls for (`want`) where they differ from those running (`have`)."""
    waiting = restart_needed(old, new)
    if waiting:
        logger.warning("config reload: %s changed; takes effect after a restart", ", ".join(waiting))
    if want != have and "probe_workers" not in waiting:
        logger.warning(
            "config reload: probe_workers=%s now means %d prober worker(s), %d running; takes effect after a restart",
            new.server.probe_workers, want, have,
        )  # fmt: skip


__all__ = ["RESTART_KEYS", "Switch", "prepare", "restart_needed", "say_waiting"]

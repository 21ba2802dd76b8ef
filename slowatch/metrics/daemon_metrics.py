"""The daemon's own health: scheduler, store, config reloads, build info (prometheus-client objects)."""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from slowatch import __version__

logger = logging.getLogger(__name__)

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SKIP_WARN_EVERY = 600
"""Seconds between two log lines about skipped runs (each is counted): one line sums up those meanwhile."""
MISS_LOG_EVERY = 60.0
"""Seconds between two log lines about missed runs: one line sums up every run missed meanwhile (a process
resumed after a 60 s SIGSTOP misses ~3,600 runs at 200 endpoints: one line, not 3,600)."""
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class SummedLog:
    """Per-run events logged as one warning that sums them up: at the end of the event-loop turn that
    saw the first (all the runs one scheduler tick handles), then at most one every `every` seconds."""

    def __init__(self, every: float, line: str) -> None:
        self.every, self.line = every, line  # line: % runs, endpoints, an example endpoint
        self.runs, self.endpoints = 0, set[str]()
        self.armed, self.logged = False, -every

    def add(self, name: str) -> None:
        self.runs += 1
        self.endpoints.add(name)
        if self.armed:
            return
        self.armed = True
        delay = max(0.0, self.logged + self.every - time.monotonic())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no running loop (a direct call): now
            self.flush()
            return
        if delay:
            loop.call_later(delay, self.flush)
        else:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        logger.warning(self.line, self.runs, len(self.endpoints), min(self.endpoints, default=""))
        self.runs, self.armed, self.logged = 0, False, time.monotonic()
        self.endpoints.clear()


class _StoreCounters(Collector):
    """Counters the store keeps itself (plain ints updated on its writer thread); read, never computed."""

    def __init__(self, write_errors: Callable[[], float], dropped: Callable[[], float]) -> None:
        self._write_errors = write_errors
        self._dropped = dropped

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "slowatch_store_write_errors", "Failed database transactions (each is retried)", self._write_errors()
        )
        yield CounterMetricFamily(
            "slowatch_store_dropped_results", "Results dropped because the write queue overflowed", self._dropped()
        )


class SelfMetrics:
    """The daemon's own health."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        pending_writes: Callable[[], float],
        store_healthy: Callable[[], float],
        in_flight: Callable[[], float],
        jobs: Callable[[], float],
        store_write_errors: Callable[[], float],
        store_dropped: Callable[[], float],
        store_retention_behind: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._missed_log = SummedLog(MISS_LOG_EVERY, "scheduled runs missed: runs=%d endpoints=%d example=%s (each "
                                     "endpoint's overdue runs ran once: the process was stopped or its event loop "
                                     "blocked; counted in slowatch_scheduler_missed_runs_total)")  # fmt: skip
        self._skipped_log = SummedLog(SKIP_WARN_EVERY, "probes still running at their next run, skipped: "
                                      "runs=%d endpoints=%d example=%s (counted in "
                                      "slowatch_scheduler_skipped_runs_total)")  # fmt: skip
        self.lag = Histogram(
            "slowatch_scheduler_lag_seconds",
            "Probe start minus planned start (scheduler overhead, loop stalls, concurrency waits)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.skipped = Counter(
            "slowatch_scheduler_skipped_runs",
            "Runs skipped because the endpoint's previous probe was still running",
            registry=registry,
        )
        self.missed = Counter("slowatch_scheduler_missed_runs", "Runs the scheduler missed entirely", registry=registry)
        Gauge("slowatch_scheduler_jobs", "Scheduled endpoints", registry=registry).set_function(jobs)
        self.worker_restarts = Counter(
            "slowatch_prober_worker_restarts",
            "Prober worker processes that exited unexpectedly and were started again",
            registry=registry,
        )
        Gauge("slowatch_probes_in_flight", "Probes running now", registry=registry).set_function(in_flight)
        Gauge(
            "slowatch_store_pending_writes", "Results and writes queued for the database", registry=registry
        ).set_function(pending_writes)
        Gauge("slowatch_store_healthy", "1 if the last database write succeeded", registry=registry).set_function(
            store_healthy
        )
        Gauge(
            "slowatch_store_retention_clock_behind_seconds",
            "Seconds the wall clock is ahead of the time retention deletes by (0 unless the clock jumped ahead)",
            registry=registry,
        ).set_function(store_retention_behind)
        self.write_duration = Histogram(
            "slowatch_store_write_duration_seconds",
            "Duration of one batched database transaction",
            buckets=WRITE_BUCKETS,
            registry=registry,
        )
        registry.register(_StoreCounters(store_write_errors, store_dropped))
        self.reload_ok = Gauge(
            "slowatch_config_last_reload_successful", "1 if the last config (re)load succeeded", registry=registry
        )
        self.reload_ts = Gauge(
            "slowatch_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config (re)load",
            registry=registry,
        )
        Gauge(
            "slowatch_build_info",
            "Build information",
            ["version", "python"],
            registry=registry,
        ).labels(__version__, platform.python_version()).set(1)

    def skipped_run(self, name: str) -> None:
        """An endpoint's run was skipped (its previous probe still running): counted, logged as a sum."""
        self.skipped.inc()
        self._skipped_log.add(name)

    def missed_run(self, name: str) -> None:
        """A run missed entirely (overdue runs collapse into one): counted, logged as a sum."""
        self.missed.inc()
        self._missed_log.add(name)

    def config_loaded(self, ok: bool, now: float) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_ts.set(now)


__all__ = ["LAG_BUCKETS", "MISS_LOG_EVERY", "SKIP_WARN_EVERY", "WRITE_BUCKETS", "SelfMetrics", "SummedLog"]

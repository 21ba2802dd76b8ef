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
"""Seconds between two warnings about one endpoint's skipped runs (each is counted)."""
MISS_LOG_EVERY = 60.0
"""Seconds between two log lines about missed runs: one line sums up every run missed meanwhile (a process
resumed after a 60 s SIGSTOP misses ~3,600 runs at 200 endpoints: one line, not 3,600)."""
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
    ) -> None:
        self._missed_runs, self._missed_endpoints = 0, set[str]()
        self._miss_log_armed, self._miss_logged = False, -MISS_LOG_EVERY
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
        self.missed = Counter(
            "slowatch_scheduler_missed_runs", "Runs the scheduler missed entirely", registry=registry
        )
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
        Gauge(
            "slowatch_store_healthy", "1 if the last database write succeeded", registry=registry
        ).set_function(store_healthy)
        self.write_duration = Histogram(
            "slowatch_store_write_duration_seconds",
            "Duration of one batched database transaction",
            buckets=WRITE_BUCKETS,
            registry=registry,
        )
        registry.register(_StoreCounters(store_write_errors, store_dropped))
        self._skip_warned: dict[str, float] = {}
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
        """An endpoint's run was skipped (its previous probe still running): counted, logged at most every
        SKIP_WARN_EVERY seconds per endpoint."""
        self.skipped.inc()
        now = time.monotonic()
        if now - self._skip_warned.get(name, -SKIP_WARN_EVERY) >= SKIP_WARN_EVERY:
            self._skip_warned[name] = now
            logger.warning(
                "probe still running at its next run, skipped (counted in slowatch_scheduler_skipped_runs_total;"
                " logged at most every %ds per endpoint) endpoint=%s", SKIP_WARN_EVERY, name,
            )  # fmt: skip

    def missed_run(self, name: str) -> None:
        """A run missed entirely (overdue runs collapse into one): counted; logged as a sum, at the end of
        the event-loop turn that found it and then at most every MISS_LOG_EVERY seconds."""
        self.missed.inc()
        self._missed_runs += 1
        self._missed_endpoints.add(name)
        if self._miss_log_armed:
            return
        self._miss_log_armed = True
        delay = max(0.0, self._miss_logged + MISS_LOG_EVERY - time.monotonic())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no running loop (a direct call): now
            self._log_missed()
            return
        if delay:
            loop.call_later(delay, self._log_missed)
        else:
            loop.call_soon(self._log_missed)

    def _log_missed(self) -> None:
        logger.warning(
            "scheduled runs missed: runs=%d endpoints=%d example=%s (each endpoint's overdue runs ran once: the "
            "process was stopped or its event loop blocked; counted in slowatch_scheduler_missed_runs_total)",
            self._missed_runs, len(self._missed_endpoints), min(self._missed_endpoints, default=""),
        )  # fmt: skip
        self._missed_runs, self._miss_log_armed, self._miss_logged = 0, False, time.monotonic()
        self._missed_endpoints.clear()

    def config_loaded(self, ok: bool, now: float) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_ts.set(now)


__all__ = ["LAG_BUCKETS", "MISS_LOG_EVERY", "SKIP_WARN_EVERY", "WRITE_BUCKETS", "SelfMetrics"]

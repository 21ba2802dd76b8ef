"""Prometheus metrics. Everything lives in the CollectorRegistry the daemon passes in (no globals).

Per-result updates are O(1) in-memory operations on prometheus-client objects. The SLO families come
from the SLO engine's own Collector, which reads only its immutable Snapshot.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from slowatch import __version__
from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import MetricsConfig
from slowatch.models import ProbeResult

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def prometheus_label(name: str) -> str:
    """An endpoint label key as a Prometheus label name (`team-name` -> `team_name`)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else f"_{out}"


class ProbeMetrics:
    """Per-endpoint series. `endpoint_labels` from the config are appended to every label set."""

    def __init__(self, registry: CollectorRegistry, config: MetricsConfig) -> None:
        self._extra = list(config.endpoint_labels)
        extra = [prometheus_label(k) for k in self._extra]
        self._label_values: dict[str, tuple[str, ...]] = {}
        base = ["endpoint", "kind", *extra]
        self.success = Gauge(
            "slowatch_probe_success", "1 if the endpoint's last probe succeeded, else 0", base, registry=registry
        )
        self.duration: Histogram | None = None
        if config.histograms:
            self.duration = Histogram(
                "slowatch_probe_duration_seconds",
                "Probe duration (final attempts)",
                base,
                buckets=sorted(config.duration_buckets),
                registry=registry,
            )
        self.total = Counter(
            "slowatch_probes", "Final probe results by outcome", [*base, "outcome"], registry=registry
        )
        self.last_run = Gauge(
            "slowatch_probe_last_run_timestamp_seconds",
            "Unix time the endpoint's last probe started",
            ["endpoint", *extra],
            registry=registry,
        )
        self.status_code = Gauge(
            "slowatch_probe_http_status_code",
            "HTTP status of the last probe (0 when no response)",
            ["endpoint", *extra],
            registry=registry,
        )
        self.cert_expiry = Gauge(
            "slowatch_probe_ssl_earliest_cert_expiry",
            "Unix time the earliest certificate seen by the last probe expires",
            ["endpoint", *extra],
            registry=registry,
        )
        self.phase = Gauge(
            "slowatch_probe_http_duration_seconds",
            "Duration of each phase of the last HTTP probe",
            ["endpoint", "phase", *extra],
            registry=registry,
        )
        self._kinds: dict[str, str] = {}

    def set_endpoints(self, endpoints: Iterable[Endpoint]) -> None:
        """Remember each endpoint's extra label values; drop series of endpoints no longer configured."""
        new = {ep.name: tuple(ep.labels.get(k, "") for k in self._extra) for ep in endpoints}
        for name in set(self._label_values) - set(new):
            self._forget(name)
        for name, values in new.items():
            if name in self._label_values and self._label_values[name] != values:
                self._forget(name)
        self._label_values = new
        self._kinds.update({ep.name: ep.kind for ep in endpoints})

    def _forget(self, name: str) -> None:
        extra = self._label_values.get(name, ())
        kind = self._kinds.pop(name, "")
        for metric in (self.success, self.duration):
            if metric is not None:
                _remove_quietly(metric, (name, kind, *extra))
        for metric in (self.last_run, self.status_code, self.cert_expiry):
            _remove_quietly(metric, (name, *extra))
        for labels in list(self.total._metrics):
            if labels[0] == name:
                _remove_quietly(self.total, labels)
        for labels in list(self.phase._metrics):
            if labels[0] == name:
                _remove_quietly(self.phase, labels)

    def observe(self, result: ProbeResult) -> None:
        """Called for every final result, on the event loop."""
        extra = self._label_values.get(result.endpoint, ())
        base = (result.endpoint, result.kind, *extra)
        self.success.labels(*base).set(1.0 if result.ok else 0.0)
        if self.duration is not None:
            self.duration.labels(*base).observe(result.duration)
        self.total.labels(*base, result.outcome.value).inc()
        self.last_run.labels(result.endpoint, *extra).set(result.started_at)
        if result.kind == "http":
            self.status_code.labels(result.endpoint, *extra).set(result.status_code or 0)
            for phase, seconds in result.phases.items():
                self.phase.labels(result.endpoint, phase, *extra).set(seconds)
        if result.cert_expiry is not None:
            self.cert_expiry.labels(result.endpoint, *extra).set(result.cert_expiry)


def _remove_quietly(metric: Gauge | Counter | Histogram, labels: Sequence[str]) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


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

    def config_loaded(self, ok: bool, now: float) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_ts.set(now)


__all__ = ["ProbeMetrics", "SelfMetrics", "prometheus_label"]

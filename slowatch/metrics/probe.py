"""Per-endpoint series: a slot of plain values per configured endpoint, rendered by `families`.

`observe` is a handful of attribute and list updates on the event loop (no prometheus-client children,
no locks); the families are collected from the daemon's `CollectorRegistry` like any other collector,
so names clash-check at registration and any prometheus-client encoder can still render them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import MetricsConfig
from slowatch.metrics import families as f
from slowatch.metrics.families import EndpointFamily, FamilySpec
from slowatch.metrics.slots import OUTCOME_INDEX, EndpointSlot
from slowatch.metrics.text import prometheus_label
from slowatch.models import Outcome, ProbeResult

_RESERVED = {"endpoint", "kind", "outcome", "phase", "le"}


def _specs(bounds: tuple[float, ...] | None) -> tuple[FamilySpec, ...]:
    name = "slowatch_probe_success"
    specs = [FamilySpec(name, "1 if the endpoint's last probe succeeded, else 0", "gauge", f.success_lines(name))]
    if bounds is not None:
        name = "slowatch_probe_duration_seconds"
        specs.append(FamilySpec(name, "Probe duration (final attempts)", "histogram", f.histogram_lines(name, bounds)))
    name = "slowatch_probes"
    specs.append(FamilySpec(name, "Final probe results by outcome", "counter", f.outcome_lines(name)))
    name = "slowatch_probe_last_run_timestamp_seconds"
    specs.append(FamilySpec(name, "Unix time the endpoint's last probe started", "gauge", f.last_run_lines(name)))
    name = "slowatch_probe_http_status_code"
    specs.append(FamilySpec(name, "HTTP status of the last probe (0 when no response)", "gauge", f.status_lines(name)))
    name = "slowatch_probe_ssl_earliest_cert_expiry"
    help_text = "Unix time the earliest certificate seen by the last probe expires"
    specs.append(FamilySpec(name, help_text, "gauge", f.cert_lines(name)))
    name = "slowatch_probe_http_duration_seconds"
    specs.append(FamilySpec(name, "Duration of each phase of the last HTTP probe", "gauge", f.phase_lines(name)))
    return tuple(specs)


class ProbeMetrics(Collector):
    """Per-endpoint series. `endpoint_labels` from the config are appended to every label set."""

    def __init__(self, registry: CollectorRegistry, config: MetricsConfig) -> None:
        self._extra = list(config.endpoint_labels)
        self._extra_names = [prometheus_label(k) for k in self._extra]
        clash = sorted(n for n in self._extra_names if n in _RESERVED or self._extra_names.count(n) > 1)
        if clash:
            raise ValueError(f"server.metrics.endpoint_labels: label names used twice or reserved: {clash}")
        self._bounds: tuple[float, ...] | None = None
        if config.histograms:
            bounds = sorted(float(b) for b in config.duration_buckets)
            if not bounds or bounds[-1] != math.inf:
                bounds.append(math.inf)
            self._bounds = tuple(bounds)
        self._specs = _specs(self._bounds)
        self._slots: tuple[EndpointSlot, ...] = ()
        self._by_name: dict[str, EndpointSlot] = {}
        registry.register(self)

    def set_endpoints(self, endpoints: Iterable[Endpoint]) -> None:
        """Keep the slots of endpoints whose labels are unchanged; series of the others start afresh or go."""
        width = len(self._bounds or ())
        old = self._by_name
        new: dict[str, EndpointSlot] = {}
        for ep in endpoints:
            extra = tuple(zip(self._extra_names, (ep.labels.get(k, "") for k in self._extra), strict=True))
            slot = old.get(ep.name)
            if slot is None or slot.kind != ep.kind or slot.extra != extra:
                slot = EndpointSlot(ep.name, ep.kind, extra, width)
            new[ep.name] = slot
        self._by_name = new
        self._slots = tuple(new.values())  # one reference swap: a scrape sees the old set or the new one

    def observe(self, result: ProbeResult) -> None:
        """Every final result, on the event loop. Results of endpoints no longer configured (or of another kind:
        an in-flight probe across a reload) are dropped, so removed endpoints stay gone."""
        slot = self._by_name.get(result.endpoint)
        if slot is None or slot.kind != result.kind:
            return
        outcome = result.outcome
        slot.ok = outcome is Outcome.SUCCESS
        slot.outcomes[OUTCOME_INDEX[outcome]] += 1
        bounds = self._bounds
        if bounds is not None:
            seconds = result.duration
            slot.buckets[bisect_left(bounds, seconds)] += 1
            slot.duration_sum += seconds
        if result.kind == "http":
            slot.status = result.status_code or 0
            phases = result.phases
            if phases:
                if phases.keys() <= slot.phases.keys():
                    slot.phases.update(phases)
                else:
                    slot.phases = {**slot.phases, **phases}
        if result.cert_expiry is not None:
            slot.cert_expiry = result.cert_expiry
        slot.last_run = result.started_at  # last: marks the slot as having series

    def describe(self) -> Iterable[Metric]:
        return [Metric(spec.name, spec.help, spec.type) for spec in self._specs]

    def collect(self) -> Iterable[Metric]:
        slots = self._slots
        return [EndpointFamily(spec, slots) for spec in self._specs]


__all__ = ["ProbeMetrics"]

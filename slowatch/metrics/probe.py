"""Per-endpoint series: a slot of plain values per configured endpoint, rendered by `families`.

`observe` is a handful of attribute and list updates on the event loop (no prometheus-client children,
no locks) and marks the slot dirty; a scrape re-renders dirty slots only (`families.EndpointTable`). The
families are collected from the daemon's `CollectorRegistry` like any other collector, so names
clash-check at registration and any prometheus-client encoder can still render them. The registry also
gets `slowatch_metrics_scrape_duration_seconds`, which /metrics observes (`exposition.Scrape`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import MetricsConfig
from slowatch.metrics import families as f
from slowatch.metrics.families import EndpointFamily, EndpointTable, FamilySpec
from slowatch.metrics.slots import OUTCOME_INDEX, EndpointSlot, count_outcome
from slowatch.metrics.text import prometheus_label
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.kind import KindGauge
from slowatch.probes.registry import KINDS

_RESERVED = {"endpoint", "kind", "outcome", "le"} | {g.label for k in KINDS.values() for g in k.gauges if g.label}
SCRAPE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _specs(bounds: tuple[float, ...] | None, phases: bool) -> tuple[FamilySpec, ...]:
    """The families, in /metrics order. By default an HTTP endpoint has 4 series (success, one `probes_total`
    per outcome seen, last run, status code; +1 cert expiry with TLS; +1 `failing` while its last probe failed);
    `histograms` adds len(bounds) + 2 (buckets with +Inf, `_count`, `_sum`) and `phases` 5 (resolve, connect,
    tls, processing, transfer)."""
    name = "slowatch_probe_success"
    specs = [FamilySpec(name, "1 if the endpoint's last probe succeeded, else 0", "gauge", f.success_chunk(name))]
    name = "slowatch_probe_failing"  # sparse: what the fleet rules read instead of every success series
    help_text = "1 while the endpoint's last probe failed; no series otherwise"
    specs.append(FamilySpec(name, help_text, "gauge", f.failing_chunk(name)))
    if bounds is not None:
        name = "slowatch_probe_duration_seconds"
        specs.append(FamilySpec(name, "Probe duration (final attempts)", "histogram", f.histogram_chunk(name, bounds)))
    name = "slowatch_probes"
    specs.append(FamilySpec(name, "Final probe results by outcome", "counter", f.outcome_chunk(name)))
    name = "slowatch_probe_last_run_timestamp_seconds"
    specs.append(FamilySpec(name, "Unix time the endpoint's last probe started", "gauge", f.last_run_chunk(name)))
    name = "slowatch_probe_http_status_code"
    specs.append(FamilySpec(name, "HTTP status of the last probe (0 when no response)", "gauge", f.status_chunk(name)))
    name = "slowatch_probe_ssl_earliest_cert_expiry"
    help_text = "Unix time the earliest certificate seen by the last probe expires"
    specs.append(FamilySpec(name, help_text, "gauge", f.cert_chunk(name)))
    for gauge in kind_gauges():
        if phases or not gauge.phases:
            specs.append(FamilySpec(gauge.name, gauge.help, "gauge", f.gauge_chunk(gauge.name, gauge.label)))
    return tuple(specs)


def kind_gauges() -> list[KindGauge]:
    """Every kind's extra families, once each (kinds may share one), in registry order."""
    seen: dict[str, KindGauge] = {}
    for kind in KINDS.values():
        for gauge in kind.gauges:
            seen.setdefault(gauge.name, gauge)
    return list(seen.values())


class ProbeMetrics(Collector):
    """Per-endpoint series. `endpoint_labels` from the config are appended to every label set; the duration
    histogram and the phase gauges only when `histograms` / `phases` are on (README "Metrics" prices them)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        config: MetricsConfig,
        extra_bounds: Iterable[float] = (),
        const_labels: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`extra_bounds` are added to the duration histogram's buckets (the daemon passes every latency SLO
        threshold, so an SLI can also be built from the histogram, as Sloth or Pyrra users do). `const_labels`
        (the instance's shard, replica, location) are added to every per-endpoint label set."""
        self._const = tuple(const_labels)
        self._extra = list(config.endpoint_labels)
        self._extra_names = [prometheus_label(k) for k in self._extra]
        clash = sorted(n for n in self._extra_names if n in _RESERVED or self._extra_names.count(n) > 1)
        if clash:
            raise ValueError(f"server.metrics.endpoint_labels: label names used twice or reserved: {clash}")
        self._bounds: tuple[float, ...] | None = None
        if config.histograms:
            bounds = sorted({float(b) for b in (*config.duration_buckets, *extra_bounds)})
            if not bounds or bounds[-1] != math.inf:
                bounds.append(math.inf)
            self._bounds = tuple(bounds)
        self._phases = config.phases
        self._specs = _specs(self._bounds, config.phases)
        self._slots: tuple[EndpointSlot, ...] = ()
        self._by_name: dict[str, EndpointSlot] = {}
        self._scrape_seconds = Histogram(
            "slowatch_metrics_scrape_duration_seconds",
            "Duration of one /metrics scrape, from the request to the last byte written",
            buckets=SCRAPE_BUCKETS,
            registry=registry,
        )  # registered first: /metrics writes the per-endpoint families last, and so does the client then
        registry.register(self)

    def set_endpoints(self, endpoints: Iterable[Endpoint], changed: Collection[str] = (), revision: int = 0) -> None:
        """Keep the slots (and cached text) of endpoints whose labels are unchanged; series of the others start
        afresh or go. Endpoints added start without series (and clean: nothing to render until a result).
        A kept slot of an endpoint in `changed` (its definition edited: a reload) keeps its counters, but the
        next result of the new definition replaces its last-result series (steps, phases, certificate expiry)
        instead of adding to them, so a step renamed or removed, or TLS dropped, leaves no series behind.
        `revision` is the reload's number (`EndpointChanges.revision`), which the new and edited endpoints'
        results carry: a result of an older definition (a probe in flight across the reload) still counts, but
        neither adds nor clears those series (`observe`)."""
        width, families = len(self._bounds or ()), len(self._specs)
        old = self._by_name
        new: dict[str, EndpointSlot] = {}
        for ep in endpoints:
            extra = tuple(zip(self._extra_names, (ep.labels.get(k, "") for k in self._extra), strict=True))
            extra += self._const
            slot = old.get(ep.name)
            if slot is None or slot.kind != ep.kind or slot.extra != extra:
                kind = KINDS[ep.kind]
                gauges = tuple(g for g in kind.gauges if self._phases or not g.phases)
                slot = EndpointSlot(ep.name, ep.kind, extra, width, families, gauges, kind.status_code)
                slot.revision = revision
            elif ep.name in changed:
                slot.redefined, slot.revision = True, revision
            new[ep.name] = slot
        self._by_name = new
        self._slots = tuple(new.values())  # one reference swap: a scrape sees the old set or the new one

    def configured(self, name: str) -> bool:
        """Whether the endpoint `name` is one of this instance's (`set_endpoints`): not removed by a reload."""
        return name in self._by_name

    def observe(self, result: ProbeResult) -> None:
        """Every final result, on the event loop. Results of endpoints no longer configured (or of another kind:
        an in-flight probe across a reload) are dropped, so removed endpoints stay gone. A result of an older
        definition of the endpoint (`ProbeResult.revision`: probed across the reload that edited it) counts and
        is the last result (success, status, last run), but its steps, phases and certificate are not the
        endpoint's any more: they are left to the new definition's first result."""
        slot = self._by_name.get(result.endpoint)
        if slot is None or slot.kind != result.kind:
            return
        outcome = result.outcome
        slot.ok = outcome is Outcome.SUCCESS
        count_outcome(slot.outcomes, OUTCOME_INDEX[outcome])
        bounds = self._bounds
        if bounds is not None:
            seconds = result.duration
            slot.buckets[bisect_left(bounds, seconds)] += 1
            slot.duration_sum += seconds
        if slot.reports_status:
            slot.status = result.status_code or 0
        if result.revision < slot.revision:  # probed with the definition before the edit
            slot.last_run = result.started_at
            slot.dirty = True
            return
        if slot.redefined:  # the new definition's first result: what the endpoint no longer has goes
            slot.redefined = False
            slot.gauges = {} if slot.kind_gauges else slot.gauges
            slot.cert_expiry = None
        for gauge in slot.kind_gauges:
            values = gauge.values(result)
            if values:
                current = slot.gauges.get(gauge.name)
                if current is not None and values.keys() <= current.keys():
                    current.update(values)
                else:
                    slot.gauges[gauge.name] = {**(current or {}), **values}
        if result.cert_expiry is not None:
            slot.cert_expiry = result.cert_expiry
        slot.last_run = result.started_at  # marks the slot as having series
        slot.dirty = True  # last: a rendering from another thread that missed part of this result repeats

    def describe(self) -> Iterable[Metric]:
        return [Metric(spec.name, spec.help, spec.type) for spec in self._specs]

    def collect(self) -> Iterable[Metric]:
        table = EndpointTable(self._specs, self._slots, self._scrape_seconds)
        return [EndpointFamily(table, i) for i in range(len(self._specs))]


__all__ = ["ProbeMetrics"]

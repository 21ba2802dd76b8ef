"""Where each probe result goes (the data flow's `on_result`): O(1) per result, on the event loop, no awaits.

Every attempt goes to the store's history; a final result also drives the probe metrics, the SLO ledger,
alert health and any listeners, and becomes its endpoint's latest result (the status page, the API).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from slowatch.alerting import AlertService
from slowatch.metrics import ProbeMetrics
from slowatch.models import ProbeResult
from slowatch.slo.service import SloService
from slowatch.store import Store


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    probes: int = 0
    failures: int = 0
    reloads: int = 0


class Results:
    def __init__(
        self,
        store: Store,
        metrics: ProbeMetrics,
        slo: SloService,
        alerts: AlertService,
        *,
        latest: dict[str, ProbeResult],
        unprobed: set[str],
        listeners: Iterable[Callable[[ProbeResult], None]] = (),
    ) -> None:
        """`latest` is shared with whoever reads it (AlertService, the web layer); `unprobed` names the endpoints
        still waiting for a first result: once none is left, their long-lived state is frozen out of GC scans."""
        self._store, self._metrics, self._slo, self._alerts = store, metrics, slo, alerts
        self.latest = latest
        self._unprobed = unprobed
        self._listeners = list(listeners)
        self.stats = RunStats()

    def observe(self, result: ProbeResult) -> None:
        """Every attempt goes to history; final results drive metrics and state. O(1), no awaits."""
        self._store.record(result)
        if not result.final:
            return
        self.stats.probes += 1
        if not result.ok:
            self.stats.failures += 1
        if self._metrics.configured(result.endpoint):  # not a late result of an endpoint a reload removed (forget)
            self.latest[result.endpoint] = result
        if self._unprobed:
            self._unprobed.discard(result.endpoint)
            if not self._unprobed:
                gc.freeze()  # every endpoint's long-lived state now exists: keep it out of GC scans too
        self._metrics.observe(result)
        self._slo.observe(result)
        self._alerts.observe(result)
        for listener in self._listeners:
            listener(result)

    def forget(self, names: Iterable[str]) -> None:
        """Drop the latest results of endpoints a reload removed or disabled. (A result of a probe in flight across
        the reload comes later: `observe` keeps it only for an endpoint still configured. Before session 15, each
        kept a removed endpoint's result for the run.)"""
        for name in names:
            self.latest.pop(name, None)


__all__ = ["Results", "RunStats"]

"""A prometheus-client Collector that reads only the current SLO Snapshot (no I/O, no locks).

Series without a value (no data in a window, budget gone for time-to-exhaustion) are omitted rather
than exported as NaN; `slowatch_slo_no_data` is 1 for an SLO with no data in its window. The event
counters are the Snapshot's `events_total`/`good_events_total`: the counters of the last committed SLO
save (slo/service.py), which a restart restores, so they are monotonic across restarts, kill -9 included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from slowatch.slo.snapshot import SloState, Snapshot

_SLO = ["consumer", "slo"]
_WINDOW = ["consumer", "slo", "window"]


REFRESH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def refresh_histogram() -> Histogram:
    """Durations of SLO engine refreshes; not registered itself: `SloCollector` yields it."""
    return Histogram(
        "slowatch_slo_refresh_seconds",
        "Duration of one SLO engine refresh (every SLO's SLI, budget and burn rates from the ledgers).",
        buckets=REFRESH_BUCKETS,
        registry=None,
    )


class SloCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot], refresh_times: Histogram | None = None) -> None:
        self._snapshot = snapshot
        self._refresh_times = refresh_times

    def collect(self) -> Iterator[Metric]:
        if self._refresh_times is not None:
            yield from self._refresh_times.collect()
        snap = self._snapshot()
        objective = GaugeMetricFamily("slowatch_slo_objective_ratio", "SLO objective as a ratio.", labels=_SLO)
        sli = GaugeMetricFamily(
            "slowatch_slo_sli_ratio", "Good / total units (probes or timeslices) per window.", labels=_WINDOW
        )
        remaining = GaugeMetricFamily(
            "slowatch_slo_error_budget_remaining_ratio",
            "1 - (1 - SLI) / (1 - objective) over the SLO window; negative when overspent; absent with too few events.",
            labels=_SLO,
        )
        burn = GaugeMetricFamily("slowatch_slo_burn_rate", "Error ratio / (1 - objective) per window.", labels=_WINDOW)
        tte = GaugeMetricFamily(
            "slowatch_slo_time_to_exhaustion_seconds",
            "Remaining budget x window length / 1h burn rate; absent when not burning or exhausted.",
            labels=_SLO,
        )
        no_data = GaugeMetricFamily(
            "slowatch_slo_no_data", "1 when the SLO window holds no counted probes.", labels=_SLO
        )
        too_few = GaugeMetricFamily(
            "slowatch_slo_too_few_events",
            "1 when the budget allows fewer than one bad unit in the window.",
            labels=_SLO,
        )
        events = CounterMetricFamily(
            "slowatch_slo_events", "Probes counted for the SLO (maintenance excluded).", labels=_SLO
        )
        good = CounterMetricFamily("slowatch_slo_good_events", "Good probes counted for the SLO.", labels=_SLO)
        for s in snap.slos:
            key = [s.consumer, s.slo]
            objective.add_metric(key, s.objective)
            no_data.add_metric(key, 1.0 if s.state is SloState.NO_DATA else 0.0)
            too_few.add_metric(key, 1.0 if s.state is SloState.TOO_FEW_EVENTS else 0.0)
            events.add_metric(key, s.events_total)
            good.add_metric(key, s.good_events_total)
            if s.sli is not None:
                sli.add_metric([*key, s.window], s.sli)
            if s.burn_rate is not None:
                burn.add_metric([*key, s.window], s.burn_rate)
            trusted = s.state is SloState.OK  # while collecting, -39,900% is noise: too_few_events says so
            if s.budget_remaining is not None and trusted:
                remaining.add_metric(key, s.budget_remaining)
            if s.time_to_exhaustion is not None and trusted:
                tte.add_metric(key, s.time_to_exhaustion)
            for w in s.windows:
                if w.window == s.window:
                    continue
                if w.sli is not None:
                    sli.add_metric([*key, w.window], w.sli)
                if w.burn_rate is not None:
                    burn.add_metric([*key, w.window], w.burn_rate)
        yield from (objective, sli, remaining, burn, tte, no_data, too_few, events, good)


__all__ = ["REFRESH_BUCKETS", "SloCollector", "refresh_histogram"]

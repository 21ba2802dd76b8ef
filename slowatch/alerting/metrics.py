"""`AlertCollector`: alerting metrics built from in-memory state at scrape time (no I/O).

slowatch_alerts_firing{consumer,slo,severity,kind}     1 per firing SLO alert (kind: burn_rate,
                                                         budget_exhausted, no_data)
slowatch_endpoint_down{endpoint}                        1 while an endpoint-down alert fires; no series
                                                         otherwise (like Prometheus's own ALERTS: a 0 per
                                                         endpoint was 100,000 series at 100,000 endpoints, and
                                                         a third of the scrape's CPU; `slowatch_probe_success`
                                                         says up or down for every endpoint)
slowatch_endpoint_suppressed{endpoint,reason}          1 while slowatch would keep the endpoint's down page
                                                         quiet (reason: silence, maintenance, dependency;
                                                         slowatch/alerting/held.py), firing or not; no series
                                                         otherwise. The generated SlowatchEndpointDown is
                                                         kept quiet by it
slowatch_alerts_suppressed{alert}                      1 per firing alert kept quiet (silence/maintenance)
slowatch_notifications_total{sink,outcome}             delivered | withheld (a restored FIRING Alertmanager
                                                         is not told: dispatcher.py) | failed | expired | superseded |
                                                         overflow (fold.py) | held (restored.py) | retried |
                                                         refreshed | refresh_failed; error: an attempt
                                                         that raised (a bug; also counted as retried);
                                                         sink="(none)", outcome="unrouted" for events no
                                                         route took
slowatch_alert_sink_restarts_total{sink}               times the sink's worker crashed and was restarted
slowatch_outbox_pending{sink}                          undelivered items, but those held
slowatch_outbox_held{sink}                             restored RESOLVED items an Alertmanager sink holds until
                                                         this process judges their alert (restored.py)
slowatch_outbox_oldest_pending_age_seconds{sink}       age of the oldest undelivered item not held (0 if none)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from slowatch.alerting.held import held_pages

if TYPE_CHECKING:
    from prometheus_client import Metric

    from slowatch.alerting.service import AlertService


class AlertCollector(Collector):
    def __init__(self, service: AlertService, now: Callable[[], float]) -> None:
        self._service = service
        self._now = now

    def collect(self) -> Iterable[Metric]:
        svc, now = self._service, self._now()
        firing = GaugeMetricFamily("slowatch_alerts_firing", "Firing SLO alerts (1 per alert).",
                                   labels=["consumer", "slo", "severity", "kind"])  # fmt: skip
        down = GaugeMetricFamily(
            "slowatch_endpoint_down", "1 while the endpoint's down alert fires.", labels=["endpoint"]
        )
        quiet = GaugeMetricFamily("slowatch_alerts_suppressed", "Firing alerts kept quiet by a silence or maintenance.",
                                  labels=["alert"])  # fmt: skip
        down_now = set()
        for key, f in sorted(svc.book.firing.items()):
            e = f.event
            if e.kind == "endpoint_down":
                down_now.add(e.endpoint)
            else:
                firing.add_metric([",".join(e.consumers), e.slo, e.severity, e.kind], 1.0)
            if not f.notified:
                quiet.add_metric([key], 1.0)
        for name in sorted(down_now):
            down.add_metric([name], 1.0)
        held = GaugeMetricFamily("slowatch_endpoint_suppressed",
                                 "1 while slowatch keeps the endpoint's down page quiet (firing or not).",
                                 labels=["endpoint", "reason"])  # fmt: skip
        for name, reason in sorted(held_pages(svc.health, svc.suppressor, now).items()):
            held.add_metric([name, reason], 1.0)
        sent = CounterMetricFamily("slowatch_notifications", "Notification outcomes per sink (per event).",
                                   labels=["sink", "outcome"])  # fmt: skip
        counts = svc.book.counters + svc.dispatcher.counters
        for (sink, outcome), n in sorted(counts.items()):
            sent.add_metric([sink, outcome], float(n))
        restarts = CounterMetricFamily("slowatch_alert_sink_restarts", "Sink workers restarted after a crash.",
                                       labels=["sink"])  # fmt: skip
        for name in sorted(svc.dispatcher.workers):
            restarts.add_metric([name], float(svc.dispatcher.restarts[name]))
        pending = GaugeMetricFamily("slowatch_outbox_pending", "Undelivered outbox items (not held).", labels=["sink"])
        kept = GaugeMetricFamily("slowatch_outbox_held", "Restored RESOLVED items held until their alert is judged.",
                                 labels=["sink"])  # fmt: skip
        age = GaugeMetricFamily("slowatch_outbox_oldest_pending_age_seconds", "Age of the oldest undelivered item.",
                                labels=["sink"])  # fmt: skip
        for name, worker in sorted(svc.dispatcher.workers.items()):
            n, head = svc.dispatcher.waiting(worker)
            pending.add_metric([name], float(len(worker.queue) - n))
            kept.add_metric([name], float(n))
            age.add_metric([name], max(0.0, now - head.created) if head is not None else 0.0)
        yield from (firing, down, held, quiet, sent, restarts, pending, kept, age)


__all__ = ["AlertCollector"]

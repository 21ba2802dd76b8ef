"""Alertmanager: POST /api/v2/alerts with a list of alerts.

Labels: alertname (SlowatchEndpointDown, SlowatchBurnRate, SlowatchBudgetExhausted, SlowatchNoData,
SlowatchTest), alert_key, severity, kind, and consumer / slo / endpoint when set (several consumers
are joined with ","), and, on one of several instances (`server.cluster`), `location` (when set) and, on SLO
alerts, `shard` (when sharded), never `replica`: HA replicas of one shard send identical labels, so Alertmanager
deduplicates them, while alerts of different locations, and SLO alerts of different shards (each judges its
part of a consumer), stay apart. An endpoint alert carries no `shard`: one shard owns each endpoint, so the label
tells nothing apart, and an endpoint that moves to another shard (resharding) keeps its alert there.
Annotations: summary, title. `startsAt` is when the alert started firing;
a resolved event sets `endsAt` (and `startsAt` to it, if the wall clock stepped back since the alert fired:
Alertmanager refuses a whole POST with one alert ending before it starts). Firing alerts are re-POSTed every
`resend_interval` by the dispatcher so Alertmanager does not time them out (its resolve_timeout, 5m by default),
but only those this process confirmed (`Firing.confirmed`: an endpoint alert while its latest probe failed): a
stale "firing" from one replica after another resolved the alert would make Alertmanager notify it anew.
Alertmanager keeps the state of each alert, so it is never told one older than the newest this process
queued (`latest_only`): each POST carries the newest queued event of every alert it names, re-POSTs never
run beside a queued POST, and a FIRING restored from the outbox is not posted while this process has not
seen the alert's condition since it started (dispatcher.py `SinkWorker.payload`). An SLO alert whose
condition is false, waiting out `resolve_after`, is re-posted with endsAt = when it will resolve until one such
POST lands, then not again (service.py `AlertService._firing_for`). A 400 refusing a batch is retried one alert at
a time (`classify`), so one invalid alert does not fail the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from multidict import CIMultiDictProxy

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.sinks.base import Attempt, Request, Sink, html_page
from slowatch.alerting.sinks.text import iso
from slowatch.config.alerting import AlertmanagerSinkConfig

ALERTNAMES = {
    "endpoint_down": "SlowatchEndpointDown",
    "burn_rate": "SlowatchBurnRate",
    "budget_exhausted": "SlowatchBudgetExhausted",
    "no_data": "SlowatchNoData",
    "test": "SlowatchTest",
}
TEST_LIFETIME = 300.0


def am_alert(
    e: AlertEvent, url: str | None, *, test: bool = False, scope: Mapping[str, str] | None = None
) -> dict[str, Any]:
    if scope and e.kind == "endpoint_down":
        scope = {k: v for k, v in scope.items() if k != "shard"}
    labels = {
        **(scope or {}),
        "alertname": ALERTNAMES.get(e.kind, "Slowatch"), "alert_key": e.alert_key, "severity": e.severity,
        "kind": e.kind, "consumer": ",".join(e.consumers), "slo": e.slo, "endpoint": e.endpoint,
    }  # fmt: skip
    alert: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {"summary": e.summary[:1000], "title": e.title},
        "startsAt": iso(e.since),
    }
    if e.status == "resolved" and not e.recovered:  # ended for a reason, not a recovery: say which
        alert["annotations"]["reason"] = str(e.details["reason"])[:1000]
    if url:
        alert["generatorURL"] = f"{url}/"
    if e.status == "resolved":
        alert["endsAt"] = iso(e.ts)
        if e.ts < e.since:  # the wall clock stepped back since it fired: Alertmanager refuses (400) endsAt < startsAt
            alert["startsAt"] = alert["endsAt"]  # (for the whole POST), and keeps the earliest startsAt it has
    elif test:
        alert["endsAt"] = iso(e.ts + TEST_LIFETIME)
    return alert


class AlertmanagerSink(Sink):
    kind = "alertmanager"
    always_batch = True
    latest_only = True

    def __init__(self, name: str, config: AlertmanagerSinkConfig, external_url: str | None) -> None:
        super().__init__(name, config, external_url)
        self.resend_interval = config.resend_interval
        self._url = config.url
        self._headers = config.headers

    def request(self, events: Sequence[AlertEvent], *, test: bool = False) -> Request:
        url = self._url.get_secret_value().rstrip("/") + "/api/v2/alerts"
        headers = {k: v.get_secret_value() for k, v in self._headers.items()}
        return Request(url, [am_alert(e, self.external_url, test=test, scope=self.scope) for e in events], headers)

    def classify(self, status: int, body: str, headers: CIMultiDictProxy[str]) -> Attempt:
        """A 400 may be one invalid alert of many: Alertmanager stores the valid ones and refuses the request (API v2
        `postAlertsHandler`). `split`: the worker sends such a batch again one alert at a time, so only the invalid
        one fails."""
        if (page := html_page(status, body, headers, "Alertmanager")) is not None:
            return page
        attempt = super().classify(status, body, headers)
        return replace(attempt, split=True) if status == 400 else attempt

    def target(self) -> str:
        return self._url.get_secret_value().rstrip("/") + "/api/v2/alerts"

    def credentials(self) -> Mapping[str, str]:
        return {k: v.get_secret_value() for k, v in self._headers.items()}

    def secrets(self) -> list[str]:
        return [self._url.get_secret_value(), *(v.get_secret_value() for v in self._headers.values())]


__all__ = ["ALERTNAMES", "AlertmanagerSink", "am_alert"]

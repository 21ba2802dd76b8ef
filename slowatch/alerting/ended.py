"""Which pending notifications tell of an outage that has ended without its sink hearing the end.

A sink removed by a reload keeps its undelivered rows (outbox.Prune), for when it is added back: by a reload
(`AlertService._pending_of`) or in the file at a start (`AlertService.start`). An alert that resolved meanwhile sent
its RESOLVED to no sink, so its FIRING (or reminder) still pending for the sink is the sink's last news of it: sent,
the receiver would show that outage for good (a receiver keyed by outage never sees it end). Such a row is marked
expired instead. Not when something of the alert is queued behind it for that sink (a RESOLVED, or the FIRING of a
later outage: the dispatcher folds them, fold.py), nor for an endpoint alert with `send_resolved: false` (its end
queues no RESOLVED anyway: the FIRING goes late, as it would without a restart), nor for a row of a status this
version does not know (another version's: it goes its usual way).

A pure function of the rows and the alerts firing now: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from slowatch.alerting.book import Firing
from slowatch.alerting.events import AlertEvent
from slowatch.alerting.outbox import OutboxItem
from slowatch.config.alerting import EndpointAlerts

ENDED = "not sent: its alert ended while the sink was not configured"


def split_ended(
    items: Sequence[OutboxItem], firing: Mapping[str, Firing], resolve_sent: Callable[[AlertEvent], bool]
) -> tuple[list[OutboxItem], list[OutboxItem]]:
    """(kept, ended) of `items`, pending rows oldest first, by the rule above. `firing`: the alerts firing now (alert
    key -> `Firing`); `resolve_sent(event)`: whether the end of `event`'s alert queues a RESOLVED."""
    last = {(i.sink, i.event.alert_key): i for i in items}
    kept: list[OutboxItem] = []
    ended: list[OutboxItem] = []
    for item in items:
        e = item.event
        now = firing.get(e.alert_key)
        if e.status not in ("firing", "reminder") or (now is not None and now.event.since == e.since):
            kept.append(item)  # (a RESOLVED is true whenever it goes)
        elif last[(item.sink, e.alert_key)] is not item or not resolve_sent(e):
            kept.append(item)
        else:
            ended.append(item)
    return kept, ended


def resolve_sent(alerts: Mapping[str, EndpointAlerts], event: AlertEvent) -> bool:
    """Whether the end of `event`'s alert queues a RESOLVED: not for an endpoint alert whose endpoint's `alerts`
    (endpoint name -> its config) say `send_resolved: false`."""
    if event.kind != "endpoint_down":
        return True
    config = alerts.get(event.endpoint)
    return config is None or config.send_resolved


__all__ = ["ENDED", "resolve_sent", "split_ended"]

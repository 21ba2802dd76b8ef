"""Which pending notifications tell of an outage that has ended without its sink hearing the end.

A sink removed by a reload keeps its undelivered rows (outbox.Prune), for when it is added back: by a reload
(`AlertService._pending_of`) or in the file at a start (`AlertService.start`). An alert that resolved meanwhile sent
its RESOLVED to no sink, so its FIRING (or reminder) still pending for the sink is the sink's last news of it: sent,
the receiver would show that outage for good (a receiver keyed by outage never sees it end). Such a row is marked
expired instead. Not when something of the alert is queued behind it for that sink (a RESOLVED, or the FIRING of a
later outage: the dispatcher folds them, fold.py), nor for an endpoint alert with `send_resolved: false` (its end
queues no RESOLVED anyway: the FIRING goes late, as it would without a restart), nor for a row of a status this
version does not know (another version's: it goes its usual way).

But a FIRING that may have reached the receiver (`OutboxItem.reached`: an attempt was in flight when the sink was
removed, or timed out) may show that outage firing there already: its sink gets the RESOLVED instead (`owed`: a
RESOLVED row queued behind it, which folds it, fold.py). Not for a sink that keeps each alert's state (Alertmanager:
`keeps_state`) while the alert is firing again: it shows the alert firing, which it is (the re-POST carries the
current outage), and a RESOLVED would end it there.

A pure function of the rows and the alerts firing now: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from slowatch.alerting.book import Firing
from slowatch.alerting.events import AlertEvent
from slowatch.alerting.outbox import OutboxItem
from slowatch.config.alerting import EndpointAlerts

ENDED = "not sent: its alert ended while the sink was not configured"
OWED = "it ended while this sink was not configured"
"""The `reason` of the RESOLVED owed to a sink added back (`owed_resolved`): when and how the outage ended is not
known here (a recovery, or its endpoint or SLO removed), so the receiver is not told it is up."""
FOLDING = ("folded", "folded_since", "firing_undelivered", "resolve_owed")
"""What the fold (fold.py) wrote in a row's details: not the RESOLVED's own."""


def split_ended(
    items: Sequence[OutboxItem],
    firing: Mapping[str, Firing],
    resolve_sent: Callable[[AlertEvent], bool],
    keeps_state: Callable[[str], bool],
) -> tuple[list[OutboxItem], list[OutboxItem], list[OutboxItem]]:
    """(kept, ended, owed) of `items`, pending rows oldest first, by the rules above. `firing`: the alerts firing now
    (alert key -> `Firing`); `resolve_sent(event)`: whether the end of `event`'s alert queues a RESOLVED;
    `keeps_state(sink)`: whether sink `sink` keeps each alert's state (Alertmanager). `owed`: rows kept too, each
    to be followed by its RESOLVED (`owed_resolved`)."""
    last = {(i.sink, i.event.alert_key): i for i in items}
    kept: list[OutboxItem] = []
    ended: list[OutboxItem] = []
    owed: list[OutboxItem] = []
    for item in items:
        e = item.event
        now = firing.get(e.alert_key)
        if e.status not in ("firing", "reminder") or (now is not None and now.event.since == e.since):
            kept.append(item)  # (a RESOLVED is true whenever it goes)
        elif last[(item.sink, e.alert_key)] is not item or not resolve_sent(e):
            kept.append(item)
        elif item.reached and not (now is not None and keeps_state(item.sink)):
            kept.append(item)
            owed.append(item)
        else:
            ended.append(item)
    return kept, ended, owed


def owed_resolved(item: OutboxItem, now: float) -> OutboxItem:
    """The RESOLVED owed to `item`'s sink (an `owed` row of `split_ended`), decided `now` (wall clock)."""
    own = {k: v for k, v in item.event.details.items() if k not in FOLDING}  # (the fold counts `item` into it)
    event = replace(item.event, details=own).as_resolved(now, {"reason": OWED})
    return OutboxItem(item.sink, event, now, restored=True)


def resolve_sent(alerts: Mapping[str, EndpointAlerts], event: AlertEvent) -> bool:
    """Whether the end of `event`'s alert queues a RESOLVED: not for an endpoint alert whose endpoint's `alerts`
    (endpoint name -> its config) say `send_resolved: false`."""
    if event.kind != "endpoint_down":
        return True
    config = alerts.get(event.endpoint)
    return config is None or config.send_resolved


__all__ = ["ENDED", "OWED", "owed_resolved", "resolve_sent", "split_ended"]

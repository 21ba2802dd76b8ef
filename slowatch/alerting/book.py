"""`AlertBook`: what is firing, and the one place that turns decisions into outbox items.

Every decision goes through `fire` / `notify` / `remind` / `resolve` into a `Decision`, which
`commit` hands to the store as ONE op (firing state + outbox rows in one transaction) and to the
dispatcher's in-memory queues (which deliver only after the op has committed).

Routes: tried in order; the first whose `match` fits wins and routing stops, unless that route
says `continue: true`, in which case later routes are tried as well (Alertmanager's semantics).
A match key that is set must equal the event's value; `consumer` matches if it is any of the
event's consumers (endpoint alerts carry every consumer depending on the endpoint). An event no
route matches goes nowhere (counted as `unrouted` in slowatch_notifications_total).

A suppressed alert (silence, maintenance) is recorded as firing but not notified; once the
suppression ends while it still fires, the next evaluation notifies it. Resolving an alert that
was never notified sends nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.outbox import Decision, FiringRow, OutboxItem
from slowatch.config.alerting import Route, RouteMatch
from slowatch.store import Store

logger = logging.getLogger(__name__)


def matches(m: RouteMatch, event: AlertEvent) -> bool:
    if m.consumer is not None and m.consumer not in event.consumers:
        return False
    if m.severity is not None and m.severity != event.severity:
        return False
    if m.kind is not None and m.kind != event.kind:
        return False
    if m.endpoint is not None and m.endpoint != event.endpoint:
        return False
    return m.slo is None or m.slo == event.slo


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = tuple(routes)

    def sinks_for(self, event: AlertEvent) -> tuple[str, ...]:
        """Sink names in route order, without duplicates."""
        out: dict[str, None] = {}
        for route in self._routes:
            if matches(route.match, event):
                out.update(dict.fromkeys(route.sinks))
                if not route.continue_:
                    break
        return tuple(out)


@dataclass(slots=True)
class Firing:
    event: AlertEvent  # the firing event (its `since` and details as first notified)
    notified: bool
    last_sent: float | None
    clear_since: float | None = None  # SLO alerts: when the condition was first seen false (Clock.monotonic)
    confirmed: bool = True
    """This process saw the alert's condition hold: it fired here, or (restored from the store at start) a
    probe failed since, or an evaluation found the SLO condition true; for an endpoint alert, also false again
    while its latest probe succeeded. Only confirmed alerts are re-posted (`resend_interval`): a replica
    restarted after its peer resolved an outage, or one a probe behind its peer, must not tell Alertmanager the
    alert fires again (it would notify it anew)."""
    released: bool = False
    """Notified to no sink only because the Prometheus rules judge its location quorum (Suppressor `QUORUM`):
    no silence, window or dependency of this process held it when last looked at, so the rules' page may be
    out. Like a notified alert, it is no longer held (`slowatch_endpoint_suppressed`, alerting/held.py) by a
    hold starting later. In memory only: a restored alert is looked at again at its next failed probe."""
    ends_at: float | None = None
    """SLO alerts whose condition is false (`clear_since`) after this process saw it true: the wall time they
    will resolve at unless it comes back. Re-posted with that endsAt until one such POST lands per sink
    (`told_end`; a failed one is retried), then not again: re-posting them as firing would re-open the alert
    after a replica ahead of this one resolved it."""
    told_end: set[str] = field(default_factory=set)
    reminded: int = 0
    """The number of the last reminder sent by this process (in memory: 0 after a restart). The next one's is
    higher, whatever the wall clock did (`EndpointHealth`)."""

    def row(self) -> FiringRow:
        return FiringRow(self.event.alert_key, self.event, self.notified, self.last_sent)


class AlertBook:
    def __init__(
        self, store: Store, router: Router, enqueue: Callable[[Sequence[OutboxItem]], None],
        admit: Callable[[Decision], None] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self._admit = admit  # the dispatcher's fold (fold.py): supersedes stale items in the decision's op
        self.router = router
        self.firing: dict[str, Firing] = {}
        self.counters: Counter[tuple[str, str]] = Counter()
        self._enqueue = enqueue
        self._streaks_op: Decision | None = None  # the last decision queued, while streak-only: absorbs the next

    def restore(self, rows: Sequence[FiringRow]) -> None:
        self.firing = {r.key: Firing(r.event, r.notified, r.last_sent, confirmed=False) for r in rows}

    def _route(self, event: AlertEvent, decision: Decision, only: Callable[[str], bool] | None = None) -> bool:
        sinks = self.router.sinks_for(event)
        if only is not None:
            sinks = tuple(s for s in sinks if only(s))
        if not sinks:
            self.counters[("(none)", "unrouted")] += 1
            logger.info("alert matched no route alert=%s status=%s", event.alert_key, event.status)
        decision.items.extend(OutboxItem(s, event, decision.now) for s in sinks)
        return bool(sinks)

    def fire(self, event: AlertEvent, suppressed: str | None, decision: Decision) -> None:
        notified = suppressed is None
        if notified:
            self._route(event, decision)
        else:
            logger.info("alert suppressed alert=%s reason=%s", event.alert_key, suppressed)
        f = self.firing[event.alert_key] = Firing(event, notified, decision.now if notified else None)
        decision.firing[event.alert_key] = f.row()
        decision.cleared.discard(event.alert_key)

    def notify(self, key: str, decision: Decision) -> None:
        """Send the firing event of an alert whose suppression has ended."""
        f = self.firing[key]
        f.notified, f.last_sent = True, decision.now
        self._route(f.event, decision)
        decision.firing[key] = f.row()

    def remind(self, key: str, n: int, decision: Decision) -> None:
        f = self.firing[key]
        f.last_sent, f.reminded = decision.now, n
        self._route(f.event.as_reminder(decision.now, n), decision)
        decision.firing[key] = f.row()

    def resolve(
        self, key: str, decision: Decision, *, send: bool = True, details: dict[str, Any] | None = None,
        only: Callable[[str], bool] | None = None,
    ) -> None:  # fmt: skip
        """End alert `key`; its RESOLVED goes (when `send`, and it was notified) to its routes' sinks (of those,
        the ones `only` keeps, when given)."""
        f = self.firing.pop(key)
        if f.notified and send:
            self._route(f.event.as_resolved(decision.now, details), decision, only)
        decision.firing.pop(key, None)
        decision.cleared.add(key)

    def commit(self, decision: Decision) -> None:
        if decision.firing or decision.cleared or decision.items or decision.forgotten:
            if decision.items and self._admit is not None:
                self._admit(decision)
            self.store.submit(decision)
            self._streaks_op = None  # later streaks must be written after this one's: a new op
            if decision.items:
                self._enqueue(decision.items)
        elif decision.streaks and (self._streaks_op is None or not self._streaks_op.absorb(decision)):
            self.store.submit(decision)
            self._streaks_op = decision


__all__ = ["AlertBook", "Firing", "Router", "matches"]

"""Folding: after a sink's outage it gets each alert's CURRENT state, not a replay of its history.

Alertmanager's rule, applied per sink. When a decision queues a notification of an alert for a sink
while older ones of the same alert still wait for that sink, the older ones are superseded: their rows
deleted from the outbox by the same store op that inserts the new row (`Decision`, outbox.supersede), dropped from the
worker's queue, counted (`outcome="superseded"`). An item in flight (being sent, or its outcome being
recorded) is never superseded: the new one waits behind it, so each alert's messages stay in order.

Nothing is lost in the fold: the new event's `details` say how many notifications it stands for besides
itself (`folded`, summed over earlier folds) and since when (`folded_since`, when the first of them was
decided), and a RESOLVED that superseded its own episode's FIRING says so (`firing_undelivered`), unless the
receiver may have got it (`OutboxItem.reached`: an attempt timed out or was cut after sending, or an Alertmanager
re-POST carried it): its message names when the alert started and how long it lasted (as every RESOLVED does).
Nor when the receiver may still show an EARLIER episode firing (`owes_resolve`): a FIRING that folds the RESOLVED
of such an episode says so (`resolve_owed`), and the RESOLVED that later folds that FIRING is then no `quiet` one.

A reminder is not queued while anything of its alert waits for that sink (what waits tells the alert's
state, and is newer news than "still firing"): counted as superseded. The rows pending at a start are
folded the same way, oldest first (`Dispatcher.restore`, stored by one `outbox.Refold` op).

The size backstop, `max_pending` per sink: when a decision would take a sink's queue past it, the oldest
RESOLVED items whose FIRING that sink never got are dropped (rows deleted, counted as
`outcome="overflow"`, logged): the sink believes the alert is not firing, which is its state. A firing
state, or the RESOLVED of a FIRING the sink got, is never dropped: past the cap with only those, the
queue holds one of them per alert (a number the config bounds) and a warning says so.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from typing import Protocol

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.outbox import SUPERSEDED, Decision, OutboxItem

logger = logging.getLogger(__name__)

OVERFLOW = "overflow"
COMPACT_AFTER = 64  # superseded items left in the middle of a queue before it is rebuilt without them


def quiet(event: AlertEvent) -> bool:
    """A RESOLVED of an episode whose FIRING this sink never got: dropping it leaves the sink right."""
    return event.status == "resolved" and event.details.get("firing_undelivered") is True


class PendingQueue:
    """One sink's undelivered items in order (live ones only, as seen by len / iter / [0]), indexed by
    alert key. A superseded item is skipped where it lies (removed at once from the head, the rest when
    they add up to half the queue): superseding is O(1), not a scan of a queue of thousands."""

    def __init__(self) -> None:
        self._items: deque[OutboxItem] = deque()
        self._dead = 0
        self._quiet: deque[OutboxItem] = deque()  # candidates for the cap, oldest first (may hold done items)
        self.by_key: dict[str, list[OutboxItem]] = {}
        self.full = False  # past max_pending with nothing droppable: warned once until it is below again

    def __len__(self) -> int:
        return len(self._items) - self._dead

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[OutboxItem]:
        return (i for i in self._items if not i.superseded)

    def __getitem__(self, index: int) -> OutboxItem:
        if index != 0:
            raise IndexError("only the head of a pending queue is addressable")
        return self._items[0]  # never a superseded one (`_trim`)

    def append(self, item: OutboxItem) -> None:
        self._items.append(item)
        self.by_key.setdefault(item.event.alert_key, []).append(item)
        if quiet(item.event):
            self._quiet.append(item)
            if len(self._quiet) > 2 * len(self) + COMPACT_AFTER:  # (done ones are left in it: drop them now)
                self._quiet = deque(i for i in self._quiet if self._waiting(i))

    def remove(self, item: OutboxItem) -> None:
        """`item` is done (delivered, failed, expired)."""
        if item.superseded:
            return
        self._unkey(item)
        if self._items and self._items[0] is item:
            self._items.popleft()
        else:
            try:
                self._items.remove(item)
            except ValueError:
                return
        self._trim()

    def supersede(self, item: OutboxItem) -> None:
        item.superseded = True
        self._dead += 1
        self._unkey(item)
        self._trim()
        if self._dead > COMPACT_AFTER and self._dead * 2 > len(self._items):
            self._items = deque(i for i in self._items if not i.superseded)
            self._dead = 0

    def oldest_quiet(self) -> OutboxItem | None:
        while self._quiet:
            item = self._quiet.popleft()
            if self._waiting(item) and not item.in_flight:
                return item
        return None

    def _waiting(self, item: OutboxItem) -> bool:
        return not item.superseded and item in self.by_key.get(item.event.alert_key, ())

    def _unkey(self, item: OutboxItem) -> None:
        keyed = self.by_key.get(item.event.alert_key)
        if keyed is not None and item in keyed:
            keyed.remove(item)
            if not keyed:
                del self.by_key[item.event.alert_key]

    def _trim(self) -> None:
        while self._items and self._items[0].superseded:
            self._items.popleft()
            self._dead -= 1


class Queued(Protocol):
    queue: PendingQueue

    @property
    def max_pending(self) -> int: ...


def folded(event: AlertEvent, older: list[OutboxItem]) -> AlertEvent:
    """`event`, saying how many notifications it supersedes (with theirs) and since when, added to what it already
    says (a row restored at start may have folded others before: `Dispatcher.restore`)."""
    n, since = event.details.get("folded", 0), event.details.get("folded_since", event.ts)
    for o in older:
        od = o.event.details
        n += 1 + od.get("folded", 0)
        since = min(since, od.get("folded_since", o.event.ts))
    details = {**event.details, "folded": n, "folded_since": since}
    owed = any(owes_resolve(o) for o in older)
    if event.status == "resolved":  # (not when an attempt may have reached the receiver: OutboxItem.reached)
        episode = [o for o in older if o.event.firing and o.event.since == event.since]
        if any(o.event.status == "firing" for o in episode) and not any(o.reached for o in episode) and not owed:
            details["firing_undelivered"] = True
    elif owed:
        details["resolve_owed"] = True
    e = event  # (not dataclasses.replace: a third of the fold's time in a flapping partition)
    return AlertEvent(
        e.alert_key, e.kind, e.status, e.severity, e.since, e.ts, e.title, e.summary, e.consumers, e.slo,
        e.endpoint, e.seq, details,
    )  # fmt: skip


def owes_resolve(item: OutboxItem) -> bool:
    """The sink may show `item`'s alert firing from an EARLIER episode than the next RESOLVED's: `item` is a RESOLVED
    that is not `quiet` (the sink may have its FIRING), a FIRING of another episode that may have reached it, or a
    FIRING that folded one of those (`resolve_owed`). A RESOLVED folding it (directly, or through the FIRING that
    folded it) must reach the sink: never `firing_undelivered`, so never dropped by `max_pending`."""
    e = item.event
    if e.status == "resolved":
        return not quiet(e)
    return e.details.get("resolve_owed") is True or (item.reached and e.firing)


def fold(decision: Decision, sinks: Mapping[str, Queued], counts: Counter[tuple[str, str]]) -> None:
    """Supersede what `decision`'s items make stale, and apply each sink's cap (before it is submitted:
    the marks are part of its op). Adds to `counts` per (sink, outcome).

    Sinks that wait for the same notifications of an alert (the same event objects: the usual case, every
    sink routed the same decisions) share one folded event and one set of reasons: computed once per
    decision, not once per sink, and held once in memory while the op waits for the store. Not across sinks
    whose items differ in `reached` (one sink may have got a FIRING another never did)."""
    kept: list[OutboxItem] = []
    new: dict[str, int] = {}
    shared: dict[tuple[object, ...], tuple[AlertEvent, list[tuple[int, str]], str]] = {}
    for item in decision.items:
        sink = sinks.get(item.sink)
        if sink is None:
            kept.append(item)
            continue
        new[item.sink] = new.get(item.sink, 0) + 1
        waiting = sink.queue.by_key.get(item.event.alert_key)
        if not waiting:
            kept.append(item)
            continue
        if item.event.status == "reminder":
            counts[(item.sink, SUPERSEDED)] += 1
            new[item.sink] -= 1
            continue
        idle = [o for o in waiting if not o.in_flight]
        if not idle:
            kept.append(item)
            continue
        # (all alive while this runs: ids are unique; `reached` is the sink's own, and `folded` reads it)
        key = (id(item.event), *[(id(o.event), o.reached) for o in idle])
        done = shared.get(key)
        if done is None:
            eid = item.event.event_id
            older = [(n, oid) for n, o in enumerate(idle) if (oid := o.event.event_id) != eid]
            event = folded(item.event, [idle[n] for n, _ in older]) if older else item.event
            done = shared[key] = (event, older, f"superseded by {eid}")
        event, older, why = done
        if older:
            item.event = event
            for n, oid in older:
                sink.queue.supersede(idle[n])
                decision.superseded.append((item.sink, oid, why))
            counts[(item.sink, SUPERSEDED)] += len(older)
        kept.append(item)
    decision.items[:] = kept
    for name, added in new.items():
        sink = sinks[name]
        if len(sink.queue) + added > sink.max_pending:
            cap(decision, name, sink, len(sink.queue) + added - sink.max_pending, counts)
        else:
            sink.queue.full = False


def cap(decision: Decision, name: str, sink: Queued, over: int, counts: Counter[tuple[str, str]]) -> None:
    dropped = 0
    while dropped < over and (item := sink.queue.oldest_quiet()) is not None:
        sink.queue.supersede(item)
        decision.superseded.append((name, item.event.event_id, f"over max_pending ({sink.max_pending})"))
        dropped += 1
    if dropped:
        counts[(name, OVERFLOW)] += dropped
        logger.warning("outbox over max_pending: dropped the oldest resolved notifications of alerts this "
                       "sink never got as firing sink=%s dropped=%d max_pending=%d",
                       name, dropped, sink.max_pending)  # fmt: skip
    if dropped < over and not sink.queue.full:
        sink.queue.full = True
        logger.warning("outbox over max_pending with only current alert states left, keeping them sink=%s "
                       "pending=%d max_pending=%d", name, len(sink.queue), sink.max_pending)  # fmt: skip


__all__ = ["OVERFLOW", "PendingQueue", "Queued", "cap", "fold", "folded", "owes_resolve", "quiet"]

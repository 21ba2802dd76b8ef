"""RESOLVED notifications restored from the outbox that an Alertmanager sink holds until this process judges them.

A replica killed with alert x's RESOLVED pending for Alertmanager may restart after x failed again and its peer
fired it: posting the stale RESOLVED would resolve x in Alertmanager until the peer's next re-POST fires it again
(receivers get a spurious RESOLVED and FIRING). So a RESOLVED restored at start for a `latest_only` sink is held
(not posted, its row still pending) until this process has judged the alert itself (`AlertService`: a probe of
its endpoint succeeded while it is not firing, or an evaluation of its SLO found it clear): then it is posted. A FIRING
this process decides meanwhile supersedes it (fold.py), as it would any queued item. The hold is bounded
(`hold`, 5 min): past it the RESOLVED is posted anyway, so it is never lost when its endpoint is never probed
again. The symmetric case, a restored FIRING, is `withheld` (SinkWorker.payload).

An alert this instance will never judge is not held at all (`Dispatcher.restore`, `AlertService._judged_here`): its
endpoint or SLO left the config. Every replica runs the same config, so none of them fires the alert: nothing
posted can be a peer's current state, and holding would only leave the alert open in Alertmanager for the hold.
A reload that drops an alert's endpoint or SLO releases its hold. But an endpoint alert whose endpoint another
shard owns since a resharding (`AlertService._handed_over`) is the very alert that shard judges (endpoint alerts
carry no `shard` label): its restored RESOLVED is dropped (superseded, "handed over"), never posted, and so is a
restored FIRING of it (no longer withheld as doubtful once the hand-over took the alert out of the book).

A held item is not counted `pending` by the API and /metrics: `held` (`slowatch_outbox_held{sink}`), counted once
as `outcome="held"` when restored; the oldest pending age ignores it.
"""

from __future__ import annotations

import asyncio
import logging

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.fold import PendingQueue
from slowatch.alerting.outbox import OutboxItem

logger = logging.getLogger(__name__)

HOLD_RESOLVED = 300.0
"""At most how long a restored RESOLVED waits for this process to judge its alert, in seconds."""


class ResolvedHolds:
    """Alert key -> event-loop time its restored RESOLVED is posted anyway. Empty (falsy) once all are released."""

    def __init__(self, hold: float = HOLD_RESOLVED) -> None:
        self.hold = hold
        self._until: dict[str, float] = {}
        self._events: dict[str, AlertEvent] = {}  # alert key -> the RESOLVED held (what it names: AlertService)
        self._loop: asyncio.AbstractEventLoop | None = None  # (read by a scrape, which has no running-loop check)

    def __bool__(self) -> bool:
        return bool(self._until)

    def alerts(self) -> list[AlertEvent]:
        """The RESOLVED events held, one per alert."""
        return [self._events[k] for k in self._until]

    def add(self, item: OutboxItem) -> None:
        """Hold `item` (a restored RESOLVED for a latest_only sink) from now."""
        self._loop = asyncio.get_running_loop()
        self._until.setdefault(item.event.alert_key, self._loop.time() + self.hold)
        self._events.setdefault(item.event.alert_key, item.event)

    def holding(self, item: OutboxItem) -> bool:
        """`item` is held now (as `held`, but without ending the holds that ran out: for views and scrapes)."""
        until = self._until.get(item.event.alert_key)
        if until is None or self._loop is None or not item.restored or item.event.status != "resolved":
            return False
        return self._loop.time() < until

    def count(self, queue: PendingQueue) -> int:
        """How many items of `queue` are held now: O(alerts held)."""
        return sum(1 for key in self._until for i in queue.by_key.get(key, ()) if self.holding(i))

    def oldest_waiting(self, queue: PendingQueue) -> OutboxItem | None:
        """The first item of `queue` not held (the held ones are skipped: at most one per alert held)."""
        return next((i for i in queue if not self.holding(i)), None)

    def held(self, item: OutboxItem) -> bool:
        """`item` is a restored RESOLVED whose alert this process has not judged since start, held for less than
        `hold`: not to be posted yet."""
        key = item.event.alert_key
        until = self._until.get(key)
        if until is None or not item.restored or item.event.status != "resolved":
            return False
        if asyncio.get_running_loop().time() < until:
            return True
        self._drop(key)
        logger.warning("restored resolved notification posted without this process judging its alert "
                       "alert=%s held_for=%.0fs", key, self.hold)  # fmt: skip
        return False

    def left(self) -> float:
        """Seconds until the first hold ends (0: none left; the ended ones are dropped here)."""
        now = asyncio.get_running_loop().time()
        for key in [k for k, until in self._until.items() if until <= now]:
            self._drop(key)
        return max(0.0, min(self._until.values(), default=now) - now)

    def release(self, key: str) -> bool:
        """This process judged alert `key` clear since start. True: a RESOLVED of it was held."""
        if key not in self._until:
            return False
        self._drop(key)
        logger.info("restored resolved notification released: alert judged clear since start alert=%s", key)
        return True

    def _drop(self, key: str) -> None:
        del self._until[key]
        self._events.pop(key, None)


__all__ = ["HOLD_RESOLVED", "ResolvedHolds"]

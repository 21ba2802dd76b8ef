"""One sink's delivery worker (`SinkWorker`): its queue, batches, sends, retries and marks. The Dispatcher
(dispatcher.py) owns the workers, the session, the store and the clock.

Each worker takes the head of its sink's queue, marks its row as going out and awaits the commit
(`going_out`: `store.flush(fold=False)`, which commits the row itself too), sends it, and on the sink's ack
submits the `delivered` mark and awaits the commit again before taking the next item. A crash can
therefore re-send only what was acked but not yet marked: at most the one message in flight per sink, within one writer
transaction (milliseconds: the flush wakes the writer) of its ack. Exception: when the store
cannot commit for `durable_wait` (10 s; disk full), delivery goes on without waiting, and while the store
is known to be failing (unhealthy) it is not waited for at all, because silence is worse than a possible
duplicate after a crash.

Transient failures (5xx, 429, timeouts, network) retry the same message with exponential backoff
and jitter, or after `Retry-After` (bounded; and nothing else is posted to that receiver meanwhile:
retry_gate.py); a sink's queue waits behind its head, which keeps every alert's events in order.
Permanent failures (other 4xx) are marked `failed` and not retried; items older than `give_up_after`
are marked `expired`: their age is on the monotonic clock (a restored item starts at its wall-clock
age), so a step of the wall clock expires nothing early.

Supervision: an exception a sink raises while sending (a bug, or a reply nobody anticipated) is a
failed attempt like a 5xx: counted (`error` and `retried`), the notification kept pending in the
outbox and retried with backoff; a batch it happens on is retried one notification at a time, and one
the sink raised on INTERNAL_STRIKES times is marked failed (the same bug each time: it must not hold
up the sink's queue until it expires). Anything else that escapes a
worker (a bug in the dispatcher itself) restarts that worker after a backoff (`retry_initial`
doubling to `retry_max`), keeping its queue; `restarts` counts it. Either is logged with the sink's
name, with a traceback (secrets scrubbed) the first time a given place raises, one line after that.

Alertmanager (`Sink.latest_only`) keeps each alert's state, not a log: a sink has one request in flight
at a time (`SinkWorker.sending`: its worker's and its re-POSTs', so one can never overtake another), each
POST carries every alert it names in its newest queued state, and a FIRING restored from the outbox is not
posted while the process has not seen its alert's condition since start (`doubtful`; its row is marked and
counted `withheld`: the re-POST tells Alertmanager once it is seen). See `SinkWorker.payload`. Symmetrically, a
RESOLVED restored from the outbox is held (not posted, still pending) until this process has judged its alert
(a probe of its endpoint succeeded, or an SLO evaluation found it clear) or `hold_resolved` (5 min) has passed:
a replica killed with it pending must not resolve what a peer fires meanwhile. See restored.py.

Folding (fold.py): a notification queued for a sink supersedes the older ones of the same alert still
waiting for it and not in flight (being sent or its outcome being recorded): after an outage a sink gets
each alert's current state, with how many notifications it stands for. `max_pending` per sink drops
the oldest resolved notifications of alerts the sink never got as firing.

Storm control: the head of a queue waits `group_wait` after it was queued; then everything queued
behind it is looked at together. When that is more than `storm.threshold` items, they go out as
ONE grouped message; when fewer, but the sink already got enough in the last `storm.window` to
pass the threshold, the worker waits until the head is `group_interval` old and sends everything
queued by then as one message. Otherwise the head goes alone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.fold import PendingQueue
from slowatch.alerting.outbox import DELIVERED, EXPIRED, FAILED, PENDING, WITHHELD, Mark, OutboxItem
from slowatch.alerting.sinks.base import IN_FLIGHT, REACHED_BEFORE, REPOSTED, Attempt, Sink, maybe_received

if TYPE_CHECKING:
    from slowatch.alerting.dispatcher import Dispatcher

logger = logging.getLogger(__name__)

MAX_GROUP = 200
MAX_SEEN_ERRORS = 64  # distinct (exception type, place) whose traceback was logged, per sink
INTERNAL_STRIKES = 3
"""Attempts on which the sink raised (not the receiver: a bug, or an outbox row this version cannot render)
after which a notification is marked failed: retrying it until `give_up_after` would hold up every
notification queued behind it on that sink for a day."""


class SinkWorker:
    def __init__(self, sink: Sink, owner: Dispatcher) -> None:
        self.sink = sink
        self.queue = PendingQueue()
        self._owner = owner
        self._wake = asyncio.Event()
        self._sent: deque[float] = deque()  # loop times of events delivered, for storm control
        self._seen: set[tuple[str, str, int]] = set()  # where an unexpected exception came from: see `report`
        self._internal: dict[str, int] = {}  # event id -> attempts the sink raised on (INTERNAL_STRIKES)
        self._newest: dict[str, OutboxItem] = {}  # alert key -> its newest queued item (latest_only sinks)
        self.sending = asyncio.Lock()  # held around every request to the sink: the worker's and the re-POSTs'
        self.task: asyncio.Task[None] | None = None
        self.resend: asyncio.Task[None] | None = None  # the re-POST loop (sinks with a `resend_interval`)

    @property
    def max_pending(self) -> int:
        return self.sink.config.max_pending

    def wake(self) -> None:
        self._wake.set()

    def push(self, item: OutboxItem) -> None:
        self.queue.append(item)
        if self.sink.latest_only:  # (only `payload` reads it)
            self._newest[item.event.alert_key] = item
        self._wake.set()

    def payload(self, batch: Sequence[OutboxItem]) -> tuple[list[AlertEvent], list[OutboxItem]]:
        """The events to send for `batch`, and the items withheld. A `latest_only` sink gets each alert once, in its
        newest queued state (an older RESOLVED must not undo a newer FIRING queued behind it, nor a FIRING retried
        through an outage the RESOLVED queued since), and no FIRING restored from the outbox of an alert this process
        has not seen firing since start (a replica killed with it pending must not re-open what its peer resolved
        since): those items are withheld (marked and counted `withheld`, never `delivered`)."""
        if not self.sink.latest_only:
            return [i.event for i in batch], []
        out: dict[str, AlertEvent] = {}
        withheld: list[OutboxItem] = []
        for item in batch:
            key = item.event.alert_key
            newest = self._newest.get(key, item)
            if newest.restored and newest.event.firing and self._owner.doubtful(key):
                logger.info("restored notification not posted: alert not seen firing since start "
                            "sink=%s alert=%s event=%s", self.sink.name, key, item.event.event_id)  # fmt: skip
                withheld.append(item)
                continue
            out.setdefault(key, newest.event)
        return list(out.values()), withheld

    async def run(self) -> None:
        while not self._owner.closing.is_set():
            if not self.queue:
                self._wake.clear()
                await self._owner.sleep(None, self._wake)
                continue
            batch = await self._next_batch()
            if batch and not self._owner.closing.is_set():
                await self._deliver(batch)  # (each attempt waits for its rows' commit first: `going_out`)
            elif self.queue:  # only held items wait: until one is released (or its hold ends), or a new item
                self._wake.clear()
                await self._owner.sleep(self._owner.holds.left(), self._wake)

    async def _next_batch(self) -> list[OutboxItem]:
        storm, loop = self._owner.storm, asyncio.get_running_loop()
        await self._owner.sleep(self.queue[0].queued + storm.group_wait - loop.time())
        if not self.queue:  # (superseded by an item of a sink since removed)
            return []
        ready = list(itertools.islice(self._ready(), MAX_GROUP))  # the head waited group_wait: all go with it
        if self.sink.always_batch or len(ready) > storm.threshold:
            return ready
        now = loop.time()
        while self._sent and self._sent[0] < now - storm.window:
            self._sent.popleft()
        if len(self._sent) + len(ready) > storm.threshold and self.queue:
            await self._owner.sleep(self.queue[0].queued + storm.group_interval - loop.time())
            return list(itertools.islice(self._ready(), MAX_GROUP))
        return ready[:1]

    def _ready(self) -> Iterator[OutboxItem]:
        """The queue without the items held (restored.py: latest_only sinks only)."""
        holds = self._owner.holds
        if not self.sink.latest_only or not holds:
            return iter(self.queue)
        return (i for i in self.queue if not holds.held(i))

    async def _deliver(self, batch: list[OutboxItem]) -> None:
        owner, name = self._owner, self.sink.name
        backoff = self.sink.config.retry_initial
        while batch and not owner.closing.is_set():
            batch = [i for i in batch if not i.superseded]  # (while it waited for its commit or a retry)
            if not batch:
                return
            mono, give_up = owner.clock.monotonic(), self.sink.config.give_up_after  # (not the wall clock: steps)
            expired = [i for i in batch if i.born is not None and mono - i.born > give_up]
            if expired:
                logger.error("notifications expired undelivered sink=%s events=%d last_error=%s",
                             name, len(expired), expired[0].last_error)  # fmt: skip
                await self._finish(expired, EXPIRED)
                batch = [i for i in batch if i not in expired]
                continue
            for item in batch:
                item.in_flight = True
            async with self.sending:  # a re-POST in flight lands first; what to send is read after it
                wait = owner.gates.left(self.sink)  # the receiver asked to be left alone (retry_gate.py): maybe
                if not wait:  # told the re-POST that held the lock, or another sink posting to it
                    events, withheld = self.payload(batch)
                    if events and not await self.going_out(batch):
                        continue  # superseded while its going-out mark was committed: look at the queue again
                    if events:
                        attempt = await self.send(events)
            if wait:
                for item in batch:
                    item.in_flight = False
                await owner.sleep(wait)
                continue
            if not events:  # nothing the receiver should be told (payload): done
                await self._finish(batch, WITHHELD)
                return
            if attempt.ok:
                if withheld:
                    await self._finish(withheld, WITHHELD)
                    batch = [i for i in batch if i not in withheld]
                await self._finish(batch, DELIVERED)
                self._sent.extend([asyncio.get_running_loop().time()] * len(batch))
                return
            if attempt.maybe_received:
                self.reached(events, sent=batch)
            sticky = "" if attempt.maybe_received else REACHED_BEFORE  # (said in the outbox row: restarts)
            for item in batch:
                item.last_error = attempt.error + (sticky if item.reached else "")
            if (attempt.too_large or attempt.internal or attempt.split) and len(batch) > 1:
                # The rows' going-out mark is replaced by this attempt's outcome at once: a part waits for the
                # others to be delivered (retries, Retry-After), not in flight, and the receiver does not have it.
                owner.store.submit(Mark.of(batch, PENDING, owner.clock.time()))
                for item in batch:
                    item.in_flight = False
                if attempt.too_large:  # (a storm's grouped message past the receiver's limit)
                    logger.warning("grouped message too large for the receiver, sending it in halves sink=%s "
                                   "events=%d error=%s", name, len(batch), attempt.error)  # fmt: skip
                    parts = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                else:  # find the one this version cannot send (or the receiver refused): each on its own
                    parts = [[item] for item in batch]
                for part in parts:
                    await self._deliver(part)
                return
            if attempt.internal:
                strikes = self._internal[batch[0].event.event_id] = self._internal.get(batch[0].event.event_id, 0) + 1
                if strikes >= INTERNAL_STRIKES:  # the same bug every time: it would block this sink's queue
                    logger.error("notification cannot be sent by this version, giving up on it sink=%s event=%s "
                                 "error=%s", name, batch[0].event.event_id, attempt.error)  # fmt: skip
                    await self._finish(batch, FAILED)
                    return
            if attempt.permanent:
                logger.error("notification rejected permanently, not retrying sink=%s events=%d error=%s",
                             name, len(batch), attempt.error)  # fmt: skip
                await self._finish(batch, FAILED)
                return
            owner.count(name, "retried")
            owner.store.submit(Mark.of(batch, PENDING, owner.clock.time()))  # attempts and last error, for the CLI
            for item in batch:  # not in flight while it waits: a newer state of its alert may supersede it
                item.in_flight = False
            delay = owner.gates.wait_for(self.sink, attempt)  # Retry-After, bounded: every sender to it waits
            if delay is None:
                delay = backoff / 2 + random.uniform(0, backoff / 2)
                backoff = min(backoff * 2, self.sink.config.retry_max)
            logger.warning("notification failed, will retry sink=%s events=%d error=%s retry_in=%.1fs%s",
                           name, len(batch), attempt.error, delay,
                           " (Retry-After)" if attempt.retry_after is not None else "")  # fmt: skip
            await owner.sleep(delay)

    async def going_out(self, batch: Sequence[OutboxItem]) -> bool:
        """Say in `batch`'s outbox rows, committed before the request goes out, that an attempt is going out
        (IN_FLIGHT; its outcome's mark replaces that), and count it: a stop or a kill -9 while it is in flight leaves
        rows a restart knows the receiver may have (OutboxItem.reached), so the RESOLVED folding one after the
        restart is not `firing_undelivered` (droppable by max_pending) while the receiver shows it firing.

        While the mark commits (behind a store backlog: seconds) the items are not in flight: a newer state of their
        alert may still supersede them (fold.py). False: one was, or a stop was asked meanwhile: nothing is sent, the
        rows are as they were."""
        owner = self._owner
        rows = tuple(
            (i.sink, i.event.event_id, i.attempts + 1, i.last_error if maybe_received(i.last_error)
             else f"{i.last_error} {IN_FLIGHT}".lstrip())
            for i in batch
        )  # fmt: skip
        owner.store.submit(Mark(rows, PENDING, owner.clock.time()))
        for item in batch:
            item.in_flight = False
        await owner.durable("before sending")  # (the items' own rows too: committed before anything is sent)
        if any(i.superseded for i in batch) or owner.closing.is_set():  # (a stop asked meanwhile: none starts)
            owner.store.submit(Mark.of([i for i in batch if not i.superseded], PENDING, owner.clock.time()))
            return False
        for item in batch:
            item.in_flight = True
            item.attempts += 1
        return True

    async def reposting(self, events: Sequence[AlertEvent]) -> list[tuple[OutboxItem, str]]:
        """Before a re-POST of `events` goes out: the queued items carrying them (not being sent or recorded) say so in
        their rows (REPOSTED), committed first, so a stop or a kill -9 while it is out leaves rows a restart knows the
        receiver may have, as the worker's own attempts do (`going_out`). (item, its last error before) of each:
        `reposted` takes the mark back if the re-POST surely did not reach the receiver."""
        marked = [
            (item, item.last_error)
            for e in events
            for item in self.queue.by_key.get(e.alert_key, ())
            if item.event.event_id == e.event_id and not item.in_flight and not maybe_received(item.last_error)
        ]  # fmt: skip
        if marked:
            for item, before in marked:
                item.last_error = f"{before} {REPOSTED}".lstrip()
            self._owner.store.submit(Mark.of([i for i, _ in marked], PENDING, self._owner.clock.time()))
            await self._owner.durable("before a re-POST")
        return marked

    def reposted(self, marked: Sequence[tuple[OutboxItem, str]], attempt: Attempt) -> None:
        """A re-POST that carried the items `reposting` marked got `attempt`: the receiver may have them (`reached`),
        or surely not (refused, or not connected): their rows say what they said before."""
        if attempt.ok or attempt.maybe_received:
            for item, _ in marked:
                item.reached = True
            return
        undone = [item for item, before in marked if item.last_error.endswith(REPOSTED) and not item.superseded]
        for item, before in marked:
            if item in undone:
                item.last_error = before
        if undone:
            self._owner.store.submit(Mark.of(undone, PENDING, self._owner.clock.time()))

    def reached(self, events: Sequence[AlertEvent], sent: Sequence[OutboxItem] = ()) -> None:
        """The receiver may have `events` (a cut attempt, or an acknowledged re-POST): so may the queued items that
        carry them (OutboxItem.reached; fold.folded). Said in their outbox rows too (REPOSTED), so a restart knows
        it, except for the items of the attempt itself (`sent`): its error, marked next, says so."""
        told: list[OutboxItem] = []
        for e in events:
            for item in self.queue.by_key.get(e.alert_key, ()):
                if item.event.event_id == e.event_id and not item.reached:
                    item.reached = True
                    if item not in sent and not maybe_received(item.last_error):
                        item.last_error = f"{item.last_error} {REPOSTED}".lstrip()
                        told.append(item)
        if told:
            self._owner.store.submit(Mark.of(told, PENDING, self._owner.clock.time()))

    async def send(self, events: Sequence[AlertEvent]) -> Attempt:
        """`sink.send`, where an exception is a failed attempt (retried like a 5xx), logged and counted."""
        try:
            return await self.sink.send(self._owner.session(), events)
        except Exception as exc:  # a bug in the sink or a reply it did not anticipate: never the end of the worker
            self._owner.count(self.sink.name, "error")
            self.report(exc, f"sink raised while sending; counted as a failed attempt events={len(events)}")
            return Attempt(ok=False, error=f"internal error: {self.describe(exc)}", internal=True)

    def describe(self, exc: BaseException) -> str:
        return self.sink.scrub(f"{type(exc).__name__}: {exc}")[:200]

    def report(self, exc: BaseException, what: str, *, repeat_line: bool = False) -> None:
        """Log an unexpected exception with the sink's name: with its traceback the first time this type
        is raised from this place, then (with `repeat_line`) one line, else nothing more: the retry
        warning that follows says it. Secrets the sink holds are scrubbed from the traceback too."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = (type(exc).__qualname__, frames[-1].filename, frames[-1].lineno or 0) if frames else ("", "", 0)
        name, error = self.sink.name, self.describe(exc)
        if where in self._seen:
            if repeat_line:
                logger.error("%s sink=%s error=%s (traceback logged before)", what, name, error)
            return
        if len(self._seen) >= MAX_SEEN_ERRORS:
            self._seen.clear()
        self._seen.add(where)
        trace = self.sink.scrub("".join(traceback.format_exception(exc))).rstrip()
        logger.error("%s sink=%s error=%s\n%s", what, name, error, trace)

    async def _finish(self, items: Sequence[OutboxItem], status: str) -> None:
        owner = self._owner
        for item in items:
            item.in_flight = True  # its outcome is being recorded: never superseded now
        owner.store.submit(Mark.of(items, status, owner.clock.time()))
        await owner.durable("after the ack")  # durable before the next item is taken: see the module docstring
        for item in items:
            self.queue.remove(item)
        owner.count(self.sink.name, status, len(items))
        if status in (FAILED, EXPIRED):  # shown by /api/v1/alerts (AlertService.sinks_view)
            owner.last_failure[self.sink.name] = (items[-1], status, owner.clock.time())
        for item in items:
            self._internal.pop(item.event.event_id, None)
            if self._newest.get(item.event.alert_key) is item:
                del self._newest[item.event.alert_key]


__all__ = ["INTERNAL_STRIKES", "MAX_GROUP", "SinkWorker"]

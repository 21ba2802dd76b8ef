"""Deliver outbox items to sinks: one worker task per sink (sink_worker.py), FIFO, never on the probe path.

The Dispatcher restores pending items at start (folded: fold.py), queues new ones for each sink's worker,
starts, restarts and stops the workers when sinks change, and runs the Alertmanager re-POST loop. How one
sink's notifications are sent, retried, grouped, folded and marked is in sink_worker.py. A bug that escapes a
worker restarts it after a backoff (`retry_initial` doubling to `retry_max`), keeping its queue; `restarts`
counts it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence

import aiohttp

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.fold import fold
from slowatch.alerting.outbox import Decision, OutboxItem, Refold
from slowatch.alerting.restored import HOLD_RESOLVED, ResolvedHolds
from slowatch.alerting.retry_gate import Gates
from slowatch.alerting.sink_worker import SinkWorker
from slowatch.alerting.sinks.base import Attempt, Sink
from slowatch.clock import Clock
from slowatch.config.alerting import StormControl
from slowatch.errors import StoreError
from slowatch.store import Store

logger = logging.getLogger(__name__)

DURABLE_POLL = 0.05
"""Seconds between two looks at the store's health while a delivery waits for a commit (`Dispatcher.durable`)."""


class Dispatcher:
    def __init__(
        self, store: Store, clock: Clock, storm: StormControl,
        session_factory: Callable[[], aiohttp.ClientSession],
        firing_for: Callable[[str], list[AlertEvent]], durable_wait: float = 10.0,
        doubtful: Callable[[str], bool] = lambda key: False, hold_resolved: float = HOLD_RESOLVED,
        refreshed: Callable[[str, Sequence[AlertEvent]], None] = lambda sink, events: None,
        judged_here: Callable[[AlertEvent], bool] = lambda event: True,
        handed_over: Callable[[AlertEvent], bool] = lambda event: False,
    ) -> None:  # fmt: skip
        self.store, self.clock, self.storm = store, clock, storm
        self.closing = asyncio.Event()
        self.counters: Counter[tuple[str, str]] = Counter()
        self.restarts: Counter[str] = Counter()  # sink -> times its worker was restarted after a crash
        self.last_failure: dict[str, tuple[OutboxItem, str, float]] = {}  # sink -> (item, failed|expired, when)
        self.workers: dict[str, SinkWorker] = {}
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._firing_for = firing_for
        self._refreshed = refreshed  # (sink, events) a re-POST delivered: AlertService marks the ends told
        self.doubtful = doubtful  # alert key -> firing here but not seen so since start (SinkWorker.payload)
        self.durable_wait = durable_wait
        self._undurable = False  # delivering without waiting for a failing store (logged once per outage)
        self.gates = Gates()  # receivers that asked to be left alone (Retry-After): nothing posted to them meanwhile
        self.holds = ResolvedHolds(hold_resolved)  # restored RESOLVEDs held until their alert is judged
        self.judged_here = judged_here  # alert -> this instance judges it (its endpoint or SLO is configured here)
        self.handed_over = handed_over  # alert -> another shard owns its endpoint now (resharding): its news

    async def durable(self, when: str) -> None:
        """Wait until what was submitted so far is committed, at most `durable_wait` seconds.

        A store that cannot commit (disk full, locked) must not silence alerts: past the wait the
        worker goes on and the writes land when the store recovers (a crash before then can re-send).
        A store already failing its writes (unhealthy) is not waited for at all: each send and each ack
        waited `durable_wait` in turn, so the third page of a full disk's outage left 50 s late; nor is one
        that fails while it is waited for (the first page of that outage waited the whole `durable_wait`). Only
        durability is given up (a crash before the writes land can send again), never an alert.
        """
        if self.store.healthy:
            self._undurable = False
            if await self._committed(when):
                return
        if not self._undurable:  # (failing already, or since the wait began: a full disk fails at once)
            self._undurable = True
            logger.warning("store not committing, delivering without waiting for it until it does: error=%s",
                           self.store.last_error)  # fmt: skip

    async def _committed(self, when: str) -> bool:
        """Wait for a commit of what was submitted so far: True once it is, or once `durable_wait` passed (logged);
        False as soon as the store fails to commit meanwhile (unhealthy: not waited for, see `durable`)."""
        loop = asyncio.get_running_loop()
        flush = asyncio.ensure_future(self.store.flush(fold=False))  # committed: no fold needed
        deadline = loop.time() + self.durable_wait
        try:
            while not flush.done():
                if not self.store.healthy:
                    return False
                if (left := deadline - loop.time()) <= 0:
                    logger.warning("store not committing within %.0fs %s; delivering anyway: error=%s",
                                   self.durable_wait, when, self.store.last_error)  # fmt: skip
                    return True
                await asyncio.wait({flush}, timeout=min(left, DURABLE_POLL))
            flush.result()  # (a StoreError: the store is gone)
            return True
        finally:
            flush.cancel()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def count(self, sink: str, outcome: str, n: int = 1) -> None:
        self.counters[(sink, outcome)] += n

    async def sleep(self, seconds: float | None, wake: asyncio.Event | None = None) -> None:
        """Sleep, ending early on close (or when `wake` is set)."""
        if seconds is not None and seconds <= 0:
            return
        waits = [asyncio.ensure_future(self.closing.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def waiting(self, worker: SinkWorker) -> tuple[int, OutboxItem | None]:
        """(items held, the first item not held) of `worker`'s queue, for the API and /metrics (restored.py): only
        Alertmanager (latest_only) sinks hold; O(alerts held)."""
        if not self.holds or not worker.sink.latest_only:
            return 0, worker.queue[0] if worker.queue else None
        n = self.holds.count(worker.queue)
        return n, self.holds.oldest_waiting(worker.queue) if n else worker.queue[0] if worker.queue else None

    def release(self, key: str) -> None:
        """This process judged alert `key` clear since start: its restored RESOLVED may be posted (restored.py)."""
        if self.holds.release(key):
            for worker in self.workers.values():
                worker.wake()

    def admit(self, decision: Decision) -> None:
        """Before `decision` is submitted: supersede what its items make stale, apply the caps (fold.py)."""
        fold(decision, self.workers, self.counters)

    def restore(self, items: Sequence[OutboxItem]) -> None:
        """Queue the rows pending at start (oldest first), folded as if queued now: an older version, or an
        item in flight at a crash, may have left several of one alert. One op stores what the fold changed."""
        op = Decision(self.clock.time())
        changed: list[OutboxItem] = []
        for item in items:
            op.items, before = [item], item.event
            fold(op, self.workers, self.counters)
            if not op.items:  # a reminder behind something of its alert: it has a row, unlike a new one
                op.superseded.append((item.sink, item.event.event_id, "superseded: its alert has a newer notification"))
                continue
            worker = self.workers.get(item.sink)
            if worker is not None and worker.sink.latest_only and self.handed_over(item.event):
                # An endpoint alert has no shard label: the shard that owns the endpoint now fires or clears this
                # very alert. A RESOLVED from here would end in Alertmanager an outage that goes on there, a FIRING
                # re-open one it saw end (or never saw): neither is withheld (no longer firing in the book here).
                why = "superseded: another shard owns its endpoint now"
                op.superseded.append((item.sink, item.event.event_id, why))
                self.count(item.sink, "superseded")
                logger.info("restored notification dropped: alert handed over to the shard that owns its endpoint "
                            "now sink=%s alert=%s status=%s",
                            item.sink, item.event.alert_key, item.event.status)  # fmt: skip
                continue
            if item.event is not before:
                changed.append(item)
            self.enqueue(op.items)
            if op.items and item.event.status == "resolved" and worker is not None and worker.sink.latest_only:
                if self.judged_here(item.event):
                    self.holds.add(item)
                    self.count(item.sink, "held")
                else:  # no replica of this shard judges it: none fires it under our labels (restored.py)
                    logger.info("restored resolved notification posted at once: its alert is not judged here "
                                "sink=%s alert=%s", item.sink, item.event.alert_key)  # fmt: skip
        if self.holds:
            logger.info("alerting: restored resolved notifications held until their alerts are judged alerts=%d "
                        "hold_max=%.0fs", len(self.holds.alerts()), self.holds.hold)  # fmt: skip
        if op.superseded or changed:
            payloads = tuple((i.sink, i.event.event_id, i.event.to_json()) for i in changed if not i.superseded)
            self.store.submit(Refold(tuple(op.superseded), payloads, op.now))
            logger.info("alerting: restored notifications folded superseded=%d", len(op.superseded))

    def enqueue(self, items: Sequence[OutboxItem]) -> None:
        now = asyncio.get_running_loop().time()
        wall, mono = self.clock.time(), self.clock.monotonic()
        for item in items:
            if item.born is None:  # new: now; restored from the outbox: as old as its wall-clock age at start
                item.born = mono - max(0.0, wall - item.created)
            worker = self.workers.get(item.sink)
            if worker is None:
                continue  # a sink removed by a reload: its rows stay pending in the outbox
            item.queued = now
            worker.push(item)

    def set_sinks(self, sinks: dict[str, Sink], storm: StormControl) -> None:
        self.storm = storm
        for name in list(self.workers):
            if name not in sinks:
                gone = self.workers.pop(name)
                for task in (gone.task, gone.resend):  # (its re-POST loop too: one left running would post
                    if task is not None:  # beside the worker of a sink added back under this name)
                        task.cancel()
                if gone.queue:
                    logger.warning("sink removed with %d undelivered notifications kept in the outbox sink=%s",
                                   len(gone.queue), name)  # fmt: skip
                self._forget_sink(name)
        for name, sink in sinks.items():
            worker = self.workers.get(name)
            if worker is not None:
                worker.sink = sink
            else:
                worker = self.workers[name] = SinkWorker(sink, self)
                worker.task = asyncio.create_task(self._run(worker), name=f"alert-sink-{name}")
            resends = bool(getattr(sink, "resend_interval", None))  # (a reload may change a sink's kind)
            if resends and worker.resend is None:
                worker.resend = asyncio.create_task(self._resend(worker), name=f"alert-resend-{name}")
            elif not resends and worker.resend is not None:
                worker.resend.cancel()
                worker.resend = None

    def _forget_sink(self, name: str) -> None:
        """Drop the counts of a removed sink (its /metrics series go: else one set per sink ever configured stayed
        in memory and on every scrape); added back, it counts from 0 (a counter reset)."""
        for key in [k for k in self.counters if k[0] == name]:
            del self.counters[key]
        self.restarts.pop(name, None)
        self.last_failure.pop(name, None)

    async def _run(self, worker: SinkWorker) -> None:
        """Keep `worker` running until close: a crash restarts it after a backoff (see the module docstring)."""
        loop = asyncio.get_running_loop()
        backoff = worker.sink.config.retry_initial
        while not self.closing.is_set():
            started = loop.time()
            try:
                await worker.run()
            except StoreError as e:
                logger.error("alert dispatcher stopped: the store is gone sink=%s error=%s", worker.sink.name, e)
                return
            except Exception as exc:
                if loop.time() - started > worker.sink.config.retry_max:  # it had been running fine
                    backoff = worker.sink.config.retry_initial
                self.restarts[worker.sink.name] += 1
                for item in worker.queue:  # nothing is being sent while it is down: a newer state may supersede
                    item.in_flight = False
                what = f"alert sink worker crashed, restarting restart_in={backoff:g}s pending={len(worker.queue)}"
                worker.report(exc, what, repeat_line=True)
                await self.sleep(backoff)
                backoff = min(backoff * 2, worker.sink.config.retry_max)

    async def _resend(self, worker: SinkWorker) -> None:
        """Re-POST the alerts still firing for this sink (Alertmanager), so they do not time out. A failed re-POST
        is tried again after a backoff (`retry_initial` doubling, at most `resend_interval`), not a whole interval
        later: it may carry a clearing alert's end (`Firing.ends_at`), told once it lands."""
        interval = float(getattr(worker.sink, "resend_interval", 60.0))
        wait = interval
        backoff = worker.sink.config.retry_initial
        while not self.closing.is_set():
            await self.sleep(wait)
            wait = interval
            async with worker.sending:  # never beside the queue's POST: read what fires when it is our turn
                if left := self.gates.left(worker.sink):  # the receiver asked to be left alone (Retry-After)
                    wait = left
                    continue
                events = self._firing_for(worker.sink.name)
                if events and self.workers.get(worker.sink.name) is worker and not self.closing.is_set():
                    marked = await worker.reposting(events)  # (its queued items' rows say it, committed first)
                    if self.closing.is_set():  # a stop asked while it committed: nothing goes out
                        worker.reposted(marked, Attempt(ok=False, error="not sent: stopping"))
                        return
                    attempt = await worker.send(events)
                    worker.reposted(marked, attempt)
                    self.count(worker.sink.name, "refreshed" if attempt.ok else "refresh_failed")
                    if attempt.ok or attempt.maybe_received:
                        worker.reached(events)  # a FIRING still queued: Alertmanager has it (fold.folded)
                    if attempt.ok:
                        backoff = worker.sink.config.retry_initial
                        self._refreshed(worker.sink.name, events)
                    elif (asked := self.gates.wait_for(worker.sink, attempt)) is not None:
                        wait = asked
                    else:
                        wait = min(interval, backoff / 2 + random.uniform(0, backoff / 2))
                        backoff = min(backoff * 2, worker.sink.config.retry_max)

    async def stop(self, grace: float = 2.0) -> None:
        self.closing.set()
        tasks = [t for w in self.workers.values() for t in (w.task, w.resend) if t is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.wait(tasks, timeout=grace)
        if self._session is not None:
            await self._session.close()


__all__ = ["Dispatcher", "SinkWorker"]

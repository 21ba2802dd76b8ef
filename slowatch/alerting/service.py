"""`AlertService`: the façade the daemon wires in.

    on_result -> observe(result)      O(1), no awaits: streaks -> decisions -> store.submit + queues
    every evaluate_interval           silences from the store, evaluate(snapshot_source()), prune
    Dispatcher                        outbox -> sinks, one worker per sink (dispatcher.py)
    firing_view, sinks_view           JSON-ready views of that state for the API (views.py)

`start()` restores streaks, firing alerts and undelivered outbox items from the store before
anything is observed; `stop()` is bounded (in-flight sends get `stop_timeout`, then are cancelled
and stay pending for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import aiohttp
from prometheus_client.registry import Collector

from slowatch.alerting.book import AlertBook, Router
from slowatch.alerting.burn import SloAlerts
from slowatch.alerting.dispatcher import Dispatcher
from slowatch.alerting.ended import ENDED, owed_resolved, resolve_sent, split_ended
from slowatch.alerting.events import AlertEvent, endpoint_key, test_event
from slowatch.alerting.health import EndpointHealth, HealthConfig
from slowatch.alerting.metrics import AlertCollector
from slowatch.alerting.outbox import EXPIRED, Decision, Mark, OutboxItem, Prune, load_firing, load_pending, load_streaks
from slowatch.alerting.restored import HOLD_RESOLVED
from slowatch.alerting.sinks import SINKS, Attempt, build_sinks
from slowatch.alerting.suppress import SILENCE_PREFIX, Suppressor
from slowatch.alerting.views import firing_view, sinks_view
from slowatch.clock import Clock
from slowatch.config.alerting import GIVE_UP_MAX
from slowatch.config.schema import Config
from slowatch.config.seen import LastSeen
from slowatch.errors import StoreError
from slowatch.models import ProbeResult
from slowatch.slo.definitions import SloDef, compile_config
from slowatch.slo.snapshot import Snapshot
from slowatch.sockets import HandoffConnector
from slowatch.store import Store
from slowatch.store.retention_clock import RetentionClock

logger = logging.getLogger(__name__)

KEEP_DONE = 7 * 86400.0
HANDED_OVER = {
    "handed_over": True,
    "reason": "Handed over: another shard watches this endpoint now (resharding), and pages it if still down",
}
"""The details of the RESOLVED an endpoint alert's old owner sends to Slack and webhook sinks at a reshard."""
PRUNE_EVERY = 3600.0


def default_session() -> aiohttp.ClientSession:
    """The sinks' own session (never the probes'). Each sink has at most two requests in flight (its
    worker and, for Alertmanager, the re-POST), so the pool is unbounded; HTTP(S)_PROXY and NO_PROXY
    from the environment apply, as outbound webhooks often need an egress proxy. Its connector detaches the
    socket a receiver's early reset left behind, and refuses a self-connect (slowatch.sockets)."""
    return aiohttp.ClientSession(connector=HandoffConnector(limit=0), trust_env=True)


def _prepare(config: Config, streaks: list[str]) -> tuple[HealthConfig, list[SloDef], set[str], list[str]]:
    """The parts of a reload that only read the new config (safe in a thread); with the endpoints of `streaks`
    (the names of the running streaks) that it does not probe."""
    live = {ep.name for ep in config.endpoints if ep.enabled}
    return HealthConfig.of(config), compile_config(config), live, [name for name in streaks if name not in live]


class AlertService:
    def __init__(
        self, config: Config, store: Store, clock: Clock,
        session_factory: Callable[[], aiohttp.ClientSession] = default_session,
        snapshot_source: Callable[[], Snapshot | None] | None = None, *,
        latest: Mapping[str, ProbeResult] | None = None, stop_timeout: float = 2.0, durable_wait: float = 10.0,
        hold_resolved: float = HOLD_RESOLVED, elsewhere: Callable[[Collection[str]], Collection[str]] | None = None,
        whole: Callable[[], Config] | None = None,
    ) -> None:  # fmt: skip
        """`elsewhere(names)`: of endpoints gone from `config` (this instance's part of it when sharded), those
        another shard owns now (resharding): their alerts are handed over, not resolved (`_forget_removed`).
        `whole()`: the whole config of which `config` is this instance's part: SLO alerts whose SLO moved to
        another shard are handed over, not resolved as removed (burn.py `SloAlerts._moved`)."""
        self._config = config
        self._elsewhere = elsewhere
        self._store = store
        self._clock = clock
        self._snapshot_source = snapshot_source
        self._stop_timeout = stop_timeout
        own: dict[str, ProbeResult] = {}
        self._own_latest: dict[str, ProbeResult] | None = None if latest is not None else own
        self._latest: Mapping[str, ProbeResult] = latest if latest is not None else own
        self.suppressor = Suppressor(config)
        self.dispatcher = Dispatcher(
            store, clock, config.alerting.storm, session_factory, self._firing_for, durable_wait=durable_wait,
            doubtful=self._doubtful, hold_resolved=hold_resolved, refreshed=self._told_end,
            judged_here=self._judged_here, handed_over=self._handed_over,
        )  # fmt: skip
        self.book = AlertBook(store, Router(config.routes), self.dispatcher.enqueue, self.dispatcher.admit)
        self.health = EndpointHealth(config, self.book, self.suppressor)
        self.slo = SloAlerts(config, self.book, self.suppressor, self._latest, whole)
        self._task: asyncio.Task[None] | None = None
        self._last_prune = -PRUNE_EVERY
        self._prune_clock: RetentionClock | None = None  # the outbox prune's time: not a wall clock that jumped ahead
        self._judged: tuple[LastSeen, set[str], set[tuple[str, str]]] | None = None  # (_judged_here)

    @property
    def config(self) -> Config:
        return self._config

    # -- the probe path: O(1), no awaits -------------------------------------------------------
    def observe(self, result: ProbeResult) -> None:
        if not result.final:
            return
        if self._own_latest is not None:
            self._own_latest[result.endpoint] = result
        self.health.observe(result, self._clock.time())
        if self.dispatcher.holds and result.ok:  # judged clear: a restored RESOLVED of it may go (restored.py)
            key = endpoint_key(result.endpoint)
            if key not in self.book.firing:
                self.dispatcher.release(key)

    def evaluate(self, snapshot: Snapshot) -> None:
        self.slo.evaluate(snapshot, self._clock.time(), self._clock.monotonic())
        for held in self.dispatcher.holds.alerts():  # the SLO alerts this evaluation found clear (restored.py)
            covered = held.slo and held.consumers and snapshot.get(held.consumers[0], held.slo) is not None
            if covered and held.alert_key not in self.book.firing:
                self.dispatcher.release(held.alert_key)

    def collector(self) -> Collector:
        return AlertCollector(self, self._clock.time)

    def firing_view(self) -> list[dict[str, object]]:
        """Firing alerts, oldest first, JSON-ready (for the API and the status page: views.py)."""
        return firing_view(self.book, self.health, self.suppressor, self._clock.time())

    def sinks_view(self) -> list[dict[str, object]]:
        """Each sink's delivery state, JSON-ready (for the API: views.py)."""
        return sinks_view(self.dispatcher, self._clock.time)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        streaks = await self._store.read(load_streaks)
        firing = await self._store.read(load_firing)
        pending = await self._store.read(load_pending)
        self.suppressor.load_stored(await self._store.get_states(SILENCE_PREFIX))
        self.health.restore(streaks)
        self.book.restore(firing)
        self.dispatcher.set_sinks(build_sinks(self._config), self._config.alerting.storm)
        self.dispatcher.restore(self._unended(pending, "at start", self.dispatcher.workers))
        self._forget_removed()
        if pending:
            logger.info("alerting: %d undelivered notification(s) restored from the outbox", len(pending))
        self._task = asyncio.create_task(self._periodic(), name="alert-evaluate")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.dispatcher.stop(self._stop_timeout)

    async def reload(self, config: Config) -> None:
        # The per-endpoint and per-SLO parts are worked out off the event loop (~1 s at 100,000 endpoints), and
        # so are the streaks to forget: from a copy of their names (~1 ms; comparing them with the new endpoints
        # took ~20-50 ms at 100,000). A streak begun meanwhile for an endpoint that goes is forgotten next reload.
        streaks = list(self.health.streaks)
        health, defs, live, stale = await asyncio.to_thread(_prepare, config, streaks)
        del streaks
        self._config = config
        self.suppressor = Suppressor(config)
        with contextlib.suppress(StoreError):
            self.suppressor.load_stored(await self._store.get_states(SILENCE_PREFIX))
        readded = await self._pending_of([name for name in config.sinks if name not in self.dispatcher.workers])
        self.health.suppressor = self.slo.suppressor = self.suppressor
        self.book.router = Router(config.routes)
        self.health.configure(config, health)
        self.slo.configure(config, defs)
        self.dispatcher.set_sinks(build_sinks(config), config.alerting.storm)
        if readded:
            self.dispatcher.restore(readded)
        self._forget_removed(live, stale)
        for held in self.dispatcher.holds.alerts():  # its endpoint or SLO left this instance: never judged here
            if not self._judged_here(held):
                self.dispatcher.release(held.alert_key)

    async def _pending_of(self, sinks: list[str]) -> list[OutboxItem]:
        """The rows still pending of `sinks` (added by a reload): those of a sink removed by an earlier reload and
        now added back, kept for it (outbox.Prune), but those of outages that ended meanwhile (`_unended`). Read
        before the new sinks get workers: nothing newer is queued for them."""
        if not sinks:
            return []
        try:
            items = await self._store.read(functools.partial(load_pending, sinks=sinks))
        except StoreError as e:
            logger.error("undelivered notifications of sinks added back not read: store error=%s sinks=%s", e, sinks)
            return []
        kept = self._unended(items, "on reload", sinks)
        if items:
            logger.info(
                "alerting: undelivered notifications of sinks added back requeued=%d expired=%d sinks=%s",
                len(kept), sum(i.last_error == ENDED for i in items), ",".join(sorted({i.sink for i in items})),
            )  # fmt: skip
        return kept

    def _unended(self, items: Sequence[OutboxItem], when: str, sinks: Collection[str]) -> list[OutboxItem]:
        """`items` (pending rows, oldest first) without the FIRING or reminder of an outage that ended while their
        sink was not configured (ended.py): those of `sinks` (configured now; the others wait for theirs: outbox.Prune)
        are marked expired and counted, `when` (at start, on reload). One that may have reached its receiver is
        followed by its RESOLVED instead (stored now: the dispatcher's fold supersedes the FIRING by it)."""
        configured = [i for i in items if i.sink in sinks]
        _, ended, owed = split_ended(
            configured, self.book.firing, functools.partial(resolve_sent, self.health.state.alerts), self._keeps_state
        )
        if not ended and not owed:
            return list(items)
        now = self._clock.time()
        if ended:
            for item in ended:
                item.last_error = ENDED
                self.dispatcher.count(item.sink, EXPIRED)
            self._store.submit(Mark.of(ended, EXPIRED, now))
            logger.info("alerting: notifications of ended alerts expired, not sent (their sink was not configured "
                        "when the alert resolved) %s expired=%d sinks=%s", when, len(ended),
                        ",".join(sorted({i.sink for i in ended})))  # fmt: skip
        resolved = {id(i): owed_resolved(i, now) for i in owed}
        if resolved:
            self._store.submit(Decision(now, items=list(resolved.values())))
            for item in owed:
                logger.info("alerting: resolved notification queued for a sink added back, its alert ended while the "
                            "sink was not configured and its firing may have reached the receiver %s sink=%s alert=%s",
                            when, item.sink, item.event.alert_key)  # fmt: skip
        gone = {id(i) for i in ended}
        out: list[OutboxItem] = []
        for item in items:
            if id(item) not in gone:
                out.append(item)
                if id(item) in resolved:
                    out.append(resolved[id(item)])
        return out

    def _keeps_state(self, sink: str) -> bool:
        """Sink `sink` (in the config) keeps each alert's state, not a log of messages (Alertmanager): ended.py."""
        config = self._config.sinks.get(sink)
        return config is not None and SINKS[config.kind].latest_only

    def _forget_removed(self, live: set[str] | None = None, stale: Iterable[str] | None = None) -> None:
        """Forget the streaks of endpoints not in `live` (or only those of `stale`, worked out in a thread) and
        resolve (or hand over) their firing alerts."""
        if live is None:
            live = {ep.name for ep in self._config.endpoints if ep.enabled}
        dropped, gone = self.health.forget(live, stale)
        if gone or dropped:
            moved = self._moved(gone)
            # (the stored streaks of endpoints gone go too: else every endpoint ever configured kept a row)
            decision = Decision(self._clock.time(), forgotten=dropped)
            for key in gone:
                if key in moved:
                    # Another shard probes it now and judges the same alert (an endpoint alert has no shard
                    # label): a resolution from here would end, in Alertmanager, an outage that goes on there. Sinks
                    # that keep a log of messages, not alerts (Slack, webhook), are told this outage's end here: the
                    # new owner's messages name an outage of its own (or none: it may never see this one).
                    self.book.resolve(key, decision, details=dict(HANDED_OVER), only=self._keeps_no_state)
                    logger.info("alert handed over alert=%s reason=another shard owns the endpoint now", key)
                else:
                    self.book.resolve(key, decision, details={"reason": self.health.gone_because(key)})
            self.book.commit(decision)

    def _keeps_no_state(self, sink: str) -> bool:
        """Sink `sink` keeps a log of messages, not each alert's state (not Alertmanager): see `_forget_removed`."""
        worker = self.dispatcher.workers.get(sink)
        return worker is not None and not worker.sink.latest_only

    def _moved(self, keys: Collection[str]) -> set[str]:
        """Of the alert keys `keys` (endpoints gone from this instance's config), those of endpoints another shard
        owns now."""
        if self._elsewhere is None:
            return set()
        names = {self.book.firing[k].event.endpoint: k for k in keys if k in self.book.firing}
        return {names[n] for n in self._elsewhere(list(names)) if n in names}

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._config.alerting.evaluate_interval)
            try:
                self.suppressor.load_stored(await self._store.get_states(SILENCE_PREFIX))
                snapshot = self._snapshot_source() if self._snapshot_source is not None else None
                if snapshot is not None:
                    self.evaluate(snapshot)
                if self._prune_clock is None:  # (started after the store: store/retention_clock.py)
                    self._prune_clock = self._store.deletion_clock()
                now = self._prune_clock.now()
                if now - self._last_prune >= PRUNE_EVERY:
                    self._last_prune = now
                    sinks = tuple(sorted(self.dispatcher.workers))
                    self._store.submit(Prune(now - KEEP_DONE, sinks, now - GIVE_UP_MAX, now, now - KEEP_DONE))
            except StoreError as e:
                logger.error("alert evaluation skipped: store error=%s", e)
            except Exception:
                logger.exception("alert evaluation failed")

    # -- sinks ---------------------------------------------------------------------------------
    def _firing_for(self, sink: str) -> list[AlertEvent]:
        """What to re-post to `sink` (Alertmanager): notified alerts this process has confirmed (`Firing.confirmed`),
        and SLO alerts clearing after it had (`Firing.ends_at`), resolved at the time they will resolve: a future
        endsAt keeps them active in Alertmanager until then (its resolve_timeout would end them early). Those go
        until one re-POST of them lands (`_told_end`), so a failed one is retried, and not once their end is past
        (their RESOLVED is queued in the outbox by then, or soon: nothing left to tell)."""
        out = []
        now = self._clock.time()
        for f in self.book.firing.values():
            if not f.notified or sink not in self.book.router.sinks_for(f.event):
                continue
            if f.confirmed:
                out.append(f.event)
            elif f.ends_at is not None and sink not in f.told_end and now < f.ends_at:
                out.append(f.event.as_resolved(f.ends_at))
        return out

    def _told_end(self, sink: str, events: Sequence[AlertEvent]) -> None:
        """A re-POST to `sink` of `events` was acknowledged: the clearing alerts' ends in it were told."""
        for e in events:
            f = self.book.firing.get(e.alert_key)
            if e.status == "resolved" and f is not None and f.ends_at == e.ts:  # (not one cleared anew since)
                f.told_end.add(sink)

    def _judged_here(self, event: AlertEvent) -> bool:
        """This instance judges `event`'s alert: its SLO, or else its endpoint (enabled), is in this instance's config
        (sharded: the part it owns). A restored RESOLVED of any other is not held (restored.py)."""
        config, cached = self._config, self._judged
        if cached is None or not cached[0](config):  # (sets, not scans: thousands held at 100,000 endpoints)
            slos = {(c.name, s.name) for c in config.consumers for s in c.slos}
            seen = LastSeen()
            seen.seen(config)
            cached = self._judged = (seen, {ep.name for ep in config.endpoints if ep.enabled}, slos)
        _, endpoints, slos = cached
        if event.slo:
            return bool(event.consumers) and (event.consumers[0], event.slo) in slos
        return bool(event.endpoint) and event.endpoint in endpoints

    def _handed_over(self, event: AlertEvent) -> bool:
        """`event` is an endpoint alert whose endpoint another shard owns now (resharding): that shard judges it."""
        if event.slo or not event.endpoint or self._elsewhere is None or self._judged_here(event):
            return False
        return bool(self._elsewhere([event.endpoint]))

    def _doubtful(self, key: str) -> bool:
        """Firing here, but not seen so by this process since it started (or no longer: `Firing.confirmed`)."""
        f = self.book.firing.get(key)
        return f is not None and not f.confirmed

    async def test_sink(self, name: str) -> Attempt:
        """Send a clearly marked test message to sink `name` now (no outbox, no retries)."""
        sink = build_sinks(self._config)[name]
        if left := self.dispatcher.gates.left(sink):  # it asked to be left alone (Retry-After): do not spend it
            return Attempt(ok=False, error=f"not sent: the receiver asked to wait (Retry-After) {left:.0f}s more")
        attempt = await sink.send(self.dispatcher.session(), [test_event(name, self._clock.time())], test=True)
        if not attempt.ok and not attempt.permanent:
            self.dispatcher.gates.wait_for(sink, attempt)
        return attempt


__all__ = ["AlertService", "default_session"]

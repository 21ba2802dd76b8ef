"""`SloService`: the façade the daemon wires in (observe, periodic refresh, persistence, reload).

    result --observe()--> Engine ledgers (memory) --every refresh_interval--> Snapshot (swapped)
                                 └--every persist_interval: dirty cells + counters, one store.submit
                                    (skipped while the previous one is still queued: persist_due)

Restart-safe: `start()` loads every ledger's cells (and the monotonic counters) from the store, so
budgets after a restart equal those before it (`stop()` persists last). A fingerprint with no persisted
cells (a new or changed definition) is rebuilt from raw results and rollups: how, in restore.py.
Saved cells that start after now (counted while the wall clock was ahead) are deleted at start, as a
running ledger's rewind empties them: else a later start would load them once the clock had passed them.

Crash-safe: every persist also advances the SLO watermark (persist.py) in the same transaction, so the
saved state counts exactly the stored results up to it. After a kill (up to `persist_interval` of
results stored but not saved), `start()` counts the final results above the watermark before any probe
runs: however often the process is killed, the SLO events equal the stored final results in scope.

Exported counters: the Snapshot's `events_total`/`good_events_total` (what /metrics serves) are those of
the last committed save, never the live ones, which a kill -9 can take back (exported.py). They trail the
results by one save (`persist_interval` plus the commit, seen at the next refresh); `observe` is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.registry import Collector
from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.config.schema import Config
from slowatch.models import ProbeResult
from slowatch.slo.correcting import Corrector
from slowatch.slo.definitions import DEFAULT_ALERT_WINDOWS, SloDef, compile_config
from slowatch.slo.engine import Engine
from slowatch.slo.exported import ExportedCounters
from slowatch.slo.judgeable import unjudgeable_warnings, unreachable_tier_warnings
from slowatch.slo.metrics import SloCollector, refresh_histogram
from slowatch.slo.persist import COARSE, FINE, Batch, kept_counters_op, load_counters, saved_fingerprints_op
from slowatch.slo.restore import Restorer
from slowatch.slo.rollback import Dropped, dropped_by
from slowatch.slo.snapshot import Snapshot
from slowatch.store.retention_clock import RetentionClock
from slowatch.store.slo_tables import drop_cells_after
from slowatch.store.store import Store

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # drop expired cells of the current ledgers (by primary key)
SWEEP_EVERY = 86400.0  # and once a day also those of removed SLOs (a table scan)


class SloService:
    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        *,
        refresh_interval: float = 5.0,
        persist_interval: float = 5.0,
        alert_windows: Iterable[float] = DEFAULT_ALERT_WINDOWS,
        stop_timeout: float = 10.0,
        corrections_poll: float = 10.0,
        store_wait: float = 10.0,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._persist_interval = persist_interval
        self._stop_timeout = stop_timeout
        self._engine = Engine(config, clock.time(), tuple(alert_windows))
        self._snapshot = Snapshot(clock.time())
        self._saved_counters: dict[tuple[str, str], tuple[int, int]] = {}  # the last ones queued
        self._exported = ExportedCounters()  # the last ones committed: what a restart restores
        self._queued: Batch | None = None  # the last save submitted (its `started`: the writer took it)
        self._saved_fingerprints: frozenset[str] | None = None  # the ledgers the last save submitted recorded
        self._saved_keys: frozenset[tuple[str, str]] | None = None  # the SLOs whose counters the database keeps
        # restore.py; its state feeds persist(); `store_wait`: how long a start or rebuild waits for a commit
        self._restorer = Restorer(store, clock, lambda: self._engine, store_wait=store_wait)
        self.saves_held = 0  # periodic saves skipped while the previous one was still queued
        self._last_prune = self._last_sweep = -SWEEP_EVERY
        self._prune_clock: RetentionClock | None = None  # the prune's time: not a wall clock that jumped ahead
        self._tasks: list[asyncio.Task[None]] = []
        self.refresh_times = refresh_histogram()
        self.lock = asyncio.Lock()  # one correction or reload at a time
        self.corrector = Corrector(self)
        self._dropped: Dropped | None = None  # what the reload in progress dropped, until applied(): rollback.py
        self._corrections_poll = corrections_poll

    # -- the event loop's side: O(1)-ish, no I/O ------------------------------------------------
    def observe(self, result: ProbeResult) -> None:
        """Count a final result for every SLO that includes its endpoint (non-final ones are ignored)."""
        self._engine.observe(result)
        if self._dropped is not None:
            self._dropped.keep(result)

    def refresh(self) -> Snapshot:
        t0 = time.perf_counter()
        self._snapshot = self._engine.refresh(self._clock.time(), self._exported.confirm())
        self.refresh_times.observe(time.perf_counter() - t0)
        return self._snapshot

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def store(self) -> Store:
        return self._store

    def now(self) -> float:
        return self._clock.time()

    async def sync_corrections(self) -> int:
        """Apply corrections recorded since the last sync, take back revoked ones (see correcting.py)."""
        return await self.corrector.sync()

    def collector(self) -> Collector:
        return SloCollector(lambda: self._snapshot, self.refresh_times)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Restore ledgers and counters from the store, refresh once, start the periodic tasks.

        Under `lock`: a reload arriving meanwhile (a rebuild at 100,000 endpoints takes seconds) waits,
        else it would swap the engine mid-restore and the SLOs it kept would never be restored."""
        async with self.lock:
            counters = await self._store.read(load_counters)
            for key, (events, good) in counters.items():
                if key in self._engine.counters:
                    counter = self._engine.counters[key]  # add in place: routes hold this list
                    counter[0] += events
                    counter[1] += good
            self._saved_counters = {k: (v[0], v[1]) for k, v in counters.items() if k in self._engine.counters}
            # cells stamped ahead of now by a run whose clock was ahead: rewound as a running ledger would
            self._store.submit(functools.partial(drop_cells_after, now=self._clock.time()))
            await self.corrector.load()  # before the catch-up: it counts results as the routes' rules say
            self._restorer.unrestored = set(self._engine.ledgers)
            rebuilt = await self._restorer.restore(set(self._engine.ledgers), persisted=True)
            await self._restorer.catch_up(rebuilt)
            self._exported.restored(self._engine.counters)  # all from the database: a restart restores them
            self.refresh()
        await self._warn_unjudgeable(self._config, self._engine.defs)
        self._tasks = [
            asyncio.create_task(self._every(self._refresh_interval, self.refresh), name="slo-refresh"),
            asyncio.create_task(self._every(self._persist_interval, self.persist_due), name="slo-persist"),
            asyncio.create_task(self._poll_corrections(), name="slo-corrections"),
        ]

    async def stop(self, wait_for: float | None = None) -> None:
        """Cancel the tasks, persist everything and wait (at most `wait_for` s, default `stop_timeout`) for the
        write. Not written by then, it stays queued: the store's close keeps trying (and reports it if lost)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.persist()
        wait = self._stop_timeout if wait_for is None else wait_for
        try:
            await asyncio.wait_for(self._store.flush(), wait)
        except TimeoutError:
            if self._store.healthy:  # (a grace of 0s, or a large queue: the close writes it)
                return
            logger.warning(
                "slo state not written within %.0fs, left queued for the store's close: store_healthy=%s "
                "last_error=%r", wait, self._store.healthy, self._store.last_error,
            )  # fmt: skip

    async def reload(self, config: Config, *, rollback: bool = False) -> None:
        """Swap in `config`'s SLOs; removed ones are dropped.

        Unchanged fingerprints keep their ledgers (an objective change only recomputes), ones with
        other windows reload their persisted cells, new fingerprints are rebuilt from raw history.
        What a reload dropped is kept until `applied()`; `rollback`: `config` is the one the last reload replaced,
        and the SLOs that reload dropped carry on where they were (rollback.py).
        """
        defs = await asyncio.to_thread(compile_config, config)  # ~0.1 s at 100,000 endpoints: off the loop
        async with self.lock:
            await self._reload(config, defs, rollback)
        await self._warn_unjudgeable(config, defs)

    def applied(self) -> None:
        """The last reload went through (the daemon switched everything): forget what it dropped."""
        self._dropped = None

    @staticmethod
    async def _warn_unjudgeable(config: Config, defs: Sequence[SloDef] | None) -> None:
        for warning in await asyncio.to_thread(unjudgeable_warnings, config, defs):
            logger.warning("%s", warning)
        for warning in await asyncio.to_thread(unreachable_tier_warnings, config, defs):
            logger.warning("%s", warning)

    async def _reload(self, config: Config, defs: Sequence[SloDef], rollback: bool) -> None:
        old = self._engine  # (under the lock: no correction changes it meanwhile)
        back = self._dropped if rollback else None  # (it keeps results until the swap)
        engine = await asyncio.to_thread(  # its routes (~20 ms at 100,000 endpoints) off the event loop
            Engine, config, self._clock.time(), old.alert_windows, previous=old, corrections=old.corrections,
            defs=defs, link=False, taken_back=back,
        )  # fmt: skip
        self.persist()
        try:  # (committed is enough: the state is read back, not the rollups)
            await asyncio.wait_for(self._store.flush(fold=False), self._stop_timeout)
        except TimeoutError:
            logger.error("slo reload: state not flushed within %.0fs; resized SLOs may lag", self._stop_timeout)
        engine.link(old)  # the composites, where the old ones are now
        self._config, self._engine = config, engine  # no await since the flush: nothing was missed
        restorer = self._restorer
        restorer.unrestored = (restorer.unrestored & set(engine.ledgers)) | engine.resized | engine.new_fingerprints
        self._dropped = None if rollback else dropped_by(old, engine, self._exported.confirm())
        self._exported.keep(engine.counters)  # (the save above is committed: flushed)
        if back is not None:
            returned = [k for k in engine.counters if k not in old.counters and k in back.counters]
            engine.replay(back.results, engine.taken_back, [engine.counters[k] for k in returned])
            self._exported.bring_back({k: back.exported[k] for k in returned if k in back.exported})
            logger.info(
                "slo reload rolled back: slos_taken_back=%d ledgers_taken_back=%d results_replayed=%d",
                len(returned), len(engine.taken_back), len(back.results),
            )  # fmt: skip
        self.refresh()
        if engine.resized or engine.new_fingerprints:  # else nothing changes what the refresh above saw
            await restorer.restore(engine.resized, persisted=True)
            await restorer.restore(engine.new_fingerprints, persisted=False)
            self.refresh()

    async def _poll_corrections(self) -> None:
        while True:
            await asyncio.sleep(self._corrections_poll)
            try:
                await self.corrector.sync()
            except Exception:
                logger.exception("slo corrections sync failed")

    async def _every(self, interval: float, fn: object) -> None:
        assert callable(fn)
        while True:
            await asyncio.sleep(interval)
            try:
                fn()
            except Exception:
                logger.exception("slo periodic task failed: task=%s", getattr(fn, "__name__", fn))

    # -- the store's side ----------------------------------------------------------------------
    def persist_due(self) -> None:
        """The periodic save: skipped while the previous save is still queued (the store cannot write, or
        is catching up). Its cells stay dirty in the ledgers, the truth, so the next save carries their
        newest values: at most two saves are held in memory however long the outage, instead of one per
        `persist_interval`. (Not merged into the queued one: the watermark it sets must match its place.)"""
        if self._restorer.restoring:
            return  # (saved once the restore is in: a kill -9 meanwhile restores again at start)
        queued = self._queued
        if queued is not None and not queued.started:
            if self.saves_held == 0:
                logger.warning("slo: state saves held while the store has not taken the last one: store_pending=%d "
                               "last_error=%r", self._store.pending, self._store.last_error)  # fmt: skip
            self.saves_held += 1
            return
        if self.saves_held:
            logger.info("slo: state saves resumed: held=%d", self.saves_held)
            self.saves_held = 0
        self.persist()

    def persist(self, extra: Callable[[Database], object] | None = None) -> None:
        """Queue one store transaction with every dirty cell and changed counter (no I/O here), and `extra`."""
        batch = Batch()
        if extra is not None:
            batch.extra.append(extra)
        batch.saved_at = self._clock.time()  # always: the watermark holds raw rows back from packing
        ledgers = frozenset(self._engine.ledgers.keys() - self._restorer.unrestored)
        if ledgers != self._saved_fingerprints:  # the first save after a start, a reload or a restore
            self._saved_fingerprints = ledgers  # the watermark moves for these only (persist.py SAVED_KEY)
            batch.extra.append(saved_fingerprints_op(ledgers, batch.saved_at))
        keys = frozenset(self._engine.counters)
        if keys != self._saved_keys:  # the first save after a start or a reload: removed SLOs' counters go
            self._saved_keys = keys
            self._saved_counters = {k: v for k, v in self._saved_counters.items() if k in keys}
            batch.extra.append(kept_counters_op(keys))
        batch.replace = self._restorer.take_replace()
        for fp, ledger in self._engine.ledgers.items():
            fine, coarse = ledger.take_dirty()
            batch.add_fine(fp, ledger, fine)
            batch.add_coarse(fp, ledger.coarse, coarse)
        for (consumer, slo), (events, good) in self._engine.counters.items():
            if self._saved_counters.get((consumer, slo)) != (events, good):
                self._saved_counters[(consumer, slo)] = (events, good)
                batch.counters.append((consumer, slo, events, good))
        if self._prune_clock is None:  # (the store has started: it knows when the last run's retention went by)
            self._prune_clock = self._store.deletion_clock()
        now = self._prune_clock.now()  # (a clock a year ahead would prune every cell: store/retention_clock.py)
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            fine_cut = now - max(self._engine.alert_windows, default=0.0) - 86400.0
            coarse_cut = now - self._config.server.retention.rollups
            for fp in self._engine.ledgers:
                batch.prune += [(fp, FINE, fine_cut), (fp, COARSE, coarse_cut)]
            if now - self._last_sweep >= SWEEP_EVERY:
                self._last_sweep = now
                batch.prune += [(None, FINE, fine_cut), (None, COARSE, coarse_cut)]
        if batch:
            self._exported.saved(self._store.submit_tracked(batch), batch.counters)
            self._queued = batch


__all__ = ["SloService"]

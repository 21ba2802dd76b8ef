"""The composition root: builds and owns every component, starts, reloads and stops them.

Lifecycle: SIGTERM/SIGINT stop scheduling, let in-flight probes finish for `server.shutdown_grace`,
flush the store (failing writes retried for `shutdown_grace` more, then reported as lost), close everything and
log a one-line summary; a second SIGINT/SIGTERM forces exit.
SIGHUP, or a change of the config file's content, reloads: added endpoints start, removed ones stop,
changed ones reschedule; an invalid new config (or any failure while reloading) is logged and the old
one keeps running, and the watcher keeps watching (slowatch/reload.py).
Probes run on this loop or in prober worker processes (`server.probe_workers`): slowatch/probing.py.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from slowatch.alerting import AlertService
from slowatch.clock import Clock, SystemClock
from slowatch.cluster import STATE_KEY as CLUSTER_STATE
from slowatch.cluster import ClusterView, local_view
from slowatch.config.isolated import reloader
from slowatch.config.schema import Config
from slowatch.config.stand_ins import refuse_stand_ins
from slowatch.lifecycle import Lifecycle
from slowatch.metrics import ProbeMetrics, SelfMetrics
from slowatch.metrics.cluster_labels import LabelledRegistry
from slowatch.metrics.fleet import FleetMetrics
from slowatch.models import ProbeResult
from slowatch.probing import Probing
from slowatch.reload import SETTLE, ConfigReloader, ReloadOutcome
from slowatch.results import Results
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import Snapshot
from slowatch.store import Store
from slowatch.store.queries import latest_results
from slowatch.switch import Switch, prepare, say_waiting
from slowatch.web.app import make_app
from slowatch.web.corrections import SYNC as CORRECTIONS_SYNC
from slowatch.web.server import fitted_concurrency, fitted_limits, serve

logger = logging.getLogger(__name__)


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        config_path: str | Path | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        watch_interval: float = 5.0,
        watch_settle: float = SETTLE,
        listeners: list[Callable[[ProbeResult], None]] | None = None,
        load: Callable[[Path], Config] | None = None,
        config_digest: str | None = None,
    ) -> None:
        """`load(config_path)` re-reads the config on reload (default: `reloader()`; the demo's keeps its ports).
        The file is checked every `watch_interval` s, a change reloaded once it held still `watch_settle` s;
        `config_digest` is `fingerprint(config_path)` taken before `config` was loaded (default: at start).
        With `server.cluster` sharded, everything works on the endpoints this instance owns (`cluster.local_view`)."""
        refuse_stand_ins(config, str(config_path or "<config>"))  # a Config loaded for `report` never runs
        self._view = local_view(config)
        config = self._view.local
        self._config = config
        self._clock = clock or SystemClock()
        self._reloader = None if config_path is None else ConfigReloader(
            Path(config_path), current=lambda: self._view.full, switch=self._switch, report=self._reloaded,
            loader=load or reloader(), digest=config_digest,
            switch_back=functools.partial(self._switch, rollback=True))  # fmt: skip
        labels = self._view.labels  # shard / replica / location on every series, when configured
        self._registry = registry or (LabelledRegistry(labels) if labels else CollectorRegistry())
        self._watch_interval, self._watch_settle = watch_interval, watch_settle
        self._latest: dict[str, ProbeResult] = {}
        self._lifecycle = Lifecycle()
        self._runner: web.AppRunner | None = None
        self._ready = False
        thresholds = [s.threshold for c in config.consumers for s in c.slos if s.threshold is not None]
        self._probe_metrics = ProbeMetrics(self._registry, config.server.metrics, thresholds, labels)
        self._self_metrics = SelfMetrics(
            self._registry,
            pending_writes=lambda: float(self._store.pending),
            store_healthy=lambda: 1.0 if self._store.healthy else 0.0,
            in_flight=lambda: float(self._probing.scheduler.in_flight),
            jobs=lambda: float(self._probing.scheduler.job_count),
            store_write_errors=lambda: float(self._store.write_errors),
            store_dropped=lambda: float(self._store.dropped),
            store_retention_behind=lambda: self._store.retention_behind,
        )
        metrics = self._self_metrics
        self._store = Store(
            config.server.database, clock=self._clock, retention=config.server.retention,
            observe_write=metrics.write_duration.observe,
        )  # fmt: skip
        self._slo = SloService(config, self._store, self._clock)
        self._registry.register(self._slo.collector())
        self._registry.register(FleetMetrics(lambda: self._view.shards, self._config_sha256))
        self._alerts = AlertService(
            config,
            self._store,
            self._clock,
            snapshot_source=lambda: self._slo.snapshot,
            latest=self._latest,
            elsewhere=self._owned_elsewhere,
            whole=lambda: self._view.full,
        )
        self._registry.register(self._alerts.collector())
        self._results = Results(
            self._store, self._probe_metrics, self._slo, self._alerts, latest=self._latest,
            unprobed={ep.name for ep in config.endpoints if ep.enabled}, listeners=listeners or (),
        )  # fmt: skip
        concurrency = fitted_concurrency(config.server.max_concurrency)  # (to the open-file limit)
        self._probing = Probing(
            config, self._results.observe, metrics, concurrency=concurrency, shards=self._view.shards
        )  # (in this process, or in prober workers: probing.py)
        self._revision = 0  # reloads switched to (or tried): the next one's changes carry the next number
        self._last_reload: tuple[ReloadOutcome, float] | None = None  # and when it ended (/api/v1/config)
        self.bound_port: int | None = None

    # --- the DaemonView the web layer reads -------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    @property
    def cluster(self) -> ClusterView:
        """The full config, this instance's part of it and the consumers that are partial here."""
        return self._view

    @property
    def registry(self) -> CollectorRegistry:
        return self._registry

    @property
    def store(self) -> Store:
        return self._store

    @property
    def latest(self) -> dict[str, ProbeResult]:
        return self._latest

    def readiness(self) -> list[str]:
        reasons = []
        if not self._ready:
            reasons.append("starting")
        if self._ready and (why := self._probing.not_running()):
            reasons.append(why)
        if not self._store.healthy:
            reasons.append(f"database is not writable: {self._store.last_error or 'unknown error'}")
        return reasons

    def slo_view(self) -> list[dict[str, object]]:
        return self._slo.snapshot.as_list()

    def now(self) -> float:
        return self._clock.time()

    def slo_snapshot(self) -> Snapshot:
        return self._slo.snapshot

    def alerts_view(self) -> list[dict[str, object]]:
        return self._alerts.firing_view()

    def sinks_view(self) -> list[dict[str, object]]:
        return self._alerts.sinks_view()

    def config_status(self) -> dict[str, object]:
        reloader, last = self._reloader, self._last_reload
        return {
            "file": None if reloader is None else str(reloader.path),
            "sha256": self._config_sha256(),
            "last_reload": None if last is None else {
                "ok": last[0].ok, "at": last[1], "sha256": last[0].sha256,
                "problems": list(last[0].problems), "problem_count": last[0].problem_count, "error": last[0].error,
            },
        }  # fmt: skip

    # --- the probe path ----------------------------------------------------------------------
    def on_result(self, result: ProbeResult) -> None:
        """Every attempt goes to history; final results drive metrics and state (results.py). O(1), no awaits."""
        self._results.observe(result)

    async def probe_all_once(self) -> list[ProbeResult]:
        """Probe every enabled endpoint once, concurrently within the bound (`slowatch run --once`)."""
        return await self._probing.probe_all_once(self._config.endpoints)

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, schedule: bool = True, serve: bool = True) -> None:
        gc.freeze()  # the Config lives for the run: keep its millions of objects out of every collection
        await self._store.start()
        self._store.put_state(CLUSTER_STATE, {"shard": self._view.shard, "shards": self._view.shards})  # (report)
        configured = [ep.name for ep in self._config.endpoints]
        restored = await self._store.read(lambda db: latest_results(db, configured))
        self._latest.update({name: row.to_probe_result() for name, row in restored.items()})
        await self._slo.start()
        await self._alerts.start()
        self._probing.open(self._clock)
        self._probe_metrics.set_endpoints(self._config.endpoints)
        self._self_metrics.config_loaded(True, self._clock.time())
        if serve:
            try:
                await self._serve()
            except BaseException:  # (the port is taken): stop what started, the store's lock included
                await self.stop()
                raise
        if schedule:
            await self._probing.start(list(self._config.endpoints))
        if self._reloader is not None:
            await self._reloader.prime()  # (also the sha256 of slowatch_config_info)
            if schedule and self._watch_interval > 0:
                self._lifecycle.spawn(self._reloader.watch(self._watch_interval, self._watch_settle))
        self._ready = True
        # Everything built so far lives for the whole run: keep it out of the cyclic GC's scans, which
        # otherwise cost 70-130 ms pauses at 1,000 SLOs (benchmarks/slo_refresh.py). The young generation is
        # collected less often too (`process.tune`, run by the entry point: benchmarks/README.md, fix 0).
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        logger.info(
            "slowatch started endpoints=%d consumers=%d prober_workers=%d loop=%s listen=%s database=%s "
            "config_sha256=%s",
            sum(1 for ep in self._config.endpoints if ep.enabled),
            len(self._config.consumers),
            self._probing.scheduler.workers,
            type(asyncio.get_running_loop()).__module__.partition(".")[0],
            f"{self._config.server.host}:{self.bound_port}" if serve else "-",
            self._config.server.database,
            self._config_sha256() or "-",
        )

    async def _serve(self) -> None:
        server = self._config.server
        limits = fitted_limits(server.http, probe_sockets=self._probing.concurrency)
        app = make_app(self)
        app[CORRECTIONS_SYNC] = self._slo.sync_corrections
        self._runner, site = await serve(app, server.host, server.port, limits)
        self.bound_port = site.port

    def request_stop(self) -> None:
        """Stop `run()`; a second request exits the process at once (lifecycle.py)."""
        self._lifecycle.request_stop()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads (once the file held still, `reload(settle=True)`)."""
        self._lifecycle.install_signal_handlers(self._hangup)

    async def stopped(self) -> None:
        """Returns once a stop was requested."""
        await self._lifecycle.stopped()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT, then stop cleanly. While starting (a migration or an SLO rebuild
        can take seconds) a SIGTERM/SIGINT is a clean stop once started (a second one exits at once), and a
        SIGHUP is one reload once started: their default actions would end the process with no word."""
        self._lifecycle.starting()
        await self.start()
        self.install_signal_handlers()
        hangups = self._lifecycle.hangups
        if self._lifecycle.stopping:
            logger.info("started, stopping as requested while starting")
        elif hangups:
            logger.info("reload requested while starting (SIGHUP): reloading now signals=%d", hangups)
            self._lifecycle.spawn(self._hangup())
        try:
            await self._lifecycle.stopped()
        finally:
            await self.stop()

    async def stop(self) -> None:
        self._ready = False
        grace = self._config.server.shutdown_grace
        cancelled = await self._probing.stop(grace)
        await self._alerts.stop()
        writes_until = time.monotonic() + grace  # failing writes are retried for the grace, not more
        await self._slo.stop(wait_for=grace)
        await self._lifecycle.cancel_tasks(wait=2.0)
        if self._runner is not None:
            await self._runner.cleanup()
        await self._probing.close()
        await self._store.close(retry_for=max(0.0, writes_until - time.monotonic()))
        s = self._results.stats
        logger.info(
            "slowatch stopped uptime=%.0fs probes=%d failures=%d reloads=%d cancelled_in_flight=%d",
            time.monotonic() - s.started, s.probes, s.failures, s.reloads, cancelled,
        )  # fmt: skip

    def _owned_elsewhere(self, names: Collection[str]) -> list[str]:
        """Of `names` (endpoints not in this instance's part of the config), those in the whole config: another
        shard owns them (after resharding). Only called for endpoints with an alert firing here."""
        full = self._view.full
        if full is self._view.local:
            return []
        wanted = set(names)
        return [ep.name for ep in full.endpoints if ep.enabled and ep.name in wanted]

    def _config_sha256(self) -> str | None:
        return None if self._reloader is None else self._reloader.running

    # --- reload ------------------------------------------------------------------------------
    async def reload(self, *, settle: bool = False) -> bool:
        """Re-read the config file. On any error keep the running config and say why; never raises. With
        `settle` (a SIGHUP) the file is read once it held still for `watch_settle` seconds, as the watcher
        reads it: a SIGHUP sent while the file is being written would apply a cut-short file."""
        if self._reloader is None:
            logger.warning("reload requested but the daemon has no config file")
            return False
        return await self._reloader.reload(self._watch_settle if settle else 0.0)

    def _hangup(self) -> Coroutine[Any, Any, bool]:
        return self.reload(settle=True)

    async def _switch(self, new: Config, *, rollback: bool = False) -> None:
        """Switch to `new` (this instance's part of it when sharded): what changed is worked out in threads
        (switch.py), so the loop applies only that. `rollback`: back to the running config after a switch failed
        part-way (the SLOs it removed carry on: slo/rollback.py)."""
        t0 = time.perf_counter()
        self._revision += 1  # (also when this switch fails: a number is never given to two definitions)
        pool = self._probing.pool
        planner = None if pool is None else pool.plan
        try:
            endpoints, metrics = self._config.endpoints, self._probe_metrics
            switch = await prepare(self._view, endpoints, new, metrics, self._revision, planner)
            local = switch.view.local
            t1 = time.perf_counter()
            self._apply(local, switch)
            self._view = switch.view
            t2 = time.perf_counter()
            await self._slo.reload(local, rollback=rollback)
            t3 = time.perf_counter()
            await self._alerts.reload(local)
        except BaseException:
            if rollback:  # nothing more to take back: what the failed switch dropped is not kept (nor its results)
                self._slo.applied()
            raise
        self._slo.applied()
        t4 = time.perf_counter()
        logger.info(
            "config switched prepare_ms=%.0f prepare_cpu_ms=%.0f apply_ms=%.0f slo_ms=%.0f alerts_ms=%.0f",
            (t1 - t0) * 1e3, switch.cpu * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3,
        )  # fmt: skip

    def _reloaded(self, outcome: ReloadOutcome) -> None:
        now = self._clock.time()
        if outcome.ok:
            self._results.stats.reloads += 1
        self._last_reload = (outcome, now)
        self._self_metrics.config_loaded(outcome.ok, now)

    def _apply(self, new: Config, switch: Switch) -> None:
        """Switch to `new` (`switch.view.local`): the changes from the running endpoints (split among the prober
        workers in a thread: switch.plan), and what it leaves for a restart."""
        say_waiting(self._config, new, switch.workers, self._probing.scheduler.workers)
        self._config = new
        changes = switch.changes
        gone = [*changes.removed, *switch.disabled]
        added, removed, changed = self._probing.update(list(new.endpoints), changes, switch.plan, gone)
        self._results.forget(switch.disabled)
        self._results.forget(changes.removed)
        logger.info("config reloaded added=%d removed=%d changed=%d", added, removed, changed)


__all__ = ["Daemon"]

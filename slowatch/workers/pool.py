"""Prober worker processes: the daemon's way past the one core a single event loop can use.

With `server.probe_workers: N` (N >= 1) the daemon does not probe itself: it starts N worker
processes (`slowatch/workers/child.py`), gives each a shard of the endpoints (by a stable hash of
the name, so an endpoint stays on its worker across reloads), and receives their results, lag
observations and skipped/missed runs in batches. Everything else (store, SLOs, alerting, /metrics,
the JSON API) stays in the daemon and sees exactly the results it would see from in-process probing.

A worker that exits unexpectedly is logged, counted (`slowatch_prober_worker_restarts_total`) and
started again with its shard after a backoff (1 s doubling to 30 s); /readyz reports it while it is
down. On stop every worker drains its in-flight probes for the grace period and sends the rest.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Literal

from slowatch.config.diff import EndpointChanges
from slowatch.config.endpoints import Endpoint
from slowatch.models import ProbeResult
from slowatch.probes.registry import probe_weight
from slowatch.sharding import shard_of, worker_of
from slowatch.workers.link import WorkerLink
from slowatch.workers.plan import ApplyPlan, plan_changes
from slowatch.workers.protocol import encode, read_frame, unpack_result

logger = logging.getLogger(__name__)

AUTO_MIN_RATE = 100.0
"""`probe_workers: auto` uses workers from this many planned probes per second (1,000 endpoints at 10 s)."""
AUTO_RATE_PER_WORKER = 2000.0
"""Plain-HTTP probes per second one worker is given under `auto`: 1,667/s took one worker 0.47 cores on uvloop with
a scheduler lag p99 of 9 ms, and the daemon with one worker ~15 % less CPU per probe and ~65 MB less memory than with
two at the same rate (benchmarks/README.md, session 4); a second worker pays for itself only past ~1 core."""
START_CHUNK = 2000
"""Endpoints per frame when a worker is given its shard: pickling 100,000 endpoints in one frame took ~55 MB of
memory for a moment (the pickler's memo and the 17 MB frame), in chunks ~1 MB (benchmarks/README.md)."""
RESULTS_PER_STEP = 128
"""Results handled in one event-loop step: between two steps (and between two frames) other callbacks run, a
/healthz request among them. A worker sends ~80 results per frame at 1,667/s; after a stall (a busy core, the GIL
shared with a reload's threads) several frames wait in the socket buffer, and handled back to back they were one
piece of 25 ms and more (benchmarks/README.md, "session 6: reload")."""
AUTO_MAX_WORKERS = 4
BACKOFF_MAX = 30.0
SILENT_LIMIT = 15.0
"""A running worker that sent nothing (not even its ~1 s heartbeat) for this long is hung: killed and restarted."""
START_LIMIT = 120.0
"""A worker that has not said "ready" (its shard received and scheduled) this long after it was spawned is hung.
Start-up sends nothing: the interpreter and imports (~0.3 s idle, 3-4 s on a 2-core machine with a load of 6),
then the shard's chunks and its scheduling, which keep the worker's loop busy (a 100,000-endpoint shard, spawn to
"ready": 4.3 s at a load of 3, 6.3 s with two busy loops added, 20 s once at a load of 5-6; session 11). Until
session 11 the SILENT_LIMIT clock ran from the spawn: a worker slower than that to start (after a restart, when the
watchdog already runs) was killed as hung, and again after each restart."""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(setting: int | Literal["auto"], endpoints: list[Endpoint], cpus: int | None = None) -> int:
    """How many prober workers to run: `setting` itself, or for "auto": none below AUTO_MIN_RATE planned
    probes per second or on one core; else one per AUTO_RATE_PER_WORKER weighted probes per second, at
    most one per usable core and AUTO_MAX_WORKERS."""
    if setting != "auto":
        return setting
    cpus = usable_cpus() if cpus is None else cpus
    enabled = [ep for ep in endpoints if ep.enabled]
    rate = sum(1.0 / ep.interval for ep in enabled)
    if cpus < 2 or rate < AUTO_MIN_RATE:
        return 0
    weighted = sum(probe_weight(ep) / ep.interval for ep in enabled)
    return max(1, min(cpus, AUTO_MAX_WORKERS, math.ceil(round(weighted / AUTO_RATE_PER_WORKER, 6))))  # 1000.0000001


class ProberPool:
    """Same contract as `ProbeScheduler` (start/update/stop, running, in_flight, job_count), out of process."""

    def __init__(
        self,
        workers: int,
        *,
        on_result: Callable[[ProbeResult], None],
        observe_lag: Callable[[float], None],
        on_skipped: Callable[[str], None],
        on_missed: Callable[[str], None],
        max_concurrency: int,
        jitter: float,
        log_format: str = "text",
        event_loop: str = "auto",
        on_restart: Callable[[], None] | None = None,
        silent_limit: float = SILENT_LIMIT,
        start_limit: float = START_LIMIT,
        shards: int = 1,
        command: Sequence[str] | None = None,
    ) -> None:
        """`shards`: how many instance shards the endpoints were split into (`server.cluster.shards`), so
        the workers split by `sharding.worker_of`, independent of the instance's own shard. `command`: what
        starts a worker, before its `--fd ...` arguments (default: this interpreter's `-m slowatch.workers`)."""
        if workers < 1:
            raise ValueError("ProberPool needs at least one worker")
        self._workers = [WorkerLink(i) for i in range(workers)]
        self._on_result = on_result
        self._observe_lag = observe_lag
        self._on_skipped = on_skipped
        self._on_missed = on_missed
        self._on_restart = on_restart
        self._options = {"max_concurrency": max(1, -(-max_concurrency // workers)), "jitter": jitter}
        self._log_format = log_format
        self._event_loop = event_loop
        self._endpoints: dict[str, Endpoint] = {}
        self._revisions: dict[str, int] = {}  # the endpoints whose definition a reload added or edited: its number
        self._generation = 0  # counts changes to the shards (a plan worked out before one is stale)
        self._stopping = False
        self._started = False
        self._silent_limit = silent_limit
        self._start_limit = start_limit
        self._command = tuple(command) if command is not None else (sys.executable, "-m", "slowatch.workers")
        self._shards = shards
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def workers(self) -> int:
        """Prober worker processes run by this pool."""
        return len(self._workers)

    @property
    def running(self) -> bool:
        return self._started and not self._stopping and all(w.ready for w in self._workers)

    @property
    def in_flight(self) -> int:
        return sum(w.in_flight for w in self._workers)

    @property
    def job_count(self) -> int:
        return len(self._endpoints)

    def down(self) -> list[int]:
        """Indexes of workers that are not probing right now: down, or started but not "ready" yet (for /readyz)."""
        return [w.index for w in self._workers if not w.ready] if self._started and not self._stopping else []

    def _reshard(self, endpoints: list[Endpoint]) -> None:
        self._generation += 1
        self._endpoints = {ep.name: ep for ep in endpoints if ep.enabled}
        for w in self._workers:
            w.shard = {}
        for name, ep in self._endpoints.items():
            self._workers[worker_of(name, len(self._workers), self._shards)].shard[name] = ep

    async def start(self, endpoints: list[Endpoint]) -> None:
        self._reshard(endpoints)
        self._started = True
        ready = [asyncio.get_running_loop().create_future() for _ in self._workers]
        for w, fut in zip(self._workers, ready, strict=True):
            w.task = asyncio.create_task(self._supervise(w, fut), name=f"prober-worker-{w.index}")
        await asyncio.gather(*ready)
        self._watchdog = asyncio.create_task(self._watch(), name="prober-watchdog")

    async def _watch(self) -> None:
        """Kill a worker that went silent (a blocked loop, SIGSTOP, a livelock) or never got ready: its supervisor
        restarts it. A starting worker sends nothing until "ready": it has `start_limit` from its spawn."""
        step = min(1.0, self._silent_limit / 4)
        while not self._stopping:
            before = time.monotonic()
            await asyncio.sleep(step)
            now = time.monotonic()
            if now - before > step + 1.0:  # our own loop was blocked: the workers' frames wait unread
                for w in self._workers:
                    w.last_seen = now
                continue
            for w in self._workers:
                proc = w.proc
                limit = self._silent_limit if w.ready else self._start_limit
                if w.alive and proc is not None and proc.returncode is None and now - w.last_seen > limit:
                    logger.error(
                        "prober worker %s, killing it index=%d pid=%d silent_for=%.0fs endpoints=%d",
                        "silent" if w.ready else "not ready in time", w.index, proc.pid, now - w.last_seen,
                        len(w.shard),
                    )  # fmt: skip
                    proc.kill()
                    w.last_seen = now  # one kill per silence; the supervisor takes it from here

    def update(
        self, endpoints: list[Endpoint], changes: EndpointChanges | None = None, plan: ApplyPlan | None = None
    ) -> tuple[int, int, int]:
        """Apply a new endpoint list: returns (added, removed, changed). Unchanged endpoints keep their phase.

        With `changes` (from the running list to `endpoints`) only they are applied, and each worker is sent
        only its part of them (none when nothing of its shard changed); without, every worker its whole shard.
        `plan`: `self.plan(changes)`, worked out off the loop (used if nothing changed the shards since)."""
        if changes is not None:
            return self._apply(changes, plan)
        old = self._endpoints
        self._reshard(endpoints)
        new = self._endpoints
        added = sum(1 for name in new if name not in old)
        removed = sum(1 for name in old if name not in new)
        changed = sum(1 for name, ep in new.items() if name in old and old[name] != ep)
        self._revisions = {name: r for name, r in self._revisions.items() if old.get(name) is new.get(name)}
        for w in self._workers:
            w.send(("update", list(w.shard.values())))
        return added, removed, changed

    def plan(self, changes: EndpointChanges) -> ApplyPlan:
        """What `update` with `changes` does, worked out without changing anything (safe in a thread while the
        loop runs: it only looks names up; switch.py `prepare` calls it off the loop)."""
        workers, shards = len(self._workers), self._shards
        return plan_changes(
            changes, [w.shard for w in self._workers], lambda name: worker_of(name, workers, shards),
            self._generation, START_CHUNK,
        )  # fmt: skip

    def _apply(self, changes: EndpointChanges, plan: ApplyPlan | None) -> tuple[int, int, int]:
        if plan is None or plan.generation != self._generation:  # (the shards changed since: work it out again)
            plan = self.plan(changes)
        self._generation += 1
        plan.merge([w.shard for w in self._workers], self._endpoints, self._revisions)
        for index, messages in plan.messages.items():
            self._workers[index].send_chunks(messages)
        return plan.counts

    async def _spawn(self, w: WorkerLink) -> asyncio.StreamReader:
        w.restarted()
        ours, theirs = socket.socketpair()
        try:
            w.proc = await asyncio.create_subprocess_exec(
                *self._command, "--fd", str(theirs.fileno()), "--index", str(w.index),
                "--log-format", self._log_format, "--loop", self._event_loop,
                "--log-level", logging.getLevelName(logging.getLogger().level),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        reader, w.writer = await asyncio.open_connection(sock=ours)
        w.alive, w.ready = True, False
        w.in_flight = 0
        w.last_seen = time.monotonic()
        shard = list(w.shard.values())
        revisions = {ep.name: r for ep in shard if (r := self._revisions.get(ep.name))}  # (of this snapshot)
        last = max(0, len(shard) - 1) // START_CHUNK * START_CHUNK  # where the last chunk begins
        writer, w.held = w.writer, []
        try:
            for i in range(0, last, START_CHUNK):
                writer.write(encode(("part", shard[i : i + START_CHUNK])))
                await writer.drain()  # one chunk's bytes at a time: no 10-20 MB pickle of the whole shard at once
            writer.write(encode(("start", shard[last:], {**self._options, "revisions": revisions})))
        finally:
            held, w.held = w.held, None
        for message in held:  # changes made to the shard meanwhile (they apply to the snapshot just sent)
            w.send(message)
        logger.debug("prober worker spawned index=%d pid=%d endpoints=%d", w.index, w.proc.pid, len(w.shard))
        return reader

    async def _supervise(self, w: WorkerLink, ready: asyncio.Future[None]) -> None:
        backoff = 1.0
        while not self._stopping:
            began = time.monotonic()
            try:
                reader = await self._spawn(w)
            except OSError as e:
                logger.error("prober worker could not start index=%d error=%s", w.index, e)
                reader = None
            if not ready.done():
                ready.set_result(None)
            if reader is not None:
                await self._read(w, reader)
            code = await self._reap(w)
            if self._stopping:
                return
            logger.error(
                "prober worker exited unexpectedly index=%d exit_code=%s endpoints=%d restart_in=%.0fs",
                w.index,
                code,
                len(w.shard),
                backoff,
            )
            if self._on_restart is not None:
                self._on_restart()
            await asyncio.sleep(backoff)
            backoff = 1.0 if time.monotonic() - began > 60 else min(BACKOFF_MAX, backoff * 2)

    async def _read(self, w: WorkerLink, reader: asyncio.StreamReader) -> None:
        on_result, observe_lag = self._on_result, self._observe_lag
        spawned = w.last_seen
        try:
            while (message := await read_frame(reader)) is not None:
                w.last_seen = time.monotonic()
                if message[0] == "batch":
                    _, results, lags, skipped, missed, w.in_flight = message
                    for start in range(0, len(results), RESULTS_PER_STEP):
                        if start:
                            await asyncio.sleep(0)
                        known = self._endpoints
                        for t in results[start : start + RESULTS_PER_STEP]:
                            on_result(unpack_result(t, known))
                    for lag in lags:
                        observe_lag(lag)
                    for name in skipped:
                        self._on_skipped(name)
                    for name in missed:
                        self._on_missed(name)
                elif message[0] == "ready":
                    w.ready = True
                    logger.info(
                        "prober worker started index=%d pid=%s endpoints=%d start_seconds=%.1f",
                        w.index, w.proc.pid if w.proc else None, message[1], w.last_seen - spawned,
                    )  # fmt: skip
                elif message[0] == "bye":
                    w.cancelled = int(message[1])
                await asyncio.sleep(0)  # frames already buffered would otherwise be read without yielding
        except (ConnectionError, OSError, ValueError) as e:
            logger.error("prober worker connection failed index=%d error=%s", w.index, e)
        finally:
            w.alive = w.ready = False
            w.in_flight = 0
            if w.writer is not None:
                w.writer.close()

    async def _reap(self, w: WorkerLink) -> int | None:
        if w.proc is None:
            return None
        try:
            return await asyncio.wait_for(w.proc.wait(), 5.0)
        except TimeoutError:
            w.proc.kill()
            return await w.proc.wait()

    async def stop(self, grace: float) -> int:
        """Tell every worker to stop; they drain for `grace` s and send what is left. Returns how many
        probes were cancelled."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        for w in self._workers:
            w.send(("stop", grace))
            if not w.alive and w.task is not None:
                w.task.cancel()  # waiting out a restart backoff: nothing to drain
        tasks = [w.task for w in self._workers if w.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace + 10.0)
            for w in self._workers:
                if w.proc is not None and w.proc.returncode is None and late:
                    logger.error("prober worker did not stop in time, killing index=%d", w.index)
                    w.proc.kill()
            if late:
                await asyncio.wait(late, timeout=5.0)
        return sum(w.cancelled for w in self._workers)


__all__ = [
    "AUTO_MAX_WORKERS", "AUTO_MIN_RATE", "AUTO_RATE_PER_WORKER", "SILENT_LIMIT", "START_LIMIT", "ProberPool",
    "probe_weight",
    "shard_of", "usable_cpus", "worker_count",
]  # fmt: skip

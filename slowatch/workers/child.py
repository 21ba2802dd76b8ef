"""A prober worker process: schedules and probes its shard of endpoints, streams results to the daemon.

Started by `ProberPool` as `python -m slowatch.workers --fd N --index I`. It runs the same
`ProbeScheduler` and probe functions as the in-process daemon, on its own event loop and core, and
sends what they produce in batches every `FLUSH_EVERY` seconds. It owns no state worth keeping: the
store, SLOs, alerting and /metrics live in the daemon. It exits when told to stop, or as soon as the
daemon's end of the socket closes (the daemon died), so no orphan keeps probing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from typing import Any

from slowatch import process
from slowatch.clock import SystemClock
from slowatch.config.endpoints import Endpoint
from slowatch.config.share import Interner, share_equal_parts
from slowatch.models import ProbeResult
from slowatch.probes import ProbeContext, make_session, run_probe
from slowatch.scheduler import ProbeScheduler
from slowatch.workers.protocol import ResultTuple, encode, pack_result, read_frame

logger = logging.getLogger(__name__)

FLUSH_EVERY = 0.05


class _Outbox:
    """What the worker has to tell the daemon since the last batch."""

    def __init__(self) -> None:
        self.results: list[ResultTuple] = []
        self.lags: list[float] = []
        self.skipped: list[str] = []
        self.missed: list[str] = []

    def result(self, r: ProbeResult) -> None:
        self.results.append(pack_result(r))

    def take(self, in_flight: int) -> bytes | None:
        if not (self.results or self.lags or self.skipped or self.missed):
            return None
        frame = encode(("batch", self.results, self.lags, self.skipped, self.missed, in_flight))
        self.results, self.lags, self.skipped, self.missed = [], [], [], []
        return frame


async def serve(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    endpoints: list[Endpoint] = []
    first = await read_frame(reader)
    while first is not None and first[0] == "part":  # a large shard comes in chunks before "start"
        endpoints.extend(first[1])
        first = await read_frame(reader)
    if first is None:
        return
    if first[0] != "start":
        raise ConnectionError(f"prober worker: expected 'start', got {first[0]!r}")
    endpoints.extend(first[1])
    # Each chunk's pickle arrives with its own copies of what its endpoints share (labels, expect, alerts, tls,
    # timeouts): one instance of each again (until session 9, 3,200 copies of each at 100,000 endpoints: +45 MB).
    shared = Interner()
    share_equal_parts(endpoints, shared)
    options: dict[str, Any] = first[2]
    out = _Outbox()
    session = make_session(limit=int(options["max_concurrency"]))
    ctx = ProbeContext(session=session, clock=SystemClock())

    unprobed = {ep.name for ep in endpoints if ep.enabled}

    async def probe(ep: Endpoint, revision: int) -> None:
        await run_probe(ep, ctx, out.result, revision)
        if not scheduler.scheduled(ep.name):  # removed by a reload during the probe: a retry rebuilt its caches
            ctx.forget([ep.name])
        if unprobed:
            unprobed.discard(ep.name)
            if not unprobed:  # every endpoint's per-endpoint caches (prepared requests, URLs) now exist:
                gc.freeze()  # out of the scans of a full collection too (~45 ms per collection at 100,000 endpoints)

    scheduler = ProbeScheduler(
        probe,
        max_concurrency=int(options["max_concurrency"]),
        jitter=float(options["jitter"]),
        observe_lag=lambda seconds: out.lags.append(seconds),  # not `out.lags.append`: take() swaps the lists
        on_skipped=lambda name: out.skipped.append(name),
        on_missed=lambda name: out.missed.append(name),
    )
    scheduler.start(endpoints, options.get("revisions"))
    gc.freeze()  # the shard's long-lived state now exists: keep it out of GC scans (thresholds: process.tune)
    writer.write(encode(("ready", len(endpoints))))  # the daemon's /readyz and hung-worker clock wait for this

    async def flush_forever() -> None:
        quiet = 0
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            frame = out.take(scheduler.in_flight)
            quiet += 1
            if frame is None and quiet >= 20:  # a heartbeat about once a second keeps in_flight current
                frame = encode(("batch", [], [], [], [], scheduler.in_flight))
            if frame is not None:
                quiet = 0
                try:
                    writer.write(frame)
                    await writer.drain()
                except ConnectionError:
                    return  # the read loop sees the end of the stream and stops

    flusher = asyncio.create_task(flush_forever())
    cancelled = 0
    try:
        while True:
            message = await read_frame(reader)
            if message is None:
                logger.warning("prober worker: the daemon went away, stopping")
                cancelled = await scheduler.stop(0.0)
                return
            if message[0] == "update":
                share_equal_parts(message[1], shared)
                before = scheduler.names()
                scheduler.update(message[1])
                ctx.forget(before - scheduler.names())
                shared.prune(scheduler.endpoints())
            elif message[0] == "apply":
                changes = message[1]
                share_equal_parts(changes.upserts, shared)
                scheduler.apply(changes)
                ctx.forget([*changes.removed, *(ep.name for ep in changes.upserts if not ep.enabled)])
                shared.prune(scheduler.endpoints())  # the label/header dicts of old definitions (rotated tokens)
            elif message[0] == "stop":
                cancelled = await scheduler.stop(float(message[1]))
                break
        flusher.cancel()
        frame = out.take(0)
        if frame is not None:
            writer.write(frame)
        writer.write(encode(("bye", cancelled)))
        try:
            await writer.drain()
        except ConnectionError:
            logger.warning("prober worker: the daemon went away before the last batch")
    finally:
        flusher.cancel()
        await session.close()
        writer.close()


def main(fd: int, index: int, log_format: str, log_level: str, event_loop: str = "auto") -> None:
    # Ctrl-C in a terminal reaches the whole process group: the daemon decides when its workers stop. So does
    # a hangup, or `pkill -HUP -f slowatch` meant as a reload: the daemon reloads and sends workers their part.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    logger.debug("prober worker started index=%d pid=%d", index, os.getpid())
    try:
        process.run(serve(sock), event_loop=event_loop, log_format=log_format, log_level=log_level)
    except (ConnectionError, OSError) as e:
        logger.error("prober worker: lost the daemon index=%d error=%s", index, e)


__all__ = ["FLUSH_EVERY", "main", "serve"]

"""One /metrics scrape as an async stream of body chunks, rendered on the event loop in short slices.

Rendering is pure Python: in a worker thread it held the GIL against the event loop (the scrape stalls
of benchmarks/README.md). Here it runs on the loop itself and pauses whenever it has held the loop for
`budget` seconds (4 ms), at the `PAUSE` points of `exposition.pieces`, which are at most a few ms of
work apart; an endpoint's text is only rendered again after a new result. A pause is a short timer
sleep, not `sleep(0)`: a `sleep(0)` task runs again before the timers that fell due during its step,
so other work would wait two steps, not one. gzip (level 1) deflates each ~256 KB chunk on the loop
too (~0.6 ms each): `offload=True` deflates in a worker thread instead (zlib releases the GIL), which
measured no shorter stalls but ~10 % more CPU and longer scrapes, from the thread hand-offs
(benchmarks/scrape_stall.py, variants `app` and `gzip-offload`).

    scrape = Scrape(registry, accept, accept_encoding)
    response = web.StreamResponse(headers=scrape.headers)
    await response.prepare(request)
    async for chunk in scrape.body():
        await response.write(chunk)
    await response.write_eof()
    scrape.finished()  # observes slowatch_metrics_scrape_duration_seconds
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncGenerator

from prometheus_client.registry import Collector

from slowatch.metrics.exposition import is_openmetrics, negotiate, pieces
from slowatch.metrics.families import EndpointTable

CHUNK_BYTES = 256 * 1024  # body bytes gathered before a write (and before a deflate call)
BUDGET = 0.004  # seconds of loop time a scrape takes before it lets other work run
PAUSE_SECONDS = 0.0002  # a pause: queued behind the I/O and timers already due


class Scrape:
    """The body of one scrape (the registry is collected lazily, when `body()` is first iterated)."""

    def __init__(
        self, registry: Collector, accept: str, accept_encoding: str, *, offload: bool = False, budget: float = BUDGET
    ) -> None:
        self._started = time.monotonic()
        self._registry = registry
        self._encoder, content_type = negotiate(accept)
        self._openmetrics = is_openmetrics(content_type)
        self.gzip = "gzip" in accept_encoding.lower()
        self.headers = {"Content-Type": content_type}
        if self.gzip:
            self.headers["Content-Encoding"] = "gzip"
        self._offload = offload
        self._budget = budget
        self._tables: list[EndpointTable] = []

    async def body(self) -> AsyncGenerator[bytes, None]:
        """Body chunks of ~`CHUNK_BYTES` (gzip members' pieces when compressing)."""
        deflate = zlib.compressobj(1, zlib.DEFLATED, 31) if self.gzip else None  # wbits 31: a gzip member
        buffer: list[bytes] = []
        size = 0
        since = time.perf_counter()
        for piece in pieces(self._registry, self._encoder, self._openmetrics, self._tables):
            if piece is None:
                if time.perf_counter() - since >= self._budget:
                    await asyncio.sleep(PAUSE_SECONDS if self._budget else 0)
                    since = time.perf_counter()
                continue
            buffer.append(piece)
            size += len(piece)
            if size < CHUNK_BYTES:
                continue
            data = b"".join(buffer)
            buffer.clear()
            size = 0
            if deflate is not None:
                data = await self._deflate(deflate, data)
                if self._offload:  # the loop ran other work while the thread deflated
                    since = time.perf_counter()
            if data:
                yield data
        data = b"".join(buffer)
        if deflate is not None:
            data = await self._deflate(deflate, data) + deflate.flush()
        if data:
            yield data

    async def _deflate(self, deflate: zlib._Compress, data: bytes) -> bytes:
        return await asyncio.to_thread(deflate.compress, data) if self._offload else deflate.compress(data)

    def finished(self) -> float:
        """Record the scrape's duration (request to last byte) in each table's histogram; returns it."""
        seconds = time.monotonic() - self._started
        for table in self._tables:
            table.scrape_seconds.observe(seconds)
        return seconds


__all__ = ["BUDGET", "CHUNK_BYTES", "PAUSE_SECONDS", "Scrape"]

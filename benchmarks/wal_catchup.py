"""The `-wal` file after a catch-up: N results queued at once (what a long store outage leaves
behind), written, then a few normal batches; prints the database and -wal sizes at each step, the
writer's CPU time and the load average. `python benchmarks/wal_catchup.py DIR [N]` (N: 1,000,000,
the queue's cap). See benchmarks/README.md, "WAL after a catch-up"."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.store import Store

T0 = 1_790_000_000.0


def sizes(path: str) -> str:
    def mb(p: str) -> float:
        return os.path.getsize(p) / 1e6 if os.path.exists(p) else 0.0

    return f"db={mb(path):.1f}MB wal={mb(path + '-wal'):.1f}MB"


async def main(directory: str, n: int) -> None:
    clock = FakeClock(T0)
    path = str(Path(directory) / "wal_catchup.db")
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    store = Store(path, clock=clock, retention=RetentionConfig(), batch_interval=0.05)
    await store.start()
    for i in range(2000):
        store.record(ProbeResult(f"ep{i % 200}", "http", Outcome.SUCCESS, T0 + i, 0.1))
    await store.flush()
    print(f"steady (200 endpoints): {sizes(path)}", flush=True)
    cpu = time.process_time()
    for i in range(n):
        failed = i % 7 == 0
        outcome = Outcome.TIMEOUT if failed else Outcome.SUCCESS
        store.record(ProbeResult(f"ep{i % 200}", "http", outcome, T0 + 2000 + i / 50, 0.1, "timed out" * failed))
    clock.advance(2000 + n / 50)
    await store.flush()
    print(f"after a catch-up of {n:,} results: {sizes(path)} cpu={time.process_time() - cpu:.1f}s", flush=True)
    for _ in range(3):
        for i in range(200):
            store.record(ProbeResult(f"ep{i}", "http", Outcome.SUCCESS, clock.time(), 0.1))
        clock.advance(5)
        await store.flush()
        await asyncio.sleep(0.2)
    print(f"after 3 normal batches: {sizes(path)}")
    await store.close()
    print(f"after close: {sizes(path)}  load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000))

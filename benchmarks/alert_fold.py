"""A flapping partition against dead sinks: memory and event-loop CPU per alert decision (alerting/fold.py).

N endpoints (failure/success threshold 1) each flap F times (a FIRING and a RESOLVED per flap) while two
webhook sinks refuse connections, so every notification stays pending and each new one folds the older.
Reported: decisions, the main thread's CPU per decision (observe -> fold -> submit -> enqueue), what is
pending at the end, peak RSS, and (--tracemalloc) the top allocation sites left alive at the end.

    .venv/bin/python benchmarks/alert_fold.py --endpoints 2000 --flaps 20 [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from slowatch.alerting import AlertService
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.store import Store

DEAD = "http://127.0.0.1:9/hook"  # discard port: nothing listens, connections are refused


def config(db: Path, n: int) -> Config:
    sink = {"kind": "webhook", "url": DEAD, "retry_initial": "1s", "retry_max": "5s", "timeout": "1s"}
    eps: list[dict[str, Any]] = [
        {"name": f"ep{i}", "kind": "http", "url": f"http://127.0.0.1:9/{i}",
         "alerts": {"failure_threshold": 1, "success_threshold": 1}}
        for i in range(n)
    ]  # fmt: skip
    return Config.model_validate(
        {
            "server": {"database": str(db)},
            "endpoints": eps,
            "sinks": {"hook1": sink, "hook2": sink},
            "routes": [{"match": {}, "sinks": ["hook1", "hook2"]}],
        }
    )


async def main(n: int, flaps: int, trace: bool, no_gc: bool = False) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(Path(tmp) / "a.db", n)
        store = Store(cfg.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.05)
        service = AlertService(cfg, store, clock)
        await store.start()
        await service.start()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if trace:
            tracemalloc.start(8)
        if no_gc:
            gc.disable()
        cpu, backlog = 0.0, 0
        for _ in range(flaps):
            for outcome in (Outcome.TIMEOUT, Outcome.SUCCESS):
                clock.advance(10)
                t0 = time.thread_time()
                for i in range(n):
                    service.observe(ProbeResult(f"ep{i}", "http", outcome, clock.time(), 0.01))
                cpu += time.thread_time() - t0
                backlog = max(backlog, len(store._writer.queue))
                await asyncio.sleep(0.05)  # the workers and the writer get a turn, as between probe rounds
        decisions = 2 * n * flaps
        await store.flush()
        snap = tracemalloc.take_snapshot() if trace else None
        pending = {name: len(w.queue) for name, w in service.dispatcher.workers.items()}
        newest = {name: len(w._newest) for name, w in service.dispatcher.workers.items()}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"decisions={decisions} loop_cpu_per_decision_us={cpu / decisions * 1e6:.1f} pending={pending} "
              f"newest={newest} writer_backlog_max={backlog}")  # fmt: skip
        print(f"rss_before_flaps_mb={base_rss:.0f} peak_rss_mb={peak:.0f}")
        if snap is not None:
            for stat in snap.statistics("traceback")[:8]:
                print(f"{stat.size / 1e6:7.1f} MB {stat.count:8d} blocks")
                for line in stat.traceback.format()[-6:]:
                    print("     ", line)
        await service.stop()
        await store.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=2000)
    ap.add_argument("--flaps", type=int, default=20)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--no-gc", action="store_true", help="gc.disable() while flapping: how much of the CPU is the GC's")
    a = ap.parse_args()
    asyncio.run(main(a.endpoints, a.flaps, a.tracemalloc, a.no_gc))

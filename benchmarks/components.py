"""Per-component costs of the daemon's hot path, in-process, no network (evidence for design fixes).

  .venv/bin/python benchmarks/components.py [--endpoints 10000]

metrics.observe   µs per ProbeMetrics.observe (per-endpoint slots; metrics_render.py compares the client's)
metrics.render    /metrics render time and size at N endpoints: text 0.0.4 and OpenMetrics, with and
                  without the per-endpoint histogram, and a flat pre-formatted renderer (the proposed fix)
(the store writer's cost per result is measured by store_writer.py)
scheduler         CPU per run: APScheduler (one IntervalTrigger job per endpoint, as scheduler.py)
                  vs a minimal timing wheel, both firing no-op coroutines at N / interval runs/s
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import resource
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from slowatch.config.schema import Config, MetricsConfig
from slowatch.metrics import ProbeMetrics, render_metrics
from slowatch.models import Outcome, ProbeResult


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def make_results(n: int, now: float) -> list[ProbeResult]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        ok = i % 25 != 0
        out.append(
            ProbeResult(
                endpoint=f"ep-{i:06d}",
                kind="http",
                outcome=Outcome.SUCCESS if ok else Outcome.HTTP_STATUS,
                started_at=now + i * 0.001,
                duration=rng.uniform(0.0005, 0.004),
                status_code=200 if ok else 500,
                phases={
                    "connect": rng.uniform(1e-4, 5e-4),
                    "processing": rng.uniform(1e-4, 2e-3),
                    "transfer": rng.uniform(1e-5, 5e-5),
                },
                final_url=f"http://127.0.0.1:3300{i % 8}/fast/{i}",
                message="" if ok else "expected status 200, got 500",
            )
        )
    return out


def bench_metrics(n: int) -> None:
    endpoints = Config.model_validate(
        {
            "endpoints": [
                {"name": f"ep-{i:06d}", "kind": "http", "url": "http://127.0.0.1/", "interval": "10s", "timeout": "2s"}
                for i in range(n)
            ]
        }
    ).endpoints
    results = make_results(n, time.time())
    for histograms in (True, False):
        registry = CollectorRegistry()
        pm = ProbeMetrics(registry, MetricsConfig(histograms=histograms))
        pm.set_endpoints(endpoints)
        t0 = time.perf_counter()
        for r in results:
            pm.observe(r)
        first = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for r in results:
            pm.observe(r)
        again = (time.perf_counter() - t0) / n * 1e6
        print(f"metrics.observe histograms={histograms}: {first:.1f} µs first (creates children), {again:.1f} µs after")
        for name, accept in (("text 0.0.4", ""), ("openmetrics", "application/openmetrics-text; version=1.0.0")):
            t0 = time.perf_counter()
            body = render_metrics(registry, accept)[0]  # as /metrics renders (benchmarks/metrics_render.py: vs client)
            dt = time.perf_counter() - t0
            lines = body.count(b"\n")
            print(
                f"metrics.render {name:11} histograms={histograms}: {dt:.3f} s, {len(body) / 1e6:.1f} MB, {lines} lines"
            )
    # The proposed fix: per-endpoint state in flat lists, label text formatted once per endpoint.
    labels = [f'endpoint="ep-{i:06d}",kind="http"' for i in range(n)]
    success = [1.0] * n
    last_run = [time.time()] * n
    status = [200.0] * n
    counts = [[0.0] * 13 for _ in range(n)]
    t0 = time.perf_counter()
    parts = ["# TYPE slowatch_probe_success gauge\n"]
    parts += [f"slowatch_probe_success{{{lab}}} {v}\n" for lab, v in zip(labels, success, strict=True)]
    parts.append("# TYPE slowatch_probe_last_run_timestamp_seconds gauge\n")
    parts += [
        f"slowatch_probe_last_run_timestamp_seconds{{{lab}}} {v}\n" for lab, v in zip(labels, last_run, strict=True)
    ]
    parts.append("# TYPE slowatch_probe_http_status_code gauge\n")
    parts += [f"slowatch_probe_http_status_code{{{lab}}} {v}\n" for lab, v in zip(labels, status, strict=True)]
    parts.append("# TYPE slowatch_probes counter\n")
    parts += [
        f'slowatch_probes_total{{{lab},outcome="success"}} {c[0]}\n' for lab, c in zip(labels, counts, strict=True)
    ]
    body = "".join(parts).encode()
    dt = time.perf_counter() - t0
    print(
        f"metrics.render flat renderer, 4 gauge/counter families (no histogram): {dt:.3f} s, {len(body) / 1e6:.1f} MB"
    )


class _Skipping:
    """Stands in for a sqlite_utils Database: `.conn.executemany` skips statements with given prefixes."""

    def __init__(self, conn: sqlite3.Connection, skip: tuple[str, ...]) -> None:
        self.conn = self
        self._real = conn
        self._skip = skip

    def executemany(self, sql: str, rows: object) -> object:
        if sql.startswith(self._skip):
            return None
        return self._real.executemany(sql, rows)  # type: ignore[arg-type]

    def execute(self, sql: str, *args: object) -> object:
        return self._real.execute(sql, *args)  # type: ignore[arg-type]


async def _apscheduler(n: int, interval: float, seconds: float) -> tuple[int, float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1

    sched = AsyncIOScheduler(timezone=UTC, job_defaults={"max_instances": 1, "coalesce": True,
                                                         "misfire_grace_time": None})  # fmt: skip
    now = datetime.now(UTC)
    for i in range(n):
        first = now + timedelta(seconds=(i / n) * interval)
        sched.add_job(job, IntervalTrigger(seconds=interval, start_date=first, timezone=UTC, jitter=interval * 0.1),
                      id=str(i))  # fmt: skip
    sched.start()
    await asyncio.sleep(1.0)
    r0, c0 = runs, cpu()
    await asyncio.sleep(seconds)
    r1, c1 = runs, cpu()
    sched.shutdown(wait=False)
    return r1 - r0, c1 - c0


async def _wheel(n: int, interval: float, seconds: float) -> tuple[int, float]:
    """A minimal replacement: a heap of (due, i), one loop timer per tick, a task per due run."""
    runs = 0
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def job() -> None:
        nonlocal runs
        runs += 1

    t0 = loop.time()
    heap = [(t0 + (i / n) * interval, i) for i in range(n)]
    heapq.heapify(heap)
    stop = False

    async def ticker() -> None:
        while not stop:
            now = loop.time()
            while heap[0][0] <= now:
                due, i = heapq.heappop(heap)
                heapq.heappush(heap, (due + interval, i))
                t = loop.create_task(job())
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, min(0.01, heap[0][0] - loop.time())))

    runner = asyncio.ensure_future(ticker())
    await asyncio.sleep(1.0)
    r0, c0 = runs, cpu()
    await asyncio.sleep(seconds)
    r1, c1 = runs, cpu()
    stop = True
    await runner
    return r1 - r0, c1 - c0


def bench_scheduler(n: int, interval: float, seconds: float) -> None:
    for name, fn in (("apscheduler", _apscheduler), ("timing wheel", _wheel)):
        runs, cpu_s = asyncio.run(fn(n, interval, seconds))
        print(
            f"scheduler {name:12}: {runs / seconds:7.0f} runs/s, {1000 * cpu_s / max(1, runs):.3f} CPU-s per 1,000 runs"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--only", choices=["metrics", "scheduler"])
    args = p.parse_args()
    if args.only in (None, "metrics"):
        bench_metrics(args.endpoints)
    if args.only in (None, "scheduler"):
        bench_scheduler(args.endpoints, args.interval, args.seconds)


if __name__ == "__main__":
    main()

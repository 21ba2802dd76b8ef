"""Benchmark: SLO engine refresh with 1,000 SLOs over 30-day windows and 10,000 endpoints.

    .venv/bin/python benchmarks/slo_refresh.py [--slos 1000] [--endpoints 10000] [--refreshes 60]

Builds the engine from a generated Config (500 consumers x 2 SLOs; every 10th SLO is a latency
SLO, every 5th budgets by 1-minute timeslices over a calendar month in Europe/Berlin), loads 30 days
of synthetic history into every ledger (as a restart would), then alternates: advance the clock
5 s, observe the results 10,000 endpoints probed every 30 s would produce in those 5 s, refresh.
`--composites 100` adds 100 composite SLOs (journey = availability + fast, the methods in turn).
Prints ms per refresh (mean / p50 / p99 / max), µs per observe, and ledger memory.

After loading, the benchmark calls `gc.freeze()` as the daemon should once it has started (a full
collection otherwise walks every long-lived object and can land inside a refresh: +50-100 ms);
`--no-gc-freeze` measures without it. `--exported` refreshes as SloService does, with the map of the
counters its last committed save exported (slowatch/slo/service.py); without it, with the live counters.
Refresh times are CPU time (process_time) next to wall time.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
from typing import Any

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.engine import Engine


def build_config(n_slos: int, n_endpoints: int, per_consumer: int = 20, composites: int = 0) -> Config:
    endpoints = [{"name": f"ep-{i}", "kind": "http", "url": f"http://h{i}/"} for i in range(n_endpoints)]
    consumers: list[dict[str, Any]] = []
    for c in range(n_slos // 2):
        eps = [f"ep-{(c * per_consumer + k) % n_endpoints}" for k in range(per_consumer)]
        slos: list[dict[str, object]] = [{"name": "availability", "sli": "availability", "objective": 99.9}]
        if c % 5 == 0:
            slos.append(
                {
                    "name": "minutes",
                    "sli": "availability",
                    "objective": 99.5,
                    "budgeting": "timeslices",
                    "window": {"calendar": "month", "timezone": "Europe/Berlin"},
                }
            )
        else:
            slos.append({"name": "fast", "sli": "latency", "threshold": "300ms", "objective": 99, "window": "30d"})
            if composites and c % 5 and sum(1 for x in consumers if len(x["slos"]) > 2) < composites:
                method = ("serial", "weighted", "worst")[c % 3]
                members = [{"slo": "availability"}, {"slo": "fast"}]
                slos.append({"name": "journey", "objective": 99, "composite": {"method": method, "members": members}})
        consumers.append({"name": f"consumer-{c}", "endpoints": eps, "slos": slos})
    return Config.model_validate({"endpoints": endpoints, "consumers": consumers})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=60)
    parser.add_argument("--interval", type=float, default=30.0, help="probe interval per endpoint (s)")
    parser.add_argument("--composites", type=int, default=0, help="composite SLOs to add")
    parser.add_argument("--no-gc-freeze", action="store_true", help="leave long-lived objects to the GC")
    parser.add_argument("--exported", action="store_true", help="refresh with the exported counters (SloService)")
    args = parser.parse_args()
    rng = random.Random(7)
    clock = FakeClock(1_790_000_000.0)
    config = build_config(args.slos, args.endpoints, composites=args.composites)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    engine = Engine(config, clock.time())
    built = time.perf_counter() - t0
    now = int(clock.time())
    for fp, ledger in engine.ledgers.items():
        fine_rows = [(start, 19, 20) for start in range(now - 3 * 86400, now, ledger.fine)]
        coarse_rows = [(start, 2390, 2400, 0, 59, 60) for start in range(now - 31 * 86400, now, ledger.coarse)]
        if fp in engine.composites:  # the last 3 days are computed from the members at the first refresh
            fine_rows, coarse_rows = [], [r for r in coarse_rows if r[0] < now - 3 * 86400 - 3600]
        ledger.load(fine_rows, coarse_rows)
    loaded = time.perf_counter() - t0 - built
    if not args.no_gc_freeze:
        gc.collect()
        gc.freeze()
    full_collections = gc.get_stats()[2]["collections"]
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_refresh = int(args.endpoints * 5 / args.interval)
    refresh_ms: list[float] = []
    refresh_cpu = 0.0
    exported = {key: (c[0], c[1]) for key, c in engine.counters.items()} if args.exported else None
    observe_s = observe_cpu = 0.0
    observed = 0
    engine.refresh(clock.time())
    for _ in range(args.refreshes):
        batch = []
        for _ in range(per_refresh):
            outcome = Outcome.SUCCESS if rng.random() < 0.995 else Outcome.TIMEOUT
            ts = clock.time() + rng.random() * 5
            batch.append(ProbeResult(f"ep-{rng.randrange(args.endpoints)}", "http", outcome, ts, rng.random() * 0.4))
        clock.advance(5.0)
        t, cpu = time.perf_counter(), time.process_time()
        for result in batch:
            engine.observe(result)
        observe_s += time.perf_counter() - t
        observe_cpu += time.process_time() - cpu
        observed += len(batch)
        t, cpu = time.perf_counter(), time.process_time()
        snapshot = engine.refresh(clock.time()) if exported is None else engine.refresh(clock.time(), exported)
        refresh_cpu += time.process_time() - cpu
        refresh_ms.append((time.perf_counter() - t) * 1000)
    refresh_ms.sort()
    print(
        f"SLOs={len(snapshot.slos)} composites={len(engine.composites)} ledgers={len(engine.ledgers)} "
        f"endpoints={args.endpoints} window=30d "
        f"refreshes={args.refreshes} ({per_refresh} results between refreshes)"
    )
    print(
        f"refresh ms: mean={statistics.fmean(refresh_ms):.1f} p50={refresh_ms[len(refresh_ms) // 2]:.1f} "
        f"p99={refresh_ms[int(len(refresh_ms) * 0.99)]:.1f} max={refresh_ms[-1]:.1f}; "
        f"CPU mean={refresh_cpu / args.refreshes * 1000:.1f} ({'live' if exported is None else 'exported'} counters)"
    )
    print(f"full GC collections during the run: {gc.get_stats()[2]['collections'] - full_collections}")
    print(
        f"observe: {observe_s / observed * 1e6:.1f} µs per result, CPU {observe_cpu / observed * 1e6:.1f} µs "
        "(routes to ~2 ledgers each)"
    )
    print(
        f"engine build {built:.2f} s, loading 30 d of cells {loaded:.2f} s; "
        f"ledger memory ~{(rss1 - rss0) / 1024:.0f} MB (max RSS delta)"
    )


if __name__ == "__main__":
    main()

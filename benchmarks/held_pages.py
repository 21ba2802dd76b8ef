"""The alerting collector's scrape cost with `slowatch_endpoint_suppressed`, at N endpoints (in-process).

    .venv/bin/python benchmarks/held_pages.py [--endpoints 100000] [--repeat 5]

N HTTP endpoints in consumers of 100 endpoints each, every 100th endpoint depended on by the next 99 (1,000
roots at 100,000), every endpoint probed once (a streak each). For each scene it reports the CPU time
(`time.process_time`, best of `--repeat`) of one `AlertCollector.collect()` (what a scrape of the alerting
families costs) and of `held_pages` alone (the part this series adds), and how many series it exported:
  - quiet: nothing silenced, in maintenance or failing;
  - window: a maintenance window open on one consumer (100 endpoints);
  - roots down: 10 dependency roots down and their 990 dependents failing;
  - all in maintenance: a window over every consumer (N series: the worst case).
No store is started (the collector reads memory only); the load average is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from slowatch.alerting import AlertService
from slowatch.alerting.held import held_pages
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.store import Store


def config(n: int, db: str, windows: list[dict[str, Any]]) -> Config:
    endpoints: list[dict[str, Any]] = []
    for i in range(n):
        ep: dict[str, Any] = {"name": f"ep{i}", "kind": "http", "url": f"http://127.0.0.1:9/{i}", "interval": "60s"}
        if i % 100:
            ep["depends_on"] = [f"ep{i - i % 100}"]
        endpoints.append(ep)
    consumers = [{"name": f"c{k}", "endpoints": [f"ep{i}" for i in range(k * 100, min(n, k * 100 + 100))]}
                 for k in range((n + 99) // 100)]  # fmt: skip
    return Config.model_validate(
        {"server": {"database": db}, "endpoints": endpoints, "consumers": consumers, "maintenance": windows}
    )


def result(name: str, ok: bool, ts: float) -> ProbeResult:
    outcome = Outcome.SUCCESS if ok else Outcome.TIMEOUT
    return ProbeResult(endpoint=name, kind="http", started_at=ts, duration=0.01, outcome=outcome, final=True)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def scene(name: str, cfg: Config, clock: FakeClock, failing: list[str], repeat: int) -> None:
    store = Store(cfg.server.database, clock=clock, retention=RetentionConfig())
    svc = AlertService(cfg, store, clock)
    svc.book.commit = lambda decision: None  # type: ignore[method-assign]  # (no store: decisions are dropped)
    now = clock.time()
    for ep in cfg.endpoints:
        svc.observe(result(ep.name, True, now))
    for _ in range(3):
        for ep in failing:
            svc.observe(result(ep, False, now))
    collector = svc.collector()
    collect = best(lambda: list(collector.collect()), repeat)
    held = best(lambda: held_pages(svc.health, svc.suppressor, clock.time()), repeat)
    series = len(held_pages(svc.health, svc.suppressor, clock.time()))
    print(f"{name:22} collect {collect * 1000:8.2f} ms CPU   held_pages {held * 1000:8.2f} ms CPU   {series:7} series")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, clock = args.endpoints, FakeClock()
    start = dt.datetime.fromtimestamp(clock.time() - 60, dt.UTC).isoformat()
    end = dt.datetime.fromtimestamp(clock.time() + 3600, dt.UTC).isoformat()
    every = [f"c{k}" for k in range((n + 99) // 100)]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "unused.db")
        roots = [f"ep{i}" for i in range(0, 1000, 100)]
        dependents = [f"ep{i}" for i in range(1000) if i % 100]
        scene("quiet", config(n, db, []), clock, [], args.repeat)
        one = [{"name": "w", "consumers": ["c1"], "start": start, "end": end}]
        scene("window (100)", config(n, db, one), clock, [], args.repeat)
        scene("roots down (990)", config(n, db, []), clock, roots + dependents, args.repeat)
        everything = [{"name": "w", "consumers": every, "start": start, "end": end}]
        scene(f"all in maintenance ({n})", config(n, db, everything), clock, [], args.repeat)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

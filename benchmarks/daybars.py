"""CPU per endpoint of the consumer page's day bars (`slo/daybars.endpoint_days`): 90 days of one endpoint's hourly
rollups summed per UTC day. With `--baseline FILE`, another version of `slo/daybars.py` is measured on the same
database in the same run, interleaved.

  .venv/bin/python benchmarks/daybars.py [--endpoints 200] [--days 90] [--repeat 5] [--baseline FILE]
  # e.g. git show a03d7c3:slowatch/slo/daybars.py > /tmp/daybars_s8.py   (summed row by row in Python)

A consumer page draws the bars of its 50 endpoints with the most missed days, so it computes them for every
endpoint of the consumer: at 2,000 endpoints, 2,000 of these on the store's reader thread. Reports the fastest of
`--repeat` rounds (process_time) per variant in ms per endpoint, and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from slowatch.slo.daybars import endpoint_days

NOW = 1_790_000_000.0


def database(endpoints: int, days: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for table, key in (("rollups", "hour"), ("rollups_daily", "day")):
        conn.execute(f"CREATE TABLE {table} (endpoint TEXT, {key} INTEGER, total INTEGER, good INTEGER, "
                     f"PRIMARY KEY (endpoint, {key})) WITHOUT ROWID")  # fmt: skip
    first = int(NOW // 3600) * 3600
    rows = (
        (f"ep-{i:05d}", first - 3600 * k, 60, 60 - (k % 7 == 0)) for i in range(endpoints) for k in range(days * 24)
    )
    conn.executemany("INSERT INTO rollups VALUES (?, ?, ?, ?)", rows)
    return conn


def load(path: str) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location("daybars_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module.endpoint_days  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoints", type=int, default=200)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--baseline", help="another version of slowatch/slo/daybars.py")
    args = p.parse_args()
    conn = database(args.endpoints, args.days)
    names = [f"ep-{i:05d}" for i in range(args.endpoints)]
    variants = {"this tree": endpoint_days}
    if args.baseline:
        variants["baseline"] = load(args.baseline)
    best = dict.fromkeys(variants, float("inf"))
    bars: dict[str, Any] = {}
    load0 = os.getloadavg()[0]
    for _ in range(args.repeat):
        for name, fn in variants.items():
            t = time.process_time()
            out = [fn(conn, ep, 0.999, NOW, args.days) for ep in names]
            best[name] = min(best[name], time.process_time() - t)
            bars[name] = [[(b.start, b.good, b.total, b.state) for b in ep] for ep in out]
    if args.baseline:
        assert bars["this tree"] == bars["baseline"], "the two versions draw different bars"
    print(f"day bars: {args.endpoints} endpoints x {args.days} days of hourly rollups; load {load0:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, seconds in best.items():
        print(f"  {name:10s} {seconds / args.endpoints * 1000:.2f} ms CPU per endpoint")


if __name__ == "__main__":
    main()

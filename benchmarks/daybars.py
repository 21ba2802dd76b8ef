"""CPU per endpoint of the consumer page's day bars (`slo/daybars.endpoint_days`): 90 days of one endpoint's hourly
rollups summed per UTC day. With `--baseline FILE`, another version of `slo/daybars.py` is measured on the same
database in the same run, interleaved.

  .venv/bin/python benchmarks/daybars.py [--endpoints 200] [--days 90] [--repeat 5] [--baseline FILE]
  # e.g. git show a03d7c3:slowatch/slo/daybars.py > /tmp/daybars_s8.py   (summed row by row in Python)

A consumer page draws the bars of its 50 endpoints with the most missed days, so it computes them for every
endpoint of the consumer: at 2,000 endpoints, 2,000 of these on the store's reader thread. Reports the fastest of
`--repeat` rounds (process_time) per variant in ms per endpoint, and the load average.

  .venv/bin/python benchmarks/daybars.py --consumer --endpoints 2000 [--draw 50] [--db FILE]

`--consumer`: the consumer page's part, side by side: every endpoint's bars built and ranked (before session 10)
against `drawn_endpoint_days` (the missed days counted for all, the bars built for the `--draw` drawn). The
rollups have the store's own schema, every column filled (a row as wide as a live one); `--db` keeps the
database in FILE (built once, ~1 min at 2,000 endpoints x 90 days). Checks both draw the same endpoints and
count the same missed days, and reports CPU (process_time) and wall time per page, best of `--repeat`.
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


def consumer_database(endpoints: int, days: int, path: str) -> sqlite3.Connection:
    """Hourly rollups in the store's schema (a few hours a day missed, differently per endpoint)."""
    from sqlite_utils import Database

    from slowatch.store.schema import BUCKET_COLUMNS, migrate

    exists = os.path.exists(path) and path != ":memory:"
    conn = sqlite3.connect(path, isolation_level=None)
    if not exists:
        migrate(Database(conn))
        columns = ["endpoint", "hour", "total", "good", "latency_us", *BUCKET_COLUMNS]
        sql = f"INSERT INTO rollups ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        first = int(NOW // 3600) * 3600
        conn.execute("BEGIN")
        for i in range(endpoints):
            good = [60 - ((k + i) % 97 == 0) * (1 + i % 5) for k in range(days * 24)]
            conn.executemany(sql, ((f"ep-{i:05d}", first - 3600 * k, 60, g, g * 52_000, *range(g - 11, g))
                                   for k, g in enumerate(good)))  # fmt: skip
        conn.execute("COMMIT")
    return conn


def consumer_main(args: argparse.Namespace) -> None:
    from slowatch.slo.daybars import drawn_endpoint_days

    conn = consumer_database(args.endpoints, args.days, args.db)
    names = [f"ep-{i:05d}" for i in range(args.endpoints)]
    objective = dict.fromkeys(names, 0.999)

    def before() -> tuple[list[str], tuple[int, int]]:  # web/consumer_html.py endpoints_section until session 10
        bars = [(ep, endpoint_days(conn, ep, objective[ep], NOW, args.days)) for ep in names]
        missed = [(sum(b.state == "bad" for b in bs), sum(b.state == "degraded" for b in bs)) for _, bs in bars]
        ranked = sorted(range(len(bars)), key=lambda i: tuple(-n for n in missed[i]))
        rest = ranked[args.draw :]
        return [bars[i][0] for i in sorted(ranked[: args.draw])], (len(rest), sum(sum(missed[i]) for i in rest))

    def after() -> tuple[list[str], tuple[int, int]]:
        drawn, rest = drawn_endpoint_days(conn, names, objective, NOW, args.days, {}, args.draw)
        return [ep for ep, _ in drawn], rest

    load0 = os.getloadavg()[0]
    best = {"before": (float("inf"), float("inf")), "after": (float("inf"), float("inf"))}
    got = {}
    for _ in range(args.repeat):
        for name, fn in (("before", before), ("after", after)):
            c, w = time.process_time(), time.perf_counter()
            got[name] = fn()
            spent = (time.process_time() - c, time.perf_counter() - w)
            best[name] = min(best[name], spent)
    assert got["before"] == got["after"], "the two draw different endpoints"
    print(f"consumer page, {args.endpoints} endpoints x {args.days} days of hourly rollups, {args.draw} drawn "
          f"({got['after'][1][0]} left out, {got['after'][1][1]} missed days among them); load {load0:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, (cpu, wall) in best.items():
        print(f"  {name:7s} {cpu:.3f} s CPU, {wall:.3f} s wall")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoints", type=int, default=200)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--baseline", help="another version of slowatch/slo/daybars.py")
    p.add_argument("--consumer", action="store_true", help="the consumer page's part: all bars against the drawn")
    p.add_argument("--draw", type=int, default=50)
    p.add_argument("--db", default=":memory:", help="with --consumer: the rollups database (built if missing)")
    args = p.parse_args()
    if args.consumer:
        consumer_main(args)
        return
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

"""CPU per result of the store writer's work, in-process: write_results per 0.5 s batch, the periodic rollup
fold and the pack step, amortised over the results written, with a `results` table of live size.

  .venv/bin/python benchmarks/store_writer.py --endpoints 100000 --rate 1667 [--minutes 20] [--warmup 31]

Simulates `--endpoints` endpoints probed at `--rate` results/s (100,000 at 60 s = 1,667/s) in the order the
scheduler runs them: by `scheduler.phase_offset` (a hash of the name), so each batch's endpoints are in a
random order relative to their names, as in the live daemon (`--order name` gives the old, optimistic
name order). Each result's phases are a `Phases` (an `array('d')` under a shared key tuple), as the daemon
gets them from a prober worker (workers/protocol.unpack_result). Batches of rate/2 results (the writer's
0.5 s batch interval), each in one transaction like the writer's; every `--fold-every` s of simulated time
one fold transaction; after every batch up to `--pack-ticks` turns of the writer's pack schedule
(`pack.Pack`, FakeClock at the simulated time: passes of what is older than `--pack-after`, `--pack-batch`
rows per turn), so passes run between batches.

The first `--warmup` simulated minutes are written but not measured (default: pack_after + a block + a
fold interval + 1 minute, so `results` has reached its live size and passes are running); then
`--minutes` are measured (whole 10-minute blocks: each has one pass). Reports µs CPU (process_time) per
result, split into batch writes, folds and packs, the size range of `results` and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.models import Outcome, ProbeResult
from slowatch.phases import Phases
from slowatch.scheduler import phase_offset
from slowatch.store import fold as store_fold
from slowatch.store import pack as store_pack
from slowatch.store import results as store_results
from slowatch.store.schema import migrate

T0 = 1_767_225_600.0 + 1800


def run_order(n: int, interval: float, order: str) -> list[int]:
    """Endpoint numbers in the order one interval probes them."""
    if order == "name":
        return list(range(n))
    return sorted(range(n), key=lambda i: phase_offset(f"ep-{i:06d}", interval))


def batch(rng: random.Random, eps: list[int], start: int, size: int, t0: float, rate: int) -> list[ProbeResult]:
    out = []
    n = len(eps)
    for k in range(start, start + size):
        i = eps[k % n]
        ok = rng.random() > 0.04
        d = rng.uniform(0.0005, 0.4)
        out.append(
            ProbeResult(
                endpoint=f"ep-{i:06d}", kind="http",
                outcome=Outcome.SUCCESS if ok else Outcome.HTTP_STATUS, started_at=t0 + k / rate,
                duration=d, status_code=200 if ok else 500,
                phases=Phases.of({"connect": d / 4, "processing": d / 2, "transfer": d / 8}),
                final_url=f"http://127.0.0.1:3300{i % 8}/fast/{i}",
                message="" if ok else "expected status 200, got 500",
            )
        )  # fmt: skip
    return out


class Meter:
    """Process CPU time spent in `transact` calls, per kind of work, counted only while `on`."""

    def __init__(self, conn: sqlite3.Connection, db: Database) -> None:
        self.conn, self.db = conn, db
        self.cpu: dict[str, float] = {"write": 0.0, "fold": 0.0, "pack": 0.0}
        self.calls: dict[str, int] = dict.fromkeys(self.cpu, 0)
        self.longest: dict[str, float] = dict.fromkeys(self.cpu, 0.0)
        self.on = False

    def timed(self, kind: str, fn: Callable[[], Any]) -> Any:
        """Run `fn()`, its CPU counted as `kind` (all of a pack tick: its reads outside transactions too)."""
        c0 = time.process_time()
        value = fn()
        if self.on:
            spent = time.process_time() - c0
            self.cpu[kind] += spent
            self.longest[kind] = max(self.longest[kind], spent)
        return value

    def transact(self, kind: str, fn: Callable[[Database], Any]) -> Any:
        c0 = time.process_time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            value = fn(self.db)
            self.conn.execute("COMMIT")
        except Exception as e:
            self.conn.execute("ROLLBACK")
            print(f"  {kind} transaction failed: {e!r}")
            value = None
        spent = time.process_time() - c0
        if self.on:
            self.calls[kind] += 1
            if kind != "pack":  # (counted by `timed`, with the rest of the tick)
                self.cpu[kind] += spent
                self.longest[kind] = max(self.longest[kind], spent)
        return value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=1_667)
    ap.add_argument("--minutes", type=float, default=20.0, help="simulated minutes measured (after --warmup)")
    ap.add_argument("--warmup", type=float, default=None, help="simulated minutes written before measuring")
    ap.add_argument("--order", choices=("phase", "name"), default="phase")
    ap.add_argument("--fold-every", type=float, default=300.0, help="seconds between folds (Store.rollup_interval)")
    ap.add_argument("--pack-after", type=float, default=900.0)
    ap.add_argument("--pack-batch", type=int, default=5_000)
    ap.add_argument("--pack-ticks", type=int, default=4, help="pack turns after each batch while a pass runs")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else (args.pack_after + 600 + args.fold_every + 60) / 60
    rng = random.Random(7)
    per_batch = args.rate // 2
    eps = run_order(args.endpoints, args.endpoints / args.rate, args.order)
    n_warm, n_batches = int(warmup * 120), int((warmup + args.minutes) * 120)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "w.db")
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        db = Database(conn, execute_plugins=False)
        migrate(db)
        clock = FakeClock(T0)
        packs = store_pack.Pack(clock, pack_after=args.pack_after, interval=args.fold_every, batch=args.pack_batch,
                                path=path)  # fmt: skip
        meter = Meter(conn, db)
        states: dict[str, str] = {}
        counted, sizes = 0, []
        next_fold = T0 + args.fold_every
        for b in range(n_batches):
            now = T0 + b * 0.5
            clock.set(now + 0.5)
            rs = batch(rng, eps, b * per_batch, per_batch, T0, args.rate)
            meter.on = b >= n_warm
            meter.transact("write", lambda db, rs=rs: store_results.write_results(db, rs, states))  # type: ignore[misc]
            counted += per_batch if meter.on else 0
            if clock.time() >= next_fold:
                next_fold += args.fold_every
                meter.transact("fold", store_fold.fold)
            for _ in range(args.pack_ticks):
                meter.timed("pack", lambda: packs.tick(lambda fn: meter.transact("pack", fn),
                                                       lambda cutoff: store_pack.oldest_due(db, cutoff)))  # fmt: skip
                if not packs.busy:
                    break
            if meter.on and b % 120 == 0:
                sizes.append(conn.execute("SELECT count(*) FROM results").fetchone()[0])
        close = getattr(packs, "close", None)
        if close is not None:
            close()
        table_bytes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        raw_rows = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        raw_bytes = sum(size for name, size in table_bytes.items() if name == "results" or name.startswith("results_"))
        conn.close()
    per = 1e6 / max(1, counted)
    cpu, calls, longest = meter.cpu, meter.calls, meter.longest
    print(f"store writer at {args.endpoints} endpoints, {args.rate} results/s ({args.order} order), batches of "
          f"{per_batch}; {warmup:g} min warm-up, {counted} results measured over {args.minutes:g} min; "
          f"load average {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"  results table while measured: {min(sizes, default=0):,} - {max(sizes, default=0):,} rows")
    print(f"  batch writes: {cpu['write'] * per:6.1f} µs CPU per result (longest {longest['write'] * 1e3:.0f} ms)")
    print(f"  rollup folds: {cpu['fold'] * per:6.1f} µs CPU per result ({calls['fold']} folds, "
          f"{cpu['fold'] / max(1, calls['fold']) * 1e3:.0f} ms each)")  # fmt: skip
    print(f"  packs:        {cpu['pack'] * per:6.1f} µs CPU per result ({calls['pack']} transactions, longest turn "
          f"{longest['pack'] * 1e3:.0f} ms; {packs.packed:,} rows packed since start)")  # fmt: skip
    blocks = table_bytes.get("result_blocks", 0) + table_bytes.get("result_blocks_endpoint_start", 0)
    print(f"  result_blocks: {blocks / max(1, packs.packed):.1f} bytes per packed row (index included); results: "
          f"{raw_bytes / max(1, raw_rows):.0f} bytes per row (indexes included)")  # fmt: skip
    print(f"  total:        {sum(cpu.values()) * per:6.1f} µs CPU per result")


if __name__ == "__main__":
    main()

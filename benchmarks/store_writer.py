"""CPU per result of the store writer's work, in-process: each 0.5 s batch's transaction, the periodic rollup
fold and the pack step, amortised over the results written, with a `results` table of live size.

  .venv/bin/python benchmarks/store_writer.py --endpoints 100000 --rate 1667 [--minutes 20] [--warmup 31]
                                              [--fold memory|sql] [--gc daemon|default]

It drives the store's own `Writer` (store/writer.py) on this thread, without its thread and queue: its
`_commit` per batch (write_results, incidents, the commit hook that hands the rows to the fold memory),
its `FoldSchedule` and its `Pack`, each transaction through `Writer._transact`.

Simulates `--endpoints` endpoints probed at `--rate` results/s (100,000 at 60 s = 1,667/s) in the order the
scheduler runs them: by `scheduler.phase_offset` (a hash of the name), so each batch's endpoints are in a
random order relative to their names, as in the live daemon (`--order name` gives the old, optimistic
name order). Each result's phases are a `Phases` (an `array('d')` under a shared key tuple), as the daemon
gets them from a prober worker (workers/protocol.unpack_result). Batches of rate/2 results (the writer's
0.5 s batch interval), each in one transaction (`Writer._commit`); every `--fold-every` s of simulated time
one fold transaction (`FoldSchedule.run`, as the idle writer does; `--fold sql` gives the writer a schedule
without memory: every fold is the SQL `fold.fold`, as before fold_memory.py); after every batch up to
`--pack-ticks` turns of the writer's pack schedule (`pack.Pack`, FakeClock at the simulated time: passes
of what is older than `--pack-after`, `--pack-batch` rows per turn), so passes run between batches.

The cyclic GC runs with the daemon's thresholds (process.GC_THRESHOLDS, as `slowatch run` sets them; since
session 15: `--gc default` for Python's, as the figures before). The first `--warmup` simulated minutes are
written but not measured (default: pack_after + a block + a fold interval + 1 minute, so `results` has reached
its live size and passes are running); then `--minutes` are measured (whole 10-minute blocks: each has one
pass). Reports µs CPU (user + system, os.times) per result, split into batch writes (of which the fold memory
taking the committed rows in), folds and packs, and the system time of each; the size range of `results`, the
process's peak RSS and the load average.
`--sql-profile` adds the thread CPU of each SQL statement per result (connections made with a timing factory).

`--reads N` then reads, at that live size, N endpoints' history (`queries.history`, limit 100: the API's
default) and one SLO-rebuild group's recent rows (`raw.recent_rows`, `--group` endpoints) on a second
connection, each both ways side by side, alternately: through the ids the writer listed
(store/recent_ids.py, as the store's reader connection) and by a scan of `results` (a plain connection, as
before session 10); CPU (process_time) per read, the rows read compared, and the list's size.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.phases import Phases
from slowatch.process import GC_THRESHOLDS
from slowatch.scheduler import phase_offset
from slowatch.store import pack as store_pack
from slowatch.store.fold import FoldSchedule
from slowatch.store.fold_memory import FoldMemory
from slowatch.store.items import Item
from slowatch.store.queries import history
from slowatch.store.schema import MIGRATIONS
from slowatch.store.writer import Writer

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
    """Process CPU time spent per kind of work, counted only while `on`."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {"write": 0.0, "memory": 0.0, "fold": 0.0, "pack": 0.0}
        self.calls: dict[str, int] = dict.fromkeys(self.cpu, 0)
        self.longest: dict[str, float] = dict.fromkeys(self.cpu, 0.0)
        self.on = False
        self.sys: dict[str, float] = dict.fromkeys(self.cpu, 0.0)

    def timed(self, kind: str, fn: Callable[[], Any]) -> Any:
        """Run `fn()`, its CPU counted as `kind` (all of a pack tick: its reads outside transactions too)."""
        t0 = os.times()
        value = fn()
        if self.on:
            t1 = os.times()
            self.sys[kind] += t1.system - t0.system
            spent = (t1.user - t0.user) + (t1.system - t0.system)
            self.cpu[kind] += spent
            self.calls[kind] += 1
            self.longest[kind] = max(self.longest[kind], spent)
        return value


def make_writer(path: str, clock: FakeClock, args: argparse.Namespace) -> Writer:
    """The store's writer, as Store builds it (retention passes off: the benchmark never ticks them)."""
    writer = Writer(
        path, clock=clock, retention=RetentionConfig(pack_after=args.pack_after), batch_interval=0.5,
        max_pending=1 << 40, observe_write=None, migrations=MIGRATIONS, max_page_count=None, busy_timeout=5.0,
        max_backoff=1.0, retention_interval=1e12, retention_batch=5_000, max_batch=1 << 30,
        rollup_interval=args.fold_every, pack_batch=args.pack_batch,
    )  # fmt: skip
    memory = FoldMemory() if args.fold == "memory" else None
    writer.folds = FoldSchedule(clock, args.fold_every, path=path, memory=memory)
    return writer


SQLCPU: dict[str, list[float]] = {}
"""--sql-profile: thread CPU seconds and calls per statement (its first 70 characters), while measured"""
SQLON = [False]


def _key(sql: str) -> str:
    return " ".join(sql.split())[:70]


class TimedCursor(sqlite3.Cursor):
    """A cursor whose `fetchmany` (the pack pass's reads) is timed."""

    def fetchmany(self, *a: Any) -> Any:
        t = time.thread_time()
        v = super().fetchmany(*a)
        if SQLON[0]:
            e = SQLCPU.setdefault("fetchmany", [0.0, 0])
            e[0] += time.thread_time() - t
            e[1] += 1
        return v


class TimedConnection(sqlite3.Connection):
    """A connection whose statements are timed (thread CPU: the statement's own work, SQLite's included)."""

    def execute(self, sql: str, *a: Any) -> Any:  # type: ignore[override]
        t = time.thread_time()
        v = self.cursor(TimedCursor).execute(sql, *a)
        if SQLON[0]:
            e = SQLCPU.setdefault(_key(sql), [0.0, 0])
            e[0] += time.thread_time() - t
            e[1] += 1
        return v

    def executemany(self, sql: str, *a: Any) -> Any:  # type: ignore[override]
        t = time.thread_time()
        v = super().executemany(sql, *a)
        if SQLON[0]:
            e = SQLCPU.setdefault("MANY " + _key(sql), [0.0, 0])
            e[0] += time.thread_time() - t
            e[1] += 1
        return v


_connect = sqlite3.connect


def _timed_connect(*a: Any, **k: Any) -> Any:
    return _connect(*a, factory=TimedConnection, **k)


def reads(path: str, writer: Writer, args: argparse.Namespace) -> None:
    """One endpoint's history and a group's recent rows, listed ids against a scan (see the module docstring)."""
    import sys

    from sqlite_utils import Database

    from slowatch.store.raw import recent_rows
    from slowatch.store.recent_ids import ListedDatabase

    conn = sqlite3.connect(path, isolation_level=None)
    listed, plain = ListedDatabase(conn, writer.recent), Database(conn)
    rng = random.Random(11)
    names = [f"ep-{i:06d}" for i in rng.sample(range(args.endpoints), args.reads)]
    group = [f"ep-{i:06d}" for i in sorted(rng.sample(range(args.endpoints), min(args.group, args.endpoints)))]
    cpu = {"listed": 0.0, "scan": 0.0, "group listed": 0.0, "group scan": 0.0}
    rows = 0
    for name in names:
        got = {}
        for way, db in (("listed", listed), ("scan", plain)):
            conn.execute("BEGIN")
            c0 = time.process_time()
            got[way] = history(db, name, limit=100)
            cpu[way] += time.process_time() - c0
            conn.execute("ROLLBACK")
        assert got["listed"] == got["scan"], name
        rows += len(got["scan"])
    for way, db in (("group listed", listed), ("group scan", plain), ("group listed", listed), ("group scan", plain)):
        conn.execute("BEGIN")
        c0 = time.process_time()
        found = len(recent_rows(db, group))
        cpu[way] += (time.process_time() - c0) / 2
        conn.execute("ROLLBACK")
    conn.close()
    recent = writer.recent
    slots = recent._slots
    size = sum(sys.getsizeof(run) for _, run in recent._runs) + sys.getsizeof(slots) + 28 * len(slots)
    print(
        f"  history of {args.reads} endpoints (limit 100, {rows / args.reads:.0f} rows each): listed ids "
        f"{cpu['listed'] / args.reads * 1e3:.2f} ms CPU per read, scan {cpu['scan'] / args.reads * 1e3:.1f} ms"
    )
    print(f"  recent rows of {len(group):,} endpoints ({found:,} rows): listed ids {cpu['group listed'] * 1e3:.0f} ms, "
          f"scan {cpu['group scan'] * 1e3:.0f} ms CPU")  # fmt: skip
    print(f"  the writer's list: {recent.rows:,} ids of {len(slots):,} endpoints, {size / 1e6:.1f} MB")


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
    ap.add_argument("--fold", choices=("memory", "sql"), default="memory", help="the writer's folds (sql: as before)")
    ap.add_argument("--reads", type=int, default=0, help="endpoints whose history is read at the end, both ways")
    ap.add_argument("--group", type=int, default=5_000, help="endpoints of the SLO-rebuild read (with --reads)")
    ap.add_argument(
        "--sql-profile",
        action="store_true",
        help="also print the thread CPU of each SQL statement (and of the pack's fetchmany) per result",
    )
    ap.add_argument("--gc", choices=("daemon", "default"), default="daemon",
                    help="the cyclic GC's thresholds: `slowatch run`'s (GC_THRESHOLDS) or Python's")  # fmt: skip
    args = ap.parse_args()
    if args.gc == "daemon":  # the writer thread runs in the daemon's process, under its thresholds (process.tune)
        gc.set_threshold(*GC_THRESHOLDS)
    if args.sql_profile:
        sqlite3.connect = _timed_connect  # type: ignore[assignment]
    warmup = args.warmup if args.warmup is not None else (args.pack_after + 600 + args.fold_every + 60) / 60
    rng = random.Random(7)
    per_batch = args.rate // 2
    eps = run_order(args.endpoints, args.endpoints / args.rate, args.order)
    n_warm, n_batches = int(warmup * 120), int((warmup + args.minutes) * 120)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "w.db")
        clock = FakeClock(T0)
        writer = make_writer(path, clock, args)
        db = writer._db = writer._open()  # (on this thread: migrations, the catch-up fold, journal and sync modes)
        conn, folds, packs = db.conn, writer.folds, writer.packs
        meter = Meter()
        committed = folds.committed
        folds.committed = lambda written, numbered=None: meter.timed(  # type: ignore[method-assign]
            "memory", lambda: committed(written, numbered)
        )

        def transact(fn: Callable[[Any], Any]) -> Any:
            return writer._transact(db, fn)

        def pack_transact(fn: Callable[[Any], Any]) -> Any:
            meter.calls["pack"] += meter.on
            return writer._transact(db, fn)

        counted, sizes = 0, []
        for b in range(n_batches):
            now = T0 + b * 0.5
            clock.set(now + 0.5)
            rs: list[Item] = [*batch(rng, eps, b * per_batch, per_batch, T0, args.rate)]
            meter.on = b >= n_warm
            SQLON[0] = meter.on
            if folds.due:  # (before the batch, so that `_commit` does not fold in its transaction: measured apart)
                meter.timed("fold", lambda: folds.run(transact))
            if not meter.timed("write", lambda rs=rs: writer._commit(db, rs)):  # type: ignore[misc]
                raise SystemExit(f"a batch transaction failed: {writer.last_error}")
            counted += per_batch if meter.on else 0
            for _ in range(args.pack_ticks):
                passes = packs.passes
                meter.timed("pack", lambda: packs.tick(pack_transact, lambda cutoff: store_pack.oldest_due(db, cutoff)))
                if packs.passes != passes:  # (as the writer's loop does: store/recent_ids.py)
                    meter.timed("pack", lambda: writer.recent.prune(conn))
                if not packs.busy:
                    break
            if meter.on and b % 120 == 0:  # (the benchmark's own statement: not in --sql-profile's figures)
                SQLON[0] = False
                sizes.append(conn.execute("SELECT count(*) FROM results").fetchone()[0])
        packs.close()
        if args.reads:
            reads(path, writer, args)
        table_bytes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        raw_rows = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        raw_bytes = sum(size for name, size in table_bytes.items() if name == "results" or name.startswith("results_"))
        conn.close()
    per = 1e6 / max(1, counted)
    cpu, calls, longest = meter.cpu, meter.calls, meter.longest
    n_folds = calls["fold"]
    memory_folds = 0 if folds.memory is None else folds.memory.folds
    print(f"store writer at {args.endpoints} endpoints, {args.rate} results/s ({args.order} order), batches of "
          f"{per_batch}; {warmup:g} min warm-up, {counted} results measured over {args.minutes:g} min; folds: "
          f"{args.fold}; load average {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"  results table while measured: {min(sizes, default=0):,} - {max(sizes, default=0):,} rows")
    print(f"  batch writes: {cpu['write'] * per:6.1f} µs CPU per result (longest {longest['write'] * 1e3:.0f} ms; of "
          f"which the fold memory taking the rows in {cpu['memory'] * per:.2f} µs)")  # fmt: skip
    print(f"  rollup folds: {cpu['fold'] * per:6.1f} µs CPU per result ({n_folds} folds, "
          f"{cpu['fold'] / max(1, n_folds) * 1e3:.0f} ms each; since start {memory_folds} from memory, "
          f"{folds.sql_folds} in SQL)")  # fmt: skip
    print(f"  packs:        {cpu['pack'] * per:6.1f} µs CPU per result ({calls['pack']} transactions, longest turn "
          f"{longest['pack'] * 1e3:.0f} ms; {packs.packed:,} rows packed since start)")  # fmt: skip
    blocks = table_bytes.get("result_blocks", 0) + table_bytes.get("result_blocks_endpoint_start", 0)
    print(f"  result_blocks: {blocks / max(1, packs.packed):.1f} bytes per packed row (index included); results: "
          f"{raw_bytes / max(1, raw_rows):.0f} bytes per row (indexes included)")  # fmt: skip
    print("  of which system time, µs per result: " + ", ".join(f"{k} {v * per:.2f}" for k, v in meter.sys.items()))
    for k, (v, n) in sorted(SQLCPU.items(), key=lambda kv: -kv[1][0])[:16]:
        print(f"    {v * per:6.2f} µs per result  {n:6d} calls  {k}")
    print(f"  total:        {(cpu['write'] + cpu['fold'] + cpu['pack']) * per:6.1f} µs CPU per result; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()

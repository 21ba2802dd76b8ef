"""CPU per result of the store writer's work, in-process: write_results per 0.5 s batch, plus (when the
store has them) the periodic rollup fold and the pack step, amortised over the results written.

  .venv/bin/python benchmarks/store_writer.py [--endpoints 10000] [--rate 1000] [--minutes 40]

Simulates `--endpoints` endpoints probed at `--rate` results/s (10,000 at 10 s = 1,000/s): batches of
rate/2 results (the writer's 0.5 s batch interval), each in one transaction like the writer's, and
every `--fold-every` s of simulated time one fold transaction, then (schema v6 on) a pack pass in
transactions of `--pack-batch` rows of what is older than `--pack-after` (simulate 30 minutes or more
to see packs: blocks are packed once they ended `--pack-after` ago). Reports µs CPU (process_time) per
result, steady state (the first minute is warm-up), split into batch writes, folds and packs.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlite_utils import Database

from slowatch.models import Outcome, ProbeResult
from slowatch.store import results as store_results
from slowatch.store.schema import migrate

try:
    from slowatch.store import fold as store_fold
except ImportError:  # before the rollup fold existed: rollups were upserted per batch
    store_fold = None  # type: ignore[assignment]
try:
    from slowatch.store import pack as store_pack
    from slowatch.store.blocks import block_of
except ImportError:  # before packed blocks (schema v6)
    store_pack = None  # type: ignore[assignment]


def batch(rng: random.Random, n_endpoints: int, start: int, size: int, now: float) -> list[ProbeResult]:
    out = []
    for i in range(start, start + size):
        ok = rng.random() > 0.04
        d = rng.uniform(0.0005, 0.4)
        out.append(
            ProbeResult(
                endpoint=f"ep-{i % n_endpoints:06d}", kind="http",
                outcome=Outcome.SUCCESS if ok else Outcome.HTTP_STATUS, started_at=now + (i - start) * 0.0005,
                duration=d, status_code=200 if ok else 500,
                phases={"connect": d / 4, "processing": d / 2, "transfer": d / 8},
                final_url=f"http://127.0.0.1:3300{i % 8}/fast/{i % n_endpoints}",
                message="" if ok else "expected status 200, got 500",
            )
        )  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--rate", type=int, default=1_000)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--fold-every", type=float, default=300.0, help="seconds between folds (Store.rollup_interval)")
    ap.add_argument("--pack-after", type=float, default=900.0)
    ap.add_argument("--pack-batch", type=int, default=5_000)
    args = ap.parse_args()
    rng = random.Random(7)
    per_batch = args.rate // 2
    n_batches = int(args.minutes * 120)
    fold_every = max(1, int(args.fold_every * 2))
    warm = 120
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "w.db", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        db = Database(conn, execute_plugins=False)
        migrate(db)
        states: dict[str, str] = {}
        t_write = t_fold = t_pack = 0.0
        counted = folds = packed = pack_tx = 0
        pack_max = 0.0
        now = 1_767_225_600.0 + 1800
        for b in range(n_batches):
            rs = batch(rng, args.endpoints, b * per_batch, per_batch, now + b * 0.5)
            c0 = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            store_results.write_results(db, rs, states)
            conn.execute("COMMIT")
            c1 = time.process_time()
            if b >= warm:
                t_write += c1 - c0
                counted += per_batch
            if store_fold is not None and (b + 1) % fold_every == 0:
                c0 = time.process_time()
                conn.execute("BEGIN IMMEDIATE")
                store_fold.fold(db)
                conn.execute("COMMIT")
                if b >= warm:
                    t_fold += time.process_time() - c0
                    folds += 1
                if store_pack is not None:
                    cutoff, after = float(block_of(now + b * 0.5 - args.pack_after)), ""
                    while after is not None:
                        c0 = time.process_time()
                        conn.execute("BEGIN IMMEDIATE")
                        n, after = store_pack.pack_batch(db, cutoff, args.pack_batch, after)
                        conn.execute("COMMIT")
                        spent = time.process_time() - c0
                        if b >= warm:
                            t_pack += spent
                            packed += n
                            pack_tx += 1
                            pack_max = max(pack_max, spent)
        sizes = {name: size for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
        conn.close()
    per = 1e6 / max(1, counted)
    print(f"store writer at {args.endpoints} endpoints, {args.rate} results/s, batches of {per_batch}, "
          f"{counted} results measured, {folds} folds:")  # fmt: skip
    print(f"  batch writes: {t_write * per:6.1f} µs CPU per result")
    if store_fold is not None:
        print(f"  rollup folds: {t_fold * per:6.1f} µs CPU per result "
              f"({t_fold / max(1, folds) * 1e3:.0f} ms per fold, SQLite C code, GIL released)")  # fmt: skip
    if store_pack is not None:
        print(f"  packs:        {t_pack * per:6.1f} µs CPU per result ({packed} rows packed in {pack_tx} "
              f"transactions, longest {pack_max * 1e3:.0f} ms; {t_pack / max(1, packed) * 1e6:.1f} µs per packed row)")
        blocks = sizes.get("result_blocks", 0) + sizes.get("result_blocks_endpoint_start", 0)
        print(f"  result_blocks: {blocks / max(1, packed):.1f} bytes per packed row (index included)")
    print(f"  total:        {(t_write + t_fold + t_pack) * per:6.1f} µs CPU per result")


if __name__ == "__main__":
    main()

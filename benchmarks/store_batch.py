"""The store writer's batch path alone, and one fold from memory: CPU per result in under a minute, for A/B runs.

  PYTHONPATH=<a checkout> .venv/bin/python <that checkout>/benchmarks/store_batch.py [--batches 360]

`store_writer.py` measures the writer at its live size (31 simulated minutes of warm-up, packs running); this
drives the same `Writer._commit` per 0.5 s batch (833 results of 100,000 endpoints in the scheduler's phase order:
result rows, incidents, the COMMIT, the endpoint numbers, the fold memory and the list of ids taking the rows in)
on a fresh file, measures the last two thirds of `--batches`, then one fold of them all from the writer's memory
(`FoldSchedule.run`). Short enough to alternate two checkouts a few times on a loaded machine (session 14).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

from store_writer import T0, batch, make_writer, run_order

from slowatch.clock import FakeClock
from slowatch.store.items import Item


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=1_667)
    ap.add_argument("--batches", type=int, default=360, help="0.5 s batches written (the first third not measured)")
    args = ap.parse_args()
    per_batch = args.rate // 2
    eps = run_order(args.endpoints, args.endpoints / args.rate, "phase")
    rng = random.Random(7)
    batches = [batch(rng, eps, b * per_batch, per_batch, T0, args.rate) for b in range(args.batches)]
    settings = argparse.Namespace(pack_after=900.0, fold_every=1e12, pack_batch=5_000, fold="memory")
    with tempfile.TemporaryDirectory() as tmp:
        writer = make_writer(str(Path(tmp) / "w.db"), FakeClock(T0), settings)
        db = writer._db = writer._open()
        cpu, skip = 0.0, args.batches // 3
        for i, results in enumerate(batches):
            items: list[Item] = [*results]
            t0 = os.times()
            if not writer._commit(db, items):
                raise SystemExit(f"a batch transaction failed: {writer.last_error}")
            t1 = os.times()
            cpu += (t1.user - t0.user + t1.system - t0.system) if i >= skip else 0.0
        memory = writer.folds.memory
        assert memory is not None and memory.armed, "the fold memory was disarmed"
        t0 = os.times()
        if writer.folds.run(lambda fn: writer._transact(db, fn)) is None:
            raise SystemExit(f"the fold failed: {writer.last_error}")
        t1 = os.times()
        fold = t1.user - t0.user + t1.system - t0.system
        db.close()
    measured, written = (args.batches - skip) * per_batch, args.batches * per_batch
    print(f"batch path: {cpu / measured * 1e6:.2f} µs CPU per result; one fold of {written:,} results from memory "
          f"{fold * 1e3:.0f} ms ({fold / written * 1e6:.2f} µs per result); load {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

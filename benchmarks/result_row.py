"""CPU per row of `store/results.result_row` (the store writer's per-result Python work), with the phases
of each result as a prober worker's `Phases` and as an in-process probe's dict; with `--baseline FILE`,
another version of `store/results.py` is measured on the same results in the same run, interleaved.

  .venv/bin/python benchmarks/result_row.py [--rows 20000] [--repeat 9] [--baseline FILE]
  # e.g. git show e64bd93:slowatch/store/results.py > /tmp/results_v4.py   (JSON text phases, session 4)

Reports the fastest of `--repeat` rounds (process_time) per variant in µs per row, the phase codec's
encode / decode alone, the stored size of the phases (binary form and JSON text) and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from slowatch.models import Outcome, ProbeResult
from slowatch.phases import Phases
from slowatch.store import phase_codec
from slowatch.store.results import result_row

T0 = 1_767_225_600.0


def results(n: int, as_phases: bool) -> list[ProbeResult]:
    """Results shaped like benchmarks/store_writer.py's (3 phases, 4% failures)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        ok, d = rng.random() > 0.04, rng.uniform(0.0005, 0.4)
        phases = {"connect": d / 4, "processing": d / 2, "transfer": d / 8}
        out.append(
            ProbeResult(
                endpoint=f"ep-{i:06d}", kind="http", outcome=Outcome.SUCCESS if ok else Outcome.HTTP_STATUS,
                started_at=T0 + i / 1667, duration=d, status_code=200 if ok else 500,
                phases=Phases.of(phases) if as_phases else phases, final_url=f"http://127.0.0.1:3300{i % 8}/fast/{i}",
                message="" if ok else "expected status 200, got 500",
            )
        )  # fmt: skip
    return out


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("baseline_results", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fastest(cases: dict[str, tuple[Callable[[Any], object], Sequence[Any]]], repeat: int) -> dict[str, float]:
    """µs CPU per item of each case: the fastest of `repeat` rounds, the cases interleaved in each round."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, (fn, items) in cases.items():
            c0 = time.process_time()
            for item in items:
                fn(item)
            best[name] = min(best[name], (time.process_time() - c0) / len(items) * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--baseline", help="another store/results.py to measure beside this one")
    args = ap.parse_args()
    by_phases, by_dict = results(args.rows, True), results(args.rows, False)
    stored = [phase_codec.encode(r.phases) for r in by_phases]
    texts = [phase_codec.as_json(s) for s in stored]
    cases: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "result_row, Phases": (result_row, by_phases),
        "result_row, dict": (result_row, by_dict),
    }
    if args.baseline:
        old = load(args.baseline).result_row
        cases["baseline result_row, Phases"] = (old, by_phases)
        cases["baseline result_row, dict"] = (old, by_dict)
    cases["phase_codec.encode, Phases"] = (phase_codec.encode, [r.phases for r in by_phases])
    cases["phase_codec.encode, dict"] = (phase_codec.encode, [r.phases for r in by_dict])
    cases["phase_codec.decode, binary"] = (phase_codec.decode, stored)
    cases["phase_codec.decode, JSON text"] = (phase_codec.decode, texts)
    cases["json.dumps (the old form's slow path)"] = (
        lambda p: json.dumps({str(k): float(v) for k, v in p.items()}, separators=(",", ":")),
        [r.phases for r in by_dict],
    )
    load0 = os.getloadavg()
    best = fastest(cases, args.repeat)
    print(f"result_row: {args.rows} results x {args.repeat} rounds; load average {load0[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, us in best.items():
        print(f"  {name:40} {us:6.2f} µs CPU per row")
    size = sum(len(s or b"") for s in stored) / len(stored)
    text = sum(len((t or "").encode()) for t in texts) / len(texts)
    print(f"  stored phases: {size:.0f} bytes binary, {text:.0f} bytes as JSON text")


if __name__ == "__main__":
    main()

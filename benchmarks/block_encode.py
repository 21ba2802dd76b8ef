"""CPU per block of the pack pass's block encoder (`store/blocks.encode`), this checkout's against a baseline
version of blocks.py measured on the same blocks in the same run, interleaved.

  .venv/bin/python benchmarks/block_encode.py --baseline DIR [--number 20000] [--repeat 7]
  # DIR: a checkout or snapshot of `slowatch/` (its store/blocks.py and the phase_codec.py it imports), e.g.
  # mkdir /tmp/before && git archive a5a0dc0 slowatch | tar -x -C /tmp/before   (before session 6)

Blocks shaped like the pack pass's at 100,000 endpoints every 60 s (a block is 600 s of one endpoint: ~10
rows; the phases of successes are not even read, pack.py): `ok10` 10 successes of one kind and final URL,
no cert; `fail10` the same with one failure (status 500, a message, binary phases); `tcp10` a kind without
status or URL; `tls10` with a cert expiry; `ok1` and `ok40` other block sizes; `odd10` what only the
general path stores (an infinite duration, a status 0, an unknown outcome, changing kinds). The baseline
must write the same bodies (checked). Reports the fastest of `--repeat` rounds (process_time) per case in
µs per block, the ratio, the blob sizes and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import random
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slowatch.store import blocks
from slowatch.store.phase_codec import encode as encode_phases

T0 = 1_767_225_600
URL = "http://127.0.0.1:33001/fast/42"


def block(n: int, kind: str = "http", fail: tuple[int, ...] = (), status: int | None = 200, url: str | None = URL,
          cert: float | None = None, seed: int = 7) -> list[tuple[Any, ...]]:  # fmt: skip
    """n rows of one endpoint, one every 600/n s, as pack.py selects them (a success's phases: NULL)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        d, bad = rng.uniform(0.0005, 0.4), i in fail
        rows.append((
            i, T0 + (i * 600 + rng.random() * 3) / n, "ep-000042", kind, "http_status" if bad else "success", d,
            500 if bad else status, "expected status 200, got 500" if bad else "", 1, 1,
            encode_phases({"connect": d / 4, "processing": d / 2, "transfer": d / 8}) if bad else None, cert, url,
        ))  # fmt: skip
    return rows


def odd(n: int) -> list[tuple[Any, ...]]:
    rows = block(n, fail=(3,))
    rows[2] = (*rows[2][:5], math.inf, *rows[2][6:])
    rows[5] = (*rows[5][:3], "tcp", "from_the_future", rows[5][5], 0, *rows[5][7:])
    return rows


CASES = {
    "ok10": block(10), "fail10": block(10, fail=(4,)), "tcp10": block(10, "tcp", status=None, url=None),
    "tls10": block(10, "tls", status=None, url=None, cert=1.9e9), "ok1": block(1), "ok40": block(40),
    "odd10": odd(10),
}  # fmt: skip


def _module(name: str, file: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(root: Path) -> Any:
    """The checkout's blocks.py, importing the checkout's own phase_codec.py (and block_columns.py if it has
    one) rather than this one's."""
    store = root / "slowatch" / "store"
    names = [name for name in ("phase_codec", "block_columns") if (store / f"{name}.py").exists()]
    saved = {name: sys.modules.get(f"slowatch.store.{name}") for name in names}
    try:
        for name in names:
            sys.modules[f"slowatch.store.{name}"] = _module(f"baseline_{name}", store / f"{name}.py")
        return _module("baseline_blocks", store / "blocks.py")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(f"slowatch.store.{name}", None)
            else:
                sys.modules[f"slowatch.store.{name}"] = module


def fastest(encoders: dict[str, Callable[..., Any]], number: int, repeat: int) -> dict[tuple[str, str], float]:
    """µs CPU per block of each (encoder, case): the fastest of `repeat` rounds, interleaved in each round."""
    best: dict[tuple[str, str], float] = {}
    for _ in range(repeat):
        for case, rows in CASES.items():
            for name, encode in encoders.items():
                start = blocks.block_of(rows[0][1])
                c0 = time.process_time()
                for _ in range(number):
                    encode(start, rows)
                spent = (time.process_time() - c0) / number * 1e6
                best[name, case] = min(best.get((name, case), math.inf), spent)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout to compare with")
    ap.add_argument("--number", type=int, default=20_000, help="encodes per case and round")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    baseline = load(args.baseline)
    encoders = {"baseline": baseline.encode, "this": blocks.encode}
    for case, rows in CASES.items():  # the same bodies (the format), whatever the deflate stream
        start = blocks.block_of(rows[0][1])
        bodies = {name: zlib.decompress(encode(start, rows)[1][1:], -15) for name, encode in encoders.items()}
        assert bodies["baseline"] == bodies["this"], case
    load0 = os.getloadavg()
    best = fastest(encoders, args.number, args.repeat)
    print(f"block encoder, µs CPU per block (fastest of {args.repeat} rounds of {args.number:,}); baseline "
          f"{args.baseline}; load average {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"  {'case':8s} {'rows':>4s} {'baseline':>9s} {'this':>7s} {'speed-up':>8s}   blob bytes (baseline, this)")
    for case, rows in CASES.items():
        old, new = best["baseline", case], best["this", case]
        start = blocks.block_of(rows[0][1])
        sizes = [len(encode(start, rows)[1]) for encode in encoders.values()]
        print(f"  {case:8s} {len(rows):4d} {old:9.2f} {new:7.2f} {old / new:7.2f}x   {sizes[0]}, {sizes[1]}")


if __name__ == "__main__":
    main()

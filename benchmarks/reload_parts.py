"""What the daemon itself spends taking a reloaded Config over: the Config in parts against one whole pickle.

    .venv/bin/python benchmarks/reload_parts.py --endpoints 100000 [--rounds 3]

Writes the config of benchmarks/run.py (N HTTP endpoints, `--consumers` consumers x 2 SLOs), loads it the
daemon's way (a loader child, config/isolated.py): the *running* Config. Then, `--rounds` times, one endpoint's
URL changes and the parent's side of a reload is done both ways, alternately, in a thread (as the daemon does),
while this (main) thread plays the event loop: it sleeps 1 ms at a time and records how late it wakes.
  - **parts** (now): the child's packed bytes -> `parts.Unpacker.build` (unchanged parts keep the running
    Endpoint objects) -> `diff_endpoints` against the running endpoints -> the replaced Config let go;
  - **whole** (before config/parts.py): one pickle of the whole Config -> `pickle.loads` -> `share_scalars` ->
    `diff_endpoints` (every endpoint compared) -> the replaced Config let go (millions of objects freed).
The child's own parsing is the same for both and not measured (another process). Reports, per way, the CPU
seconds of the thread per step and the longest late wake-up of the main thread (GIL held by the worker:
what the event loop would wait) and the load average.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402

from slowatch.config.diff import diff_endpoints  # noqa: E402
from slowatch.config.isolated import CHILD_HASH_SEED  # noqa: E402
from slowatch.config.parts import Unpacker  # noqa: E402
from slowatch.config.share import share_scalars  # noqa: E402


def child_bytes(path: Path) -> bytes:
    """What the loader child hands back for `path` (packed), without the cache: its stdout payload."""
    import subprocess

    env = {**os.environ, "PYTHONHASHSEED": CHILD_HASH_SEED}
    cmd = [sys.executable, "-m", "slowatch.config.isolated", str(path), str(1 << 40), "1.0"]
    out = subprocess.run(cmd, capture_output=True, check=True, env=env).stdout
    kind, payload = pickle.loads(out)
    assert kind == "ok", payload
    return bytes(payload)


def in_thread(steps: list[tuple[str, Callable[[], Any]]]) -> tuple[dict[str, float], float]:
    """Run `steps` one after the other in a thread; (CPU seconds per step, longest late wake-up of this thread)."""
    cpu: dict[str, float] = {}
    done = threading.Event()

    def work() -> None:
        time.sleep(0.02)  # the main thread is in its loop first: a GIL held from the start is measured too
        for name, fn in steps:
            t0 = time.thread_time()
            fn()
            cpu[name] = time.thread_time() - t0
        done.set()

    worker = threading.Thread(target=work)
    late = 0.0
    worker.start()
    while not done.is_set():
        t0 = time.perf_counter()
        time.sleep(0.001)
        late = max(late, time.perf_counter() - t0 - 0.001)
    worker.join()
    return cpu, late


UNPACKER = Unpacker()  # the daemon's (cli.py makes one per `slowatch run`)


def measure(way: str, previous: bytes, packed: bytes) -> tuple[dict[str, float], float]:
    """One reload's parent side, `way`, from the config `previous` holds to the one `packed` holds."""
    box: dict[str, Any] = {}
    if way == "parts":  # running: what the daemon's Unpacker built at the last load (its parts known to it)
        box["old"] = UNPACKER.build(previous)
        steps = [("build", lambda: box.update(new=UNPACKER.build(packed)))]
    else:  # running: built from one whole pickle, as before
        box["old"] = pickle.loads(pickle.dumps(Unpacker().build(previous), protocol=pickle.HIGHEST_PROTOCOL))
        share_scalars(box["old"].endpoints)
        whole = pickle.dumps(Unpacker().build(packed), protocol=pickle.HIGHEST_PROTOCOL)  # the old payload
        steps = [("build", lambda: box.update(new=pickle.loads(whole))),
                 ("share", lambda: share_scalars(box["new"].endpoints))]  # fmt: skip
    gc.freeze()
    steps.append(("diff", lambda: box.update(changes=diff_endpoints(box["old"].endpoints, box["new"].endpoints))))
    steps.append(("free", lambda: box.pop("old")))  # the last reference: the replaced Config goes here
    cpu, late = in_thread(steps)
    assert box["changes"].changed == ("ep-000007",), box["changes"]
    box.clear()
    gc.unfreeze()
    return cpu, late


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=100_000)
    ap.add_argument("--consumers", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    gc.disable()  # as the daemon's loader does (config/loader.gc_paused); frozen afterwards
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        run.write_config(path, n=args.endpoints, interval=60.0, timeout=5.0, ports=[33001, 33002],
                         refused_port=33009, mix=run.parse_mix("fast=90,slow=5,fail=4,refused=1"),
                         consumers=args.consumers, db=Path(tmp) / "bench.db", listen="127.0.0.1:39999",
                         histograms=True, max_concurrency=None, jitter=None)  # fmt: skip
        previous = child_bytes(path)  # what the running config was built from
        load0 = os.getloadavg()[0]
        rows: dict[str, list[tuple[dict[str, float], float]]] = {"parts": [], "whole": []}
        for k in range(1, args.rounds + 1):
            text = path.read_text()
            path.write_text(text.replace('/fast/7"', f'/fast/7?changed={k}"', 1).replace(
                f'/fast/7?changed={k - 1}"', f'/fast/7?changed={k}"', 1))  # fmt: skip
            packed = child_bytes(path)
            for way in ("whole", "parts") if k % 2 else ("parts", "whole"):
                rows[way].append(measure(way, previous, packed))
            previous = packed
        load1 = os.getloadavg()[0]
    rounds = f"one URL changed per round, {args.rounds} rounds"
    print(f"{args.endpoints:,} endpoints, {rounds}; load {load0:.1f} -> {load1:.1f}")
    for way, results in rows.items():
        names = list(results[0][0])
        cells = "  ".join(f"{n} " + "/".join(f"{r[0][n]:.3f}" for r in results) for n in names)
        total = "/".join(f"{sum(r[0].values()):.2f}" for r in results)
        lates = "/".join(f"{r[1] * 1000:.0f}" for r in results)
        print(f"  {way:5}: CPU s {cells}  total {total};  longest late wake-up of the main thread ms {lates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

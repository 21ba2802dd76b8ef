"""CPU per run of short commands (`slowatch --help`, `slowatch check`, `import slowatch.cli`), for two snapshots
of the package run alternately (the machine's noise falls on both alike).

    git archive HEAD~1 slowatch | tar -x -C /tmp/before      # and the same for /tmp/after (or the working tree)
    .venv/bin/python benchmarks/cli_startup.py --src /tmp/before --src /tmp/after --runs 10

Each run is a fresh `python` (this interpreter) with PYTHONPATH=SRC, started from a scratch directory (so the
working tree is not imported instead); its CPU is the user + system time the child used (RUSAGE_CHILDREN).
Prints the median and the range per command and snapshot.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "import slowatch.cli": ["-c", "import slowatch.cli"],
    "slowatch --help": ["-m", "slowatch", "--help"],
    "slowatch check (7 endpoints)": ["-m", "slowatch", "check", str(ROOT / "config" / "slowatch.yaml")],
}


def cpu_of(argv: list[str], src: str, cwd: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    subprocess.run([sys.executable, *argv], env=env, cwd=cwd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", action="append", required=True, help="a directory holding a `slowatch` package")
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    cpu: dict[tuple[str, str], list[float]] = {(c, s): [] for c in COMMANDS for s in args.src}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.runs):
            for name, argv in COMMANDS.items():
                for src in args.src:  # alternately: one run of each snapshot in turn
                    cpu[name, src].append(cpu_of(argv, src, scratch))
    print(f"{'command':32} {'snapshot':28} {'median CPU-s':>12} {'min-max':>14}  (runs: {args.runs}, alternately)")
    for (name, src), values in cpu.items():
        span = f"{min(values):.3f}-{max(values):.3f}"
        print(f"{name:32} {src:28} {statistics.median(values):12.3f} {span:>14}")


if __name__ == "__main__":
    main()

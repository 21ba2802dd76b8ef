"""Top allocation growth between two tracemalloc snapshots of one process (see soak_diag/sitecustomize.py).

python benchmarks/soak_diag/diff.py OLD.snap NEW.snap [--top 25] [--by traceback|lineno|filename]
"""

from __future__ import annotations

import argparse
import tracemalloc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--by", default="lineno", choices=["traceback", "lineno", "filename"])
    p.add_argument("--frames", type=int, default=12, help="frames shown per traceback (--by traceback)")
    a = p.parse_args()
    old, new = tracemalloc.Snapshot.load(a.old), tracemalloc.Snapshot.load(a.new)
    total_old = sum(t.size for t in old.traces)
    total_new = sum(t.size for t in new.traces)
    mb = 2**20
    print(f"traced: {total_old / mb:.2f} MB -> {total_new / mb:.2f} MB ({(total_new - total_old) / mb:+.2f} MB)")
    for stat in new.compare_to(old, a.by)[: a.top]:
        print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  now {stat.size / 1024:9.1f} KiB")
        frames = stat.traceback.format(limit=a.frames if a.by == "traceback" else 1, most_recent_first=True)
        print("    " + "\n    ".join(frames))


if __name__ == "__main__":
    main()

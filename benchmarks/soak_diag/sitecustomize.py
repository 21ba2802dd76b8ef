"""Diagnostics for `soak.py --diag`: loaded by every Python process of the run (via PYTHONPATH).

When SOAK_DIAG_DIR is set, a daemon thread in each process (role `daemon` or `worker`) appends one JSON
line every SOAK_DIAG_EVERY seconds to DIR/<role>-<pid>.jsonl: RSS, the cyclic GC's counts and per
generation stats and sizes, glibc's heap in use and free, SQLite's memory; with SOAK_DIAG_COLLECT=1 the
number of unreachable objects a full `gc.collect()` found (an A/B switch: does RSS stop growing when
cycles are collected?), with SOAK_DIAG_COLLECT=types also their types, frames and buffer bytes. With
SOAK_DIAG_TRACEMALLOC=FRAMES, processes whose role is in SOAK_DIAG_ROLES (default `daemon`) trace
allocations and write a snapshot DIR/<role>-<pid>-<seq>.snap each time; compare two with
`python benchmarks/soak_diag/diff.py OLD.snap NEW.snap`. Nothing in slowatch/ knows about this.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"
    )]  # fmt: skip


def _c_figures() -> dict[str, float]:
    """glibc's heap (in use / free but held, all arenas) and SQLite's own memory, MB."""
    out: dict[str, float] = {}
    mb = 2**20
    try:
        libc = ctypes.CDLL(None)  # this process's own symbols, glibc's among them (find_library runs `ldconfig -p`
        # in a child at every call: a fork of the daemon in its trace rows, on every sample)
        libc.mallinfo2.restype = _Mallinfo2
        m = libc.mallinfo2()
        out.update(
            malloc_used_mb=(m.uordblks + m.hblkhd) / mb, malloc_free_mb=m.fordblks / mb, mmapped_mb=m.hblkhd / mb
        )
        if "_sqlite3" in sys.modules:
            lib = ctypes.CDLL(sys.modules["_sqlite3"].__file__)  # resolves sqlite3_status64 in the loaded libsqlite3
            cur, high = ctypes.c_int64(), ctypes.c_int64()
            lib.sqlite3_status64(0, ctypes.byref(cur), ctypes.byref(high), 0)  # SQLITE_STATUS_MEMORY_USED
            out["sqlite_mb"] = cur.value / mb
    except (OSError, AttributeError):
        pass
    return {k: round(v, 2) for k, v in out.items()}


def _collect_types() -> dict[str, object]:
    """A full collection keeping what it found: how many of each type, and the bytes in bytes/bytearrays."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        buffers = sum(len(o) for o in gc.garbage if isinstance(o, bytes | bytearray))
        frames = collections.Counter(
            f"{o.f_code.co_filename.rsplit('/', 2)[-1]}:{o.f_code.co_name}"
            for o in gc.garbage
            if type(o).__name__ == "frame"
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()  # what DEBUG_SAVEALL kept is garbage again: free it now, not at the next collection
    return {"collected": found, "buffer_mb": round(buffers / 2**20, 2), "types": kinds.most_common(12),
            "frames": frames.most_common(8)}  # fmt: skip


def _loop(directory: str, role: str, every: float, collect: str, trace: bool) -> None:
    pid, seq, t0 = os.getpid(), 0, time.monotonic()
    with open(os.path.join(directory, f"{role}-{pid}.jsonl"), "a") as log:
        while True:
            time.sleep(every)
            seq += 1
            row: dict[str, object] = {"t": round(time.monotonic() - t0, 1), "rss_mb": round(_rss_mb(), 1)}
            row["gc_count"] = gc.get_count()
            row["gc_stats"] = gc.get_stats()
            row["gc_frozen"] = gc.get_freeze_count()
            row["gen_sizes"] = [len(gc.get_objects(g)) for g in range(3)]
            row.update(_c_figures())
            if collect == "1":
                row["collected"] = gc.collect()
            elif collect == "types":
                row.update(_collect_types())
            if collect in ("1", "types"):
                row["rss_after_collect_mb"] = round(_rss_mb(), 1)
            if trace:
                ignore = [tracemalloc.__file__, "<frozen importlib._bootstrap>"]
                snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, f) for f in ignore])
                path = os.path.join(directory, f"{role}-{pid}-{seq:04d}.snap")
                snapshot.dump(path + ".tmp")
                os.replace(path + ".tmp", path)
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
            log.write(json.dumps(row) + "\n")
            log.flush()


def _start() -> None:
    directory = os.environ.get("SOAK_DIAG_DIR")
    if not directory:
        return
    argv = sys.orig_argv
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    role = {"slowatch": "daemon", "slowatch.workers": "worker"}.get(module)
    if role is None:
        return  # e.g. the short-lived `python -m slowatch.config.isolated` of each reload
    frames = int(os.environ.get("SOAK_DIAG_TRACEMALLOC", "0"))
    trace = frames > 0 and role in os.environ.get("SOAK_DIAG_ROLES", "daemon").split(",")
    if trace:
        tracemalloc.start(frames)
    every = float(os.environ.get("SOAK_DIAG_EVERY", "30"))
    collect = os.environ.get("SOAK_DIAG_COLLECT", "0")
    args = (directory, role, every, collect, trace)
    threading.Thread(target=_loop, args=args, name="soak-diag", daemon=True).start()


_start()

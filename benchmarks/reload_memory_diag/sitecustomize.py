"""Diagnostics for `reload_memory.py --diag`: loaded by the daemon (via PYTHONPATH), nothing in slowatch/ knows.

When RELOAD_MEMORY_DIAG is a directory, a daemon thread of `python -m slowatch` waits for a file `ask` in it
(polled every 0.2 s), then answers in `answer.json` and removes `ask`:
  - `pending`: what a full `gc.collect()` finds unreachable among the objects not frozen;
  - `frozen`: `gc.get_freeze_count()` before, then, with every frozen object unfrozen, `frozen_garbage`: what
    a second full collection finds unreachable among them (cyclic garbage that a `gc.freeze()` kept for good),
    with its most common types; `configs_frozen_garbage`, `configs_live`: slowatch Config objects among the
    garbage and among what is left. Everything left is frozen again afterwards. It scans every object (a second
    or more at 100,000 endpoints): ask once, at the end of a run. `configs_live_held_by`: for each live Config,
    what refers to it (three levels up).

When RELOAD_MEMORY_TRACEMALLOC is a directory, every prober worker (`python -m slowatch.workers`) traces its
allocations from its start (`tracemalloc`, 12 frames) and a thread of it waits for files `snap-LABEL` there: for
each, it writes `worker-PID-LABEL.tracemalloc` (a `tracemalloc.Snapshot` dump, taken after a full collection).
`reload_memory.py --tracemalloc 5,50` asks after those reloads and diffs the snapshots. Tracing and a snapshot
can keep a worker from its heartbeat for longer than the daemon's SILENT_LIMIT on a loaded machine, so the daemon's
ProberPool then waits 10 minutes before it calls a worker hung.

In a prober worker with RELOAD_MEMORY_DIAG set, a thread waits for files `trim-LABEL` there: for each it writes
`worker-PID-trim-LABEL.json` with its RSS before and after glibc's `malloc_trim(0)` (what freed memory the
allocators kept) and the Python allocator's arenas (`sys._debugmallocstats`).

In a prober worker with RELOAD_MEMORY_DIAG set, a thread also waits for files `count-LABEL`: for each it writes
`worker-PID-count-LABEL.json` with, after a full collection, the GC-tracked objects by type (those not frozen:
`gc.freeze()` hides the rest, `gc.get_freeze_count()` counts them) and the sizes of the worker's per-endpoint
and per-reload structures, read from its `serve` coroutine's frame without unfreezing anything: the
ProbeContext's caches, the Interner's tables, the scheduler's slots, heap and tasks, the APScheduler jobs, the
event loop's timers and ready handles, the aiohttp connector's connections, the logging handlers.
"""

from __future__ import annotations

import collections
import functools
import gc
import json
import os
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any


def _is_config(o: object) -> bool:
    return type(o).__name__ == "Config" and type(o).__module__ == "slowatch.config.schema"


def _configs(objects: list[object]) -> int:
    return sum(1 for o in objects if _is_config(o))


def _describe(o: object) -> str:
    if isinstance(o, types.FrameType):
        return f"frame {o.f_code.co_filename.rsplit('/', 2)[-1]}:{o.f_code.co_name}"
    if isinstance(o, types.FunctionType | types.CellType):
        return f"{type(o).__name__} {getattr(o, '__qualname__', '')}"
    return type(o).__qualname__


def _holders(target: object, objects: list[object], depth: int = 3) -> list[str]:
    """What refers to `target`, and what refers to those, `depth` levels up (cells and dicts are not owners)."""
    out = []
    for r in gc.get_referrers(target):
        if r is objects or (isinstance(r, types.FrameType) and r.f_code.co_name == "_holders"):
            continue
        line = _describe(r)
        if depth > 1 and isinstance(r, dict | list | tuple | types.CellType):
            line += " <- [" + "; ".join(_holders(r, objects, depth - 1)[:4]) + "]"
        out.append(line)
    return out[:6]


def _answer() -> dict[str, object]:
    out: dict[str, object] = {"pending": gc.collect(), "frozen": gc.get_freeze_count()}
    gc.unfreeze()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        out["frozen_garbage"] = gc.collect()
        out["frozen_garbage_types"] = collections.Counter(type(o).__qualname__ for o in gc.garbage).most_common(15)
        out["configs_frozen_garbage"] = _configs(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    gc.collect()
    objects = gc.get_objects()
    live = [o for o in objects if _is_config(o)]
    out["configs_live"] = len(live)
    out["configs_live_held_by"] = [_holders(c, objects) for c in live]
    del objects, live
    gc.freeze()
    return out


def _loop(directory: str) -> None:
    ask = os.path.join(directory, "ask")
    while True:
        time.sleep(0.2)
        if os.path.exists(ask):
            answer = _answer()
            tmp = os.path.join(directory, "answer.json.tmp")
            with open(tmp, "w") as f:
                json.dump(answer, f)
            os.replace(tmp, os.path.join(directory, "answer.json"))
            os.unlink(ask)


def _each_new(directory: str, prefix: str, answer: Callable[[str], None]) -> None:
    """Every 0.2 s, for each file of `directory` named `prefix...` not seen yet: a full collection, then
    `answer(name)`."""
    done: set[str] = set()
    while True:
        time.sleep(0.2)
        for name in sorted(os.listdir(directory)):
            if name.startswith(prefix) and name not in done:
                done.add(name)
                gc.collect()
                answer(name)


def _snapshot(directory: str, name: str) -> None:
    import tracemalloc

    out = os.path.join(directory, f"worker-{os.getpid()}-{name[5:]}")
    types_ = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    with open(out + ".types.json", "w") as f:  # (objects the GC tracks and has not frozen)
        json.dump(dict(types_.most_common(60)), f)
    tracemalloc.take_snapshot().dump(out + ".tmp")
    os.replace(out + ".tmp", out + ".tracemalloc")


def _snapshots(directory: str) -> None:
    _each_new(directory, "snap-", functools.partial(_snapshot, directory))


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _arenas() -> str:
    import io
    import re
    import tempfile

    with tempfile.TemporaryFile("w+") as tmp:  # _debugmallocstats writes to the C stderr
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = io.StringIO(tmp.read()).getvalue()
    found = re.findall(r"# arenas (allocated current|highwater mark) += +([\d,]+)", text)
    return ", ".join(f"{k} {v}" for k, v in found)


def _trim(libc: Any, directory: str, name: str) -> None:
    before, arenas = _rss_kb(), _arenas()
    libc.malloc_trim(0)
    out = os.path.join(directory, f"worker-{os.getpid()}-{name}.json")
    with open(out + ".tmp", "w") as f:
        json.dump({"rss_kb_before": before, "rss_kb_after": _rss_kb(), "arenas": arenas}, f)
    os.replace(out + ".tmp", out)


def _trims(directory: str) -> None:
    import ctypes

    libc = ctypes.CDLL("libc.so.6")  # (looked up once)
    _each_new(directory, "trim-", functools.partial(_trim, libc, directory))


def _serve_frame() -> types.FrameType | None:
    """The frame of the worker's `serve` coroutine (suspended at a read), found from the main thread's loop (held
    by a frame of asyncio.run, or its Runner: uvloop's run_forever has no Python frame)."""
    import asyncio

    main = threading.main_thread().ident
    frame = sys._current_frames().get(main or 0)
    loop = None
    while frame is not None and loop is None:
        for value in list(frame.f_locals.values()):
            for candidate in (value, getattr(value, "_loop", None)):
                if isinstance(candidate, asyncio.AbstractEventLoop):
                    loop = candidate
        frame = frame.f_back
    if loop is None:
        return None
    for _ in range(5):
        try:
            tasks = list(asyncio.all_tasks(loop))  # type: ignore[arg-type]
            break
        except RuntimeError:  # the set changed while copied (another thread)
            time.sleep(0.01)
    else:
        return None
    for task in tasks:
        coro = task.get_coro()
        if getattr(coro, "__qualname__", "") == "serve":
            return coro.cr_frame  # type: ignore[union-attr]
    return None


def _sizes() -> dict[str, object]:
    frame = _serve_frame()
    if frame is None:
        return {}
    f = frame.f_locals
    out: dict[str, object] = {}
    ctx, sched, shared, session = f.get("ctx"), f.get("scheduler"), f.get("shared"), f.get("session")
    if ctx is not None:
        out.update(http_options=len(ctx.http_options), http_options_shared=len(ctx.http_options_shared),
                   prepared=len(ctx.prepared), ssl_contexts=len(getattr(ctx.ssl_contexts, "_cache", ())))  # fmt: skip
    if shared is not None:
        out.update(interner_dicts=len(shared.dicts), interner_models=sum(len(v) for v in shared.models.values()),
                   interner_fields_sets=len(shared.fields_sets), interner_scalars=len(shared.scalars))  # fmt: skip
    if sched is not None:
        out.update(slots=len(sched._slots), heap=len(sched._heap), in_flight=len(sched._in_flight),
                   aps_jobs=len(sched._scheduler.get_jobs()))  # fmt: skip
        loop = sched._loop
        if loop is not None:
            out.update(loop_scheduled=len(getattr(loop, "_scheduled", ())), loop_ready=len(getattr(loop, "_ready", ())))
    if session is not None:
        conn = session.connector
        pools = getattr(conn, "_conns", {})
        out.update(conns=sum(len(v) for v in pools.values()), conn_keys=len(pools),
                   acquired=len(getattr(conn, "_acquired", ())))  # fmt: skip
    out["unprobed"] = len(f.get("unprobed") or ())
    import logging

    out["log_handlers"] = len(logging.getLogger().handlers)
    out["loggers"] = len(logging.Logger.manager.loggerDict)
    return out


def _counts(directory: str) -> None:
    done: set[str] = set()
    while True:
        time.sleep(0.2)
        for name in sorted(os.listdir(directory)):
            if name.startswith("count-") and name not in done:
                done.add(name)
                gc.collect()
                objects = gc.get_objects()
                kinds = collections.Counter(type(o).__qualname__ for o in objects)
                answer = {"objects": len(objects), "frozen": gc.get_freeze_count(), "sizes": _sizes(),
                          "types": dict(kinds.most_common(200)), "rss_kb": _rss_kb()}  # fmt: skip
                del objects
                out = os.path.join(directory, f"worker-{os.getpid()}-{name}.json")
                with open(out + ".tmp", "w") as fh:
                    json.dump(answer, fh)
                os.replace(out + ".tmp", out)


def _start() -> None:
    directory = os.environ.get("RELOAD_MEMORY_DIAG")
    argv = sys.orig_argv
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else None
    if directory and module == "slowatch":
        threading.Thread(target=_loop, args=(directory,), name="reload-memory-diag", daemon=True).start()
    if directory and module == "slowatch.workers":
        threading.Thread(target=_trims, args=(directory,), name="reload-memory-trim", daemon=True).start()
        threading.Thread(target=_counts, args=(directory,), name="reload-memory-counts", daemon=True).start()
    traces = os.environ.get("RELOAD_MEMORY_TRACEMALLOC")
    if traces and module == "slowatch":
        from slowatch.workers import pool

        init = pool.ProberPool.__init__

        def patient(self: pool.ProberPool, *args: object, **kwargs: object) -> None:
            kwargs["silent_limit"] = 600.0
            init(self, *args, **kwargs)  # type: ignore[arg-type]

        pool.ProberPool.__init__ = patient  # type: ignore[method-assign]
    if traces and module == "slowatch.workers":
        import tracemalloc

        tracemalloc.start(12)
        threading.Thread(target=_snapshots, args=(traces,), name="reload-memory-traces", daemon=True).start()


_start()

"""A real prober worker that also tells a test what its `Interner` holds.

Run as `python tests/support/worker_sizes.py DIR --fd N --index I ...` (a `ProberPool` command): it is
`python -m slowatch.workers` with the worker's Interner recorded, and a thread that, for each file `ask-LABEL`
in DIR, has the worker's own event loop write `LABEL.json` between two of its steps (never in the middle of a
reload's apply): `{"dicts": n, "headers": [every header value its interned dicts hold], "http_options": [the
endpoint names its ProbeContext holds request options for]}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sys
import threading
import time
from typing import Any

from slowatch.config.share import Interner
from slowatch.probes import ProbeContext
from slowatch.workers import child

DIRECTORY = sys.argv.pop(1)
FOUND: list[tuple[Interner, asyncio.AbstractEventLoop]] = []
CONTEXTS: list[ProbeContext] = []


class RecordedInterner(Interner):
    def __init__(self) -> None:
        super().__init__()
        FOUND.append((self, asyncio.get_running_loop()))  # made by `serve`, on the worker's loop


def recorded_context(*args: Any, **kwargs: Any) -> ProbeContext:
    ctx = ProbeContext(*args, **kwargs)
    CONTEXTS.append(ctx)
    return ctx


def answer(interner: Interner, label: str) -> None:
    found = [v for (field, items), _ in list(interner.dicts.items()) if field == "headers" for _, v in items]
    headers = [v.get_secret_value() if hasattr(v, "get_secret_value") else v for v in found]
    out: dict[str, Any] = {"dicts": len(interner.dicts), "headers": headers,
                           "http_options": sorted(CONTEXTS[0].http_options) if CONTEXTS else None}  # fmt: skip
    path = os.path.join(DIRECTORY, f"{label}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)


def watch() -> None:
    done: set[str] = set()
    while True:
        time.sleep(0.05)
        if not FOUND:
            continue
        interner, loop = FOUND[0]
        for name in sorted(os.listdir(DIRECTORY)):
            if name.startswith("ask-") and name not in done:
                done.add(name)
                loop.call_soon_threadsafe(answer, interner, name[4:])


child.Interner = RecordedInterner  # type: ignore[misc]
child.ProbeContext = recorded_context  # type: ignore[assignment]
threading.Thread(target=watch, name="worker-sizes", daemon=True).start()
sys.argv[0] = "slowatch.workers"
runpy.run_module("slowatch.workers", run_name="__main__", alter_sys=True)

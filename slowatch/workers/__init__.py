"""Prober worker processes (`server.probe_workers`): scheduling and probing spread over several cores.

`ProberPool` and `worker_count` (the daemon's side, workers/pool.py) are resolved on first use (PEP 562), so a
worker process (`python -m slowatch.workers`) does not import the daemon's side of the wire.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slowatch.workers.pool import ProberPool, worker_count


def __getattr__(name: str) -> Any:
    if name not in ("ProberPool", "worker_count"):
        raise AttributeError(f"module 'slowatch.workers' has no attribute {name!r}")
    return getattr(importlib.import_module("slowatch.workers.pool"), name)


__all__ = ["ProberPool", "worker_count"]

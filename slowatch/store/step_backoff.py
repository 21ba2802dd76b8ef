"""When a failed maintenance step of the writer (a retention, pack or fold transaction) may be tried again.

A step that fails stays due (its pass is `busy`), and tried at every turn of the writer it failed ~50,000 times a
second on a read-only file. The writer used to wait out the backoff itself, so one step that kept failing (a lock,
a damaged table, a trigger refusing a delete) held back everything else: the pack moved one batch per retry of
the failing retention step (every 30 s at `max_backoff`: `results` grew faster than it was packed) and results
recorded meanwhile waited as long. So each step has its own backoff: a step waiting for its retry is skipped, and
the writer's turns go on at their pace (result batches every `batch_interval`, the other step's turns at once).
A fold or a pack pass that failed to start is retried the same way (it waited a whole `rollup_interval`, and the
store stayed unhealthy as long after a lock that had gone: write_health.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_BACKOFF = 0.05


class StepBackoff:
    """One step's retry schedule, on the writer thread (real monotonic time, like a batch's backoff)."""

    def __init__(self, max_backoff: float) -> None:
        self._max = max_backoff
        self._delay = 0.0
        self.retry_at = 0.0  # time.monotonic() before which the step is not tried

    @property
    def waiting(self) -> bool:
        return time.monotonic() < self.retry_at

    def run(self, step: Callable[[], object], failures: Callable[[], int]) -> None:
        """Run `step` unless it waits for its retry; `failures()`: the writer's failed transactions so far."""
        if self.waiting:
            return
        before = failures()
        step()
        if failures() == before:
            self._delay = 0.0
            return
        self._delay = min(self._max, max(self._delay * 2, MIN_BACKOFF))
        self.retry_at = time.monotonic() + self._delay


__all__ = ["MIN_BACKOFF", "StepBackoff"]

"""The SLO event counters /metrics exports: those of the last committed save, which a restart restores.

Prometheus takes any decrease of a counter for a reset and adds the whole counter to `increase()`, so an
exported `slowatch_slo_events_total` must never come back lower after a restart, kill -9 included. The
engine's live counters run ahead of the database: results counted but not yet committed (the writer
commits every `batch_interval`; a full queue drops them), and a composite's final slices (composite.py),
which a restart restores from the saved counters only. What a restart restores is at least the counters
of the last committed save (they and the stored results above its watermark: service.py), so those are
exported:

    persist() --saved(future, changed counters)--> pending, in submission order
    refresh() --confirm()--> the saves whose future the writer thread resolved (committed) become exported

A save the store dropped (its future raised: a bug, logged there) is never exported. Keys not yet saved
export (0, 0) (engine.py). No I/O; a done() per pending save per refresh: O(changed counters) in all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future

Key = tuple[str, str]  # (consumer, slo)
SavedCounter = tuple[str, str, int, int]  # (consumer, slo, events, good), as persist.Batch.counters


class ExportedCounters:
    def __init__(self) -> None:
        self.values: dict[Key, tuple[int, int]] = {}
        self._pending: deque[tuple[Future[None], list[SavedCounter]]] = deque()

    def restored(self, counters: Mapping[Key, list[int]]) -> None:
        """At start, after the restore: every counter came from the database."""
        self.values = {key: (c[0], c[1]) for key, c in counters.items()}

    def saved(self, committed: Future[None], counters: list[SavedCounter]) -> None:
        """A save with these counters was submitted; `committed` resolves when its transaction commits."""
        if counters:
            self._pending.append((committed, counters))

    def confirm(self) -> Mapping[Key, tuple[int, int]]:
        """Take in the saves committed since the last call, oldest first; the exported values."""
        pending, values = self._pending, self.values
        while pending and pending[0][0].done():
            committed, counters = pending.popleft()
            if committed.exception() is None:
                for consumer, slo, events, good in counters:
                    values[(consumer, slo)] = (events, good)
        return values

    def keep(self, keys: Iterable[Key]) -> None:
        """After a reload: forget removed SLOs (one added again later starts from its new counters)."""
        self.confirm()
        wanted = set(keys)
        self.values = {k: v for k, v in self.values.items() if k in wanted}

    def bring_back(self, values: Mapping[Key, tuple[int, int]]) -> None:
        """After a rollback: the SLOs the rolled-back reload forgot export what they did (not (0, 0) till a save)."""
        for key, value in values.items():
            self.values.setdefault(key, value)


__all__ = ["ExportedCounters"]

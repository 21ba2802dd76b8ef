"""The writer's committed up/down state of each endpoint, cached by the endpoint numbers of its list of ids.

`write_results` (results.py) needs each final result's endpoint's committed state ("up", "down", or unknown) to
log transitions as incidents. The writer's dict of them by name holds 100,000 endpoints: a lookup per result
was a cache miss or two (~0.4 µs, benchmarks/README.md session 14). The list of ids (recent_ids.py) numbers every
row's endpoint anyway (one lookup by name), so the writer numbers a run's rows before it writes them
(`RecentIds.number`), finds each state here by number (a bytearray: 0 = not cached yet, then the dict's answer),
and hands the same numbers to the list and to the fold memory once the transaction commits.

The cache only ever holds committed states: a transaction's changes are in its own dict (`states`, looked up
first) and reach the cache in `commit`, after the COMMIT; a rolled-back transaction leaves it as it was (the
states it cached were read from the committed dict). Numbers belong to a generation of the list: when the list
starts over, the cache starts empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from array import array

    from slowatch.store.recent_ids import Numbered, RecentIds

CODES = {"unknown": 1, "up": 2, "down": 3}
STATES = (None, "unknown", "up", "down")  # code -> state (0: not cached)


class StateCache:
    def __init__(self, recent: RecentIds, states: Mapping[str, str]) -> None:
        self.states = states  # committed, by name: the truth (the writer's, updated before `commit`)
        self._recent = recent
        self._codes = bytearray()
        self._generation = -1
        self.runs: list[Numbered] = []  # the open transaction's runs' numbers, one per run it wrote (in order)
        self._changed: list[tuple[int, int]] = []  # the open transaction's (number, code) changes

    def begin(self) -> None:
        """A transaction starts (or starts again): nothing numbered or changed in it yet."""
        self.runs, self._changed = [], []

    def number(self, rows: Sequence[tuple[object, ...]]) -> tuple[array[int], bytearray]:
        """The rows' endpoint numbers (kept in `runs`) and the cache they index (long enough for them)."""
        numbered = self._recent.number(rows)
        self.runs.append(numbered)
        generation, numbers = numbered
        if generation != self._generation:
            self._codes, self._generation = bytearray(), generation
        codes = self._codes
        if (missing := max(numbers, default=-1) + 1 - len(codes)) > 0:
            codes.extend(bytes(missing))
        return numbers, codes

    def changed(self, number: int, state: str) -> None:
        """The open transaction changed this endpoint's state (cached once it commits)."""
        self._changed.append((number, CODES[state]))

    def commit(self) -> None:
        """The transaction committed (and `states` has its changes): cache them."""
        numbered = self.runs[-1:]
        if numbered and numbered[0][0] == self._generation:
            codes = self._codes
            for number, code in self._changed:
                codes[number] = code
        self._changed = []


__all__ = ["CODES", "STATES", "StateCache"]

"""Where each endpoint's rows are in `results`: the writer's list of their ids, for the readers.

`results` has no index by endpoint (v11, pack_marker.py: it cost the writer 48 → 17 µs per result), so one
endpoint's recent rows were found by a scan of the whole table: ~0.3 s at 100,000 endpoints every 60 s
(1.5-2.5 M rows), for one endpoint's history on the API. The writer knows the id and endpoint of every row
it commits (results.py `write_results`: a run's rows have consecutive ids), so it keeps them here: each
committed run as its first id and its rows' endpoint numbers (4 bytes each) (an endpoint is numbered when
first seen). A reader (raw.py) asks for its endpoints' ids (`lookup`: the runs searched for their numbers, as
bytes for a few endpoints) and reads those rows by rowid, plus two rowid ranges the list cannot vouch for:

  - `id < floor`: rows from before this writer started (after a restart, until a pack pass has moved them
    into blocks: as before, a scan of those rows), or written by someone else (a gap, below);
  - `id > known`: rows committed after the last run taken in (the reader's snapshot may be newer).

Invariant: every row of `results` with floor <= id <= known is listed under its endpoint. A listed id may be
gone (packed and deleted, or deleted by retention): reading it finds nothing. A run that does not start at
known + 1 (rows inserted in between by a submitted op or another process) makes the list start over from
that run: `floor` = its first id. `prune` (after each pack pass has deleted the rows it packed, with the
lowest id left in `results`; store/writer.py) raises `floor` to that id and drops the runs wholly below it
(`lookup` skips ids below the floor), so a reader whose snapshot still holds rows deleted since finds them in
its `id < floor` range, once. Changes are made under a lock, after the transaction committed; a run's array
never changes, so `lookup` searches them outside it.

Cost (100,000 endpoints every 60 s, benchmarks/README.md session 10): ~0.4 µs per result on the writer
thread (a dict lookup per row: cache misses; an array of ids per endpoint cost the same, and twice the
memory); 4 bytes per row of `results` and ~80 per endpoint (2.1 M rows: ~15 MB); a lookup of one endpoint
~10 ms (the runs searched as bytes), of 2,000 endpoints ~0.12 s (in Python). Endpoints removed by a reload keep
their numbers until the list is empty or starts over. Since session 14 the writer numbers a run's rows before it
writes them (`number`), and that one lookup by name serves three: the committed up/down states are found by
number (updown.py), the list keeps the numbers (`add`) and the fold memory finds its slots by them
(fold_memory.py). A number means one endpoint within one `generation` of the numbers.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from array import array
from collections import deque
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Literal

from sqlite_utils import Database

from slowatch.store.results import Written

NONE_YET = 2**63 - 1
"""`floor` before `start`: every row is below it (read by range)."""
_SLOT: Literal["I"] = "I"  # an endpoint's number per row: 4 bytes
_WIDTH = array(_SLOT).itemsize
_ENDPOINT = itemgetter(1)  # (a row's endpoint: results.result_row)
Numbered = tuple[int, "array[int]"]
"""(generation, each row's endpoint number) of one committed run: `RecentIds.add`'s answer, for the fold memory."""
_FIND = 8
"""Up to this many endpoints, each run is searched for each one's number as bytes (C speed); more, in Python."""


class _Slots(dict[object, int]):
    """Endpoint name -> its number, numbered as first seen."""

    def __missing__(self, key: object) -> int:
        slot = self[key] = len(self)
        return slot


class RecentIds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots = _Slots()
        self._runs: deque[tuple[int, bytes]] = deque()  # (first id, each row's endpoint number as _SLOT items)
        self._listed = 0  # rows in the runs
        self.floor, self.known = NONE_YET, NONE_YET - 1
        self.generation = 0  # bumped whenever the numbers start over (a number means one endpoint within one)

    def start(self, conn: sqlite3.Connection) -> None:
        """The writer opened the database: the rows already there are read by range until packed."""
        top = conn.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0]
        with self._lock:
            self._runs.clear()
            self._renumber()
            self._listed = 0
            self.floor, self.known = top + 1, top

    def number(self, rows: Sequence[tuple[Any, ...]]) -> Numbered:
        """Each row's endpoint number (numbering new endpoints), with the numbers' generation: the writer numbers a
        run before it writes it (updown.py), and hands the numbers to `add` once it commits."""
        with self._lock:
            return self.generation, array(_SLOT, map(self._slots.__getitem__, map(_ENDPOINT, rows)))

    def add(self, written: Sequence[Written], numbered: Sequence[Numbered] | None = None) -> list[Numbered]:
        """Runs of rows (first id, rows) a transaction committed, in id order, with their `number`s if the writer has
        them; return each run's numbers (in `written`'s order), for the fold memory to find its own slots without a
        lookup by name (fold_memory.py)."""
        out: list[Numbered] = []
        with self._lock:
            for k, (first, rows) in enumerate(written):
                if first != self.known + 1:  # rows in between that we did not see: start over from here
                    self._runs.clear()
                    self._renumber()
                    self._listed = 0
                    self.floor = first
                given = None if numbered is None else numbered[k]
                if given is not None and given[0] == self.generation and len(given[1]) == len(rows):
                    out.append(given)
                else:
                    out.append((self.generation, array(_SLOT, map(self._slots.__getitem__, map(_ENDPOINT, rows)))))
                if rows:
                    self._runs.append((first, out[-1][1].tobytes()))
                    self._listed += len(rows)
                    self.known = first + len(rows) - 1
        return out

    def _renumber(self) -> None:
        """Forget every endpoint's number (under the lock): numbers given out before belong to another generation."""
        self._slots.clear()
        self.generation += 1

    def prune(self, conn: sqlite3.Connection) -> None:
        """Drop the runs below the lowest id left in `results` (deleted), and raise `floor` to it."""
        lowest = conn.execute("SELECT min(id) FROM results").fetchone()[0]
        with self._lock:
            lowest = self.known + 1 if lowest is None else min(lowest, self.known + 1)
            if lowest <= self.floor:
                return
            self.floor = lowest
            runs = self._runs
            while runs and runs[0][0] + len(runs[0][1]) // _WIDTH <= lowest:
                self._listed -= len(runs.popleft()[1]) // _WIDTH
            if not runs:  # (endpoints removed by a reload keep their numbers until nothing is listed)
                self._renumber()

    def lookup(self, endpoints: Sequence[str], most: int) -> tuple[int, int, list[int]] | None:
        """(floor, known, the listed ids of `endpoints`, ascending), or None if they have more than `most`."""
        with self._lock:  # (a run never changes: searched outside the lock)
            wanted = {slot for ep in endpoints if (slot := self._slots.get(ep)) is not None}
            if len(wanted) * self._listed > most * max(1, len(self._slots)):  # (more than `most` on average)
                return None
            runs, floor, known = list(self._runs), self.floor, self.known
        ids: list[int] = []
        for first, data in runs:
            start = max(0, floor - first)  # (ids below the floor are read by range)
            if len(wanted) <= _FIND:
                for slot in wanted:
                    pattern = slot.to_bytes(_WIDTH, sys.byteorder)
                    at = data.find(pattern, start * _WIDTH)
                    while at >= 0:
                        if at % _WIDTH == 0:
                            ids.append(first + at // _WIDTH)
                        at = data.find(pattern, at + 1)
            else:
                slots = memoryview(data).cast(_SLOT)
                ids.extend(first + i for i in range(start, len(slots)) if slots[i] in wanted)
            if len(ids) > most:
                return None
        ids.sort()
        return floor, known, ids

    @property
    def rows(self) -> int:
        """Ids listed at or above the floor (a few may be gone already, see the module docstring)."""
        with self._lock:
            return sum(len(data) // _WIDTH - max(0, self.floor - first) for first, data in self._runs)


class ListedDatabase(Database):
    """The store's reader connection: a `Database` whose reads of `results` use the writer's `RecentIds`."""

    def __init__(self, conn: sqlite3.Connection, recent: RecentIds, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self.recent = recent


__all__ = ["ListedDatabase", "Numbered", "RecentIds"]

"""Where each endpoint's rows are in `results`: the writer's list of their ids, for the readers.

`results` has no index by endpoint (v11, pack_marker.py: it cost the writer 48 → 17 µs per result), so one
endpoint's recent rows were found by a scan of the whole table: ~0.3 s at 100,000 endpoints every 60 s
(1.5-2.5 M rows), for one endpoint's history on the API. The writer knows the id and endpoint of every row
it commits (results.py `write_results`: a run's rows have consecutive ids), so it keeps them here: per
endpoint an `array('q')` of ids, ascending. A reader (raw.py) takes its endpoints' ids (`lookup`) and reads
those rows by rowid, plus two rowid ranges the list cannot vouch for:

  - `id < floor`: rows from before this writer started (after a restart, until a pack pass has moved them
    into blocks: as before, a scan of those rows), or written by someone else (a gap, below);
  - `id > known`: rows committed after the last run taken in (the reader's snapshot may be newer).

Invariant: every row of `results` with floor <= id <= known is listed under its endpoint. A listed id may be
gone (packed and deleted, or deleted by retention): reading it finds nothing. A run that does not start at
known + 1 (rows inserted in between by a submitted op or another process) makes the list start over from
that run: `floor` = its first id. `prune` (after each pack pass has deleted the rows it packed, with the
lowest id left in `results`; store/writer.py) drops the
ids below it and raises `floor` to it, so a reader whose snapshot still holds rows deleted since finds them
in its `id < floor` range. Changes are made under a lock, after the transaction committed.

Cost: ~0.4 µs per result on the writer thread (a dict lookup and an append: mostly cache misses); 8 bytes
per row of `results` plus ~150 per endpoint (at 100,000 endpoints every 60 s: 2.1 M ids, 35 MB); a prune
~50 ms per pass (10 minutes) at that size. Not merged into the fold's memory: its endpoint slots are
renumbered hourly (fold_memory.py).
"""

from __future__ import annotations

import sqlite3
import threading
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlite_utils import Database

from slowatch.store.results import Written

NONE_YET = 2**63 - 1
"""`floor` before `start`: every row is below it (read by range)."""


class RecentIds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: defaultdict[object, array[int]] = defaultdict(partial(array, "q"))  # by endpoint name
        self.floor, self.known = NONE_YET, NONE_YET - 1

    def start(self, conn: sqlite3.Connection) -> None:
        """The writer opened the database: the rows already there are read by range until packed."""
        top = conn.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0]
        with self._lock:
            self._ids.clear()
            self.floor, self.known = top + 1, top

    def add(self, written: Sequence[Written]) -> None:
        """Runs of rows (first id, rows) a transaction committed, in id order."""
        with self._lock:
            ids = self._ids
            for first, rows in written:
                if first != self.known + 1:  # rows in between that we did not see: start over from here
                    ids.clear()
                    self.floor = first
                for rid, row in enumerate(rows, first):  # (~0.4 µs per row at 100,000 endpoints: memory-bound)
                    ids[row[1]].append(rid)
                self.known = first + len(rows) - 1

    def prune(self, conn: sqlite3.Connection) -> None:
        """Drop the ids below the lowest id left in `results` (deleted), and raise `floor` to it."""
        lowest = conn.execute("SELECT min(id) FROM results").fetchone()[0]
        with self._lock:
            lowest = self.known + 1 if lowest is None else min(lowest, self.known + 1)
            if lowest <= self.floor:
                return
            self.floor = lowest
            gone = []
            for ep, listed in self._ids.items():
                if listed[0] < lowest:
                    cut = bisect_left(listed, lowest)
                    if cut == len(listed):
                        gone.append(ep)
                    else:
                        del listed[:cut]
            for ep in gone:
                del self._ids[ep]

    def lookup(self, endpoints: Sequence[str], most: int) -> tuple[int, int, list[int]] | None:
        """(floor, known, the listed ids of `endpoints`, ascending), or None if they have more than `most`."""
        with self._lock:
            found = [listed for ep in dict.fromkeys(endpoints) if (listed := self._ids.get(ep)) is not None]
            if sum(len(listed) for listed in found) > most:
                return None
            ids = [rid for listed in found for rid in listed]
            floor, known = self.floor, self.known
        ids.sort()
        return floor, known, ids

    @property
    def rows(self) -> int:
        """Ids listed (a few may be gone already, see the module docstring)."""
        with self._lock:
            return sum(len(listed) for listed in self._ids.values())


class ListedDatabase(Database):
    """The store's reader connection: a `Database` whose reads of `results` use the writer's `RecentIds`."""

    def __init__(self, conn: sqlite3.Connection, recent: RecentIds, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self.recent = recent


__all__ = ["ListedDatabase", "RecentIds"]

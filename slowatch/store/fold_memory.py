"""The fold's aggregates, accumulated from the rows the writer commits, so a fold need not read them back.

`FoldMemory.add` takes every committed run of rows with its ids (`Writer._committed`; results.py
`write_results`). For the rows with `base < id <= top` (`base`: the watermark it was armed at) it holds
exactly what the SQL fold (fold.py `fold`) derives from them:

  - per (endpoint, hour) of the good (successful) final attempts: the latency in whole µs and a
    histogram over LATENCY_BUCKETS (non-cumulative bins, the last one slower than every bound; `good`
    is their sum, `le_<N>ms` their running sums: `itertools.accumulate` at the fold, not SQL expressions over
    the bins, which cost the upsert ~0.7 µs a row, session 14);
  - per (endpoint, hour, outcome) the count of the other final attempts (`total` = good + these);
  - per endpoint the id of its newest final row (by id: fold.py).

SQLite's arithmetic is matched, not approximated: hour = `CAST(ts AS INTEGER) / 3600 * 3600` (for
0 <= ts < 2^52: Python's int() then floor division), µs = `round(d * 1e6)`, which SQLite computes as
(int64)(r + 0.5) for 0 <= r <= 2^52 (half away from zero, after the double addition: not Python's
round(), which rounds half to even), and the bins compare d with the doubles the SQL fold binds
(`bisect_left`: the first bound >= d). Sums stay below 2^53, where SQLite's `total()` is exact.

`write` (in the fold's transaction) upserts rollups and rollup_outcomes in (endpoint, hour) order (the
same upserts in random order cost ~2.3x: each touches its own B-tree pages) and copies each endpoint's
newest row from `results` into `latest` with one statement (`id IN json_each(?)`).

Validity. `arm(watermark)` after a fold commits (every row <= watermark folded, max(id) == watermark):
empty, the next id expected watermark + 1. Each committed run must start at the id expected. A gap (a
submitted op inserted results, another process wrote, a restart), or a value the SQL treats
differently (ts negative, huge or not finite; a good attempt's duration negative or above 10^6 s),
disarms it: the next fold is the SQL one for its whole range, and arms it again. Rows committed after
`top` (in the fold's own transaction, or by someone else) are added by `fold_range` in SQL: the two
parts add up to the single fold's figures (`latest` keeps the newer row either way). The memory changes
only when a transaction committed (`add`, `arm`), so a failed fold leaves it as it was.

Memory: endpoints get slots (rebuilt hourly, so removed endpoints are forgotten); per hour and slot an
int64 (µs) and 12 uint32 bins (an overflow disarms), per slot the newest id: at 100,000 endpoints
5.6 MB per hour (rows of more than MAX_HOURS hours between two folds disarm), 0.8 MB, and the slot table;
since session 14 also the writer's endpoint number -> slot (`add`'s `numbered`: recent_ids.py), 8 bytes per
number, dropped with the slots and whenever the numbers start over.
"""

from __future__ import annotations

import json
import logging
import math
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Sequence
from heapq import merge
from itertools import accumulate, count, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from slowatch.models import Outcome
from slowatch.store import fold as sql
from slowatch.store.schema import LATENCY_BUCKETS, RESULT_COLUMNS

if TYPE_CHECKING:
    from slowatch.store.recent_ids import Numbered

logger = logging.getLogger(__name__)

TS_LIMIT = float(2**52)
"""ts at or above this (or negative, or NaN) is left to the SQL fold."""
DURATION_LIMIT = 1e6
"""A good attempt's duration (s) above this (or negative) is left to the SQL fold: µs sums stay < 2^53."""
SLOTS_TTL = 3600.0
"""Monotonic seconds (of the writer's Clock) after which the endpoint slots are rebuilt at the next arm."""
MAX_HOURS = 6
"""Rows of more distinct hours than this between two folds are left to the SQL fold (an hour costs 56 bytes
per endpoint: 5.6 MB at 100,000 endpoints)."""

GIL_CHUNK = 4096
"""Items per C call that holds the GIL (a sort, a json.dumps): the writer thread must not keep the event loop
waiting (a single sort of 100,000 names by name held it ~45 ms, once per hour and at a reload's fold)."""

_BINS = len(LATENCY_BUCKETS) + 1
_SUCCESS = Outcome.SUCCESS.value
_UPSERT_ROLLUP = (
    f"INSERT INTO rollups (endpoint, hour, {', '.join(sql.COUNTERS)}) "
    f"VALUES (?, ?, {', '.join('?' for _ in sql.COUNTERS)}) " + sql.UPSERT_ROLLUPS
)
_UPSERT_OUTCOME = (
    "INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) VALUES (?, ?, ?, ?) " + sql.UPSERT_OUTCOMES
)
_COLS = ", ".join(RESULT_COLUMNS)
_UPSERT_NEWEST = (
    f"INSERT INTO latest ({_COLS}) SELECT {_COLS} FROM results WHERE id IN (SELECT value FROM json_each(?)) "
    + sql.UPSERT_LATEST
)


def name_order(names: Sequence[str], order: list[int]) -> list[int]:
    """The slots 0..len(names)-1 in name order, given `order`: the first len(order) of them in name order.
    A few new names are inserted in place; many (all, after the hourly rebuild) are sorted in chunks of
    GIL_CHUNK and merged by a Python generator, so no single C call holds the GIL for long."""
    key = names.__getitem__
    new = range(len(order), len(names))
    if len(new) * 16 <= len(order):
        order = list(order)
        for slot in new:
            insort(order, slot, key=key)
        return order
    chunks = [sorted(range(i, min(i + GIL_CHUNK, len(names))), key=key) for i in range(0, len(names), GIL_CHUNK)]
    return list(merge(*chunks, key=key))


_ZERO_BINS: array[int] = array("I", bytes(4 * _BINS))
_NONE: array[int] = array("q")
_ENDPOINT = itemgetter(1)  # (a row's endpoint: results.result_row)


class _Unusual(Exception):
    """A row the memory does not fold like SQLite would (the SQL fold does it)."""


class FoldMemory:
    """What the fold derives from the rows `base < id <= top`, while `armed`; see the module docstring."""

    def __init__(self) -> None:
        self.armed = False
        self.folds = 0  # folds written from memory (tried: a failed transaction counts too)
        self.base = 0
        self.next_id = 1  # the id the next committed row must have
        self.disarmed_because = "not armed yet (the catch-up fold at start is SQL)"
        self._names: list[str] = []
        self._slots: dict[str, int] = {}
        self._order: list[int] = []  # slots in name order (stale while shorter than _names)
        self._slots_since = -math.inf
        self._by_number: array[int] = array("l")  # the writer's endpoint number (recent_ids.py) -> slot, or -1
        self._generation = -1  # of those numbers
        self._clear()

    @property
    def top(self) -> int:
        """The highest id taken in (base if none)."""
        return self.next_id - 1

    def _clear(self) -> None:
        n = len(self._names)
        self._hours: dict[int, tuple[array[int], array[int]]] = {}  # hour -> (µs per slot, bins per slot: uint32)
        self._outcomes: dict[tuple[int, int, str], int] = {}  # (slot, hour, outcome) -> count
        self._newest_id: array[int] = array("q", bytes(8 * n))  # 0: no final row

    def arm(self, watermark: int, now: float) -> None:
        """A fold up to `watermark` committed, with max(results.id) == watermark: start empty from there."""
        if now - self._slots_since >= SLOTS_TTL:
            self._names, self._slots, self._order, self._slots_since = [], {}, [], now
            self._by_number, self._generation = array("l"), -1
        self.armed, self.base, self.next_id = True, watermark, watermark + 1
        self._clear()

    def disarm(self, reason: str) -> None:
        """The next fold is the SQL one (for its whole range), which arms the memory again."""
        if self.armed:
            logger.info("store: the next rollup fold reads the raw rows (SQL): reason=%s", reason)
        self.armed, self.disarmed_because = False, reason
        self._clear()

    def add(self, written: Sequence[sql.Written], numbered: Sequence[Numbered] | None = None) -> None:
        """Take in committed runs of rows (in id order); a gap or an unusual value disarms. `numbered` (if given:
        `RecentIds.add`'s answer for the same runs) has each row's endpoint number, which finds its slot without
        a lookup by name (a dict of 100,000 names: a cache miss or two per row)."""
        for k, (first, rows) in enumerate(written):
            if not self.armed:
                return
            if first != self.next_id:
                self.disarm(f"ids {first}..{first + len(rows) - 1} committed, {self.next_id} expected next")
                return
            try:
                self._take(first, rows, None if numbered is None else numbered[k])
            except (_Unusual, OverflowError) as e:
                self.disarm(str(e))
                return
            self.next_id = first + len(rows)

    def _found(self, rows: Sequence[tuple[Any, ...]], numbered: Numbered | None) -> Iterable[tuple[int, int | None]]:
        """Each row's (slot, or -1 if it has none yet; its endpoint number, or None), lazily: a slot given to a row
        is found for the rows after it."""
        names = map(_ENDPOINT, rows)
        if numbered is None:
            return zip(map(self._slots.get, names, repeat(-1)), repeat(None))
        generation, numbers = numbered
        if generation != self._generation:
            self._by_number, self._generation = array("l"), generation
        by_number = self._by_number
        if (missing := max(numbers, default=-1) + 1 - len(by_number)) > 0:
            by_number.extend(repeat(-1, missing))
        return zip(map(by_number.__getitem__, numbers), numbers, strict=True)

    def _slot(self, name: str, number: int | None) -> int:
        slot = self._slots.get(name)
        if slot is None:
            slot = self._new_slot(name)
        if number is not None:
            self._by_number[number] = slot
        return slot

    def _take(self, first: int, rows: Sequence[tuple[Any, ...]], numbered: Numbered | None) -> None:
        newest_id, outcomes = self._newest_id, self._outcomes
        bounds, bins_per_slot, success = LATENCY_BUCKETS, _BINS, _SUCCESS
        lo = hi = 0.0  # [lo, hi): the hour of `lat` and `bins` (none yet)
        hour, lat, bins = 0, _NONE, _NONE
        for rid, row, (slot, number) in zip(count(first), rows, self._found(rows, numbered)):
            if not row[8]:  # not final: not folded
                continue
            ts = row[0]
            if not lo <= ts < hi:  # (also: NaN, negative)
                hour, lat, bins = self._hour(ts, rid)
                lo = float(hour)
                hi = lo + 3600.0
            if slot < 0:
                slot = self._slot(row[1], number)
            if row[3] == success:
                d = row[4]
                if not 0.0 <= d <= DURATION_LIMIT:
                    raise _Unusual(f"id {rid}: duration {d!r}")
                lat[slot] += int(d * 1e6 + 0.5)  # SQLite's round(d * 1e6)
                bins[slot * bins_per_slot + bisect_left(bounds, d)] += 1
            else:
                key = (slot, hour, row[3])
                outcomes[key] = outcomes.get(key, 0) + 1
            newest_id[slot] = rid

    def _hour(self, ts: float, rid: int) -> tuple[int, array[int], array[int]]:
        if not 0.0 <= ts < TS_LIMIT:
            raise _Unusual(f"id {rid}: ts {ts!r}")
        hour = int(ts) // 3600 * 3600
        found = self._hours.get(hour)
        if found is None:
            n = len(self._names)
            if len(self._hours) >= MAX_HOURS:
                raise _Unusual(f"id {rid}: rows of more than {MAX_HOURS} hours")
            found = self._hours[hour] = (array("q", bytes(8 * n)), array("I", bytes(4 * n * _BINS)))
        return hour, *found

    def _new_slot(self, name: str) -> int:
        slot = self._slots[name] = len(self._names)
        self._names.append(name)
        self._newest_id.append(0)
        for lat, bins in self._hours.values():
            lat.append(0)
            bins.extend(_ZERO_BINS)
        return slot

    def fold(self, db: Database, now: float) -> tuple[int, int] | None:
        """Fold `watermark < id <= max(id)` in the caller's transaction: the memory's rows from memory,
        any after `top` in SQL; return (old, new) watermark, or None (nothing written) if the memory
        cannot vouch for its range: the caller folds in SQL."""
        if not self.armed:
            return None
        lo, hi = sql.watermark(db), sql.newest_id(db)
        if lo != self.base or hi < self.top:
            self.disarm(f"watermark {lo} (memory from {self.base}), max(id) {hi} (memory up to {self.top})")
            return None
        if hi <= lo:
            return lo, lo
        if any(max(lat, default=0) >= 2**53 for lat, _ in self._hours.values()):
            self.disarm("a latency sum beyond 2^53 µs")
            return None
        self.folds += 1
        self._write(db)
        if hi > self.top:
            sql.fold_range(db, self.top, hi)
        sql.set_watermark(db, hi, now)
        return lo, hi

    def _write(self, db: Database) -> None:
        conn, names = db.conn, self._names
        if len(self._order) != len(names):
            self._order = name_order(names, self._order)
        others: dict[tuple[int, int], int] = {}
        for (slot, hour, _), n in self._outcomes.items():
            others[slot, hour] = others.get((slot, hour), 0) + n
        conn.executemany(_UPSERT_ROLLUP, self._rollup_rows(others))
        outcomes = sorted((names[slot], hour, outcome, n) for (slot, hour, outcome), n in self._outcomes.items())
        conn.executemany(_UPSERT_OUTCOME, outcomes)
        newest = [rid for rid in map(self._newest_id.__getitem__, self._order) if rid]
        for i in range(0, len(newest), GIL_CHUNK):  # (one json.dumps of 100,000 ids held the GIL ~15 ms)
            conn.execute(_UPSERT_NEWEST, (json.dumps(newest[i : i + GIL_CHUNK]),))

    def _rollup_rows(self, others: dict[tuple[int, int], int]) -> Iterator[tuple[Any, ...]]:
        """(endpoint, hour, *COUNTERS) of each group, in (endpoint, hour) order: total, good, latency_us, then the
        cumulative bucket counts (the bins' running sums; the last one, the +Inf bucket, is `good`)."""
        names, order, width = self._names, self._order, _BINS
        for hour in sorted(self._hours):
            lat, bins = self._hours[hour]
            for slot in order:
                first = slot * width
                seg = bins[first : first + width]
                n = others.get((slot, hour), 0)
                if n or any(seg):
                    cumulative = list(accumulate(seg))
                    good = cumulative.pop()
                    yield (names[slot], hour, n + good, good, lat[slot], *cumulative)


__all__ = ["DURATION_LIMIT", "GIL_CHUNK", "MAX_HOURS", "SLOTS_TTL", "TS_LIMIT", "FoldMemory", "name_order"]

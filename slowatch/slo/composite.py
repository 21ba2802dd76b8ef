"""Composite (journey) SLOs: a ledger of its own, filled per timeslice from its members' fine cells.

A composite's unit comes from the members' cells of one slice (their shared timeslice length, 1 min
for occurrence SLOs). A member's units in a slice are its probes (good, total), or for a timeslice
member its slice (1 or 0 good of 1). Members without data in a slice are left out of it; a slice in
which no member has data is no unit at all (no data is never "good").

- `serial`:   one unit per slice, good when every member's slice is good: a timeslice member's slice
              rule holds, otherwise all of the member's units in it are good.
- `weighted`: sum of weight x units over the members (weighted good / weighted total).
- `worst`:    the units of the member with the lowest good/total in the slice (ties: the first listed).

The composite ledger (no timeslices of its own: its cells hold these units) is updated on each refresh
for the slices from `dirty_from` to now, replacing each slice's previous value by the new one (a delta,
so its coarse cells and window sums stay exact). Afterwards `dirty_from` trails now by `tail` slices:
results that arrive late (a slow probe, retries) still reach the slice they started in. A restore or a
correction moves `dirty_from` back; the members' fine rings (3 days) bound how far back it can go.
Older composite cells are the persisted ones, like any ledger's, except for a composite new to the running
engine (a reload adds it) or stale at start (not among the fingerprints the last save held for: it was away
while the others' saves moved on): both paths drop its saved cells in its ledger's range and recompute only
the members' 3 days, so a reload and a restart give the same budget. Older slices cannot be recomputed:
`serial` and `worst` need each member's own slice, which only the fine rings hold (raw results are kept 48 h
by default; rollups are hourly). (`weighted` is linear and could be summed from the members' coarse cells:
not done.)

The exported event counters (`slowatch_slo_events_total` / `..._good_events_total`) add each slice's
units once it is final (older than the tail): monotonic, like the members' (a later correction or
restore changes the cells, not the counters). Slices before the composite existed are not counted.
A restart restores them from the saved counters only (slices counted after the last save are never
counted again), which is why the service exports the counters of the last committed save.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slowatch.slo.definitions import SloDef
from slowatch.slo.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Member:
    ledger: Ledger
    good_when: float | None
    weight: int


def slice_units(method: str, units: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """The composite's (good, total) for one slice from its members' (good, total, weight) with data."""
    if not units:
        return 0, 0
    if method == "serial":
        return (1 if all(g == t for g, t, _ in units) else 0), 1
    if method == "weighted":
        return sum(w * g for g, _, w in units), sum(w * t for _, t, w in units)
    best_g, best_t, _ = units[0]
    for g, t, _ in units[1:]:
        if g * best_t < best_g * t:  # g/t < best_g/best_t without floats
            best_g, best_t = g, t
    return best_g, best_t


def member_units(m: Member, cell: int) -> tuple[int, int]:
    """A member's (good, total) units in fine cell `cell` (its ring must hold it)."""
    i = cell % m.ledger.nf
    g, t = m.ledger.fg[i], m.ledger.ft[i]
    if m.good_when is not None and t:
        return (1 if g / t >= m.good_when else 0), 1
    return g, t


class Composite:
    def __init__(
        self, slo: SloDef, ledger: Ledger, members: Sequence[Member], tail: int, counters: Sequence[list[int]] = ()
    ) -> None:
        assert slo.composite is not None
        self.slo, self.ledger, self.members, self.tail = slo, ledger, tuple(members), max(tail, 1)
        self.counters = tuple(counters)  # [events, good] of its SLOs (monotonic): slices added once final
        self.counted_to = ledger.cur_f  # the last slice in the counters (none from before it existed)
        self.method = slo.composite.method
        self.dirty_from = ledger.cur_f - ledger.nf + 1
        self.excluded: tuple[tuple[float, float], ...] = ()  # corrections naming this SLO: [start, end)

    def invalidate(self, since: float | None = None) -> None:
        """Recompute the slices from `since` on (default: the whole fine ring) at the next update."""
        cell = self.ledger.cur_f - self.ledger.nf + 1 if since is None else int(since // self.ledger.fine)
        self.dirty_from = min(self.dirty_from, cell)

    def value(self, cell: int) -> tuple[int, int]:
        start = cell * self.ledger.fine
        if any(a <= start < b for a, b in self.excluded):
            return 0, 0
        units = []
        for m in self.members:
            g, t = member_units(m, cell)
            if t:
                units.append((g, t, m.weight))
        return slice_units(self.method, units)

    def update(self, now: float) -> None:
        """Bring the slices from `dirty_from` to `now` up to date; the members must be at `now` already."""
        led = self.ledger
        led.advance(now)
        # after the wall clock stepped back (Ledger.rewind) the slices it emptied are counted again when they come
        self.counted_to = min(self.counted_to, led.cur_f - self.tail)
        lo, hi = max(self.dirty_from, led.cur_f - led.nf + 1), led.cur_f
        fg, ft, n, fine = led.fg, led.ft, led.nf, led.fine
        for cell in range(lo, hi + 1):
            g, t = self.value(cell)
            i = cell % n
            if g != fg[i] or t != ft[i]:
                led.add_counts(cell * fine, g - fg[i], t - ft[i])
        self.dirty_from = hi - self.tail + 1
        final = hi - self.tail  # later results can no longer reach slices up to here
        if final > self.counted_to:
            good = total = 0
            for cell in range(max(self.counted_to + 1, hi - n + 1), final + 1):
                good, total = good + fg[cell % n], total + ft[cell % n]
            for counter in self.counters:
                counter[0] += total
                counter[1] += good
            self.counted_to = final


def tail_slices(fine: int, late: float) -> int:
    """Slices to keep recomputing so that a result started `late` seconds before it arrives still counts."""
    return math.ceil(late / fine) + 3


__all__ = ["Composite", "Member", "member_units", "slice_units", "tail_slices"]

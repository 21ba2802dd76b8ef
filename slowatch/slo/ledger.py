"""Per-SLO time buckets with running window sums: O(1) to observe, O(windows) to read.

A Ledger holds the events of one *fingerprint* (what decides goodness: consumer, endpoints, SLI,
threshold, budgeting, timeslice rule) in two rings of cells:

- fine cells (60 s, or the timeslice length) covering the longest alerting window (3 d by default),
  each `good`/`total` probes; with timeslices a fine cell is a slice, good when
  `good / total >= good_when`;
- coarse cells (1 h; 15 min when a calendar window's time zone has a sub-hour offset) covering the
  longest SLO window, each `good`/`total`/`excluded` probes plus good/total slices (timeslices).

Every window (alerting windows on the fine ring, SLO windows on the coarse ring) keeps a running sum
`[first_cell, good, total, good_units, units, excluded]` of the cells `first_cell..current`. An
observation adds to the sums that cover its cell; moving time forward subtracts the cells that left
each window and clears the ring slots being reused. Units are probes (occurrences) or slices with
data (timeslices); a slice's unit is counted in the coarse cell holding the slice's start. A wall clock
stepped back behind the current cells `rewind`s them: the cells after now are emptied.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

from slowatch.slo.rings import copy_run
from slowatch.slo.rings import ring_sum as _ring_sum
from slowatch.slo.rings import zeros as _zeros
from slowatch.slo.windows import Window

Sums = list[int]  # [first_cell, good, total, good_units, units, excluded]
FineRow = tuple[int, int, int]  # (cell start ts, good, total)
FineBlock = tuple[int, "array[int]", "array[int]"]  # (start ts, good per cell, total per cell): consecutive cells
CoarseRow = tuple[int, int, int, int, int, int]  # (start, good, total, excluded, good_slices, slices)


class Ledger:
    def __init__(
        self,
        fine: int,
        coarse: int,
        good_when: float | None,
        alert_windows: Sequence[float],
        windows: Sequence[Window],
        now: float,
    ) -> None:
        self.fine, self.coarse, self.good_when = fine, coarse, good_when
        self.sliced = good_when is not None
        self.alert_cells = [math.ceil(w / fine) for w in alert_windows]
        self.windows = list(windows)
        self.nf = max(self.alert_cells, default=0) + 2
        self.nc = max((math.ceil(w.span() / coarse) for w in windows), default=0) + 2
        self.fg, self.ft = _zeros(self.nf), _zeros(self.nf)
        self.cg, self.ct, self.cx = _zeros(self.nc), _zeros(self.nc), _zeros(self.nc)
        self.csg, self.cst = (_zeros(self.nc), _zeros(self.nc)) if self.sliced else (self.cg, self.ct)
        self.cur_f, self.cur_c = int(now // fine), int(now // coarse)
        self.alert: list[Sums] = [[self.cur_f - n, 0, 0, 0, 0, 0] for n in self.alert_cells]
        self.sums: list[Sums] = [[w.first_cell(now, coarse), 0, 0, 0, 0, 0] for w in self.windows]
        self.dirty_f: set[int] = set()
        self.dirty_c: set[int] = set()
        self.floor = -math.inf  # results at or before this are ignored: a rebuild from the store covers them

    def _slice_good(self, good: int, total: int) -> int:
        assert self.good_when is not None
        return 1 if total and good / total >= self.good_when else 0

    def observe(self, ts: float, good: bool, excluded: bool = False) -> bool:
        """Count one final probe result; False when it is too old for any ring."""
        f, c = int(ts // self.fine), int(ts // self.coarse)
        if f > self.cur_f or c > self.cur_c:
            self.advance(ts)
        if c <= self.cur_c - self.nc or ts <= self.floor:
            return False
        ci = c % self.nc
        self.dirty_c.add(c)
        if excluded:
            self.cx[ci] += 1
            for s in self.sums:
                if c >= s[0]:
                    s[5] += 1
            return True
        g = 1 if good else 0
        ug, ut, uc = g, 1, c
        if f > self.cur_f - self.nf:
            fi = f % self.nf
            og, ot = self.fg[fi], self.ft[fi]
            self.fg[fi], self.ft[fi] = og + g, ot + 1
            self.dirty_f.add(f)
            if self.sliced:
                ug = self._slice_good(og + g, ot + 1) - self._slice_good(og, ot)
                ut, uc = (1 if ot == 0 else 0), f * self.fine // self.coarse
            for s in self.alert:
                if f >= s[0]:
                    s[1] += g
                    s[2] += 1
                    s[3] += ug
                    s[4] += ut
        elif self.sliced:
            ug = ut = 0  # its slice left the fine ring: count the probe, not the slice
        self.cg[ci] += g
        self.ct[ci] += 1
        if self.sliced and uc > self.cur_c - self.nc:
            self.csg[uc % self.nc] += ug
            self.cst[uc % self.nc] += ut
        for s in self.sums:
            if c >= s[0]:
                s[1] += g
                s[2] += 1
            if uc >= s[0]:
                s[3] += ug
                s[4] += ut
        return True

    def add_counts(self, ts: float, good: int, total: int) -> None:
        """Add (or, negative, take away) units in the cell of `ts`, as `observe` does one probe at a time.

        For ledgers without timeslices (a composite's: slowatch/slo/composite.py). Cells never go below 0
        nor good above total: a cell that cannot give back what is asked (its coarse cell was pruned, or
        restored without it) gives what it has, and the window sums move by what the cells did."""
        assert not self.sliced
        f, c = int(ts // self.fine), int(ts // self.coarse)
        if f > self.cur_f or c > self.cur_c:
            self.advance(ts)
        if c <= self.cur_c - self.nc:
            return
        ci = c % self.nc
        self.dirty_c.add(c)
        if f > self.cur_f - self.nf:
            fi = f % self.nf
            dg, dt = _clamped(self.fg, self.ft, fi, good, total)
            self.dirty_f.add(f)
            for s in self.alert:
                if f >= s[0]:
                    s[1] += dg
                    s[2] += dt
                    s[3] += dg
                    s[4] += dt
        dg, dt = _clamped(self.cg, self.ct, ci, good, total)
        for s in self.sums:
            if c >= s[0]:
                s[1] += dg
                s[2] += dt
                s[3] += dg
                s[4] += dt

    def holds(self, ts: float) -> bool:
        """Whether a result at `ts` is recent enough for the coarse ring (`floor` aside)."""
        return int(ts // self.coarse) > max(self.cur_c, int(ts // self.coarse)) - self.nc

    def advance(self, now: float) -> None:
        """Move the current cells to `now`: drop cells that left each window, recycle ring slots."""
        f, c = int(now // self.fine), int(now // self.coarse)
        if f > self.cur_f:
            for s, n in zip(self.alert, self.alert_cells, strict=True):
                self._drop_fine(s, f - n)
            self._clear((self.fg, self.ft), self.cur_f, f, self.nf)
            self.cur_f = f
        if c > self.cur_c:
            for s, w in zip(self.sums, self.windows, strict=True):
                self._drop_coarse(s, w.first_cell(now, self.coarse))
            arrays = (self.cg, self.ct, self.cx, self.csg, self.cst) if self.sliced else (self.cg, self.ct, self.cx)
            self._clear(arrays, self.cur_c, c, self.nc)
            self.cur_c = c

    def rewind(self, now: float) -> bool:
        """The wall clock stepped back behind the current cells: make `now` current again. False if it did not.

        The cells after `now` (results stamped while the clock was ahead) are emptied and marked dirty, so
        the store forgets them too; without this the windows would stay ahead, blind to every new result
        until the clock caught up (a day ahead and back: no page for a day)."""
        f, c = int(now // self.fine), int(now // self.coarse)
        if f >= self.cur_f and c >= self.cur_c:
            return False
        coarse = (self.cg, self.ct, self.cx, self.csg, self.cst) if self.sliced else (self.cg, self.ct, self.cx)
        rings: list[tuple[Sequence[array[int]], int, int, int, set[int]]] = [
            ((self.fg, self.ft), f, self.cur_f, self.nf, self.dirty_f),
            (coarse, c, self.cur_c, self.nc, self.dirty_c),
        ]
        for arrays, new, old, n, dirty in rings:
            cells = range(max(new + 1, old - n + 1), old + 1)
            dirty.update(cells)
            for a in arrays:
                for cell in cells:
                    a[cell % n] = 0
        self.cur_f, self.cur_c = min(f, self.cur_f), min(c, self.cur_c)
        for s, cells_back in zip(self.alert, self.alert_cells, strict=True):
            s[0] = self.cur_f - cells_back
        for s, w in zip(self.sums, self.windows, strict=True):
            s[0] = w.first_cell(now, self.coarse)
        self.recompute()
        return True

    def _fine_units(self, i: int) -> tuple[int, int]:
        g, t = self.fg[i], self.ft[i]
        if self.sliced:
            return self._slice_good(g, t), 1 if t else 0
        return g, t

    def _drop_fine(self, s: Sums, edge: int) -> None:
        if edge <= s[0]:
            return
        if edge > self.cur_f:
            s[1:] = [0, 0, 0, 0, 0]
        else:
            for cell in range(s[0], edge):
                i = cell % self.nf
                ug, ut = self._fine_units(i)
                s[1] -= self.fg[i]
                s[2] -= self.ft[i]
                s[3] -= ug
                s[4] -= ut
        s[0] = edge

    def _drop_coarse(self, s: Sums, edge: int) -> None:
        if edge <= s[0]:
            return
        if edge > self.cur_c:
            s[1:] = [0, 0, 0, 0, 0]
        else:
            for cell in range(s[0], edge):
                i = cell % self.nc
                s[1] -= self.cg[i]
                s[2] -= self.ct[i]
                s[3] -= self.csg[i]
                s[4] -= self.cst[i]
                s[5] -= self.cx[i]
        s[0] = edge

    @staticmethod
    def _clear(arrays: Iterable[array[int]], old: int, new: int, n: int) -> None:
        cells = range(old + 1, new + 1) if new - old < n else range(n)
        for a in arrays:
            for cell in cells:
                a[cell % n] = 0

    def recompute(self) -> None:
        """Rebuild every running sum from the cells (after loading them)."""
        units = (_zeros(0), _zeros(0))
        if self.sliced:  # each fine slot's slice: (good, with data), as _fine_units says
            when = self.good_when
            assert when is not None
            good = array("I", (1 if t and g / t >= when else 0 for g, t in zip(self.fg, self.ft, strict=True)))
            units = (good, array("I", (1 if t else 0 for t in self.ft)))
        for s in self.alert:
            lo = max(s[0], self.cur_f - self.nf + 1)
            g, t = _ring_sum(self.fg, lo, self.cur_f, self.nf), _ring_sum(self.ft, lo, self.cur_f, self.nf)
            if self.sliced:
                ug, ut = units
                s[1:] = [g, t, _ring_sum(ug, lo, self.cur_f, self.nf), _ring_sum(ut, lo, self.cur_f, self.nf), 0]
            else:
                s[1:] = [g, t, g, t, 0]
        for s in self.sums:
            lo, hi, n = max(s[0], self.cur_c - self.nc + 1), self.cur_c, self.nc
            arrays = (self.cg, self.ct, self.csg, self.cst, self.cx)
            s[1:] = [_ring_sum(a, lo, hi, n) for a in arrays]

    def _fine_row(self, cell: int) -> FineRow:
        i = cell % self.nf
        return cell * self.fine, self.fg[i], self.ft[i]

    def _coarse_row(self, cell: int) -> CoarseRow:
        i = cell % self.nc
        sg, st = (self.csg[i], self.cst[i]) if self.sliced else (0, 0)
        return cell * self.coarse, self.cg[i], self.ct[i], self.cx[i], sg, st

    def take_dirty(self) -> tuple[list[FineRow], list[CoarseRow]]:
        """Rows for the cells changed since the last call (those still in their ring)."""
        fine = [self._fine_row(c) for c in sorted(self.dirty_f) if c > self.cur_f - self.nf]
        coarse = [self._coarse_row(c) for c in sorted(self.dirty_c) if c > self.cur_c - self.nc]
        self.dirty_f.clear()
        self.dirty_c.clear()
        return fine, coarse

    def rows(self) -> tuple[list[FineRow], list[CoarseRow]]:
        """Every non-empty cell, e.g. to copy into a ledger with other windows."""
        fine = [self._fine_row(c) for c in range(self.cur_f - self.nf + 1, self.cur_f + 1) if self.ft[c % self.nf]]
        coarse = [
            self._coarse_row(c)
            for c in range(self.cur_c - self.nc + 1, self.cur_c + 1)
            if self.ct[c % self.nc] or self.cx[c % self.nc]
        ]
        return fine, coarse

    def fine_block(self, start: int, cells: int) -> FineBlock:
        """The `cells` fine cells from `start` on (zero where outside the ring)."""
        first = start // self.fine
        good, total = _zeros(cells), _zeros(cells)
        for j in range(max(0, self.cur_f - self.nf + 1 - first), min(cells, self.cur_f + 1 - first)):
            i = (first + j) % self.nf
            good[j], total[j] = self.fg[i], self.ft[i]
        return start, good, total

    def add_fine_blocks(self, blocks: Iterable[FineBlock]) -> None:
        """Add runs of fine cells (ignoring ones outside the ring); call `load` or `recompute` after.

        Cells that already held counts are marked dirty, so their merged values get persisted.
        """
        lo, hi = self.cur_f - self.nf + 1, self.cur_f
        for start, good, total in blocks:
            self.dirty_f.update(copy_run((self.fg, self.ft), (good, total), start // self.fine, lo, hi, add=True))

    def _load_coarse_run(self, rows: Sequence[CoarseRow], add: bool) -> bool:
        """Copy consecutive coarse cells into an empty ring slice-wise (what `load` does row by row)."""
        if not rows or any(self.ct) or any(self.cx) or any(self.cst) or any(min(r) < 0 for r in rows):
            return False  # (negative values: `load` clamps them row by row)
        first, step = rows[0][0], self.coarse
        if first % step or [r[0] for r in rows] != list(range(first, first + len(rows) * step, step)):
            return False
        columns = list(zip(*rows, strict=True))[1:]
        rings = [self.cg, self.ct, self.cx] + ([self.csg, self.cst] if self.sliced else [])
        lo, hi = self.cur_c - self.nc + 1, self.cur_c
        copy_run(rings, columns[: len(rings)], first // step, lo, hi, add=False)
        if add:
            self.dirty_c.update(range(max(lo, first // step), min(hi + 1, first // step + len(rows))))
        return True

    def load(self, fine: Iterable[FineRow], coarse: Iterable[CoarseRow], *, add: bool = False) -> None:
        """Set (or with `add`, add to) cells from rows, ignoring ones outside the rings; recompute sums.

        Added cells are marked dirty so the merged values get persisted.
        """
        for start, good, total in fine:
            cell = int(start // self.fine)
            if self.cur_f - self.nf < cell <= self.cur_f:
                i = cell % self.nf
                if add:
                    good, total = good + self.fg[i], total + self.ft[i]
                    self.dirty_f.add(cell)
                total = max(total, 0)
                self.fg[i], self.ft[i] = min(max(good, 0), total), total
        coarse = list(coarse)
        if self._load_coarse_run(coarse, add):
            coarse = []
        for start, good, total, excluded, sgood, stotal in coarse:
            cell = int(start // self.coarse)
            if self.cur_c - self.nc < cell <= self.cur_c:
                i = cell % self.nc
                if add:
                    good, total, excluded = good + self.cg[i], total + self.ct[i], excluded + self.cx[i]
                    if self.sliced:
                        sgood, stotal = sgood + self.csg[i], stotal + self.cst[i]
                    self.dirty_c.add(cell)
                total, stotal = max(total, 0), max(stotal, 0)
                self.cg[i], self.ct[i], self.cx[i] = min(max(good, 0), total), total, max(excluded, 0)
                if self.sliced:
                    self.csg[i], self.cst[i] = min(max(sgood, 0), stotal), stotal
        self.recompute()


def _clamped(good: array[int], total: array[int], i: int, dg: int, dt: int) -> tuple[int, int]:
    """Add (dg, dt) to slot i, keeping 0 <= good <= total; returns the change actually made."""
    og, ot = good[i], total[i]
    nt = max(ot + dt, 0)
    ng = min(max(og + dg, 0), nt)
    good[i], total[i] = ng, nt
    return ng - og, nt - ot


__all__ = ["CoarseRow", "FineBlock", "FineRow", "Ledger", "Sums"]

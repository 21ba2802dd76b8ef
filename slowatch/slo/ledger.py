"""Per-SLO time buckets with running window sums: O(1) to observe, O(windows) to read.

A Ledger holds the events of one *fingerprint* (what decides goodness: consumer, endpoints, SLI,
threshold, budgeting, timeslice rule) in two rings of cells:

- fine cells (60 s, or the timeslice length) covering the longest alerting window (3 d by default),
  each `good`/`total` probes; with timeslices a fine cell is a slice, good when
  `good / total >= good_when`;
- coarse cells (1 h; 15 min when a calendar window's time zone has a sub-hour offset) covering the
  longest SLO window, each `good`/`total`/`excluded` probes plus good/total slices (timeslices).

Every window (alerting windows on the fine ring, SLO windows on the coarse ring) keeps a running sum
`[first_cell, good, total, good_units, units, excluded]` of the cells `first_cell..current` (an SLO window's
also the number of its cells holding counted probes). An
observation adds to the sums that cover its cell; moving time forward subtracts the cells that left
each window and clears the ring slots being reused. Units are probes (occurrences) or slices with
data (timeslices); a slice's unit is counted in the coarse cell holding the slice's start. A wall clock
stepped back behind the current cells `rewind`s them: the cells after now are emptied. The rings and moving
them in time (advance, rewind, recompute) are in ledger_rings.py; counting results into them and the cells as
rows (to persist, load or copy them) here.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

from slowatch.slo.ledger_rings import LedgerRings, Sums
from slowatch.slo.rings import copy_run
from slowatch.slo.rings import zeros as _zeros

FineRow = tuple[int, int, int]  # (cell start ts, good, total)
FineBlock = tuple[int, "array[int]", "array[int]"]  # (start ts, good per cell, total per cell): consecutive cells
CoarseRow = tuple[int, int, int, int, int, int]  # (start, good, total, excluded, good_slices, slices)


class Ledger(LedgerRings):
    """One fingerprint's cells (ledger_rings.py): results counted in, rows out and in."""

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
        first = self.first_data
        if first is None or c < first:
            self.first_data = c
        g = 1 if good else 0
        opened = 0 if self.ct[ci] else 1  # the coarse cell's first counted probe: the window has data there
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
                s[6] += opened
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
        if total > 0 and (self.first_data is None or c < self.first_data):
            self.first_data = c
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
        had = 1 if self.ct[ci] else 0
        dg, dt = _clamped(self.cg, self.ct, ci, good, total)
        opened = (1 if self.ct[ci] else 0) - had
        for s in self.sums:
            if c >= s[0]:
                s[1] += dg
                s[2] += dt
                s[3] += dg
                s[4] += dt
                s[6] += opened

    def holds(self, ts: float) -> bool:
        """Whether a result at `ts` is recent enough for the coarse ring (`floor` aside)."""
        return int(ts // self.coarse) > max(self.cur_c, int(ts // self.coarse)) - self.nc

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

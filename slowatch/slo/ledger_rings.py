"""A ledger's cells in their rings, and moving them in time: `advance`, `rewind`, `recompute`.

The layout (ledger.py says what the cells count): fine cells (`fine` seconds) in a ring of `nf` slots
covering the longest alerting window, coarse cells (`coarse` seconds) in a ring of `nc` slots covering the
longest SLO window; cell n lives in slot n % ring size, and `cur_f`/`cur_c` are the current cells. Every
window keeps a running sum `[first_cell, good, total, good_units, units, excluded]` of its cells
`first_cell..current`: `alert` (alerting windows, fine ring) and `sums` (SLO windows, coarse ring, which
also count `cells`, those holding counted probes: the time the window has data for, `data_seconds`).

Moving forward (`advance`) subtracts the cells that left each window and clears the ring slots being
reused. A wall clock stepped back behind the current cells `rewind`s them: the cells after now are emptied
and marked dirty, and the sums rebuilt from the cells (`recompute`, also used after loading cells).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

from slowatch.slo.rings import ring_sum as _ring_sum
from slowatch.slo.rings import zeros as _zeros
from slowatch.slo.windows import Window

Sums = list[int]  # [first_cell, good, total, good_units, units, excluded] (+ cells with data: SLO windows)


class LedgerRings:
    """The cells and running sums of one ledger; `Ledger` (ledger.py) counts results into them."""

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
        self.sums: list[Sums] = [[w.first_cell(now, coarse), 0, 0, 0, 0, 0, 0] for w in self.windows]
        self.dirty_f: set[int] = set()
        self.dirty_c: set[int] = set()
        self.floor = -math.inf  # results at or before this are ignored: a rebuild from the store covers them
        self.first_data: int | None = None  # the oldest coarse cell holding counted probes: `data_since`

    def _slice_good(self, good: int, total: int) -> int:
        assert self.good_when is not None
        return 1 if total and good / total >= self.good_when else 0

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
        until the clock caught up (a day ahead and back: no page for a day). A `floor` after `now` (a rebuild
        from the store covered results up to it) comes down to `now`: results stamped from now on are new
        ones, where before every one was ignored until the clock passed the rebuild's time again."""
        if now < self.floor:
            self.floor = now
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
            s[1:] = [0, 0, 0, 0, 0, 0]
        else:
            for cell in range(s[0], edge):
                i = cell % self.nc
                s[1] -= self.cg[i]
                s[2] -= self.ct[i]
                s[3] -= self.csg[i]
                s[4] -= self.cst[i]
                s[5] -= self.cx[i]
                s[6] -= 1 if self.ct[i] else 0
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
        with_data = array("I", (1 if t else 0 for t in self.ct))
        for s in self.sums:
            lo, hi, n = max(s[0], self.cur_c - self.nc + 1), self.cur_c, self.nc
            arrays = (self.cg, self.ct, self.csg, self.cst, self.cx, with_data)
            s[1:] = [_ring_sum(a, lo, hi, n) for a in arrays]
        cells = range(self.cur_c - self.nc + 1, self.cur_c + 1)
        self.first_data = next((c for c in cells if self.ct[c % self.nc]), None)

    def data_since(self, s: Sums) -> float | None:
        """When the SLO window of sums `s` has data from (None: none in it): the start of its first coarse cell
        holding counted probes (not the window's start when the data before a gap has left the window)."""
        if not s[6]:
            return None
        cell = max(s[0], self.first_data if self.first_data is not None else s[0])
        while cell < self.cur_c and not self.ct[cell % self.nc]:  # (after a gap: as many steps as it has cells)
            cell += 1
        return float(cell * self.coarse)

    def data_seconds(self, s: Sums, now: float) -> float:
        """The time the SLO window of sums `s` has data for: its coarse cells holding counted probes, the current
        one up to `now`. A gap without probes (or with only excluded ones: maintenance) is not in it."""
        seconds = float(s[6] * self.coarse)
        if s[6] and self.ct[self.cur_c % self.nc]:  # the current cell is not over yet
            seconds -= min(float(self.coarse), max(0.0, (self.cur_c + 1) * self.coarse - now))
        return seconds


__all__ = ["LedgerRings", "Sums"]

"""An SLO over time, read from the database: the burn-down of its budget, maintenance and outages.

Functions take a plain sqlite3 connection (the store's reader thread hands one over via
`db.conn`; `slowatch report` opens the file read-only), so the page and the report agree.

Burn-down: the period's error budget is (1 - objective) x the units it holds so far, for a rolling window
and a calendar period alike, so the line ends at the budget left every other figure shows (the ratio:
1 - (1 - SLI) / (1 - objective)); each coarse cell with data spends its bad units. Before session 11 a
calendar period's budget was the units the whole period was expected to hold, and 12 hours into a month the
line ended at 99.1 % next to a card reading 44.4 %. The ideal line spends that budget evenly: 1 at the
period's start, 0 at now (a rolling window's period ends now; a calendar one's x axis shows the whole month
while the line and the ideal stop at now).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from slowatch.slo.budget import too_few_events
from slowatch.slo.definitions import SloDef
from slowatch.slo.history import IncidentFigure
from slowatch.slo.maintenance import OneOff, Recurring, Rule

Span = tuple[float, float, str]  # start, end, label


def maintenance_spans(rules: Iterable[Rule], lo: float, hi: float, *, clip: bool = True) -> list[Span]:
    """The maintenance windows of `rules` overlapping [lo, hi), clipped to it (`clip`, for a chart; else whole,
    as a table lists them), by start."""
    spans: list[Span] = []
    for rule in dict.fromkeys(rules):
        if isinstance(rule, OneOff):
            if rule.start < hi and rule.end > lo:
                whole = (rule.start, rule.end, rule.name)
                spans.append((max(lo, rule.start), min(hi, rule.end), rule.name) if clip else whole)
            continue
        assert isinstance(rule, Recurring)
        day = dt.datetime.fromtimestamp(lo, rule.tz).date() - dt.timedelta(days=int(rule.duration // 86400) + 1)
        last = dt.datetime.fromtimestamp(hi, rule.tz).date()
        while day <= last:
            if day.weekday() in rule.weekdays:
                begin = dt.datetime.combine(day, rule.start, tzinfo=rule.tz).timestamp()
                if begin < hi and begin + rule.duration > lo:
                    end = begin + rule.duration
                    spans.append((max(lo, begin), min(hi, end), rule.name) if clip else (begin, end, rule.name))
            day += dt.timedelta(days=1)
    spans.sort()
    return spans


@dataclass(frozen=True, slots=True)
class Outage:
    """Overlapping down periods of one consumer's endpoints, merged: one line on its page."""

    start: float
    end: float | None  # None: ongoing
    endpoints: tuple[str, ...]
    messages: tuple[str, ...]

    def duration(self, now: float) -> float:
        return (now if self.end is None else self.end) - self.start


def merge_outages(found: Iterable[IncidentFigure], only: Container[str] | None = None) -> list[Outage]:
    """`found`'s down periods (of the endpoints in `only`, when given) merged when they overlap, newest first.
    An SLO's chart merges only its own endpoints': a consumer-wide merge drew another SLO's day-long outage,
    named after endpoints it does not count, on an SLO whose own endpoint was down for an hour."""
    chosen = sorted((i for i in found if only is None or i.endpoint in only), key=lambda i: i.start)
    groups: list[tuple[float, float, dict[str, None], dict[str, None]]] = []
    for i in chosen:
        i_end = float("inf") if i.end is None else i.end
        note = {f"{i.endpoint}: {i.message}": None} if i.message else {}
        if groups and i.start <= groups[-1][1]:
            g_start, g_end, names, notes = groups[-1]
            names[i.endpoint] = None
            notes.update(note)
            groups[-1] = (g_start, max(g_end, i_end), names, notes)
        else:
            groups.append((i.start, i_end, {i.endpoint: None}, note))
    return [
        Outage(s, None if e == float("inf") else e, tuple(names), tuple(notes))
        for s, e, names, notes in reversed(groups)
    ]


def _cells(conn: sqlite3.Connection, d: SloDef, start: float, end: float) -> list[tuple[int, int, int, int]]:
    """(cell start, good units, total units, excluded probes) of the SLO's coarse cells in [start, end)."""
    sliced = d.budgeting == "timeslices"
    rows = conn.execute(
        "SELECT start, good, total, excluded, good_slices, slices FROM slo_cells "
        "WHERE fingerprint = ? AND layer = 'c' AND start >= ? AND start < ? ORDER BY start",
        (d.fingerprint, int(start), end),
    ).fetchall()
    return [(s, sg, st, x) if sliced else (s, g, t, x) for s, g, t, x, sg, st in rows]


def bad_units(conn: sqlite3.Connection, d: SloDef, start: float, end: float) -> int:
    """Bad units in the coarse cells that overlap [start, end) (whole cells: an outage's hours)."""
    cell = d.coarse_cell(dt.datetime.fromtimestamp(start, dt.UTC).year)
    return sum(t - g for _, g, t, _ in _cells(conn, d, start - start % cell, end))


@dataclass(frozen=True, slots=True)
class BurnDown:
    start: float  # the period's start
    end: float  # the period's end (now for a rolling window)
    now: float
    points: tuple[tuple[float, float], ...]  # (time, budget remaining as a ratio of the period's budget)
    budget_units: float  # the period's budget in bad units: (1 - objective) x the units it holds so far
    spent_units: int
    maintenance: tuple[Span, ...]
    outages: tuple[Outage, ...]
    collecting: bool = False  # the period holds too few units for one bad one (the SLO's too_few_events)
    units: int = 0  # the units the period holds so far

    def ideal(self, ts: float) -> float:
        """Spending the budget of the units so far evenly: 1 at the period's start, 0 now."""
        return 1.0 - (ts - self.start) / max(1.0, self.now - self.start)


def burn_down(
    conn: sqlite3.Connection, d: SloDef, start: float, end: float, now: float, rules: Iterable[Rule],
    outage_list: Sequence[Outage] = (),
) -> BurnDown:  # fmt: skip
    cells = [c for c in _cells(conn, d, start, min(end, now + 1)) if c[2]]
    cell_len = d.coarse_cell(dt.datetime.fromtimestamp(start, dt.UTC).year)
    total = sum(c[2] for c in cells)
    points: list[tuple[float, float]] = []
    budget_units = 0.0
    spent = 0
    if cells:
        budget_units = (1.0 - d.objective) * total  # what the period holds so far, as the budget left's ratio
        points.append((float(cells[0][0]), 1.0))
        for cell_start, good, units, _ in cells:
            spent += units - good
            points.append((min(now, float(cell_start + cell_len)), 1.0 - spent / budget_units))
    marked = tuple(o for o in outage_list if (o.end is None or o.end > start) and o.start < end)
    return BurnDown(
        start, end, now, tuple(points), budget_units, spent, tuple(maintenance_spans(rules, start, end)), marked,
        too_few_events(total, d.objective), total,
    )  # fmt: skip


__all__ = ["BurnDown", "Outage", "Span", "bad_units", "burn_down", "maintenance_spans", "merge_outages"]

"""SLO figures for a past or current period, read from the database (for `slowatch report`).

Reads the ledger's persisted coarse cells (`slo_cells`, layer 'c', kept `retention.rollups`) of
each SLO's fingerprint, so the report agrees with the daemon's own numbers; and the store's
`incidents` table. Takes a plain read-only sqlite3 connection: the daemon may be running.

A period counts the coarse cells (1 h, or 15 min for zones with sub-hour offsets) that start
inside it; a rolling period starts where the daemon's window does (`RollingWindow.start`: at 12:40 a 30d one
starts 30 days before 12:00). Budget as time is over the time the period
has data for (its cells holding counted probes, to the end; `data_seconds`): the budget (1 - objective) x
that time, the time used (1 - SLI) x it, so that LEFT is the budget left's share of BUDGET, as LEFT% says.
A gap without probes (or a maintenance window) is neither good nor bad time. Before session 11 the budget
was x the period's full length (745 h for October in Europe/Berlin) while the time used was x the time with
data: early in a month `USED 1m24s  LEFT 3h34m36s` stood next to `exhausted (overspent by 815.5%)`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from slowatch.slo import budget
from slowatch.slo.correction_report import CorrectionFigure, correction_figures
from slowatch.slo.definitions import SloDef
from slowatch.slo.display import sli_words
from slowatch.slo.snapshot import SloState, state_of
from slowatch.store.incident_log import both

SUB_HOUR_CELL = 900
"""The coarse cell of a ledger with a calendar SLO in a zone with a sub-hour offset (SloDef.coarse_cell)."""


@dataclass(frozen=True, slots=True)
class DayFigure:
    day: str  # ISO date in the report's time zone
    good: int
    total: int

    @property
    def sli(self) -> float:
        return self.good / self.total


@dataclass(frozen=True, slots=True)
class IncidentFigure:
    endpoint: str
    start: float
    end: float | None  # None: still down at the end of the period
    outcome: str
    message: str


@dataclass(frozen=True, slots=True)
class SloFigures:
    consumer: str
    slo: str
    sli_kind: str
    budgeting: str
    objective: float  # ratio (the what-if objective when one was given)
    period: str  # e.g. "2026-10" or "30d"
    start: float
    end: float
    period_seconds: float  # full length of the period (a whole month even while it is running)
    state: SloState
    good: int  # units: probes (occurrences) or timeslices with data
    total: int
    good_events: int
    total_events: int
    excluded_events: int  # probes inside maintenance windows
    sli: float | None
    budget_used: float | None  # fraction of the error budget spent: (1 - sli) / (1 - objective)
    budget_remaining: float | None  # 1 - budget_used; negative when overspent
    allowed_bad: float  # bad units the budget allows
    bad: int
    worst_days: tuple[DayFigure, ...]
    incidents: tuple[IncidentFigure, ...]
    maintenance: tuple[str, ...]  # names of the maintenance windows that apply
    data_since: float | None  # first cell with data in the period
    data_seconds: float | None  # the time the period has data for: its cells with counted probes, to `end`
    corrections: tuple[CorrectionFigure, ...] = ()  # budget corrections touching the SLO in the period
    sli_words: str = ""  # "availability", "latency ≤ 300ms", "journey: serial of checkout/availability, ..."
    time_zone: str = ""  # a calendar period's IANA zone ("" for a rolling window)

    @property
    def covered_seconds(self) -> float:
        """The time the budget as time is over: the time the period has data for, at most the period."""
        return self.period_seconds if self.data_seconds is None else min(self.period_seconds, self.data_seconds)

    @property
    def partial(self) -> bool:
        """Whether data covers only part of the period (the time figures say over how much)."""
        return self.covered_seconds < self.period_seconds

    @property
    def running(self) -> bool:
        """Whether the period is not over at the report's end (a calendar period so far)."""
        return self.end < self.start + self.period_seconds

    @property
    def budget_seconds(self) -> float:
        """The error budget as time over the time with data: (1 - objective) x `covered_seconds` (SloStatus)."""
        return budget.error_budget(self.objective) * self.covered_seconds

    @property
    def used_seconds(self) -> float | None:
        """The bad time: (1 - SLI) x the time the period has data for (`data_seconds`), not x the whole
        period, nor x the time since its first data: a gap without probes is not in it (SloStatus.time_left)."""
        if self.sli is None:
            return None
        return (1.0 - self.sli) * self.covered_seconds

    @property
    def left_seconds(self) -> float | None:
        used = self.used_seconds
        return None if used is None else self.budget_seconds - used


def slo_figures(
    conn: sqlite3.Connection,
    d: SloDef,
    *,
    period: str,
    start: float,
    end: float,
    period_seconds: float,
    tz: ZoneInfo,
    objective: float | None = None,
    maintenance: tuple[str, ...] = (),
    worst: int = 3,
    zone: str = "",
    now: float | None = None,
) -> SloFigures:
    """`zone`: a calendar period's time zone, for the figures to name (`tz` groups the days). `now`: the time
    with data runs to it at most, as the daemon's (a current period's `end` is now + 1 s, to hold a probe at
    now; counting that second too, at a half minute the page read "2m" of budget and the report "3m")."""
    until = end if now is None else min(end, now)
    rows = conn.execute(
        "SELECT start, good, total, excluded, good_slices, slices FROM slo_cells "
        "WHERE fingerprint = ? AND layer = 'c' AND start >= ? AND start < ? ORDER BY start",
        (d.fingerprint, start, end),
    ).fetchall()
    sliced = d.budgeting == "timeslices"
    good = total = good_ev = total_ev = excluded = 0
    days: dict[str, list[int]] = {}
    first: float | None = None
    cell = d.coarse_cell(dt.datetime.fromtimestamp(start, dt.UTC).year)
    if any(row[0] % cell for row in rows):  # 15-minute cells: the ledger is shared with a calendar SLO in a zone
        cell = SUB_HOUR_CELL  # with a sub-hour offset (same fingerprint; engine.py takes the shortest cell)
    covered = 0.0
    for cell_start, g, t, x, sg, st in rows:
        ug, ut = (sg, st) if sliced else (g, t)
        good, total, good_ev, total_ev, excluded = good + ug, total + ut, good_ev + g, total_ev + t, excluded + x
        if t:
            first = float(cell_start) if first is None else first
            covered += max(0.0, min(float(cell), until - cell_start))
        if ut:
            day = dt.datetime.fromtimestamp(cell_start, tz).date().isoformat()
            acc = days.setdefault(day, [0, 0])
            acc[0] += ug
            acc[1] += ut
    obj = d.objective if objective is None else objective
    used = budget.burn_rate(good, total, obj)
    day_figures = [DayFigure(day, g, t) for day, (g, t) in days.items() if g < t]
    day_figures.sort(key=lambda f: (f.sli, f.day))
    state = state_of(total, obj)
    return SloFigures(
        consumer=d.consumer,
        slo=d.name,
        sli_kind=d.sli,
        budgeting=d.budgeting,
        objective=obj,
        period=period,
        start=start,
        end=end,
        period_seconds=period_seconds,
        state=state,
        good=good,
        total=total,
        good_events=good_ev,
        total_events=total_ev,
        excluded_events=excluded,
        sli=budget.sli(good, total),
        budget_used=used,
        budget_remaining=None if used is None else 1.0 - used,
        allowed_bad=budget.allowed_bad(total, obj),
        bad=total - good,
        worst_days=tuple(day_figures[:worst]),
        incidents=incidents(conn, d.endpoints, start, end),
        maintenance=maintenance,
        data_since=first,
        data_seconds=covered if total_ev else None,
        corrections=correction_figures(conn, d, start, end),
        sli_words=sli_words(d),
        time_zone=zone,
    )


def incidents(
    conn: sqlite3.Connection, endpoints: tuple[str, ...], start: float, end: float
) -> tuple[IncidentFigure, ...]:
    """Down periods of `endpoints` overlapping [start, end), from the store's up/down transitions."""
    if not endpoints:
        return ()
    marks = ", ".join(f"?{i}" for i in range(2, len(endpoints) + 2))  # (numbered: both tables' SELECTs use them)
    select = (
        f"SELECT endpoint, ts, to_state, outcome, message, id FROM incidents WHERE endpoint IN ({marks}) AND ts < ?1"
    )
    rows = conn.execute(both(conn, select) + " ORDER BY ts, id", (end, *endpoints)).fetchall()  # (incident_log.py)
    open_: dict[str, tuple[float, str, str]] = {}
    found: list[IncidentFigure] = []
    for endpoint, ts, to_state, outcome, message, _ in rows:
        if to_state == "down" and endpoint not in open_:
            open_[endpoint] = (ts, outcome, message)
        elif to_state == "up" and endpoint in open_:
            began, out, msg = open_.pop(endpoint)
            if ts >= start:
                found.append(IncidentFigure(endpoint, began, ts, out, msg))
    found.extend(IncidentFigure(ep, began, None, out, msg) for ep, (began, out, msg) in open_.items())
    found.sort(key=lambda i: (i.start, i.endpoint))
    return tuple(found)


__all__ = ["DayFigure", "IncidentFigure", "SloFigures", "incidents", "slo_figures"]

"""One bar per UTC day: how an SLO (from its ledger cells) or an endpoint (from its rollups) did.

States: `good` (the day met the objective), `degraded` (missed it, burning at most 10x: a day
like that spends a third of a 30-day budget), `bad` (worse), `nodata` (nothing counted) and
`maintenance` (nothing counted, but probes fell in maintenance windows; for endpoints: the day had
a maintenance window and no probe).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from slowatch.slo.budget import error_budget
from slowatch.slo.definitions import SloDef
from slowatch.slo.timeline import Span

DAY = 86400
BAD_BURN = 10.0


@dataclass(frozen=True, slots=True)
class DayBar:
    start: float  # the UTC day's first second
    state: str  # good | degraded | bad | nodata | maintenance
    good: int
    total: int
    excluded: int  # probes inside maintenance windows (SLO bars)
    maintenance_seconds: float

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.total else None


def classify(good: int, total: int, objective: float, excluded: int, maintenance_seconds: float) -> str:
    if not total:
        return "maintenance" if excluded or maintenance_seconds else "nodata"
    sli = good / total
    if sli >= objective:
        return "good"
    return "degraded" if (1.0 - sli) / error_budget(objective) <= BAD_BURN else "bad"


def day_range(now: float, days: int) -> list[int]:
    """The starts of the last `days` UTC days, oldest first, today included."""
    today = int(now // DAY) * DAY
    return [today - k * DAY for k in range(days - 1, -1, -1)]


def _maintenance_per_day(spans: Sequence[Span], starts: Sequence[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for lo, hi, _ in spans:
        for day in starts:
            overlap = min(hi, day + DAY) - max(lo, day)
            if overlap > 0:
                out[day] = out.get(day, 0.0) + overlap
    return out


def slo_days(conn: sqlite3.Connection, d: SloDef, now: float, days: int, spans: Sequence[Span] = ()) -> list[DayBar]:
    starts = day_range(now, days)
    sliced = d.budgeting == "timeslices"
    acc: dict[int, list[int]] = {day: [0, 0, 0] for day in starts}
    rows = conn.execute(
        "SELECT start, good, total, excluded, good_slices, slices FROM slo_cells "
        "WHERE fingerprint = ? AND layer = 'c' AND start >= ? AND start < ?",
        (d.fingerprint, starts[0], starts[-1] + DAY),
    )
    for start, good, total, excluded, good_slices, slices in rows:
        day = acc[int(start // DAY) * DAY]
        day[0] += good_slices if sliced else good
        day[1] += slices if sliced else total
        day[2] += excluded
    maint = _maintenance_per_day(spans, starts)
    return [
        DayBar(day, classify(g, t, d.objective, x, maint.get(day, 0.0)), g, t, x, maint.get(day, 0.0))
        for day, (g, t, x) in acc.items()
    ]


def endpoint_days(
    conn: sqlite3.Connection, endpoint: str, objective: float, now: float, days: int, spans: Sequence[Span] = ()
) -> list[DayBar]:
    """Availability per day from the endpoint's rollups (hourly rows and, beyond `retention.hourly`,
    daily ones: none in a database before v7); the objective is the strictest of the consumer's SLOs that
    cover the endpoint."""
    starts = day_range(now, days)
    acc: dict[int, list[int]] = {day: [0, 0] for day in starts}
    lo, hi = starts[0], starts[-1] + DAY
    for table, key in (("rollups", "hour"), ("rollups_daily", "day")):  # summed per day by SQLite: a consumer
        # page of 2,000 endpoints reads 4 million hourly rows, which took seconds one by one in Python
        sql = (f"SELECT CAST({key} AS INTEGER) / {DAY}, sum(good), sum(total) FROM {table} "
               f"WHERE endpoint = ? AND {key} >= ? AND {key} < ? GROUP BY 1")  # fmt: skip
        try:
            rows = conn.execute(sql, (endpoint, lo, hi)).fetchall()
        except sqlite3.OperationalError as e:  # `slowatch report` reads a database before v7 as it is: no daily rows
            if "no such table" not in str(e):
                raise
            rows = []
        for number, good, total in rows:
            day = acc[number * DAY]
            day[0] += good
            day[1] += total
    maint = _maintenance_per_day(spans, starts)
    return [
        DayBar(day, classify(g, t, objective, 0, maint.get(day, 0.0)), g, t, 0, maint.get(day, 0.0))
        for day, (g, t) in acc.items()
    ]


__all__ = ["DAY", "DayBar", "classify", "day_range", "endpoint_days", "slo_days"]

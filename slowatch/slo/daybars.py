"""One bar per UTC day: how an SLO (from its ledger cells) or an endpoint (from its rollups) did.

States: `good` (the day met the objective), `degraded` (missed it, burning at most 10x: a day
like that spends a third of a 30-day budget), `bad` (worse), `nodata` (nothing counted) and
`maintenance` (nothing counted, but probes fell in maintenance windows; for endpoints: the day had
a maintenance window and no probe).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
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


PACK = 1 << 32
"""`missed_days` reads a day's good and total as one integer, good * PACK + total (exact while an endpoint-day
counts fewer than 2^32 probes, ~50,000 a second)."""


def missed_days(
    conn: sqlite3.Connection, endpoints: Sequence[str], objective: Mapping[str, float], now: float, days: int
) -> dict[str, tuple[int, int]]:
    """Per endpoint (bad days, degraded days) of its `endpoint_days` bars, without building them.

    The same sums and `classify`, but one statement for every endpoint and day, each day's hours summed by a
    seek of their own range (`endpoint_days` groups an endpoint's rows by day with a sort: ~60 % of its time).
    Maintenance never counts: it only names days without probes."""
    starts = day_range(now, days)
    sql = (
        "SELECT e.key, d.key, (SELECT sum(good) * :pack + sum(total) FROM rollups "
        "WHERE endpoint = e.value AND hour >= d.value AND hour < d.value + :day), "
        "(SELECT good * :pack + total FROM rollups_daily WHERE endpoint = e.value AND day = d.value) "
        "FROM json_each(:endpoints) AS e, json_each(:days) AS d"
    )
    params = {"pack": PACK, "day": DAY, "endpoints": json.dumps(list(endpoints)), "days": json.dumps(starts)}
    counts = [[0, 0] for _ in endpoints]
    goal = [objective[ep] for ep in endpoints]
    for i, _, hours, day in conn.execute(sql, params):
        packed = (hours or 0) + (day or 0)
        state = classify(packed // PACK, packed % PACK, goal[i], 0, 0.0)
        if state == "bad":
            counts[i][0] += 1
        elif state == "degraded":
            counts[i][1] += 1
    return {ep: (bad, degraded) for ep, (bad, degraded) in zip(endpoints, counts, strict=True)}


def drawn_endpoint_days(
    conn: sqlite3.Connection, endpoints: Sequence[str], objective: Mapping[str, float], now: float, days: int,
    spans: Mapping[str, Sequence[Span]], draw: int,
) -> tuple[list[tuple[str, list[DayBar]]], tuple[int, int]]:  # fmt: skip
    """The bars of at most `draw` endpoints: all of them, or (more endpoints) those with the most missed days
    (badly missed first; ties in the given order), in the given order, each with its own maintenance `spans`;
    and (endpoints not drawn, the days they missed together). Only the drawn endpoints' bars are built
    (2,000 endpoints: 2,000 `endpoint_days` before; benchmarks/daybars.py --consumer)."""
    chosen = list(endpoints)
    rest = (0, 0)
    if len(chosen) > draw:
        missed = missed_days(conn, chosen, objective, now, days)
        ranked = sorted(range(len(chosen)), key=lambda i: tuple(-n for n in missed[chosen[i]]))
        left = [chosen[i] for i in ranked[draw:]]
        rest = (len(left), sum(sum(missed[ep]) for ep in left))
        chosen = [chosen[i] for i in sorted(ranked[:draw])]
    return [(ep, endpoint_days(conn, ep, objective[ep], now, days, spans.get(ep, ()))) for ep in chosen], rest


__all__ = [
    "DAY", "DayBar", "classify", "day_range", "drawn_endpoint_days", "endpoint_days", "missed_days", "slo_days",
]  # fmt: skip

"""SLO windows: rolling (the last N hours) and calendar (week/month/quarter in a time zone).

Windows are measured on cells (time buckets) of a fixed length. A window of length W at time `now`
covers the cell containing `now` plus the W seconds before that cell's start, i.e. the events with
`cell_start(now) - W <= ts <= now`. At a cell boundary that is exactly W; otherwise at most one
cell more. A calendar window covers `period_start <= ts <= now`; its length, for budget-as-time and
time-to-exhaustion, is the whole period (October 2026 in Europe/Berlin is 745 hours: 31 days and
the 25-hour day when DST ends). Periods start at local midnight (weeks on Monday, ISO); a local
midnight that does not exist resolves with fold=0 (PEP 495).

Burn-rate tiers given as a share of the budget (`budget_percent`) need one length per window: a
calendar window's is its *nominal* length (`NOMINAL_SECONDS`: week 7d, month 30d, quarter 90d), the
same in every month, and the rolling range the generated Prometheus rules evaluate it over, so the
daemon and the rules page at the same burn (2% of a month's budget in 1h is 14.4 in February too).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from slowatch.config.consumers import CalendarWindow
from slowatch.durations import format_duration

CalendarUnit = Literal["week", "month", "quarter"]

NOMINAL_SECONDS: dict[CalendarUnit, float] = {"week": 7 * 86400.0, "month": 30 * 86400.0, "quarter": 90 * 86400.0}
"""A calendar window's nominal length: for burn-tier factors, and the rolling range Prometheus evaluates."""


def _local_midnight(day: dt.date, tz: ZoneInfo) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _period_first_day(day: dt.date, unit: CalendarUnit) -> dt.date:
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_first_day(first: dt.date, unit: CalendarUnit) -> dt.date:
    if unit == "week":
        return first + dt.timedelta(days=7)
    months = 1 if unit == "month" else 3
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_bounds(now: float, unit: CalendarUnit, tz: ZoneInfo) -> tuple[float, float]:
    """Unix [start, end) of the calendar period containing `now`."""
    local = dt.datetime.fromtimestamp(now, tz).date()
    first = _period_first_day(local, unit)
    start = _local_midnight(first, tz)
    if start > now:  # a midnight that fold=0 placed after `now`: take the previous period
        first = _period_first_day(first - dt.timedelta(days=1), unit)
        start = _local_midnight(first, tz)
    return start, _local_midnight(_next_first_day(first, unit), tz)


FIRST_MONTH, LAST_MONTH = (1970, 1), (9998, 12)
"""The months a report may name: from the Unix epoch to the last whose end `datetime` can still hold."""
MONTH_RANGE = "from {:04d}-{:02d} to {:04d}-{:02d}".format(*FIRST_MONTH, *LAST_MONTH)


def parse_month(text: str) -> tuple[int, int]:
    """`2026-11` -> (2026, 11); ValueError naming the accepted form and range for anything else."""
    try:
        parsed = dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        parsed = None
    if parsed is None or not FIRST_MONTH <= (parsed.year, parsed.month) <= LAST_MONTH:
        raise ValueError(f"not a month: {text[:20]!r} (use YYYY-MM, {MONTH_RANGE})")
    return parsed.year, parsed.month


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[float, float]:
    first = dt.date(year, month, 1)
    return _local_midnight(first, tz), _local_midnight(_next_first_day(first, "month"), tz)


@dataclass(frozen=True, slots=True)
class RollingWindow:
    seconds: float
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", format_duration(self.seconds))

    def span(self) -> float:
        """The most history this window ever needs, in seconds."""
        return self.seconds

    def first_cell(self, now: float, cell: int) -> int:
        return int(now // cell) - math.ceil(self.seconds / cell)

    def start(self, now: float, cell: int = 3600) -> float:
        """The first instant the window covers at `now` (on cells of `cell` s, 1 h for a rolling window's
        ledger): what the daemon counts, so the report, the gate on the database and the burn-down count it too."""
        return float(self.first_cell(now, cell) * cell)

    def length(self, now: float) -> float:
        return self.seconds

    def nominal(self) -> float:
        """The length burn-tier factors derive from."""
        return self.seconds


@dataclass(frozen=True, slots=True)
class CalendarPeriod:
    unit: CalendarUnit
    timezone: str

    @property
    def label(self) -> str:
        return self.unit

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def span(self) -> float:
        days = {"week": 7, "month": 31, "quarter": 92}[self.unit]
        return days * 86400.0 + 3600.0

    def bounds(self, now: float) -> tuple[float, float]:
        return period_bounds(now, self.unit, self.tz)

    def first_cell(self, now: float, cell: int) -> int:
        return int(self.bounds(now)[0] // cell)

    def length(self, now: float) -> float:
        start, end = self.bounds(now)
        return end - start

    def nominal(self) -> float:
        """The length burn-tier factors derive from: the same for every period (`NOMINAL_SECONDS`)."""
        return NOMINAL_SECONDS[self.unit]

    def sub_hour_offset(self, year: int) -> bool:
        """True when this zone's offset is not a whole number of hours at some point of `year`."""
        tz = self.tz
        for month in (1, 4, 7, 10):
            offset = dt.datetime(year, month, 1, 12, tzinfo=tz).utcoffset()
            if offset is not None and offset.total_seconds() % 3600:
                return True
        return False


Window = RollingWindow | CalendarPeriod


def trust_window(window: Window) -> Window:
    """The window whose units say whether burn rates are trustworthy: the SLO window itself when rolling; for
    a calendar one the rolling window of its nominal length (a month's first hours are not too few events)."""
    return RollingWindow(window.nominal()) if isinstance(window, CalendarPeriod) else window


def window_of(spec: float | CalendarWindow) -> Window:
    if isinstance(spec, CalendarWindow):
        return CalendarPeriod(spec.calendar, spec.timezone)
    return RollingWindow(float(spec))


__all__ = [
    "FIRST_MONTH", "LAST_MONTH", "MONTH_RANGE", "NOMINAL_SECONDS", "CalendarPeriod", "RollingWindow", "Window",
    "month_bounds", "parse_month", "period_bounds", "trust_window", "window_of",
]  # fmt: skip

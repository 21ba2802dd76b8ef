"""An independent reference for SLO figures: plain Python over the probes a test fed, no slowatch SLO code.

What it computes follows README.md (*The model*, *Budget left as time*, the burn-rate tiers) and the window
rule of slowatch/slo/windows.py: a rolling window of W at `now` holds the probes with
`start_of_cell(now) - W <= ts <= now` (1-hour cells for the SLO window, 1-minute cells for the alerting
windows; with timeslices, cells of the slice length), a calendar window the probes from the local midnight
its period starts at up to `now`. Maintenance and corrections are [start, end) exclusions of some endpoints.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

ALERT_WINDOWS = (300, 1800, 3600, 7200, 21600, 86400, 259200)
TIERS = (("page", 3600, 300, 2.0), ("page", 21600, 1800, 5.0), ("ticket", 86400, 7200, 10.0),
         ("ticket", 259200, 21600, 10.0))  # fmt: skip
NOMINAL = {"week": 7 * 86400, "month": 30 * 86400, "quarter": 90 * 86400}


@dataclass(frozen=True)
class Probe:
    endpoint: str
    ts: float
    outcome: str = "success"
    duration: float = 0.05
    final: bool = True


@dataclass(frozen=True)
class Spec:
    """One SLO as the README defines it. `window`: seconds (rolling) or (unit, zone) (calendar)."""

    endpoints: tuple[str, ...]
    objective: float  # percent
    window: float | tuple[str, str]
    threshold: float | None = None
    slice_length: int | None = None  # timeslices
    good_when: float = 1.0
    excluded: tuple[tuple[float, float, frozenset[str]], ...] = field(default=())  # [start, end) on endpoints

    @property
    def budget(self) -> float:
        return float((100 - Decimal(repr(self.objective))) / 100)

    def good(self, p: Probe) -> bool:
        return p.outcome == "success" and (self.threshold is None or p.duration <= self.threshold)

    def counts(self, p: Probe) -> bool:
        if not p.final or p.endpoint not in self.endpoints:
            return False
        return not any(s <= p.ts < e and p.endpoint in eps for s, e, eps in self.excluded)


def local_midnight(day: dt.date, zone: str) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).timestamp()


def period(now: float, unit: str, zone: str) -> tuple[float, float]:
    """[start, end) of the calendar period holding `now`, computed from the local date."""
    day = dt.datetime.fromtimestamp(now, ZoneInfo(zone)).date()
    if unit == "week":
        first = day - dt.timedelta(days=day.weekday())
        nxt = first + dt.timedelta(days=7)
    elif unit == "month":
        first = day.replace(day=1)
        nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    else:
        first = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        m = first.month + 3
        nxt = dt.date(first.year + (m > 12), (m - 1) % 12 + 1, 1)
    return local_midnight(first, zone), local_midnight(nxt, zone)


def since(spec: Spec, now: float) -> float:
    if isinstance(spec.window, tuple):
        return period(now, *spec.window)[0]
    return math.floor(now / 3600) * 3600 - spec.window


def length(spec: Spec, now: float) -> float:
    if isinstance(spec.window, tuple):
        start, end = period(now, *spec.window)
        return end - start
    return spec.window


def nominal(spec: Spec) -> float:
    return NOMINAL[spec.window[0]] if isinstance(spec.window, tuple) else spec.window


def units(spec: Spec, probes: Sequence[Probe], start: float, now: float) -> tuple[int, int]:
    """(good, total) units among the counted probes with start <= ts <= now (`probes`: sorted by ts)."""
    lo = bisect.bisect_left(probes, start, key=lambda p: p.ts)
    hi = bisect.bisect_right(probes, now, key=lambda p: p.ts)
    inside = [p for p in probes[lo:hi] if spec.counts(p)]
    if spec.slice_length is None:
        return sum(spec.good(p) for p in inside), len(inside)
    slices: dict[int, list[int]] = {}
    for p in inside:
        cell = slices.setdefault(int(p.ts // spec.slice_length), [0, 0])
        cell[0] += spec.good(p)
        cell[1] += 1
    return sum(g / t >= spec.good_when for g, t in slices.values()), len(slices)


@dataclass(frozen=True)
class Figures:
    good: int
    total: int
    sli: float | None
    remaining: float | None
    burn: float | None
    windows: dict[int, float | None]  # alerting window -> burn rate
    tte: float | None
    data_seconds: float
    state: str
    trust_total: int
    firing: frozenset[str] | None  # severities whose burn alert fires; None: held (the SLO is in maintenance)


def burn(good: int, total: int, budget: float) -> float | None:
    return None if total == 0 else (total - good) / total / budget


def figures(spec: Spec, probes: Sequence[Probe], now: float) -> Figures:
    start = since(spec, now)
    good, total = units(spec, probes, start, now)
    b = spec.budget
    whole = burn(good, total, b)
    remaining = None if whole is None else 1 - whole
    fine = spec.slice_length or 60  # the alerting windows' cells: a minute, or the timeslice
    minute = math.floor(now / fine) * fine
    windows = {w: burn(*units(spec, probes, minute - w, now), b) for w in ALERT_WINDOWS}
    hourly = windows[3600]
    tte = None
    if remaining is not None and hourly and remaining > 0:
        tte = remaining * length(spec, now) / hourly
    lo = bisect.bisect_left(probes, start, key=lambda p: p.ts)
    hours = {int(p.ts // 3600) for p in probes[lo:] if p.ts <= now and spec.counts(p)}
    data = sum(min(3600.0, now - h * 3600) for h in hours)
    needed = 1 / b
    state = "no_data" if total == 0 else ("too_few_events" if total < needed - 1e-9 else "ok")
    trust = total
    if isinstance(spec.window, tuple):
        trust = units(spec, probes, math.floor(now / 3600) * 3600 - nominal(spec), now)[1]
    firing = set()
    if trust >= needed - 1e-9:
        for severity, long, short, percent in TIERS:
            factor = percent / 100 * nominal(spec) / long
            lb, sb = windows[long], windows[short]
            if lb is not None and sb is not None and lb > factor and sb > factor:
                firing.add(severity)
    # README, Alerting: in maintenance an SLO's alerts are held as they are
    held = any(s <= now < e and set(spec.endpoints) <= eps for s, e, eps in spec.excluded)
    return Figures(good, total, None if total == 0 else good / total, remaining, whole, windows, tte, data,
                   state, trust, None if held else frozenset(firing))  # fmt: skip


__all__ = ["ALERT_WINDOWS", "Figures", "Probe", "Spec", "figures", "period"]

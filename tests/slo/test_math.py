"""budget.py arithmetic, calendar periods and maintenance rules."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from slowatch.slo import budget
from slowatch.slo.maintenance import MaintenanceCalendar, OneOff, Recurring
from slowatch.slo.windows import CalendarPeriod, RollingWindow, month_bounds, period_bounds
from tests.slo.helpers import config

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()  # type: ignore[arg-type, misc]


def test_budget_arithmetic() -> None:
    assert budget.sli(0, 0) is None and budget.burn_rate(0, 0, 0.999) is None
    assert budget.budget_remaining(43180, 43200, 0.999) == pytest.approx(0.5370370370370, rel=1e-12)
    assert budget.burn_rate(90, 100, 0.99) == pytest.approx(10.0)
    assert budget.budget_remaining(97, 100, 0.99) == pytest.approx(-2.0)
    assert budget.time_to_exhaustion(0.5, 30 * 86400, 1.0) == pytest.approx(15 * 86400)
    assert budget.time_to_exhaustion(0.5, 30 * 86400, 0.0) is None
    assert budget.time_to_exhaustion(-0.1, 30 * 86400, 2.0) is None
    assert budget.too_few_events(200, 0.999) and not budget.too_few_events(1000, 0.999)
    assert not budget.too_few_events(0, 0.999)
    assert budget.allowed_bad(43200, 0.999) == pytest.approx(43.2)


def test_calendar_periods_in_berlin() -> None:
    start, end = month_bounds(2026, 10, BERLIN)
    assert (start, end) == (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))
    assert (end - start) / 3600 == 745
    assert period_bounds(utc(2026, 10, 25, 1, 30), "month", BERLIN) == (start, end)
    # ISO week 44 of 2026: Monday Oct 26 00:00 CET to Monday Nov 2
    assert period_bounds(utc(2026, 10, 28), "week", BERLIN) == (utc(2026, 10, 25, 23), utc(2026, 11, 1, 23))
    assert period_bounds(utc(2026, 11, 15), "quarter", BERLIN) == (start, utc(2026, 12, 31, 23))
    assert period_bounds(utc(2026, 3, 29, 12), "week", BERLIN)[1] - utc(2026, 3, 22, 23) == 7 * 86400 - 3600
    assert CalendarPeriod("month", "Asia/Kolkata").sub_hour_offset(2026)
    assert not CalendarPeriod("month", "Europe/Berlin").sub_hour_offset(2026)


def test_rolling_window_cells() -> None:
    w = RollingWindow(86400.0)
    assert w.label == "1d" and w.length(0) == 86400
    assert w.first_cell(3600 * 100 + 59, 3600) == 100 - 24


def test_recurring_maintenance_follows_local_time_across_dst() -> None:
    rule = Recurring("patch", frozenset({6}), dt.time(2), 7200.0, BERLIN)
    assert rule.active(utc(2026, 10, 4, 0))  # Sunday 02:00 CEST
    assert rule.active(utc(2026, 10, 4, 1, 59))
    assert not rule.active(utc(2026, 10, 4, 2))
    assert not rule.active(utc(2026, 10, 3, 23, 59))
    # October 25: 02:00 local happens twice; fold=0 is the first (CEST, 00:00Z), 2h of elapsed time
    assert rule.active(utc(2026, 10, 25, 0)) and rule.active(utc(2026, 10, 25, 1, 59))
    assert not rule.active(utc(2026, 10, 25, 2))
    # November: CET, 02:00 local is 01:00Z
    assert rule.active(utc(2026, 11, 1, 1)) and not rule.active(utc(2026, 11, 1, 0, 59))
    late = Recurring("late", frozenset({5}), dt.time(23), 3 * 3600.0, ZoneInfo("UTC"))
    assert late.active(utc(2026, 10, 4, 1))  # Saturday 23:00 + 3h reaches into Sunday


def test_calendar_applies_rules_by_consumer_and_endpoint() -> None:
    cfg = config(
        [{"name": "shop", "endpoints": ["a", "b"]}, {"name": "other", "endpoints": ["a"]}],
        maintenance=[
            {"name": "c", "consumers": ["shop"], "start": 100, "end": 200},
            {"name": "e", "endpoints": [{"labels": {"tier": "gold"}}], "start": 300, "end": 400},
        ],
    )
    cal = MaintenanceCalendar(cfg)
    assert cal.rules("shop", "a") == (OneOff("c", 100, 200), OneOff("e", 300, 400))
    assert cal.excluded("shop", "b", 150) and not cal.excluded("other", "a", 150)
    assert cal.excluded("other", "a", 350) and not cal.excluded("other", "a", 400)

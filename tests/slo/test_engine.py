"""Hand-computed SLO scenarios through the Engine (observe -> refresh -> Snapshot)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from slowatch.slo.engine import Engine
from slowatch.slo.snapshot import SloState, SloStatus
from tests.slo.helpers import config, result, slo_config

H = 1_789_999_200.0  # an hour boundary (2026-09-21T12:00:00Z)
DAY = 86400.0


def status(engine: Engine, now: float, consumer: str = "shop", slo: str = "s") -> SloStatus:
    found = engine.refresh(now).get(consumer, slo)
    assert found is not None
    return found


def burn(s: SloStatus, window: str) -> float | None:
    w = s.window_status(window)
    assert w is not None
    return w.burn_rate


def test_thirty_days_of_minutely_probes_with_twenty_failures() -> None:
    start = H - 30 * DAY
    engine = Engine(slo_config(), start)
    failed = {43199 - k for k in range(10)} | {1000 * j for j in range(10)}
    for i in range(43200):
        engine.observe(result(start + 60 * i, ok=i not in failed, endpoint="ab"[i % 2]))
    s = status(engine, H)
    assert (s.state, s.total, s.good, s.window, s.window_seconds) == (SloState.OK, 43200, 43180, "30d", 30 * DAY)
    assert s.sli == pytest.approx(43180 / 43200, rel=1e-12)
    assert s.budget_remaining == pytest.approx(0.537037037037, rel=1e-9)
    assert s.burn_rate == pytest.approx(20 / 43200 / 0.001, rel=1e-9)
    expected = {"5m": 5 / 5, "30m": 10 / 30, "1h": 10 / 60, "2h": 10 / 120, "6h": 10 / 360, "1d": 10 / 1440}
    expected["3d"] = 10 / 4320
    for label, error_ratio in expected.items():
        assert burn(s, label) == pytest.approx(error_ratio / 0.001, rel=1e-9), label
    assert s.burn(3600.0) == burn(s, "1h") and s.burn(60.0) is None
    assert s.window_status("1h") is not None and s.window_status("1h").total == 60  # type: ignore[union-attr]
    assert s.time_to_exhaustion == pytest.approx(0.537037037037 * 30 * DAY / (10 / 60 / 0.001), rel=1e-9)
    assert not s.exhausted and s.events_total == 43200 and s.good_events_total == 43180
    view = json.loads(json.dumps(engine.refresh(H).as_list()))
    assert view[0]["state"] == "ok" and view[0]["windows"][2] == {
        "window": "1h", "seconds": 3600.0, "good": 50, "total": 60, "sli": 50 / 60, "burn_rate": s.windows[2].burn_rate
    }  # fmt: skip


def test_timeslices_count_good_minutes_among_minutes_with_data() -> None:
    cfg = slo_config(objective=95, window="1d", budgeting="timeslices", timeslice={"length": "1m", "good_when": 0.95})
    engine = Engine(cfg, H)
    failures = {10: 2, 20: 2, 30: 2, 40: 1, 50: 20}  # minute -> failed probes out of 20
    for minute in [*range(100), 105]:
        for k in range(20):
            engine.observe(result(H + minute * 60 + 3 * k, ok=k >= failures.get(minute, 0)))
    s = status(engine, H + 106 * 60)
    # minutes 10, 20, 30 (18/20) and 50 (0/20) are bad; 40 (19/20 = 0.95) is good; 100-104 have no data
    assert (s.good, s.total, s.total_events, s.good_events) == (97, 101, 2020, 1993)
    assert s.sli == pytest.approx(97 / 101)
    assert s.budget_remaining == pytest.approx(1 - (4 / 101) / 0.05)
    one_hour = s.window_status("1h")
    assert one_hour is not None  # minutes 46..106 hold data in 46..99 and 105; 50 is bad
    assert (one_hour.good, one_hour.total) == (54, 55)
    assert s.state is SloState.OK


def test_calendar_month_across_the_dst_change_in_berlin() -> None:
    month = {"calendar": "month", "timezone": "Europe/Berlin"}
    cfg = slo_config(objective=99, window=month)
    first = dt.datetime(2026, 9, 30, 20, tzinfo=dt.UTC).timestamp()  # 22:00 local, September
    period_start = dt.datetime(2026, 9, 30, 22, tzinfo=dt.UTC).timestamp()  # Oct 1 00:00 CEST
    last = dt.datetime(2026, 10, 31, 22, tzinfo=dt.UTC).timestamp()  # Oct 31 23:00 CET
    engine = Engine(cfg, first)
    for hour in range(int((last - first) // 3600) + 1):
        ts = first + hour * 3600
        engine.observe(result(ts, ok=ts not in (first, first + 3600, last)))  # 2 bad before the period
    s = status(engine, last + 1800)
    assert s.window == "month" and s.window_start == period_start
    assert s.window_seconds == 745 * 3600  # 31 days and the 25-hour day of October 25
    assert (s.good, s.total) == (744, 745)
    assert s.budget_remaining == pytest.approx(1 - (1 / 745) / 0.01)
    assert burn(s, "1h") == pytest.approx(100.0)  # the one probe of the last hour failed
    assert s.budget_remaining is not None
    assert s.time_to_exhaustion == pytest.approx(s.budget_remaining * 745 * 3600 / 100.0)
    november = status(engine, dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC).timestamp())
    assert november.state is SloState.NO_DATA and november.total == 0
    assert november.window_seconds == 720 * 3600  # November 2026 in Berlin has no DST change


def test_maintenance_is_excluded_and_counted_as_excluded() -> None:
    slo = {"name": "s", "sli": "availability", "objective": 99}
    cfg = config(
        [
            {"name": "shop", "endpoints": ["a", "b"], "slos": [slo]},
            {"name": "other", "endpoints": ["a", "b"], "slos": [slo]},
        ],
        maintenance=[
            {
                "name": "patching",
                "consumers": ["shop"],
                "recurring": {"weekday": "sun", "start": "02:00", "duration": "2h", "timezone": "Europe/Berlin"},
            },
            {"name": "migration", "endpoints": ["b"], "start": "2026-10-05T10:00:00Z", "end": "2026-10-05T11:00:00Z"},
        ],
    )
    sunday = dt.datetime(2026, 10, 4, 0, tzinfo=dt.UTC).timestamp()  # 02:00 CEST on Sunday Oct 4
    engine = Engine(cfg, sunday - 3600)
    for minute in range(-60, 180):  # 01:00 to 05:00 local: 02:00-04:00 fails, inside the window
        ts = sunday + minute * 60
        engine.observe(result(ts, ok=not 0 <= minute < 120))
    monday = dt.datetime(2026, 10, 5, 10, tzinfo=dt.UTC).timestamp()
    for minute in range(60):
        engine.observe(result(monday + minute * 60, ok=False, endpoint="b"))  # one-off, endpoint b
        engine.observe(result(monday + minute * 60, ok=True, endpoint="a"))
    snap = engine.refresh(monday + 3600)
    shop, other = snap.get("shop", "s"), snap.get("other", "s")
    assert shop is not None and other is not None
    assert (shop.good, shop.total, shop.excluded_events) == (180, 180, 180)
    assert (other.good, other.total, other.excluded_events) == (180, 300, 60)
    assert shop.events_total == 180 and other.events_total == 300


def test_no_data_is_a_state_not_a_hundred_percent() -> None:
    engine = Engine(slo_config(), H)
    engine.observe(result(H, endpoint="c"))  # not one of the SLO's endpoints
    engine.observe(result(H, final=False))  # a retried attempt: history only
    s = status(engine, H + 60)
    assert s.state is SloState.NO_DATA
    assert (s.sli, s.budget_remaining, s.burn_rate, s.time_to_exhaustion) == (None, None, None, None)
    assert all(w.sli is None and w.burn_rate is None for w in s.windows)
    assert not s.exhausted and s.events_total == 0


def test_too_few_events_when_the_budget_allows_less_than_one_bad_probe() -> None:
    engine = Engine(slo_config(objective=99.9), H)
    for i in range(200):
        engine.observe(result(H + i * 10))
    s = status(engine, H + 2000)
    assert s.state is SloState.TOO_FEW_EVENTS and s.sli == 1.0 and s.budget_remaining == 1.0
    for i in range(800):
        engine.observe(result(H + 2000 + i))
    assert status(engine, H + 2800).state is SloState.OK  # 1,000 x 0.001 = 1 bad probe allowed


def test_overspent_budget_goes_negative_and_has_no_time_to_exhaustion() -> None:
    engine = Engine(slo_config(objective=99, window="7d"), H)
    for i in range(1000):
        engine.observe(result(H + i * 30, ok=i % 100 >= 3))  # 30 of 1000 failed
    s = status(engine, H + 30_000)
    assert s.budget_remaining == pytest.approx(-2.0)
    assert s.exhausted and s.time_to_exhaustion is None and s.burn_rate == pytest.approx(3.0)


def test_latency_sli_counts_success_at_or_under_the_threshold() -> None:
    engine = Engine(slo_config(sli="latency", threshold="300ms", objective=50), H)
    engine.observe(result(H, duration=0.3))
    engine.observe(result(H + 1, duration=0.301))
    engine.observe(result(H + 2, ok=False, duration=0.01))
    engine.observe(result(H + 3, duration=0.05, endpoint="b"))
    s = status(engine, H + 10)
    assert (s.good, s.total) == (2, 4)


def test_windows_slide_and_old_events_leave_them() -> None:
    engine = Engine(slo_config(objective=90, window="1d"), H)
    engine.observe(result(H + 10, ok=False))
    s = status(engine, H + 200)
    assert burn(s, "5m") == pytest.approx(10.0)
    s = status(engine, H + 360)  # the 5m window now starts at H + 60
    assert s.window_status("5m") is not None and s.window_status("5m").total == 0  # type: ignore[union-attr]
    assert burn(s, "30m") == pytest.approx(10.0)
    assert status(engine, H + DAY + 3600).state is SloState.NO_DATA


def test_a_new_engine_carries_ledgers_and_counters_over_by_fingerprint() -> None:
    two = config(
        [
            {
                "name": "shop",
                "endpoints": ["a", "b"],
                "slos": [
                    {"name": "s", "sli": "availability", "objective": 99},
                    {"name": "t", "sli": "availability", "objective": 90, "window": "7d"},
                ],
            }
        ]
    )
    old = Engine(two, H)
    assert len(old.ledgers) == 1  # same goodness: one ledger, two windows
    for i in range(10):
        old.observe(result(H + i, ok=i > 0))
    tightened = slo_config(objective=99.99)  # `t` removed, `s` tightened: same fingerprint
    new = Engine(tightened, H + 10, previous=old)
    assert not new.new_fingerprints and new.resized == set(old.ledgers)  # its windows changed
    same = Engine(slo_config(objective=99.5, window="30d"), H + 10, previous=new)
    assert same.ledgers == new.ledgers and not same.resized and not same.new_fingerprints
    assert [s.slo for s in same.refresh(H + 20).slos] == ["s"]
    assert same.counters[("shop", "s")] == [10, 9]
    narrowed = Engine(slo_config(endpoints=["a"]), H + 10, previous=same)
    assert narrowed.new_fingerprints == set(narrowed.ledgers)


def test_budget_left_as_time_counts_the_time_with_data_not_a_gap_without_probes() -> None:
    """Probes stop for 40 days (longer than the 30d window) and start again: the window has 2 days of data,
    half bad, so 1 day of bad time is used, not half of the 30 days "since" the window's start (before session
    10 `data_since` stayed the window's start: the ledger's oldest data had left the ring). A gap inside the
    window (probes on days 1-2 and 9-10 of it) is neither good nor bad time either: 4 days are covered."""
    old = H - 45 * DAY
    engine = Engine(slo_config(objective=99.9), old)
    for i in range(3 * 1440):  # 3 days of good data, 45 days ago
        engine.observe(result(old + 60 * i, ok=True, endpoint="a"))
    again = H - 2 * DAY
    for i in range(2 * 1440):  # then nothing for 40 days; 2 days of data, the first all bad
        engine.observe(result(again + 60 * i, ok=i >= 1440, endpoint="a"))
    s = status(engine, H)
    assert (s.total, s.sli) == (2 * 1440, pytest.approx(0.5))
    assert s.data_since == again
    assert s.data_seconds == pytest.approx(2 * DAY)
    assert s.time_left() == pytest.approx((0.001 - 0.5) * 2 * DAY)  # not 43.2 min - 15 days
    gap = Engine(slo_config(objective=99.9), H - 30 * DAY)
    for start in (H - 30 * DAY, H - 22 * DAY):  # days 1-2 and 9-10 of the window, 10 % bad; nothing since
        for i in range(2 * 1440):
            gap.observe(result(start + 60 * i, ok=i % 10 != 0, endpoint="a"))
    g = status(gap, H)
    assert (g.data_since, g.data_seconds) == (H - 30 * DAY, pytest.approx(4 * DAY))
    assert g.time_left() == pytest.approx((0.001 - 0.1) * 4 * DAY)  # not x the 30 days since the first data
    now = Engine(slo_config(objective=99.9), H - 7200)
    for i in range(90):
        now.observe(result(H - 7200 + 60 * i, ok=True, endpoint="a"))
    assert status(now, H - 1800).data_seconds == pytest.approx(5400)  # an hour, and the current one so far


def test_budget_left_as_time_counts_the_bad_time_so_far_not_the_rate_over_the_whole_window() -> None:
    """Four days of data in a 30-day window, the last three 100 % down: 3 days of bad time against a budget of
    43.2 minutes. Before session 9 the page multiplied the error ratio by the whole window ("26.2 days over")."""
    start = H - 4 * DAY
    engine = Engine(slo_config(objective=99.9), start)
    for i in range(4 * 1440):
        engine.observe(result(start + 60 * i, ok=i < 1440, endpoint="a"))
    s = status(engine, H)
    assert s.data_since == start
    assert s.sli == pytest.approx(0.25)
    left = s.time_left()
    # the budget of the 4 days with data (5.76 minutes; before session 11 the whole window's 43.2 minutes: a
    # time left that was not the budget left's share of the budget shown) less 3 days
    assert left == pytest.approx((0.001 - 0.75) * 4 * DAY)
    assert left == pytest.approx(s.budget_remaining * s.budget_seconds())
    full = Engine(slo_config(objective=99.9), H - 30 * DAY)  # a window full of data: the same as before
    for i in range(30 * 1440):
        full.observe(result(H - 30 * DAY + 60 * i, ok=i % 100 != 0, endpoint="a"))
    f = status(full, H)
    assert f.time_left() == pytest.approx(f.budget_remaining * f.error_budget * f.window_seconds)

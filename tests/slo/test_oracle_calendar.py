"""SLI, budget, burn rates and burn alerts of a real daemon against an independent oracle (tests/slo/oracle.py)
over calendar and rolling windows that span DST changes, month ends and the year change."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from slowatch.clock import FakeClock
from slowatch.daemon import Daemon
from slowatch.slo.display import percent
from tests.slo.oracle import Probe, Spec
from tests.slo.oracle_daemon import get, run_scenario, start

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()  # type: ignore[arg-type, misc]


def local(zone: str, *args: int) -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[arg-type, misc]


CONFIG = """
server: {{listen: "127.0.0.1:0", database: "{db}"}}
alerting: {{resolve_after: 0s}}
endpoints:
  - {{name: a, kind: http, url: "http://127.0.0.1:9/a"}}
  - {{name: b, kind: http, url: "http://127.0.0.1:9/b"}}
consumers:
  - name: shop
    endpoints: [a, b]
    slos:
      - {{name: r30, sli: availability, objective: 99.9, window: 30d}}
      - {{name: r28, sli: availability, objective: 99.5, window: 28d}}
      - {{name: month, sli: availability, objective: 99, window: {{calendar: month, timezone: Europe/Berlin}}}}
      - {{name: quarter, sli: availability, objective: 99, window: {{calendar: quarter, timezone: Europe/Berlin}}}}
      - {{name: week, sli: latency, threshold: 300ms, objective: 98,
          window: {{calendar: week, timezone: America/New_York}}}}
      - {{name: slices, sli: availability, objective: 99, budgeting: timeslices,
          timeslice: {{length: 5m, good_when: 0.75}}, window: {{calendar: month, timezone: America/New_York}}}}
maintenance:
  - {{name: m1, endpoints: [a], start: "{m1s}", end: "{m1e}"}}
  - {{name: m2, consumers: [shop], start: "{m2s}", end: "{m2e}"}}
  - name: sundays
    consumers: [shop]
    recurring: {{weekday: sun, start: "02:00", duration: 1h, timezone: Europe/Berlin}}
"""


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def sundays(first: float, last: float) -> list[tuple[float, float]]:
    """The recurring window's one-hour spans: 02:00 Berlin (fold=0) each Sunday."""
    out = []
    day = dt.datetime.fromtimestamp(first, dt.UTC).date() - dt.timedelta(days=1)
    while local(BERLIN, day.year, day.month, day.day) < last + 86400:
        if day.weekday() == 6:
            begin = local(BERLIN, day.year, day.month, day.day, 2)
            out.append((begin, begin + 3600))
        day += dt.timedelta(days=1)
    return out


def scenario(start_ts: float, end_ts: float, outages: list[tuple[float, float, str, str]], step: float = 300.0,
             slow: tuple[float, float] = (0, 0)) -> list[Probe]:  # fmt: skip
    """Probes of a and b every `step` (a at +17 s, b at +151 s), bad during `outages` (start, end, endpoint,
    outcome), every 97th of b an http_status, b slow (0.5 s) during `slow`."""
    probes = []
    n = 0
    ts = start_ts
    while ts < end_ts:
        for ep, off in (("a", 17.0), ("b", 151.0)):
            t = ts + off
            outcome = "success"
            for s, e, who, what in outages:
                if who == ep and s <= t < e:
                    outcome = what
            n += 1
            if ep == "b" and n % 97 == 0:
                outcome = "http_status"
            duration = 0.5 if ep == "b" and slow[0] <= t < slow[1] else 0.05 + (n % 7) * 0.04
            probes.append(Probe(ep, t, outcome, duration))
        ts += step
    return probes


def specs(excluded: tuple[tuple[float, float, frozenset[str]], ...]) -> dict[tuple[str, str], Spec]:
    ab = ("a", "b")
    return {
        ("shop", "r30"): Spec(ab, 99.9, 30 * 86400.0, excluded=excluded),
        ("shop", "r28"): Spec(ab, 99.5, 28 * 86400.0, excluded=excluded),
        ("shop", "month"): Spec(ab, 99, ("month", BERLIN), excluded=excluded),
        ("shop", "quarter"): Spec(ab, 99, ("quarter", BERLIN), excluded=excluded),
        ("shop", "week"): Spec(ab, 98, ("week", NEW_YORK), threshold=0.3, excluded=excluded),
        ("shop", "slices"): Spec(ab, 99, ("month", NEW_YORK), slice_length=300, good_when=0.75, excluded=excluded),
    }


@pytest.fixture
async def daemon_at(tmp_path: Path) -> AsyncIterator[tuple[list[Daemon], Path]]:
    started: list[Daemon] = []
    yield started, tmp_path
    for d in started:
        await d.stop()


async def run(holder: tuple[list[Daemon], Path], begin: float, end: float, m1: tuple[float, float],
              m2: tuple[float, float], outages: list[tuple[float, float, str, str]], checkpoints: list[float],
              slow: tuple[float, float] = (0, 0), step: float = 300.0) -> list[str]:  # fmt: skip
    started, tmp = holder
    text = CONFIG.format(db=tmp / "o.db", m1s=iso(m1[0]), m1e=iso(m1[1]), m2s=iso(m2[0]), m2e=iso(m2[1]))
    clock = FakeClock(begin - 60)
    daemon = await start(text, clock)
    started.append(daemon)
    excluded = (
        (m1[0], m1[1], frozenset("a")),
        (m2[0], m2[1], frozenset("ab")),
        *((s, e, frozenset("ab")) for s, e in sundays(begin, end)),
    )
    probes = scenario(begin, end, outages, step=step, slow=slow)
    return await run_scenario(daemon, clock, probes, specs(excluded), checkpoints)


async def test_autumn_dst_and_month_end_agree_with_the_oracle(daemon_at: tuple[list[Daemon], Path]) -> None:
    """Sep 20 to Nov 3, 2026: Berlin leaves DST on Oct 25 (a 25-hour day; October is 745 h), New York on
    Nov 1. An outage of a over the Berlin change night, overlapping maintenance windows over it, b slow for
    a day; checkpoints before, inside and after the changes and across the month end."""
    begin, end = utc(2026, 9, 20), utc(2026, 11, 3)
    outages = [
        (utc(2026, 10, 24, 22), utc(2026, 10, 25, 3), "a", "timeout"),  # the Berlin change night
        (utc(2026, 10, 31, 22, 40), utc(2026, 11, 1, 6, 10), "b", "connection_refused"),  # NY's change night
        (utc(2026, 10, 5, 9), utc(2026, 10, 5, 9, 20), "a", "http_status"),
    ]
    m1 = (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))  # on a, inside the outage
    m2 = (utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 45))  # the whole consumer, overlapping m1
    checkpoints = [
        utc(2026, 10, 1, 3),
        local(BERLIN, 2026, 10, 25, 3, 30),  # just after the change, outage still on
        utc(2026, 10, 25, 2, 5),
        utc(2026, 10, 31, 22, 59),  # Berlin's last minute of October (23:59 CET)
        utc(2026, 10, 31, 23, 0, 30),  # 30 s into November in Berlin
        utc(2026, 11, 1, 5),  # NY's change night (01:00 EDT -> EST at 06:00Z)
        utc(2026, 11, 2, 12, 7),
    ]
    problems = await run(daemon_at, begin, end, m1, m2, outages, checkpoints,
                         slow=(utc(2026, 10, 20), utc(2026, 10, 21)))  # fmt: skip
    assert not problems, "\n".join(problems[:40])


@pytest.mark.slow
async def test_year_change_february_and_spring_dst_agree_with_the_oracle(daemon_at: tuple[list[Daemon], Path]) -> None:
    """Dec 20, 2025 to Apr 3, 2026 (a probe per endpoint every 10 minutes): the ISO week and the quarter across
    the year change, January 31 -> February, February 28 -> March, New York's 23-hour day (Mar 8) and
    Berlin's (Mar 29, its month 743 h), the second quarter starting in Berlin two hours before UTC."""
    begin, end = utc(2025, 12, 20), utc(2026, 4, 3)
    outages = [
        (utc(2025, 12, 31, 22, 30), utc(2026, 1, 1, 0, 30), "a", "timeout"),
        (utc(2026, 2, 28, 21), utc(2026, 3, 1, 1), "b", "connection_reset"),
        (utc(2026, 3, 29, 0, 10), utc(2026, 3, 29, 2, 20), "a", "dns_error"),  # over Berlin's change (01:00Z)
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 8), "b", "timeout"),  # over New York's (07:00Z)
    ]
    m1 = (utc(2026, 3, 29, 0, 50), utc(2026, 3, 29, 1, 10))
    m2 = (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30))
    checkpoints = [
        utc(2025, 12, 31, 23, 0, 30),  # 30 s into 2026 in Berlin
        utc(2026, 1, 1, 0, 20),
        utc(2026, 1, 31, 22, 59, 59),
        utc(2026, 2, 1, 4, 59),  # New York's last minute of January
        utc(2026, 2, 28, 22, 59),
        utc(2026, 3, 1, 0, 5),
        utc(2026, 3, 8, 7, 30),
        utc(2026, 3, 29, 1, 40),
        utc(2026, 3, 31, 22, 30),  # half an hour into the second quarter in Berlin
        utc(2026, 4, 2, 23, 59),
    ]
    problems = await run(daemon_at, begin, end, m1, m2, outages, checkpoints, step=600.0)
    assert not problems, "\n".join(problems[:40])


async def test_a_leap_february_agrees_with_the_oracle(daemon_at: tuple[list[Daemon], Path]) -> None:
    """February 2028 has 29 days: the month's length (for time to exhaustion) and its end in both zones."""
    begin, end = utc(2028, 2, 1), utc(2028, 3, 2)
    outages = [(utc(2028, 2, 29, 20), utc(2028, 3, 1, 6), "a", "timeout")]
    m1 = m2 = (utc(2028, 2, 10), utc(2028, 2, 10, 1))
    checkpoints = [utc(2028, 2, 29, 22, 59), utc(2028, 2, 29, 23, 1), utc(2028, 3, 1, 4, 59), utc(2028, 3, 1, 5, 30)]
    problems = await run(daemon_at, begin, end, m1, m2, outages, checkpoints, step=600.0)
    assert not problems, "\n".join(problems[:40])


async def test_the_report_and_the_burn_down_read_the_daemons_rolling_window(tmp_path: Path) -> None:
    """`slowatch report` (and `slowatch gate --config`, which computes like it) over an SLO's own rolling window
    at 12:40 counted the hour cells starting after now - 30d, one hour fewer than the daemon's window (the
    current cell plus the 30 days before it): the report read another SLI and budget than the API."""
    import asyncio
    import json

    from tests.slo.oracle import figures
    from tests.slo.test_report import report

    path = tmp_path / "r.yaml"
    begin = utc(2026, 10, 1)
    end = utc(2026, 11, 2, 12, 40)
    path.write_text(CONFIG.format(db=tmp_path / "r.db", m1s=iso(begin), m1e=iso(begin + 1), m2s=iso(begin),
                                  m2e=iso(begin + 1)))  # fmt: skip
    clock = FakeClock(begin - 60)
    daemon = await start(path.read_text(), clock)
    try:
        outages = [(utc(2026, 10, 3, 11, 30), utc(2026, 10, 3, 13), "a", "timeout")]  # 30 days before `end` +-1h
        probes = scenario(begin, end, outages, step=600.0)
        excluded = tuple((s, e, frozenset("ab")) for s, e in sundays(begin, end))
        want = {k: v for k, v in specs(excluded).items() if k[1] in ("r30", "r28", "month")}
        assert not await run_scenario(daemon, clock, probes, want, [end])
        daemon._slo.persist()
        await daemon.store.flush()
        code, text = await asyncio.to_thread(report, path, "--format", "json", at=iso(end))
        assert code == 0
        got = {(f["consumer"], f["slo"]): f for f in json.loads(text)}
        for key, spec in want.items():
            f = figures(spec, probes, end)
            assert (got[key]["good"], got[key]["total"]) == (f.good, f.total), key
            assert got[key]["budget_remaining"] == pytest.approx(f.remaining), key
        # the consumer page's burn-down ends at the budget left its card shows (it began an hour later too)
        page = await get(daemon, "/consumers/shop")
        for name in ("r30", "r28"):
            card = page.split(f"id='slo-{name}'>")[1]
            line = re.search(r"<polyline class='burn'[^>]*><title>([^<]*)</title>", card)
            remaining = figures(want[("shop", name)], probes, end).remaining
            assert remaining is not None and line is not None
            assert f"by {percent(abs(remaining))})" in line.group(1), (name, line.group(1), remaining)
    finally:
        await daemon.stop()


async def test_a_past_months_report_and_its_worst_local_days_agree_with_the_oracle(tmp_path: Path) -> None:
    """`report --month 2026-10` of Berlin and New York SLOs: the month's units and its worst days counted in the
    zone's local days (October 25 in Berlin has 25 hours: its bad hour after the change is still the 25th)."""
    import asyncio
    import json

    from tests.slo.oracle import period, units
    from tests.slo.test_report import report

    path = tmp_path / "m.yaml"
    begin, end = utc(2026, 9, 29), utc(2026, 11, 2)
    path.write_text(CONFIG.format(db=tmp_path / "m.db", m1s=iso(begin), m1e=iso(begin + 1), m2s=iso(begin),
                                  m2e=iso(begin + 1)))  # fmt: skip
    clock = FakeClock(begin - 60)
    daemon = await start(path.read_text(), clock)
    try:
        outages = [
            (utc(2026, 10, 25, 1, 10), utc(2026, 10, 25, 1, 50), "a", "timeout"),  # 02:10-02:50 CET, the 2nd 2 am
            (utc(2026, 10, 31, 23, 0), utc(2026, 10, 31, 23, 30), "a", "timeout"),  # Nov 1 in Berlin, Oct 31 in NY
            (utc(2026, 10, 1, 3), utc(2026, 10, 1, 4), "b", "timeout"),  # Oct 1 in Berlin, Sep 30 in NY
        ]
        probes = scenario(begin, end, outages, step=600.0)
        excluded = tuple((s, e, frozenset("ab")) for s, e in sundays(begin, end))
        every = specs(excluded)
        assert not await run_scenario(daemon, clock, probes, {}, [end], persist=86400)
        daemon._slo.persist()
        await daemon.store.flush()
        code, text = await asyncio.to_thread(report, path, "--month", "2026-10", "--format", "json", at=iso(end))
        assert code == 0
        got = {f["slo"]: f for f in json.loads(text)}
        for name, zone in (("month", BERLIN), ("slices", NEW_YORK)):
            spec = every[("shop", name)]
            start_, stop = period(utc(2026, 10, 15), "month", zone)
            assert (got[name]["good"], got[name]["total"]) == units(spec, probes, start_, stop - 0.001), name
            days: dict[str, list[Probe]] = {}
            for p in probes:
                if spec.counts(p) and start_ <= p.ts < stop:
                    day = dt.datetime.fromtimestamp(p.ts, ZoneInfo(zone)).date().isoformat()
                    days.setdefault(day, []).append(p)
            worst = []
            for day, ps in days.items():
                g, t = units(spec, ps, 0, math.inf)  # (in time order already)
                if g < t:
                    worst.append((g / t, day, g, t))
            want = [(day, g, t) for _, day, g, t in sorted(worst)[:3]]
            assert [(w["day"], w["good"], w["total"]) for w in got[name]["worst_days"]] == want, name
    finally:
        await daemon.stop()

"""The same SLO at the same moment reads the same wherever a person (or a program) reads it.

A real daemon on a FakeClock with a real SQLite file, 12 hours into a calendar month in Asia/Kathmandu
(UTC+5:45: 15-minute cells), 8 probes bad of 1,440 against 99 %: 44.4 % of the budget left. Before session
11 the card's "budget left as time" (and the report's BUDGET/USED/LEFT) counted the bad time so far against
the whole month's budget (7h 8m left of 7h 12m, 99 % of it) next to "44.4 %"; the burn-down's end read
99.1 % (the whole month's expected budget); the status page aged results with the machine's clock instead of
the daemon's ("27.5d ago") and, like the report's PERIOD, did not name the calendar window's time zone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.display import budget_time_words, duration_words, percent
from slowatch.slo.report_format import span
from slowatch.slo.snapshot import SloStatus
from tests.slo.test_report import report
from tests.web.conftest import T0, fetch
from tests.web.test_extreme_figures import readable

PROBES = 1440  # one every 30 s: 12 hours
STEP = 30.0
NOW = T0 + PROBES * STEP - STEP  # the last probe


def config_text(db: Path) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", database: "{db}"}}
endpoints:
  - {{name: api, kind: http, url: "http://127.0.0.1:9/api"}}
consumers:
  - name: shop
    endpoints: [api]
    slos:
      - {{name: monthly, sli: availability, objective: 99, window: {{calendar: month, timezone: Asia/Kathmandu}},
         endpoints: [api], policy: {{freeze_below: 10%}}}}
"""


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[tuple[Daemon, Path]]:
    text = config_text(tmp_path / "agree.db")
    path = tmp_path / "agree.yaml"
    path.write_text(text)
    clock = FakeClock(T0 - 60)
    d = Daemon(load_text(text, env={}), clock=clock)
    await d.start(schedule=False)
    try:
        for i in range(PROBES):
            ts = T0 + STEP * i
            clock.set(ts)
            outcome = Outcome.CONNECTION_REFUSED if i % 180 == 0 else Outcome.SUCCESS  # 8 bad of 1,440
            d.on_result(ProbeResult("api", "http", outcome, ts, 0.05))
        d._slo.refresh()
        d._slo.persist()
        await d.store.flush()
        yield d, path
    finally:
        await d.stop()


def status(d: Daemon) -> SloStatus:
    [st] = d._slo.snapshot.slos
    assert st.budget_remaining == pytest.approx(1 - (8 / 1440) / 0.01)  # 44.4 %
    assert st.data_seconds is not None and st.data_seconds < 86400  # 12 hours of a month
    return st


def card(page: str) -> str:
    return " ".join(readable(page.split("<div class='card slo' id='slo-monthly'>")[1]).split())


async def test_the_cards_time_figures_agree_with_its_budget_left(
    daemon: tuple[Daemon, Path],
) -> None:
    d, _ = daemon
    st = status(d)
    left = percent(st.budget_remaining)
    assert left == "44.4%"
    _, _, page = await fetch(d, "/consumers/shop")
    text = card(page)
    assert f"budget left {left}" in text
    budget = 0.01 * st.data_seconds  # the budget of the 12 hours with data: 7m 12s
    time_left = budget_time_words(st.budget_remaining * budget)  # 3m 12s, not "7h 8m" (of 7h 12m)
    assert f"budget left as time, so far {time_left} of {duration_words(budget)}" in text, text
    assert "budget of the 12h with data" in text


async def test_the_burn_down_and_the_incidents_spend_the_same_budget(daemon: tuple[Daemon, Path]) -> None:
    d, _ = daemon
    left = percent(status(d).budget_remaining)
    _, _, page = await fetch(d, "/consumers/shop")
    chart = re.search(r"<polyline class='burn'[^>]*><title>([^<]*)</title>", page)
    assert chart is not None and chart.group(1).startswith(f"budget left {left} at "), chart.group(1)  # was 99.1%
    # each outage's share of the same budget: its one bad probe of the 14.4 the budget allows (was 0.12%), the
    # eight of them the 55.6% used
    shares = re.findall(r"<td>monthly ([\d.]+)%</td>", page)
    assert shares == ["6.94"] * 8, shares


async def test_the_json_api_gives_the_time_figures_on_the_same_basis(daemon: tuple[Daemon, Path]) -> None:
    d, _ = daemon
    _, _, body = await fetch(d, "/api/v1/consumers")
    [slo] = json.loads(body)["consumers"][0]["slos"]
    assert slo["budget_seconds"] == pytest.approx(0.01 * slo["data_seconds"])
    assert slo["budget_left_seconds"] == pytest.approx(slo["budget_remaining"] * slo["budget_seconds"])
    assert slo["time_zone"] == "Asia/Kathmandu"
    _, _, gate = await fetch(d, "/api/v1/consumers/shop/gate")
    assert json.loads(gate)["slos"][0]["reason"].startswith("shop/monthly: 44.4% of the error budget left")
    _, _, badge = await fetch(d, "/badges/shop/monthly.svg")
    assert "44.4% budget left" in badge


async def test_the_status_page_reads_the_daemons_clock_and_names_the_time_zone(daemon: tuple[Daemon, Path]) -> None:
    d, _ = daemon
    _, _, page = await fetch(d, "/")
    text = " ".join(readable(page).split())
    assert "connection_refused" not in text and "success" in text
    assert re.search(r"success 50 ms 0s ago", text), text  # the daemon's clock: the last probe is now (was "27.5d ago")
    assert "shop monthly 99% month (Asia/Kathmandu) 99.444% 44.4%" in text, text


def test_the_report_agrees_in_every_format(daemon: tuple[Daemon, Path]) -> None:
    d, path = daemon
    st = status(d)
    at = dt.datetime.fromtimestamp(NOW, dt.UTC).isoformat()
    code, text = report(path, "--format", "json", at=at)
    assert code == 0
    [f] = json.loads(text)
    assert f["budget_remaining"] == pytest.approx(st.budget_remaining)
    assert f["budget_seconds"] == pytest.approx(0.01 * f["data_seconds"])  # not 1 % of the whole month
    # the time with data up to now, as the page's: the report's period ends at now + 1 s (to hold a probe at
    # now), and it counted that second too: at a half minute the page read "2m" of budget, the report "3m"
    assert f["data_seconds"] == st.data_seconds
    assert f["time_zone"] == "Asia/Kathmandu"
    assert f["left_seconds"] == pytest.approx(f["budget_remaining"] * f["budget_seconds"])
    assert f["used_seconds"] == pytest.approx(f["budget_used"] * f["budget_seconds"])
    code, table = report(path, at=at)
    assert code == 0
    row = table.splitlines()[1]
    covered = span(f["data_seconds"])
    assert "month 2026-11 (Asia/Kathmandu)" in row, row
    assert "with data so far" in row and covered in row, row
    assert "44.4%" in row, row
    code, md = report(path, "--format", "markdown", at=at)
    assert code == 0
    assert "| month 2026-11 (Asia/Kathmandu) |" in md and "with data so far" in md, md
    code, page = report(path, "--format", "html", at=at)
    assert code == 0
    text = " ".join(readable(page).split())
    assert "monthly · month from 01 Nov 2026 (Asia/Kathmandu)" in text, text
    assert f"budget as time {duration_words(f['budget_seconds'])} over the 12h with data so far" in text, text
    chart = re.search(r"<polyline class='burn'[^>]*><title>([^<]*)</title>", page)
    assert chart is not None and chart.group(1).startswith("budget left 44.4% at "), chart.group(1)
    code, csv = report(path, "--format", "csv", at=at)
    assert code == 0
    head, line = csv.splitlines()[:2]
    cols = dict(zip(head.split(","), line.split(","), strict=True))
    assert float(cols["budget_total_seconds"]) == pytest.approx(f["budget_seconds"], abs=0.1)
    assert float(cols["data_seconds"]) == pytest.approx(f["data_seconds"], abs=0.1)


async def test_rollups_default_to_the_last_7_days_of_the_daemons_clock(daemon: tuple[Daemon, Path]) -> None:
    """Without `since`, the last 7 days by the daemon's Clock (before: the machine's, which on a FakeClock set
    weeks back, or a clock stepped, left out every stored hour)."""
    d, _ = daemon
    _, _, body = await fetch(d, "/api/v1/endpoints/api/rollups")
    rows = json.loads(body)["rollups"]
    assert sum(r["total"] for r in rows) == PROBES, rows


async def test_the_status_page_never_says_a_probe_took_0_ms(daemon: tuple[Daemon, Path]) -> None:
    """A refused connection on loopback takes ~0.3 ms: the status page's time column read "0 ms"."""
    d, _ = daemon
    d.on_result(ProbeResult("api", "http", Outcome.CONNECTION_REFUSED, d.now(), 0.0003, message="refused"))
    _, _, page = await fetch(d, "/")
    text = " ".join(readable(page).split())
    assert "connection_refused under 1 ms refused 0s ago" in text, text

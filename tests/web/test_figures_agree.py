"""The same SLO at the same moment reads the same wherever a person (or a program) reads it.

A real daemon on a FakeClock with a real SQLite file, 12 hours into a calendar month in Asia/Kathmandu
(UTC+5:45: 15-minute cells), 8 probes bad of 1,440 against 99 %: 44.4 % of the budget left. Before session
11 the card's "budget left as time" (and the report's BUDGET/USED/LEFT) counted the bad time so far against
the whole month's budget (7h 8m left of 7h 12m, 99 % of it) next to "44.4 %"; the burn-down's end read
99.9 % (the whole month's expected budget); the status page aged results with the machine's clock instead of
the daemon's ("27.5d ago") and, like the report's PERIOD, did not name the calendar window's time zone.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.snapshot import SloStatus
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


async def test_the_status_page_reads_the_daemons_clock(daemon: tuple[Daemon, Path]) -> None:
    d, _ = daemon
    _, _, page = await fetch(d, "/")
    text = " ".join(readable(page).split())
    assert "connection_refused" not in text and "success" in text
    assert re.search(r"success 50 ms 0s ago", text), text  # the daemon's clock: the last probe is now (was "27.5d ago")


async def test_rollups_default_to_the_last_7_days_of_the_daemons_clock(daemon: tuple[Daemon, Path]) -> None:
    """Without `since`, the last 7 days by the daemon's Clock (before: the machine's, which on a FakeClock set
    weeks back, or a clock stepped, left out every stored hour)."""
    d, _ = daemon
    _, _, body = await fetch(d, "/api/v1/endpoints/api/rollups")
    rows = json.loads(body)["rollups"]
    assert sum(r["total"] for r in rows) == PROBES, rows

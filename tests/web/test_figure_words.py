"""Spans read alike wherever they are shown, and never as the whole of something when they are a share.

A real daemon on a FakeClock with a real SQLite file; the consumer page and `slowatch report --format html`
read the same SLO at the same moment."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from tests.slo.test_report import report
from tests.web.conftest import T0, fetch
from tests.web.test_extreme_figures import readable

STEP = 30.0


def config_text(db: Path, objective: str) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", database: "{db}"}}
endpoints:
  - {{name: api, kind: http, url: "http://127.0.0.1:9/api"}}
consumers:
  - name: shop
    endpoints: [api]
    slos:
      - {{name: weekly, sli: availability, objective: {objective}, window: 7d, endpoints: [api]}}
"""


async def probed(tmp_path: Path, objective: str, probes: int, bad: set[int]) -> AsyncIterator[tuple[Daemon, Path]]:
    text = config_text(tmp_path / "words.db", objective)
    path = tmp_path / "words.yaml"
    path.write_text(text)
    clock = FakeClock(T0 - 60)
    d = Daemon(load_text(text, env={}), clock=clock)
    await d.start(schedule=False)
    try:
        for i in range(probes):
            clock.set(T0 + STEP * i)
            outcome = Outcome.CONNECTION_REFUSED if i in bad else Outcome.SUCCESS
            d.on_result(ProbeResult("api", "http", outcome, T0 + STEP * i, 0.05))
        d._slo.refresh()
        d._slo.persist()
        await d.store.flush()
        yield d, path
    finally:
        await d.stop()


def card(page: str) -> str:
    return " ".join(readable(page.split("<div class='card slo' id='slo-weekly'>")[1]).split())


async def test_a_budget_barely_touched_does_not_read_as_all_of_it_left(tmp_path: Path) -> None:
    """1 bad probe of 1,250 against 90 %: 99.2 % of the budget left, of 1h 2m 30s; the card read "so far 1h 2m
    of 1h 2m" next to "99.2%", as if nothing was spent."""
    async for d, _ in probed(tmp_path, "90", 1250, {600}):
        _, _, page = await fetch(d, "/consumers/shop")
        text = card(page)
        assert "budget left 99.2%" in text, text
        found = re.search(r"budget left as time, so far (.+?) of (.+?) budget of", text)
        assert found is not None, text
        assert found.group(1) != found.group(2), found.groups()  # was "1h 2m of 1h 2m"


async def test_a_budget_still_collecting_data_is_no_time_on_the_page_nor_in_the_report(tmp_path: Path) -> None:
    """40 probes against 99.9 % (1,000 needed for one bad one): the consumer page's budget as time read "n/a",
    the HTML report's "1s" (the budget of 20 minutes of data), which reads like a figure to act on."""
    async for d, path in probed(tmp_path, "99.9", 40, set()):
        _, _, page = await fetch(d, "/consumers/shop")
        assert "budget left as time n/a" in card(page), card(page)
        at = dt.datetime.fromtimestamp(T0 + STEP * 40, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        code, html = await asyncio.to_thread(report, path, "--format", "html", at=at)  # (SQLite: off the loop)
        assert code == 0
        text = " ".join(readable(html).split())
        assert "collecting data" in text, text
        assert "budget as time n/a" in text, text

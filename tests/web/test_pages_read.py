"""The pages and reports as a consumer reads them under extreme data: an outage going on for days, a
month without data, the state column of `slowatch report`."""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from slowatch.report import add_report_arguments, run_report
from slowatch.slo.consumer_view import consumer_figures
from slowatch.web.consumer_html import ENDPOINT_BARS
from tests.slo.test_daybars_drawn import before_section
from tests.web.conftest import T0, fetch

DAYS = 4
NOW = T0 + DAYS * 86400  # 2026-11-14 00:00 UTC

CONFIG = """
server: {{listen: "127.0.0.1:0", database: "{db}"}}
endpoints:
  - {{name: up, kind: http, url: "http://127.0.0.1:9/up"}}
  - {{name: down, kind: http, url: "http://127.0.0.1:9/down"}}
consumers:
  - name: shop
    endpoints: [up, down]
    slos:
      - {{name: month, sli: availability, objective: 99.9, window: {{calendar: month, timezone: UTC}}}}
      - {{name: slightly, sli: availability, objective: 64, window: 7d}}
"""


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[Daemon]:
    """`down` fails from one day in to now (3 days, ongoing); `up` never fails."""
    config = load_text(CONFIG.format(db=tmp_path / "outage.db"), env={})
    (tmp_path / "slowatch.yaml").write_text(CONFIG.format(db=tmp_path / "outage.db"))
    clock = FakeClock(T0 - 60)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        ts = T0
        while ts < NOW:
            clock.set(ts)
            daemon.on_result(ProbeResult("up", "http", Outcome.SUCCESS, ts, 0.05))
            down = ts >= T0 + 86400
            outcome = Outcome.CONNECTION_REFUSED if down else Outcome.SUCCESS
            daemon.on_result(ProbeResult("down", "http", outcome, ts, 0.05, message="refused" if down else ""))
            ts += 600
        clock.set(NOW)
        daemon._slo.refresh()
        daemon._slo.persist()
        await daemon.store.flush()
        yield daemon
    finally:
        await daemon.stop()


def cli_report(config: Path, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    args = parser.parse_args(["--config", str(config), "--at", "2026-11-14T00:00:00Z", *argv])
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        assert run_report(args) == 0
    return out.getvalue()


async def test_a_month_without_data_has_no_worst_days_rather_than_none_below_100(
    outage: Daemon, tmp_path: Path
) -> None:
    status, _, html = await fetch(outage, "/consumers/shop/report?month=2026-10")
    assert status == 200 and "No data for this period." in html
    worst = html[html.index("Worst days") :]
    assert "none below 100%" not in worst[:200] and "<p>no data</p>" in worst[:200]
    # No data, no budget as time: it read the whole month's (44m38s at 99.9%), which no data stood behind.
    figures = re.findall(r"<span>budget as time</span><b>([^<]*)</b>", html)
    assert figures and set(figures) == {"no data"}, figures
    for fmt in ("table", "markdown"):
        text = await asyncio.to_thread(cli_report, tmp_path / "slowatch.yaml", "--month", "2026-10", "--format", fmt)
        rows = [line.split() for line in text.splitlines() if line.startswith(("shop ", "| month", "| slightly"))]
        assert len(rows) == 2 and all("44m38s" not in r and "11d3h50m24s" not in r for r in rows), text


async def test_an_ongoing_outage_says_how_long_it_has_lasted(outage: Daemon, tmp_path: Path) -> None:
    status, _, html = await fetch(outage, "/consumers/shop/report")
    assert status == 200
    incidents = html[html.index("<h3>Incidents</h3>") :]
    assert re.search(r"<td>3d \(ongoing\)</td><td[^>]*>down</td>", incidents), incidents[:600]
    for fmt in ("table", "markdown"):
        text = await asyncio.to_thread(cli_report, tmp_path / "slowatch.yaml", "--format", fmt)
        assert "down for ongoing" not in text
        assert "down down for 3d (still down at 2026-11-14 00:00 UTC) (connection_refused: refused)" in text, text


async def test_the_report_tables_state_column_says_exhausted(outage: Daemon, tmp_path: Path) -> None:
    """The state column of `slowatch report` agrees with the LEFT% column (and with the pages)."""
    text = await asyncio.to_thread(cli_report, tmp_path / "slowatch.yaml")
    row = text.splitlines()[1]
    assert "exhausted (spent" in row and row.split()[-1] == "exhausted", row


async def test_json_escaped_emoji_in_the_config_render(tmp_path: Path) -> None:
    """JSON is YAML: a description written as "\\ud83d\\udd25" (json.dumps' escape of 🔥) is one emoji, not two
    lone surrogates that made the consumer page a 500 (UnicodeEncodeError); a lone one reads U+FFFD."""
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "emoji.db"}"}}
endpoints: [{{name: up, kind: http, url: "http://127.0.0.1:9/up"}}]
consumers:
  - name: shop
    description: "on fire \\ud83d\\udd25, lone \\udc80"
    endpoints: [up]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
""",
        env={},
    )
    assert config.consumers[0].description == "on fire \U0001f525, lone \ufffd"
    daemon = Daemon(config, clock=FakeClock(T0))
    await daemon.start(schedule=False)
    try:
        status, _, page = await fetch(daemon, "/consumers/shop")
        assert status == 200 and "on fire \U0001f525, lone \ufffd" in page
    finally:
        await daemon.stop()


async def test_a_consumer_of_many_endpoints_draws_the_worst_fifty(tmp_path: Path) -> None:
    """2,000 endpoints' 90 daily bars made a 24 MB page that took chromium 4 s: the page draws the 50 with the
    most missed days (a failing one last in the config among them) and says what the others did."""
    endpoints = "\n".join(f"  - {{name: e{i:02d}, kind: http, url: 'http://127.0.0.1:9/{i}'}}" for i in range(60))
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "many.db"}"}}
endpoints:
{endpoints}
consumers:
  - name: many
    endpoints: [{", ".join(f"e{i:02d}" for i in range(60))}]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
""",
        env={},
    )
    clock = FakeClock(T0 - 60)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        for ts in range(int(T0), int(T0) + 86400, 600):
            clock.set(ts)
            for i in range(60):
                outcome = Outcome.CONNECTION_REFUSED if i == 59 and ts < T0 + 3600 else Outcome.SUCCESS
                daemon.on_result(ProbeResult(f"e{i:02d}", "http", outcome, ts, 0.05))
        clock.set(T0 + 86400)
        daemon._slo.refresh()
        await daemon.store.flush()
        status, _, page = await fetch(daemon, "/consumers/many")
        assert status == 200 and "depends on 60 endpoints" in page
        drawn = re.findall(r"<div class='endpoint'><div>(e\d\d)</div>", page)
        assert len(drawn) == 50 and "e59" in drawn and drawn == sorted(drawn)  # in config order
        assert "10 more endpoints not drawn, none of which missed the objective on any day" in page
    finally:
        await daemon.stop()


async def test_the_endpoints_section_is_what_it_was_when_every_endpoints_bars_were_built(tmp_path: Path) -> None:
    """60 endpoints, 50 drawn: the page builds the bars of those 50 only (slo/daybars.py `drawn_endpoint_days`);
    its section is the one the page made from all 60 endpoints' bars (ranked by missed days, ties in order)."""
    endpoints = "\n".join(f"  - {{name: e{i:02d}, kind: http, url: 'http://127.0.0.1:9/{i}'}}" for i in range(60))
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "ranked.db"}"}}
endpoints:
{endpoints}
consumers:
  - name: many
    endpoints: [{", ".join(f"e{i:02d}" for i in range(60))}]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
""",
        env={},
    )
    clock = FakeClock(T0 - 60)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        for ts in range(int(T0), int(T0) + 3 * 86400, 1800):
            clock.set(ts)
            day, hour = divmod(ts - int(T0), 86400)
            for i in range(60):  # hours failed on some days: bad days, degraded ones, ties, and none
                bad = i % 7 == 3 and (day + i) % 3 != 0 and hour < 3600 * (1 + i % 4)
                degraded = i % 10 != 0 and (day + i) % 2 == 0 and hour == 0  # 1 of 48: 97.9 % < 99 %
                outcome = Outcome.CONNECTION_REFUSED if bad or degraded else Outcome.SUCCESS
                daemon.on_result(ProbeResult(f"e{i:02d}", "http", outcome, ts, 0.05))
        clock.set(T0 + 3 * 86400)
        daemon._slo.refresh()
        await daemon.store.flush()
        status, _, page = await fetch(daemon, "/consumers/many")
        consumer, snapshot = config.consumers[0], daemon._slo.snapshot
        everything = await daemon.store.read(
            lambda db: consumer_figures(db.conn, config, consumer, snapshot, clock.time())
        )
        assert len(everything.endpoint_days) == 60
        names, section = before_section(everything.endpoint_days, ENDPOINT_BARS)
        assert status == 200 and section in page
        assert len(names) == 50 and names != [f"e{i:02d}" for i in range(50)]  # ranked, not the first 50
        assert "10 more endpoints not drawn, which together missed the objective on " in section
    finally:
        await daemon.stop()


async def test_a_budget_slightly_overspent_has_readable_axis_labels(outage: Daemon) -> None:
    """3 of 8 probes bad at 64%: overspent by 4.17%. The burn-down's axis goes down to -4%, and that label
    sat on top of the 0% one; labels closer than a line of text are not drawn."""
    status, _, page = await fetch(outage, "/consumers/shop")
    assert status == 200 and "exhausted (overspent by 4.17%)" in page
    axis = r"<div class='yaxis'[^>]*>((?:<span[^>]*>[^<]*</span>)*)</div>"
    chart = re.search(axis + r"<svg[^>]*aria-label='slightly:", page)
    assert chart is not None
    labels = sorted(float(top) for top in re.findall(r"<span style='top:([\d.]+)%'>", chart.group(1)))
    # apart by a line of 13 px text (~14 px) where the chart is smallest: 160 px high on a phone
    assert len(labels) >= 3 and all((b - a) / 100 * 160 >= 14 for a, b in itertools.pairwise(labels)), labels

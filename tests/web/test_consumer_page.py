"""`/consumers/{consumer}`: figures, burn-down, daily history, incidents and maintenance from real history."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import aiohttp

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from tests.web.conftest import HOURS, OUTAGE, T0, Builder, fetch


async def test_consumer_page_shows_each_slo_with_chart_days_incidents_and_maintenance(build: Builder) -> None:
    daemon = await build()
    status, ctype, page = await fetch(daemon, "/consumers/checkout")
    assert status == 200 and ctype.startswith("text/html")
    assert "<script" not in page and "http://" not in page.replace("http://127.0.0.1", "")  # no CDN, no scripts
    assert "Checkout web and mobile apps" in page
    # Each SLO: objective and window, state, SLI, budget, burn rates per alerting window.
    assert "objective 99% over 7d" in page and "calendar month (Europe/Berlin)" in page
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"<th>{window}</th>" in page
    # 6 bad of 840 counted probes at 99%: about 70% of the budget spent, not exhausted.
    cards = dict(re.findall(r"<div class='card slo' id='slo-([\w-]+)'>(.*?)</svg></div>", page, re.S))
    assert set(cards) == {"availability", "monthly"}
    assert "st-ok" in cards["availability"] or "st-burning" in cards["availability"]
    # Burn-down: one point per hour with counted probes plus the start; the 2 maintenance hours count none.
    points = re.findall(r"<svg class='chart burndown'[^>]*data-points='(\d+)'", page)
    assert [int(p) for p in points] == [HOURS - 2 + 1, HOURS - 2 + 1]
    # The rolling window's line ends at the budget left the card shows (the engine's figure).
    shown = re.search(r"<span>budget left</span><b>([\d.]+%)</b>", cards["availability"])
    assert shown and f"<title>budget left {shown.group(1)} at " in cards["availability"]
    assert "latency ≤ 300ms" in cards["monthly"]
    assert page.count("class='maint'") >= 2 and page.count("class='outage'") == 2
    # A calendar month: the whole of November on the x axis, its ends in the month's own time zone (in UTC,
    # Berlin's midnights read "31 Oct" and "30 Nov": November drawn from October 31st).
    axis = re.findall(r"<div class='xaxis'[^>]*><span>([^<]*)</span><span>([^<]*)</span>", cards["monthly"])
    assert axis == [("01 Nov", "01 Dec")], axis
    # Daily history: 90 bars per SLO and per endpoint, with the day's figures in the title.
    assert page.count("data-days='90'") == 4
    assert "2026-11-11: missed the objective" in page or "2026-11-11: missed it badly" in page
    assert re.search(r"2026-11-10: met the objective, 100% \(288 of 288 probes good\)", page)
    # Incidents: the hour pay was down, with the budget its hour spent.
    incidents = page[page.index("<h2>Incidents</h2>") :]
    assert "2026-11-11 06:00 UTC" in incidents and "1h" in incidents and "pay" in incidents
    assert re.search(r"availability \d+(\.\d+)?%", incidents)
    assert "connection refused by 127.0.0.1:9" in incidents


async def test_partner_page_and_overview_links(build: Builder) -> None:
    daemon = await build()
    status, _, page = await fetch(daemon, "/consumers/partner")
    assert status == 200 and "No outage in this period." in page
    status, _, overview = await fetch(daemon, "/")
    assert "href='/consumers/checkout'" in overview and "href='/consumers/partner'" in overview
    assert (await fetch(daemon, "/consumers/nobody"))[0] == 404
    assert OUTAGE[0] > T0


async def test_report_route_and_badges(build: Builder) -> None:
    daemon = await build()
    status, ctype, html = await fetch(daemon, "/consumers/checkout/report?month=2026-11")
    assert status == 200 and ctype.startswith("text/html")
    assert "Service report: checkout, November 2026" in html and "@media print" in html
    assert "mostly by the 11 Nov pay outage (1h)" in html
    monthly = html[html.index("id='slo-monthly'") :]  # its axis dated in Berlin, as on the page
    assert re.findall(r"<div class='xaxis'[^>]*><span>([^<]*)</span><span>([^<]*)</span>", monthly) == [
        ("01 Nov", "01 Dec")
    ]
    status, _, text = await fetch(daemon, "/consumers/checkout/report?month=November")
    assert status == 400 and "month: must be YYYY-MM" in text
    for month in ("9999-12", "0001-01", "1969-12", "10000-01"):  # past the calendar's ends: a 400, not a 500
        status, _, text = await fetch(daemon, f"/consumers/checkout/report?month={month}")
        assert status == 400 and "from 1970-01 to 9998-12" in text, (month, status, text)
    status, ctype, svg = await fetch(daemon, "/badges/checkout/availability.svg")
    assert status == 200 and ctype.startswith("image/svg+xml")
    assert re.search(r"<title>checkout availability: [\d.]+% budget left</title>", svg) and "#1a7f37" in svg
    status, _, svg = await fetch(daemon, "/badges/checkout/availability.svg?show=sli")
    assert "<title>checkout availability: 99.285%</title>" in svg
    assert (await fetch(daemon, "/badges/checkout/availability.svg?show=everything"))[0] == 400
    assert (await fetch(daemon, "/badges/checkout/nope.svg"))[0] == 404


async def test_a_budget_burnt_hundreds_of_times_over_reads_sensibly(tmp_path: Path) -> None:
    """20 of 24 hours down at 99.9%: the budget is spent ~833 times. The card says so in words, and
    the burn-down stops at -100% instead of putting -83,233% (or -83,333,335,590%) on its axis."""
    db = tmp_path / "burnt.db"
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{db}"}}
endpoints: [{{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}}]
consumers:
  - name: burnt
    endpoints: [pay]
    slos:
      - {{name: availability, sli: availability, objective: 99.9, window: 7d}}
      - {{name: tight, sli: availability, objective: 99.9999999, window: 7d}}
""",
        env={},
    )
    clock = FakeClock(T0 - 60)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        for i in range(24 * 120):
            ts = T0 + 30 * i
            clock.set(ts)
            outcome = Outcome.CONNECTION_REFUSED if i < 20 * 120 else Outcome.SUCCESS
            daemon.on_result(ProbeResult("pay", "http", outcome, ts, 0.05))
        daemon._slo.refresh()
        daemon._slo.persist()
        await daemon.store.flush()
        for path in ("/consumers/burnt", "/consumers/burnt/report"):
            status, _, page = await fetch(daemon, path)
            assert status == 200
            # the card (and the report's "833x the budget used"), in words: not "overspent by 83,233.3%"
            assert "833\u00d7" in page and "83,233" not in page
            charts = "".join(re.findall(r"<div class='burnchart'>.*?<div class='xaxis'.*?</div></div>", page, re.S))
            assert charts.count("<title>budget exhausted (spent 833\u00d7 its budget) at ") == 1, path
            collecting = "<p class='note collecting'>collecting data: "
            assert charts.count(collecting) == 1, path  # tight: 2,880 of 1,000,000,028 probes
            assert not re.findall(r"-\d{1,3},\d{3}(,\d{3})*(\.\d+)?%", charts), path  # no -1,000% or beyond
            assert "≤-100%" in charts
            assert "99.9999999%" in page and "100%</b>" not in page  # the objective as written, not rounded up
        status, _, overview = await fetch(daemon, "/")
        assert "<td>99.9999999%</td>" in overview and "<td>99.9%</td>" in overview
    finally:
        await daemon.stop()


async def test_the_maintenance_table_shows_a_windows_real_start_and_end(tmp_path: Path) -> None:
    """A window that began 2 h ago and lasts 10 days: the table read "from" now (the start clipped to the
    page's time) and "until" a week from now (the end clipped to the lookahead), a different window."""
    now = T0 + 86400
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "maint.db"}"}}
endpoints: [{{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}}]
consumers:
  - name: shop
    endpoints: [pay]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
maintenance:
  - {{name: long-migration, endpoints: [pay], start: "2026-11-10T22:00:00Z", end: "2026-11-21T22:00:00Z"}}
""",
        env={},
    )
    clock = FakeClock(now)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        _, _, page = await fetch(daemon, "/consumers/shop")
        table = page[page.index("<h2>Maintenance</h2>") : page.index("<h2>Endpoints it depends on</h2>")]
        row = re.findall(r"<tr><td>long-migration</td>(.*?)</tr>", table)
        assert row == ["<td>2026-11-10 22:00 UTC</td><td>2026-11-21 22:00 UTC</td><td>active now</td>"], table
    finally:
        await daemon.stop()


async def test_the_burn_down_of_an_slo_collecting_data_draws_no_budget_line(tmp_path: Path) -> None:
    """One bad probe of 300 at 99.99 %: too few to judge (10,000 needed), and the card says "collecting". Its
    burn-down drew the budget plunging to "≤-100%" all the same, on the page and in the report."""
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "few.db"}"}}
endpoints: [{{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}}]
consumers:
  - name: shop
    endpoints: [pay]
    slos: [{{name: strict, sli: availability, objective: 99.99, window: 7d}}]
""",
        env={},
    )
    clock = FakeClock(T0 - 60)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        for i in range(300):
            ts = T0 + 60 * i
            clock.set(ts)
            outcome = Outcome.CONNECTION_REFUSED if i == 150 else Outcome.SUCCESS
            daemon.on_result(ProbeResult("pay", "http", outcome, ts, 0.05))
        clock.set(T0 + 60 * 300)
        daemon._slo.refresh()
        daemon._slo.persist()
        await daemon.store.flush()
        for path in ("/consumers/shop", "/consumers/shop/report"):
            _, _, page = await fetch(daemon, path)
            [chart] = re.findall(r"<div class='burnchart'>.*?<div class='xaxis'.*?</div></div>", page, re.S)
            assert "<polyline class='burn'" not in chart, path
            labels = re.findall(r"<(?:span|p)[^>]*>([^<]*)</(?:span|p)>", chart)
            assert "collecting data: 300 of 10,000 probes needed" in labels, (path, labels)
            assert not [x for x in labels if x.startswith(("-", "≤"))], (path, labels)
    finally:
        await daemon.stop()


async def test_pages_are_sent_gzipped_to_a_client_that_accepts_it(build: Builder) -> None:
    """A consumer page of 200 SLOs over 2,000 endpoints weighed 4.3 MB, sent as it is (gzip: 110 KB). The
    pages, the report and the JSON go gzipped to a client that asks; /metrics keeps its own negotiation."""
    daemon = await build()
    base = f"http://127.0.0.1:{daemon.bound_port}"
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        for path in ("/", "/consumers/checkout", "/consumers/checkout/report", "/api/v1/consumers"):
            async with s.get(base + path, headers={"Accept-Encoding": "gzip"}) as r:
                assert r.status == 200 and r.headers.get("Content-Encoding") == "gzip", path
                body = gzip.decompress(await r.read())
                assert b"checkout" in body and int(r.headers["Content-Length"]) < len(body), path
                assert r.headers.get("Vary") == "Accept-Encoding", path  # a cache keeps the two apart
            async with s.get(base + path, headers={"Accept-Encoding": "identity"}) as r:
                assert "Content-Encoding" not in r.headers and b"checkout" in await r.read(), path
                assert r.headers.get("Vary") == "Accept-Encoding", path
        async with s.get(base + "/healthz", headers={"Accept-Encoding": "gzip"}) as r:
            assert "Content-Encoding" not in r.headers  # a few bytes: not worth it


async def test_a_thousand_endpoints_are_counted_with_a_separator(tmp_path: Path) -> None:
    """The page's head read "depends on 2000 endpoints" where every other count reads 2,000."""
    eps = "\n".join(f'  - {{name: e{i:04d}, kind: http, url: "http://127.0.0.1:9/{i}"}}' for i in range(1000))
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "many.db"}"}}
endpoints:
{eps}
consumers:
  - name: shop
    endpoints: [{", ".join(f"e{i:04d}" for i in range(1000))}]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
""",
        env={},
    )
    daemon = Daemon(config, clock=FakeClock(T0))
    await daemon.start(schedule=False)
    try:
        _, _, page = await fetch(daemon, "/consumers/shop")
        assert "depends on 1,000 endpoints" in page and "950 more endpoints not drawn" in page
    finally:
        await daemon.stop()

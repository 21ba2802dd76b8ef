"""Composite (journey) SLOs and budget corrections on every face: consumer page, status page, reports
(HTML and text), badges, the API, /metrics and the demo table, from the `build` daemon's real history."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
from collections import Counter
from typing import Any

from slowatch.daemon import Daemon
from slowatch.demo import render_table
from slowatch.report import collect, render
from slowatch.store.correction_tables import insert_correction
from tests.web.conftest import JOURNEY, OUTAGE, T0, Builder, fetch

WORDS = "journey: serial of checkout/availability, partner/availability"


async def test_a_composite_slo_shows_what_it_is_everywhere(build: Builder) -> None:
    daemon = await build(checkout_slos=JOURNEY)
    _, _, page = await fetch(daemon, "/consumers/checkout")
    card = re.search(r"<div class='card slo' id='slo-journey'>(.*?)</svg></div>", page, re.S)
    assert card and f"{WORDS} · objective 98% over 7d · per timeslice" in card.group(1)
    assert "latency" not in card.group(1) and "n/a" not in card.group(1)
    # 72 h of 10-minute slices, 6 of them in pay's outage hour: 426 of 432 good at 98%.
    assert "<span>SLI</span><b>98.611%</b>" in card.group(1) and "<span>timeslices counted</span><b>432</b>" in page
    _, _, overview = await fetch(daemon, "/")
    assert f"journey<div class='muted'>{WORDS}</div>" in overview
    _, _, html = await fetch(daemon, "/consumers/checkout/report?month=2026-11")
    section = html[html.index("id='slo-journey'") :]
    assert WORDS in section and "<span>timeslices</span><b>432</b>" in section
    # what the promise means, as on the page (the report showed only the consumer's description)
    assert f"{WORDS} · pay, then the partner&#x27;s confirmation</div>" in section
    assert "in its members' figures" in section  # not "0 probes excluded"
    _, _, svg = await fetch(daemon, "/badges/checkout/journey.svg")
    assert "<title>checkout journey: 30.6% budget left</title>" in svg
    doc = json.loads((await fetch(daemon, "/api/v1/consumers"))[2])
    journey = next(s for s in doc["consumers"][0]["slos"] if s["slo"] == "journey")
    assert (journey["sli_kind"], journey["measures"], journey["units"]) == ("composite", WORDS, "timeslices")
    assert (journey["good"], journey["total"]) == (426, 432)
    metrics = (await fetch(daemon, "/metrics"))[2]  # the counters Prometheus rules read: final slices
    assert 'slowatch_slo_events_total{consumer="checkout",slo="journey"} 432.0' in metrics
    assert 'slowatch_slo_good_events_total{consumer="checkout",slo="journey"} 426.0' in metrics
    table = render_table(daemon, {e.name: Counter() for e in daemon.config.endpoints})
    assert f"SLO checkout/journey ({WORDS}): budget left 30.6%" in table
    args = argparse.Namespace(consumer="checkout", slo="journey", month=(2026, 11), window=None, objective=None)
    figures = await asyncio.to_thread(report_figures, daemon, args)
    assert f"  {WORDS}" in render(figures, "table") and WORDS.capitalize() in render(figures, "markdown")


async def test_reports_and_pages_list_corrections_with_the_budget_they_returned(build: Builder) -> None:
    daemon = await build(checkout_slos=JOURNEY)
    before = daemon.slo_snapshot().get("checkout", "availability")
    assert before is not None and (before.good, before.total) == (834, 840)
    row = {"created_at": T0 + 70 * 3600, "author": "ops-token", "action": "correct", "consumer": "checkout",
           "endpoint": "pay", "start": OUTAGE[0], "end": OUTAGE[1], "reason": "our own network"}  # fmt: skip
    cid = await asyncio.to_thread(insert_row, daemon, row)
    assert await daemon._slo.sync_corrections() == 1
    await daemon.store.flush()
    after = daemon.slo_snapshot().get("checkout", "availability")
    assert after is not None and (after.good, after.total) == (834, 834)  # pay's 6 failed probes excluded
    _, _, page = await fetch(daemon, "/consumers/checkout")
    card = re.search(r"id='slo-availability'>(.*?)<h3 style='margin-top:.8rem'>Last", page, re.S)
    assert card and "<table class='corrections'>" in card.group(1)
    assert "our own network" in card.group(1) and "by ops-token" in card.group(1) and "endpoint pay" in card.group(1)
    # 6 bad probes of the week's budget of 8.34 (834 x 1%) returned.
    assert "6 bad units fewer (6 excluded) (71.9% of the budget)" in card.group(1)
    assert "class='correction'" in card.group(1)  # marked on the burn-down
    journey = page[page.index("id='slo-journey'") :]  # its member was corrected: so was the journey
    assert f"#{cid}" in journey and "6 bad units fewer (" in journey
    _, _, html = await fetch(daemon, "/consumers/checkout/report?month=2026-11")
    assert html.count("<td>our own network<div") == 3  # availability, monthly, journey
    assert "6 bad units fewer (6 excluded)" in html
    args = argparse.Namespace(consumer="checkout", slo="availability", month=None, window=None, objective=None)
    with sqlite3.connect(daemon.config.server.database) as conn:
        conn.execute("INSERT INTO corrections (created_at, author, action, consumer, start, end, reason, revokes) "
                     "VALUES (?, 'cli:alice', 'revoke', 'checkout', ?, ?, 'a real outage after all', ?)",
                     (T0 + 71 * 3600, OUTAGE[0], OUTAGE[1], cid))  # fmt: skip
    assert await daemon._slo.sync_corrections() == 1
    await daemon.store.flush()
    figures = await asyncio.to_thread(report_figures, daemon, args)
    text = render(figures, "table")
    assert f"correction: #{cid} 2026-11-11 06:00 UTC to 2026-11-11 07:00 UTC (endpoint pay) by ops-token" in text
    assert "revoked 2026-11-12 23:00 UTC by cli:alice" in text
    rows = render(figures, "csv").splitlines()
    assert rows[0].endswith("incidents,corrections,corrected_bad_units,data_seconds")
    assert rows[1].rsplit(",", 1)[0].endswith(",1,0")
    assert json.loads(render(figures, "json"))[0]["corrections"][0]["revoked"] is True
    _, _, page = await fetch(daemon, "/consumers/checkout")
    assert "revoked 2026-11-12 23:00 UTC by cli:alice: a real outage after all" in page
    assert "none (revoked)" in page and "class='correction'" not in page


def report_figures(daemon: Daemon, args: argparse.Namespace) -> Any:
    """What `slowatch report` computes, read as the CLI does: its own connection, off the event loop."""
    with sqlite3.connect(daemon.config.server.database) as conn:
        return collect(daemon.config, conn, args, T0 + 72 * 3600)


def insert_row(daemon: Daemon, row: dict[str, Any]) -> int:
    """A correction written as `slowatch correct` writes it: its own connection, off the event loop."""
    with sqlite3.connect(daemon.config.server.database) as conn:
        return insert_correction(conn, row)

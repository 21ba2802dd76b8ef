"""Figures near their edges, read where a person reads them, from a real daemon over a real SQLite file.

- a budget almost whole (one bad probe of 5,000 at 50%: 99.96% left) never reads "100%", on the badge,
  the consumer page or the status page;
- a 1h SLO's burn-rate threshold (0.02x) is not "0.0x" in the alert's summary;
- maintenance on one endpoint (and an outage) is drawn only on the SLOs and endpoint bars it concerns;
- the deploy gate's reason does not round the budget left onto its freeze line or 100%;
- `slowatch report`: an incident ongoing for under a minute is not "down for 0s", counts have separators,
  a journey's maintenance is not "0 probes excluded".
"""

from __future__ import annotations

import asyncio
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
from slowatch.slo.display import duration_words, percent
from tests.slo.test_report import report
from tests.web.conftest import T0, fetch
from tests.web.test_extreme_figures import readable

PROBES = 5000  # one every 30 s: 41.7 h
WORN = 1876  # bad probes of `worn`: 1 - (1876/5000)/0.5 = 24.96% of its budget left, just under its 25% line


def config_text(db: Path) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", database: "{db}"}}
endpoints:
  - {{name: nearly, kind: http, url: "http://127.0.0.1:9/nearly"}}
  - {{name: down, kind: http, url: "http://127.0.0.1:9/down"}}
  - {{name: patched, kind: http, url: "http://127.0.0.1:9/patched"}}
  - {{name: worn, kind: http, url: "http://127.0.0.1:9/worn"}}
  - {{name: flaky, kind: http, url: "http://127.0.0.1:9/flaky"}}
consumers:
  - name: edge
    endpoints: [nearly, down, patched, worn, flaky]
    slos:
      - {{name: nearly, sli: availability, objective: 50, window: 7d, endpoints: [nearly],
         policy: {{max_burn_rate: 9}}}}
      - {{name: worn, sli: availability, objective: 50, window: 7d, endpoints: [worn], policy: {{freeze_below: 25%}}}}
      - {{name: hour, sli: availability, objective: 50, window: 1h, endpoints: [down]}}
      - {{name: patched, sli: availability, objective: 99, window: 7d, endpoints: [patched]}}
      - {{name: flaky, sli: availability, objective: 99, window: 7d, endpoints: [flaky]}}
      - {{name: journey, objective: 99, window: 7d,
         composite: {{method: serial, members: [{{slo: patched}}, {{slo: flaky}}]}}}}
maintenance:
  - {{name: patching, endpoints: [patched], start: 2026-11-10T06:00:00Z, end: 2026-11-10T20:00:00Z}}
"""


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    text = config_text(tmp_path / "edges.db")
    (tmp_path / "edges.yaml").write_text(text)
    clock = FakeClock(T0 - 60)
    d = Daemon(load_text(text, env={}), clock=clock)
    await d.start(schedule=False)
    try:
        for i in range(PROBES):
            ts = T0 + 30 * i
            clock.set(ts)
            bad = Outcome.CONNECTION_REFUSED
            d.on_result(ProbeResult("nearly", "http", bad if i == PROBES // 2 else Outcome.SUCCESS, ts, 0.05))
            d.on_result(ProbeResult("down", "http", bad, ts, 0.05, message="refused"))
            d.on_result(ProbeResult("patched", "http", Outcome.SUCCESS, ts, 0.05))
            d.on_result(ProbeResult("worn", "http", bad if i < WORN else Outcome.SUCCESS, ts, 0.05))
            d.on_result(ProbeResult("flaky", "http", bad if i == PROBES - 1 else Outcome.SUCCESS, ts, 0.05))
        snapshot = d._slo.refresh()
        d._slo.persist()
        d._alerts.evaluate(snapshot)
        await d.store.flush()
        yield d
    finally:
        await d.stop()


async def test_an_almost_whole_budget_never_reads_100_percent(daemon: Daemon) -> None:
    [st] = [s for s in daemon._slo.snapshot.slos if s.slo == "nearly"]
    assert st.budget_remaining is not None and 0.9995 < st.budget_remaining < 1.0  # 1 - (1/5000)/0.5 = 0.9996
    _, _, badge = await fetch(daemon, "/badges/edge/nearly.svg")
    assert "<title>edge nearly: 99.96% budget left</title>" in badge  # was "100% budget left"
    _, _, page = await fetch(daemon, "/consumers/edge")
    assert "budget left 99.96%" in " ".join(readable(page).split())
    _, _, status = await fetch(daemon, "/")
    assert "edge nearly 50% 7d 99.98% 99.96%" in " ".join(readable(status).split())  # SLI, budget left


async def test_a_small_burn_threshold_is_not_zero_in_the_alert_summary(daemon: Daemon) -> None:
    _, _, body = await fetch(daemon, "/api/v1/alerts")
    summaries = [a["summary"] for a in json.loads(body)["alerts"] if "burning" in a["summary"]]
    assert summaries and all("0.0x" not in s for s in summaries), summaries
    assert any("(threshold 0.02x)" in s for s in summaries), summaries  # 2% of a 1h budget over 1h


def cards(page: str) -> dict[str, str]:
    """Each SLO card's HTML by SLO name, and each endpoint's day bars by endpoint name."""
    parts = re.split(r"<div class='card slo' id='slo-([\w.-]+)'>", page)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    last = found[parts[-2]]
    for name, bars in re.findall(r"<div class='endpoint'>(.*?)</div>(.*?)(?=<div class='endpoint'>|$)", last, re.S):
        found["endpoint " + readable(name).strip()] = bars
    return found


def in_maintenance(html: str) -> bool:
    """A day bar says the day had maintenance (probes excluded, or the hours of it)."""
    return "probes in maintenance (excluded)" in html or "maintenance 14h" in html


async def test_maintenance_and_outages_are_drawn_only_on_what_they_touch(daemon: Daemon) -> None:
    """The window on `patched` (14h, 06:00-20:00 on day one) and the outage of `down` are drawn on the charts
    and day bars of what they concern, not on every SLO and endpoint of the consumer."""
    _, _, page = await fetch(daemon, "/consumers/edge")
    found = cards(page)
    assert "<title>maintenance patching" in found["patched"] and in_maintenance(found["patched"])
    for other in ("nearly", "hour"):
        assert "maintenance patching" not in found[other] and not in_maintenance(found[other]), other
    assert "<title>outage" not in found["patched"]  # `patched` never failed
    assert "<title>outage" in found["hour"]
    assert in_maintenance(found["endpoint patched"])  # the per-endpoint day bars likewise
    assert not in_maintenance(found["endpoint nearly"]) and not in_maintenance(found["endpoint down"])


async def test_the_gate_reason_does_not_round_the_budget_left_onto_the_freeze_line(daemon: Daemon) -> None:
    _, _, body = await fetch(daemon, "/api/v1/consumers/edge/gate")
    reasons = {s["slo"]: s["reason"] for s in json.loads(body)["slos"]}
    assert reasons["worn"].startswith("edge/worn: 24.96% of the error budget left"), reasons  # was 25.0%
    assert reasons["worn"].endswith("below the 25.0% freeze line")
    assert reasons["nearly"].startswith("edge/nearly: 99.96% of the error budget left"), reasons  # was 100.0%


async def test_the_report_says_an_incident_of_seconds_and_counts_in_thousands(daemon: Daemon, tmp_path: Path) -> None:
    """`flaky` failed its last probe, 30 s before the report: down for "under 1m", not "0s"; the 14 h of
    maintenance on `patched` excluded 1,680 probes (not "1680"), and the journey over it "0 probes" (its
    members' figures hold them, as the HTML report says)."""
    at = dt.datetime.fromtimestamp(T0 + 30 * PROBES, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await daemon.store.flush()
    for fmt in ("table", "markdown"):
        code, out = await asyncio.to_thread(report, tmp_path / "edges.yaml", "--format", fmt, at=at)
        assert code == 0, out
        lines = [x for x in out.splitlines() if "flaky down for" in x]  # the SLO's and the journey's
        assert len(lines) == 2 and all("flaky down for under 1m (still down at" in x for x in lines), lines
        assert "1,680 probes excluded" in out, out
        assert not re.search(r"(?<![\d,])0 probes excluded", out) and "in its members' figures" in out, out


async def test_time_to_exhaustion_names_the_budget_it_spends_next_to_the_so_far_figures(daemon: Daemon) -> None:
    """`flaky`, 41.7 h into a 7d window, its one bad probe in the last hour: the card read "budget left as time,
    so far 24m of 25m" next to "time to exhaustion 8.2d" with nothing to say the latter spends the share left of
    the whole 7d budget (the Prometheus rule's basis: remaining x window / 1h burn), not the 24 minutes."""
    [st] = [s for s in daemon._slo.snapshot.slos if s.slo == "flaky"]
    assert st.partial and st.time_to_exhaustion is not None and st.budget_remaining is not None
    _, _, page = await fetch(daemon, "/consumers/edge")
    text = " ".join(readable(cards(page)["flaky"]).split())
    whole = st.budget_remaining * 0.01 * 7 * 86400  # the share left of the whole 7d budget, as time
    burn = st.burn(3600.0)
    assert burn is not None and st.time_to_exhaustion == pytest.approx(whole / (0.01 * burn))
    note = f"{percent(st.budget_remaining)} of the whole 7d budget ({duration_words(whole)}) at the 1h burn"
    assert f"time to exhaustion {duration_words(st.time_to_exhaustion)} {note}" in text, text
    assert "budget left as time, so far" in text


async def test_an_slos_chart_and_report_show_its_own_outages_not_the_consumers_merged_ones(daemon: Daemon) -> None:
    """`worn` was down for its first 15.6 h while `down` is down throughout: the consumer's incidents merge
    them into one ongoing outage, but worn's burn-down drew that one, 41.7 h long and naming `down`, and its
    report summary blamed "the down, worn outage (1.7d)" for what worn's own 15.6 h spent."""
    _, _, page = await fetch(daemon, "/consumers/edge")
    worn = re.findall(r"<rect class='outage'[^>]*><title>([^<]*)</title>", cards(page)["worn"])
    assert worn == [f"outage worn: 2026-11-10 00:00 UTC, lasted {duration_words(30 * WORN)}"], worn
    hour = re.findall(r"<rect class='outage'[^>]*><title>([^<]*)</title>", cards(page)["hour"])
    assert hour and all(t.startswith("outage down: ") and "worn" not in t for t in hour), hour
    _, _, html = await fetch(daemon, "/consumers/edge/report")
    part = html[html.index("id='slo-worn'") :]
    summary = readable(part[: part.index("</p>")])
    assert f"the 10 Nov worn outage ({duration_words(30 * WORN)})" in summary, summary
    incidents = part[part.index("<h3>Incidents</h3>") : part.index("<h3>Maintenance excluded</h3>")]
    assert ">down" not in incidents and "(ongoing)" not in incidents, incidents

"""No absurd figure anywhere a person reads one, for extreme data (slowatch/slo/display.py's rules).

One daemon holds: a budget burnt 400x (99.9%, 40% of a day down) and 80,000x (99.999%, 80% down); an SLO
with 3 probes, one bad; one with none; an objective of 99.9999999%; a 1h window counted in 1m timeslices;
a latency SLO where every probe is slow (1,000x, a calendar month). Every page, report, badge, alert text
(Slack and webhook, firing and resolved), gate reason and the API's human-readable fields are swept for
percentages beyond ±1,000% (or below -100%), multiples beyond 1,000x, negative durations, NaN and infinity.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from slowatch.alerting.sinks.slack import message
from slowatch.alerting.sinks.webhook import event_doc
from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from tests.slo.test_report import report
from tests.web.conftest import T0, fetch

SLOS = ("x400", "x80k", "three", "empty", "tight", "hour", "slowlat", "gated")


def config_text(db: Path) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", database: "{db}", external_url: "https://slowatch.example"}}
endpoints:
  - {{name: half, kind: http, url: "http://127.0.0.1:9/half"}}
  - {{name: mostly, kind: http, url: "http://127.0.0.1:9/mostly"}}
  - {{name: fresh, kind: http, url: "http://127.0.0.1:9/fresh"}}
  - {{name: never, kind: http, url: "http://127.0.0.1:9/never"}}
  - {{name: slow, kind: http, url: "http://127.0.0.1:9/slow"}}
consumers:
  - name: extreme
    endpoints: [half, mostly, fresh, never, slow]
    slos:
      - {{name: x400, sli: availability, objective: 99.9, window: 7d, endpoints: [half]}}
      - {{name: x80k, sli: availability, objective: 99.999, window: 7d, endpoints: [mostly]}}
      - {{name: three, sli: availability, objective: 99.9, window: 30d, endpoints: [fresh]}}
      - {{name: empty, sli: availability, objective: 99.9, window: 30d, endpoints: [never]}}
      - {{name: tight, sli: availability, objective: 99.9999999, window: 7d, endpoints: [half]}}
      - {{name: hour, sli: availability, objective: 99, window: 1h, budgeting: timeslices, endpoints: [half]}}
      - name: slowlat
        sli: latency
        threshold: 300ms
        objective: 99.9
        window: {{calendar: month}}
        endpoints: [slow]
      - name: gated
        sli: availability
        objective: 99.9
        window: 7d
        endpoints: [half]
        policy: {{freeze_below: 25%, max_burn_rate: 10}}
sinks:
  slack: {{kind: slack, webhook_url: "http://127.0.0.1:9/hook"}}
  hook: {{kind: webhook, url: "http://127.0.0.1:9/hook2"}}
routes: [{{match: {{}}, sinks: [slack, hook]}}]
"""


PROBES = 24 * 120  # one probe every 30 s for a day


def feed(daemon: Daemon, clock: FakeClock) -> None:
    for i in range(PROBES):
        ts = T0 + 30 * i
        clock.set(ts)
        for endpoint, bad in (("half", i < 0.4 * PROBES), ("mostly", i < 0.8 * PROBES)):
            outcome = Outcome.CONNECTION_REFUSED if bad else Outcome.SUCCESS
            daemon.on_result(ProbeResult(endpoint, "http", outcome, ts, 0.05, message="refused" if bad else ""))
        daemon.on_result(ProbeResult("slow", "http", Outcome.SUCCESS, ts, 2.5))
        if i >= PROBES - 3:  # three probes, the first one bad
            outcome = Outcome.CONNECTION_REFUSED if i == PROBES - 3 else Outcome.SUCCESS
            daemon.on_result(ProbeResult("fresh", "http", outcome, ts, 0.05))
        if i % 720 == 0:
            daemon._slo.persist()


PERCENT = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)\s?%")
MULTIPLE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(?:\u00d7|x\b)")
NEGATIVE_SPAN = re.compile(r"(?<![\w-])-\d[\d.,]*\s?(?:ms|s|m|h|d)\b|(?<![\w-])-\d+d\d+h")
NOT_A_NUMBER = re.compile(r"\b(?:nan|inf|infinity)\b", re.I)


def absurd(text: str) -> list[str]:
    """Every figure in `text` a person would find absurd or misleading."""
    found = [m.group(0) for m in PERCENT.finditer(text) if not -100 <= float(m.group(1).replace(",", "")) <= 1000]
    found += [m.group(0) for m in MULTIPLE.finditer(text) if float(m.group(1).replace(",", "")) > 1000]
    found += NEGATIVE_SPAN.findall(text) + NOT_A_NUMBER.findall(text)
    return found


def readable(page: str) -> str:
    """What a person reads on a page: text and titles, no markup or attributes."""
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def human_fields(doc: Any) -> Iterator[str]:
    """The JSON API's strings for people (the numbers next to them stay exact)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("title", "summary", "reason", "message") and isinstance(value, str):
                yield value
            else:
                yield from human_fields(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from human_fields(item)


def cli_report(config: Path, *argv: str) -> str:
    code, text = report(config, *argv, at="2026-11-10T23:59:30Z")
    assert code == 0
    return text


async def test_no_absurd_figure_on_any_page_report_badge_or_alert(tmp_path: Path) -> None:
    text = config_text(tmp_path / "extreme.db")
    config_file = tmp_path / "extreme.yaml"
    await asyncio.to_thread(config_file.write_text, text)
    clock = FakeClock(T0 - 60)
    await asyncio.to_thread(ZoneInfo, "UTC")  # the calendar SLO's zone, read from disk once (off the loop)
    daemon = Daemon(await asyncio.to_thread(load_text, text, env={}), clock=clock)
    await daemon.start(schedule=False)
    texts: dict[str, str] = {}
    try:
        feed(daemon, clock)
        snapshot = daemon._slo.refresh()
        daemon._slo.persist()
        daemon._alerts.evaluate(snapshot)
        await daemon.store.flush()
        states = {s.slo: s.state.value for s in snapshot.slos}
        assert states == {"x400": "ok", "x80k": "too_few_events", "three": "too_few_events", "empty": "no_data",
                          "tight": "too_few_events", "hour": "ok", "slowlat": "ok", "gated": "ok"}  # fmt: skip
        pages = ["/", "/consumers/extreme", "/consumers/extreme/report", "/consumers/extreme/report?month=2026-11"]
        pages += [f"/badges/extreme/{slo}.svg{show}" for slo in SLOS for show in ("", "?show=sli")]
        for path in pages:
            status, _, body = await fetch(daemon, path)
            assert status == 200, path
            texts[path] = readable(body)
        for path in ("/api/v1/consumers", "/api/v1/alerts", "/api/v1/consumers/extreme/gate"):
            status, _, body = await fetch(daemon, path)
            assert status == 200, path
            texts[path] = "\n".join(human_fields(json.loads(body)))
        events = [f.event for f in daemon._alerts.book.firing.values()]
        assert {e.kind for e in events} == {"burn_rate", "budget_exhausted"}
        for e in events:
            for ev in (e, e.as_resolved(clock.time() + 600)):
                slack = message([ev], "https://slowatch.example")
                texts[f"slack {ev.event_id}"] = json.dumps(slack, ensure_ascii=False)
                texts[f"webhook {ev.event_id}"] = "\n".join(human_fields(event_doc(ev, None)))
    finally:
        await daemon.stop()
    for fmt in ("table", "markdown"):  # `slowatch report` (blocking, like the command: off the loop)
        texts[f"report {fmt}"] = await asyncio.to_thread(cli_report, config_file, "--format", fmt)
    page = await asyncio.to_thread(cli_report, config_file, "--format", "html", "--month", "2026-11")
    texts["report html"] = readable(page)
    what_if = ("--window", "1h", "--objective", "99.9999999")
    texts["report 1h at 99.9999999"] = await asyncio.to_thread(cli_report, config_file, *what_if)
    problems = {where: found for where, text in texts.items() if (found := absurd(text))}
    assert not problems, problems
    # ... and what they say instead.
    card = texts["/consumers/extreme"]
    # budget left as time: 0.4 x the day of data less the 1.44 minutes the budget of that day allows (not 0.4 x 7d:
    # "2.8d"; nor, before session 11, less the 10 minutes of the whole 7d: "9h 26m", 1 - 0.4/0.001 of neither)
    assert "exhausted (spent 400\u00d7 its budget)" in card and "none (9h 34m over budget)" in card
    assert "collecting data: 3 of 1,000 probes needed" in card and "99.9999999%" in card
    assert "tight collecting data" in card and "x400 400\u00d7 the budget" in card  # incidents' budget spent
    assert "Missed its promise; 400\u00d7 the budget used" in texts["/consumers/extreme/report"]
    assert "extreme/x400: error budget exhausted (spent 400x its budget)" in texts["/api/v1/alerts"]
    assert "exhausted (spent 400\u00d7 its budget)" in texts["/"]
    assert not re.search(r"\d{3,}m ago", texts["/"])  # "26.1d ago", not "37574m ago"
    assert "none (9h34m22s over budget)" in texts["report table"]  # (the same, to the second)
    assert "collecting data" in texts["report markdown"]


def test_the_sweep_catches_what_the_audit_found() -> None:
    """The figures the old pages showed are each caught."""
    for old in ("tight 83,333,335,690%", "-5.8d", "400,000,011.3\u00d7", "burning 1000000.0x", "-39900.0%",
                "-2d19h1m55s", "nan%", "inf"):  # fmt: skip
        assert absurd(f"budget left {old} ok"), old
    for fine in ("≤-100%", "999.5%", "1,000\u00d7", "2026-11-10 23:59 UTC", "-50%", "14.4x", "none (2.8d over budget)"):
        assert not absurd(fine), fine

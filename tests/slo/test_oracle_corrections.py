"""Budget corrections posted to a real daemon's API (FakeClock, SQLite file): overlapping maintenance and each
other, one endpoint's, one covering a whole SLO window, and one revoked; the figures against the oracle, for
which a correction is a maintenance window of its scope (README, *Budget corrections*)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from slowatch.clock import FakeClock
from slowatch.daemon import Daemon
from tests.slo.oracle import Probe, Spec
from tests.slo.oracle_daemon import run_scenario, start

T0 = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC).timestamp()  # 36 h before December begins in Berlin
H = 3600.0

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
      - {{name: r36, sli: availability, objective: 99, window: 36h}}
      - {{name: hour, sli: availability, objective: 99, window: 1h}}
      - {{name: month, sli: availability, objective: 99.5, window: {{calendar: month, timezone: Europe/Berlin}}}}
      - {{name: slices, sli: availability, objective: 99, window: 36h, budgeting: timeslices,
          timeslice: {{length: 1m, good_when: 0.5}}}}
      - {{name: fast, sli: latency, threshold: 100ms, objective: 95, window: 36h, endpoints: [b]}}
maintenance:
  - {{name: mw, endpoints: [a], start: "{ms}", end: "{me}"}}
"""
MAINTENANCE = (T0 + 5 * H, T0 + 7 * H)
OUTAGES = [(T0 + 4 * H, T0 + 8 * H, "a"), (T0 + 6 * H, T0 + 6.5 * H, "b"), (T0 + 20 * H, T0 + 22 * H, "b"),
           (T0 + 34 * H, T0 + 36 * H, "a")]  # fmt: skip
END = T0 + 38 * H


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def probes() -> list[Probe]:
    out = []
    for ep, off in (("a", 3.0), ("b", 17.0)):
        ts, n = T0 + off, 0
        while ts < END:
            bad = any(s <= ts < e and who == ep for s, e, who in OUTAGES)
            out.append(Probe(ep, ts, "timeout" if bad else "success", 0.15 if n % 9 == 0 else 0.05))
            ts, n = ts + 30.0, n + 1
    return sorted(out, key=lambda p: p.ts)


def specs(excluded: tuple[tuple[float, float, frozenset[str]], ...]) -> dict[tuple[str, str], Spec]:
    ab = ("a", "b")
    return {
        ("shop", "r36"): Spec(ab, 99, 36 * H, excluded=excluded),
        ("shop", "hour"): Spec(ab, 99, H, excluded=excluded),
        ("shop", "month"): Spec(ab, 99.5, ("month", "Europe/Berlin"), excluded=excluded),
        ("shop", "slices"): Spec(ab, 99, 36 * H, slice_length=60, good_when=0.5, excluded=excluded),
        ("shop", "fast"): Spec(("b",), 95, 36 * H, threshold=0.1, excluded=excluded),
    }


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeClock]]:
    clock = FakeClock(T0 - 60)
    d = await start(CONFIG.format(db=tmp_path / "c.db", ms=iso(MAINTENANCE[0]), me=iso(MAINTENANCE[1])), clock)
    yield d, clock
    await d.stop()


async def post(d: Daemon, path: str, body: dict[str, object]) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{d.bound_port}{path}", json=body) as r:
        text = await r.text()
        assert r.status == 201, text
        return json.loads(text)  # type: ignore[no-any-return]


async def test_corrections_agree_with_the_oracle(daemon: tuple[Daemon, FakeClock]) -> None:
    d, clock = daemon
    feed = [p for p in probes() if p.ts < END - 700]  # none after: a correction may reach the last one
    mw = (MAINTENANCE[0], MAINTENANCE[1], frozenset("a"))
    problems = await run_scenario(d, clock, feed, specs((mw,)), [T0 + 30 * H, END - 600])
    n = len(feed)
    await d.store.flush()
    # the consumer's, over the maintenance and a's outage; then b's, overlapping it; then a whole 1h window
    first = await post(d, "/api/v1/corrections", {"consumer": "shop", "from": iso(T0 + 4.5 * H),
                       "to": iso(T0 + 6.25 * H), "reason": "probe host lost its uplink"})  # fmt: skip
    await post(d, "/api/v1/corrections", {"consumer": "shop", "endpoint": "b", "from": iso(T0 + 6 * H),
               "to": iso(T0 + 7 * H), "reason": "b's own test"})  # fmt: skip
    whole = (END - 2.5 * H, END - 650)  # (the daemon's clock: END - 600)
    await post(d, "/api/v1/corrections", {"consumer": "shop", "from": iso(whole[0]), "to": iso(whole[1]),
               "reason": "monitor network"})  # fmt: skip
    excluded: tuple[tuple[float, float, frozenset[str]], ...] = (
        mw,
        (T0 + 4.5 * H, T0 + 6.25 * H, frozenset("ab")),
        (T0 + 6 * H, T0 + 7 * H, frozenset("b")),
        (whole[0], whole[1], frozenset("ab")),
    )
    problems += await run_scenario(d, clock, feed, specs(excluded), [END - 400], skip=n)
    hour = d._slo.snapshot.get("shop", "hour")
    assert hour is not None and hour.state == "no_data"  # the whole 1h window corrected: no data, not 100 %
    await post(d, f"/api/v1/corrections/{first['id']}/revoke", {"reason": "it was a real outage"})
    excluded = excluded[:1] + excluded[2:]
    problems += await run_scenario(d, clock, feed, specs(excluded), [END - 300], skip=n)
    assert not problems, "\n".join(problems[:40])

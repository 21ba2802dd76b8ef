"""Composite journeys (serial, weighted, worst) of SLOs with different objectives, SLIs, consumers and
maintenance, a real daemon against the oracle computed from the probes fed (README, *Composite (journey) SLOs*):
per 1-minute slice, members without data left out, a slice where none has data is no unit."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.daemon import Daemon
from tests.slo import oracle
from tests.slo.oracle import Probe, Spec
from tests.slo.oracle_daemon import look, start, to_result

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp()
HOURS = 50

CONFIG = """
server: {{listen: "127.0.0.1:0", database: "{db}"}}
alerting: {{resolve_after: 0s}}
endpoints:
  - {{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}}
  - {{name: cat, kind: http, url: "http://127.0.0.1:9/cat"}}
  - {{name: far, kind: http, url: "http://127.0.0.1:9/far"}}
consumers:
  - name: checkout
    endpoints: [pay, cat]
    slos:
      - {{name: avail, sli: availability, objective: 99.9, window: 30d}}
      - {{name: fast, sli: latency, threshold: 200ms, objective: 99, window: 30d, endpoints: [pay]}}
      - name: serial
        objective: 99.5
        window: 1d
        composite: {{method: serial, members: [{{slo: avail}}, {{slo: partner/slices}}]}}
      - name: weighted
        objective: 99
        window: 36h
        composite: {{method: weighted, members: [{{slo: avail, weight: 3}}, {{slo: fast}}, {{slo: partner/avail}}]}}
      - name: worst
        objective: 98
        window: 1d
        composite: {{method: worst, members: [{{slo: avail}}, {{slo: fast}}]}}
  - name: partner
    endpoints: [far]
    slos:
      - {{name: avail, sli: availability, objective: 99.5, window: 30d}}
      - {{name: slices, sli: availability, objective: 99, window: 30d, budgeting: timeslices,
          timeslice: {{length: 1m, good_when: 0.5}}}}
maintenance:
  - {{name: shop-window, consumers: [checkout], start: "{ms}", end: "{me}"}}
"""

OUTAGES = [  # (start, end, endpoint): bad probes
    (T0 + 10 * 3600, T0 + 10 * 3600 + 1500, "pay"),
    (T0 + 20 * 3600, T0 + 22 * 3600, "far"),  # crosses the checkout maintenance below
    (T0 + 46 * 3600, T0 + 49 * 3600 + 900, "cat"),
    (T0 + 48 * 3600 + 600, T0 + 48 * 3600 + 1300, "far"),
]
MAINTENANCE = (T0 + 21 * 3600, T0 + 23 * 3600)  # checkout's, not partner's


def probes() -> list[Probe]:
    """pay and cat every 30 s, far every 45 s (so some slices have one of its probes, some two); every 11th
    of pay slow; far's probes alternate good and bad in one hour (a 1m slice half good is good at 0.5)."""
    out = []
    for ep, step, off in (("pay", 30.0, 3.0), ("cat", 30.0, 11.0), ("far", 45.0, 7.0)):
        n, ts = 0, T0 + off
        while ts < T0 + HOURS * 3600:
            bad = any(s <= ts < e and who == ep for s, e, who in OUTAGES)
            if ep == "far" and T0 + 30 * 3600 <= ts < T0 + 31 * 3600 and n % 2:
                bad = True
            slow = ep == "pay" and n % 11 == 0
            out.append(Probe(ep, ts, "timeout" if bad else "success", 0.3 if slow else 0.05))
            n, ts = n + 1, ts + step
    return sorted(out, key=lambda p: p.ts)


EXCLUDED = ((MAINTENANCE[0], MAINTENANCE[1], frozenset({"pay", "cat"})),)
MEMBERS = {
    "avail": Spec(("pay", "cat"), 99.9, 30 * 86400.0, excluded=EXCLUDED),
    "fast": Spec(("pay",), 99, 30 * 86400.0, threshold=0.2, excluded=EXCLUDED),
    "partner/avail": Spec(("far",), 99.5, 30 * 86400.0),
    "partner/slices": Spec(("far",), 99, 30 * 86400.0, slice_length=60, good_when=0.5),
}
JOURNEYS = {  # name: (method, objective, window, [(member, weight)])
    "serial": ("serial", 99.5, 86400.0, [("avail", 1), ("partner/slices", 1)]),
    "weighted": ("weighted", 99.0, 36 * 3600.0, [("avail", 3), ("fast", 1), ("partner/avail", 1)]),
    "worst": ("worst", 98.0, 86400.0, [("avail", 1), ("fast", 1)]),
}


def slice_units(method: str, parts: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    if not parts:
        return 0, 0
    if method == "serial":
        return int(all(g == t for g, t, _ in parts)), 1
    if method == "weighted":
        return sum(g * w for g, _, w in parts), sum(t * w for _, t, w in parts)
    g, t, _ = min(parts, key=lambda x: x[0] / x[1])  # the first listed among equals
    return g, t


def journey(name: str, feed: Sequence[Probe], now: float) -> tuple[int, int, dict[int, float | None]]:
    """(good, total) over the journey's window and its burn rate per alerting window."""
    method, objective, window, members = JOURNEYS[name]
    budget = Spec((), objective, window).budget
    minutes: dict[int, dict[str, list[int]]] = {}
    for p in feed:
        if p.ts > now:
            break
        for m, _ in members:
            spec = MEMBERS[m]
            if spec.counts(p):
                cell = minutes.setdefault(int(p.ts // 60), {}).setdefault(m, [0, 0])
                cell[0] += spec.good(p)
                cell[1] += 1
    units = {}
    for minute, cells in minutes.items():
        parts = []
        for m, w in members:
            if m in cells:
                g, t = cells[m]
                if MEMBERS[m].slice_length:
                    g, t = int(g / t >= MEMBERS[m].good_when), 1
                parts.append((g, t, w))
        units[minute] = slice_units(method, parts)

    def over(start: float) -> tuple[int, int]:
        inside = [u for minute, u in units.items() if minute * 60 >= start]
        return sum(g for g, _ in inside), sum(t for _, t in inside)

    good, total = over(math.floor(now / 3600) * 3600 - window)
    burns = {}
    for w in oracle.ALERT_WINDOWS:
        g, t = over(math.floor(now / 60) * 60 - w)
        burns[w] = oracle.burn(g, t, budget)
    return good, total, burns


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeClock]]:
    iso = [dt.datetime.fromtimestamp(t, dt.UTC).isoformat() for t in MAINTENANCE]
    clock = FakeClock(T0 - 60)
    d = await start(CONFIG.format(db=tmp_path / "j.db", ms=iso[0], me=iso[1]), clock)
    yield d, clock
    await d.stop()


async def test_journeys_agree_with_the_oracle(daemon: tuple[Daemon, FakeClock]) -> None:
    d, clock = daemon
    feed = probes()
    checkpoints = [T0 + h * 3600 + 1234 for h in (10, 21, 22, 30, 31)] + [T0 + 48 * 3600 + 1000, T0 + HOURS * 3600]
    problems = []
    i = 0
    for at in checkpoints:
        while i < len(feed) and feed[i].ts <= at:
            clock.set(feed[i].ts)
            d.on_result(to_result(feed[i]))
            i += 1
        clock.set(at)
        seen = await look(d)
        for name in JOURNEYS:
            good, total, burns = journey(name, feed, at)
            got = seen.api[("checkout", name)]
            if (got["good"], got["total"]) != (good, total):
                problems.append(f"{at - T0:.0f}s {name}: daemon {got['good']}/{got['total']}, oracle {good}/{total}")
            for w in got["windows"]:
                want = burns[int(w["seconds"])]
                if (want is None) != (w["burn_rate"] is None) or (
                    want is not None and w["burn_rate"] != pytest.approx(want)
                ):
                    problems.append(f"{at - T0:.0f}s {name} burn {w['window']}: daemon {w['burn_rate']}, oracle {want}")
    assert not problems, "\n".join(problems[:40])

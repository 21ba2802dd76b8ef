"""Property: for random result streams the engine equals a brute-force recomputation from raw results."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slowatch.models import ProbeResult
from slowatch.slo import budget
from slowatch.slo.engine import Engine
from slowatch.slo.maintenance import MaintenanceCalendar
from slowatch.slo.windows import CalendarPeriod
from tests.slo.helpers import T0, brute_units, config, result, window_since

WINDOWS: list[Any] = [
    "1d",
    "2d",
    "30d",
    {"calendar": "week", "timezone": "Europe/Berlin"},
    {"calendar": "month", "timezone": "Asia/Kolkata"},  # +05:30: 15-minute coarse cells
]

slo_specs = st.fixed_dictionaries(
    {
        "objective": st.sampled_from([90, 99, 99.5, 99.9]),
        "window": st.sampled_from(WINDOWS),
        "sli": st.sampled_from(["availability", "latency"]),
        "slicing": st.sampled_from([None, (60, 0.5), (60, 1.0), (300, 0.9)]),
    }
)

events = st.lists(
    st.tuples(
        st.integers(0, 4 * 86400),  # offset, seconds (scaled down by `span`)
        st.sampled_from("abc"),
        st.booleans(),  # ok
        st.sampled_from([0.1, 0.3]),  # duration
        st.booleans(),  # final (weighted below)
        st.booleans(),  # refresh after this one
        st.integers(0, 900),  # delay: results may arrive late and out of order
    ),
    max_size=250,
)


def build(spec: dict[str, Any], maintenance: tuple[int, int] | None, base: float) -> Any:
    slo: dict[str, Any] = {"name": "s", "sli": spec["sli"], "objective": spec["objective"], "window": spec["window"]}
    if spec["sli"] == "latency":
        slo["threshold"] = "200ms"
    if spec["slicing"] is not None:
        length, good_when = spec["slicing"]
        slo["budgeting"] = "timeslices"
        slo["timeslice"] = {"length": length, "good_when": good_when}
    windows = []
    if maintenance is not None:
        start, length = maintenance
        windows.append({"name": "m", "endpoints": ["b"], "start": base + start, "end": base + start + length})
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": [slo]}], maintenance=windows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=slo_specs,
    stream=events,
    maintenance=st.none() | st.tuples(st.integers(0, 4 * 86400), st.integers(60, 86400)),
    # just before a Berlin week / Kolkata month starts, or anywhere in five weeks
    base_offset=st.sampled_from([546400 - 1800, 793000 - 900]) | st.integers(0, 35 * 86400),
    tail=st.integers(0, 3 * 86400),
    span=st.sampled_from([1, 24, 96]),
)
def test_engine_matches_brute_force(
    spec: dict[str, Any],
    stream: list[tuple[int, str, bool, float, bool, bool, int]],
    maintenance: tuple[int, int] | None,
    base_offset: int,
    tail: int,
    span: int,
) -> None:
    base = T0 + base_offset
    cfg = build(spec, maintenance, base)
    engine = Engine(cfg, base)
    results: list[ProbeResult] = []
    arrivals = []
    for offset, endpoint, ok, duration, final_bit, refresh, delay in stream:
        ts = base + offset * span // 96
        final = final_bit or offset % 7 != 0
        arrivals.append((ts + delay, result(ts, ok=ok, endpoint=endpoint, duration=duration, final=final), refresh))
    arrivals.sort(key=lambda a: a[0])
    for arrived, r, refresh in arrivals:
        results.append(r)
        engine.observe(r)
        if refresh:
            engine.refresh(arrived)
    now = max((a[0] for a in arrivals), default=base) + 1 + tail // span
    snap = engine.refresh(now)
    s = snap.get("shop", "s")
    assert s is not None
    d = engine.defs[0]
    rules = MaintenanceCalendar(cfg).rules("shop", "b")
    rules_by_ep = {"a": (), "b": rules, "c": ()}

    def brute(since: float) -> tuple[int, int]:
        per_ep = [brute_units(d, [r for r in results if r.endpoint == ep], rules_by_ep[ep], since, now) for ep in "ab"]
        if d.slice_length is None:
            return sum(c.good for c in per_ep), sum(c.total for c in per_ep)
        # slices span endpoints: recompute over both endpoints at once, maintenance per endpoint
        kept = [r for r in results if not any(rule.active(r.started_at) for rule in rules_by_ep.get(r.endpoint, ()))]
        c = brute_units(d, kept, (), since, now)
        return c.good, c.total

    for w in s.windows:
        good, total = brute(window_since(now, w.seconds, d.fine_cell))
        assert (w.good, w.total) == (good, total), w.window
        assert w.burn_rate == budget.burn_rate(good, total, d.objective)
    ledger = engine.ledgers[d.fingerprint]
    if isinstance(d.window, CalendarPeriod):
        since = d.window.bounds(now)[0]
    else:
        since = window_since(now, d.window.seconds, ledger.coarse)
    good, total = brute(since)
    assert (s.good, s.total) == (good, total)
    assert s.sli == budget.sli(good, total)
    remaining = budget.budget_remaining(good, total, d.objective)
    assert s.budget_remaining == (pytest.approx(remaining) if remaining is not None else None)
    assert s.burn_rate == budget.burn_rate(good, total, d.objective)
    # the time the window has data for: its coarse cells holding counted probes, the current one up to now
    cells = {
        int(r.started_at // ledger.coarse)
        for r in results
        if r.final and r.endpoint in "ab" and r.started_at >= since
        and not any(rule.active(r.started_at) for rule in rules_by_ep[r.endpoint])
    }  # fmt: skip
    current = int(now // ledger.coarse)
    covered = len(cells) * ledger.coarse - (((current + 1) * ledger.coarse - now) if current in cells else 0)
    assert s.data_seconds == pytest.approx(covered)
    assert s.data_since == (min(cells) * ledger.coarse if cells else None)

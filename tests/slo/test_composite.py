"""Composite (journey) SLOs: hand-computed scenarios per method, config errors, and a brute-force property."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slowatch.config import load
from slowatch.errors import ConfigError
from slowatch.slo.engine import Engine
from slowatch.slo.snapshot import SloStatus
from tests.slo.helpers import config, result

H = 1_789_999_200.0  # an hour boundary


def journey(method: str, weights: tuple[int, int] = (1, 1), **extra: Any) -> Any:
    members: list[dict[str, Any]] = [{"slo": "shop/pay"}, {"slo": "cart"}]
    if method == "weighted":
        members = [{**m, "weight": w} for m, w in zip(members, weights, strict=True)]
    slos = [
        {"name": "pay", "sli": "availability", "objective": 99, "endpoints": ["a"], "window": "1d"},
        {"name": "cart", "sli": "availability", "objective": 99, "endpoints": ["b"], "window": "1d"},
        {"name": "j", "objective": 90, "window": "1d", "composite": {"method": method, "members": members}, **extra},
    ]
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": slos}])


def status(engine: Engine, now: float, slo: str = "j") -> SloStatus:
    found = engine.refresh(now).get("shop", slo)
    assert found is not None
    return found


def feed(engine: Engine, minutes: dict[int, tuple[list[bool], list[bool]]]) -> None:
    """minute -> (results of a, results of b), 10 s apart from the minute's start."""
    for minute, (a, b) in minutes.items():
        for k, ok in enumerate(a):
            engine.observe(result(H + 60 * minute + 10 * k, ok, "a"))
        for k, ok in enumerate(b):
            engine.observe(result(H + 60 * minute + 10 * k + 5, ok, "b"))


SCENARIO = {
    0: ([True, True], [True, True]),  # both good
    1: ([True, False], [True, True]),  # a has a bad probe: a's minute is bad
    2: ([True], []),  # only a has data, good
    3: ([], [False, False, True]),  # only b, 1 of 3
    4: ([], []),  # no data: no slice
    5: ([False, False], [True, False]),  # a 0/2, b 1/2
}


def test_serial_counts_a_minute_good_only_when_every_member_with_data_is_good() -> None:
    engine = Engine(journey("serial"), H)
    feed(engine, SCENARIO)
    s = status(engine, H + 6 * 60)
    assert (s.good, s.total) == (2, 5)  # minutes 0 and 2 are good; 1, 3, 5 bad; 4 has no data
    assert s.sli == pytest.approx(0.4) and s.sli_kind == "composite"
    assert s.budget_remaining == pytest.approx(1 - 0.6 / 0.1)


def test_weighted_adds_weighted_good_and_total() -> None:
    engine = Engine(journey("weighted", (3, 1)), H)
    feed(engine, SCENARIO)
    s = status(engine, H + 6 * 60)
    # a: m0 2/2, m1 1/2, m2 1/1, m5 0/2 -> 4/7; b: m0 2/2, m1 2/2, m3 1/3, m5 1/2 -> 6/9
    assert (s.good, s.total) == (3 * 4 + 6, 3 * 7 + 9)


def test_worst_takes_the_lowest_member_per_minute() -> None:
    engine = Engine(journey("worst"), H)
    feed(engine, SCENARIO)
    s = status(engine, H + 6 * 60)
    # m0 a 2/2 (tie: first), m1 a 1/2, m2 a 1/1, m3 b 1/3, m5 a 0/2
    assert (s.good, s.total) == (2 + 1 + 1 + 1 + 0, 2 + 2 + 1 + 3 + 2)
    one_hour = s.window_status("1h")
    assert one_hour is not None and (one_hour.good, one_hour.total) == (5, 10)


def test_timeslice_members_count_their_slices_and_a_late_result_still_counts() -> None:
    cfg = journey("weighted")
    for slo in cfg.consumers[0].slos[:2]:
        object.__setattr__(slo, "budgeting", "timeslices")
    engine = Engine(cfg, H)
    feed(engine, {0: ([True, True], [True, False])})  # b's minute: 1/2 < 0.95 -> bad slice
    assert (status(engine, H + 120).good, status(engine, H + 120).total) == (1, 2)
    engine.observe(result(H + 30, False, "a"))  # a result of minute 0 arriving late (a slow probe)
    assert (status(engine, H + 125).good, status(engine, H + 125).total) == (0, 2)


def test_a_composite_of_composites_and_objective_changes_keep_the_cells() -> None:
    cfg = journey("serial")
    data = cfg.model_dump(mode="json", exclude_unset=True)
    data["consumers"][0]["slos"].append(
        {"name": "top", "objective": 50, "window": "1d", "composite": {"method": "worst", "members": [{"slo": "j"}]}}
    )
    from slowatch.config.schema import Config

    engine = Engine(Config.model_validate(data), H)
    feed(engine, SCENARIO)
    assert (status(engine, H + 360, "top").good, status(engine, H + 360, "top").total) == (2, 5)
    data["consumers"][0]["slos"][2]["objective"] = 80
    again = Engine(Config.model_validate(data), H + 360, previous=engine)
    s = status(again, H + 400)
    assert (s.good, s.total, s.objective) == (2, 5, 0.8)


def test_an_engine_built_aside_takes_over_the_composites_where_they_are_when_linked() -> None:
    """A reload builds the next engine in a thread (`link=False`) while the running one keeps refreshing; linked
    on the loop later, its composites carry on from the running ones' latest slices, as if built right then."""
    cfg = journey("serial")
    running = {way: Engine(cfg, H) for way in ("aside", "fresh")}  # the same history twice (counters are shared)
    for engine in running.values():
        feed(engine, {m: SCENARIO[m] for m in (0, 1, 2)})
        status(engine, H + 180)
    aside = Engine(cfg, H + 180, previous=running["aside"], link=False)
    for engine in running.values():
        feed(engine, {m: SCENARIO[m] for m in (3, 4, 5)})
        status(engine, H + 360)  # the running composites count minutes 3-5 now
    aside.link(running["aside"])
    fresh = Engine(cfg, H + 360, previous=running["fresh"])
    a, f = status(aside, H + 420), status(fresh, H + 420)
    assert (a.good, a.total, a.events_total, a.good_events_total) == (f.good, f.total, f.events_total,
                                                                      f.good_events_total)  # fmt: skip
    assert (a.good, a.total) == (2, 5)


def write(tmp_path: Path, slos: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:1/'}\n"
        "consumers:\n  - name: checkout\n    endpoints: [a]\n    slos:\n" + slos
    )
    return path


def errors(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


def test_unknown_member_is_located_with_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "      - {name: availability, sli: availability, objective: 99}\n"
        "      - name: journey\n        objective: 99\n        composite:\n          method: serial\n"
        "          members:\n            - slo: checkout/availabilty\n",
    )
    assert (
        f"{path}:13:20 consumers[0].slos[1].composite.members[0].slo: unknown SLO 'checkout/availabilty' "
        "(did you mean 'checkout/availability'?)"
    ) in errors(path)


def test_cycles_and_incompatible_windows_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "      - {name: p, sli: availability, objective: 99, window: 7d}\n"
        "      - {name: q, sli: availability, objective: 99, budgeting: timeslices, timeslice: {length: 5m}}\n"
        "      - {name: x, objective: 99, composite: {method: serial, members: [{slo: y}, {slo: p}]}}\n"
        "      - {name: y, objective: 99, composite: {method: worst, members: [{slo: x}, {slo: q}]}}\n",
    )
    text = errors(path)
    assert (
        "consumers[0].slos[2].composite.members: composite SLOs form a cycle: checkout/x -> checkout/y -> checkout/x"
        in text
    )
    assert (
        "consumers[0].slos[2].composite.members[1].slo: 'checkout/p': window 30d is incompatible with the member's 7d"
        in text
    )
    assert "consumers[0].slos[3].composite.members: members are measured in different timeslices" in text
    path = write(
        tmp_path,
        "      - {name: z, objective: 99, sli: availability, composite: {method: worst, members: [{slo: p}]}}\n",
    )
    assert "consumers[0].slos[0]" in errors(path) and "remove `sli`" in errors(path)


# --- property: the engine's composite equals a brute-force recomputation from the raw results -------------


def brute(
    method: str, weights: list[int], rows: list[tuple[float, str, bool]], since: float, now: float
) -> tuple[int, int]:
    per: dict[int, dict[str, list[int]]] = {}
    for ts, ep, ok in rows:
        if since <= ts <= now:
            cell = per.setdefault(math.floor(ts / 60), {}).setdefault(ep, [0, 0])
            cell[0] += ok
            cell[1] += 1
    good = total = 0
    for members in per.values():
        units = [(members[ep][0], members[ep][1], w) for ep, w in zip("ab", weights, strict=True) if ep in members]
        if method == "serial":
            good, total = good + all(g == t for g, t, _ in units), total + 1
        elif method == "weighted":
            good, total = good + sum(w * g for g, _, w in units), total + sum(w * t for _, t, w in units)
        else:
            g, t, _ = min(units, key=lambda u: u[0] / u[1])  # min() keeps the first of equals
            good, total = good + g, total + t
    return good, total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["serial", "weighted", "worst"]),
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.lists(st.tuples(st.integers(0, 3 * 3600), st.sampled_from("ab"), st.booleans(), st.booleans()), max_size=200),
)
def test_engine_composite_equals_brute_force(method: str, weights: tuple[int, int], events: list[Any]) -> None:
    cfg = journey(method, weights)
    engine = Engine(cfg, H)
    rows = []
    for offset, ep, ok, refresh in sorted(events):
        ts = H + offset + 0.5
        engine.observe(result(ts, ok, ep))
        rows.append((ts, ep, ok))
        if refresh:
            engine.refresh(ts)
    now = H + 3 * 3600 + 60
    s = status(engine, now)
    since = math.floor(now / 3600) * 3600 - 86400
    assert (s.good, s.total) == brute(method, list(weights), rows, since, now)
    for w in s.windows:
        assert w.sli is None or 0 <= w.sli <= 1
        assert w.burn_rate is None or math.isfinite(w.burn_rate)
    assert s.budget_remaining is None or math.isfinite(s.budget_remaining)


def test_composite_cells_restored_without_their_coarse_cells_never_go_negative() -> None:
    """A restart loads a composite's fine cells (kept 3 days + 1) and its coarse ones (kept
    `retention.rollups`, which may be shorter): recomputing the fine ring then takes back from coarse
    cells that were pruned. They stay at 0 (no OverflowError) and the fine cells are exact again."""
    cfg = journey("weighted", (2, 1))
    live = Engine(cfg, H)
    feed(live, SCENARIO)
    expected = status(live, H + 600)
    restored = Engine(cfg, H + 600)
    for fp, ledger in live.ledgers.items():
        fine, coarse = ledger.rows()
        if fp in restored.composites:
            fine, coarse = [(s, g + 5, t + 9) for s, g, t in fine], []  # the coarse rows were pruned
        restored.ledgers[fp].load(fine, coarse)
    got = status(restored, H + 600)
    assert (got.good, got.total) == (0, 0)  # the coarse window has nothing left to hold them
    assert [(w.good, w.total) for w in got.windows] == [(w.good, w.total) for w in expected.windows]
    comp = restored.ledgers[next(iter(restored.composites))]
    assert min(comp.fg) >= 0 and min(comp.cg) >= 0 and all(g <= t for g, t in zip(comp.cg, comp.ct, strict=True))


def test_a_clock_stepped_back_leaves_the_results_stamped_ahead_out_and_counts_what_follows() -> None:
    engine = Engine(journey("serial"), H)
    feed(engine, SCENARIO)
    assert (status(engine, H + 6 * 60).good, status(engine, H + 6 * 60).total) == (2, 5)
    feed(engine, {1440: ([False], [False])})  # the clock a day ahead: one bad slice stamped tomorrow
    assert status(engine, H + 1440 * 60 + 30).total == 6  # the 1d window, a day on (hour cells: the first hour too)
    s = status(engine, H + 7 * 60)  # NTP steps the clock back
    assert (s.good, s.total) == (2, 5)
    feed(engine, {7: ([True], [True]), 8: ([True], [False])})
    s = status(engine, H + 9 * 60)
    assert (s.good, s.total) == (3, 7)
    counted = s.events_total
    s = status(engine, H + 20 * 60)  # minutes 7 and 8 are final: the counters go on
    assert s.events_total == counted + 2

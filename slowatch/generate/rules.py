"""Recording rules of one consumer SLO: error ratios per window, burn rates, budget, objective.

Every series carries `consumer` and `slo` labels (from the counters). The counters are slowatch's
own per-SLO good/total counters, which already leave out probes inside maintenance windows, so
Prometheus leaves them out too. A window without probes has no error-ratio series (the division
is filtered with `> 0`), hence no burn, budget or alert either: never NaN.
"""

from __future__ import annotations

from typing import Any

from slowatch.generate.promql import (
    BUDGET_REMAINING,
    BURN_RATE,
    ENDPOINT_UP,
    EVENTS,
    GOOD_EVENTS,
    OBJECTIVE,
    PROBE_SUCCESS,
    SLI,
    TIME_TO_EXHAUSTION,
    WINDOW_EVENTS,
    WINDOW_SECONDS,
    Aggregation,
    SloTarget,
    any_of,
    number,
    prom_duration,
    selector,
)
from slowatch.generate.quorum import QUORUM_SLICES, quorum_error_ratio, quorum_rules, quorum_slices_rule
from slowatch.slo.definitions import EXHAUSTION_WINDOW

Rule = dict[str, Any]


def events_expr(t: SloTarget, metric: str, rng: str, agg: Aggregation) -> str:
    """A counter's increase over `rng`, summed over processes. A `weighted` journey adds its members'
    counters times their weights (exact however the members are split across instances); `serial` and
    `worst` ones use their own counters, exact only when one instance sees every member (see HEADER)."""
    c = t.slo.composite
    if c is None or c.method != "weighted":
        return agg.counter(f"increase({metric}{t.sel}[{rng}])")
    parts = [
        f"{number(w)} * increase({metric}{selector(consumer=consumer, slo=slo)}[{rng}])"
        for (consumer, slo), w in zip(c.members, c.weights, strict=True)
    ]
    return agg.counter_across("\n  or ".join(parts), ("consumer", "slo"))


def error_ratio_expr(t: SloTarget, seconds: float, agg: Aggregation) -> str:
    if t.quorum is not None:
        return quorum_error_ratio(t, seconds)
    rng = prom_duration(seconds)
    total = events_expr(t, EVENTS, rng, agg)
    good = events_expr(t, GOOD_EVENTS, rng, agg)
    return f"({total} - {good})\n/\n({total} > 0)"


def trusted(t: SloTarget) -> str:
    """The SLO window holds enough units for the budget to allow one bad one: slowatch's state `ok`, without which
    it exports no budget left or time to exhaustion (the budget of 3 probes with one bad is -33,233 % at 99.9 %)
    and sends no burn or exhausted alert. A location quorum's unit is the slice (slowatch/generate/quorum.py)."""
    units = QUORUM_SLICES if t.quorum is not None else WINDOW_EVENTS
    return f"on (consumer, slo) ({units}{t.sel} >= {t.min_events})"


def recording_rules(t: SloTarget, agg: Aggregation) -> list[Rule]:
    labels = t.labels
    rules: list[Rule] = quorum_rules(t, agg) if t.quorum is not None else []
    for seconds in t.alert_windows:
        rules.append({"record": t.error_ratio(seconds), "expr": error_ratio_expr(t, seconds, agg), "labels": labels})
    budget = number(t.error_budget)
    for seconds in t.alert_windows:
        window = t.window_label if seconds == t.window_seconds else prom_duration(seconds)
        rules.append({
            "record": BURN_RATE,
            "expr": f"{t.error_ratio(seconds)}{t.sel} / {budget}",
            "labels": {**labels, "window": window},
        })  # fmt: skip
    slo_window = t.error_ratio(t.window_seconds)
    rng = prom_duration(t.window_seconds)
    burn_1h = selector(**labels, window=prom_duration(EXHAUSTION_WINDOW))
    rules += [
        {"record": SLI, "expr": f"1 - {slo_window}{t.sel}", "labels": labels},
        {"record": WINDOW_EVENTS, "expr": events_expr(t, EVENTS, rng, agg), "labels": labels},
        *([quorum_slices_rule(t)] if t.quorum is not None else []),
        {"record": BUDGET_REMAINING, "expr": f"1 - {slo_window}{t.sel} / {budget}\nand {trusted(t)}", "labels": labels},
        {
            "record": TIME_TO_EXHAUSTION,
            "expr": f"({BUDGET_REMAINING}{t.sel} > 0) * {number(t.window_seconds)}\n"
            f"/ ignoring (window) ({BURN_RATE}{burn_1h} > 0)",
            "labels": labels,
        },
        {"record": OBJECTIVE, "expr": f"vector({t.slo.objective!r})", "labels": labels},
        {"record": WINDOW_SECONDS, "expr": f"vector({number(t.window_seconds)})", "labels": labels},
    ]
    if t.slo.endpoints:  # which endpoints the SLO depends on, and whether they are up (dashboards)
        matcher = f'{{endpoint=~"{any_of(t.slo.endpoints)}"}}'
        rules.append({"record": ENDPOINT_UP, "expr": agg.gauge(f"{PROBE_SUCCESS}{matcher}"), "labels": labels})
    return rules


__all__ = ["Rule", "error_ratio_expr", "number", "recording_rules", "trusted"]

"""Alert rules: multi-window multi-burn-rate per SLO, budget exhausted, no data, endpoint down.

They mirror slowatch's own policy (`alerting.policy.PolicyBook`, `alerting.burn`): the same tiers
with the same factors (defaults and per-SLO overrides), one alert per severity that fires when any of
its tiers has both windows above the factor; burn and exhausted alerts need a trustworthy SLI (the
budget allows at least one bad probe in the SLO window), exactly as slowatch's state `ok`. Like
slowatch's, every SLO alert resolves only once its condition has been false for `resolve_after`
(`keep_firing_for`, Prometheus >= 2.42); an endpoint's down alert resolves at its
`success_threshold`-th success (`keep_firing_for` of the intervals between), as slowatch's does, and stays
quiet while a slowatch process holds its page (`slowatch_endpoint_suppressed`: slowatch/generate/quorum.py).
SLO alerts see maintenance only through the counters (its probes are not counted) and no consumer silence:
README "Prometheus rules and Grafana dashboards" says where they differ from slowatch's.
"""

from __future__ import annotations

from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.generate.promql import (
    BUDGET_REMAINING,
    BURN_RATE,
    EVENTS,
    TIME_TO_EXHAUSTION,
    WINDOW_EVENTS,
    Aggregation,
    SloTarget,
    prom_duration,
    selector,
)
from slowatch.generate.quorum import endpoint_down_expr
from slowatch.generate.rules import Rule, number, trusted

BURN_ALERT = "SlowatchErrorBudgetBurn"
EXHAUSTED_ALERT = "SlowatchErrorBudgetExhausted"
NO_DATA_ALERT = "SlowatchSloNoData"
DOWN_ALERT = "SlowatchEndpointDown"


def _query(expr: str, fmt: str) -> str:
    """A Go-template snippet that shows `expr`'s first value (or `n/a` when it has none)."""
    shown = f"{{{{ . | first | value | {fmt} }}}}"
    return f'{{{{ with query "{expr}" }}}}{shown}{{{{ else }}}}n/a{{{{ end }}}}'


def _link(config: Config) -> str:
    base = config.server.external_url or f"http://{config.server.listen}"
    return base.rstrip("/") + "/"


def _hold(seconds: float) -> Rule:
    """`keep_firing_for` of `seconds`: the alert resolves once its condition has been false that long."""
    return {"keep_firing_for": prom_duration(seconds)} if seconds > 0 else {}


def _explain(t: SloTarget, config: Config) -> dict[str, str]:
    sel = t.sel.replace('"', "'")
    return {
        "budget_left": _query(f"{BUDGET_REMAINING}{sel}", "humanizePercentage"),
        "time_to_exhaustion": _query(f"{TIME_TO_EXHAUSTION}{sel}", "humanizeDuration"),
        "runbook_url": _link(config),
    }


def burn_alerts(t: SloTarget, config: Config) -> list[Rule]:
    by_severity: dict[str, list[str]] = {}
    explain = _explain(t, config)
    budget = number(t.error_budget)
    for tier in t.tiers:
        long_w, short_w = prom_duration(tier.long), prom_duration(tier.short)
        long_s, short_s = selector(**t.labels, window=long_w), selector(**t.labels, window=short_w)
        cond = (f"    max without (window) ({BURN_RATE}{long_s} > {number(tier.factor)})\n"
                f"  and\n    max without (window) ({BURN_RATE}{short_s} > {number(tier.factor)})")  # fmt: skip
        by_severity.setdefault(tier.severity, []).append(cond)
    rules = []
    for severity, conds in by_severity.items():
        tiers = [x for x in t.tiers if x.severity == severity]
        spec = ", ".join(f"{prom_duration(x.long)}/{prom_duration(x.short)} > {x.factor:g}x" for x in tiers)
        expr = "\nor\n".join(f"  (\n{c}\n  )" for c in conds)
        rules.append({
            "alert": BURN_ALERT,
            "expr": f"(\n{expr}\n)\nand {trusted(t)}",
            **_hold(t.policy.resolve_after),
            "labels": {"severity": severity, **t.labels, "kind": "burn_rate"},
            "annotations": {
                "summary": f"{t.consumer} · {t.name}: error budget burning fast "
                "({{ $value | printf \"%.1f\" }}x over the long window)",
                "description": f"{t.consumer}/{t.name} (objective {t.slo.objective * 100:g}%, error budget {budget}) "
                f"burns its error budget above a {severity} tier ({spec}). Budget left: {explain['budget_left']}; "
                f"exhausted in {explain['time_to_exhaustion']} at the 1h burn rate.",
                "runbook_url": explain["runbook_url"],
            },
        })  # fmt: skip
    return rules


def budget_alerts(t: SloTarget, config: Config) -> list[Rule]:
    if not t.policy.enabled:
        return []
    explain = _explain(t, config)
    threshold = number(t.policy.exhausted_threshold)
    absent = f"absent({EVENTS}{t.sel})"
    return [
        {
            "alert": EXHAUSTED_ALERT,
            "expr": f"{BUDGET_REMAINING}{t.sel} <= {threshold}\nand {trusted(t)}",
            **_hold(t.policy.resolve_after),
            "labels": {"severity": t.policy.exhausted_severity, **t.labels, "kind": "budget_exhausted"},
            "annotations": {
                "summary": f"{t.consumer} · {t.name}: error budget exhausted",
                "description": f"{t.consumer}/{t.name} has {{{{ $value | humanizePercentage }}}} of its error budget "
                f"left over {t.window_label} (alert at <= {threshold}).",
                "runbook_url": explain["runbook_url"],
            },
        },
        {
            "alert": NO_DATA_ALERT,
            "expr": f"{WINDOW_EVENTS}{t.sel} == 0\nor {absent}",
            "for": prom_duration(t.policy.no_data_after),
            **_hold(t.policy.resolve_after),
            "labels": {"severity": t.policy.no_data_severity, **t.labels, "kind": "no_data"},
            "annotations": {
                "summary": f"{t.consumer} · {t.name}: no data",
                "description": f"No probe results counted for {t.consumer}/{t.name} in its {t.window_label} window "
                f"for {prom_duration(t.policy.no_data_after)} (or slowatch's counters are not scraped).",
                "runbook_url": explain["runbook_url"],
            },
        },
    ]


def endpoint_alerts(config: Config, agg: Aggregation) -> list[Rule]:
    """One down alert per endpoint with alerts enabled: failing for `failure_threshold` probe intervals."""
    rules: list[Rule] = []
    for ep in config.endpoints:
        alerts = ep.alerts
        if not ep.enabled or not alerts.enabled:
            continue
        rule: Rule = {
            "alert": DOWN_ALERT,
            "expr": endpoint_down_expr(ep, agg),
        }
        hold = _down_for(ep)
        if hold > 0:
            rule["for"] = prom_duration(hold)
        rule.update(_hold(_up_for(ep)))
        rule["labels"] = {"severity": alerts.severity, "endpoint": ep.name, "kind": "endpoint_down"}
        rule["annotations"] = {
            "summary": f"{ep.name} is down",
            "description": f"{ep.name}'s probes have failed for {alerts.failure_threshold} consecutive "
            f"interval(s) of {format_duration(ep.interval)}.",
            "runbook_url": _link(config),
        }
        rules.append(rule)
    return rules


def _down_for(ep: Endpoint) -> float:
    """The first failure sets the gauge to 0; `failure_threshold - 1` intervals later is the N-th failure."""
    return (ep.alerts.failure_threshold - 1) * ep.interval


def _up_for(ep: Endpoint) -> float:
    """The first success sets the gauge to 1; `success_threshold - 1` intervals later is the N-th success."""
    return (ep.alerts.success_threshold - 1) * ep.interval


__all__ = ["BURN_ALERT", "DOWN_ALERT", "EXHAUSTED_ALERT", "NO_DATA_ALERT", "budget_alerts", "burn_alerts",
           "endpoint_alerts"]  # fmt: skip

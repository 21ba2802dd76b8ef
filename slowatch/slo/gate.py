"""The deploy gate: may changes to what a consumer depends on ship now? Pure functions, no I/O.

An SLO's answer comes from its `policy` (slowatch/config/policy.py), tried in this order:

    no policy                       go    (nothing to enforce)
    no data / too few events        go    "collecting data": a budget that cannot be judged yet
                                          never blocks a deploy (a new SLO, or one whose probes
                                          stopped: the SLO's own no-data alert covers that)
    budget spent, on_exhausted      hold  (freeze) / go with a warning (allow)
    budget left < freeze_below      hold
    1h burn rate > max_burn_rate    hold
    otherwise                       go    "within policy"

A consumer's gate holds when any of its SLOs holds; its answer lists every SLO's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from slowatch.config.consumers import ConsumerConfig, SloConfig
from slowatch.slo.display import of_budget, times
from slowatch.slo.snapshot import Snapshot

Decision = Literal["go", "hold"]
COLLECTING = ("no_data", "too_few_events")


@dataclass(frozen=True, slots=True)
class SloGate:
    consumer: str
    slo: str
    decision: Decision
    rule: str  # the policy rule that decided, e.g. "freeze_below: 25%"
    reason: str  # one sentence for people and CI logs
    state: str  # the SLO's state: ok | no_data | too_few_events
    budget_remaining: float | None  # ratio; negative when overspent
    burn_rate_1h: float | None
    message: str = ""  # the policy's own message, when it holds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(ratio: float, *near: float) -> str:
    """'10.0%'; with more digits (up to 4) where one decimal would read as one of `near` (0%, 100%, the
    freeze line) without being it: 24.96% left is not '25.0% left, below the 25.0% freeze line'."""
    for digits in range(1, 5):
        text = f"{ratio * 100:.{digits}f}%"
        if not any(ratio != b and text == f"{b * 100:.{digits}f}%" for b in near):
            return text
    scaled = ratio * 100 * 10**4  # still: one step short of it, on its own side
    below = any(ratio < b for b in near if f"{b * 100:.4f}%" == text)
    return f"{(math.floor(scaled) if below else math.ceil(scaled)) / 10**4:.4f}%"


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def decide(consumer: str, slo: SloConfig, state: str, remaining: float | None, burn_1h: float | None) -> SloGate:
    """The gate's answer for one SLO, from its state, budget left and last hour's burn rate."""
    remaining, burn_1h = _finite(remaining), _finite(burn_1h)
    policy = slo.policy
    burn = times(burn_1h, "x")  # 2.0x, 400x, > 1,000x

    def answer(decision: Decision, rule: str, reason: str) -> SloGate:
        message = policy.message if policy is not None and decision == "hold" else ""
        return SloGate(consumer, slo.name, decision, rule, reason, state, remaining, burn_1h, message)

    if policy is None:
        return answer("go", "no policy", f"{consumer}/{slo.name} has no error-budget policy")
    if state in COLLECTING or remaining is None:
        words = state.replace("_", " ")
        why = f"is still collecting data ({words}): its budget cannot be judged yet, so it does not hold deploys"
        return answer("go", "collecting data", f"{consumer}/{slo.name} {why}")
    # "10.0% of the error budget left"; overspent: "400x the budget spent", never "-39900.0%" or "0.0%"
    spent = f"{of_budget(1.0 - remaining, sign='x')} spent"
    line = () if policy.freeze_below is None else (policy.freeze_below,)
    left = spent if remaining < 0 else f"{_pct(remaining, 0.0, 1.0, *line)} of the error budget left"
    left += f", burning {burn} over the last hour"
    if remaining <= 0:
        if policy.on_exhausted == "freeze":
            return answer("hold", "on_exhausted: freeze", f"{consumer}/{slo.name}: the error budget is spent ({left})")
        why = "the error budget is spent, but the policy allows deploys"
        return answer("go", "on_exhausted: allow", f"{consumer}/{slo.name}: {why}")
    if policy.freeze_below is not None and remaining < policy.freeze_below:
        rule = f"freeze_below: {_pct(policy.freeze_below)}"
        return answer("hold", rule, f"{consumer}/{slo.name}: {left}, below the {_pct(policy.freeze_below)} freeze line")
    if policy.max_burn_rate is not None and burn_1h is not None and burn_1h > policy.max_burn_rate:
        rule = f"max_burn_rate: {policy.max_burn_rate:g}"
        return answer("hold", rule, f"{consumer}/{slo.name}: {left}, faster than the {policy.max_burn_rate:g}x limit")
    return answer("go", "within policy", f"{consumer}/{slo.name}: {left}")


def slo_gate(consumer: ConsumerConfig, slo: SloConfig, snapshot: Snapshot) -> SloGate:
    """The answer for one SLO from the engine's Snapshot."""
    status = snapshot.get(consumer.name, slo.name)
    if status is None:
        return decide(consumer.name, slo, "no_data", None, None)
    return decide(consumer.name, slo, status.state.value, status.budget_remaining, status.burn(3600.0))


def consumer_gate(consumer: str, answers: list[SloGate]) -> dict[str, Any]:
    """One consumer's gate: hold when any SLO holds; the holding SLOs' reasons first."""
    holds = [a for a in answers if a.decision == "hold"]
    decision: Decision = "hold" if holds else "go"
    if holds:
        reason = "; ".join(a.reason for a in holds)
    elif answers:
        reason = "; ".join(a.reason for a in answers)
    else:
        reason = f"{consumer} has no SLOs"
    return {"consumer": consumer, "decision": decision, "reason": reason, "slos": [a.as_dict() for a in answers]}


__all__ = ["COLLECTING", "Decision", "SloGate", "consumer_gate", "decide", "slo_gate"]

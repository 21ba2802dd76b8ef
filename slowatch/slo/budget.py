"""Error-budget arithmetic (Google SRE Workbook vocabulary). Pure functions, no state.

`objective` is a ratio in (0, 1) (99.9% -> 0.999). Counts are good/total *units*: probes when
budgeting by occurrences, slices with data when budgeting by timeslices.

- SLI = good / total; None when total is 0 (no data is a state, never 100%).
- error budget = 1 - objective (the allowed error ratio), taken in decimal: 99.95% allows 0.0005, not the
  0.00049999999999994 of `1.0 - 0.9995` in floats, which made a burn of exactly 10x read 10.0000000000011
  and fire a 10x tier. The generated Prometheus rules divide by the same number (generate/promql.py).
- burn rate = (1 - SLI) / (1 - objective): 1.0 spends exactly the budget over the window.
- budget remaining = 1 - (1 - SLI) / (1 - objective): 1.0 untouched, 0 spent, negative overspent.
- time to exhaustion = remaining x window_seconds / burn_rate: how long until the remaining budget
  is gone if the current burn rate holds (a burn of 1 spends a whole budget in one window length).
  None when nothing burns or nothing is left.
"""

from __future__ import annotations

import functools
from decimal import Decimal


@functools.lru_cache(maxsize=4096)
def error_budget(objective: float) -> float:
    """1 - objective, the double nearest the decimal difference (0.999 -> 0.001, not 0.0010000000000000009)."""
    return float(1 - Decimal(repr(objective)))


def sli(good: int, total: int) -> float | None:
    return good / total if total > 0 else None


def burn_rate(good: int, total: int, objective: float) -> float | None:
    if total <= 0:
        return None
    return ((total - good) / total) / error_budget(objective)


def budget_remaining(good: int, total: int, objective: float) -> float | None:
    burn = burn_rate(good, total, objective)
    return None if burn is None else 1.0 - burn


def time_to_exhaustion(remaining: float | None, window_seconds: float, burn: float | None) -> float | None:
    if remaining is None or burn is None or remaining <= 0 or burn <= 0:
        return None
    return remaining * window_seconds / burn


def too_few_events(total: int, objective: float) -> bool:
    """True when the budget allows fewer than one bad unit (99.9% of 200 probes allows 0.2)."""
    return total > 0 and total * error_budget(objective) < 1.0 - 1e-9  # 1e-9: 1,000 x (1 - 0.999) is one


def allowed_bad(total: int, objective: float) -> float:
    """How many bad units the budget allows out of `total`."""
    return total * error_budget(objective)


__all__ = [
    "allowed_bad",
    "budget_remaining",
    "burn_rate",
    "error_budget",
    "sli",
    "time_to_exhaustion",
    "too_few_events",
]

"""Error-budget policies: when changes to what a consumer depends on should wait.

    slos:
      - name: availability
        objective: 99.9
        policy:
          freeze_below: 25%        # hold deploys while less than 25% of the budget is left
          on_exhausted: freeze     # (default) hold once the budget is spent; `allow`: only warn
          max_burn_rate: 6         # optional: hold while the last hour burns faster than 6x
          message: "Ask #sre before shipping"

The deploy gate (slowatch/slo/gate.py) applies it: `/api/v1/consumers/<c>/gate` and `slowatch gate`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

from slowatch.config.types import Model

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$", re.ASCII)  # (`\d`: ASCII digits only)


def _percent(value: Any) -> Any:
    """`25%` or `25` (percent of the error budget) -> 0.25."""
    if isinstance(value, bool):
        raise ValueError("not a percentage (use e.g. 25%)")
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if not match:
            raise ValueError(f"not a percentage: {value!r} (use e.g. 25%)")
        value = float(match.group(1))
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 < value <= 100:
            raise ValueError(f"must be more than 0% and at most 100% (got {value}%)")
        return value / 100.0
    return value


BudgetShare = Annotated[float, BeforeValidator(_percent), PlainSerializer(lambda r: f"{r * 100:g}%", return_type=str)]
"""A share of the error budget, written `25%` (or `25`); held as a ratio (0.25)."""


class BudgetPolicy(Model):
    freeze_below: BudgetShare | None = None
    on_exhausted: Literal["freeze", "allow"] = "freeze"
    max_burn_rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    message: Annotated[str, Field(max_length=500)] = ""


__all__ = ["BudgetPolicy", "BudgetShare"]

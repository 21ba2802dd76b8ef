"""Words and rounded numbers for the SLO figures a person reads (pages, the demo table, reports).

The JSON API keeps the raw figures; everything shown to a person goes through here, so a budget
early in a window reads "collecting data: 12 of 1,000 probes" instead of "-39,900%", and an SLO
without counted probes reads "no data" instead of an empty cell or 100%.
"""

from __future__ import annotations

import math

from slowatch.slo.budget import too_few_events
from slowatch.slo.definitions import SloDef


def units_needed(objective: float) -> int:
    """The fewest units (probes or timeslices) for which the budget allows one bad unit: 1,000 at 99.9%."""
    need = max(1, math.ceil((1.0 - 1e-9) / (1.0 - objective)))
    while need > 1 and not too_few_events(need - 1, objective):
        need -= 1
    while too_few_events(need, objective):
        need += 1
    return need


def unit_word(budgeting: str, count: int = 2) -> str:
    """`budgeting`, or an SLO's `units_of` kind: probes, timeslices, or a composite's "units"."""
    word = {"timeslices": "timeslice", "units": "unit"}.get(budgeting, "probe")
    return word if count == 1 else word + "s"


def units_of(d: SloDef) -> str:
    """What an SLO counts, for `unit_word`: a serial journey one timeslice per slice, weighted and worst
    ones their members' (weighted) units; otherwise its budgeting."""
    if d.composite is not None:
        return "timeslices" if d.composite.method == "serial" else "units"
    return d.budgeting


def sli_words(d: SloDef) -> str:
    """What the SLO measures: 'availability', 'latency ≤ 300ms', 'journey: weighted of a/x, b/y (weight 2)'."""
    c = d.composite
    if c is not None:
        weighted = c.method == "weighted"
        parts = [
            f"{consumer}/{slo}" + (f" (weight {w})" if weighted and w != 1 else "")
            for (consumer, slo), w in zip(c.members, c.weights, strict=True)
        ]
        return f"journey: {c.method} of {', '.join(parts)}"
    if d.sli == "latency":
        return f"latency ≤ {duration_words(d.threshold)}"
    return d.sli


def percent(ratio: float | None, digits: int | None = None) -> str:
    """A ratio as a percentage, rounded sensibly: 62.3%, 4.25%, 100%, 1,234.5%; 'n/a' for None."""
    if ratio is None or math.isnan(ratio):
        return "n/a"
    value = ratio * 100
    if digits is None:
        digits = 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def objective_percent(objective: float) -> str:
    """An objective as written, never rounded up: 99.9%, 99.95%, 99.9999999% (not 100%)."""
    return f"{round(objective * 100, 9):.9f}".rstrip("0").rstrip(".") + "%"


def sli_percent(sli: float | None) -> str:
    """An SLI with enough digits to compare with objectives like 99.95% (never rounded up to 100%)."""
    if sli is None:
        return "no data"
    if sli >= 1.0:
        return "100%"
    digits = 3
    while digits < 6 and round(sli * 100, digits) >= 100:
        digits += 1
    return f"{math.floor(sli * 100 * 10**digits) / 10**digits:.{digits}f}".rstrip("0").rstrip(".") + "%"


def duration_words(seconds: float | None) -> str:
    """A span for people: 45s, 12m, 3h 20m, 4.5d; 'n/a' for None."""
    if seconds is None:
        return "n/a"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 1:
        return f"{sign}{s * 1000:.0f}ms"
    if s < 90:
        return f"{sign}{s:.0f}s"
    if s < 3600:
        return f"{sign}{s / 60:.0f}m"
    if s < 86400:
        h, m = divmod(round(s / 60), 60)
        return f"{sign}{h}h {m}m" if m else f"{sign}{h}h"
    return f"{sign}{s / 86400:.1f}d".replace(".0d", "d")


def state_word(state: str, budget_remaining: float | None, burn_1h: float | None = None) -> str:
    """ok, burning (the last hour spends faster than the window allows), exhausted, no data or collecting."""
    if state == "no_data":
        return "no data"
    if state == "too_few_events":
        return "collecting"
    if budget_remaining is not None and budget_remaining <= 0:
        return "exhausted"
    if burn_1h is not None and burn_1h > 1.0:
        return "burning"
    return "ok"


def budget_text(
    state: str, total: int, objective: float, budget_remaining: float | None, budgeting: str = "occurrences",
    excluded: int = 0,
) -> str:  # fmt: skip
    """What the 'budget left' cell says: '62.3%', 'collecting data: 12 of 1,000 probes', 'no data'."""
    if state == "no_data" or budget_remaining is None:
        if excluded:
            return "no data: every probe so far fell in a maintenance window"
        return "no data"
    if state == "too_few_events":
        need = units_needed(objective)
        return f"collecting data: {total:,} of {need:,} {unit_word(budgeting, need)} needed"
    if budget_remaining < 0:
        return f"exhausted (overspent by {percent(-budget_remaining)})"
    return percent(budget_remaining)


def row_budget_text(s: dict[str, object]) -> str:
    """The 'budget left' words for one row of the JSON SLO view (`SloStatus.as_dict`)."""
    left, total, objective = s.get("budget_remaining"), s.get("total"), s.get("objective")
    return budget_text(
        str(s.get("state", "no_data")),
        total if isinstance(total, int) else 0,
        objective if isinstance(objective, float) else 0.999,
        left if isinstance(left, float) else None,
        str(s.get("units") or s.get("budgeting", "occurrences")),
        int(str(s.get("excluded_events") or 0)),
    )


__all__ = [
    "budget_text",
    "duration_words",
    "objective_percent",
    "percent",
    "row_budget_text",
    "sli_percent",
    "sli_words",
    "state_word",
    "unit_word",
    "units_needed",
    "units_of",
]

"""Words and rounded numbers for the SLO figures a person reads (pages, reports, badges, alert texts,
gate reasons, the demo table).

The JSON API's numeric fields, the CSV columns and /metrics keep the raw figures; everything shown to
a person goes through here, so a budget early in a window reads "collecting data: 12 of 1,000 probes"
instead of "-39,900%", and an SLO without counted probes reads "no data" instead of an empty cell or
100%. The rules for extreme figures, in one place:

- a percentage beyond ±1,000% is never printed: `percent` says "> 1,000%" / "< -1,000%", and the budget
  helpers say it as a multiple ("spent 400x its budget");
- a percentage that is not exactly 0% or ±100% never reads as one (99.96% budget left is not "100%",
  0.004% not "0%"; `percent`), and none reads "-0%";
- a multiple (burn rate, budget spent) above 1,000x reads "> 1,000x"; one under 0.1 keeps two decimals (a
  1h SLO's burn threshold: "0.02x", not "0.0x"), under 0.01 "< 0.01x" (`times`);
- an overspent budget reads "exhausted (overspent by 50%)" or "exhausted (spent 400x its budget)",
  never a negative percentage (`budget_left_words`); as time it reads "none (2.8d over budget)", never a
  negative duration (`budget_time_words`; `duration_words` never prints a sign);
- shares of a budget that is still collecting data (too few units for one bad one) read
  "collecting data" (`share_words`), and so do the burn rates of such an SLO (`burn_words`);
- a span longer than 1,000 days reads "> 1,000d", one shorter than half a millisecond "under 1ms";
- NaN and infinities read "n/a" (and an infinite duration "never").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from slowatch.slo.budget import error_budget, too_few_events
from slowatch.slo.definitions import SloDef

if TYPE_CHECKING:
    from slowatch.slo.snapshot import SloStatus


def units_needed(objective: float) -> int:
    """The fewest units (probes or timeslices) for which the budget allows one bad unit: 1,000 at 99.9%. Started
    from the exact decimal budget (`1.0 - objective` in floats is 1.0008e13 units off at 99.99999999999 %, and the
    loops below step one unit at a time), so they take a step or two."""
    need = max(1, math.ceil((1.0 - 1e-9) / error_budget(objective)))
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


LIMIT = 1000.0
"""The largest multiple (and, as 1,000%, the largest percentage) a person reads as a number."""


TIMES = "\u00d7"  # the multiplication sign pages and reports print after a multiple ("400\u00d7")


BOUNDARIES = (0.0, 100.0, -100.0)
"""Percentages a figure reads only when it is exactly that: all or none of a budget (or of the probes)."""

BOUNDARY_DIGITS = 4


def percent(ratio: float | None, digits: int | None = None) -> str:
    """A ratio as a percentage, rounded sensibly: 62.3%, 4.25%, 100%, 999.5%; 'n/a' for None or NaN;
    beyond ±1,000% only the bound: '> 1,000%', '< -1,000%' (say more with the budget helpers below).
    Never rounded onto 0% or ±100% when not exactly that: 99.996% reads '99.996%', 99.99999% '99.9999%',
    0.00001% '0.0001%' (more digits, up to 4, then one step short of the boundary); never '-0%'."""
    if ratio is None or math.isnan(ratio):
        return "n/a"
    value = ratio * 100
    if abs(value) > LIMIT:
        return f"> {LIMIT:,.0f}%" if value > 0 else f"< -{LIMIT:,.0f}%"
    if value == 0:
        return "0%"  # (and -0.0: never "-0%")
    if digits is None:
        digits = 1 if abs(value) >= 10 else 2
    shown = round(value, digits)
    while digits < BOUNDARY_DIGITS and shown in BOUNDARIES and shown != value:
        digits += 1  # 99.96% budget left is not "100%", 0.004% is not "0%"
        shown = round(value, digits)
    if shown in BOUNDARIES and shown != value:  # still: step away from it, never onto it
        step = 10.0**-digits
        shown = shown - step if value < shown else shown + step
    text = f"{shown:,.{digits}f}"
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


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
DAYS_IN_UNITS = 10
"""Spans under this many days keep their hours ("1d 23h"); longer ones read in days with a decimal ("12.5d")."""


def _spelled(s: float, first: int, count: int) -> str:
    """`s` in `count` units from `_UNITS[first]`, rounded at the last, zeros left out: '1d 23h', '3h 20m'."""
    size = _UNITS[min(first + count - 1, len(_UNITS) - 1)][1]
    rest, parts = round(s / size) * size, []
    for unit, unit_size in _UNITS[first:]:
        if unit_size < size:
            break
        n, rest = divmod(rest, unit_size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts)


def duration_words(seconds: float | None, *, finer: bool = False) -> str:
    """A span for people: 45s, 12m, 3h 20m, 1d 23h, 12.5d, 'under 1ms', '> 1,000d'; 'n/a' for None or NaN,
    'never' for infinity. Never negative: a span below zero reads 'none' (an overspent budget's time left is
    `budget_time_words`). `finer`: one more unit or digit (12m 30s, 1d 22h 40m), for `duration_pair`."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "never" if seconds > 0 else "none"
    if seconds < 0:
        return "none"
    s = abs(seconds)  # (-0.0: not "-0ms")
    if s > LIMIT * 86400:  # a time to exhaustion at a tiny burn: "> 1,000d", not "11,574,074.1d"
        return f"> {LIMIT:,.0f}d"
    if 0 < s < 0.0005:
        return "under 1ms"
    if round(s * 1000) < 1000:
        return f"{s * 1000:.{1 if finer else 0}f}ms"
    if s < 90:
        return f"{s:.{1 if finer else 0}f}s"
    if round(s / 60) < 60:  # (3,599 s: "1h", not "60m"; 86,399 s: "1d", not "24h")
        return _spelled(s, 2, 1 + finer)  # minutes alone
    if round(s / 60) < 24 * 60:
        return _spelled(s, 1, 2 + finer)  # hours and minutes
    if round(s / 3600) < DAYS_IN_UNITS * 24:
        return _spelled(s, 0, 2 + finer)  # days and hours
    days = f"{s / 86400:,.{2 if finer else 1}f}"
    return f"{days.rstrip('0').rstrip('.')}d"


def duration_pair(part: float | None, whole: float | None) -> tuple[str, str]:
    """`part` of `whole` in words ("42m 51s of 43m 12s"): one unit finer where the plain words would be the same
    for different figures, which read as none of it spent next to "99.2% left"."""
    words = duration_words(part), duration_words(whole)
    if words[0] == words[1] and part != whole:
        return duration_words(part, finer=True), duration_words(whole, finer=True)
    return words


def exhaustion_basis(st: SloStatus) -> str | None:
    """What a time to exhaustion spends while the time figures read "so far" (data covers part of the window):
    the share left of the whole window's budget (the generated rule's basis: remaining x window / the 1h burn),
    not the budget so far: '98% of the whole 7d budget (1h 39m) at the 1h burn'. None when there is no such
    figure or the window is covered (the consumer page's note and the alerts' `time_to_exhaustion_basis`)."""
    if not st.partial or not st.time_to_exhaustion or st.state.value != "ok":
        return None
    whole = (st.budget_remaining or 0.0) * st.error_budget * st.window_seconds
    return (
        f"{percent(st.budget_remaining)} of the whole {duration_words(st.window_seconds)} budget "
        f"({duration_words(whole)}) at the 1h burn"
    )


def times(multiple: float | None, sign: str = TIMES) -> str:
    """A multiple for people: 0.02x, 0.4x, 14.4x, 400x, 1,000x; above 1,000 only '> 1,000x'; under 0.01
    '< 0.01x' (0 reads '0.0x'); 'n/a' for None or NaN. `sign`: 'x' for plain-text channels (alert texts, CI logs)."""
    if multiple is None or math.isnan(multiple):
        return "n/a"
    if multiple > LIMIT:
        return f"> {LIMIT:,.0f}{sign}"
    if multiple <= 0:
        return f"0.0{sign}"  # (a multiple is never negative: no "-0.0x")
    if multiple < 0.01:
        return f"< 0.01{sign}"
    if multiple < 0.095:  # a 1h SLO's burn threshold of 0.02 is not "0.0x"
        return f"{multiple:.2f}{sign}"
    return f"{multiple:,.1f}{sign}" if multiple < 99.95 else f"{multiple:,.0f}{sign}"


def burn_words(rate: float | None, state: str = "ok", sign: str = TIMES) -> str:
    """A burn rate: '2.5x', '400x', '> 1,000x'; '—' without data; 'collecting data' while the SLO has too
    few units to judge (3 probes with one bad 'burn' 333x a 99.9% budget: noise, not a finding)."""
    if state == "too_few_events":
        return "collecting data"
    return "—" if rate is None else times(rate, sign)


def budget_used_words(used: float | None, sign: str = TIMES) -> str:
    """How much of a budget was spent: '62.3%', '950%', then as a multiple: '400x the budget',
    '> 1,000x the budget'."""
    if used is None or math.isnan(used):
        return "n/a"
    if used * 100 <= LIMIT:
        return percent(used)
    return f"{times(used, sign)} the budget"


def share_words(share: float | None, collecting: bool = False) -> str:
    """A share of a period's budget (an incident's, a deploy's, a correction's): like `budget_used_words`;
    'collecting data' while the period has too few units for its budget to allow one bad one."""
    return "collecting data" if collecting else budget_used_words(share)


def of_budget(share: float | None, collecting: bool = False, sign: str = TIMES) -> str:
    """`share_words` in a sentence: '37% of the budget', '400x the budget', 'collecting data'."""
    words = "collecting data" if collecting else budget_used_words(share, sign)
    return words + " of the budget" if words.endswith("%") else words


def budget_left_words(remaining: float | None, sign: str = TIMES) -> str:
    """Budget left: '62.3%', 'exhausted (overspent by 50%)', 'exhausted (spent 400x its budget)',
    'exhausted (spent > 1,000x its budget)'; never a negative percentage."""
    if remaining is None or math.isnan(remaining):
        return "n/a"
    if remaining >= 0:
        return percent(remaining)
    if -remaining * 100 <= LIMIT:
        return f"exhausted (overspent by {percent(-remaining)})"
    return f"exhausted (spent {times(1.0 - remaining, sign)} its budget)"


def budget_time_words(seconds: float | None) -> str:
    """Budget left as time: '3h 20m'; an overspent budget 'none (2.8d over budget)', never '-2.8d'."""
    if seconds is None or math.isnan(seconds) or seconds >= 0:
        return duration_words(seconds)
    return f"none ({duration_words(-seconds)} over budget)"


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
        return collecting_words(total, objective, budgeting)
    return budget_left_words(budget_remaining)


def collecting_words(total: int, objective: float, budgeting: str = "occurrences") -> str:
    """'collecting data: 12 of 1,000 probes needed': too few units for the budget to allow one bad one."""
    need = units_needed(objective)
    return f"collecting data: {total:,} of {need:,} {unit_word(budgeting, need)} needed"


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
    "LIMIT",
    "TIMES",
    "budget_left_words",
    "budget_text",
    "budget_time_words",
    "budget_used_words",
    "burn_words",
    "collecting_words",
    "duration_pair",
    "duration_words",
    "exhaustion_basis",
    "objective_percent",
    "of_budget",
    "percent",
    "row_budget_text",
    "share_words",
    "sli_percent",
    "sli_words",
    "state_word",
    "times",
    "unit_word",
    "units_needed",
    "units_of",
]

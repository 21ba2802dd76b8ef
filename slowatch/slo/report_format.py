"""Text renderings of SLO report figures: an aligned table, CSV rows, and Markdown for humans.

The CSV keeps exact figures (negative seconds and ratios of an overspent budget included); the table
and Markdown say extreme figures in words through slowatch.slo.display: "exhausted (spent 400x its
budget)", "none (2d19h over budget)", "collecting data: 3 of 1,000 probes needed".
"""

from __future__ import annotations

import datetime as dt

from slowatch.durations import format_duration
from slowatch.slo.budget import too_few_events
from slowatch.slo.correction_report import CorrectionFigure, budget_returned, returned_words
from slowatch.slo.display import budget_left_words, objective_percent, of_budget, sli_percent, unit_word, units_needed
from slowatch.slo.history import IncidentFigure, SloFigures
from slowatch.slo.snapshot import SloState
from slowatch.untrusted import one_line

CSV_COLUMNS = (
    "consumer", "slo", "period", "start", "end", "state", "objective_percent", "sli_percent", "good", "total",
    "excluded_events", "budget_total_seconds", "budget_used_seconds", "budget_left_seconds", "budget_used_ratio",
    "budget_remaining_ratio", "incidents", "corrections", "corrected_bad_units", "data_seconds",
)  # fmt: skip


STATE_WORDS = {SloState.OK: "ok", SloState.NO_DATA: "no data", SloState.TOO_FEW_EVENTS: "collecting data"}


def pct(ratio: float | None, digits: int = 3) -> str:
    """An SLI to `digits` decimals, never rounded up to 100% (99.9996% reads 99.9996%, not 100.000%)."""
    if ratio is None:
        return "n/a"
    text = f"{ratio * 100:.{digits}f}%"
    return sli_percent(ratio) if ratio < 1.0 and text.startswith("100.") else text


def objective_pct(ratio: float) -> str:
    """An objective to 3 decimals, or as written when that would round it (99.9999999%, not 100.000%)."""
    text = f"{ratio * 100:.3f}%"
    return text if abs(float(text[:-1]) - ratio * 100) < 1e-9 else objective_percent(ratio)


def span(seconds: float | None) -> str:
    """A span, never negative: a time left below zero reads 'none (2d19h over budget)'."""
    if seconds is None:
        return "n/a"
    if seconds < 0:
        return f"none ({format_duration(round(-seconds))} over budget)"
    if 0 < seconds < 0.5:  # 99.9999999% of 7d: 0.6 ms of budget, not "0s"
        return "under 1s"
    return format_duration(round(seconds))


def period_words(f: SloFigures) -> str:
    """The period, naming a calendar period's time zone: 'month 2026-11 (Asia/Kathmandu)'."""
    return f"{f.period} ({f.time_zone})" if f.time_zone else f.period


def budget_span(f: SloFigures) -> str:
    """BUDGET: the budget as time over the time with data, saying so when that is part of the period:
    '7m12s (12h with data so far)'; USED and LEFT are over the same time, so LEFT is LEFT% of it."""
    if f.sli is None or f.state is SloState.TOO_FEW_EVENTS:  # no data, or not enough to judge (as USED, LEFT
        return "n/a"  # and the consumer page): not the whole period's budget, which no data stands behind
    text = span(f.budget_seconds)
    if f.partial:
        text += f" ({span(f.covered_seconds)} with data{' so far' if f.running else ''})"
    return text


def collecting_words(f: SloFigures) -> str:
    need = units_needed(f.objective)
    return f"collecting data: {f.total:,} of {need:,} {unit_word(f.budgeting, need)} needed"


def used_span(f: SloFigures) -> str:
    """Time spent: not while the SLO collects data (1 bad probe of 3 is not a third of the period)."""
    return "n/a" if f.state is SloState.TOO_FEW_EVENTS else span(f.used_seconds)


def left_span(f: SloFigures) -> str:
    return "n/a" if f.state is SloState.TOO_FEW_EVENTS else span(f.left_seconds)


def left_words(f: SloFigures) -> str:
    """Budget left as a share: '62.3%', 'exhausted (spent 400x its budget)', 'collecting data: ...'."""
    return collecting_words(f) if f.state is SloState.TOO_FEW_EVENTS else budget_left_words(f.budget_remaining)


def state_text(f: SloFigures) -> str:
    """The table's STATE: as the pages say it, `exhausted` once the budget is spent (LEFT% says by how much)."""
    spent = f.state is SloState.OK and f.budget_remaining is not None and f.budget_remaining <= 0
    return "exhausted" if spent else STATE_WORDS[f.state]


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def verdict(f: SloFigures) -> str:
    if f.state is SloState.NO_DATA:
        return "no data"
    if f.state is SloState.TOO_FEW_EVENTS:
        return collecting_words(f)
    assert f.budget_remaining is not None
    if f.budget_remaining < 0:
        return f"budget {budget_left_words(f.budget_remaining)}"  # budget exhausted (overspent by 79.5%)
    if f.budget_remaining == 0:
        return "budget exhausted"
    return "meeting objective"


def csv_row(f: SloFigures) -> list[object]:
    """Rounded sensibly: percentages to 4 decimals, seconds to 0.1 s, ratios to 6 decimals (no
    13392.000000000013 from floating point)."""

    def r(v: float | None, digits: int) -> object:
        return "" if v is None else round(v, digits) + 0.0  # + 0.0: no "-0.0"

    return [
        f.consumer, f.slo, f.period, _iso(f.start), _iso(min(f.end, f.start + f.period_seconds)), f.state.value,
        r(f.objective * 100, 4), r(None if f.sli is None else f.sli * 100, 4), f.good, f.total, f.excluded_events,
        r(f.budget_seconds, 1), r(f.used_seconds, 1), r(f.left_seconds, 1), r(f.budget_used, 6),
        r(f.budget_remaining, 6), len(f.incidents), len(f.corrections),
        sum(c.bad_units_returned for c in f.corrections if not c.revoked), r(f.data_seconds, 1),
    ]  # fmt: skip


def _incident(i: IncidentFigure, until: float) -> str:
    """`until`: the end of the report's period (now + 1 s for the current one), where an ongoing incident is
    still down; its length in whole minutes, as `when` shows times."""
    detail = f": {one_line(i.message, 300)}" if i.message else ""
    if i.end is None:  # under a minute: not "down for 0s (still down ...)"
        lasted = "under 1m" if until - i.start < 60 else span((until - i.start) // 60 * 60)
        length = f"{lasted} (still down at {when(until)})"
    else:
        length = span(i.end - i.start)
    return f"{when(i.start)} {i.endpoint} down for {length} ({i.outcome}{detail})"


def correction_line(c: CorrectionFigure, f: SloFigures) -> str:
    """One budget correction: what, who, why, and the budget it returned (or that it was revoked)."""
    text = f"#{c.id} {when(c.start)} to {when(c.end)} ({c.scope}) by {one_line(c.author, 100)}: {one_line(c.reason)}"
    if c.revoked:
        return text + f"; revoked {when(c.revoked_at or 0.0)} by {one_line(c.revoked_by or '?', 100)}"
    share = budget_returned(c, f.total, f.objective)
    collecting = too_few_events(f.total, f.objective)
    return text + f"; {returned_words(c)}" + ("" if share is None else f" ({of_budget(share, collecting)})")


def table(figures: list[SloFigures]) -> str:
    head = ("CONSUMER", "SLO", "PERIOD", "OBJECTIVE", "SLI", "BUDGET", "USED", "LEFT", "LEFT%", "STATE")
    rows = [
        (
            f.consumer,
            f.slo,
            period_words(f),
            objective_pct(f.objective),
            pct(f.sli),
            budget_span(f),
            used_span(f),
            left_span(f),
            left_words(f),
            state_text(f),
        )
        for f in figures
    ]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    for f in figures:
        extra = []
        if f.worst_days:
            days = ", ".join(f"{d.day} {pct(d.sli)}" for d in f.worst_days)
            extra.append(f"  worst days: {days}")
        extra.extend(f"  incident: {_incident(i, f.end)}" for i in f.incidents)
        if f.sli_kind == "composite" and f.maintenance:  # as the HTML report: not "0 probes excluded"
            extra.append(f"  maintenance: in its members' figures ({', '.join(f.maintenance)})")
        elif f.excluded_events or f.maintenance:
            names = ", ".join(f.maintenance) or "-"
            extra.append(f"  maintenance: {f.excluded_events:,} probes excluded ({names})")
        extra.extend(f"  correction: {correction_line(c, f)}" for c in f.corrections)
        if f.sli_kind == "composite":
            extra.insert(0, f"  {f.sli_words}")
        if extra:
            lines.append(f"{f.consumer}/{f.slo}:")
            lines.extend(extra)
    return "\n".join(lines) + "\n"


def markdown(figures: list[SloFigures]) -> str:
    out: list[str] = []
    for consumer in dict.fromkeys(f.consumer for f in figures):
        out.append(f"## {consumer}\n")
        out.append("| SLO | Period | Objective | Achieved | Error budget | Used | Left | Status |")
        out.append("|---|---|---|---|---|---|---|---|")
        mine = [f for f in figures if f.consumer == consumer]
        for f in mine:
            ok = f.state is SloState.OK and (f.budget_remaining or 0.0) >= 0  # else the status says it in words
            left = f"{left_span(f)} ({left_words(f)})" if ok else left_span(f)
            out.append(
                f"| {f.slo} | {period_words(f)} | {objective_pct(f.objective)} | {pct(f.sli)} | {budget_span(f)} "
                f"| {used_span(f)} | {left} | {verdict(f)} |"
            )
        out.append("")
        for f in mine:
            notes = []
            if f.worst_days:
                notes.append("Worst days: " + ", ".join(f"{d.day} ({pct(d.sli)})" for d in f.worst_days))
            if f.incidents:
                notes.append(f"Incidents ({len(f.incidents)}):")
                notes.extend(f"  - {_incident(i, f.end)}" for i in f.incidents[:10])
            if f.sli_kind == "composite" and f.maintenance:
                notes.append(f"Planned maintenance ({', '.join(f.maintenance)}): in its members' figures")
            elif f.excluded_events or f.maintenance:
                names = ", ".join(f.maintenance) or "maintenance"
                notes.append(f"Planned maintenance ({names}): {f.excluded_events:,} probes excluded from the budget")
            if f.corrections:
                notes.append(f"Budget corrections ({len(f.corrections)}):")
                notes.extend(f"  - {correction_line(c, f)}" for c in f.corrections)
            if f.sli_kind == "composite":
                notes.insert(0, f.sli_words[0].upper() + f.sli_words[1:])
            if notes:
                out.append(f"**{f.slo}**\n")
                out.extend(f"- {n}" if not n.startswith("  ") else n for n in notes)
                out.append("")
    return "\n".join(out)


__all__ = [
    "CSV_COLUMNS", "STATE_WORDS", "budget_span", "correction_line", "csv_row", "left_words", "markdown",
    "objective_pct", "pct", "period_words", "span", "state_text", "table", "verdict",
]  # fmt: skip

"""Text renderings of SLO report figures: an aligned table, CSV rows, and Markdown for humans."""

from __future__ import annotations

import datetime as dt

from slowatch.durations import format_duration
from slowatch.slo.correction_report import CorrectionFigure, budget_returned, returned_words
from slowatch.slo.history import IncidentFigure, SloFigures
from slowatch.slo.snapshot import SloState

CSV_COLUMNS = (
    "consumer", "slo", "period", "start", "end", "state", "objective_percent", "sli_percent", "good", "total",
    "excluded_events", "budget_total_seconds", "budget_used_seconds", "budget_left_seconds", "budget_used_ratio",
    "budget_remaining_ratio", "incidents", "corrections", "corrected_bad_units",
)  # fmt: skip


def pct(ratio: float | None, digits: int = 3) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.{digits}f}%"


def span(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    sign = "-" if seconds < 0 else ""
    return sign + format_duration(round(abs(seconds)))


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def verdict(f: SloFigures) -> str:
    if f.state is SloState.NO_DATA:
        return "no data"
    assert f.budget_remaining is not None
    if f.budget_remaining < 0:
        return "budget overspent"
    if f.budget_remaining == 0:
        return "budget exhausted"
    note = " (too few events to judge)" if f.state is SloState.TOO_FEW_EVENTS else ""
    return "meeting objective" + note


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
        sum(c.bad_units_returned for c in f.corrections if not c.revoked),
    ]  # fmt: skip


def _incident(i: IncidentFigure) -> str:
    length = "ongoing" if i.end is None else span(i.end - i.start)
    detail = f": {i.message}" if i.message else ""
    return f"{when(i.start)} {i.endpoint} down for {length} ({i.outcome}{detail})"


def correction_line(c: CorrectionFigure, f: SloFigures) -> str:
    """One budget correction: what, who, why, and the budget it returned (or that it was revoked)."""
    text = f"#{c.id} {when(c.start)} to {when(c.end)} ({c.scope}) by {c.author}: {c.reason}"
    if c.revoked:
        return text + f"; revoked {when(c.revoked_at or 0.0)} by {c.revoked_by}"
    share = budget_returned(c, f.total, f.objective)
    return text + f"; {returned_words(c)}" + ("" if share is None else f" ({pct(share, 1)} of the budget)")


def table(figures: list[SloFigures]) -> str:
    head = ("CONSUMER", "SLO", "PERIOD", "OBJECTIVE", "SLI", "BUDGET", "USED", "LEFT", "LEFT%", "STATE")
    rows = [
        (
            f.consumer,
            f.slo,
            f.period,
            pct(f.objective),
            pct(f.sli),
            span(f.budget_seconds),
            span(f.used_seconds),
            span(f.left_seconds),
            pct(f.budget_remaining, 1),
            f.state.value,
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
        extra.extend(f"  incident: {_incident(i)}" for i in f.incidents)
        if f.excluded_events or f.maintenance:
            names = ", ".join(f.maintenance) or "-"
            extra.append(f"  maintenance: {f.excluded_events} probes excluded ({names})")
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
            left = f"{span(f.left_seconds)} ({pct(f.budget_remaining, 1)})"
            out.append(
                f"| {f.slo} | {f.period} | {pct(f.objective)} | {pct(f.sli)} | {span(f.budget_seconds)} "
                f"| {span(f.used_seconds)} | {left} | {verdict(f)} |"
            )
        out.append("")
        for f in mine:
            notes = []
            if f.worst_days:
                notes.append("Worst days: " + ", ".join(f"{d.day} ({pct(d.sli)})" for d in f.worst_days))
            if f.incidents:
                notes.append(f"Incidents ({len(f.incidents)}):")
                notes.extend(f"  - {_incident(i)}" for i in f.incidents[:10])
            if f.excluded_events or f.maintenance:
                names = ", ".join(f.maintenance) or "maintenance"
                notes.append(f"Planned maintenance ({names}): {f.excluded_events} probes excluded from the budget")
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


__all__ = ["CSV_COLUMNS", "correction_line", "csv_row", "markdown", "pct", "span", "table", "verdict"]

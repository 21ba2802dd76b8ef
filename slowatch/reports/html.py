"""A self-contained HTML report per consumer (inline CSS and SVG, no network), for a month or the
SLOs' current periods: what a platform PM sends to stakeholders. It prints cleanly.

    slowatch report --config FILE --format html [--month 2026-11] [--consumer checkout] > report.html
    GET /consumers/checkout/report?month=2026-11

Per SLO: attainment, budget used, a plain-language summary ("kept its promise; 37% of the budget
used, mostly by the 12 Nov pay outage"), the burn-down chart, worst days, incidents and the
maintenance excluded, the annotations on the chart and the budget burned in the hours after each
deploy (slowatch/reports/deploys.py). Figures come from slowatch/slo/history.py (the same as the other formats).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from html import escape
from zoneinfo import ZoneInfo

from slowatch.config.consumers import ConsumerConfig
from slowatch.config.schema import Config
from slowatch.reports.deploys import deploy_impacts, deploys_html
from slowatch.reports.marks import concerning
from slowatch.slo.consumer_view import ConsumerFigures, SloFigure, consumer_figures, consumer_rules, period
from slowatch.slo.definitions import SloDef
from slowatch.slo.display import (
    budget_used_words,
    collecting_words,
    duration_words,
    objective_percent,
    share_words,
    sli_percent,
    sli_words,
    unit_word,
    units_needed,
    units_of,
)
from slowatch.slo.history import SloFigures, slo_figures
from slowatch.slo.snapshot import SloState, Snapshot
from slowatch.slo.windows import CalendarPeriod, month_bounds
from slowatch.store.annotations import Annotation
from slowatch.web.charts import burn_down_svg
from slowatch.web.consumer_html import PRINT_STYLE, STYLE, correction_marks, corrections_table, when

Month = tuple[int, int]


def _tz(d: SloDef) -> ZoneInfo:
    return d.window.tz if isinstance(d.window, CalendarPeriod) else ZoneInfo("UTC")


def bounds_for(d: SloDef, month: Month | None, now: float) -> tuple[float, float]:
    if month is None:
        return period(d, now)
    return month_bounds(month[0], month[1], _tz(d))


def period_label(d: SloDef, month: Month | None, now: float) -> str:
    """'November 2026 (Asia/Kathmandu)', 'month from 01 Nov 2026 (Asia/Kathmandu)', 'the last 30d'."""
    if month is not None:
        return f"{dt.date(month[0], month[1], 1).strftime('%B %Y')} ({_tz(d).key})"
    start, _ = period(d, now)
    if isinstance(d.window, CalendarPeriod):
        local = dt.datetime.fromtimestamp(start, _tz(d)).strftime("%d %b %Y")
        return f"{d.window.unit} from {local} ({_tz(d).key})"
    return f"the last {d.window.label}"


Shares = dict[float, dict[str, float | None]]  # outage start -> SLO name -> share of the period's budget
# (None while the SLO collects data: consumer_view.OutageFigure)


def summary(f: SloFigures, s: SloFigure, shares: Shares) -> str:
    """One plain sentence about how the SLO did in the period."""
    if f.state is SloState.NO_DATA:
        return "No data for this period."
    if f.state is SloState.TOO_FEW_EVENTS:
        need = units_needed(f.objective)
        return f"Too early to judge: {f.total:,} of the {need:,} {unit_word(units_of(s.definition), need)} needed."
    used = f.budget_used or 0.0
    spent = budget_used_words(used)  # "37%" or "400x the budget"
    spent += " of the budget used" if spent.endswith("%") else " used"
    text = f"{'Kept its promise' if used <= 1.0 else 'Missed its promise'}; {spent}"
    name = s.definition.name
    hits = [(share, o) for o in s.burn.outages if (share := shares.get(o.start, {}).get(name)) is not None]
    if hits and used > 0:
        share, outage = max(hits, key=lambda hit: hit[0])
        day = dt.datetime.fromtimestamp(outage.start, dt.UTC)
        label = f"the {day.day} {day.strftime('%b')} {', '.join(outage.endpoints)} outage"
        lasted = duration_words(outage.duration(s.burn.now))
        text += f", mostly by {label} ({lasted})" if share >= used / 2 else f"; the largest was {label} ({lasted})"
    elif used > 0:
        text += ", by scattered failures rather than one outage"
    return text + "."


def _share(shares: dict[str, float | None], name: str) -> str:
    """An outage's share of the SLO's budget: 'n/a' when it did not touch the SLO, 'collecting data'."""
    return share_words(shares.get(name), name in shares and shares[name] is None)


def used_figure(f: SloFigures) -> str:
    """The 'budget used' figure: a share, or the state when the budget cannot be judged."""
    if f.state is SloState.TOO_FEW_EVENTS:
        return "collecting data"
    return budget_used_words(f.budget_used)


def slo_section(
    f: SloFigures, s: SloFigure, label: str, shares: Shares, marks: Sequence[Annotation] = (), deploys: str = ""
) -> str:
    d = s.definition
    worst = "".join(
        f"<li>{escape(day.day)}: {sli_percent(day.sli)} ({day.good:,} of {day.total:,} good)</li>"
        for day in f.worst_days
    )
    incident_rows = "".join(
        f"<tr><td>{when(o.start)}</td><td>{duration_words(o.duration(s.burn.now))}{'' if o.end else ' (ongoing)'}</td>"
        f"<td class='name'>{escape(', '.join(o.endpoints))}</td><td>{_share(shares.get(o.start, {}), d.name)}</td></tr>"
        for o in s.burn.outages
    )
    incidents = (
        f"<table><tr><th>start</th><th>lasted</th><th>endpoints</th><th>budget spent</th></tr>{incident_rows}</table>"
        if incident_rows
        else "<p>none</p>"
    )
    maintenance = (
        "in its members' figures"
        if d.composite is not None
        else f"{f.excluded_events:,} probes excluded ({escape(', '.join(f.maintenance) or 'maintenance')})"
        if f.excluded_events or f.maintenance
        else "none"
    )
    waiting = collecting_words(s.burn.units, d.objective, units_of(d))
    title = f"{d.name}: budget remaining, {label}"
    chart = burn_down_svg(s.burn, title, correction_marks(f.corrections), marks, waiting, _tz(d))
    fixes = (
        corrections_table(f.corrections, f.total, f.objective)
        if f.corrections
        else "<h3 style='margin-top:.8rem'>Budget corrections</h3><p>none</p>"
    )
    basis = ""  # over the time with data (history.py), as the budget used's share: say so when that is part of it
    collecting = f.state is SloState.TOO_FEW_EVENTS  # no time, as the consumer page says it (its used share: words)
    if f.partial and f.sli is not None and not collecting:
        basis = (f"<span class='note'>over the {duration_words(f.covered_seconds)} with data"
                 f"{' so far' if f.running else ''}</span>")  # fmt: skip
    budget_time = "no data" if f.sli is None else "n/a" if collecting else duration_words(f.budget_seconds)
    worst_list = f"<ul>{worst}</ul>" if worst else "<p>none below 100%</p>" if f.total else "<p>no data</p>"
    return (
        f"<div class='card slo' id='slo-{escape(d.name)}'><h3>{escape(d.name)} · {escape(label)}</h3>"
        f"<div class='muted small'>{escape(sli_words(d))}"
        f"{' · ' + escape(s.config.description) if s.config.description else ''}</div>"
        f"<p class='summary'>{escape(summary(f, s, shares))}</p><div class='figures'>"
        f"<div class='figure'><span>objective</span><b>{objective_percent(f.objective)}</b></div>"
        f"<div class='figure'><span>attained</span><b>{sli_percent(f.sli)}</b></div>"
        f"<div class='figure'><span>budget used</span><b>{used_figure(f)}</b></div>"
        f"<div class='figure'><span>budget as time</span><b>{budget_time}</b>{basis}</div>"
        f"<div class='figure'><span>{unit_word(units_of(d))}</span><b>{f.total:,}</b></div></div>"
        f"{chart}<h3 style='margin-top:.8rem'>Worst days</h3>{worst_list}<h3>Incidents</h3>{incidents}{deploys}"
        f"<h3>Maintenance excluded</h3><p>{maintenance}</p>{fixes}</div>"
    )


Part = tuple[ConsumerFigures, list[SloFigures], dict[str, str], list[Annotation], dict[str, str]]


def own_shares(s: SloFigure) -> Shares:
    return {start: {s.definition.name: share} for start, share in s.outage_shares}


def consumer_section(
    figures: ConsumerFigures, periods: list[SloFigures], labels: dict[str, str],
    marks: Sequence[Annotation] = (), deploys: dict[str, str] | None = None,
) -> str:  # fmt: skip
    c = figures.consumer
    deploys = deploys or {}
    sections = "".join(  # each SLO's own outages (merged over its endpoints) with the share of its budget
        slo_section(f, s, labels[s.definition.name], own_shares(s), marks, deploys.get(s.definition.name, ""))
        for f, s in zip(periods, figures.slos, strict=True)
    )
    return (
        f"<section class='consumer'><h1>{escape(c.name)}</h1>"
        f"{f'<p class=muted>{escape(c.description)}</p>' if c.description else ''}"
        f"{sections or '<p>This consumer has no SLOs.</p>'}</section>"
    )


def render(parts: list[Part], now: float, month: Month | None) -> str:
    names = ", ".join(p[0].consumer.name for p in parts)
    when_text = dt.date(month[0], month[1], 1).strftime("%B %Y") if month else "current periods"
    title = f"Service report: {names}, {when_text}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><link rel='icon' href='data:,'>"
        f"<title>{escape(title)}</title><style>{STYLE}{PRINT_STYLE}</style></head><body><main>"
        f"<p class='small muted'>{escape(title)} · generated {when(now)} by slowatch · times in UTC</p>"
        f"{''.join(consumer_section(*p) for p in parts)}</main></body></html>"
    )


def consumer_part(
    conn: sqlite3.Connection, config: Config, consumer: ConsumerConfig, snapshot: Snapshot, now: float,
    month: Month | None,
) -> Part:  # fmt: skip
    figures = consumer_figures(
        conn, config, consumer, snapshot, now, days=1, bounds=lambda d: bounds_for(d, month, now)
    )
    names = tuple(dict.fromkeys(r.name for r in consumer_rules(config, consumer.name, figures.endpoints)))
    periods, labels = [], {}
    for s in figures.slos:
        d = s.definition
        start, end = bounds_for(d, month, now)
        labels[d.name] = period_label(d, month, now)
        label = labels[d.name]
        end_now = min(end, now + 1)
        periods.append(
            slo_figures(
                conn,
                d,
                period=label,
                start=start,
                end=end_now,
                period_seconds=end - start,
                tz=_tz(d),
                maintenance=names,
                now=now,
            )
        )
    marks = concerning(conn, consumer.name, figures.endpoints)
    deploys = {
        f.slo: deploys_html(deploy_impacts(conn, s.definition, f, marks), unit_word(s.definition.budgeting))
        for f, s in zip(periods, figures.slos, strict=True)
    }
    return figures, periods, labels, marks, deploys


def report_html(
    conn: sqlite3.Connection, config: Config, consumers: list[ConsumerConfig], snapshot: Snapshot, now: float,
    month: Month | None,
) -> str:  # fmt: skip
    """One self-contained document for `consumers` (runs on a reader thread or a read-only connection)."""
    return render([consumer_part(conn, config, c, snapshot, now, month) for c in consumers], now, month)


__all__ = ["bounds_for", "consumer_part", "render", "report_html", "summary"]

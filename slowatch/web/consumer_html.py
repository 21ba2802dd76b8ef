"""HTML sections about one consumer, shared by its live page and its monthly report.

Pure functions of `ConsumerFigures` (and the firing alerts): inline CSS and SVG, no scripts, no
external assets. Everything a person reads goes through slowatch.slo.display (state words, sensible
rounding).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from slowatch.slo.budget import too_few_events
from slowatch.slo.consumer_view import ConsumerFigures, SloFigure
from slowatch.slo.correction_report import CorrectionFigure, budget_returned, returned_words
from slowatch.slo.display import (
    budget_text,
    budget_time_words,
    burn_words,
    collecting_words,
    duration_pair,
    duration_words,
    exhaustion_basis,
    objective_percent,
    of_budget,
    share_words,
    sli_percent,
    sli_words,
    state_word,
    unit_word,
    units_of,
)
from slowatch.slo.gate import decide
from slowatch.slo.snapshot import SloStatus
from slowatch.slo.windows import CalendarPeriod
from slowatch.store.annotations import Annotation
from slowatch.web.charts import CHART_STYLE, burn_down_svg, day_bars_svg, legend

STYLE = (
    """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa;
overflow-wrap:break-word}
main{max-width:980px;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.3rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}h3{font-size:1rem;margin:0 0 .4rem}
a{color:#0969da}.muted{color:#57606a}.small{font-size:13px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem;margin:.8rem 0}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:.6rem;margin:.6rem 0}
.figure{background:#f6f8fa;border-radius:6px;padding:.45rem .6rem}
.figure b{display:block;font-size:1.15rem}.figure span{font-size:12px;color:#57606a;text-transform:uppercase}
.figure span.note{display:block;text-transform:none}
.state{display:inline-block;border-radius:1rem;padding:.05rem .6rem;font-size:13px;font-weight:600;color:#fff}
.st-ok{background:#1a7f37}.st-burning{background:#9a6700}.st-exhausted{background:#cf222e}
.st-collecting{background:#6e7781}.st-no-data{background:#57606a}
.chart{width:100%;height:auto;display:block}.burndown{max-height:240px}.days{height:34px}
.key{display:inline-block;margin-right:.8rem;font-size:12px;color:#57606a}
.key i{display:inline-block;width:.7rem;height:.7rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-size:12px;color:#57606a;text-transform:uppercase;font-weight:600}
.scroll{overflow-x:auto}td.name{overflow-wrap:anywhere;min-width:7rem}
.endpoint{margin:.4rem 0}.endpoint div{font-size:13px}
@media (max-width:600px){main{padding:.5rem}.card{padding:.7rem}body{font-size:14px}}
"""
    + CHART_STYLE
)

PRINT_STYLE = """
@media print{body{background:#fff}main{max-width:none;padding:0}.card{break-inside:avoid;border-color:#bbb}
.noprint{display:none}a{color:inherit;text-decoration:none}
.state,.key i{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""
"""Printed (the report; a consumer page): state pills and legend swatches keep their colours (printing drops
CSS backgrounds by default: the pills' white text vanished on white paper)."""


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def window_words(s: SloFigure) -> str:
    w = s.definition.window
    return f"calendar {w.label} ({w.tz.key})" if isinstance(w, CalendarPeriod) else w.label


def slo_state(s: SloFigure) -> str:
    st = s.status
    if st is None:
        return "no data"
    return state_word(st.state.value, st.budget_remaining, st.burn(3600.0))


def _figure(label: str, value: str, note: str = "") -> str:
    small = f"<span class='note'>{escape(note)}</span>" if note else ""
    return f"<div class='figure'><span>{escape(label)}</span><b>{escape(value)}</b>{small}</div>"


def basis_words(st: SloStatus) -> str:
    """What a budget as time is over while data covers only part of the window: 'budget of the 12h with data'."""
    return f"budget of the {duration_words(st.covered_seconds)} with data"


def slo_card(s: SloFigure, marks: Sequence[Annotation] = ()) -> str:
    d, st = s.definition, s.status
    state = slo_state(s)
    unit = unit_word(units_of(d))
    sli_kind = sli_words(d)
    counting = "per timeslice" if d.composite is not None else d.budgeting
    head = (
        f"<div class='card slo' id='slo-{escape(d.name)}'><h3>{escape(d.name)} "
        f"<span class='state st-{state.replace(' ', '-')}'>{escape(state)}</span></h3>"
        f"<div class='muted small'>{escape(sli_kind)} · objective {objective_percent(d.objective)} over "
        f"{escape(window_words(s))} · {escape(counting)}"
        f"{' · ' + escape(s.config.description) if s.config.description else ''}</div>"
    )
    if st is None:
        return head + "<p>no data</p></div>"
    left_words = budget_text(st.state.value, st.total, st.objective, st.budget_remaining, units_of(d),
                             st.excluded_events)  # fmt: skip
    left_time, time_label = "n/a", "budget left as time"
    if st.budget_remaining is not None and st.state.value == "ok":
        left_time = budget_time_words(st.time_left())
        if st.partial:  # the budget of the time with data so far, so that the time left agrees with the share
            time_label += ", so far"
            if (st.time_left() or 0.0) >= 0:  # "42m 51s of 43m 12s", never "43m of 43m" next to 99.2% left
                left_time = "{} of {}".format(*duration_pair(st.time_left(), st.budget_seconds()))
    tte = duration_words(st.time_to_exhaustion) if st.time_to_exhaustion and st.state.value == "ok" else "not burning"
    if state == "exhausted":
        tte = "exhausted"
    figures = "".join(
        [
            _figure("SLI", sli_percent(st.sli) if st.state.value != "no_data" else "no data"),
            _figure("budget left", left_words),
            _figure(time_label, left_time, basis_words(st) if time_label.endswith("so far") else ""),
            _figure(
                "time to exhaustion",
                tte if st.state.value == "ok" else state,
                exhaustion_basis(st) or "",
            ),
            _figure(f"{unit} counted", f"{st.total:,}"),
        ]
    )
    if st.state.value == "too_few_events":  # a handful of units "burns" 333x: noise, not a finding
        burns = f"<td colspan='{len(st.windows)}' class='muted'>{burn_words(None, st.state.value)}</td>"
    else:
        burns = "".join(f"<td>{escape(burn_words(w.burn_rate))}</td>" for w in st.windows)
    heads = "".join(f"<th>{escape(w.window)}</th>" for w in st.windows)
    burn_table = (
        f"<div class='scroll'><table class='burns'><tr><th>burn rate</th>{heads}</tr>"
        f"<tr><td class='muted'>&times; budget pace</td>{burns}</tr></table></div>"
    )
    b = s.burn
    chart_title = f"{d.name}: budget remaining from {when(b.start)} to {when(b.end)}"
    waiting = collecting_words(b.units, d.objective, units_of(d))
    tz = d.window.tz if isinstance(d.window, CalendarPeriod) else dt.UTC
    svg = burn_down_svg(b, chart_title, correction_marks(s.corrections), marks, waiting, tz)
    chart = (
        f"<h3 style='margin-top:.8rem'>Burn-down</h3>{svg}"
        "<div class='small muted'>solid: budget left (of the budget of the units counted so far, as above)"
        f" · dashed: spending it evenly{' up to now' if isinstance(d.window, CalendarPeriod) else ''}"
        " · blue: maintenance (excluded) · teal: budget corrections (excluded)"
        " · red: outages"
        f"{' · marks: deploys (purple), incidents (red), notes (grey)' if marks else ''}</div>"
    )
    days = (
        f"<h3 style='margin-top:.8rem'>Last {len(s.days)} days</h3>"
        f"{day_bars_svg(s.days, f'{d.name}: one bar per UTC day', unit)}"
    )
    fixes = corrections_table(s.corrections, st.total, st.objective) if s.corrections else ""
    return head + f"<div class='figures'>{figures}</div>{gate_line(s)}{burn_table}{chart}{fixes}{days}</div>"


def correction_marks(corrections: tuple[CorrectionFigure, ...]) -> list[tuple[float, float, str]]:
    return [(c.start, c.end, f"correction #{c.id} ({c.reason})") for c in corrections if not c.revoked]


def corrections_table(corrections: tuple[CorrectionFigure, ...], total: int, objective: float) -> str:
    """Every budget correction touching the SLO: who, when, why, revoked or not, the budget it returned."""
    rows = []
    for c in corrections:
        if c.revoked:
            returned = "none (revoked)"
            status = f"revoked {when(c.revoked_at or 0.0)} by {escape(c.revoked_by or '?')}"
            if c.revoke_reason:
                status += f": {escape(c.revoke_reason)}"
        else:
            share = budget_returned(c, total, objective)
            returned = returned_words(c)
            collecting = too_few_events(total, objective)
            returned += f" ({of_budget(share, collecting)})" if share is not None else ""
            status = "active"
        rows.append(
            f"<tr><td>#{c.id}</td><td>{when(c.start)} to {when(c.end)}</td><td>{escape(c.scope)}</td>"
            f"<td>{escape(c.reason)}<div class='small muted'>by {escape(c.author)}, {when(c.created_at)}</div></td>"
            f"<td>{status}</td><td>{returned}</td></tr>"
        )
    return (
        "<h3 style='margin-top:.8rem'>Budget corrections</h3><div class='scroll'><table class='corrections'>"
        "<tr><th>id</th><th>excluded period</th><th>scope</th><th>why</th><th>status</th><th>budget returned</th>"
        f"</tr>{''.join(rows)}</table></div>"
    )


def gate_line(s: SloFigure) -> str:
    """The deploy gate's answer under an SLO's figures, when the SLO has a policy (slowatch/slo/gate.py)."""
    if s.config.policy is None or s.status is None:
        return ""
    st = s.status
    g = decide(st.consumer, s.config, st.state.value, st.budget_remaining, st.burn(3600.0))
    word = "deploys on hold" if g.decision == "hold" else "deploys may go"
    color = "#cf222e" if g.decision == "hold" else "#1a7f37"
    message = f" — {escape(g.message)}" if g.message else ""
    return (
        f"<p class='gate small'><b style='color:{color}'>{word}</b> · {escape(g.reason)} "
        f"<span class='muted'>(rule: {escape(g.rule)})</span>{message}</p>"
    )


ENDPOINT_BARS = 50
"""The most endpoints whose daily bars the page draws: 2,000 endpoints' bars weighed 24 MB."""


def endpoints_section(f: ConsumerFigures) -> str:
    """Each endpoint's daily bars: of the endpoints `consumer_figures` drew (`draw`: ENDPOINT_BARS, those with
    the most missed days, badly missed first), and how many days the others missed."""
    shown = list(f.endpoint_days)
    note = ""
    left, missed = f.undrawn
    if left:
        together = f"which together missed the objective on {missed:,} endpoint-day{'s' if missed != 1 else ''}"
        note = (
            f"<div class='small muted'>{left:,} more endpoint{'s' if left != 1 else ''} not drawn, "
            f"{together if missed else 'none of which missed the objective on any day'}; the {len(shown)} drawn are "
            "those with the most missed days.</div>"
        )
    rows = "".join(
        f"<div class='endpoint'><div>{escape(name)}</div>{day_bars_svg(bars, f'{name}: one bar per UTC day')}</div>"
        for name, bars in shown
    )
    days = len(f.endpoint_days[0][1]) if f.endpoint_days else 0
    return (
        f"<h2>Endpoints it depends on</h2><div class='card'><div class='small muted'>last {days} days, "
        f"availability per UTC day against the strictest objective that covers the endpoint</div>{rows}{note}"
        f"<div style='margin-top:.5rem'>{legend()}</div></div>"
    )


def incidents_section(f: ConsumerFigures, limit: int = 50) -> str:
    if not f.outages:
        return "<h2>Incidents</h2><div class='card muted'>No outage in this period.</div>"
    rows = []
    for o in f.outages[:limit]:  # a share is None while its SLO collects data (too few units to judge)
        out = o.outage
        end = "ongoing" if out.end is None else when(out.end)
        spent = ", ".join(f"{escape(name)} {share_words(share, share is None)}" for name, share in o.budget) or "—"
        detail = "<br>".join(escape(m) for m in out.messages[:3])
        rows.append(
            f"<tr><td>{when(out.start)}</td><td>{end}</td><td>{duration_words(out.duration(f.now))}</td>"
            f"<td class='name'>{escape(', '.join(out.endpoints))}<div class='small muted'>{detail}</div></td>"
            f"<td>{spent}</td></tr>"
        )
    return (
        "<h2>Incidents</h2><div class='card scroll'><table class='incidents'><tr><th>start</th><th>end</th>"
        "<th>duration</th><th>endpoints</th><th>budget spent (its hours)</th></tr>"
        f"{''.join(rows)}</table></div>"
    )


def maintenance_section(f: ConsumerFigures) -> str:
    if not f.maintenance:
        return "<h2>Maintenance</h2><div class='card muted'>None active or planned within a week.</div>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{when(start)}</td><td>{when(end)}</td>"
        f"<td>{'active now' if start <= f.now else 'upcoming'}</td></tr>"
        for start, end, name in f.maintenance
    )
    return (
        "<h2>Maintenance</h2><div class='card scroll'><table><tr><th>window</th><th>from</th><th>until</th>"
        f"<th></th></tr>{rows}</table><div class='small muted'>probes inside are excluded from every budget</div>"
        "</div>"
    )


def _quiet(alert: dict[str, object]) -> str:
    """Why a firing alert was not notified: its dependency's outage, or a silence / maintenance."""
    if alert.get("root_cause"):
        return f" <span class=muted>(covered: dependency {escape(str(alert['root_cause']))} is down)</span>"
    return " <span class=muted>(suppressed)</span>" if alert.get("suppressed") else ""


def alerts_section(alerts: list[dict[str, object]]) -> str:
    if not alerts:
        return "<h2>Firing alerts</h2><div class='card muted'>None.</div>"
    rows = "".join(
        f"<tr><td>{escape(str(a.get('severity', '')))}</td><td class='name'>{escape(str(a.get('title', '')))}"
        f"{_quiet(a)}</td>"
        f"<td>{escape(str(a.get('summary', '')))}</td></tr>"
        for a in alerts
    )
    return (
        "<h2>Firing alerts</h2><div class='card scroll'><table class='alerts'><tr><th>severity</th><th>alert</th>"
        f"<th>summary</th></tr>{rows}</table></div>"
    )


__all__ = [
    "PRINT_STYLE",
    "STYLE",
    "alerts_section",
    "correction_marks",
    "corrections_table",
    "endpoints_section",
    "incidents_section",
    "maintenance_section",
    "slo_card",
    "slo_state",
    "when",
]

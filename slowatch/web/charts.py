"""Server-rendered SVG charts (no JavaScript, no CDN): an SLO's burn-down and a row of daily bars.

The SVG scales with its container (`viewBox`, width 100%), so the charts read on a phone. Every
mark has a `<title>`, which browsers show on hover (and screen readers read). The burn-down's words (axis
labels, "collecting data") are HTML around the SVG, sized in CSS px (`CHART_STYLE`): inside it they shrank
with the chart, to ~7 px on a 375 px phone, and stretched sideways on a wide screen. A burn-down stops at
-100% (`FLOOR`): a budget overspent further is drawn there, and its title says so in words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from slowatch.slo.daybars import DayBar
from slowatch.slo.display import budget_left_words, duration_words, percent, sli_percent
from slowatch.slo.timeline import BurnDown
from slowatch.store.annotations import Annotation

CORRECTION_COLOR = "#1b9aaa"  # teal: purple is for deploy marks
COLORS = {"good": "#2da44e", "degraded": "#d4a72c", "bad": "#cf222e", "nodata": "#d0d7de", "maintenance": "#8ca7d8"}
STATE_WORDS = {"good": "met the objective", "degraded": "missed the objective", "bad": "missed it badly",
               "nodata": "no data", "maintenance": "maintenance"}  # fmt: skip

W, H = 640.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 2.0, 10.0, 10.0, 10.0

CHART_STYLE = """
.burnchart{display:grid;grid-template-columns:auto 1fr;color:#57606a;font-size:13px;line-height:1.2}
.burnchart .yaxis{grid-area:1/1;position:relative;width:3.6em;margin-right:.3rem}
.burnchart .yaxis span{position:absolute;right:0;transform:translateY(-50%);white-space:nowrap}
.burnchart>svg{grid-area:1/2}
.burnchart .xaxis{grid-area:2/2;display:flex;justify-content:space-between;gap:1rem;padding:.15rem 0 0}
.burnchart .note{grid-area:1/2;align-self:center;justify-self:center;margin:0;padding:0 .5rem;
font-size:14px;text-align:center}
@media (max-width:600px){.burnchart .burndown{height:160px}}
"""
"""The burn-down's layout: the y labels in a column left of the SVG, at the heights of their lines (the SVG
fills its row: `preserveAspectRatio='none'`), the dates under it; on a phone a taller chart."""


def _date(ts: float, fmt: str = "%d %b", tz: dt.tzinfo = dt.UTC) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime(fmt)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


MARK_COLORS = {"deploy": "#8250df", "incident": "#cf222e", "note": "#57606a"}
LABEL_GAP = 20.0
"""The least distance between two axis labels, in SVG units: a line of 13 px text where the chart is
smallest (160 px high on a phone); a lower line closer to 0% goes unlabelled."""

FLOOR = -1.0
"""The burn-down's lowest line, -100%: a budget overspent further is drawn there and the axis reads
"≤-100%" (a 400x burn would otherwise put -39,900% on it and squash the rest of the chart flat)."""


def left_words(ratio: float) -> str:
    """The line's last figure: 'budget left 62.3%', 'budget exhausted (spent 833x its budget)'
    (display.budget_left_words)."""
    words = budget_left_words(ratio)
    return f"budget left {words}" if ratio >= 0 else f"budget {words}"


def burn_down_svg(
    b: BurnDown, title: str, corrections: Sequence[tuple[float, float, str]] = (), marks: Sequence[Annotation] = (),
    collecting: str = "collecting data: too few units to judge the budget yet", tz: dt.tzinfo = dt.UTC,
) -> str:  # fmt: skip
    """Budget remaining over the period (the line) against spending it evenly (dashed); `corrections`:
    (start, end, label) of budget corrections, shaded like maintenance (they are excluded the same way);
    `marks`: annotations (deploys, incidents, notes) inside the period as labelled vertical marks. While the
    period holds too few units to judge (`b.collecting`), no line: `collecting` in its place, as on the card
    (one bad probe of 300 at 99.99 % drew the budget plunging to "≤-100%" under a card reading "collecting").
    `tz`: a calendar window's time zone, for the dates at the axis' ends (in UTC, November in Berlin read
    "31 Oct" to "30 Nov")."""
    drawn = () if b.collecting else b.points
    lowest = max(FLOOR, min([0.0, *(v for _, v in drawn)]))
    clipped = any(v < FLOOR for _, v in drawn)
    span_t = max(1.0, b.end - b.start)

    def x(ts: float) -> float:
        return LEFT + (min(max(ts, b.start), b.end) - b.start) / span_t * (W - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (1.0 - max(v, FLOOR)) / (1.0 - lowest) * (H - TOP - BOTTOM)

    now_words = f"{left_words(drawn[-1][1])}" if drawn else collecting if b.points else "no data yet"
    name = f"{title}: {now_words}"  # what the line ends at, for those who cannot see it
    parts = [
        f"<svg class='chart burndown' viewBox='0 0 {W:.0f} {H:.0f}' role='img' preserveAspectRatio='none' "
        f"aria-label='{escape(name)}' data-points='{len(b.points)}'>",
        f"<title>{escape(name)}</title>",
        f"<rect x='{LEFT}' y='{TOP}' width='{W - LEFT - RIGHT}' height='{H - TOP - BOTTOM}' fill='#fff'/>",
    ]
    for start, end, name in b.maintenance:
        parts.append(
            f"<rect class='maint' x='{x(start):.1f}' y='{TOP}' width='{max(1.0, x(end) - x(start)):.1f}' "
            f"height='{H - TOP - BOTTOM}' fill='{COLORS['maintenance']}' opacity='0.35'>"
            f"<title>maintenance {escape(name)}: {_when(start)} to {_when(end)}</title></rect>"
        )
    for start, end, name in corrections:
        parts.append(
            f"<rect class='correction' x='{x(start):.1f}' y='{TOP}' width='{max(1.0, x(end) - x(start)):.1f}' "
            f"height='{H - TOP - BOTTOM}' fill='{CORRECTION_COLOR}' opacity='0.35'>"
            f"<title>{escape(name)}: {_when(start)} to {_when(end)}</title></rect>"
        )
    for o in b.outages:
        end = b.now if o.end is None else o.end
        label = f"outage {', '.join(o.endpoints)}: {_when(o.start)}, " + (
            "ongoing" if o.end is None else f"lasted {duration_words(end - o.start)}"
        )
        parts.append(
            f"<rect class='outage' x='{x(o.start):.1f}' y='{TOP}' width='{max(2.0, x(end) - x(o.start)):.1f}' "
            f"height='{H - TOP - BOTTOM}' fill='#cf222e' opacity='0.25'><title>{escape(label)}</title></rect>"
        )
    labels = []
    for v in sorted({1.0, 0.5, 0.0, lowest}):
        parts.append(
            f"<line x1='{LEFT}' x2='{W - RIGHT}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#d0d7de' stroke-width='1'/>"
        )
        if v == lowest < 0.0 and y(lowest) - y(0.0) < LABEL_GAP:  # -4% would sit on the 0% label
            continue
        labels.append(
            f"<span style='top:{y(v) / H * 100:.2f}%'>{'≤' if clipped and v == FLOOR else ''}"
            f"{escape(percent(v, 0))}</span>"
        )
    if drawn:
        parts.append(
            f"<line class='ideal' x1='{x(b.start):.1f}' y1='{y(1.0):.1f}' x2='{x(b.now):.1f}' y2='{y(0.0):.1f}' "
            "stroke='#8c959f' stroke-width='1.5' stroke-dasharray='5 4'>"
            "<title>spending the budget evenly</title></line>"
        )
    if b.now < b.end:
        parts.append(
            f"<line class='now' x1='{x(b.now):.1f}' x2='{x(b.now):.1f}' y1='{TOP}' y2='{H - BOTTOM}' "
            "stroke='#57606a' stroke-width='1'><title>now</title></line>"
        )
    for a in marks:
        if b.start <= a.ts <= b.end:
            color = MARK_COLORS.get(a.kind, "#57606a")
            parts.append(
                f"<g class='mark {escape(a.kind)}'><line x1='{x(a.ts):.1f}' x2='{x(a.ts):.1f}' y1='{TOP}' "
                f"y2='{H - BOTTOM}' stroke='{color}' stroke-width='1.5' stroke-dasharray='2 2'/>"
                f"<path d='M{x(a.ts) - 4:.1f},{TOP} h8 l-4,6 z' fill='{color}'/>"
                f"<title>{escape(a.kind)} {_when(a.ts)}: {escape(a.text[:200])}</title></g>"
            )
    if drawn:
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in drawn)
        last = drawn[-1][1]
        color = "#2da44e" if last >= b.ideal(drawn[-1][0]) else "#bf8700" if last > 0 else "#cf222e"
        parts.append(
            f"<polyline class='burn' points='{coords}' fill='none' stroke='{color}' stroke-width='2.5'>"
            f"<title>{escape(left_words(last))} at {_when(drawn[-1][0])}</title></polyline>"
        )
    parts.append("</svg>")
    note = "" if drawn else f"<p class='note collecting'>{escape(collecting)}</p>" if b.points else (
        "<p class='note'>no data yet</p>"
    )  # fmt: skip
    fmt = "%d %b %H:%M" if span_t <= 2 * 86400 else "%d %b"
    return (  # the SVG names itself (role=img, aria-label): its axis words are for the eye only
        f"<div class='burnchart'><div class='yaxis' aria-hidden='true'>{''.join(labels)}</div>{''.join(parts)}"
        f"{note}<div class='xaxis' aria-hidden='true'><span>{_date(b.start, fmt, tz)}</span>"
        f"<span>{_date(b.end, fmt, tz)}</span></div></div>"
    )


def day_title(bar: DayBar, unit: str) -> str:
    text = f"{_date(bar.start, '%Y-%m-%d')}: {STATE_WORDS[bar.state]}"
    if bar.total:
        text += f", {sli_percent(bar.sli)} ({bar.good:,} of {bar.total:,} {unit} good)"
    if bar.excluded:
        text += f", {bar.excluded:,} probes in maintenance (excluded)"
    elif bar.maintenance_seconds:
        text += f", maintenance {duration_words(bar.maintenance_seconds)}"
    return text


def days_summary(bars: Sequence[DayBar]) -> str:
    """'last 90 days: 86 met the objective, 1 missed it badly, 3 no data': a day bar chart's name for those who
    cannot see it (as an image, its bars' titles are hidden from screen readers)."""
    counts = {state: sum(1 for b in bars if b.state == state) for state in STATE_WORDS}
    found = ", ".join(f"{n} {STATE_WORDS[state]}" for state, n in counts.items() if n)
    return f"last {len(bars)} day{'s' if len(bars) != 1 else ''}: {found or 'none'}"


def day_bars_svg(bars: Sequence[DayBar], label: str, unit: str = "probes") -> str:
    """One bar per day, oldest left; colour by state, the day's figures in the hover title; the chart named
    with `label` and how many days were in each state."""
    n = max(1, len(bars))
    step = W / n
    name = f"{label}, {days_summary(bars)}"
    parts = [
        f"<svg class='chart days' viewBox='0 0 {W:.0f} 34' preserveAspectRatio='none' role='img' "
        f"aria-label='{escape(name)}' data-days='{len(bars)}'><title>{escape(name)}</title>"
    ]
    for i, bar in enumerate(bars):
        parts.append(
            f"<rect class='day {bar.state}' x='{i * step + 0.5:.2f}' y='2' width='{max(1.0, step - 1.5):.2f}' "
            f"height='30' rx='1.5' fill='{COLORS[bar.state]}'><title>{escape(day_title(bar, unit))}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def legend() -> str:
    return "".join(
        f"<span class='key'><i style='background:{color}'></i>{escape(STATE_WORDS[state])}</span>"
        for state, color in COLORS.items()
    )


__all__ = [
    "CHART_STYLE",
    "COLORS",
    "FLOOR",
    "burn_down_svg",
    "day_bars_svg",
    "day_title",
    "days_summary",
    "left_words",
    "legend",
]

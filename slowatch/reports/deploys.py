"""How much error budget burned in the hours after each deploy: a report table per SLO.

A deploy annotation (slowatch/store/annotations.py) concerning the consumer, inside the reported
period, is followed for `DEPLOY_HOURS`. The SLO's stored hourly cells are the resolution: the window
starts at the beginning of the deploy's hour. The share is of the period's error budget (bad units
in the window / bad units the period's budget allows), so the rows compare with "budget used". While
the period collects data (too few units for one bad one) the share reads "collecting data"; the JSON
keeps the exact `budget_share`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from zoneinfo import ZoneInfo

from slowatch.reports.marks import concerning
from slowatch.slo.definitions import SloDef
from slowatch.slo.display import of_budget, share_words
from slowatch.slo.history import SloFigures, slo_figures
from slowatch.slo.snapshot import SloState
from slowatch.store.annotations import Annotation
from slowatch.untrusted import one_line

DEPLOY_HOURS = 4
HOUR = 3600


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class DeployImpact:
    deploy: Annotation
    start: float
    end: float
    bad: int  # bad units in the window
    total: int
    share: float | None  # of the period's error budget; None when the period allows no bad unit yet
    collecting: bool = False  # the period holds too few units to judge its budget: the share is noise

    def share_words(self) -> str:
        return "n/a" if self.share is None else share_words(self.share, self.collecting)

    def of_budget(self) -> str:
        return "n/a" if self.share is None else of_budget(self.share, self.collecting)


def deploy_impacts(
    conn: sqlite3.Connection, d: SloDef, period: SloFigures, deploys: Sequence[Annotation], hours: int = DEPLOY_HOURS
) -> list[DeployImpact]:
    out = []
    for a in deploys:
        if a.kind != "deploy" or not period.start <= a.ts < period.end:
            continue
        start = a.ts // HOUR * HOUR
        end = min(start + hours * HOUR, max(period.end, start + HOUR))
        f = slo_figures(conn, d, period="after deploy", start=start, end=end, period_seconds=end - start,
                        tz=ZoneInfo("UTC"), objective=period.objective)  # fmt: skip
        bad = f.total - f.good
        share = bad / period.allowed_bad if period.allowed_bad > 0 else None
        out.append(DeployImpact(a, start, end, bad, f.total, share, period.state is SloState.TOO_FEW_EVENTS))
    return out


def report_deploys(
    conn: sqlite3.Connection, defs: Sequence[SloDef], periods: Sequence[SloFigures],
    consumer_endpoints: dict[str, set[str]],
) -> dict[tuple[str, str], list[DeployImpact]]:  # fmt: skip
    """(consumer, SLO) -> the deploys in its reported period (for `slowatch report`'s text and JSON)."""
    by_key = {(d.consumer, d.name): d for d in defs}
    out = {}
    for f in periods:
        d = by_key[(f.consumer, f.slo)]
        marks = concerning(conn, f.consumer, consumer_endpoints.get(f.consumer, set()), since=f.start, until=f.end)
        out[(f.consumer, f.slo)] = deploy_impacts(conn, d, f, marks)
    return out


def impact_json(i: DeployImpact) -> dict[str, object]:
    return {"deploy": i.deploy.as_dict(), "window_start": i.start, "window_end": i.end, "bad": i.bad,
            "total": i.total, "budget_share": i.share}  # fmt: skip


def deploys_text(
    rows: dict[tuple[str, str], list[DeployImpact]], hours: int = DEPLOY_HOURS, *, markdown: bool = False
) -> str:
    """Lines for the table and markdown formats (a list); empty when no deploy falls in a reported period."""
    lines = []
    for (consumer, slo), impacts in rows.items():
        for i in impacts:
            lines.append(f"{'- ' if markdown else '  '}{consumer}/{slo}  {when(i.deploy.ts)}  "
                         f"{one_line(i.deploy.text, 60)}: {i.bad:,} bad of {i.total:,} in {hours} h, "
                         f"{i.of_budget()}")  # fmt: skip
    if not lines:
        return ""
    title = f"**Budget burned in the {hours} h after each deploy**\n" if markdown else (
        f"Budget burned in the {hours} h after each deploy:")  # fmt: skip
    return f"\n{title}\n" + "\n".join(lines) + "\n"


def deploys_html(impacts: Sequence[DeployImpact], unit: str, hours: int = DEPLOY_HOURS) -> str:
    if not impacts:
        return ""
    rows = "".join(
        f"<tr><td>{when(i.deploy.ts)}</td><td>{escape(i.deploy.text)}</td>"
        f"<td>{i.bad:,} of {i.total:,}</td><td>{i.share_words()}</td></tr>"
        for i in impacts
    )
    return (
        f"<h3>After deploys</h3><table class='deploys'><tr><th>deploy</th><th>what</th>"
        f"<th>bad {escape(unit)} in {hours} h</th><th>budget burned in {hours} h</th></tr>{rows}</table>"
    )


__all__ = [
    "DEPLOY_HOURS", "DeployImpact", "deploy_impacts", "deploys_html", "deploys_text", "impact_json", "report_deploys",
]  # fmt: skip

"""How much error budget burned in the hours after each deploy: a report table per SLO.

A deploy annotation (slowatch/store/annotations.py) concerning the consumer, inside the reported
period, is followed for `DEPLOY_HOURS`. The SLO's stored hourly cells are the resolution: the window
starts at the beginning of the deploy's hour. The share is of the period's error budget (bad units
in the window / bad units the period's budget allows), so the rows compare with "budget used".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from zoneinfo import ZoneInfo

from slowatch.slo.definitions import SloDef
from slowatch.slo.display import percent
from slowatch.slo.history import SloFigures, slo_figures
from slowatch.store.annotations import Annotation
from slowatch.web.consumer_html import when

DEPLOY_HOURS = 4
HOUR = 3600


@dataclass(frozen=True, slots=True)
class DeployImpact:
    deploy: Annotation
    start: float
    end: float
    bad: int  # bad units in the window
    total: int
    share: float | None  # of the period's error budget; None when the period allows no bad unit yet


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
        out.append(DeployImpact(a, start, end, bad, f.total, share))
    return out


def deploys_html(impacts: Sequence[DeployImpact], unit: str, hours: int = DEPLOY_HOURS) -> str:
    if not impacts:
        return ""
    rows = "".join(
        f"<tr><td>{when(i.deploy.ts)}</td><td>{escape(i.deploy.text)}</td>"
        f"<td>{i.bad:,} of {i.total:,}</td><td>{percent(i.share) if i.share is not None else 'n/a'}</td></tr>"
        for i in impacts
    )
    return (
        f"<h3>After deploys</h3><table class='deploys'><tr><th>deploy</th><th>what</th>"
        f"<th>bad {escape(unit)} in {hours} h</th><th>budget burned in {hours} h</th></tr>{rows}</table>"
    )


__all__ = ["DEPLOY_HOURS", "DeployImpact", "deploy_impacts", "deploys_html"]

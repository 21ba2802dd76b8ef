"""Budget corrections as reports show them: per SLO and period, every correction that touches it
(who, when, why, revoked or not) and the budget it returned, from `corrections` and `correction_effects`.

A correction is listed for an SLO when it changed the SLO's ledger in the period (`correction_effects`:
that covers composites whose members it corrected) or when it names the SLO's consumer (and the SLO,
or one of its endpoints, or neither) and overlaps the period: so revoked ones, whose effects are gone,
are listed too. The budget returned is in the SLO's units (probes, or timeslices for a timeslice SLO;
a composite's own units): bad units taken out of the period's count.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from slowatch.slo.definitions import SloDef
from slowatch.store.correction_tables import all_corrections, effects


@dataclass(frozen=True, slots=True)
class CorrectionFigure:
    id: int
    author: str
    created_at: float
    start: float
    end: float
    reason: str
    scope: str  # "all SLOs", "SLO journey", "endpoint pay"
    revoked: bool
    revoked_at: float | None
    revoked_by: str | None  # the revoking token or user
    revoke_reason: str | None
    excluded_units: int  # units taken out of the period's count (0 once revoked)
    bad_units_returned: int  # of which bad: the budget it gave back


def _scope(row: dict[str, object]) -> str:
    if row["slo"] is not None:
        return f"SLO {row['slo']}"
    if row["endpoint"] is not None:
        return f"endpoint {row['endpoint']}"
    return "all SLOs"


def correction_figures(conn: sqlite3.Connection, d: SloDef, start: float, end: float) -> tuple[CorrectionFigure, ...]:
    """The corrections that touch `d` in [start, end), oldest first (none on a database before v9)."""
    try:
        rows = all_corrections(conn)
        changed = effects(conn, d.fingerprint, start, end)
    except sqlite3.OperationalError:  # a database older than the corrections tables
        return ()
    by_id = {int(str(r["id"])): r for r in rows}
    sliced = d.budgeting == "timeslices"
    out = []
    for r in rows:
        if r["action"] != "correct":
            continue
        cid = int(str(r["id"]))
        mine = (
            r["consumer"] == d.consumer
            and (r["slo"] is None or r["slo"] == d.name)
            and (r["endpoint"] is None or r["endpoint"] in d.endpoints)
            and float(str(r["start"])) < end
            and float(str(r["end"])) > start
        )
        if cid not in changed and not mine:
            continue
        g, t, _, sg, st = changed.get(cid, (0, 0, 0, 0, 0))
        dg, dt = (sg, st) if sliced else (g, t)
        revocation = by_id.get(int(str(r["revoked_by"]))) if r["revoked_by"] is not None else None
        out.append(
            CorrectionFigure(
                id=cid,
                author=str(r["author"]),
                created_at=float(str(r["created_at"])),
                start=float(str(r["start"])),
                end=float(str(r["end"])),
                reason=str(r["reason"]),
                scope=_scope(r),
                revoked=revocation is not None,
                revoked_at=None if revocation is None else float(str(revocation["created_at"])),
                revoked_by=None if revocation is None else str(revocation["author"]),
                revoke_reason=None if revocation is None else str(revocation["reason"]),
                excluded_units=max(-dt, 0),
                bad_units_returned=max((dg - dt), 0),
            )
        )
    return tuple(out)


def returned_words(c: CorrectionFigure) -> str:
    """'6 bad units fewer (6 excluded)': what it changed in the SLO's count."""
    text = f"{c.bad_units_returned:,} bad unit{'' if c.bad_units_returned == 1 else 's'} fewer"
    return text + (f" ({c.excluded_units:,} excluded)" if c.excluded_units else "")


def budget_returned(c: CorrectionFigure, total: int, objective: float) -> float | None:
    """The share of the period's error budget a correction gave back (None without a budget to share)."""
    allowed = total * (1.0 - objective)
    return c.bad_units_returned / allowed if allowed > 0 else None


__all__ = ["CorrectionFigure", "budget_returned", "correction_figures", "returned_words"]

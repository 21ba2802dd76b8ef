"""Applying and revoking budget corrections in the running daemon (the SloService's helper).

`load()` (at start, before the crash catch-up) gives the engine the corrections the persisted cells
include. `sync()` (after the API records one, and every `poll` seconds for ones `slowatch correct`
wrote) applies the new ones and takes back the revoked ones, one at a time, under the service's lock:

    engine rules := with/without it; flush the store; replay the stored results of the affected ledgers
    in its hours with the old and the new rules (store thread); add the difference to the live cells;
    recompute the composites that contain them; persist the cells together with `correction_applied`
    and the per-cell effects (the budget it returned) in ONE transaction.

So a restart, or a kill at any point, finds cells and `correction_applied` in agreement.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from slowatch.slo.corrections import Correction, Plan, replay_deltas
from slowatch.slo.ledger import CoarseRow, Ledger
from slowatch.store.correction_tables import all_corrections, applied, record_applied

if TYPE_CHECKING:
    from slowatch.slo.service import SloService

logger = logging.getLogger(__name__)

HOUR = 3600


def _read(db: Database) -> tuple[list[dict[str, Any]], dict[int, bool]]:
    conn: sqlite3.Connection = db.conn
    return all_corrections(conn), applied(conn)


def _coarse(ledger: Ledger, since: float) -> dict[int, CoarseRow]:
    return {row[0]: row for row in ledger.rows()[1] if row[0] >= since}


class Corrector:
    def __init__(self, service: SloService) -> None:
        self._service = service

    async def load(self) -> None:
        rows, state = await self._service.store.read(_read)
        active = [Correction.of_row(r) for r in rows if r["action"] == "correct" and state.get(r["id"])]
        self._service.engine.set_corrections(active)

    async def sync(self) -> int:
        """Apply new corrections and take back revoked ones; returns how many changed."""
        svc = self._service
        async with svc.lock:
            rows, _ = await svc.store.read(_read)
            wanted = {
                r["id"]: Correction.of_row(r) for r in rows if r["action"] == "correct" and r["revoked_by"] is None
            }
            current = {c.id: c for c in svc.engine.corrections}
            changes = [(wanted[i], True) for i in sorted(wanted.keys() - current.keys())]
            changes += [(current[i], False) for i in sorted(current.keys() - wanted.keys())]
            for correction, add in changes:
                await self._change(correction, add)
            return len(changes)

    async def _change(self, c: Correction, add: bool) -> None:
        svc = self._service
        engine = svc.engine
        keys = {d.key: d.fingerprint for d in engine.defs}
        fps = engine.fingerprints_matching(c)
        comps: set[str] = set()
        for fp, comp in engine.composites.items():  # members before the composites that contain them
            assert comp.slo.composite is not None
            named = c.slo is not None and keys.get((c.consumer, c.slo)) == fp
            if named or set(comp.slo.composite.fingerprints) & (fps | comps):
                comps.add(fp)
        since = float(int(c.start // HOUR) * HOUR)
        before = {fp: _coarse(engine.ledgers[fp], since) for fp in fps | comps}
        old = {fp: engine.rules_for(fp) for fp in fps}
        kept = tuple(x for x in engine.corrections if x.id != c.id)
        engine.set_corrections((*kept, c) if add else kept)
        plans: dict[str, Plan] = {
            fp: (engine.definition(fp), engine.ledgers[fp], old[fp], engine.rules_for(fp)) for fp in fps
        }
        await svc.store.flush()  # every result up to now is stored: the replay sees what the ledgers saw
        deltas = await svc.store.read(functools.partial(replay_deltas, plans=plans, since=since, until=svc.now()))
        for fp, (fine, coarse) in deltas.items():
            engine.ledgers[fp].load(fine, coarse, add=True)
        for fp in comps:
            engine.composites[fp].invalidate(since)
        svc.refresh()
        effects = []
        for fp, cells in before.items():
            after = _coarse(engine.ledgers[fp], since)
            for start in sorted(cells.keys() | after.keys()):
                a, b = cells.get(start, (start, 0, 0, 0, 0, 0)), after.get(start, (start, 0, 0, 0, 0, 0))
                diff = tuple(y - x for x, y in zip(a[1:], b[1:], strict=True))
                if any(diff):
                    effects.append((fp, start, *diff))
        svc.persist(extra=functools.partial(record_applied, correction_id=c.id, active=add, effects=effects))
        logger.info(
            "budget correction %s: id=%d consumer=%s slo=%s endpoint=%s ledgers=%d cells=%d",
            "applied" if add else "revoked", c.id, c.consumer, c.slo, c.endpoint, len(fps | comps), len(effects),
        )  # fmt: skip


__all__ = ["Corrector"]

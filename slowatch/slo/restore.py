"""How the SLO ledgers get their past back at a start or a reload (SloService owns the when, this the how).

A ledger's persisted cells are loaded (one store read for all the ledgers restored together); one without
any (a new or changed definition) is rebuilt from raw results and rollups (rebuild.py), in groups of SLOs: one
flush and one store read per group, which scans `results` once for all its endpoints; live results before the
group's rebuild point are left to the rebuild. A composite is recomputed from its members' cells. After an
unclean stop, the stored results above the SLO watermark are counted (`catch_up`) before any probe runs.

What a restore leaves to the next save (SloService.persist) is kept here: `replace`, the cell ranges a save
rewrites whole (a rebuilt or recomputed ledger's), and `unrestored`, the ledgers no save may vouch for yet;
`restoring` holds the periodic saves meanwhile. A reload may swap the engine during a restore's awaits:
`current()` is the service's engine, and a restore that finds another one stops (the newer reload restores
what it needs).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from slowatch.clock import Clock
from slowatch.slo.engine import Engine
from slowatch.slo.persist import load_all_cells, uncounted
from slowatch.slo.rebuild import groups, rebuild_group
from slowatch.store.slo_tables import set_counted_watermark
from slowatch.store.store import Store

logger = logging.getLogger(__name__)


class Restorer:
    def __init__(self, store: Store, clock: Clock, current: Callable[[], Engine], *, store_wait: float = 10.0) -> None:
        self._store = store
        self._clock = clock
        self._current = current
        self._store_wait = store_wait  # how long a start or rebuild waits for a commit (a full disk: not for ever)
        self.replace: list[tuple[str, float, float]] = []  # (fingerprint, since, until) for the next save
        # ledgers whose cells are not restored yet (being loaded or rebuilt): a save never vouches for them
        self.unrestored: set[str] = set()
        self.restoring = False  # periodic saves wait: a save now would rewrite their cells with live ones only

    def take_replace(self) -> list[tuple[str, float, float]]:
        """The ranges to rewrite, handed to one save (and forgotten here)."""
        replace, self.replace = self.replace, []
        return replace

    async def _committed(self, what: str) -> None:
        """Wait for the store to commit (and fold) what was queued, at most `store_wait`: a store that cannot
        write (a full disk) held the start for ever, no probe running and no alert possible. Past the wait,
        `what` goes on with what is committed; the queued writes land when the store recovers."""
        try:
            await asyncio.wait_for(self._store.flush(), self._store_wait)
        except TimeoutError:
            logger.error("slo: store not committing within %.0fs, going on without it for %s: error=%s",
                         self._store_wait, what, self._store.last_error)  # fmt: skip

    async def catch_up(self, rebuilt: set[str]) -> None:
        """Count the stored results the saved state does not include (only after an unclean stop); the
        `rebuilt` ledgers hold them already, their counters do not. Runs before any probe."""
        mark, top, rows = await self._store.read(uncounted)
        if mark is None:  # first start on this database (or its first since the upgrade): nothing to add
            self._store.submit(functools.partial(set_counted_watermark, now=self._clock.time(), results_id=top))
            await self._committed("the first start's SLO watermark")
            return
        if rows:
            counted = self._current().catch_up(rows, rebuilt)
            logger.warning(
                "slo: counted %d stored results the saved SLO state did not include (the last stop was "
                "unclean): results=%d counted=%d ids=%d..%d", len(rows), len(rows), counted, mark + 1, top,
            )  # fmt: skip

    async def restore(self, fingerprints: set[str], *, persisted: bool) -> set[str]:
        """Load the persisted cells of `fingerprints` (one store read for all of them); rebuild the
        ones without any (or all of them when not `persisted`) from raw history. Returns the rebuilt.

        Meanwhile periodic saves wait (`restoring`: SloService.persist_due), and until its cells are in, no
        save records a ledger among those the watermark holds for (`unrestored`): its saved cells are stale or
        about to be replaced, and a kill -9 before its restored cells are saved must find it to rebuild at start."""
        self.restoring = True
        try:
            return await self._restore_cells(fingerprints, persisted=persisted)
        finally:
            self.restoring = False

    async def _restore_cells(self, fingerprints: set[str], *, persisted: bool) -> set[str]:
        engine = self._current()
        if persisted and fingerprints:
            plans = {}
            for fp in fingerprints:
                ledger = engine.ledgers[fp]
                fine_since = (ledger.cur_f - ledger.nf + 1) * ledger.fine
                coarse_since = (ledger.cur_c - ledger.nc + 1) * ledger.coarse
                plans[fp] = (ledger.fine, ledger.coarse, fine_since, coarse_since, ledger.sliced)
            loaded = await self._store.read(functools.partial(load_all_cells, plans=plans))
            if engine is not self._current():
                return set()  # reloaded again meanwhile: the newer reload restores what it needs
            for fp, (fine, coarse) in loaded.items():
                ledger = engine.ledgers[fp]
                dirty = set(ledger.dirty_f), set(ledger.dirty_c)  # live since start: persist those
                ledger.add_fine_blocks(fine)
                ledger.load((), coarse, add=True)
                ledger.dirty_f, ledger.dirty_c = dirty
            fingerprints = fingerprints - set(loaded)
            self.unrestored -= set(loaded)
        until = self._clock.time()
        for fp in fingerprints & set(engine.composites):  # new, or stale (away while the watermark moved on):
            ledger = engine.ledgers[fp]  # its saved cells in the ledger's range go; the fine ring is recomputed
            since = min((ledger.cur_f - ledger.nf + 1) * ledger.fine, (ledger.cur_c - ledger.nc + 1) * ledger.coarse)
            self.replace.append((fp, since, until))  # (as a reload adding it back leaves it: see composite.py)
        fingerprints -= set(engine.composites)  # recomputed from their members' cells, never from raw results
        self.unrestored -= set(engine.composites)
        for comp in engine.composites.values():
            comp.invalidate()  # members' cells changed (or the composite's were loaded): redo the fine ring
        for group in groups(engine.definition(fp) for fp in fingerprints):
            until = self._clock.time()
            jobs = [(slo, engine.ledgers[slo.fingerprint], engine.rules_for(slo.fingerprint)) for slo in group]
            for _, ledger, _ in jobs:
                ledger.floor = until
            await self._committed("an SLO rebuild (results not yet written are not in it)")
            cells = await self._store.read(functools.partial(rebuild_group, jobs=jobs, until=until))
            if engine is not self._current():
                return set()  # reloaded again meanwhile: the newer reload rebuilds what it needs
            for (slo, ledger, _), rows in zip(jobs, cells, strict=True):
                await asyncio.sleep(0)  # one ledger's cells at a time (~0.5-3 ms each, hundreds per group);
                ledger.load(*rows, add=True)  # the group's read was for these ledgers: a reload now keeps them
                since = min(
                    (ledger.cur_f - ledger.nf + 1) * ledger.fine, (ledger.cur_c - ledger.nc + 1) * ledger.coarse
                )
                self.replace.append((slo.fingerprint, since, until))
                self.unrestored.discard(slo.fingerprint)  # its rebuilt cells go with the next save
                logger.info("slo ledger rebuilt from the store: fingerprint=%s cells=%d", slo.fingerprint, len(rows[1]))
        return fingerprints


__all__ = ["Restorer"]

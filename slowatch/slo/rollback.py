"""What a reload took out of the running SLO state, kept until the daemon has applied the whole reload.

A reload switches the SLO engine first, then the rest (alerting, ...). If a later step fails, the daemon switches
back to the running config (reload.py): `SloService.reload(old, rollback=True)`. Without this, the SLOs the rejected
config removed came back as an SLO added back does: their `*_events_total` counters from 0 (a counter reset for
Prometheus, and a dip to 0 in /metrics), their ledgers rebuilt from raw history (48 h of fine cells, rollups
beyond), their composites recomputed from 3 days. The rolled-back SLOs are the running config's: they carry on.

    reload(new)            the swap: `Dropped` takes the counters, ledgers, composites and exported values
                           of the SLOs `new` lacks; final results of their endpoints are kept from then on
    applied()              the reload went through: forgotten (an SLO added back later starts afresh)
    reload(old, rollback)  the engine takes them back and replays the kept results into them, so they count
                           what arrived while they were out (ledgers they shared stayed and only the counters of
                           the dropped keys take the results in)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slowatch.models import ProbeResult
from slowatch.slo.composite import Composite
from slowatch.slo.ledger import Ledger

if TYPE_CHECKING:
    from slowatch.slo.engine import Engine

Key = tuple[str, str]  # (consumer, slo)


@dataclass(slots=True)
class Dropped:
    counters: dict[Key, list[int]]  # the engine's own [events, good] lists
    ledgers: dict[str, Ledger]  # by fingerprint
    composites: dict[str, Composite]
    exported: dict[Key, tuple[int, int]]  # what /metrics served for them (the last committed save)
    endpoints: frozenset[str]  # whose results `results` keeps
    results: list[ProbeResult] = field(default_factory=list)  # final ones, observed since the swap

    def keep(self, result: ProbeResult) -> None:
        if result.final and result.endpoint in self.endpoints:
            self.results.append(result)


def dropped_by(old: Engine, new: Engine, exported: Mapping[Key, tuple[int, int]]) -> Dropped | None:
    """What `new` leaves out of `old` (None: nothing)."""
    keys = old.counters.keys() - new.counters.keys()
    fingerprints = old.ledgers.keys() - new.ledgers.keys()
    if not keys and not fingerprints:
        return None
    return Dropped(
        counters={k: old.counters[k] for k in keys},
        ledgers={fp: old.ledgers[fp] for fp in fingerprints},
        composites={fp: c for fp, c in old.composites.items() if fp in fingerprints},
        exported={k: v for k, v in exported.items() if k in keys},
        endpoints=frozenset(e for d in old.defs if d.key in keys or d.fingerprint in fingerprints for e in d.endpoints),
    )


__all__ = ["Dropped", "dropped_by"]

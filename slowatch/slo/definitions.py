"""SLO definitions compiled from the Config: resolved endpoints, goodness, and the ledger fingerprint.

The fingerprint hashes everything that decides whether a probe is good for an SLO and which
probes count: consumer (its maintenance windows), endpoint set, SLI kind, latency threshold,
budgeting and timeslice rule. The objective and window are not part of it: changing them reuses
the same buckets (they hold good/total counts, not budget). SLOs with equal fingerprints share
one ledger (e.g. a 7d and a 30d availability SLO of the same consumer).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from slowatch.config.composite import member_key
from slowatch.config.consumers import ConsumerConfig, EndpointIndex, SloConfig
from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.windows import CalendarPeriod, Window, window_of

DEFAULT_ALERT_WINDOWS: tuple[float, ...] = (300.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 259200.0)
"""The Workbook's multi-window pairs: 5m/1h, 30m/6h, 2h/1d, 6h/3d."""

EXHAUSTION_WINDOW = 3600.0
"""Time to exhaustion uses the burn rate over this alerting window."""


@dataclass(frozen=True, slots=True)
class CompositeDef:
    """A journey SLO's parts: per member its key, ledger fingerprint, slice rule and weight."""

    method: str  # serial | weighted | worst
    members: tuple[tuple[str, str], ...]
    fingerprints: tuple[str, ...]
    good_when: tuple[float | None, ...]  # a member's slice rule (None: a slice is good when all its units are)
    weights: tuple[int, ...]
    fine: int  # the members' (shared) timeslice length


@dataclass(frozen=True, slots=True)
class SloDef:
    consumer: str
    name: str
    objective: float  # ratio, 0.999
    sli: str  # availability | latency
    threshold: float | None
    budgeting: str  # occurrences | timeslices
    slice_length: int | None
    good_when: float | None
    window: Window
    endpoints: tuple[str, ...]
    composite: CompositeDef | None = None
    fingerprint: str = ""  # filled by __post_init__

    def __post_init__(self) -> None:
        c = self.composite
        ident: dict[str, object]
        if c is not None:  # what decides a composite's slices: its method and its members' ledgers
            members = zip(c.fingerprints, c.good_when, c.weights, strict=True)
            ident = {"consumer": self.consumer, "composite": c.method, "members": [list(m) for m in members]}
        else:
            ident = {
                "consumer": self.consumer,
                "endpoints": sorted(self.endpoints),
                "sli": self.sli,
                "threshold": self.threshold,
                "budgeting": self.budgeting,
                "slice": self.slice_length,
                "good_when": self.good_when,
            }
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
        object.__setattr__(self, "fingerprint", digest)

    @property
    def key(self) -> tuple[str, str]:
        return self.consumer, self.name

    def good(self, result: ProbeResult) -> bool:
        if result.outcome is not Outcome.SUCCESS:
            return False
        return self.threshold is None or result.duration <= self.threshold

    def coarse_cell(self, year: int) -> int:
        """Coarse bucket length: 1h, or 15 min when a calendar zone has a sub-hour UTC offset."""
        w = self.window
        return 900 if isinstance(w, CalendarPeriod) and w.sub_hour_offset(year) else 3600

    @property
    def fine_cell(self) -> int:
        if self.composite is not None:
            return self.composite.fine
        return self.slice_length or 60


def compile_slo(consumer: ConsumerConfig, slo: SloConfig, config: Config, index: EndpointIndex | None = None) -> SloDef:
    """One SLO's definition; pass `index` (built once from `config.endpoints`) when compiling many."""
    if slo.composite is not None:
        return next(d for d in compile_config(config) if d.key == (consumer.name, slo.name))
    index = index or EndpointIndex(config.endpoints)
    refs = slo.endpoints if slo.endpoints is not None else consumer.endpoints
    slicing = slo.slicing
    return SloDef(
        consumer=consumer.name,
        name=slo.name,
        objective=slo.ratio,
        sli=slo.sli or "availability",
        threshold=slo.threshold,
        budgeting=slo.budgeting,
        slice_length=int(slicing.length) if slicing else None,
        good_when=slicing.good_when if slicing else None,
        window=window_of(slo.window),
        endpoints=tuple(index.resolve(refs)),
    )


def _compile_composite(consumer: ConsumerConfig, slo: SloConfig, done: dict[tuple[str, str], SloDef]) -> SloDef | None:
    """The composite's definition once all its members are compiled (None until then)."""
    assert slo.composite is not None
    keys = [member_key(consumer.name, m.slo) for m in slo.composite.members]
    if not all(k in done for k in keys):
        return None
    members = [done[k] for k in keys]
    composite = CompositeDef(
        method=slo.composite.method,
        members=tuple(keys),
        fingerprints=tuple(m.fingerprint for m in members),
        good_when=tuple(m.good_when for m in members),
        weights=tuple(m.weight or 1 for m in slo.composite.members),
        fine=members[0].fine_cell,
    )
    return SloDef(
        consumer=consumer.name,
        name=slo.name,
        objective=slo.ratio,
        sli="composite",
        threshold=None,
        budgeting="occurrences",
        slice_length=None,
        good_when=None,
        window=window_of(slo.window),
        endpoints=tuple(dict.fromkeys(e for m in members for e in m.endpoints)),
        composite=composite,
    )


def compile_config(config: Config) -> list[SloDef]:
    """Every SLO's definition in config order; composites after their members are known (a cycle,
    refused by the config checks, would leave them out)."""
    index = EndpointIndex(config.endpoints)
    done: dict[tuple[str, str], SloDef] = {}
    pending = []
    for c in config.consumers:
        for s in c.slos:
            if s.composite is None:
                done[(c.name, s.name)] = compile_slo(c, s, config, index)
            else:
                pending.append((c, s))
    progress = True
    while pending and progress:
        left = []
        for c, s in pending:
            d = _compile_composite(c, s, done)
            if d is None:
                left.append((c, s))
            else:
                done[d.key] = d
        progress, pending = len(left) < len(pending), left
    return [done[(c.name, s.name)] for c in config.consumers for s in c.slos if (c.name, s.name) in done]


__all__ = ["DEFAULT_ALERT_WINDOWS", "EXHAUSTION_WINDOW", "CompositeDef", "SloDef", "compile_config", "compile_slo"]

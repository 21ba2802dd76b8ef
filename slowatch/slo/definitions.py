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

from slowatch.config.alerting import DEFAULT_ALERT_WINDOWS
from slowatch.config.consumers import ConsumerConfig, EndpointIndex, SloConfig
from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.windows import CalendarPeriod, Window, window_of

EXHAUSTION_WINDOW = 3600.0
"""Time to exhaustion uses the burn rate over this alerting window."""


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
    fingerprint: str = ""  # filled by __post_init__

    def __post_init__(self) -> None:
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
        return self.slice_length or 60


def compile_slo(consumer: ConsumerConfig, slo: SloConfig, config: Config, index: EndpointIndex | None = None) -> SloDef:
    """One SLO's definition; pass `index` (built once from `config.endpoints`) when compiling many."""
    index = index or EndpointIndex(config.endpoints)
    refs = slo.endpoints if slo.endpoints is not None else consumer.endpoints
    slicing = slo.slicing
    return SloDef(
        consumer=consumer.name,
        name=slo.name,
        objective=slo.ratio,
        sli=slo.sli,
        threshold=slo.threshold,
        budgeting=slo.budgeting,
        slice_length=int(slicing.length) if slicing else None,
        good_when=slicing.good_when if slicing else None,
        window=window_of(slo.window),
        endpoints=tuple(index.resolve(refs)),
    )


def compile_config(config: Config) -> list[SloDef]:
    index = EndpointIndex(config.endpoints)
    return [compile_slo(c, s, config, index) for c in config.consumers for s in c.slos]


__all__ = ["DEFAULT_ALERT_WINDOWS", "EXHAUSTION_WINDOW", "SloDef", "compile_config", "compile_slo"]

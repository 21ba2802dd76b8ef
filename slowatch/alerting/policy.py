"""Alerting policy as data: the Workbook's burn-rate tiers, resolved per SLO with overrides.

A tier fires when the burn rates over both its `long` and `short` windows exceed its factor.
Tiers given as `budget_percent` derive the factor from the SLO's window:

    factor = budget% / 100 x SLO window / long window     (2% of a 30d budget in 1h -> 14.4)
"""

from __future__ import annotations

from dataclasses import dataclass

from slowatch.config.alerting import AlertingPolicy, BurnTier, SloAlertOverride
from slowatch.config.schema import Config

DEFAULT_TIERS: tuple[BurnTier, ...] = (
    BurnTier(severity="page", long=3600.0, short=300.0, budget_percent=2.0),
    BurnTier(severity="page", long=21600.0, short=1800.0, budget_percent=5.0),
    BurnTier(severity="ticket", long=86400.0, short=7200.0, budget_percent=10.0),
    BurnTier(severity="ticket", long=259200.0, short=21600.0, budget_percent=10.0),
)
"""Page at 14.4 (1h/5m) and 6 (6h/30m), ticket at 3 (1d/2h) and 1 (3d/6h) for a 30d window."""


@dataclass(frozen=True, slots=True)
class Tier:
    severity: str
    long: float
    short: float
    factor: float
    budget_percent: float | None


@dataclass(frozen=True, slots=True)
class SloPolicy:
    enabled: bool
    tiers: tuple[BurnTier, ...]
    exhausted_threshold: float
    exhausted_severity: str
    no_data_after: float
    no_data_severity: str
    resolve_after: float

    def tiers_for(self, window_seconds: float) -> tuple[Tier, ...]:
        """The tiers with their factors for an SLO window of `window_seconds`."""
        out = []
        for t in self.tiers:
            factor = t.factor if t.factor is not None else (t.budget_percent or 0.0) / 100 * window_seconds / t.long
            out.append(Tier(t.severity, t.long, t.short, factor, t.budget_percent))
        return tuple(out)


class PolicyBook:
    """The effective policy of every (consumer, slo) of one Config."""

    def __init__(self, config: Config) -> None:
        self._defaults = config.alerting
        self._overrides: dict[tuple[str, str], SloAlertOverride] = {
            (o.consumer, o.slo): o for o in config.alerting.slos
        }
        self._cache: dict[tuple[str, str], SloPolicy] = {}

    def get(self, consumer: str, slo: str) -> SloPolicy:
        key = (consumer, slo)
        policy = self._cache.get(key)
        if policy is None:
            policy = self._cache[key] = _resolve(self._defaults, self._overrides.get(key))
        return policy


def _resolve(d: AlertingPolicy, o: SloAlertOverride | None) -> SloPolicy:
    tiers = tuple(d.burn_tiers) if d.burn_tiers is not None else DEFAULT_TIERS
    if o is not None and o.burn_tiers is not None:
        tiers = tuple(o.burn_tiers)
    return SloPolicy(
        enabled=o.enabled if o is not None else True,
        tiers=tiers,
        exhausted_threshold=d.exhausted_threshold
        if o is None or o.exhausted_threshold is None
        else o.exhausted_threshold,
        exhausted_severity=d.exhausted_severity,
        no_data_after=d.no_data_after if o is None or o.no_data_after is None else o.no_data_after,
        no_data_severity=d.no_data_severity,
        resolve_after=d.resolve_after,
    )


__all__ = ["DEFAULT_TIERS", "PolicyBook", "SloPolicy", "Tier"]

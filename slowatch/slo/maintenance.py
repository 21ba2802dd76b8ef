"""Is `ts` inside a maintenance window for this consumer's endpoint? O(rules that apply), no I/O.

A rule applies to (consumer, endpoint) when it names the consumer, or names/selects the endpoint.
Probes inside an applicable window are excluded from the consumer's SLIs and budgets (the ledger
counts them as `excluded`); they still reach the store and the per-endpoint metrics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from slowatch.config.consumers import resolve_endpoints
from slowatch.config.maintenance import MaintenanceConfig
from slowatch.config.schema import Config


@dataclass(frozen=True, slots=True)
class OneOff:
    name: str
    start: float
    end: float

    def active(self, ts: float) -> bool:
        return self.start <= ts < self.end


@dataclass(frozen=True, slots=True)
class Recurring:
    name: str
    weekdays: frozenset[int]
    start: dt.time
    duration: float
    tz: ZoneInfo

    def active(self, ts: float) -> bool:
        today = dt.datetime.fromtimestamp(ts, self.tz).date()
        # a window that started up to `duration` ago (plus a day for DST shifts) may still be open
        for back in range(int(self.duration // 86400) + 2):
            day = today - dt.timedelta(days=back)
            if day.weekday() not in self.weekdays:
                continue
            begin = dt.datetime.combine(day, self.start, tzinfo=self.tz).timestamp()
            if begin <= ts < begin + self.duration:
                return True
        return False


Rule = OneOff | Recurring


def rule_of(cfg: MaintenanceConfig) -> Rule:
    if cfg.recurring is not None:
        rec = cfg.recurring
        return Recurring(cfg.name, rec.weekdays, dt.time.fromisoformat(rec.start), rec.duration, ZoneInfo(rec.timezone))
    assert cfg.start is not None and cfg.end is not None  # guaranteed by MaintenanceConfig
    return OneOff(cfg.name, cfg.start.timestamp(), cfg.end.timestamp())


class MaintenanceCalendar:
    """The maintenance rules of one Config, indexed by (consumer, endpoint)."""

    def __init__(self, config: Config) -> None:
        self._by_consumer: dict[str, list[Rule]] = {}
        self._by_endpoint: dict[str, list[Rule]] = {}
        self._windows: list[tuple[Rule, tuple[str, ...], tuple[str, ...]]] = []
        for cfg in config.maintenance:
            rule = rule_of(cfg)
            endpoints = tuple(resolve_endpoints(cfg.endpoints, config.endpoints))
            self._windows.append((rule, tuple(cfg.consumers), endpoints))
            for consumer in cfg.consumers:
                self._by_consumer.setdefault(consumer, []).append(rule)
            for endpoint in endpoints:
                self._by_endpoint.setdefault(endpoint, []).append(rule)

    def rules(self, consumer: str, endpoint: str) -> tuple[Rule, ...]:
        """The rules that apply to `endpoint` as seen by `consumer` (deduplicated, config order)."""
        found = [*self._by_consumer.get(consumer, ()), *self._by_endpoint.get(endpoint, ())]
        return tuple(dict.fromkeys(found))

    def excluded(self, consumer: str, endpoint: str, ts: float) -> bool:
        return any_active(self.rules(consumer, endpoint), ts)

    def active(self, ts: float) -> tuple[set[str], set[str]]:
        """The consumers and the endpoints named or selected by a window open at `ts`: O(windows + what the
        open ones cover), for a scrape (`slowatch_endpoint_suppressed`) rather than a per-endpoint question."""
        consumers: set[str] = set()
        endpoints: set[str] = set()
        for rule, named, selected in self._windows:
            if rule.active(ts):
                consumers.update(named)
                endpoints.update(selected)
        return consumers, endpoints


def any_active(rules: Iterable[Rule], ts: float) -> bool:
    return any(rule.active(ts) for rule in rules)


__all__ = ["MaintenanceCalendar", "OneOff", "Recurring", "Rule", "any_active", "rule_of"]

"""Everything a consumer's page (and its monthly report) shows, read in one go from the database.

`consumer_figures` runs on the store's reader thread (or on a read-only connection in
`slowatch report`): the SLO states come from the engine's immutable Snapshot, the history from the
ledger cells, rollups and incidents in SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from slowatch.config.consumers import ConsumerConfig, EndpointIndex, SloConfig, resolve_endpoints
from slowatch.config.schema import Config
from slowatch.slo.correction_report import CorrectionFigure, correction_figures
from slowatch.slo.daybars import DAY, DayBar, drawn_endpoint_days, slo_days
from slowatch.slo.definitions import SloDef, compile_slo
from slowatch.slo.history import incidents
from slowatch.slo.maintenance import MaintenanceCalendar, Rule
from slowatch.slo.snapshot import SloStatus, Snapshot
from slowatch.slo.timeline import BurnDown, Outage, Span, bad_units, burn_down, maintenance_spans, merge_outages
from slowatch.slo.windows import CalendarPeriod

HISTORY_DAYS = 90
UPCOMING = 7 * DAY


@dataclass(frozen=True, slots=True)
class SloFigure:
    definition: SloDef
    config: SloConfig
    status: SloStatus | None
    burn: BurnDown
    days: tuple[DayBar, ...]
    corrections: tuple[CorrectionFigure, ...] = ()  # budget corrections touching the SLO in its period
    # (start of each of `burn.outages`, the share of the period's budget its hours spent; None while collecting):
    # the SLO's own outages, merged over its own endpoints only (the consumer's incidents merge all of them)
    outage_shares: tuple[tuple[float, float | None], ...] = ()


@dataclass(frozen=True, slots=True)
class OutageFigure:
    outage: Outage
    # (SLO name, share of its period's budget the outage's hours spent); the share is None while the SLO
    # collects data (its period holds too few units for the budget to allow one bad one: any share is noise)
    budget: tuple[tuple[str, float | None], ...]


@dataclass(frozen=True, slots=True)
class ConsumerFigures:
    consumer: ConsumerConfig
    now: float
    endpoints: tuple[str, ...]
    slos: tuple[SloFigure, ...]
    endpoint_days: tuple[tuple[str, tuple[DayBar, ...]], ...]  # those drawn (`draw`), in the consumer's order
    outages: tuple[OutageFigure, ...]
    maintenance: tuple[Span, ...]  # active now or starting within a week, whole (not clipped to now)
    undrawn: tuple[int, int] = (0, 0)  # endpoints whose bars were left out (`draw`), and the days they missed


def period(d: SloDef, now: float) -> tuple[float, float]:
    """The SLO's current period: a calendar window's whole period, or the rolling window ending now (from the
    start of the hour `now - window` is in, as the daemon counts it: `RollingWindow.start`)."""
    if isinstance(d.window, CalendarPeriod):
        return d.window.bounds(now)
    return d.window.start(now), now


def consumer_rules(config: Config, consumer: str, endpoints: tuple[str, ...]) -> list[Rule]:
    calendar = MaintenanceCalendar(config)
    return list(dict.fromkeys(r for ep in endpoints for r in calendar.rules(consumer, ep)))


class _OwnMaintenance:
    """The maintenance rules (and their spans over the page's days) of some of a consumer's endpoints: an SLO's
    or one endpoint's, never the whole consumer's (a window on one endpoint is not drawn on the others)."""

    def __init__(self, config: Config, consumer: str, endpoints: tuple[str, ...], lo: float, hi: float) -> None:
        calendar = MaintenanceCalendar(config)
        self._rules = {ep: tuple(calendar.rules(consumer, ep)) for ep in endpoints}
        self._lo, self._hi = lo, hi
        self._spans: dict[tuple[Rule, ...], list[Span]] = {}

    def rules(self, endpoints: tuple[str, ...]) -> tuple[Rule, ...]:
        return tuple(dict.fromkeys(r for ep in endpoints for r in self._rules.get(ep, ())))

    def spans(self, endpoints: tuple[str, ...]) -> list[Span]:
        rules = self.rules(endpoints)
        if rules not in self._spans:  # 2,000 endpoints share a handful of rule sets
            self._spans[rules] = maintenance_spans(rules, self._lo, self._hi)
        return self._spans[rules]


def _share(conn: sqlite3.Connection, d: SloDef, burn: BurnDown, o: Outage, now: float) -> float | None:
    """The share of the period's budget the outage's hours spent; None while the SLO collects data."""
    return None if burn.collecting else bad_units(conn, d, o.start, o.end or now) / burn.budget_units


def consumer_figures(
    conn: sqlite3.Connection,
    config: Config,
    consumer: ConsumerConfig,
    snapshot: Snapshot,
    now: float,
    *,
    days: int = HISTORY_DAYS,
    bounds: Callable[[SloDef], tuple[float, float]] | None = None,
    draw: int | None = None,
) -> ConsumerFigures:
    """`bounds`: each SLO's period to report on (e.g. a month in its time zone) instead of its current one.
    `draw`: the day bars of at most this many endpoints, those with the most missed days (the page's); the
    others are only counted (daybars.drawn_endpoint_days)."""
    index = EndpointIndex(config.endpoints)  # once: 200 SLOs' selectors each indexing 2,000 endpoints took 0.5 s
    endpoints = tuple(resolve_endpoints(consumer.endpoints, index))
    history_from = now - days * DAY
    defs = [(compile_slo(consumer, s, config, index), s) for s in consumer.slos]
    periods = {d.name: bounds(d) if bounds else period(d, now) for d, _ in defs}
    since = min([history_from, *(p[0] for p in periods.values())])
    down = incidents(conn, endpoints, since, now + 1)
    found = merge_outages(down)
    own = _OwnMaintenance(config, consumer.name, endpoints, history_from, now + DAY)
    members = {d.name: frozenset(d.endpoints) for d, _ in defs}  # (not rebuilt per outage: O(outages x endpoints))
    slos = []
    for d, cfg in defs:  # each SLO's chart and bars show only the maintenance and outages of its endpoints
        start, end = periods[d.name]
        own_outages = merge_outages(down, members[d.name])
        burn = burn_down(conn, d, start, end, min(now, end), own.rules(d.endpoints), own_outages)
        bars = tuple(slo_days(conn, d, now, days, own.spans(d.endpoints)))
        corrected = correction_figures(conn, d, start, end)
        slo_shares = (
            tuple((o.start, _share(conn, d, burn, o, now)) for o in burn.outages) if burn.budget_units > 0 else ()
        )
        slos.append(SloFigure(d, cfg, snapshot.get(consumer.name, d.name), burn, bars, corrected, slo_shares))
    objective = {ep: max((d.objective for d, _ in defs if ep in d.endpoints), default=0.99) for ep in endpoints}
    most = len(endpoints) if draw is None else draw
    spans = {ep: own.spans((ep,)) for ep in endpoints}
    drawn, undrawn = drawn_endpoint_days(conn, endpoints, objective, now, days, spans, most)
    per_endpoint = tuple((ep, tuple(bars)) for ep, bars in drawn)
    figures = []
    for o in found:
        shares: list[tuple[str, float | None]] = []
        for s in slos:
            d = s.definition
            if members[d.name].isdisjoint(o.endpoints) or s.burn.budget_units <= 0:
                continue
            shares.append((d.name, _share(conn, d, s.burn, o, now)))
        figures.append(OutageFigure(o, tuple(shares)))
    rules = own.rules(endpoints)  # whole windows: one that began yesterday reads so, not "from" now
    upcoming = tuple(span for span in maintenance_spans(rules, now, now + UPCOMING, clip=False) if span[1] > now)
    return ConsumerFigures(consumer, now, endpoints, tuple(slos), per_endpoint, tuple(figures), upcoming, undrawn)


__all__ = ["ConsumerFigures", "OutageFigure", "SloFigure", "consumer_figures", "consumer_rules", "period"]

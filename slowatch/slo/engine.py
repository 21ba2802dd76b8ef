"""The SLO engine: routes final probe results into ledgers and turns them into Snapshots.

`observe` is O(ledgers that include the endpoint) and does no I/O. `refresh(now)` advances every
ledger to `now` and builds a new immutable Snapshot from the running sums: O(SLOs x windows),
independent of how much history the windows hold.

On reload the next engine is built in a thread (`link=False`: its routes, O(endpoints in SLOs)) and linked
to the running one on the event loop (`link`: the composites, which take over the running ones' progress).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.models import Outcome, ProbeResult
from slowatch.slo import budget
from slowatch.slo.composite import Composite, Member, tail_slices
from slowatch.slo.corrections import Correction
from slowatch.slo.definitions import DEFAULT_ALERT_WINDOWS, EXHAUSTION_WINDOW, SloDef, compile_config
from slowatch.slo.display import sli_words, units_of
from slowatch.slo.ledger import Ledger
from slowatch.slo.maintenance import MaintenanceCalendar, Rule, any_active
from slowatch.slo.rollback import Dropped
from slowatch.slo.snapshot import SloStatus, Snapshot, WindowStatus, state_of
from slowatch.slo.windows import CalendarPeriod, trust_window

Counter = list[int]  # [events, good events], monotonic


@dataclass(slots=True)
class _Route:
    """Where a result for one endpoint goes: one ledger, its goodness rule, maintenance rules."""

    ledger: Ledger
    slo: SloDef
    rules: tuple[Rule, ...]
    counters: list[Counter]
    endpoint: str
    base: tuple[Rule, ...]  # maintenance; `rules` adds the corrections that apply


class Engine:
    def __init__(
        self,
        config: Config,
        now: float,
        alert_windows: Sequence[float] = DEFAULT_ALERT_WINDOWS,
        previous: Engine | None = None,
        corrections: Sequence[Correction] = (),
        defs: Sequence[SloDef] | None = None,
        *,
        link: bool = True,
        taken_back: Dropped | None = None,
    ) -> None:
        """Build ledgers for `config`; ledgers and counters of `previous` carry over by fingerprint (counters by
        (consumer, slo): a removed SLO's go, so one added back starts from 0, as after a restart).
        `defs`: `compile_config(config)` when already worked out (off the event loop, on reload).

        A ledger whose windows changed starts empty (in `resized`): persist and flush the previous
        engine first, then load its persisted cells, which hold the longer history too.

        With `link=False` the constructor reads nothing of `previous` that the event loop changes (its routes
        for 100,000 endpoints take ~20 ms: a reload builds them in a thread); `link(previous)`, on the loop
        right before the swap, then adds the composites, which take over the progress of `previous`'s.

        `taken_back` (a rollback: rollback.py): what the reload `previous` came from dropped; its counters, ledgers
        and composites carry over too, where `previous` has none of the same key or fingerprint (`replay` then
        counts the results they missed).
        """
        self.alert_windows = tuple(alert_windows)
        self.alert_labels = tuple(format_duration(w) for w in self.alert_windows)
        self.defs = compile_config(config) if defs is None else list(defs)
        carried = previous.counters if previous else {}  # (only the SLOs still configured: `counters` below)
        back = taken_back
        if back is not None:
            carried = {**back.counters, **carried}
        self._back_composites = back.composites if back is not None else {}
        self.taken_back: set[str] = set()  # fingerprints whose ledger came from `taken_back`
        self.counters: dict[tuple[str, str], Counter] = {}
        self.new_fingerprints: set[str] = set()  # not in `previous`: rebuild from raw history
        self.resized: set[str] = set()  # in `previous` with other windows: reload persisted cells
        year = dt.datetime.fromtimestamp(now, dt.UTC).year
        groups: dict[str, list[SloDef]] = {}
        for d in self.defs:
            groups.setdefault(d.fingerprint, []).append(d)
            if d.key not in self.counters:
                self.counters[d.key] = carried.get(d.key) or [0, 0]
        self.ledgers: dict[str, Ledger] = {}
        self.window_index: dict[tuple[str, str], int] = {}
        self.trust_index: dict[tuple[str, str], int] = {}
        for fp, defs in groups.items():
            windows = list(dict.fromkeys(w for d in defs for w in (d.window, trust_window(d.window))))
            for d in defs:
                self.window_index[d.key] = windows.index(d.window)
                self.trust_index[d.key] = windows.index(trust_window(d.window))
            coarse = min(d.coarse_cell(year) for d in defs)
            first = defs[0]
            ledger = Ledger(first.fine_cell, coarse, first.good_when, self.alert_windows, windows, now)
            old = previous.ledgers.get(fp) if previous else None
            from_back = old is None and back is not None and fp in back.ledgers
            if from_back and back is not None:
                old = back.ledgers[fp]
            if old is None or previous is None:
                self.new_fingerprints.add(fp)
            elif old.windows == windows and old.coarse == coarse and previous.alert_windows == self.alert_windows:
                ledger = old
                if from_back:
                    self.taken_back.add(fp)
            else:
                self.resized.add(fp)
            self.ledgers[fp] = ledger
        self._plan = [
            (d, self.ledgers[d.fingerprint], self.window_index[d.key], self.trust_index[d.key], self.counters[d.key])
            for d in self.defs
        ]
        self._words = {d.key: (sli_words(d), units_of(d)) for d in self.defs}
        calendar = MaintenanceCalendar(config)
        self._routes: dict[str, list[_Route]] = {}
        for fp, defs in groups.items():
            if defs[0].composite is not None:
                continue
            for endpoint in defs[0].endpoints:
                rules = calendar.rules(defs[0].consumer, endpoint)
                counters = [self.counters[d.key] for d in defs]
                route = _Route(self.ledgers[fp], defs[0], rules, counters, endpoint, rules)
                self._routes.setdefault(endpoint, []).append(route)
        # the lateness of the composites' endpoints (not every endpoint's: ~60 ms at 100,000)
        names = {e for d in self.defs if d.composite is not None for e in d.endpoints}
        self._late: dict[str, float] = {
            ep.name: (ep.retries + 1) * ep.timeout + ep.retries * ep.retry_delay
            for ep in (config.endpoints if names else ()) if ep.name in names
        }  # fmt: skip
        self.composites: dict[str, Composite] = {}
        self.corrections: tuple[Correction, ...] = tuple(corrections)
        self._correct_routes()
        if link:
            self.link(previous)

    def link(self, previous: Engine | None) -> None:
        """Build the composites, taking over where `previous`'s were (their counted and dirty slices, which each
        refresh moves on): on the event loop, right before this engine replaces `previous`."""
        self.composites = self._composites(previous)
        self._back_composites = {}
        self._correct_composites()

    def _composites(self, previous: Engine | None) -> dict[str, Composite]:
        """A Composite per composite fingerprint, members before the composites that contain them."""
        if not any(d.composite is not None for d in self.defs):
            return {}
        late = self._late
        by_key = {d.key: d for d in self.defs}
        depth: dict[str, int] = {}

        def depth_of(d: SloDef) -> int:
            if d.composite is None:
                return 0
            if d.fingerprint not in depth:
                depth[d.fingerprint] = 1 + max(depth_of(by_key[k]) for k in d.composite.members)
            return depth[d.fingerprint]

        out: dict[str, Composite] = {}
        for d in sorted((d for d in self.defs if d.composite is not None), key=depth_of):
            if d.fingerprint in out:
                continue
            assert d.composite is not None
            parts = zip(d.composite.fingerprints, d.composite.good_when, d.composite.weights, strict=True)
            members = [Member(self.ledgers[fp], when, weight) for fp, when, weight in parts]
            tail = tail_slices(d.fine_cell, max((late.get(e, 0.0) for e in d.endpoints), default=0.0) + 1.0)
            counters = [self.counters[x.key] for x in self.defs if x.fingerprint == d.fingerprint]
            comp = Composite(d, self.ledgers[d.fingerprint], members, tail, counters)
            old = previous.composites.get(d.fingerprint) if previous else None
            old = old or self._back_composites.get(d.fingerprint)
            if old is not None:
                comp.counted_to = old.counted_to
            if (
                old is not None
                and old.ledger is comp.ledger
                and [m.ledger for m in old.members] == [m.ledger for m in members]
            ):
                comp.dirty_from = old.dirty_from  # the same cells on both sides: carry on where it was
            out[d.fingerprint] = comp
        return out

    def set_corrections(self, corrections: Sequence[Correction]) -> None:
        """Exclude the (active) `corrections` from now on; rebuilding the past is the caller's (service.py)."""
        self.corrections = tuple(corrections)
        self._correct_routes()
        self._correct_composites()

    def _correct_routes(self) -> None:
        keys = {d.key: d.fingerprint for d in self.defs}
        for routes in self._routes.values():
            for route in routes:
                extra = [
                    c.rule
                    for c in self.corrections
                    if c.applies(route.slo.consumer, keys, route.slo.fingerprint, route.endpoint)
                ]
                route.rules = route.base + tuple(extra)

    def _correct_composites(self) -> None:
        keys = {d.key: d.fingerprint for d in self.defs}
        for fp, comp in self.composites.items():
            comp.excluded = tuple(
                (c.start, c.end) for c in self.corrections if c.slo is not None and keys.get((c.consumer, c.slo)) == fp
            )

    def observe(self, result: ProbeResult) -> None:
        if not result.final:
            return
        ts = result.started_at
        for route in self._routes.get(result.endpoint, ()):
            excluded = bool(route.rules) and any_active(route.rules, ts)
            good = route.slo.good(result)
            if route.ledger.observe(ts, good, excluded) and not excluded:
                for counter in route.counters:
                    counter[0] += 1
                    counter[1] += good

    def replay(self, results: Iterable[ProbeResult], ledgers: Set[str], counters: Sequence[Counter]) -> None:
        """Count `results` (final ones, observed by another engine) into the `ledgers` (fingerprints) and the
        `counters` only: a rollback's (rollback.py) taken-back SLOs, which missed them."""
        wanted = {id(c) for c in counters}
        for result in results:
            ts = result.started_at
            for route in self._routes.get(result.endpoint, ()):
                fp = route.slo.fingerprint
                if fp not in ledgers and not any(id(c) in wanted for c in route.counters):
                    continue
                excluded = bool(route.rules) and any_active(route.rules, ts)
                good = route.slo.good(result)
                kept = route.ledger.observe(ts, good, excluded) if fp in ledgers else route.ledger.holds(ts)
                if kept and not excluded:
                    for counter in route.counters:
                        if id(counter) in wanted:
                            counter[0] += 1
                            counter[1] += good

    def catch_up(self, rows: Iterable[tuple[float, str, str, float]], counters_only: Set[str] = frozenset()) -> int:
        """Count stored final results (ts, endpoint, outcome, duration) as `observe` would; the ledgers of
        `counters_only` (just rebuilt from the store, so holding them) only count them in the counters.
        Returns how many results reached at least one ledger or counter."""
        success = Outcome.SUCCESS.value
        counted = 0
        for ts, endpoint, outcome, duration in rows:
            hit = False
            for route in self._routes.get(endpoint, ()):
                excluded = bool(route.rules) and any_active(route.rules, ts)
                threshold = route.slo.threshold
                good = outcome == success and (threshold is None or duration <= threshold)
                if route.slo.fingerprint in counters_only:
                    kept = route.ledger.holds(ts)
                else:
                    kept = route.ledger.observe(ts, good, excluded)
                if kept and not excluded:
                    for counter in route.counters:
                        counter[0] += 1
                        counter[1] += good
                hit = hit or kept
            counted += hit
        return counted

    def refresh(self, now: float, exported: Mapping[tuple[str, str], tuple[int, int]] | None = None) -> Snapshot:
        """Advance every ledger to `now`; the Snapshot. Its `events_total`/`good_events_total` are
        `exported`'s ((0, 0) for a key not in it) when given (service.py: the counters a restart restores),
        else the live counters."""
        for ledger in self.ledgers.values():
            if not ledger.rewind(now):  # a wall clock stepped back: the windows follow it (ledger_rings.py)
                ledger.advance(now)
        for composite in self.composites.values():
            composite.update(now)
        if exported is None:
            return Snapshot(now, tuple(self._status(*plan, now) for plan in self._plan))
        return Snapshot(
            now, tuple(self._status(d, led, i, t, exported.get(d.key, (0, 0)), now) for d, led, i, t, _ in self._plan)
        )

    def _status(
        self, d: SloDef, ledger: Ledger, index: int, trust: int, counter: Sequence[int], now: float
    ) -> SloStatus:
        objective = d.objective
        sums = ledger.sums[index]
        first, good_ev, total_ev, good, total, excluded, _ = sums
        windows = []
        burn_now = None
        for label, seconds, s in zip(self.alert_labels, self.alert_windows, ledger.alert, strict=True):
            burn = budget.burn_rate(s[3], s[4], objective)
            windows.append(WindowStatus(label, seconds, s[3], s[4], budget.sli(s[3], s[4]), burn))
            if seconds == EXHAUSTION_WINDOW:
                burn_now = burn
        length = d.window.length(now)
        remaining = budget.budget_remaining(good, total, objective)
        state = state_of(total, objective)
        return SloStatus(
            consumer=d.consumer,
            slo=d.name,
            sli_kind=d.sli,
            budgeting=d.budgeting,
            objective=objective,
            window=d.window.label,
            window_start=float(first * ledger.coarse),
            window_seconds=length,
            state=state,
            good=good,
            total=total,
            good_events=good_ev,
            total_events=total_ev,
            excluded_events=excluded,
            sli=budget.sli(good, total),
            budget_remaining=remaining,
            burn_rate=budget.burn_rate(good, total, objective),
            time_to_exhaustion=budget.time_to_exhaustion(remaining, length, burn_now),
            windows=tuple(windows),
            events_total=counter[0],
            good_events_total=counter[1],
            fingerprint=d.fingerprint,
            trust_total=ledger.sums[trust][4],
            data_since=ledger.data_since(sums),
            data_seconds=ledger.data_seconds(sums, now),
            time_zone=d.window.timezone if isinstance(d.window, CalendarPeriod) else "",
            measures=self._words[d.key][0],
            units=self._words[d.key][1],
        )

    def definition(self, fingerprint: str) -> SloDef:
        return next(d for d in self.defs if d.fingerprint == fingerprint)

    def fingerprints_matching(self, correction: Correction) -> set[str]:
        """The (non-composite) ledgers a correction excludes results from."""
        keys = {d.key: d.fingerprint for d in self.defs}
        return {
            r.slo.fingerprint
            for routes in self._routes.values()
            for r in routes
            if correction.applies(r.slo.consumer, keys, r.slo.fingerprint, r.endpoint)
        }

    def rules_for(self, fingerprint: str) -> dict[str, tuple[Rule, ...]]:
        """Maintenance rules per endpoint of one ledger (from its endpoints' routes: O(its endpoints))."""
        ledger = self.ledgers[fingerprint]
        endpoints = self.definition(fingerprint).endpoints
        return {ep: r.rules for ep in endpoints for r in self._routes.get(ep, ()) if r.ledger is ledger}


__all__ = ["Engine"]

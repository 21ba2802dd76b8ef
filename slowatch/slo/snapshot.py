"""The immutable result of one engine refresh: every SLO's SLI, budget and burn rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from slowatch.slo import budget
from slowatch.slo.budget import too_few_events
from slowatch.slo.display import units_needed


class SloState(StrEnum):
    OK = "ok"
    NO_DATA = "no_data"  # no counted probes (or slices) in the SLO window: no SLI, no budget
    TOO_FEW_EVENTS = "too_few_events"  # the budget allows fewer than one bad unit: numbers are noisy


def state_of(total: int, objective: float) -> SloState:
    """The state of a window holding `total` units (probes or slices) against `objective`."""
    if total == 0:
        return SloState.NO_DATA
    if too_few_events(total, objective):
        return SloState.TOO_FEW_EVENTS
    return SloState.OK


@dataclass(frozen=True, slots=True)
class WindowStatus:
    """One alerting window (e.g. `1h`): units are probes (occurrences) or slices with data."""

    window: str
    seconds: float
    good: int
    total: int
    sli: float | None
    burn_rate: float | None


@dataclass(frozen=True, slots=True)
class SloStatus:
    consumer: str
    slo: str
    sli_kind: str
    budgeting: str
    objective: float  # ratio, e.g. 0.999
    window: str  # "30d", "month", ...
    window_start: float  # unix seconds, first instant the SLO window covers
    window_seconds: float  # nominal length (a calendar period's full length)
    state: SloState
    good: int  # good units in the SLO window
    total: int  # units in the SLO window
    good_events: int  # good probes in the SLO window (== good with occurrences)
    total_events: int
    excluded_events: int  # probes inside maintenance windows, not counted anywhere else
    sli: float | None
    budget_remaining: float | None  # 1 - (1 - sli)/(1 - objective); negative when overspent
    burn_rate: float | None  # over the whole SLO window
    time_to_exhaustion: float | None  # seconds; see budget.time_to_exhaustion
    windows: tuple[WindowStatus, ...]
    events_total: int  # counted probes since the SLO was first seen, as of the last committed save (monotonic)
    good_events_total: int
    fingerprint: str
    trust_total: int | None = None  # units in the window burn alerts trust (engine._trust_window); None: `total`
    measures: str = ""  # what the SLI is, for people: "availability", "journey: serial of a/x, b/y" (display.sli_words)
    units: str = "occurrences"  # what it counts, for display.unit_word: occurrences, timeslices, units
    data_since: float | None = None  # when the SLO window has data from (Ledger.data_since; to the coarse cell)
    data_seconds: float | None = None  # the time the window has data for (Ledger.data_seconds): gaps are not in it
    time_zone: str = ""  # a calendar window's IANA time zone ("" for a rolling window)

    @property
    def error_budget(self) -> float:
        return budget.error_budget(self.objective)

    @property
    def covered_seconds(self) -> float:
        """The time the budget as time is over: the time the window has data for (`data_seconds`), at most the
        window; the whole window when not known."""
        return self.window_seconds if self.data_seconds is None else min(self.window_seconds, self.data_seconds)

    @property
    def partial(self) -> bool:
        """Whether data covers only part of the window: the time figures then read "so far"."""
        return self.covered_seconds < self.window_seconds

    def budget_seconds(self) -> float | None:
        """The error budget as time, over the time with data: (1 - objective) x `covered_seconds`, so that the
        time left is `budget_remaining` of it, as every percentage says (None: no data)."""
        return None if self.sli is None else self.error_budget * self.covered_seconds

    def time_left(self) -> float | None:
        """The error budget left as time: the budget over the time with data (`budget_seconds`) less the bad time
        in it, (1 - SLI) x that time; `budget_remaining` x the budget, negative when overspent
        (display.budget_time_words). Not the whole window's budget less the bad time so far (before session 11):
        12 hours of a month 0.56 % bad against 99 % read 7h 8m left of 7h 12m, 99 % of it, next to 44.4 %."""
        if self.sli is None:
            return None
        return (self.error_budget - (1.0 - self.sli)) * self.covered_seconds

    @property
    def exhausted(self) -> bool:
        """True when the budget is used up or overspent (remaining <= 0)."""
        return self.budget_remaining is not None and self.budget_remaining <= 0

    @property
    def burn_trusted(self) -> bool:
        """Whether burn rates may alert: enough units for the budget to allow one bad one in the SLO window,
        or, for a calendar window, in the last nominal period (30d for a month), as the generated rules count."""
        total = self.total if self.trust_total is None else self.trust_total
        return state_of(total, self.objective) is SloState.OK

    def window_status(self, label: str) -> WindowStatus | None:
        return next((w for w in self.windows if w.window == label), None)

    def burn(self, seconds: float) -> float | None:
        """Burn rate over the alerting window of this length (None: no data, or not computed)."""
        return next((w.burn_rate for w in self.windows if w.seconds == seconds), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (for /api and status pages): every field plus `exhausted`, `error_budget`, `units_needed`,
        and the budget as time over the time with data (`budget_seconds`, `budget_left_seconds`)."""
        data = asdict(self)
        data.update(state=self.state.value, exhausted=self.exhausted, error_budget=self.error_budget)
        data.update(budget_seconds=self.budget_seconds(), budget_left_seconds=self.time_left())
        data["units_needed"] = units_needed(self.objective)  # before which the state is too_few_events
        return data


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: float
    slos: tuple[SloStatus, ...] = ()
    _index: dict[tuple[str, str], SloStatus] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index.update(((s.consumer, s.slo), s) for s in self.slos)

    def get(self, consumer: str, slo: str) -> SloStatus | None:
        return self._index.get((consumer, slo))

    def as_list(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.slos]


__all__ = ["SloState", "SloStatus", "Snapshot", "WindowStatus", "state_of"]

"""PromQL building blocks shared by every generator (Prometheus rules, dashboards, OpenSLO).

- `Aggregation`: how series from several slowatch processes add up. It is the one place that knows
  which labels tell instances apart: replicas (`instance`, `replica`) hold copies of the same counts, so
  one is taken (`max`, the replica that counted most: a replica that was down counts less); shards
  split the endpoints, so they are summed (`shard`); locations probe the same endpoints from several
  places, so without a quorum their probes are summed too (every probe from every location counts:
  Grafana Synthetic Monitoring's "reachability"). Gauges such as `slowatch_probe_success` take the
  `max` over all of them (an endpoint is up if any process sees it up). A process holding an endpoint's
  page (`slowatch_endpoint_suppressed`) is enough to keep the generated page quiet (`unless on (endpoint)`).
- `SloTarget`: one consumer SLO as the generators see it (objective, window, alert policy), built
  from the same `compile_config` and `PolicyBook` the daemon uses, so the rules cannot drift from
  what slowatch computes itself.
- Names of the recording rules (Sloth's style: `slowatch_slo:sli_error:ratio_rate5m`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from slowatch.alerting.policy import PolicyBook, SloPolicy, Tier
from slowatch.config.schema import Config
from slowatch.slo.budget import error_budget
from slowatch.slo.definitions import DEFAULT_ALERT_WINDOWS, SloDef, compile_config
from slowatch.slo.display import units_needed
from slowatch.slo.windows import NOMINAL_SECONDS, CalendarPeriod

EVENTS = "slowatch_slo_events_total"
GOOD_EVENTS = "slowatch_slo_good_events_total"
PROBE_SUCCESS = "slowatch_probe_success"
PROBE_FAILING = "slowatch_probe_failing"
"""Sparse: 1 while the endpoint's last final result failed, absent otherwise (`PROBE_SUCCESS == 0`, cheaper to read)."""
SUPPRESSED = "slowatch_endpoint_suppressed"
"""Sparse: 1 while a process holds the endpoint's page (slowatch/alerting/held.py); taken if ANY process says so."""

ERROR_RATIO = "slowatch_slo:sli_error:ratio_rate{window}"
BURN_RATE = "slowatch_slo:burn_rate:ratio"
SLI = "slowatch_slo:sli:ratio"
BUDGET_REMAINING = "slowatch_slo:error_budget_remaining:ratio"
TIME_TO_EXHAUSTION = "slowatch_slo:time_to_exhaustion:seconds"
OBJECTIVE = "slowatch_slo:objective:ratio"
WINDOW_SECONDS = "slowatch_slo:window:seconds"
WINDOW_EVENTS = "slowatch_slo:events:window_total"
ENDPOINT_UP = "slowatch_slo:probe_success:max"

CALENDAR_AS_ROLLING = NOMINAL_SECONDS
"""Prometheus can only look back a fixed range: a calendar window is evaluated as its nominal rolling one
(whose length slowatch's own burn tiers use too)."""


@dataclass(frozen=True, slots=True)
class Aggregation:
    """How series of several slowatch processes combine: the labels that only tell processes apart."""

    replica_labels: tuple[str, ...] = ("instance", "replica")
    """Copies of the same counts (HA replicas of one shard, and the scrape's own `instance`): one is taken."""
    split_labels: tuple[str, ...] = ("shard",)
    """Processes that split the endpoints between them: summed."""
    location_label: str = "location"

    @property
    def instance_labels(self) -> tuple[str, ...]:
        return (*self.replica_labels, *self.split_labels, self.location_label)

    @staticmethod
    def _without(labels: Iterable[str]) -> str:
        return f"without ({', '.join(labels)})"

    def counter(self, expr: str) -> str:
        """A counter expression (e.g. an `increase(...)`) over processes: one replica, summed over shards and
        locations."""
        one = f"max {self._without(self.replica_labels)} ({expr})"
        return f"sum {self._without((*self.split_labels, self.location_label))} ({one})"

    def counter_per_location(self, expr: str) -> str:
        """As `counter`, but kept apart per `location` (for a location quorum)."""
        return f"sum {self._without(self.split_labels)} (max {self._without(self.replica_labels)} ({expr}))"

    def counter_across(self, expr: str, labels: tuple[str, ...]) -> str:
        """As `counter`, then summed over `labels` too (e.g. the members of a journey): one replica of each member
        is taken before they are added, so two replicas of a shard do not double the members' counts."""
        one = f"max {self._without(self.replica_labels)} ({expr})"
        return f"sum {self._without((*self.split_labels, self.location_label, *labels))} ({one})"

    def gauge(self, expr: str) -> str:
        """The best value of a per-process gauge (an endpoint is up if any process sees it up)."""
        return f"max {self._without(self.instance_labels)} ({expr})"

    def gauge_per_location(self, expr: str) -> str:
        return f"max {self._without((*self.replica_labels, *self.split_labels))} ({expr})"


def prom_duration(seconds: float) -> str:
    """A PromQL duration, exact to the millisecond: 300 -> `5m`, 2592000 -> `30d`, 90.5 -> `1m30s500ms`."""
    rest = round(seconds * 1000)
    if rest <= 0:
        raise ValueError(f"not a positive duration: {seconds}")
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if rest >= size:
            n, rest = divmod(rest, size)
            out.append(f"{n}{unit}")
    return "".join(out)


def number(value: float) -> str:
    """A float for PromQL: the shortest text that reads back as the same double (`0.005`, `14.4`,
    `2592000`, `0.9333333333333333`), so a rule compares with exactly the number slowatch does (rounded
    to 12 digits, a 28d SLO's 3d tier factor 0.9333333333333333 became 0.933333333333: a burn between
    the two fired the rule and not slowatch)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def any_of(names: Iterable[str]) -> str:
    """A regex matching exactly these config names (`.` escaped as PromQL's `\\\\.`)."""
    return "|".join(n.replace(".", "\\\\.") for n in names)


def selector(**labels: str) -> str:
    """`{consumer="checkout",slo="availability"}`; values are config names (no quotes or backslashes)."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


@dataclass(frozen=True, slots=True)
class SloTarget:
    """One consumer SLO for the generators: what to compute, over which windows, and when to alert."""

    slo: SloDef
    policy: SloPolicy
    window_seconds: float  # the rolling range Prometheus uses for the SLO window
    window_label: str  # slowatch's own `window` label for it ("30d", "month", ...)
    calendar: bool
    quorum: int | None = None  # `locations: {quorum: q}` (slowatch/generate/quorum.py)
    quorum_slice: float = 60.0  # a slice for the quorum: 1m, or the SLO's longest probe interval

    @property
    def consumer(self) -> str:
        return self.slo.consumer

    @property
    def name(self) -> str:
        return self.slo.name

    @property
    def labels(self) -> dict[str, str]:
        return {"consumer": self.slo.consumer, "slo": self.slo.name}

    @property
    def sel(self) -> str:
        return selector(**self.labels)

    @property
    def error_budget(self) -> float:
        """1 - objective in decimal (99.9% -> 0.001, not 0.0010000000000000009; 99.99999999999% -> 1e-13, not 0),
        the very number slowatch divides by (`slo.budget.error_budget`)."""
        return error_budget(self.slo.objective)

    @property
    def min_events(self) -> int:
        """Fewest units for a trustworthy SLI: the budget must allow at least one bad one (`too_few_events`)."""
        return units_needed(self.slo.objective)

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return self.policy.tiers_for(self.window_seconds) if self.policy.enabled else ()

    @property
    def alert_windows(self) -> tuple[float, ...]:
        """Every window the alerting policy uses (the engine's seven), then the SLO window if it is another."""
        windows = list(DEFAULT_ALERT_WINDOWS)
        if self.window_seconds not in windows:
            windows.append(self.window_seconds)
        return tuple(windows)

    def error_ratio(self, seconds: float) -> str:
        return ERROR_RATIO.format(window=prom_duration(seconds))


def slo_targets(config: Config) -> list[SloTarget]:
    """Every consumer SLO of `config`, in config order."""
    book = PolicyBook(config)
    quorums = {(c.name, s.name): s.locations.quorum for c in config.consumers for s in c.slos if s.locations}
    intervals = {ep.name: ep.interval for ep in config.endpoints}
    out = []
    for slo in compile_config(config):
        window = slo.window
        if isinstance(window, CalendarPeriod):
            seconds, calendar = CALENDAR_AS_ROLLING[window.unit], True
        else:
            seconds, calendar = window.seconds, False
        slice_ = max([60.0, *(intervals.get(name, 0.0) for name in slo.endpoints)])
        policy = book.get(slo.consumer, slo.name)
        out.append(SloTarget(slo, policy, seconds, window.label, calendar, quorums.get(slo.key), slice_))
    return out


__all__ = [
    "BUDGET_REMAINING",
    "BURN_RATE",
    "CALENDAR_AS_ROLLING",
    "ENDPOINT_UP",
    "EVENTS",
    "GOOD_EVENTS",
    "OBJECTIVE",
    "PROBE_FAILING",
    "PROBE_SUCCESS",
    "SLI",
    "SUPPRESSED",
    "TIME_TO_EXHAUSTION",
    "WINDOW_EVENTS",
    "WINDOW_SECONDS",
    "Aggregation",
    "SloTarget",
    "any_of",
    "number",
    "prom_duration",
    "selector",
    "slo_targets",
]

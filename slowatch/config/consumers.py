"""Consumer models: who depends on which endpoints, and the SLOs they hold those endpoints to.

An endpoint reference is a name (`payments-api`) or a label selector (`{labels: {tier: critical}}`);
`resolve_endpoints` (or an `EndpointIndex`, built once per config) turns a list of them into endpoint
names. Semantic checks (unknown endpoints, selectors that match nothing, duplicate names) live in
`check_consumers`, registered in `CHECKS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from slowatch.config.access import AccessConfig
from slowatch.config.cluster import LocationQuorum
from slowatch.config.messages import Suggester
from slowatch.config.policy import BudgetPolicy
from slowatch.config.types import Duration, Model, Name, Timeout, Window

if TYPE_CHECKING:
    from slowatch.config.endpoints import EndpointBase
    from slowatch.config.schema import Config


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """Every IANA name of the tz database, by its lowercase form (read from disk once, when a name is wrong)."""
    return {name.lower(): name for name in available_timezones()}


def _meant(value: str) -> str | None:
    """The zone `value` was probably meant to be: the same name but for case, spaces or dashes, else a close one."""
    zones = _zones()
    for form in (value, value.replace(" ", "_"), value.replace("-", "_")):
        if form.lower() in zones:
            return zones[form.lower()]
    close = difflib.get_close_matches(value.lower(), list(zones), n=1, cutoff=0.8)
    return zones[close[0]] if close else None


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory (`Europe`), a name too long
        meant = _meant(value) if len(value) <= 100 else None
        hint = f"did you mean {meant!r}?" if meant else "use an IANA name such as Europe/Berlin"
        raise ValueError(f"unknown time zone {value!r} ({hint})") from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]
"""An IANA time zone name that exists in the tz database (e.g. `Europe/Berlin`, `UTC`)."""


class LabelSelector(Model):
    """Every endpoint whose labels include all of these key/value pairs."""

    labels: dict[str, str] = Field(min_length=1)

    def matches(self, endpoint: EndpointBase) -> bool:
        return all(endpoint.labels.get(k) == v for k, v in self.labels.items())


EndpointRef = Name | LabelSelector


class CalendarWindow(Model):
    """A calendar period (ISO weeks start on Monday) in a time zone; it resets at each period start."""

    calendar: Literal["week", "month", "quarter"]
    timezone: TimeZone = "UTC"


def _rolling(seconds: float) -> float:
    if seconds < 3600 or seconds % 3600:
        raise ValueError("a rolling window must be a whole number of hours (e.g. 7d, 30d, 36h)")
    if seconds > 400 * 86400:
        raise ValueError("a rolling window can be at most 400d")
    return seconds


def _calendar_word(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in ("week", "month", "quarter"):  # `window: month`
        raise ValueError(f"a calendar window is written {{calendar: {value.strip().lower()}}}")
    return value


RollingWindow = Annotated[Window, AfterValidator(_rolling), BeforeValidator(_calendar_word)]

TIMESLICE_LENGTHS = (60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600)


def _slice_length(seconds: float) -> float:
    if seconds not in TIMESLICE_LENGTHS:
        raise ValueError("must be a whole number of minutes that divides an hour (1m, 2m, 5m, ... 30m, 1h)")
    return seconds


class Timeslice(Model):
    """A slice is good when at least `good_when` of its probes are good; slices without probes don't count."""

    length: Annotated[Duration, AfterValidator(_slice_length)] = 60.0
    good_when: Annotated[float, Field(gt=0, le=1)] = 0.95


class CompositeMember(Model):
    """One part of a journey: `consumer/slo`, or a bare SLO name of the same consumer."""

    slo: str = Field(min_length=1)
    weight: Annotated[int, Field(ge=1, le=1000)] | None = None  # only with method: weighted (default 1)


class CompositeConfig(Model):
    """A journey SLO built from other SLOs' per-timeslice good/total (slowatch/slo/composite.py)."""

    method: Literal["serial", "weighted", "worst"]
    members: list[CompositeMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> CompositeConfig:
        if self.method != "weighted" and any(m.weight is not None for m in self.members):
            raise ValueError("`weight` is only used with method: weighted")
        return self


def _percentage(value: float) -> float:
    """`objective: 0.999` is a ratio written where a percentage goes (OpenSLO and Sloth write 0.999): as 0.999 %
    the SLO would never burn. Nobody means an objective of 1 % or less."""
    if value <= 1:
        meant = f"{value * 100:.10g}"
        fix = f"write {meant} for {meant} %" if value < 1 else "an objective is below 100 %, e.g. 99.9"
        raise ValueError(
            f"is a percentage: {value:g} means {value:g} % ({fix}; an objective of 1 % or less is refused)"
        )
    return value


class SloConfig(Model):
    name: Name
    description: str = ""
    sli: Literal["availability", "latency"] | None = None  # required unless `composite`
    threshold: Timeout | None = None
    objective: Annotated[float, Field(gt=0, lt=100), AfterValidator(_percentage)]
    window: RollingWindow | CalendarWindow = 30 * 86400.0
    budgeting: Literal["occurrences", "timeslices"] = "occurrences"
    timeslice: Timeslice | None = None
    endpoints: list[EndpointRef] | None = None
    composite: CompositeConfig | None = None
    locations: LocationQuorum | None = None  # evaluated by the generated Prometheus rules (config/cluster.py)
    policy: BudgetPolicy | None = None  # the deploy gate's rules (config/policy.py)

    @model_validator(mode="after")
    def _consistent(self) -> SloConfig:
        if self.composite is not None:
            given = [k for k in ("sli", "threshold", "timeslice", "endpoints") if getattr(self, k) is not None]
            if self.budgeting != "occurrences":
                given.append("budgeting")
            if given:
                names = ", ".join(f"`{k}`" for k in given)
                raise ValueError(f"a composite SLO takes its events from its members: remove {names}")
            return self
        if self.sli is None:
            raise ValueError("needs `sli` (availability or latency) or `composite`")
        if self.sli == "latency" and self.threshold is None:
            raise ValueError("a latency SLI needs `threshold` (e.g. threshold: 300ms)")
        if self.sli != "latency" and self.threshold is not None:
            raise ValueError("`threshold` is only allowed with sli: latency")
        if self.budgeting == "occurrences" and self.timeslice is not None:
            raise ValueError("`timeslice` is only allowed with budgeting: timeslices")
        return self

    @property
    def slicing(self) -> Timeslice | None:
        """The timeslice rule when budgeting by timeslices (defaulting to 1m / 0.95), else None."""
        if self.budgeting != "timeslices":
            return None
        return self.timeslice or Timeslice()

    @property
    def ratio(self) -> float:
        """The objective as a ratio: 99.9 -> 0.999 (the double nearest the decimal, not 0.9990000000000001)."""
        return float(Decimal(repr(self.objective)) / 100)


class ConsumerConfig(Model):
    name: Name
    description: str = ""
    endpoints: list[EndpointRef] = Field(default_factory=list)
    slos: list[SloConfig] = Field(default_factory=list)
    access: AccessConfig | None = None  # who may read its page, API subset and badges (with server.auth)


class EndpointIndex:
    """Endpoint names and a `(label key, value) -> endpoint positions` index, built once per config.

    Resolving a reference is then a set lookup (a name) or an intersection of the selector's label
    postings (a selector), instead of a pass over every endpoint.
    """

    def __init__(self, endpoints: Sequence[EndpointBase]) -> None:
        self.endpoints = endpoints
        self.known = {ep.name for ep in endpoints}
        self._by_label: dict[tuple[str, str], list[int]] | None = None
        self._suggester: Suggester | None = None

    def suggest(self, unknown: str) -> str:
        """` (did you mean 'payments-api'?)` for an unknown endpoint name, or ""."""
        if self._suggester is None:
            self._suggester = Suggester(ep.name for ep in self.endpoints)
        return self._suggester(unknown)

    @property
    def by_label(self) -> dict[tuple[str, str], list[int]]:
        """Positions of the endpoints carrying each (key, value) label; built on first use."""
        if self._by_label is None:
            self._by_label = {}
            for i, ep in enumerate(self.endpoints):
                for pair in ep.labels.items():
                    self._by_label.setdefault(pair, []).append(i)
        return self._by_label

    def select(self, selector: LabelSelector) -> list[str]:
        """Names of the endpoints whose labels include all of the selector's, in config order."""
        by_label = self.by_label
        postings = sorted((by_label.get(pair, []) for pair in selector.labels.items()), key=len)
        if not postings[0]:
            return []
        hits = set(postings[0])
        for more in postings[1:]:
            hits.intersection_update(more)
        return [self.endpoints[i].name for i in sorted(hits)]

    def resolve(self, refs: Sequence[EndpointRef]) -> list[str]:
        """Endpoint names for `refs`, in config order, without duplicates; unknown names are skipped."""
        out: dict[str, None] = {}
        for ref in refs:
            if isinstance(ref, str):
                if ref in self.known:
                    out[ref] = None
            else:
                out.update(dict.fromkeys(self.select(ref)))
        return list(out)


def resolve_endpoints(refs: Sequence[EndpointRef], endpoints: Sequence[EndpointBase] | EndpointIndex) -> list[str]:
    """Endpoint names for `refs`, in config order, without duplicates; unknown names are skipped.

    Pass an `EndpointIndex` when resolving many reference lists against the same endpoints.
    """
    index = endpoints if isinstance(endpoints, EndpointIndex) else EndpointIndex(endpoints)
    return index.resolve(refs)


Problem = tuple[tuple[str | int, ...], str]


def check_refs(
    refs: Sequence[EndpointRef], endpoints: Sequence[EndpointBase] | EndpointIndex, path: tuple[str | int, ...]
) -> Iterable[Problem]:
    """Unknown endpoint names and selectors that match nothing, located at `path + (index,)`."""
    index = endpoints if isinstance(endpoints, EndpointIndex) else EndpointIndex(endpoints)
    for i, ref in enumerate(refs):
        if isinstance(ref, str):
            if ref not in index.known:
                yield (*path, i), f"unknown endpoint {ref!r}" + index.suggest(ref)
        elif not index.select(ref):
            yield (*path, i), f"label selector {ref.labels} matches no endpoint"


def check_consumers(config: Config) -> Iterable[Problem]:
    """Semantic checks for `consumers`: references resolve, names are unique, SLOs have endpoints."""
    index = EndpointIndex(config.endpoints)
    seen: set[str] = set()
    for ci, consumer in enumerate(config.consumers):
        base: tuple[str | int, ...] = ("consumers", ci)
        if consumer.name in seen:
            yield (*base, "name"), f"duplicate consumer name {consumer.name!r}"
        seen.add(consumer.name)
        yield from check_refs(consumer.endpoints, index, (*base, "endpoints"))
        own = set(index.resolve(consumer.endpoints))
        if any(s.composite is None for s in consumer.slos) and not consumer.endpoints:
            yield (*base, "endpoints"), "a consumer with SLOs needs at least one endpoint"
        slo_names: set[str] = set()
        for si, slo in enumerate(consumer.slos):
            spath = (*base, "slos", si)
            if slo.name in slo_names:
                yield (*spath, "name"), f"duplicate SLO name {slo.name!r} in consumer {consumer.name!r}"
            slo_names.add(slo.name)
            if slo.endpoints is None:
                continue
            if not slo.endpoints:
                yield (*spath, "endpoints"), "must not be empty (omit it to use the consumer's endpoints)"
            yield from check_refs(slo.endpoints, index, (*spath, "endpoints"))
            for ei, ref in enumerate(slo.endpoints):
                outside = set(index.resolve([ref])) - own
                if outside:
                    names = ", ".join(sorted(outside))
                    msg = f"narrows to endpoint(s) outside consumer {consumer.name!r}: {names}"
                    yield (*spath, "endpoints", ei), msg


__all__ = [
    "CalendarWindow",
    "CompositeConfig",
    "CompositeMember",
    "ConsumerConfig",
    "EndpointIndex",
    "EndpointRef",
    "LabelSelector",
    "SloConfig",
    "TimeZone",
    "Timeslice",
    "check_consumers",
    "check_refs",
    "resolve_endpoints",
]

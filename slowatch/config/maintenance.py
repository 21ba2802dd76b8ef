"""Maintenance windows: periods whose probes are recorded but excluded from every SLI and budget.

A window is either one-off (`start`/`end`, timestamps with an offset) or `recurring` (a local
wall-clock start on some weekdays, in a time zone, for a duration). It applies to the endpoints it
names or selects, and to every endpoint of the consumers it names (for those consumers' SLOs only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from slowatch.config.consumers import EndpointIndex, EndpointRef, Problem, TimeZone, check_refs
from slowatch.config.messages import Suggester
from slowatch.config.types import AS_TEXT, DAY, Model, Name, duration_between

if TYPE_CHECKING:
    from slowatch.config.schema import Config

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _wall_time(value: str) -> str:
    try:
        parsed = dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be a local time HH:MM (got {value!r})") from None
    if parsed.tzinfo is not None:
        raise ValueError("must not carry an offset; set `timezone` instead")
    return value


class RecurringWindow(Model):
    """Every `weekday` (one, a list, or omitted for every day) at local `start` for `duration`.

    Local times that do not exist (a DST gap) resolve as PEP 495 says with fold=0: 02:30 on the
    spring-forward night in Europe/Berlin is 01:30 UTC. The duration is elapsed time, not wall time.
    """

    weekday: Weekday | list[Weekday] | None = None
    start: Annotated[str, AfterValidator(_wall_time)]
    duration: Annotated[float, duration_between(0.0, 7 * DAY, exclusive=True), AS_TEXT]
    timezone: TimeZone = "UTC"

    @property
    def weekdays(self) -> frozenset[int]:
        """Python weekday numbers (Monday = 0)."""
        if self.weekday is None:
            return frozenset(range(7))
        days = [self.weekday] if isinstance(self.weekday, str) else self.weekday
        return frozenset(WEEKDAYS.index(d) for d in days)


class MaintenanceConfig(Model):
    name: Name
    description: str = ""
    consumers: list[Name] = Field(default_factory=list)
    endpoints: list[EndpointRef] = Field(default_factory=list)
    recurring: RecurringWindow | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include an offset (e.g. 2026-12-01T22:00:00Z)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceConfig:
        if not self.consumers and not self.endpoints:
            raise ValueError("name the `consumers` or `endpoints` it applies to")
        one_off = self.start is not None or self.end is not None
        if self.recurring is not None and one_off:
            raise ValueError("use either `recurring` or `start`/`end`, not both")
        if self.recurring is None:
            if self.start is None or self.end is None:
                raise ValueError("needs `start` and `end`, or `recurring`")
            if self.end <= self.start:
                raise ValueError("`end` must be after `start`")
        return self


def check_maintenance(config: Config) -> Iterable[Problem]:
    """Semantic checks for `maintenance`: consumers and endpoints exist, names are unique."""
    consumers = {c.name for c in config.consumers}
    suggest = Suggester(consumers)
    index = EndpointIndex(config.endpoints)
    seen: set[str] = set()
    for i, window in enumerate(config.maintenance):
        base: tuple[str | int, ...] = ("maintenance", i)
        if window.name in seen:
            yield (*base, "name"), f"duplicate maintenance window name {window.name!r}"
        seen.add(window.name)
        for ci, name in enumerate(window.consumers):
            if name not in consumers:
                yield (*base, "consumers", ci), f"unknown consumer {name!r}" + suggest(name)
        yield from check_refs(window.endpoints, index, (*base, "endpoints"))


__all__ = ["WEEKDAYS", "MaintenanceConfig", "RecurringWindow", "Weekday", "check_maintenance"]

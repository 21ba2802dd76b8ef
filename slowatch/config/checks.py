"""Semantic checks: rules that span fields or entries, run once pydantic validation has passed.

A check takes the validated Config and yields `(path, message)` pairs, the path as keys and list
indexes into the YAML (`("endpoints", 2, "timeout")`); the loader adds file, line and column.
Register a new check by appending it to `CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from slowatch.config.access import check_access
from slowatch.config.alerting import check_alerting
from slowatch.config.consumers import check_consumers
from slowatch.config.dependencies import check_dependencies
from slowatch.config.maintenance import check_maintenance
from slowatch.config.schema import Config
from slowatch.durations import format_duration

Problem = tuple[tuple[str | int, ...], str]
Check = Callable[[Config], Iterable[Problem]]


def check_endpoints(config: Config) -> Iterable[Problem]:
    """Unique names; a timeout shorter than the interval, also across retries."""
    first: dict[str, int] = {}
    for i, ep in enumerate(config.endpoints):
        base: tuple[str | int, ...] = ("endpoints", i)
        if ep.name in first:
            yield (*base, "name"), f"duplicate endpoint name {ep.name!r} (first defined at endpoints[{first[ep.name]}])"
        else:
            first[ep.name] = i
        interval, timeout = format_duration(ep.interval), format_duration(ep.timeout)
        if ep.timeout <= 0:
            yield (*base, "timeout"), f"must be greater than 0 (got {timeout})"
        elif ep.timeout >= ep.interval:
            yield (*base, "timeout"), f"must be shorter than the interval ({timeout} >= {interval})"
        elif ep.retries:
            worst = (ep.retries + 1) * ep.timeout + ep.retries * ep.retry_delay
            if worst >= ep.interval:
                yield (
                    (*base, "retries"),
                    (
                        f"{ep.retries} retries of a {timeout} timeout {format_duration(ep.retry_delay)} apart "
                        f"can take {format_duration(worst)}, not shorter than the interval ({interval})"
                    ),
                )


CHECKS: list[Check] = [
    check_endpoints, check_consumers, check_maintenance, check_alerting, check_access, check_dependencies,
]  # fmt: skip
"""Every semantic check, run in order; their problems are merged and sorted by position."""

__all__ = ["CHECKS", "Check", "Problem", "check_alerting", "check_consumers", "check_endpoints", "check_maintenance"]

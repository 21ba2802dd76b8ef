"""Semantic checks: rules that span fields or entries, run once pydantic validation has passed.

A check takes the validated Config and yields `(path, message)` pairs, the path as keys and list
indexes into the YAML (`("endpoints", 2, "timeout")`); the loader adds file, line and column.
Register a new check by appending it to `CHECKS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from slowatch.config.access import check_access
from slowatch.config.alerting import check_alerting
from slowatch.config.cluster import check_cluster
from slowatch.config.composite import check_composites
from slowatch.config.consumers import check_consumers
from slowatch.config.dependencies import check_dependencies
from slowatch.config.maintenance import check_maintenance
from slowatch.config.schema import Config, database_problem
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
        if ep.timeout >= ep.interval:
            interval, timeout = format_duration(ep.interval), format_duration(ep.timeout)
            yield (*base, "timeout"), f"must be shorter than the interval ({timeout} >= {interval})"
        elif ep.retries:
            worst = (ep.retries + 1) * ep.timeout + ep.retries * ep.retry_delay
            if worst >= ep.interval:
                interval, timeout = format_duration(ep.interval), format_duration(ep.timeout)
                yield (
                    (*base, "retries"),
                    (
                        f"{ep.retries} retries of a {timeout} timeout {format_duration(ep.retry_delay)} apart "
                        f"can take {format_duration(worst)}, not shorter than the interval ({interval})"
                    ),
                )


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
RULE_LABELS = frozenset({"consumer", "slo", "severity", "window", "kind", "alertname", "alertstate", "job",
                         "instance", "shard", "replica", "location"})  # fmt: skip
"""Labels the generated Prometheus rules set, aggregate over, or that Prometheus itself attaches."""


def check_prometheus_labels(config: Config) -> Iterable[Problem]:
    """`server.metrics.endpoint_labels` must become valid Prometheus label names that the generated rules
    (`slowatch generate prometheus-rules`) neither set nor sum away."""
    for i, key in enumerate(config.server.metrics.endpoint_labels):
        label = "".join(c if c.isalnum() or c == "_" else "_" for c in key)
        label = label if label and not label[0].isdigit() else f"_{label}"
        path = ("server", "metrics", "endpoint_labels", i)
        if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
            yield path, f"{key!r} cannot be a Prometheus label name (as {label!r}): use ASCII letters, digits and _"
        elif label in RULE_LABELS:
            yield path, f"{key!r} would clash with the {label!r} label of the generated Prometheus rules"


def check_database(config: Config) -> Iterable[Problem]:
    """`server.database` names a file SQLite can open: not an existing directory."""
    if (problem := database_problem(config.server.database)) is not None:
        yield ("server", "database"), problem


CHECKS: list[Check] = [
    check_endpoints, check_consumers, check_composites, check_maintenance, check_alerting, check_access,
    check_prometheus_labels, check_cluster, check_dependencies, check_database,
]  # fmt: skip
"""Every semantic check, run in order; their problems are merged and sorted by position."""

__all__ = [
    "CHECKS",
    "RULE_LABELS",
    "Check",
    "Problem",
    "check_alerting",
    "check_consumers",
    "check_database",
    "check_endpoints",
    "check_maintenance",
    "check_prometheus_labels",
]

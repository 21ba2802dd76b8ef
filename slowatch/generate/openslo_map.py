"""Mapping the parts of one OpenSLO SLO onto slowatch's SLO settings (see openslo_import).

Each function returns slowatch config values or raises `Unmappable` with the path inside the
document that has no slowatch equivalent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from slowatch.config import messages
from slowatch.config.alerting import BurnTier
from slowatch.config.yamldoc import Path
from slowatch.generate import openslo as gen
from slowatch.generate.openslo_read import Source
from slowatch.generate.openslo_schema import (
    SHORTHAND,
    AlertConditionDoc,
    InlineAlertCondition,
    InlineSli,
    RatioMetric,
    SliDoc,
    SloDoc,
)
from slowatch.slo.definitions import DEFAULT_ALERT_WINDOWS

_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_CALENDAR = {v: k for k, v in gen.CALENDAR_DURATION.items()}
_MATCHER = re.compile(r'(\w+)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')


class Unmappable(Exception):
    """What in a document cannot be mapped, located."""

    def __init__(self, source: Source, path: Path, message: str) -> None:
        super().__init__(message)
        self.problem = source.problem(path, message)


def seconds(text: str, what: str) -> float:
    """A duration-shorthand in m, h, d or w as seconds; raises ValueError for M, Q, Y."""
    m = SHORTHAND.fullmatch(text)
    if m is None or m.group(2) not in _SECONDS:
        raise ValueError(f"{what} {text!r}: slowatch needs minutes, hours, days or weeks (e.g. 30d)")
    return float(int(m.group(1)) * _SECONDS[m.group(2)])


def check_ratio(s: Source, path: Path, sli: InlineSli | SliDoc, consumer: str, slo: str) -> None:
    """The SLI is slowatch's good / total probe counters of this consumer's SLO, in Prometheus."""
    ratio = sli.spec.ratioMetric
    if ratio is None:
        raise Unmappable(s, path[:-1], "cannot map: slowatch SLIs are ratios of good to all probes (ratioMetric)")
    if ratio.good is None or ratio.total is None:
        raise Unmappable(s, path, "cannot map: slowatch counts good and total probes (ratioMetric good/total)")
    if ratio.counter is False:
        raise Unmappable(s, (*path, "counter"), "cannot map: slowatch's probe counts are counters (counter: true)")
    for key, metric in (("good", gen.GOOD_METRIC), ("total", gen.TOTAL_METRIC)):
        check_query(s, (*path, key, "metricSource"), ratio, key, metric, consumer, slo)


def check_query(s: Source, path: Path, ratio: RatioMetric, key: str, metric: str, consumer: str, slo: str) -> None:
    source = getattr(ratio, key).metricSource
    if source.type is not None and source.type.lower() != "prometheus":
        raise Unmappable(
            s, (*path, "type"), f"cannot map: slowatch's counters are Prometheus metrics (got {source.type!r})"
        )
    query = source.spec.get("query")
    want = f'{metric}{{consumer="{consumer}",slo="{slo}"}}'
    found = re.search(rf"\b{metric}\s*\{{([^}}]*)\}}", query) if isinstance(query, str) else None
    matchers = {m.group(1): (m.group(2), m.group(3)) for m in _MATCHER.finditer(found.group(1))} if found else {}
    if matchers.get("consumer") != ("=", consumer) or matchers.get("slo") != ("=", slo):
        raise Unmappable(s, (*path, "spec", "query"), f"cannot map: the {key} query must count {want}")


def objective(s: Source, model: SloDoc) -> dict[str, Any]:
    spec = model.spec
    if len(spec.objectives) > 1:
        raise Unmappable(s, ("spec", "objectives", 1), "cannot map: a slowatch SLO has one objective (make two SLOs)")
    o, path = spec.objectives[0], ("spec", "objectives", 0)
    for key in ("op", "value", "indicator", "indicatorRef", "compositeWeight"):
        if getattr(o, key) is not None:
            raise Unmappable(s, (*path, key), "cannot map: slowatch has no threshold or composite objectives")
    percent = o.targetPercent if o.targetPercent is not None else float(Decimal(repr(o.target)) * 100)
    out: dict[str, Any] = {"objective": int(percent) if percent == int(percent) else percent}
    if spec.budgetingMethod == "RatioTimeslices":
        raise Unmappable(s, ("spec", "budgetingMethod"), "cannot map: slowatch budgets Occurrences or Timeslices")
    if spec.budgetingMethod == "Occurrences":
        for key in ("timeSliceTarget", "timeSliceWindow"):
            if getattr(o, key) is not None:
                raise Unmappable(s, (*path, key), "only allowed with budgetingMethod: Timeslices")
        return out
    if o.timeSliceTarget is None or o.timeSliceWindow is None:
        raise Unmappable(s, path, "budgetingMethod Timeslices needs timeSliceTarget and timeSliceWindow")
    w = o.timeSliceWindow
    try:
        length = w * 60 if isinstance(w, float) else seconds(w, "timeSliceWindow")
    except ValueError as exc:
        raise Unmappable(s, (*path, "timeSliceWindow"), str(exc)) from None
    out["budgeting"] = "timeslices"
    out["timeslice"] = {"length": length, "good_when": o.timeSliceTarget}
    return out


def policy(s: Source, where: dict[str, Path]) -> dict[str, Any]:
    """The error-budget policy from the `slowatch/policy` annotation (JSON), checked with the SLO."""
    text = s.annotations().get(gen.A_POLICY)
    if text is None:
        return {}
    path: Path = ("metadata", "annotations", gen.A_POLICY)
    where["policy"] = path
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Unmappable(s, path, 'must be a JSON object, e.g. {"freeze_below": "25%"}')
    return {"policy": value}


def window(s: Source, model: SloDoc) -> Any:
    """Seconds of a rolling window, or a calendar window's settings."""
    w, path = model.spec.timeWindow[0], ("spec", "timeWindow", 0)
    if w.calendar is None:
        if w.isRolling is not True:
            raise Unmappable(s, path, "cannot map: set isRolling: true, or a calendar")
        try:
            return seconds(w.duration, "duration")
        except ValueError as exc:
            raise Unmappable(s, (*path, "duration"), str(exc)) from None
    if w.isRolling:
        raise Unmappable(s, (*path, "isRolling"), "cannot map: a calendar window does not roll")
    unit = _CALENDAR.get(w.duration)
    if unit is None:
        raise Unmappable(s, (*path, "duration"), "cannot map: slowatch calendar windows are 1w, 1M or 1Q")
    try:
        start = dt.datetime.fromisoformat(w.calendar.startTime)
    except ValueError:
        raise Unmappable(
            s, (*path, "calendar", "startTime"), "must be a date and time, e.g. 2024-01-01 00:00:00"
        ) from None
    aligned = (
        start.time() == dt.time(0)
        and start.tzinfo is None
        and (start.weekday() == 0 if unit == "week" else start.day == 1 and (unit == "month" or start.month % 3 == 1))
    )
    if not aligned:
        why = {"week": "a Monday", "month": "a month's first day", "quarter": "a quarter's first day"}[unit]
        message = f"cannot map: slowatch {unit}s start at local midnight on {why}"
        raise Unmappable(s, (*path, "calendar", "startTime"), message)
    return {"calendar": unit, "timezone": w.calendar.timeZone}


def tier(s: Source, base: Path, cond: InlineAlertCondition | AlertConditionDoc) -> BurnTier:
    """One burn-rate tier from an AlertCondition at `base` in `s` (the short window is its
    slowatch/short-window annotation)."""
    spec, path, ann = cond.spec, (*base, "spec"), (*base, "metadata", "annotations")
    c = spec.condition
    if c.op not in ("gt", "gte"):
        raise Unmappable(
            s, (*path, "condition", "op"), "cannot map: slowatch alerts when the burn rate is above the threshold (gt)"
        )
    if c.alertAfter not in (None, "0m"):
        message = (
            "cannot map: slowatch alerts as soon as both windows burn (the second window is slowatch/short-window)"
        )
        raise Unmappable(s, (*path, "condition", "alertAfter"), message)
    notes = cond.metadata.annotations or {}
    short = notes.get(gen.A_SHORT_WINDOW)
    if short is None:
        raise Unmappable(
            s, ann, "cannot map: needs annotation slowatch/short-window (the tier's short window, e.g. 5m)"
        )
    try:
        long_s = seconds(c.lookbackWindow, "lookbackWindow")
    except ValueError as exc:
        raise Unmappable(s, (*path, "condition", "lookbackWindow"), str(exc)) from None
    try:
        short_s = seconds(short, "slowatch/short-window")
    except ValueError as exc:
        raise Unmappable(s, (*ann, gen.A_SHORT_WINDOW), str(exc)) from None
    for value, where in ((long_s, (*path, "condition", "lookbackWindow")), (short_s, (*ann, gen.A_SHORT_WINDOW))):
        if value not in DEFAULT_ALERT_WINDOWS:
            windows = ", ".join(gen.shorthand(w) for w in DEFAULT_ALERT_WINDOWS)
            raise Unmappable(s, where, f"cannot map: slowatch computes burn rates over {windows} only")
    data: dict[str, Any] = {"severity": spec.severity, "long": long_s, "short": short_s}
    percent = notes.get(gen.A_BUDGET_PERCENT)
    if percent is not None:
        try:
            data["budget_percent"] = float(percent)
        except ValueError:
            raise Unmappable(s, (*ann, gen.A_BUDGET_PERCENT), "must be a number (percent of the budget)") from None
    else:
        data["factor"] = c.threshold
    try:
        return BurnTier.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = {"severity": (*path, "severity"), "factor": (*path, "condition", "threshold")}
        where = field.get(str(error["loc"][0]) if error["loc"] else "", path)
        raise Unmappable(s, where, f"cannot map: {messages.describe(error, None)}") from None


__all__ = ["Unmappable", "check_query", "check_ratio", "objective", "policy", "seconds", "tier", "window"]

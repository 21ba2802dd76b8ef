"""Shared builders for the SLO tests: configs from plain dicts, results, and a brute-force reference."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.definitions import SloDef
from slowatch.slo.maintenance import Rule, any_active

T0 = 1_790_000_000.0  # 2026-09-21T12:53:20Z


def config(consumers: list[dict[str, Any]], endpoints: Sequence[str] = ("a", "b", "c"), **extra: Any) -> Config:
    eps = [{"name": n, "kind": "http", "url": f"http://{n}/", "labels": {"tier": "gold"}} for n in endpoints]
    return Config.model_validate({"endpoints": eps, "consumers": consumers, **extra})


def slo_config(**slo: Any) -> Config:
    """One consumer `shop` over endpoints a and b with one SLO named `s` (availability 99.9 30d by default)."""
    body = {"name": "s", "sli": "availability", "objective": 99.9, **slo}
    return config([{"name": "shop", "endpoints": ["a", "b"], "slos": [body]}])


def result(ts: float, ok: bool = True, endpoint: str = "a", duration: float = 0.1, final: bool = True) -> ProbeResult:
    outcome = Outcome.SUCCESS if ok else Outcome.TIMEOUT
    return ProbeResult(endpoint, "http", outcome, ts, duration, final=final)


@dataclass(frozen=True)
class Counts:
    good: int
    total: int


def brute_units(
    slo: SloDef,
    results: Iterable[ProbeResult],
    rules: Sequence[Rule],
    since: float,
    now: float,
) -> Counts:
    """Good/total units among final, non-maintenance results of slo's endpoints with since <= ts <= now.

    With timeslices a unit is a slice (of slo.slice_length) whose start is >= since, good when
    good/total >= good_when over every counted result in it.
    """
    counted = [
        r
        for r in results
        if r.final and r.endpoint in slo.endpoints and not any_active(rules, r.started_at) and r.started_at <= now
    ]
    if slo.slice_length is None:
        inside = [r for r in counted if r.started_at >= since]
        return Counts(sum(slo.good(r) for r in inside), len(inside))
    slices: dict[int, list[int]] = {}
    for r in counted:
        start = math.floor(r.started_at / slo.slice_length) * slo.slice_length
        if start >= since:
            cell = slices.setdefault(start, [0, 0])
            cell[0] += slo.good(r)
            cell[1] += 1
    assert slo.good_when is not None
    good = sum(1 for g, t in slices.values() if g / t >= slo.good_when)
    return Counts(good, len(slices))


def window_since(now: float, seconds: float, cell: float) -> float:
    """The engine's window start: the current cell's start minus the window rounded up to cells."""
    return math.floor(now / cell) * cell - math.ceil(seconds / cell) * cell

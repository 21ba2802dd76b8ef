"""Rebuild a ledger's history from the store's raw results and hourly rollups (on a store thread).

Used when a fingerprint has no persisted cells: a new or changed SLO definition (endpoints,
threshold, SLI, budgeting). What can be rebuilt:

- raw `results` (kept `retention.raw`, 48 h by default): replayed exactly, maintenance included;
- older hours from `rollups`, for occurrence SLOs only, and for latency SLIs only when the threshold
  is one of the rollup latency bucket bounds (5ms ... 10s). An hour whose start or last second is
  in maintenance for the endpoint counts as excluded as a whole.

Timeslice SLOs cannot be rebuilt from hourly rollups: their history starts at the oldest raw result.
Results after `until` (the ledger's `floor`) are left to live observation; ones at or before it that reach
the store only after the rebuild read (in flight during a reload) are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlite_utils import Database

from slowatch.models import Outcome
from slowatch.slo.definitions import SloDef
from slowatch.slo.ledger import CoarseRow, FineRow, Ledger
from slowatch.slo.maintenance import Rule, any_active
from slowatch.slo.persist import hourly_rollups, oldest_raw, raw_results, recent_rows
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS

HOUR = 3600


def rollup_column(threshold: float | None) -> str | None:
    """The rollup column counting good results under `threshold`: 'good' without one, None if none fits."""
    if threshold is None:
        return "good"
    for bound, column in zip(LATENCY_BUCKETS, BUCKET_COLUMNS, strict=True):
        if abs(bound - threshold) < 1e-9:
            return column
    return None


def rebuild(
    db: Database,
    slo: SloDef,
    template: Ledger,
    rules: Mapping[str, Sequence[Rule]],
    until: float,
) -> tuple[list[FineRow], list[CoarseRow]]:
    """Cells for `slo`'s fingerprint from the store, for events before `until`."""
    endpoints = list(slo.endpoints)
    if not endpoints:
        return [], []
    ledger = Ledger(
        template.fine,
        template.coarse,
        template.good_when,
        [n * template.fine for n in template.alert_cells],
        template.windows,
        until,
    )
    start = (ledger.cur_c - ledger.nc + 1) * ledger.coarse
    recent = recent_rows(db, endpoints)  # one scan of `results` (no index on endpoint: store/pack_marker.py)
    raw_from = oldest_raw(db, endpoints, recent)
    raw_from = until if raw_from is None else max(raw_from, start)
    raw_from_hour = -(-int(raw_from) // HOUR) * HOUR  # first whole hour the raw rows cover
    extra: list[CoarseRow] = []
    column = rollup_column(slo.threshold)
    if slo.budgeting == "occurrences" and column is not None:
        columns = [] if column == "good" else [column]
        for hour, endpoint, total, good, buckets in hourly_rollups(db, endpoints, start, raw_from_hour, columns):
            good = buckets[0] if buckets else good
            ep_rules = rules.get(endpoint, ())
            if ep_rules and (any_active(ep_rules, hour) or any_active(ep_rules, hour + HOUR - 1)):
                extra.append((hour, 0, 0, total, 0, 0))
            else:
                extra.append((hour, good, total, 0, 0, 0))
        raw_since = raw_from_hour
    else:
        raw_since = start
    for ts, endpoint, outcome, duration in raw_results(db, endpoints, raw_since, until, recent):
        ep_rules = rules.get(endpoint, ())
        ok = outcome == Outcome.SUCCESS.value and (slo.threshold is None or duration <= slo.threshold)
        ledger.observe(ts, ok, bool(ep_rules) and any_active(ep_rules, ts))
    fine, coarse = ledger.rows()
    return fine, coarse + extra


__all__ = ["rebuild", "rollup_column"]

"""Rebuild a ledger's history from the store's raw results and hourly rollups (on a store thread).

Used when a fingerprint has no persisted cells: a new or changed SLO definition (endpoints,
threshold, SLI, budgeting). What can be rebuilt:

- raw `results` (kept `retention.raw`, 48 h by default): replayed exactly, maintenance included;
- older hours from `rollups`, for occurrence SLOs only, and for latency SLIs only when the threshold
  is one of the rollup latency bucket bounds (5ms ... 10s). An hour whose start or last second is
  in maintenance for the endpoint counts as excluded as a whole. The hour the raw results start in is
  replayed from them, not its rollup, when they hold at least what the rollup counted (`_raw_whole`: a
  database younger than an hour; the rollup also lags by up to `rollup_interval`).

Timeslice SLOs cannot be rebuilt from hourly rollups: their history starts at the oldest raw result.
Results after `until` (the ledger's `floor`) are left to live observation; ones at or before it that reach
the store only after the rebuild read (in flight during a reload) are not counted.

Several SLOs are rebuilt in one read (`rebuild_group`, in the groups `groups` forms): the unpacked rows of
`results` are found by the ids the writer listed for them (store/recent_ids.py), or, beyond 50,000 of them,
by a scan of the table (no index on endpoint since v11: ~0.3-0.6 s at 100,000 endpoints every 60 s,
store/raw.py), so a group reads `results` ONCE for the union of its SLOs' endpoints and each
SLO is rebuilt from its own endpoints' share of that scan (the same cells as alone: the rows are ordered
by (ts, id) and `oldest_raw` takes their minimum). A group's union holds at most `GROUP_ENDPOINTS`
endpoints (~30 unpacked rows each at 60 s: the memory held); a bigger SLO is a group of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlite_utils import Database

from slowatch.models import Outcome
from slowatch.slo.definitions import SloDef
from slowatch.slo.ledger import CoarseRow, FineRow, Ledger
from slowatch.slo.maintenance import Rule, any_active
from slowatch.slo.persist import HourRow, hourly_rollups, oldest_raw, raw_results, recent_rows
from slowatch.store.raw import RawRow
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS

HOUR = 3600
GROUP_ENDPOINTS = 5000  # the most endpoints one rebuild read scans `results` for
GROUP_SLOS = 16
"""The most SLOs rebuilt in one read: each also decodes its endpoints' packed blocks (~6 ms per SLO and hour of
packed history: ~0.3 s at the default 48 h), so a bigger group would hold the store's reader thread (and every
API read waiting behind it) for minutes; 16 keep a read to a few seconds (600 SLOs: ~38 scans of `results`)."""
Cells = tuple[list[FineRow], list[CoarseRow]]
Job = tuple[SloDef, Ledger, Mapping[str, Sequence[Rule]]]  # an SLO, its ledger (template), its rules


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
    recent: Sequence[RawRow] | None = None,
) -> Cells:
    """Cells for `slo`'s fingerprint from the store, for events before `until`. `recent`: the unpacked rows
    of `slo`'s endpoints (`recent_rows`, read in the same transaction), else `results` is scanned here."""
    endpoints = list(dict.fromkeys(slo.endpoints))
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
    if recent is None:
        recent = recent_rows(db, endpoints)  # one scan of `results` (no index on endpoint: store/pack_marker.py)
    raw_from = oldest_raw(db, endpoints, recent)
    raw_from = until if raw_from is None else max(raw_from, start)
    raw_from_hour = -(-int(raw_from) // HOUR) * HOUR  # first whole hour the raw rows cover
    first_hour = int(raw_from) // HOUR * HOUR  # the hour they start in (== raw_from_hour: they start on the hour)
    extra: list[CoarseRow] = []
    column = rollup_column(slo.threshold)
    from_rollups = slo.budgeting == "occurrences" and column is not None
    rows = raw_results(db, endpoints, first_hour if from_rollups else start, until, recent)
    whole: set[str] | None = None  # endpoints whose raw rows of `first_hour` are replayed instead of its rollup
    if from_rollups:
        columns = [] if column in ("good", None) else [column]
        rollups = hourly_rollups(db, endpoints, start, raw_from_hour, columns)
        whole = _raw_whole(rollups, [row for row in rows if row[0] < raw_from_hour], first_hour)
        for hour, endpoint, total, good, buckets in rollups:
            if hour == first_hour and endpoint in whole:
                continue
            good = buckets[0] if buckets else good
            ep_rules = rules.get(endpoint, ())
            if ep_rules and (any_active(ep_rules, hour) or any_active(ep_rules, hour + HOUR - 1)):
                extra.append((hour, 0, 0, total, 0, 0))
            else:
                extra.append((hour, good, total, 0, 0, 0))
    for ts, endpoint, outcome, duration in rows:
        if whole is not None and ts < raw_from_hour and endpoint not in whole:
            continue  # its rollup of that hour counted it
        ep_rules = rules.get(endpoint, ())
        ok = outcome == Outcome.SUCCESS.value and (slo.threshold is None or duration <= slo.threshold)
        ledger.observe(ts, ok, bool(ep_rules) and any_active(ep_rules, ts))
    fine, coarse = ledger.rows()
    return fine, coarse + extra


def _raw_whole(rollups: Sequence[HourRow], raw: Sequence[tuple[float, str, str, float]], hour: int) -> set[str]:
    """The endpoints whose raw rows of `hour` (the hour the raw results start in, part of it) hold at least what
    its rollup counted: the database began within that hour (a young one), so replaying them is exact (maintenance
    and corrections to the second) and also counts the rows not folded into the rollup yet (it lags by up to
    `rollup_interval`). Fewer raw rows than the rollup's: retention removed the hour's first results; the rollup."""
    counted = {endpoint: total for h, endpoint, total, _, _ in rollups if h == hour}
    have: dict[str, int] = {}
    for _, endpoint, _, _ in raw:
        have[endpoint] = have.get(endpoint, 0) + 1
    return {endpoint for endpoint, n in have.items() if n >= counted.get(endpoint, 0)}


def rebuild_group(db: Database, jobs: Sequence[Job], until: float) -> list[Cells]:
    """`rebuild` for each of `jobs` (in order), with ONE scan of `results` for all their endpoints."""
    union = list(dict.fromkeys(e for slo, _, _ in jobs for e in slo.endpoints))
    by_endpoint: dict[str, list[RawRow]] = {e: [] for e in union}
    for row in recent_rows(db, union) if union else ():
        by_endpoint[row[2]].append(row)
    cells = []
    for slo, template, rules in jobs:
        recent = [row for e in dict.fromkeys(slo.endpoints) for row in by_endpoint[e]]
        cells.append(rebuild(db, slo, template, rules, until, recent))
    return cells


def groups(slos: Iterable[SloDef], limit: int = GROUP_ENDPOINTS, most: int = GROUP_SLOS) -> list[list[SloDef]]:
    """`slos` in groups of at most `most` whose union of endpoints stays within `limit` (an SLO with more is
    alone in its group). SLOs are taken in the order of their endpoints, so ones sharing endpoints share a group."""
    out: list[list[SloDef]] = []
    union: set[str] = set()
    for slo in sorted(slos, key=lambda d: (sorted(d.endpoints), d.fingerprint)):
        grown = union.union(slo.endpoints)
        if out and len(grown) <= limit and len(out[-1]) < most:
            out[-1].append(slo)
            union = grown
        else:
            out.append([slo])
            union = set(slo.endpoints)
    return out


__all__ = ["GROUP_ENDPOINTS", "GROUP_SLOS", "Cells", "Job", "groups", "rebuild", "rebuild_group", "rollup_column"]

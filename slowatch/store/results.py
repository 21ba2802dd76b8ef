"""Write one run of ProbeResults inside the writer's open transaction.

Raw rows are inserted with one `executemany`; hourly rollups, per-outcome counts and the `latest`
row per endpoint are aggregated in Python first and upserted once per key; up/down transitions of
*final* results become incidents. Runs on the writer thread only.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from collections.abc import MutableMapping, Sequence

from sqlite_utils import Database

from slowatch.models import Outcome, ProbeResult
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS, RESULT_COLUMNS

logger = logging.getLogger(__name__)

UNKNOWN, UP, DOWN = "unknown", "up", "down"
HOUR = 3600

_N_BUCKETS = len(LATENCY_BUCKETS)
_PLACEHOLDERS = ", ".join("?" for _ in RESULT_COLUMNS)
_INSERT_RESULTS = f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({_PLACEHOLDERS})"
_UPSERT_LATEST = (
    f"INSERT INTO latest ({', '.join(RESULT_COLUMNS)}) VALUES ({_PLACEHOLDERS}) "
    "ON CONFLICT (endpoint) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RESULT_COLUMNS if c != "endpoint")
    + " WHERE excluded.ts >= latest.ts"
)
_ROLLUP_COUNTERS = ("total", "good", "latency_sum", *BUCKET_COLUMNS)
_UPSERT_ROLLUPS = (
    f"INSERT INTO rollups (endpoint, hour, {', '.join(_ROLLUP_COUNTERS)}) "
    f"VALUES (?, ?, {', '.join('?' for _ in _ROLLUP_COUNTERS)}) "
    "ON CONFLICT (endpoint, hour) DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in _ROLLUP_COUNTERS)
)
_UPSERT_OUTCOMES = (
    "INSERT INTO rollup_outcomes (endpoint, hour, outcome, count) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (endpoint, hour, outcome) DO UPDATE SET count = count + excluded.count"
)
_INSERT_INCIDENT = (
    "INSERT INTO incidents (endpoint, ts, from_state, to_state, outcome, message) VALUES (?, ?, ?, ?, ?, ?)"
)

Row = tuple[object, ...]


def result_row(r: ProbeResult) -> Row:
    """The `results`/`latest` column values of one result, in RESULT_COLUMNS order.

    Values are coerced to their column types, so a malformed result fails here (TypeError or
    ValueError), alone, instead of failing the whole batch's transaction.
    """
    phases = json.dumps({str(k): float(v) for k, v in r.phases.items()}, separators=(",", ":")) if r.phases else None
    return (
        float(r.started_at), str(r.endpoint), str(r.kind), Outcome(r.outcome).value, float(r.duration),
        None if r.status_code is None else int(r.status_code), str(r.message), int(r.attempt),
        1 if r.final else 0, phases, None if r.cert_expiry is None else float(r.cert_expiry),
        None if r.final_url is None else str(r.final_url),
    )  # fmt: skip


def hour_of(ts: float) -> int:
    return int(ts // HOUR) * HOUR


def write_results(db: Database, results: Sequence[ProbeResult], states: MutableMapping[str, str]) -> int:
    """Insert `results` and update rollups, latest and incidents; return how many were rejected.

    A malformed result (a bug upstream) is logged and skipped rather than blocking every write.

    `states` maps endpoint -> "up"/"down" and is updated in place; the writer passes an overlay it
    only merges into its committed view once the transaction commits.
    """
    rows: list[Row] = []
    latest: dict[str, tuple[float, Row]] = {}
    counts: dict[tuple[str, int], list[int]] = {}  # [total, good, *cumulative buckets]
    latency: dict[tuple[str, int], float] = {}
    outcomes: dict[tuple[str, int, str], int] = {}
    incidents: list[Row] = []
    rejected = 0
    for r in results:
        try:
            row = result_row(r)
        except (TypeError, ValueError, AttributeError) as e:
            logger.error("store: malformed result dropped: error=%r result=%r", e, r)
            rejected += 1
            continue
        rows.append(row)
        if not r.final:
            continue
        ep, ts, duration = r.endpoint, float(r.started_at), float(r.duration)
        prev = latest.get(ep)
        if prev is None or ts >= prev[0]:
            latest[ep] = (ts, row)
        key = (ep, hour_of(ts))
        c = counts.get(key)
        if c is None:
            c = counts[key] = [0] * (2 + _N_BUCKETS)
            latency[key] = 0.0
        c[0] += 1
        ok = r.outcome is Outcome.SUCCESS
        if ok:
            c[1] += 1
            latency[key] += duration
            for i in range(2 + bisect_left(LATENCY_BUCKETS, duration), 2 + _N_BUCKETS):
                c[i] += 1
        okey = (ep, key[1], r.outcome.value)
        outcomes[okey] = outcomes.get(okey, 0) + 1
        new = UP if ok else DOWN
        old = states.get(ep, UNKNOWN)
        if new != old:
            incidents.append((ep, ts, old, new, row[3], row[6]))
            states[ep] = new
    conn = db.conn
    conn.executemany(_INSERT_RESULTS, rows)
    if counts:
        conn.executemany(_UPSERT_ROLLUPS, [(k[0], k[1], c[0], c[1], latency[k], *c[2:]) for k, c in counts.items()])
        conn.executemany(_UPSERT_OUTCOMES, [(*k, n) for k, n in outcomes.items()])
        conn.executemany(_UPSERT_LATEST, [row for _, row in latest.values()])
    if incidents:
        conn.executemany(_INSERT_INCIDENT, incidents)
    return rejected


def load_states(db: Database) -> dict[str, str]:
    """Each endpoint's up/down state from its latest final result (what the incident log ends with)."""
    cur = db.conn.execute("SELECT endpoint, outcome FROM latest")
    return {ep: UP if outcome == Outcome.SUCCESS.value else DOWN for ep, outcome in cur}


__all__ = ["DOWN", "UNKNOWN", "UP", "hour_of", "load_states", "result_row", "write_results"]

"""Write one run of ProbeResults inside the writer's open transaction.

Raw rows are inserted with one `executemany`; up/down transitions of *final* results become
incidents. Hourly rollups, per-outcome counts and the `latest` row per endpoint are derived from the
raw rows by `fold.fold`, periodically (see fold.py). Runs on the writer thread only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, MutableMapping, Sequence

from sqlite_utils import Database

from slowatch.models import Outcome, ProbeResult
from slowatch.store.fold import unfolded_newest
from slowatch.store.schema import RESULT_COLUMNS

logger = logging.getLogger(__name__)

UNKNOWN, UP, DOWN = "unknown", "up", "down"
HOUR = 3600
DAY = 86400

_SUCCESS = Outcome.SUCCESS.value
_PLACEHOLDERS = ", ".join("?" for _ in RESULT_COLUMNS)
_INSERT_RESULTS = f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({_PLACEHOLDERS})"
_INSERT_INCIDENT = (
    "INSERT INTO incidents (endpoint, ts, from_state, to_state, outcome, message) VALUES (?, ?, ?, ?, ?, ?)"
)

Row = tuple[object, ...]
_PHASE_KEYS: dict[str, str] = {}


def phases_json(phases: Mapping[str, float]) -> str:
    """`json.dumps({str(k): float(v)}, separators=(",", ":"))`, character for character, at half the cost
    (it was a third of the writer's CPU per result): keys encoded once, finite floats by repr like json."""
    parts: list[str] = []
    for k, v in phases.items():
        key = _PHASE_KEYS.get(k) if type(k) is str else None
        if key is None:
            if type(k) is not str:  # str(k) may collide with another key: let json decide
                return json.dumps({str(k): float(v) for k, v in phases.items()}, separators=(",", ":"))
            key = json.dumps(k) + ":"
            if len(_PHASE_KEYS) < 64:
                _PHASE_KEYS[k] = key
        f = float(v)
        parts.append(key + (repr(f) if f - f == 0.0 else json.dumps(f)))  # NaN/Infinity as json writes them
    return "{" + ",".join(parts) + "}"


def result_row(r: ProbeResult) -> Row:
    """The `results`/`latest` column values of one result, in RESULT_COLUMNS order.

    Values are coerced to their column types, so a malformed result fails here (TypeError or
    ValueError), alone, instead of failing the whole batch's transaction.
    """
    phases = phases_json(r.phases) if r.phases else None
    return (
        float(r.started_at), str(r.endpoint), str(r.kind), Outcome(r.outcome).value, float(r.duration),
        None if r.status_code is None else int(r.status_code), str(r.message), int(r.attempt),
        1 if r.final else 0, phases, None if r.cert_expiry is None else float(r.cert_expiry),
        None if r.final_url is None else str(r.final_url),
    )  # fmt: skip


def hour_of(ts: float) -> int:
    return int(ts // HOUR) * HOUR


def day_of(ts: float) -> int:
    """The start of ts's UTC day (unix days have no leap seconds: always a multiple of 86400)."""
    return int(ts // DAY) * DAY


def write_results(db: Database, results: Sequence[ProbeResult], states: MutableMapping[str, str]) -> int:
    """Insert `results` (raw rows) and log up/down transitions as incidents; return how many were rejected.

    Rollups, per-outcome counts and `latest` are not touched here: `fold.fold` derives them from the
    raw rows later (see fold.py). A malformed result (a bug upstream) is logged and skipped rather
    than blocking every write.

    `states` maps endpoint -> "up"/"down" and is updated in place; the writer passes an overlay it
    only merges into its committed view once the transaction commits.
    """
    rows: list[Row] = []
    incidents: list[Row] = []
    rejected = 0
    success = _SUCCESS
    for r in results:
        try:
            row = result_row(r)
        except (TypeError, ValueError, AttributeError) as e:
            logger.error("store: malformed result dropped: error=%r result=%r", e, r)
            rejected += 1
            continue
        rows.append(row)
        if row[8]:  # final: only final attempts move the up/down state
            ep = r.endpoint
            new = UP if row[3] == success else DOWN
            old = states.get(ep, UNKNOWN)
            if new != old:
                incidents.append((ep, row[0], old, new, row[3], row[6]))
                states[ep] = new
    conn = db.conn
    conn.executemany(_INSERT_RESULTS, rows)
    if incidents:
        conn.executemany(_INSERT_INCIDENT, incidents)
    return rejected


def load_states(db: Database) -> dict[str, str]:
    """Each endpoint's up/down state from its latest final result (what the incident log ends with).

    `latest` plus the raw rows not folded into it yet (there are some only if the start-up fold failed).
    """
    newest = {ep: (ts, outcome) for ep, ts, outcome in db.conn.execute("SELECT endpoint, ts, outcome FROM latest")}
    for ep, ts, outcome in unfolded_newest(db):
        if ep not in newest or ts >= newest[ep][0]:
            newest[ep] = (ts, outcome)
    return {ep: UP if outcome == _SUCCESS else DOWN for ep, (_, outcome) in newest.items()}


__all__ = [
    "DAY", "DOWN", "HOUR", "UNKNOWN", "UP", "day_of", "hour_of", "load_states", "phases_json", "result_row",
    "write_results",
]  # fmt: skip

"""Read queries: plain functions of a `Database`, run through `await store.read(fn)`.

Every function returns fully materialised values (frozen dataclasses, lists and dicts of them),
never a lazy cursor, so nothing touches SQLite after the reader thread hands the result back:

    await store.read(lambda db: history(db, "api", since=t0, limit=50))

Times are unix seconds. Only `final` attempts count in latest/rollups/counts; `history` shows
every attempt unless `final_only=True`.

Freshness: `history`, `counts_since` and `incidents` read what the writer committed (raw rows and
incidents are written per batch). Raw results are read through `raw.raw_results`, from packed blocks
and recent rows alike; a packed row has no `id` (None) and keeps less (see blocks.py).
`latest_results`, `rollups` and `rollup_counts_since` read tables folded from the raw rows every
`rollup_interval` (300 s) by the writer (store/fold.py): they are exact up to the last fold. Callers
that need them to include everything recorded so far await `store.flush()` first (it folds); at
start the store folds before it is ready, so a read right after
`await store.start()` is exact too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from slowatch.models import Outcome, ProbeResult
from slowatch.store.incident_log import COLUMNS as INCIDENT_COLUMNS
from slowatch.store.incident_log import both
from slowatch.store.phase_codec import decode as decode_phases
from slowatch.store.raw import raw_results
from slowatch.store.results import DAY, HOUR, day_of, hour_of
from slowatch.store.schema import BUCKET_COLUMNS, LATENCY_BUCKETS, RESULT_COLUMNS

_RESULT_SELECT = ", ".join(RESULT_COLUMNS)
EACH_ENDPOINT = (
    "eps(e) AS (SELECT min(endpoint) FROM {table} UNION ALL "
    "SELECT (SELECT min(endpoint) FROM {table} WHERE endpoint > e) FROM eps WHERE e IS NOT NULL)"
)
"""A recursive CTE `eps(e)`: each endpoint of `{table}` once, found through an index led by endpoint."""


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One raw result: a row of `results` (with its id), of a packed block or of `latest` (id None)."""

    id: int | None
    ts: float
    endpoint: str
    kind: str
    outcome: Outcome
    duration: float
    status_code: int | None
    message: str
    attempt: int
    final: bool
    phases: Mapping[str, float] = field(default_factory=dict)
    cert_expiry: float | None = None
    final_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    def to_probe_result(self) -> ProbeResult:
        return ProbeResult(
            endpoint=self.endpoint, kind=self.kind, outcome=self.outcome, started_at=self.ts,
            duration=self.duration, message=self.message, status_code=self.status_code,
            phases=dict(self.phases), cert_expiry=self.cert_expiry, final_url=self.final_url,
            attempt=self.attempt, final=self.final,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rollup:
    """Final attempts of one endpoint from `hour` for `seconds`: an hour (3600), or for rollups older
    than `retention.hourly` a whole UTC day (86400; `hour` is then the day's start, daily.py).
    `buckets[i]` counts good attempts with duration <= LATENCY_BUCKETS[i] (cumulative); `outcomes`
    maps outcome value -> count."""

    endpoint: str
    hour: int
    total: int
    good: int
    latency_sum: float
    buckets: tuple[int, ...]
    outcomes: Mapping[str, int]
    seconds: int = HOUR

    @property
    def mean_latency(self) -> float | None:
        return self.latency_sum / self.good if self.good else None


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    endpoint: str
    ts: float
    from_state: str  # "unknown" (first result ever seen), "up" or "down"
    to_state: str  # "up" or "down"
    outcome: str
    message: str


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    good: int


def _stored(row: Sequence[Any], id_: int | None) -> StoredResult:
    ts, ep, kind, outcome, duration, status, message, attempt, final, phases, cert, url = row
    return StoredResult(
        id=id_, ts=ts, endpoint=ep, kind=kind, outcome=Outcome(outcome), duration=duration,
        status_code=status, message=message, attempt=attempt, final=bool(final),
        phases=decode_phases(phases), cert_expiry=cert, final_url=url,
    )  # fmt: skip


def latest_results(db: Database, endpoints: Sequence[str] | None = None) -> dict[str, StoredResult]:
    """The newest final result of each endpoint (or of the given ones), by endpoint name (as of the last
    fold: see the module docstring)."""
    sql = f"SELECT {_RESULT_SELECT} FROM latest"
    params: list[Any] = []
    if endpoints is not None:
        sql += f" WHERE endpoint IN ({', '.join('?' for _ in endpoints)})"
        params = list(endpoints)
    return {row[1]: _stored(row, None) for row in db.conn.execute(sql, params)}


def history(
    db: Database, endpoint: str, *, since: float | None = None, until: float | None = None,
    limit: int = 1000, final_only: bool = False,
) -> list[StoredResult]:  # fmt: skip
    """Raw results of one endpoint with since <= ts < until, newest first, at most `limit`."""
    rows = raw_results(db, [endpoint], since, until, final_only=final_only, newest_first=True, limit=limit)
    return [_stored(row[1:], row[0]) for row in rows]


def rollups(db: Database, endpoint: str, *, since: float, until: float | None = None) -> list[Rollup]:
    """Rollups of one endpoint overlapping [since, until), oldest first (as of the last fold): hourly
    rows, and daily rows (`seconds` 86400) where the hours were merged (older than `retention.hourly`).

    `outcomes` has `success` (the `good` count: the outcome tables keep the other outcomes only)."""
    hi = 1e18 if until is None else until
    found: list[Rollup] = []
    tables = (("rollups_daily", "day", DAY, day_of(since)), ("rollups", "hour", HOUR, hour_of(since)))
    for table, key, seconds, lo in tables:
        where = f"WHERE endpoint = ? AND {key} >= ? AND {key} < ?"
        outcomes: dict[int, dict[str, int]] = {}
        for start, outcome, count in db.conn.execute(
            f"SELECT {key}, outcome, count FROM {_OUTCOMES[table]} {where}", (endpoint, lo, hi)
        ):
            outcomes.setdefault(start, {})[outcome] = count
        sql = f"SELECT {key}, total, good, latency_us, {', '.join(BUCKET_COLUMNS)} FROM {table} {where}"
        n = len(LATENCY_BUCKETS)
        for r in db.conn.execute(sql, (endpoint, lo, hi)):
            others = _outcomes(r[2], outcomes.get(r[0], {}))
            found.append(Rollup(endpoint, r[0], r[1], r[2], r[3] / 1e6, tuple(r[4 : 4 + n]), others, seconds))
    found.sort(key=lambda r: (r.hour, -r.seconds))  # a day before its hours folded late (daily.py)
    return found


_OUTCOMES = {"rollups": "rollup_outcomes", "rollups_daily": "rollup_outcomes_daily"}


def _outcomes(good: int, others: dict[str, int]) -> dict[str, int]:
    return {Outcome.SUCCESS.value: good, **others} if good else others


def incidents(
    db: Database, endpoint: str | None = None, *, since: float | None = None, limit: int = 100
) -> list[Incident]:
    """State changes, newest first; all endpoints unless `endpoint` is given."""
    sql = f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ts >= :since"
    if endpoint is not None:
        sql += " AND endpoint = :endpoint"
    # both tables (incident_log.py), merged: each side in (ts, id) order (an index on `incidents`), up to LIMIT
    sql = both(db.conn, sql) + " ORDER BY ts DESC, id DESC LIMIT :limit"
    params = {"since": -1e18 if since is None else since, "endpoint": endpoint, "limit": limit}
    return [Incident(*row) for row in db.conn.execute(sql, params)]


def counts_since(db: Database, since: float, *, endpoint: str | None = None) -> dict[str, Counts]:
    """Exact total/good final attempts per endpoint with ts >= since, from raw results (so only as
    far back as `retention.raw`; use `rollup_counts_since` for longer windows). Without `endpoint`
    this decodes every block since `since` (there is no index on time alone)."""
    counts: dict[str, list[int]] = {}
    success = Outcome.SUCCESS.value
    for row in raw_results(db, None if endpoint is None else [endpoint], since, final_only=True):
        c = counts.setdefault(row[2], [0, 0])
        c[0] += 1
        c[1] += row[4] == success
    return {ep: Counts(total, good) for ep, (total, good) in counts.items()}


def rollup_counts_since(db: Database, since: float) -> dict[str, Counts]:
    """Total/good final attempts per endpoint from rollups, from the start of since's hour, or of its
    day where the hours were merged into daily rows (as of the last fold)."""
    counts: dict[str, Counts] = {}
    for table, key, start in (("rollups", "hour", hour_of(since)), ("rollups_daily", "day", day_of(since))):
        rows = db.conn.execute(  # endpoint by endpoint through the primary key (a skip scan)
            f"WITH RECURSIVE {EACH_ENDPOINT.format(table=table)} SELECT e, (SELECT sum(total) FROM {table} "
            f"WHERE endpoint = e AND {key} >= :h), (SELECT sum(good) FROM {table} WHERE endpoint = e AND {key} >= :h) "
            "FROM eps WHERE e IS NOT NULL",
            {"h": start},
        )
        for ep, total, good in rows:
            if total is not None:
                had = counts.get(ep, Counts(0, 0))
                counts[ep] = Counts(had.total + total, had.good + good)
    return counts


def get_state(db: Database, key: str) -> Any:
    """The JSON-decoded value stored under `key`, or None."""
    row = db.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def get_states(db: Database, prefix: str = "") -> dict[str, Any]:
    """Every key starting with `prefix`, JSON-decoded, in key order."""
    rows = db.conn.execute(
        "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + "\U0010ffff")
    )
    return {key: json.loads(value) for key, value in rows}


__all__ = [
    "Counts", "Incident", "Rollup", "StoredResult", "counts_since", "get_state", "get_states", "history",
    "incidents", "latest_results", "rollup_counts_since", "rollups",
]  # fmt: skip

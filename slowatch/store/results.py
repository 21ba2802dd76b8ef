"""Write one run of ProbeResults inside the writer's open transaction.

Raw rows are inserted with one `executemany`; up/down transitions of *final* results become
incidents. Hourly rollups, per-outcome counts and the `latest` row per endpoint are derived from the
raw rows periodically (fold.py; from what the writer kept of the rows written here, fold_memory.py). Runs
on the writer thread only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from itertools import chain
from typing import cast

from sqlite_utils import Database

from slowatch.models import Outcome, ProbeResult
from slowatch.store.fold import unfolded_newest
from slowatch.store.incident_log import INSERT_INCIDENT
from slowatch.store.phase_codec import encode as encode_phases
from slowatch.store.schema import RESULT_COLUMNS
from slowatch.store.updown import CODES, STATES, StateCache
from slowatch.untrusted import valid

logger = logging.getLogger(__name__)

UNKNOWN, UP, DOWN = "unknown", "up", "down"
HOUR = 3600
DAY = 86400

_SUCCESS = Outcome.SUCCESS.value
_PLACEHOLDERS = ", ".join("?" for _ in RESULT_COLUMNS)
_INSERT_RESULTS = f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({_PLACEHOLDERS})"
ROWS_PER_INSERT = 32
"""Rows per statement of `insert_rows` (384 parameters; SQLite allows 32,766 since 3.32, 999 before)."""
_INSERT_MANY = _INSERT_RESULTS + f", ({_PLACEHOLDERS})" * (ROWS_PER_INSERT - 1)

Row = tuple[object, ...]
_OUTCOME_VALUES: dict[str, str] = {o.value: o.value for o in Outcome}  # Outcome members are str: both look up


def fast_binding() -> None:
    """Bind None and bytes parameters without the sqlite3 module's adaptation protocol (idempotent).

    Python 3.11's sqlite3 binds exact int, float, str and bytearray directly, but sends every other value, None
    and bytes included, through `microprotocols_adapt`: an adapter lookup, then `__adapt__` looked up on the
    PrepareProtocol *type*, which raises an AttributeError (its message formatted) that is then cleared. That
    was ~0.2 µs per None or bytes parameter, 0.4 µs of the ~2 µs a `results` row costs to insert (a row has
    its phases as bytes and usually a NULL cert_expiry; benchmarks/README.md, session 9). An adapter registered
    for the exact type is found first: `bytes` returns the same object for exact bytes and `{}.get` returns None
    for None, both in C. What is bound does not change; subclasses of bytes take the protocol as before. The
    registry is the sqlite3 module's, for the whole process (Python 3.12 made the lookup cheap, not free).
    """
    sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))
    sqlite3.register_adapter(bytes, bytes)


def result_row(r: ProbeResult) -> Row:
    """The `results`/`latest` column values of one result, in RESULT_COLUMNS order.

    Values are coerced to their column types, so a malformed result fails here (TypeError or
    ValueError), alone, instead of failing the whole batch's transaction. The texts a target controls
    (message, final URL) are made storable (`untrusted.valid`): a lone surrogate made SQLite refuse the whole
    batch, and the writer retried it forever (probes.probe_once cleans messages already: this is the store's
    own guard, for every other source of results).
    """
    outcome = _OUTCOME_VALUES.get(r.outcome)
    if outcome is None:
        raise ValueError(f"{r.outcome!r} is not an Outcome")
    status, cert, url, message = r.status_code, r.cert_expiry, r.final_url, str(r.message)
    if not message.isascii():  # (the usual message and URL are ASCII: no encoding to check them)
        message = valid(message)
    if url is not None:
        url = str(url)
        url = url if url.isascii() else valid(url)
    return (
        float(r.started_at), str(r.endpoint), str(r.kind), outcome, float(r.duration),
        None if status is None else int(status), message, int(r.attempt), 1 if r.final else 0,
        encode_phases(r.phases), None if cert is None else float(cert), url,
    )  # fmt: skip


def insert_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Insert `rows` into `results`, in order (so with consecutive ids), ROWS_PER_INSERT to a statement.

    One multi-row VALUES statement per ROWS_PER_INSERT rows (an `executemany` of flat parameter tuples), the
    remainder one row per statement: the same rows and ids as one row per statement, ~0.25 µs per row cheaper
    (the sqlite3 module's and SQLite's per-statement work: a step, a reset, the binding loop's set-up; session 14).
    """
    n = len(rows)
    full = n - n % ROWS_PER_INSERT
    if full:
        flat = chain.from_iterable
        conn.executemany(
            _INSERT_MANY, [tuple(flat(rows[i : i + ROWS_PER_INSERT])) for i in range(0, full, ROWS_PER_INSERT)]
        )
    if full < n:
        conn.executemany(_INSERT_RESULTS, rows[full:])


def hour_of(ts: float) -> int:
    return int(ts // HOUR) * HOUR


def day_of(ts: float) -> int:
    """The start of ts's UTC day (unix days have no leap seconds: always a multiple of 86400)."""
    return int(ts // DAY) * DAY


Written = tuple[int, list[Row]]
"""(id of the first row, the rows inserted, in RESULT_COLUMNS order): the rows have ids first, first + 1, ..."""


def write_results(
    db: Database, results: Sequence[ProbeResult], states: MutableMapping[str, str],
    written: list[Written] | None = None, *, committed: Mapping[str, str] | None = None,
    cache: StateCache | None = None,
) -> int:  # fmt: skip
    """Insert `results` (raw rows) and log up/down transitions as incidents; return how many were rejected.

    `written` (if given) gets the inserted rows with the id of the first: SQLite numbers each new row
    max(id) + 1 (ids are never reused, fold.py), so the rows of one `executemany` in the writer's
    transaction have consecutive ids.

    Rollups, per-outcome counts and `latest` are not touched here: the fold derives them from the
    raw rows (or `written`) later (see fold.py). A malformed result (a bug upstream) is logged and skipped
    rather than blocking every write.

    `states` maps endpoint -> "up"/"down" and is updated in place; with `committed`, a state not in
    `states` is looked up there (the writer passes an empty dict of this transaction's changes and its
    committed view, merged once the transaction commits: a ChainMap's `get` cost ~0.9 µs per result, two
    dict lookups ~0.1). With `cache` (the writer's: updown.py; its `states` are `committed`) the rows are
    numbered first and a committed state is found by number, the dict asked once per endpoint.
    """
    try:
        rows = list(map(result_row, results))
        rejected = 0
    except (TypeError, ValueError, AttributeError):
        rows, rejected = _valid_rows(results)
    incidents: list[Row] = []
    success = _SUCCESS
    if cache is None or not rows:
        for row in rows:
            if row[8]:  # final: only final attempts move the up/down state
                ep: str = row[1]  # type: ignore[assignment]  # (result_row made it a str)
                new = UP if row[3] == success else DOWN
                old = states.get(ep)
                if old is None:
                    old = UNKNOWN if committed is None else committed.get(ep, UNKNOWN)
                if new != old:
                    incidents.append((ep, row[0], old, new, row[3], row[6]))
                    states[ep] = new
    else:
        numbers, codes = cache.number(rows)
        known, by_name = STATES, cache.states
        for row, number in zip(rows, numbers, strict=True):
            if row[8]:
                ep = row[1]  # type: ignore[assignment]
                new = UP if row[3] == success else DOWN
                old = states.get(ep)
                if old is None:
                    old = known[codes[number]]
                    if old is None:
                        old = by_name.get(ep, UNKNOWN)
                        codes[number] = CODES[old]
                if new != old:
                    incidents.append((ep, row[0], old, new, row[3], row[6]))
                    states[ep] = new
                    cache.changed(number, new)
    conn = db.conn
    insert_rows(conn, rows)
    if written is not None and rows:
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        written.append((last - len(rows) + 1, rows))
    if incidents:
        conn.executemany(INSERT_INCIDENT, incidents)  # (to incidents_recent: incident_log.py)
    return rejected


def _valid_rows(results: Sequence[ProbeResult]) -> tuple[list[Row], int]:
    """The rows of the results that make one, and how many did not (each logged)."""
    rows: list[Row] = []
    rejected = 0
    for r in results:
        try:
            rows.append(result_row(r))
        except (TypeError, ValueError, AttributeError) as e:
            logger.error("store: malformed result dropped: error=%r result=%r", e, r)
            rejected += 1
    return rows, rejected


def load_states(db: Database) -> dict[str, str]:
    """Each endpoint's up/down state from its latest final result (what the incident log ends with).

    `latest` plus the raw rows not folded into it yet (there are some only if the start-up fold failed): those
    were written after every row of `latest`, so they replace it whatever their ts (fold.py).
    """
    newest = dict(db.conn.execute("SELECT endpoint, outcome FROM latest").fetchall())
    newest.update((ep, outcome) for ep, _, outcome in unfolded_newest(db))
    return {ep: UP if outcome == _SUCCESS else DOWN for ep, outcome in newest.items()}


__all__ = [
    "DAY", "DOWN", "HOUR", "UNKNOWN", "UP", "Written", "day_of", "fast_binding", "hour_of", "insert_rows",
    "load_states", "result_row", "write_results",
]  # fmt: skip

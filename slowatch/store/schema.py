"""The SQLite schema, as an ordered list of migrations. `PRAGMA user_version` = migrations applied.

Tables (all times are unix seconds; `hour` is the start of a UTC hour, `day` of a UTC day, as integers),
as of v13:

    results          recent raw attempts, one row per ProbeResult, until packed into result_blocks
        id INTEGER PRIMARY KEY, ts REAL (started_at), endpoint, kind, outcome, duration REAL,
        status_code INTEGER NULL, message, attempt INTEGER, final INTEGER (0/1),
        phases TEXT NULL (phase -> seconds: since session 5 a BLOB in phase_codec.py's binary forms, format 2
        since v12; rows written before hold JSON text; all are read; SQLite columns are dynamically typed),
        cert_expiry REAL NULL, final_url NULL
        no index since v11: (endpoint, ts) until v10 (each row dirtied a random leaf; see pack_marker.py),
        (ts) until v5 (retention deletes by id range, see retention.py)
    result_blocks    (v6) raw attempts packed per endpoint and 10-minute block, kept `retention.raw`
        id INTEGER PRIMARY KEY, endpoint, start INTEGER (block start), end REAL (max ts), n INTEGER,
        data BLOB (blocks.py); index (endpoint, start). Several rows may share (endpoint, start).
    latest           the newest *final* result per endpoint (same columns, endpoint PRIMARY KEY);
                     the status page's "current state" and the writer's up/down state at start
    rollups          one row per (endpoint, hour) of *final* attempts, kept `retention.hourly` (95d)
        endpoint, hour, total, good, latency_us INTEGER, le_5ms ... le_10000ms
        PRIMARY KEY (endpoint, hour) WITHOUT ROWID (v6; a rowid table with an (hour) index and
        latency_sum REAL before). `good` counts Outcome.SUCCESS. The latency columns cover the good
        attempts only: latency_us is the sum of their durations, each rounded to the µs (so the mean
        is latency_us / 1e6 / good) and each `le_<N>ms` counts good attempts with duration <= N ms
        (cumulative, like a Prometheus histogram; the implicit +Inf bucket is `good`).
    rollup_outcomes  per (endpoint, hour, outcome) count of final attempts, kept like rollups
        PRIMARY KEY (endpoint, hour, outcome) WITHOUT ROWID; since v6 only outcomes other than
        `success` (whose count is rollups.good)
    rollups_daily, rollup_outcomes_daily  (v7) the same per (endpoint, day): hourly rows older than
        `retention.hourly` merged (summed) per UTC day by retention (daily.py), kept until the whole
        day is older than `retention.rollups`. An hour is counted in exactly one of the two tables.
    incidents        up/down transitions from final results, kept `retention.rollups`
        id INTEGER PRIMARY KEY, endpoint, ts, from_state ('unknown' | 'up' | 'down'),
        to_state ('up' | 'down'), outcome, message; indexes (endpoint, ts), (ts); since v13 the writer
        appends to `incidents_recent` (same columns, no index) and each fold moves them here (incident_log.py)
    state            small durable key/value state for other layers (JSON values)
        key TEXT PRIMARY KEY, value TEXT (JSON), updated REAL
    rollup_watermark one row (v5): results_id INTEGER, the highest results.id folded into rollups,
                     rollup_outcomes and latest (see fold.py); updated REAL
    slo_watermark    one row (v8): results_id INTEGER, the highest results.id the persisted SLO cells and
                     counters include (written with them: slo/persist.py); updated REAL
    slo_cells, slo_fine, slo_counters   the SLO ledger's state (slo_tables.py, slo/persist.py)
    corrections, correction_applied, correction_effects   budget corrections (v9, correction_tables.py)
    annotations      (v10) deploys, incidents and notes (annotations.py)
    phase_names      (v12) the names format 2 of `phases` stands for, by bit (phase_codec.py; read-only)
    pack_progress    (v11) one row while a pack pass runs: its rows (top, cutoff) and the last one packed
                     (endpoint, ts, rid); the rows of `results` it covers are packed (pack_marker.py)

Incidents are written by the writer in the same transaction as the raw rows they come from.
`rollups`, `rollup_outcomes` and `latest` are folded from the raw rows periodically (fold.py), in one
transaction with the watermark `rollup_watermark.results_id` (the highest folded results.id), so
they always equal the raw rows up to the watermark; `await store.flush()` folds everything before it.
Folded rows (at or below both watermarks) older than `retention.pack_after` are then packed into
`result_blocks` (pack.py); every reader of raw results goes through raw.py, which merges both tables
and leaves out the rows of `results` a pass has packed but not deleted yet (pack_marker.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from sqlite_utils import Database

from slowatch.errors import StoreError
from slowatch.store.alert_tables import alert_tables
from slowatch.store.annotations import annotation_tables
from slowatch.store.compact import compact_storage, daily_rollups
from slowatch.store.correction_tables import correction_tables
from slowatch.store.incident_log import incidents_recent
from slowatch.store.pack_marker import pack_marker
from slowatch.store.phase_codec import phase_names
from slowatch.store.slo_tables import slo_fine_blocks, slo_tables, slo_watermark

Migration = Callable[[Database], None]

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the rollup latency buckets; changing them needs a migration."""

BUCKET_COLUMNS: tuple[str, ...] = tuple(f"le_{round(b * 1000)}ms" for b in LATENCY_BUCKETS)

RESULT_COLUMNS: tuple[str, ...] = (
    "ts", "endpoint", "kind", "outcome", "duration", "status_code", "message",
    "attempt", "final", "phases", "cert_expiry", "final_url",
)  # fmt: skip

_RESULT_COLUMNS_SQL = """
    ts REAL NOT NULL,
    endpoint TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration REAL NOT NULL,
    status_code INTEGER,
    message TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    final INTEGER NOT NULL DEFAULT 1,
    phases TEXT,
    cert_expiry REAL,
    final_url TEXT
"""


def _v1_initial(db: Database) -> None:
    buckets = ",\n".join(f"    {c} INTEGER NOT NULL DEFAULT 0" for c in BUCKET_COLUMNS)
    for sql in (
        f"CREATE TABLE results (id INTEGER PRIMARY KEY, {_RESULT_COLUMNS_SQL})",
        "CREATE INDEX results_endpoint_ts ON results (endpoint, ts)",
        "CREATE INDEX results_ts ON results (ts)",
        f"CREATE TABLE latest ({_RESULT_COLUMNS_SQL}, PRIMARY KEY (endpoint))",
        f"""CREATE TABLE rollups (
            endpoint TEXT NOT NULL,
            hour INTEGER NOT NULL,
            total INTEGER NOT NULL DEFAULT 0,
            good INTEGER NOT NULL DEFAULT 0,
            latency_sum REAL NOT NULL DEFAULT 0,
        {buckets},
            PRIMARY KEY (endpoint, hour))""",
        "CREATE INDEX rollups_hour ON rollups (hour)",
        """CREATE TABLE rollup_outcomes (
            endpoint TEXT NOT NULL,
            hour INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (endpoint, hour, outcome))""",
        "CREATE INDEX rollup_outcomes_hour ON rollup_outcomes (hour)",
        """CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            endpoint TEXT NOT NULL,
            ts REAL NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            outcome TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX incidents_endpoint_ts ON incidents (endpoint, ts)",
        "CREATE INDEX incidents_ts ON incidents (ts)",
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL)",
    ):
        db.execute(sql)


def fold_watermark(db: Database) -> None:
    """Rollups/latest are folded from raw rows up to a watermark; `results(ts)` is no longer needed.

    The watermark starts at max(results.id): before this migration the writer upserted rollups and
    latest with every batch, so an existing database's derived tables include every committed row.
    """
    db.execute("DROP INDEX IF EXISTS results_ts")
    db.execute(
        "CREATE TABLE rollup_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "results_id INTEGER NOT NULL, updated REAL NOT NULL)"
    )
    db.execute("INSERT INTO rollup_watermark (id, results_id, updated) SELECT 1, coalesce(max(id), 0), 0 FROM results")


# Applied in order (to an existing database each in its own transaction, to a new one all in one: see
# migrate); `PRAGMA user_version` records how many ran.
# Append only: never edit or reorder a released migration. Other layers (SLO ledger, alert
# outbox) add their tables by appending here.
MIGRATIONS: list[Migration] = [
    _v1_initial,
    slo_tables,  # v2: slo_cells, slo_counters (slowatch/store/slo_tables.py)
    alert_tables,  # v3: alert_streaks, alert_firing, alert_outbox (slowatch/store/alert_tables.py)
    slo_fine_blocks,  # v4: slo_fine, SLO fine cells packed per hour (slowatch/store/slo_tables.py)
    fold_watermark,  # v5: rollup_watermark (the fold's, store/fold.py); drop index results_ts
    compact_storage,  # v6: result_blocks; rollups, rollup_outcomes WITHOUT ROWID (store/compact.py)
    daily_rollups,  # v7: rollups_daily, rollup_outcomes_daily (store/compact.py; filled by store/daily.py)
    slo_watermark,  # v8: slo_watermark, the results the SLO state includes (slowatch/store/slo_tables.py)
    correction_tables,  # v9: corrections (append-only), correction_applied, correction_effects
    annotation_tables,  # v10: annotations, deploys/incidents/notes (slowatch/store/annotations.py)
    pack_marker,  # v11: drop index results_endpoint_ts; pack_progress (slowatch/store/pack_marker.py)
    phase_names,  # v12: phase_names, the names of phases format 2 (slowatch/store/phase_codec.py)
    incidents_recent,  # v13: incidents_recent, new transitions until the next fold (slowatch/store/incident_log.py)
]


def user_version(db: Database) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS, *, path: str = "", upgrade: bool = True) -> int:
    """Apply the migrations this database has not seen yet; return how many ran.

    `db` must be in driver autocommit mode (isolation_level=None). Raises StoreError if the
    database was written by a newer slowatch (user_version > len(migrations)) or a migration fails.
    `upgrade=False` (the commands that add a row beside a running daemon: silence, annotate, correct)
    creates a new database but raises StoreError for an older one instead of migrating it: the
    daemon of the older slowatch may still be running on it, and a migration under it breaks it
    (v6 dropped the `rollups.latency_sum` its writer writes). The upgraded `slowatch run` migrates it.

    Several processes may open one file at once (`run` started together with `silence`, `annotate` or
    `correct`): the version is read again inside the write transaction (BEGIN IMMEDIATE, which waits up
    to the connection's busy timeout for another's), so a migration another process has committed is not
    run twice; and a new database (version 0) is created in a single transaction, all migrations or none,
    so no other process ever sees it half made (a command would take that for an older schema). An older
    database is migrated one migration per transaction (a kill mid-way resumes at the next start).
    """
    known = len(migrations)
    if user_version(db) == known:  # the usual case, without the write lock (a version only grows)
        return 0
    applied = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(db)
            _check(current, known, path, upgrade or current == 0 or applied > 0)
            if current == known:
                db.execute("COMMIT")
                return applied
            last = known if current == 0 else current + 1
            for version in range(current + 1, last + 1):
                _apply(db, migrations[version - 1], version, path)
            db.execute(f"PRAGMA user_version = {last}")
            db.execute("COMMIT")
            applied += last - current
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise


CORE_TABLES = frozenset({"results", "latest", "incidents", "state"})
"""Tables every slowatch schema has had since v1 (none is ever dropped): how its databases are told apart."""

INTRODUCED: tuple[str, ...] = (
    "results", "slo_cells", "alert_streaks", "slo_fine", "rollup_watermark", "result_blocks", "rollups_daily",
    "slo_watermark", "corrections", "annotations", "pack_progress", "phase_names",
    "incidents_recent",
)  # fmt: skip
"""Per migration, a table it creates (tests/store/test_store_schema.py checks it): a copy that lost its
`user_version` (`sqlite3 .dump`) is told which version its tables are. Append with MIGRATIONS."""


def check_identity(conn: sqlite3.Connection, path: str) -> None:
    """Raise StoreError unless the file is empty or holds a slowatch database, before anything writes to it.

    Another program's SQLite file (a typo in `server.database`, a shared volume) got slowatch's tables added
    and was switched to WAL; one that numbers its own schema (`user_version`) was taken for an older slowatch's
    and migrated. Called on the opening connection before `journal_mode = WAL`, which rewrites the header.
    """
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {t for t in tables if not t.startswith("sqlite_")}
    if not tables:
        return
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if tables >= CORE_TABLES:
        if version == 0:  # ours, but migration 1 would run on it ('table results already exists')
            made = max(v for v, table in enumerate(INTRODUCED, 1) if v == 1 or table in tables)
            raise StoreError(
                f"database {path} holds slowatch's tables but no schema version (user_version 0: a copy made with "
                f"`sqlite3 .dump` loses it); slowatch wrote nothing to it. Its tables are those of version {made}: "
                f"`sqlite3 {path} 'PRAGMA user_version = {made}'`, then try again"
            )
        return
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    raise StoreError(
        f"database {path} is not a slowatch database (it holds table{'s' if len(tables) > 1 else ''} {shown}, "
        f"user_version {version}, and no slowatch tables); slowatch wrote nothing to it: point server.database "
        "(or --db) at a file of its own"
    )


def open_error(path: str, e: BaseException) -> StoreError:
    """The StoreError for a database that failed to open: a damaged file says so and what to do."""
    if isinstance(e, StoreError):
        return e
    if getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return StoreError(
            f"database {path} is damaged or not an SQLite database ({e}); slowatch changed nothing in it: "
            "restore it from a backup, or move it (with any -wal beside it) aside and start with a new file "
            "(server.database or --db); `sqlite3 FILE .dump | sqlite3 NEW` may save what is readable"
        )
    name = str(getattr(e, "sqlite_errorname", ""))
    if name == "SQLITE_FULL" or name.startswith("SQLITE_IOERR"):  # (a -shm or -wal that cannot be made or grown)
        return StoreError(
            f"cannot open database {path}: {e}; the file system holding it may be full, or a file-size limit "
            "reached (df -h, ulimit -f): SQLite needs room beside it for its -wal and -shm files"
        )
    return StoreError(f"cannot open database {path}: {e}")


def _check(current: int, known: int, path: str, upgrade: bool) -> None:
    if current > known:
        raise StoreError(
            f"database {path or '?'} has schema version {current}, newer than this slowatch knows "
            f"({known}): upgrade slowatch or point server.database at another file"
        )
    if not upgrade and current < known:
        raise StoreError(
            f"database {path or '?'} has schema version {current}, older than this slowatch ({known}): "
            "restart `slowatch run` with this version first (it migrates the database; an older daemon "
            "still running on it would break), then run this command again"
        )


def _apply(db: Database, step: Migration, version: int, path: str) -> None:
    try:
        step(db)
    except Exception as e:
        name = getattr(step, "__name__", repr(step))
        raise StoreError(f"database {path or '?'}: migration {version} ({name}) failed: {e}") from e


def wal_mode(conn: sqlite3.Connection, wait: float) -> str:
    """Set `journal_mode = WAL`; return the mode the database is in.

    Switching a database into WAL takes an exclusive lock, and SQLite does not call the busy handler for
    it: a process creating a new database while another has it open got "database is locked" at once
    (about one start in 60 with four processes). Retried here for up to `wait` seconds (the busy timeout).
    """
    deadline = time.monotonic() + wait
    pause = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


__all__ = [
    "BUCKET_COLUMNS", "CORE_TABLES", "INTRODUCED", "LATENCY_BUCKETS", "MIGRATIONS", "RESULT_COLUMNS", "Migration",
    "check_identity", "migrate", "open_error", "wal_mode",
]  # fmt: skip

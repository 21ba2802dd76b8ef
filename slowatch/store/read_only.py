"""The schema check of the commands that only read a database: `slowatch report`, `gate --config`, `alerts`.

They open the file read-only (`mode=ro`: a daemon may be running on it) and never migrate it. Before they
read, `begin_read` starts the one read transaction all their reads share and checks the schema version
in it (so the version checked is the version of the rows read, even if a daemon migrates meanwhile):

- **newer** than this slowatch (`user_version` > len(MIGRATIONS)): refused, one line naming both versions
  and what to do, exit 2. Migrations only append, but a newer one may change what existing rows mean
  (v4 moved the fine cells out of `slo_cells`, v6 turned `rollups.latency_sum` into µs and dropped the
  `success` rows of `rollup_outcomes`); nothing here can know what a future one did, and a report that
  is silently wrong is worse than none. Read it with the slowatch that wrote it (the daemon's install).
- **older**, from the version that created the tables the command reads on (`READS`: `report` and `gate`
  read `slo_cells` (v2), `incidents`, `state`, hourly `rollups` good/total (v1), and `corrections` (v9),
  `annotations` (v10) and `rollups_daily` (v7) when they exist; `alerts` the alert tables (v3) and
  `state`): read as it is. No migration since changed what those rows mean to these readers (v4 took
  only layer 'f' out of `slo_cells`, they read layer 'c'; v6 kept `total` and `good`), and
  tests/store/test_store_read_versions.py checks it: every such older database gives the same output
  as a copy of it migrated to this version. No note is printed: the answer is the same.
- **older still**: refused, one line naming both versions and the oldest the command reads.
- **0**: no slowatch has made the file yet: the command's own message; a copy of a slowatch database that lost
  its version (`sqlite3 .dump`) is refused, naming the version its tables are.
- **damaged**, or **another program's** SQLite file (tables, none of slowatch's): refused, one line, exit 2.
"""

from __future__ import annotations

import os
import sqlite3

from slowatch.errors import StoreError
from slowatch.store.schema import MIGRATIONS, check_identity, open_error

READS = {"report": 2, "gate": 2, "alerts": 3}
"""Per command, the oldest schema version it reads: the one that created the tables it cannot do without."""


def missing(path: str) -> str | None:
    """What a reader says when no file is at `path` yet (before connecting: `mode=ro` cannot create it)."""
    if os.path.exists(path):
        return None
    return f"no database at {path}: the daemon has not run yet (or --db names another file)"


def begin_read(conn: sqlite3.Connection, path: str, command: str) -> str | None:
    """Start the read transaction of `command`'s reads on `conn` (a driver in its default, deferred mode)
    and check the schema; None if it may read, else the one line saying why not (exit 2)."""
    try:
        conn.execute("BEGIN")
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        check_identity(conn, path)  # another program's SQLite file
    except StoreError as e:
        return str(e).replace("slowatch wrote nothing to it: ", "")
    except sqlite3.DatabaseError as e:  # not SQLite at all, or damaged (OperationalError: the caller's message)
        if isinstance(e, sqlite3.OperationalError):
            raise
        return str(open_error(path, e))
    known, oldest = len(MIGRATIONS), READS[command]
    if current > known:
        return (
            f"database {path} has schema version {current}, newer than this slowatch ({known}): a newer slowatch "
            f"wrote it and its tables may mean something else there; run `slowatch {command}` of that version "
            "(the running daemon's install), or upgrade this one"
        )
    if 0 < current < oldest:
        return (
            f"database {path} has schema version {current}, older than `slowatch {command}` reads "
            f"({oldest} to {known}): start `slowatch run` of this version on it once (it migrates the database; "
            "stop the old daemon first), then run this command again"
        )
    return None


__all__ = ["READS", "begin_read", "missing"]

"""Upgrading in place: the commands that write one row into a database a daemon may be using (`silence`,
`annotate --config`, `correct`) on a database of another schema version.

A newer schema (written by a newer slowatch) is refused with one line, not a traceback. The old
databases here are built by the real migrations, cut where an older release stopped.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.cli import main
from slowatch.store import MIGRATIONS
from slowatch.store.schema import migrate, user_version


def _config(tmp_path: Path, db: Path) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"server:\n  database: {db}\n"
        "endpoints:\n  - {name: api, kind: http, url: 'http://127.0.0.1:1/'}\n"
        "consumers:\n  - name: shop\n    endpoints: [api]\n"
        "    slos:\n      - {name: availability, sli: availability, objective: 99, window: 7d}\n"
    )
    return str(path)


def _database(path: Path, version: int) -> None:
    """A database as the slowatch with `version` migrations left it (user_version beyond: a newer one)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(Database(conn), MIGRATIONS[: min(version, len(MIGRATIONS))])
        if version > len(MIGRATIONS):
            conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return user_version(Database(conn))
    finally:
        conn.close()


COMMANDS = (
    ["silence", "--endpoint", "api", "--until", "2099-01-01T00:00Z", "--lock-wait", "5"],
    ["annotate", "--kind", "deploy", "--text", "v2", "--lock-wait", "5"],
    ["correct", "--consumer", "shop", "--from", "2026-01-01T00:00Z", "--to", "2026-01-01T01:00Z", "--lock-wait", "5"],
)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_newer_schema_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    db = tmp_path / "s.db"
    _database(db, len(MIGRATIONS) + 1)
    config = _config(tmp_path, db)
    code = main([command[0], "-c", config, *command[1:]])
    err = capsys.readouterr().err
    assert code != 0
    assert f"schema version {len(MIGRATIONS) + 1}, newer than this slowatch knows" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _version(db) == len(MIGRATIONS) + 1

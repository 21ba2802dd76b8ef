"""Upgrading in place: the commands that write one row into a database a daemon may be using (`silence`,
`annotate --config`, `correct`) on a database of another schema version.

A newer schema (written by a newer slowatch) is refused with one line, not a traceback. An older one is
refused too, and left as it is: the old daemon may still be running on it (new code installed, daemon not
restarted yet), and a migration under it broke it (v6 rebuilt `rollups` without `latency_sum`: the old
writer failed every batch from then on). The upgraded `slowatch run` migrates it; a new file is created
by any of them as before. The old
databases here are built by the real migrations, cut where an older release stopped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.cli import main
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError
from slowatch.store import MIGRATIONS, Store
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


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


COMMANDS = (
    ["silence", "--endpoint", "api", "--until", "2099-01-01T00:00Z", "--lock-wait", "5"],
    ["annotate", "--kind", "deploy", "--text", "v2", "--lock-wait", "5"],
    ["correct", "--consumer", "shop", "--from", _ago(3600), "--to", _ago(1800), "--reason", "bad deploy",
     "--lock-wait", "5"],
)  # fmt: skip


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


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_older_schema_is_left_to_the_daemon_to_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    db = tmp_path / "s.db"
    _database(db, 5)  # the rollups a v5 daemon writes (latency_sum) are gone after v6
    config = _config(tmp_path, db)
    code = main([command[0], "-c", config, *command[1:]])
    err = capsys.readouterr().err
    assert code != 0
    assert f"schema version 5, older than this slowatch ({len(MIGRATIONS)})" in err and "slowatch run" in err
    assert len(err.strip().splitlines()) == 1
    assert _version(db) == 5


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_new_database_is_created_by_a_command(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "s.db"
    assert main([command[0], "-c", _config(tmp_path, db), *command[1:]]) == 0
    assert _version(db) == len(MIGRATIONS)


async def test_the_maintaining_store_migrates_what_a_command_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    await asyncio.to_thread(_database, db, 5)
    kw = {"clock": FakeClock(1_800_000_000.0), "retention": RetentionConfig(), "close_timeout": 2.0}
    tool = Store(str(db), maintain=False, **kw)
    with pytest.raises(StoreError, match="older than this slowatch"):
        await tool.start()
    await tool.close()
    assert await asyncio.to_thread(_version, db) == 5
    daemon = Store(str(db), **kw)
    await daemon.start()
    await daemon.close()
    assert await asyncio.to_thread(_version, db) == len(MIGRATIONS)

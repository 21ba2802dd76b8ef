"""The commands that write beside a daemon (`silence`, `annotate --config`, `correct`): their `--lock-wait`, and a
file that is not a slowatch database (another program's SQLite file, or a damaged one), which each refuses in one
line, leaving its bytes as they were, as `run`, `report`, `gate` and `alerts` do (store/schema.py check_identity,
open_error). `correct --list` added slowatch's 37 tables to another program's file, exit 0."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.store.schema import migrate
from tests.support.cli import run_cli

CONFIG = """\
server: {database: ./other.db}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 10s}
consumers:
  - {name: shop, endpoints: [api], slos: [{name: up, sli: availability, objective: 99}]}
"""


def _commands() -> dict[str, tuple[str, ...]]:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    start, end = (now - dt.timedelta(hours=1)).isoformat(), (now - dt.timedelta(minutes=1)).isoformat()
    config = ("-c", "slowatch.yaml")
    return {
        "silence": ("silence", *config, "--endpoint", "api", "--until", "2099-01-01T00:00Z", "--lock-wait", "2"),
        "annotate": ("annotate", *config, "--kind", "deploy", "--text", "v2", "--lock-wait", "2"),
        "correct": ("correct", *config, "--consumer", "shop", "--from", start, "--to", end, "--reason", "test"),
        "correct --list": ("correct", *config, "--list"),
    }


@pytest.mark.parametrize("command", sorted(_commands()))
@pytest.mark.parametrize("kind", ["foreign", "damaged"])
async def test_a_writing_command_refuses_a_foreign_or_damaged_file_untouched(
    tmp_path: Path, command: str, kind: str
) -> None:
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    db = tmp_path / "other.db"
    if kind == "damaged":
        db.write_bytes(b"not sqlite at all " * 1000)
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        conn.commit()
        conn.close()
    before = db.read_bytes()

    code, out, err = await run_cli(*_commands()[command], cwd=tmp_path)

    assert code != 0 and out == "", (code, out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "database ./other.db is " in err
    assert ("damaged or not an SQLite database" if kind == "damaged" else "not a slowatch database") in err
    assert db.read_bytes() == before
    assert not (tmp_path / "other.db-wal").exists()


@pytest.mark.parametrize("command", ["silence", "annotate", "correct"])
@pytest.mark.parametrize("wait", ["0", "-1", "nan", "inf"])
async def test_lock_wait_must_be_a_positive_number_of_seconds(tmp_path: Path, command: str, wait: str) -> None:
    """`--lock-wait 0` (or -1, nan) on a database nobody locks said `stayed locked by another process for 0 s`,
    exit 1, and wrote nothing; inf waited without end, what --lock-wait is there to prevent."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    conn = sqlite3.connect(tmp_path / "other.db", isolation_level=None)
    migrate(Database(conn))  # a slowatch database nobody holds
    conn.close()
    argv = _commands()[command]

    code, out, err = await run_cli(*argv, f"--lock-wait={wait}", cwd=tmp_path)

    assert (code, out) == (2, ""), (code, out, err)
    assert f"argument --lock-wait: must be a positive number of seconds (got {wait})" in err
    assert "locked by another process" not in err

"""The commands that only read a database (`report`, `gate --config`, `alerts`) on other schema versions.

A newer schema is refused in one line naming both versions (its rows may mean something else). An older one
is never migrated (its own daemon may still run on it) and is read as it is from the version that created
the tables a command reads: the test for that reads a filled older database, migrates it, reads it again and
wants the very same output. Older still: refused in one line. See slowatch/store/read_only.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.alerting import events
from slowatch.cli import main
from slowatch.config import load
from slowatch.slo.definitions import compile_config
from slowatch.store import MIGRATIONS
from slowatch.store.read_only import READS
from slowatch.store.schema import migrate
from tests.store.test_store_upgrade import _config

KNOWN = len(MIGRATIONS)
HOUR = 3600


def _filled(db: Path, config: str, version: int) -> None:
    """A database as a slowatch of `version` migrations left it (beyond KNOWN: a newer one), with a day of
    SLO cells and rollups, an incident, a silence, a firing alert and its delivery, and from v9 and v10 a
    correction and a deploy annotation."""
    fingerprint = compile_config(load(config))[0].fingerprint
    hour = int(time.time()) // HOUR * HOUR
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        migrate(Database(conn), MIGRATIONS[: min(version, KNOWN)])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        hours = [hour - h * HOUR for h in range(30, 2, -1)]
        good = {h: 100 - 10 * (i % 7 == 3) for i, h in enumerate(hours)}
        if "slo_cells" in tables:
            conn.executemany(
                "INSERT INTO slo_cells VALUES (?, 'c', 3600, ?, ?, 100, 0, ?, 60)",
                [(fingerprint, h, good[h], 60 - (good[h] < 100)) for h in hours],
            )
            if version < 4:  # fine cells lived in slo_cells until v4 moved them out
                conn.execute("INSERT INTO slo_cells VALUES (?, 'f', 60, ?, 5, 9, 0, 0, 1)", (fingerprint, hours[-1]))
        conn.executemany("INSERT INTO rollups (endpoint, hour, total, good) VALUES ('api', ?, 100, ?)", good.items())
        conn.execute("INSERT INTO incidents VALUES (1, 'api', ?, 'up', 'down', 'timeout', 'slow')", (hours[3],))
        conn.execute("INSERT INTO incidents VALUES (2, 'api', ?, 'down', 'up', 'success', '')", (hours[3] + 900,))
        silence = json.dumps({"until": hour + 30 * 86400.0, "reason": "move"})
        conn.execute("INSERT INTO state VALUES ('alerting.silence.endpoint.api', ?, ?)", (silence, hours[0]))
        if "alert_firing" in tables:
            event = events.test_event("ops", hours[5])
            conn.execute("INSERT INTO alert_firing VALUES ('test:ops', ?, 1, ?, ?)", (event.to_json(), *hours[5:7]))
            conn.execute(
                "INSERT INTO alert_outbox (sink, event_id, alert_key, payload, created, status, attempts, done_at) "
                "VALUES ('ops', ?, 'test:ops', ?, ?, 'delivered', 1, ?)",
                (event.event_id, event.to_json(), *hours[5:7]),
            )
        if "corrections" in tables:
            conn.execute(
                "INSERT INTO corrections VALUES (1, ?, 'cli:sre', 'correct', 'shop', NULL, NULL, ?, ?, 'bug', NULL)",
                (hours[-1], hours[3], hours[3] + 900),
            )
        if "annotations" in tables:
            conn.execute(
                "INSERT INTO annotations VALUES ('d1', ?, 'deploy', 'v2', '[\"shop\"]', '[]', 'cli', ?)",
                (hours[10], hours[10]),
            )
        if version > KNOWN:
            conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()


def _version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _commands(config: str) -> dict[str, list[list[str]]]:
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report = ["report", "--config", config, "--at", at, "--format"]
    return {
        "report": [[*report, "json"], [*report, "html"], [*report, "table"]],
        "gate": [["gate", "--config", config, "--consumer", "shop", "--format", "json"]],
        "alerts": [["alerts", "-c", config]],
    }


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("version", range(min(READS.values()), KNOWN))
def test_an_older_schema_is_read_as_it_is_and_reads_as_after_its_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int
) -> None:
    db = tmp_path / "s.db"
    config = _config(tmp_path, db)
    _filled(db, config, version)
    commands = {c: argvs for c, argvs in _commands(config).items() if READS[c] <= version}
    before = {" ".join(a): _run(a, capsys) for argvs in commands.values() for a in argvs}
    assert _version(db) == version  # read, never migrated
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        migrate(Database(conn))  # what the upgraded daemon does at its start
    finally:
        conn.close()
    after = {" ".join(a): _run(a, capsys) for argvs in commands.values() for a in argvs}
    assert before == after
    for code, _, _ in before.values():
        assert code == 0
    report = json.loads(before[" ".join(commands["report"][0])][1])
    assert report[0]["total_events"] == 2800 and report[0]["good_events"] < 2800  # the cells were read
    if "alerts" in commands:
        assert "test:ops" in before[" ".join(commands["alerts"][0])][1]


@pytest.mark.parametrize("command", sorted(READS))
def test_a_newer_schema_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    db = tmp_path / "s.db"
    config = _config(tmp_path, db)
    _filled(db, config, KNOWN + 1)
    for argv in _commands(config)[command]:
        code, out, err = _run(argv, capsys)
        assert (code, out) == (2, "")
        assert f"schema version {KNOWN + 1}, newer than this slowatch ({KNOWN})" in err
        assert f"run `slowatch {command}` of that version" in err
        assert len(err.strip().splitlines()) == 1
    assert _version(db) == KNOWN + 1


@pytest.mark.parametrize("command", sorted(READS))
def test_a_schema_older_than_a_command_reads_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    db = tmp_path / "s.db"
    config = _config(tmp_path, db)
    version = READS[command] - 1
    _filled(db, config, version)
    for argv in _commands(config)[command]:
        code, out, err = _run(argv, capsys)
        assert (code, out) == (2, "")
        assert f"schema version {version}, older than `slowatch {command}` reads ({READS[command]} to {KNOWN})" in err
        assert "slowatch run" in err and len(err.strip().splitlines()) == 1
    assert _version(db) == version


@pytest.mark.parametrize("command", sorted(READS))
@pytest.mark.parametrize("kind", ["garbage", "foreign"])
def test_a_damaged_or_foreign_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    """`slowatch alerts` on a damaged file ended in a `sqlite3.DatabaseError` traceback, and on another program's
    SQLite file said `no alerting tables yet (start the daemon once)`; `report` said `no such table`."""
    db = tmp_path / "s.db"
    config = _config(tmp_path, db)
    if kind == "garbage":
        db.write_bytes(b"not sqlite at all " * 1000)
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        conn.commit()
        conn.close()
    before = db.read_bytes()
    for argv in _commands(config)[command]:
        code, out, err = _run(argv, capsys)
        assert (code, out) == (2, "")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"database {db} is " in err
        assert ("damaged or not an SQLite database" if kind == "garbage" else "not a slowatch database") in err
    assert db.read_bytes() == before

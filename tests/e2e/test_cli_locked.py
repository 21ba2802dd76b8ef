"""The commands that write beside a daemon (`silence`, `annotate --config`, `correct`) against a database another
process keeps write-locked (a sqlite3 shell left in a transaction): a bounded wait, then one line saying
nothing was written; before, `correct` ended in a "database is locked" traceback and the other two retried
without end."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli

CONFIG = """\
server: {database: ./slowatch.db}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 10s}
consumers:
  - {name: shop, endpoints: [api], slos: [{name: up, sli: availability, objective: 99}]}
"""
HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(60)
"""


async def slowatch(tmp_path: Path, *args: str) -> tuple[int, str]:
    code, out, _ = await run_cli(*args, cwd=tmp_path, merged=True)
    return code, out


@pytest.mark.slow
async def test_writing_commands_give_up_on_a_locked_database_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out = await slowatch(tmp_path, "run", "-c", "slowatch.yaml", "--once")  # creates the database
    assert code in (0, 1), out
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD, str(tmp_path / "slowatch.db"), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"locked"
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        start, end = (now - dt.timedelta(hours=1)).isoformat(), (now - dt.timedelta(minutes=1)).isoformat()
        commands = {
            "silence": ("silence", "-c", "slowatch.yaml", "--endpoint", "api", "--until", "2099-01-01T00:00Z"),
            "annotate": ("annotate", "-c", "slowatch.yaml", "--kind", "deploy", "--text", "v2"),
            "correct": (
                "correct",
                "-c",
                "slowatch.yaml",
                "--consumer",
                "shop",
                "--from",
                start,
                "--to",
                end,
                "--reason",
                "probe host outage",
            ),
        }
        for name, args in commands.items():
            started = time.monotonic()
            code, out = await slowatch(tmp_path, *args, "--lock-wait", "1")
            took = time.monotonic() - started
            assert code in (1, 2) and "Traceback" not in out, (name, out)
            assert "nothing was written, try again" in out.splitlines()[-1], (name, out)
            assert took < 20, (name, took)  # the wait, a lock wait in progress (5 s), the interpreter's start
    finally:
        holder.kill()
        await holder.wait()
    conn = sqlite3.connect(tmp_path / "slowatch.db")
    try:
        written = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("annotations", "corrections")]
        silences = conn.execute("SELECT count(*) FROM state WHERE key LIKE 'alerting.silence.%'").fetchone()[0]
    finally:
        conn.close()
    assert written == [0, 0] and silences == 0

"""The database file a stopped `slowatch run` leaves: complete by itself, without its `-wal`."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from tests.support.cli import run_cli

CONFIG = """\
server: {database: ./slowatch.db}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 10s}
  - {name: web, kind: http, url: "http://127.0.0.1:9/web", interval: 10s}
consumers:
  - {name: shop, endpoints: [api, web], slos: [{name: up, sli: availability, objective: 99}]}
"""


async def test_a_stopped_daemon_leaves_its_whole_history_in_the_database_file(tmp_path: Path) -> None:
    """Every stop of `slowatch run` left the history in `slowatch.db-wal` beside a one-page `slowatch.db`: a copy
    of the file alone (a backup after `systemctl stop`), or the file after its `-wal` was deleted as a
    leftover, had no table in it at all."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    for _ in range(2):
        code, out, _ = await run_cli("run", "-c", "slowatch.yaml", "--once", cwd=tmp_path, merged=True)
        assert code == 1, out  # (both endpoints refuse: a failure, recorded)
    wal = tmp_path / "slowatch.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    backup = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "slowatch.db", backup)  # the file alone
    assert not os.path.exists(f"{backup}-wal")
    conn = sqlite3.connect(backup)
    try:
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 4
    finally:
        conn.close()

"""Several processes creating one brand-new database at the same moment: `slowatch run` started together
with `silence`, `annotate` or `correct` (systemd starting the daemon while a deploy script annotates).

Each must find the database created once, at the current schema, and go on; before, the version was read
outside the write lock, so the second process re-ran migration 1 after the first had committed it
("table results already exists"), or a `Store(maintain=False)` saw the first's half-made database as an
older schema and refused it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from slowatch.store import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("run", "silence", "silence", "correct")
ROUNDS = 30


def _tables(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return version, int(conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'results'").fetchone()[0])
    finally:
        conn.close()


def test_processes_creating_one_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        command = [sys.executable, "-m", "tests.store.create_worker"]
        io = {"cwd": ROOT, "text": True, "stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        workers = [stack.enter_context(subprocess.Popen([*command, kind], **io)) for kind in KINDS]
        pipes = [(w.stdin, w.stdout) for w in workers if w.stdin is not None and w.stdout is not None]
        assert [out.readline().strip() for _, out in pipes] == ["ready"] * len(KINDS)
        for n in range(ROUNDS):
            db = tmp_path / f"new{n}.db"
            for stdin, _ in pipes:  # as close together as pipes allow
                stdin.write(f"{db}\n")
            for stdin, _ in pipes:
                stdin.flush()
            for kind, (_, out) in zip(KINDS, pipes, strict=True):
                answer = out.readline().strip()
                if answer != "ok":
                    failures.append(f"round {n} {kind}: {answer}")
            assert _tables(db) == (len(MIGRATIONS), 1)
        for stdin, _ in pipes:
            stdin.close()  # the workers end; leaving the `with` waits for them
    assert failures == [], "\n".join(failures)

"""A child process for test_store_create_race.py: opens databases the way one slowatch command does.

    python -m tests.store.create_worker KIND

KIND is what the process plays: `run` (the daemon's maintaining store), `silence` (a `Store(maintain=False)`
one write, store/one_write.py, as `silence` and `annotate` do) or `correct` (a plain connection and
`migrate(upgrade=False)`, as `slowatch correct` does). It answers "ready" once imported, then for each
database path read from stdin opens (creating) and closes that database and answers one line: "ok", or
"error: <why>". Kept warm across rounds, so the processes of a round start on their path within
microseconds of each other (a fresh interpreter's imports take longer than the whole migration).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys

from sqlite_utils import Database

from slowatch.clock import SystemClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from slowatch.store.one_write import write_once
from slowatch.store.schema import migrate
from slowatch.store.store import state_op


async def _run(path: str) -> None:
    store = Store(path, clock=SystemClock(), retention=RetentionConfig(), close_timeout=5.0)
    await store.start()
    await store.close()


def _silence(path: str) -> None:
    failed = asyncio.run(write_once(path, RetentionConfig(), state_op("race", 1, 0.0), wait=20.0))
    if failed:
        raise RuntimeError(failed)


def _correct(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=20.0)
    try:
        migrate(Database(conn), path=path, upgrade=False)
    finally:
        conn.close()


def main(kind: str) -> None:
    act = {"run": lambda p: asyncio.run(_run(p)), "silence": _silence, "correct": _correct}[kind]
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            act(line.strip())
        except Exception as e:  # reported to the test, which fails with it
            print(f"error: {type(e).__name__}: {e}".replace("\n", " "), flush=True)
        else:
            print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

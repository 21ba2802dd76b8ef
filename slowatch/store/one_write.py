"""One write from the command line into a database a daemon may be writing: `slowatch silence`,
`slowatch annotate --config`.

Through a `Store(maintain=False)` (no lock of `store/owner.py`, no fold, pack or retention), bounded in
time. The daemon's own transactions last milliseconds to a second; a write lock held longer (a
`sqlite3` shell left in a transaction, a `VACUUM`, a migration of a large old database at the daemon's
start) used to keep these commands retrying without end, a log line per retry. Now they give up after
`wait` seconds with one line that says why and that nothing was written (the queued write is discarded;
a lock released in the very last moment may still let it through, which is harmless: both writes are
"add this row" and the caller may simply run again). A database the store cannot open (one written by a
newer slowatch, a hard-linked one) is the same: one line that says why, not a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from slowatch.clock import SystemClock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError

CLI_WAIT = 30.0
LOCK_WAIT_HELP = f"seconds to wait for a database another process keeps locked (default {CLI_WAIT:g})"


async def write_once(path: str, retention: RetentionConfig, work: Callable[[Database], Any], *,
                     wait: float = CLI_WAIT) -> str | None:  # fmt: skip
    """Run `work` in one committed transaction; None when done, else the one-line reason it was not."""
    from slowatch.store.store import Store  # (the command line imports this module for CLI_WAIT alone)

    store = Store(path, clock=SystemClock(), retention=retention, maintain=False, close_timeout=0.0)
    try:
        await store.start()
    except StoreError as e:  # a newer schema, a hard link, a file that is no database: one line, no traceback
        return str(e)
    try:
        store.submit(work)
        await asyncio.wait_for(store.flush(fold=False), wait)
    except TimeoutError:
        await store.close(discard=True)
        return (f"database {path} stayed locked by another process for {wait:g} s (a daemon's transactions take "
                "at most seconds: a sqlite3 shell or VACUUM?); nothing was written, try again")  # fmt: skip
    await store.close()
    return None


__all__ = ["CLI_WAIT", "LOCK_WAIT_HELP", "write_once"]

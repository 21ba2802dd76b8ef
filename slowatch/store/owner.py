"""One maintaining store per database: an exclusive lock next to the SQLite file.

A database belongs to one `slowatch run` at a time. The running store's writer does more than write:
it folds raw results from its memory, packs them in passes that span many transactions, applies
retention, and the daemon around it restores its SLO counters and alert state from the file at start
and counts whatever results were stored above the saved watermark as a killed run's. A second daemon
on the same file (four `--shard`/`--replica` instances started in one directory with the README's one
config and its default `database: ./slowatch.db`, a systemd unit plus a manual run, two pods on one
volume) would count the first one's results as its own, alert twice, and break the pack passes of the
other. So the store that maintains a database (the default, `Store(maintain=True)`) holds an exclusive
`flock` on `<database>.lock` from open to close, and a second one fails to start with a message that
names the holder (pid, host, start time) and the fix: a database per instance.

The lock is named after the database's real path (symlinks resolved): `--db current.db`, a symlink to
`slowatch.db`, meets the same `slowatch.db.lock` (it took a `current.db.lock` of its own before, and two
daemons wrote one file). A database file with more than one name (a hard link) is refused: a lock file
cannot be named after every name, and SQLite keeps the `-wal` and `-shm` beside the name it opened, so a
second process through the other name would write a second WAL into the same file and corrupt it.

`flock` locks belong to the open file: the kernel releases them when the process exits, however it
exits (kill -9 included), so there is no stale lock to clean up; the file itself is left in place. A
lock on a separate file never meets SQLite's own POSIX locks on the database (on file systems that
implement `flock` with POSIX locks, NFS for one, a lock on the database file itself would). The
commands that only add a row while a daemon runs (`silence`, `annotate`) open a store with
`maintain=False`: no lock, and no fold, pack or retention of theirs (store.py); they refuse a hard-linked
database too (`one_name`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket

from slowatch.errors import StoreError


def lock_path(database: str) -> str:
    """`<database>.lock` beside the file the path names (symlinks resolved: one lock per database file)."""
    return f"{os.path.realpath(database)}.lock"


class DatabaseLock:
    """Held from `acquire` to `release` (both on the writer thread: they touch the file system)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StoreError naming who holds it. In-memory databases need none."""
        if self.database in ("", ":memory:") or self.database.startswith("file::memory:"):
            return
        path = lock_path(self.database)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                where = "create it, or set server.database or pass --db FILE"
                raise StoreError(
                    f"cannot open database {self.database}: the directory {directory} does not exist ({where})"
                ) from e
            raise StoreError(f"cannot open database {self.database}: its lock file {path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read(fd)
            os.close(fd)
            raise StoreError(
                f"database {self.database} is in use by another slowatch run ({holder or 'holder unknown'}); "
                "each instance needs a database of its own: set server.database or pass --db FILE "
                f"(the lock is {path})"
            ) from None
        try:
            one_name(self.database)
        except StoreError:
            os.close(fd)
            raise
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with contextlib.suppress(OSError):  # who holds it is only for the message: the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {now}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file releases the flock


def one_name(database: str) -> None:
    """Refuse a database file with hard links (see the module docstring); a missing file is a new database."""
    try:
        links = os.stat(database).st_nlink
    except OSError:
        return
    if links > 1:
        raise StoreError(
            f"database {database} has {links} names (hard links) for one file: SQLite keeps a -wal beside "
            "each name, so a second process through another name would corrupt it; keep one name (remove "
            "the other links; a symlink is fine) or copy the file"
        )


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


__all__ = ["DatabaseLock", "lock_path", "one_name"]

"""The path still names the database file the store opened.

SQLite writes through the descriptor it opened, not the path. If the file is deleted, moved away
(`mv slowatch.db /backup/`, a cleanup job) or replaced (`mv other.db slowatch.db`, a restore) under a
running store, SQLite goes on writing happily: into an inode nobody can reach any more, whose contents
vanish when the process exits, or, in the replaced case, next to a `-wal` file that now sits beside
another database. Either way history is lost without a word.

So the writer remembers the file's (device, inode) when it opens it and checks, before every write
transaction (one `stat`, microseconds), that the path still names that file. If not, the transaction
fails like a full disk does: the batch is kept in memory, the store is unhealthy (`/readyz` 503 with
the reason, `slowatch_store_healthy 0`, one error log line, then a reminder a minute: write_health.py) and
writes resume by themselves once the path names the same file again (moved back). A deleted file cannot come back:
restart slowatch (its history since the last backup is gone; the message says so).
"""

from __future__ import annotations

import os

from slowatch.errors import StoreError


class FileIdentity:
    """(st_dev, st_ino) of the database file, taken at open; `check()` before each write transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._id: tuple[int, int] | None = None

    def remember(self) -> None:
        """Called once the database is open (and so exists). In-memory databases have no file."""
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            return
        st = os.stat(self.path)
        self._id = (st.st_dev, st.st_ino)

    def check(self) -> None:
        """Raise StoreError if the path no longer names the file the store opened."""
        if self._id is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(
                f"database {self.path} was deleted or moved while slowatch runs: writes are held in memory "
                "until the file is back at that path (move it back), or restart slowatch if it was deleted "
                "(the history it held is then lost)"
            ) from None
        except OSError as e:
            raise StoreError(f"database {self.path}: cannot check the file: {e.strerror}") from None
        if (st.st_dev, st.st_ino) != self._id:
            raise StoreError(
                f"database {self.path} was replaced by another file while slowatch runs (inode {self._id[1]} "
                f"became {st.st_ino}): writes are held in memory and nothing is written into the other file; "
                "put the original back at that path, or restart slowatch to use the new one"
            )


__all__ = ["FileIdentity"]

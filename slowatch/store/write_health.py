"""Whether the writer's transactions succeed, and what the log says about it.

An outage of the database (a read-only file, a full disk, a lock held past `busy_timeout`) fails every
transaction the writer tries: each batch retry with backoff, each fold, pack and retention step. Logging each
failure made ~45 lines in a daemon's first minute on a read-only file, and a transaction that wrote nothing (a
retention step with nothing to delete commits even on a read-only file) logged "store writes resumed" between
them, though nothing could be written. So:

  - the first failure of an outage is logged once, with its error (the cause);
  - while it lasts, a reminder at most every `remind` seconds (how many failed since, for how long), and a
    failure with another error than the one last logged is logged at once (a new cause);
  - the store turns healthy again, and "store writes resumed" is logged, only when a transaction that changed a
    row commits: proof that writes work. A transaction that changed nothing leaves the state as it was.

`healthy` and `last_error` are read by other threads (/readyz, /metrics); the rest is the writer thread's.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("slowatch.store.writer")

REMIND = 60.0
"""Seconds between two log lines about the same failing cause."""


class WriteHealth:
    def __init__(self, path: str, *, remind: float = REMIND) -> None:
        self.path = path
        self.remind = remind
        self.healthy = True
        self.last_error: str | None = None
        self._since: float | None = None  # time.monotonic() of the outage's first failure (None: none)
        self._failures = 0  # failed transactions in this outage
        self._logged_at = 0.0
        self._logged_error: str | None = None
        self._unlogged = 0  # failures since the last line

    def failed(self, error: str, pending: int) -> None:
        """A transaction failed with `error` (rolled back) and `pending` items wait to be written."""
        now = time.monotonic()
        self.healthy, self.last_error = False, error
        self._failures += 1
        if self._since is None:
            self._since = now
            logger.error(
                "store write failed, keeping the batch and retrying (logged again every %.0fs while it lasts): "
                "error=%r pending=%d path=%s", self.remind, error, pending, self.path,
            )  # fmt: skip
        elif error != self._logged_error:
            logger.error(
                "store write failed with another error, still retrying: error=%r previous=%r failures=%d pending=%d "
                "path=%s", error, self._logged_error, self._failures, pending, self.path,
            )  # fmt: skip
        elif now - self._logged_at >= self.remind:
            logger.error(
                "store writes still failing: error=%r failures=%d (%d since the last line) for=%.0fs pending=%d "
                "path=%s", error, self._failures, self._unlogged + 1, now - self._since, pending, self.path,
            )  # fmt: skip
        else:
            self._unlogged += 1
            return
        self._logged_at, self._logged_error, self._unlogged = now, error, 0

    def committed(self, changed: bool, pending: int) -> None:
        """A transaction committed; `changed`: it changed at least one row (so writes do work)."""
        if not changed or self._since is None:
            return
        logger.warning(
            "store writes resumed after %d failed transactions over %.0fs: path=%s pending=%d",
            self._failures, time.monotonic() - self._since, self.path, pending,
        )  # fmt: skip
        self.healthy, self._since, self._failures, self._logged_error, self._unlogged = True, None, 0, None, 0

    def crashed(self, error: str) -> None:
        """The writer stopped for good (cannot open, or a bug): unhealthy for the rest of the run."""
        self.healthy, self.last_error = False, error


__all__ = ["REMIND", "WriteHealth"]

"""Whether the writer's transactions succeed, and what the log says about it.

An outage of the database (a read-only file, a full disk, a lock held past `busy_timeout`) fails every
transaction the writer tries: each batch retry with backoff, each fold, pack and retention step. Logging each
failure made ~45 lines in a daemon's first minute on a read-only file, and a transaction that wrote nothing (a
retention step with nothing to delete commits even on a read-only file) logged "store writes resumed" between
them, though nothing could be written. And when one kind of transaction kept failing while the others committed
(a retention step refused by a damaged table or a trigger, result batches going in), every committed batch said
"resumed" and made the store healthy, and the next failure logged again. So each kind of transaction (`source`:
the result batches, retention, the fold, the pack) fails and recovers on its own:

  - a source fails when one of its transactions fails; it recovers when one of its own transactions commits (the
    one that failed, retried: a batch, a retention step and a fold are retried as they were). Another source's
    commit proves nothing about it. The store is healthy while no source is failing;
  - the first failure of an outage is logged once, with its source and error (the cause); an error not yet
    logged in this outage is logged at once (a new cause; causes that alternate are each logged once);
    meanwhile a reminder at most every `remind` seconds (what still fails, how many failed since, for how long);
  - "store writes resumed" is logged once no source is failing.

`healthy` and `last_error` are read by other threads (/readyz, /metrics); the rest is the writer thread's.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("slowatch.store.writer")

REMIND = 60.0
"""Seconds between two log lines about the same failing causes."""


class WriteHealth:
    def __init__(self, path: str, *, remind: float = REMIND) -> None:
        self.path = path
        self.remind = remind
        self.healthy = True
        self.last_error: str | None = None
        self._failing: dict[str, str] = {}  # source -> its last error, while it fails
        self._since: float | None = None  # time.monotonic() of the outage's first failure (None: none)
        self._failures = 0  # failed transactions in this outage
        self._logged: set[str] = set()  # the errors logged in this outage
        self._logged_at = 0.0
        self._unlogged = 0  # failures since the last line

    def failed(self, source: str, error: str, pending: int) -> None:
        """A transaction of `source` failed with `error` (rolled back); `pending` items wait to be written."""
        now = time.monotonic()
        self._failing[source] = error
        self.healthy, self.last_error = False, error
        self._failures += 1
        if self._since is None:
            self._since = now
            logger.error(
                "store write failed, keeping the batch and retrying (logged again every %.0fs while it lasts): "
                "error=%r source=%s pending=%d path=%s", self.remind, error, source, pending, self.path,
            )  # fmt: skip
        elif error not in self._logged:
            logger.error(
                "store write failed with another error, still retrying: error=%r source=%s failing=%s failures=%d "
                "pending=%d path=%s", error, source, ",".join(sorted(self._failing)), self._failures, pending,
                self.path,
            )  # fmt: skip
        elif now - self._logged_at >= self.remind:
            logger.error(
                "store writes still failing: error=%r failing=%s failures=%d (%d since the last line) for=%.0fs "
                "pending=%d path=%s", error, ",".join(sorted(self._failing)), self._failures, self._unlogged + 1,
                now - self._since, pending, self.path,
            )  # fmt: skip
        else:
            self._unlogged += 1
            return
        self._logged.add(error)
        self._logged_at, self._unlogged = now, 0

    def committed(self, source: str, pending: int) -> None:
        """A transaction of `source` committed."""
        if self._failing.pop(source, None) is None or self._since is None:
            return
        if self._failing:  # (/readyz names what still fails, not the error of a source that works again)
            self.last_error = [*self._failing.values()][-1]
            return
        logger.warning(
            "store writes resumed after %d failed transactions over %.0fs: path=%s pending=%d",
            self._failures, time.monotonic() - self._since, self.path, pending,
        )  # fmt: skip
        self.healthy, self._since, self._failures, self._unlogged = True, None, 0, 0
        self._logged.clear()

    def crashed(self, error: str) -> None:
        """The writer stopped for good (cannot open, or a bug): unhealthy for the rest of the run."""
        self.healthy, self.last_error = False, error
        self._failing["writer"] = error


__all__ = ["REMIND", "WriteHealth"]

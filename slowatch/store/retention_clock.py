"""The time that deletions go by: the wall clock, unless it jumped ahead.

Retention (retention.py), the SLO state's prune (slo/service.py) and the alert outbox's (alerting/service.py) delete
what is older than a cutoff taken from "now". Taken straight from the wall clock, a step of it a year ahead (a bad
NTP server, a VM restored with a wrong RTC) deleted the whole history at the next pass, and stepping it back
brought nothing back. So a `RetentionClock` lets its time advance no faster than the monotonic clock since its last
reading, plus `slack` (small NTP steps): a wall clock further ahead is *held back*. While held, the time catches up
at `1 + catch_up` seconds per monotonic second (twice real time by default), so a step ahead that lasted an hour
costs one hour more of history, not a year, and a true correction (the clock was behind) or a long stop is
absorbed in as long as it took. A step back is followed at once (deleting less is always safe). A hold is logged
once as a warning (and once when it ends); `behind` (seconds) is exported as
`slowatch_store_retention_clock_behind_seconds`.

Across a restart there is no monotonic reference. The time retention last trusted is saved in the `state` table
(STATE_KEY, in the first transaction of a retention pass, every SAVE_EVERY); a new run starts from there: a wall
clock at most `START_SLACK` past it is taken as it is (a restart, a short stop), one further ahead is held back and
caught up as above (a long stop is then caught up in as long as it lasted: the history is kept longer meanwhile,
never shorter). Only what was recorded before the start needs that: the raw rows this run records are stamped by
its own clock, and retention deletes them by a second RetentionClock started at the start (`Retention.run_time`),
so after a month's stop the raw history stays `retention.raw` long instead of growing for half the stop
(retention.py). A database without the key (new, or from an older slowatch) starts from its newest stored result;
an empty one from the wall clock (nothing to delete).
"""

from __future__ import annotations

import json
import logging

from sqlite_utils import Database

from slowatch.clock import Clock

logger = logging.getLogger(__name__)

STATE_KEY = "store.retention_time"
RUN_KEY = "store.retention_run"
"""[since, time]: raw rows stamped since `since` by the clock (of this run, or of earlier ones restarted within
START_SLACK) whose time was `time` at the last save; they go by that clock, not by the held-back one."""
SLACK = 60.0
"""Seconds the wall clock may run ahead of the monotonic time between two readings and still be taken as it is."""
START_SLACK = 3600.0
"""Seconds a new run's wall clock may be past the time retention last trusted and still be taken as it is."""
SAVE_EVERY = 600.0
"""Seconds of retention's time between two saves of it (a save is a write: on a full disk it may succeed while
other writes fail, and log "store writes resumed"; so not at every pass)."""
CATCH_UP = 1.0
"""While held back: extra seconds of catch-up per monotonic second."""


def saved_reference(db: Database) -> float | None:
    """The time retention last trusted (saved by an earlier run), else the newest stored result's; None if empty."""
    conn = db.conn
    row = conn.execute("SELECT value FROM state WHERE key = ?", (STATE_KEY,)).fetchone()
    if row is not None:
        try:
            return float(json.loads(row[0]))
        except (TypeError, ValueError):
            logger.warning("store: ignored an unreadable %s in the state table: value=%r", STATE_KEY, row[0])
    newest = conn.execute("SELECT ts FROM results ORDER BY id DESC LIMIT 1").fetchone()
    latest = conn.execute("SELECT max(ts) FROM latest").fetchone()
    found = [float(v[0]) for v in (newest, latest) if v is not None and v[0] is not None]
    return max(found) if found else None


def save_reference(db: Database, trusted: float) -> None:
    """Save `trusted` as the time retention last went by (in the caller's transaction)."""
    _save(db, STATE_KEY, trusted, trusted)


def saved_run(db: Database) -> tuple[float, float] | None:
    """(since, time): since when raw rows were stamped by one clock, and its time at the last save (save_run)."""
    row = db.conn.execute("SELECT value FROM state WHERE key = ?", (RUN_KEY,)).fetchone()
    if row is None:
        return None
    try:
        since, at = json.loads(row[0])
        return float(since), float(at)
    except (TypeError, ValueError):
        logger.warning("store: ignored an unreadable %s in the state table: value=%r", RUN_KEY, row[0])
        return None


def save_run(db: Database, since: float, at: float) -> None:
    """Save that raw rows from `since` on were stamped by the clock whose time is now `at` (caller's transaction)."""
    _save(db, RUN_KEY, [since, at], at)


def _save(db: Database, key: str, value: object, updated: float) -> None:
    db.conn.execute(
        "INSERT INTO state (key, value, updated) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        (key, json.dumps(value), updated),
    )


class RetentionClock:
    """See the module docstring. `now()` is called by one thread (the writer's, or the event loop's)."""

    def __init__(
        self, clock: Clock, *, what: str | None, slack: float = SLACK, catch_up: float = CATCH_UP,
        start_slack: float = START_SLACK,
    ) -> None:  # fmt: skip
        self._clock = clock
        self._what = what  # for the log: whose deletions are held back (None: not logged)
        self._slack, self._catch_up, self._start_slack = slack, catch_up, start_slack
        self._anchor: tuple[float, float] | None = None  # (trusted time, monotonic time) at the last reading
        self.behind = 0.0  # seconds the wall clock is ahead of the time given (read by other threads)

    def follow(self, other: RetentionClock) -> None:
        """Start where `other` is (another deleter's clock: the same hold, logged by `other` alone)."""
        self._anchor, self.behind, self._what = other._anchor, other.behind, None

    def start(self, reference: float | None) -> None:
        """Start from `reference` (saved_reference: an earlier run's time; None: the wall clock)."""
        wall, mono = self._clock.time(), self._clock.monotonic()
        if reference is None or wall <= reference + self._start_slack:
            self._anchor = (wall, mono)
            return
        self._anchor = (reference, mono)
        self._hold(wall, reference, since="the last retention pass (of an earlier run)")

    def now(self) -> float:
        """The wall clock's time, or less if it jumped ahead (see the module docstring)."""
        wall, mono = self._clock.time(), self._clock.monotonic()
        if self._anchor is None:
            self._anchor = (wall, mono)
            return wall
        time0, mono0 = self._anchor
        elapsed = max(0.0, mono - mono0)
        caught_up = time0 + elapsed * (1.0 + self._catch_up) if self.behind else time0 + elapsed + self._slack
        if wall <= max(caught_up, time0 + elapsed + self._slack):
            if self.behind:
                if self._what is not None:
                    logger.info("store: %s goes by the wall clock again (caught up): now=%.0f", self._what, wall)
                self.behind = 0.0
            self._anchor = (wall, mono)
            return wall
        trusted = time0 + elapsed * (1.0 + self._catch_up) if self.behind else time0 + elapsed
        self._anchor = (trusted, mono)
        self._hold(wall, trusted, since="its last reading")
        return trusted

    def _hold(self, wall: float, trusted: float, since: str) -> None:
        if not self.behind and self._what is not None:
            logger.warning(
                "store: the wall clock is %.0fs ahead of the time %s trusts (more than the time passed since %s: "
                "a clock stepped forward?); deleting by that time instead, catching up at %gx until they meet: "
                "wall=%.0f trusted=%.0f", wall - trusted, self._what, since, 1.0 + self._catch_up, wall, trusted,
            )  # fmt: skip
        self.behind = wall - trusted


__all__ = [
    "CATCH_UP",
    "RUN_KEY",
    "SAVE_EVERY",
    "SLACK",
    "START_SLACK",
    "STATE_KEY",
    "RetentionClock",
    "save_reference",
    "save_run",
    "saved_reference",
    "saved_run",
]

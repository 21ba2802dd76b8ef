"""The durable side of alerting: store ops (run on the writer thread) and read queries.

A decision (streak change, alert firing/resolving, events for sinks) is ONE `Decision` op, so the
firing state and the outbox rows it implies commit in the same transaction or not at all. Every op
is idempotent (upserts, INSERT OR IGNORE on (sink, event_id)), as the store may re-run it.

Streak-only decisions (a flapping endpoint makes one per result) are coalesced while the store has
not taken them (`Decision.absorb`, AlertBook.commit): a long store outage holds at most one of them
instead of one per result. Decisions with firing state or outbox rows are never merged nor dropped:
they are as many as alert transitions (each needs `failure_threshold` / `success_threshold` results
in a row), and their notifications are delivered from memory meanwhile (dispatcher: `durable_wait`).

A decision's outbox rows may supersede older pending rows of the same alert and sink (alerting/fold.py):
those are deleted by the same op that inserts the new rows (whose payload counts them), so after a crash
either both or neither happened.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlite_utils import Database

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.sinks.base import IN_FLIGHT, REACHED_BEFORE, maybe_received
from slowatch.alerting.suppress import SILENCE_PREFIX

PENDING, DELIVERED, FAILED, EXPIRED = "pending", "delivered", "failed", "expired"
SUPERSEDED = "superseded"  # a newer notification of its alert for its sink took its place (fold.py): its row is
# deleted (`supersede`); rows of older versions may still have this status until pruned
WITHHELD = "withheld"  # restored at start, not posted: its alert not seen firing since (SinkWorker.payload)


@dataclass(slots=True, eq=False)
class OutboxItem:
    sink: str
    event: AlertEvent
    created: float
    attempts: int = 0
    last_error: str = ""
    queued: float = 0.0  # event-loop time it was queued in memory (0: restored, ready at once)
    born: float | None = None  # Clock.monotonic() when created (set on enqueue): its age for give_up_after
    restored: bool = False  # read from the outbox at start, decided by an earlier run (SinkWorker.payload)
    in_flight: bool = False  # being sent, or its outcome being recorded: never superseded (fold.py)
    superseded: bool = False  # a newer item took its place: skipped by the worker, already marked in the outbox
    reached: bool = False
    """The receiver may have it: an attempt failed after the request went out (`Attempt.maybe_received`), or an
    Alertmanager re-POST carried it (`SinkWorker.reached`). A RESOLVED folding it is not `firing_undelivered`."""


@dataclass(frozen=True, slots=True)
class FiringRow:
    key: str
    event: AlertEvent
    notified: bool
    last_sent: float | None


@dataclass(slots=True)
class Decision:
    """Everything one alert decision writes. Callable as a store op."""

    now: float
    streaks: dict[str, tuple[int, int]] = field(default_factory=dict)
    firing: dict[str, FiringRow] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)
    items: list[OutboxItem] = field(default_factory=list)
    superseded: list[tuple[str, str, str]] = field(default_factory=list)  # sink, event_id, why (fold.py)
    forgotten: set[str] = field(default_factory=set)  # endpoints gone from the config: their streak rows go
    started: bool = False  # the writer thread has taken it: it no longer absorbs streaks
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def absorb(self, newer: Decision) -> bool:
        """Take the streaks of a later streak-only decision, if the writer has not taken this one yet (its
        streak rows are state: only the newest per endpoint matters). False: submit `newer` itself."""
        with self._lock:
            if self.started:
                return False
            self.streaks.update(newer.streaks)
            self.now = newer.now
            return True

    def __call__(self, db: Database) -> None:
        with self._lock:
            self.started = True
        c = db.conn
        for endpoint, (fails, oks) in self.streaks.items():
            c.execute(
                "INSERT INTO alert_streaks (endpoint, fails, oks, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (endpoint) DO UPDATE SET fails = excluded.fails, oks = excluded.oks, "
                "updated = excluded.updated",
                (endpoint, fails, oks, self.now),
            )
        c.executemany("DELETE FROM alert_streaks WHERE endpoint = ?", [(e,) for e in sorted(self.forgotten)])
        for row in self.firing.values():
            c.execute(
                "INSERT INTO alert_firing (key, event, notified, last_sent, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET event = excluded.event, notified = excluded.notified, "
                "last_sent = excluded.last_sent, updated = excluded.updated",
                (row.key, row.event.to_json(), int(row.notified), row.last_sent, self.now),
            )
        for key in self.cleared:
            c.execute("DELETE FROM alert_firing WHERE key = ?", (key,))
        c.executemany(
            "INSERT OR IGNORE INTO alert_outbox (sink, event_id, alert_key, payload, created) VALUES (?, ?, ?, ?, ?)",
            [(i.sink, i.event.event_id, i.event.alert_key, i.event.to_json(), i.created) for i in self.items],
        )
        supersede(db, self.superseded, self.now)


def supersede(db: Database, rows: Sequence[tuple[str, str, str]], now: float) -> None:
    """Delete the pending rows (sink, event_id, why) a newer row of their alert superseded (alerting/fold.py).

    Deleted, not kept until the 7-day prune: a flapping alert through a long outage would otherwise add two rows
    per flap while its pending rows stay at one or two. Nothing is lost: what they said is counted in their
    successor's payload (`folded`, `folded_since`, `firing_undelivered`), written by the same op (a Decision, or
    at start a Refold), so a kill -9 keeps both or neither. Rows marked `superseded` by older versions are pruned
    as before."""
    db.conn.executemany(
        "DELETE FROM alert_outbox WHERE sink = ? AND event_id = ? AND status = 'pending'",
        [(sink, eid) for sink, eid, _why in rows],
    )


@dataclass(frozen=True, slots=True)
class Refold:
    """At start, the fold of the rows restored (fold.py): the superseded marked, the survivors' new payloads."""

    superseded: tuple[tuple[str, str, str], ...]  # sink, event_id, why
    payloads: tuple[tuple[str, str, str], ...]  # sink, event_id, payload
    now: float

    def __call__(self, db: Database) -> None:
        db.conn.executemany(
            "UPDATE alert_outbox SET payload = ? WHERE sink = ? AND event_id = ? AND status = 'pending'",
            [(payload, sink, eid) for sink, eid, payload in self.payloads],
        )
        supersede(db, self.superseded, self.now)


@dataclass(frozen=True, slots=True)
class Mark:
    """Record the outcome of delivering `items`: DELIVERED, WITHHELD, FAILED, EXPIRED, or PENDING after a failed
    try."""

    items: tuple[tuple[str, str, int, str], ...]  # sink, event_id, attempts, last_error
    status: str
    now: float

    @classmethod
    def of(cls, items: Sequence[OutboxItem], status: str, now: float) -> Mark:
        return cls(tuple((i.sink, i.event.event_id, i.attempts, i.last_error) for i in items), status, now)

    def __call__(self, db: Database) -> None:
        done = None if self.status == PENDING else self.now
        db.conn.executemany(
            "UPDATE alert_outbox SET status = ?, attempts = ?, last_error = ?, done_at = ? "
            "WHERE sink = ? AND event_id = ? AND status = 'pending'",  # (never revives a superseded row)
            [(self.status, a, err, done, sink, eid) for sink, eid, a, err in self.items],
        )


@dataclass(frozen=True, slots=True)
class Prune:
    """Delete the rows done before `before`. Pending rows of sinks not in `sinks` (removed by a reload: kept for
    a sink added back) created before `orphaned_before` are marked EXPIRED at `now` (pruned like any done row
    later): a sink added back would give them up at once, and nothing else ever would."""

    before: float
    sinks: tuple[str, ...] = ()
    orphaned_before: float | None = None
    now: float = 0.0
    silences_before: float | None = None  # and the stored silences (`slowatch alerts silence`) ended before it

    def __call__(self, db: Database) -> None:
        if self.silences_before is not None:
            n = len(SILENCE_PREFIX)
            rows = db.conn.execute("SELECT key, value FROM state WHERE substr(key, 1, ?) = ?", (n, SILENCE_PREFIX))
            ended = [(k,) for k, v in rows.fetchall() if _ended(v, self.silences_before)]
            db.conn.executemany("DELETE FROM state WHERE key = ?", ended)
        if self.orphaned_before is not None:
            marks = ", ".join("?" for _ in self.sinks)
            db.conn.execute(
                "UPDATE alert_outbox SET status = 'expired', done_at = ?, last_error = ? "
                f"WHERE status = 'pending' AND created < ? AND sink NOT IN ({marks})",
                (self.now, "sink removed from the config", self.orphaned_before, *self.sinks),
            )
        db.conn.execute("DELETE FROM alert_outbox WHERE status != 'pending' AND done_at < ?", (self.before,))


def _ended(value: str, before: float) -> bool:
    try:
        until = json.loads(value).get("until")
    except (ValueError, AttributeError):
        return False  # not a silence this version wrote: left alone
    return isinstance(until, int | float) and until < before


def load_streaks(db: Database) -> dict[str, tuple[int, int]]:
    return {r[0]: (int(r[1]), int(r[2])) for r in db.execute("SELECT endpoint, fails, oks FROM alert_streaks")}


def load_firing(db: Database) -> list[FiringRow]:
    rows = db.execute("SELECT key, event, notified, last_sent FROM alert_firing ORDER BY key").fetchall()
    return [FiringRow(k, AlertEvent.from_json(e), bool(n), s) for k, e, n, s in rows]


def load_pending(db: Database, sinks: Collection[str] | None = None) -> list[OutboxItem]:
    """The pending rows, oldest first (of `sinks` only, when given: sinks a reload added back)."""
    only = "" if sinks is None else f" AND sink IN ({', '.join('?' for _ in sinks)})"
    rows = db.execute(
        f"SELECT sink, payload, created, attempts, last_error FROM alert_outbox WHERE status = 'pending'{only} "
        "ORDER BY id",
        () if sinks is None else tuple(sinks),
    ).fetchall()
    return [
        OutboxItem(s, AlertEvent.from_json(p), c, a, restored_error(e), restored=True, reached=maybe_received(e))
        for s, p, c, a, e in rows
    ]  # (reached: an Alertmanager re-POST may have carried a row never attempted, attempts 0)


def restored_error(error: str) -> str:
    """A pending row's last error as a restart takes it over: IN_FLIGHT (an attempt of the run that wrote it was
    going out when that run stopped) becomes REACHED_BEFORE, which is what it means now (no attempt of this run
    is going out). Else the row kept the old run's "an attempt going out" text, shown by `slowatch alerts` and
    /api/v1/alerts even once delivered."""
    if not error.endswith(IN_FLIGHT):
        return error
    return error.removesuffix(IN_FLIGHT).rstrip() + REACHED_BEFORE


@dataclass(frozen=True, slots=True)
class OutboxRow:
    sink: str
    event_id: str
    status: str
    created: float
    attempts: int
    last_error: str
    done_at: float | None


def list_outbox(db: Database, limit: int = 50) -> list[OutboxRow]:
    """Pending rows first (oldest first), then the most recent finished ones."""
    sql = (
        "SELECT sink, event_id, status, created, attempts, last_error, done_at FROM alert_outbox "
        "ORDER BY status != 'pending', CASE WHEN status = 'pending' THEN id ELSE -id END LIMIT ?"
    )
    return [OutboxRow(*r) for r in db.execute(sql, (limit,)).fetchall()]


__all__ = [
    "DELIVERED", "EXPIRED", "FAILED", "PENDING", "SUPERSEDED", "WITHHELD", "Decision", "FiringRow", "Mark",
    "OutboxItem", "OutboxRow", "Prune", "Refold", "list_outbox", "load_firing", "load_pending", "load_streaks",
    "restored_error", "supersede",
]  # fmt: skip

"""Tables of the alerting layer (migration v3). The store knows their shape, not their meaning.

    alert_streaks   per endpoint: consecutive failures / successes (capped at the thresholds)
        endpoint TEXT PRIMARY KEY, fails INTEGER, oks INTEGER, updated REAL
    alert_firing    one row per firing alert: its latest firing event (JSON) and notification state
        key TEXT PRIMARY KEY, event TEXT (JSON), notified INTEGER (0/1), last_sent REAL, updated REAL
    alert_outbox    one row per (event, sink): what the dispatcher must deliver, and what it did
        id INTEGER PRIMARY KEY, sink TEXT, event_id TEXT, alert_key TEXT, payload TEXT (JSON),
        created REAL, status TEXT ('pending' | 'delivered' | 'failed' | 'expired' | 'superseded' |
            'withheld'),
        attempts INTEGER, last_error TEXT, done_at REAL
        UNIQUE (sink, event_id); index (status, sink, id)

Silences set from the CLI live in `state` under `alerting.silence.<consumer|endpoint>.<name>`.
"""

from __future__ import annotations

from sqlite_utils import Database


def alert_tables(db: Database) -> None:
    for sql in (
        """CREATE TABLE alert_streaks (
            endpoint TEXT PRIMARY KEY, fails INTEGER NOT NULL, oks INTEGER NOT NULL, updated REAL NOT NULL)""",
        """CREATE TABLE alert_firing (
            key TEXT PRIMARY KEY, event TEXT NOT NULL, notified INTEGER NOT NULL,
            last_sent REAL, updated REAL NOT NULL)""",
        """CREATE TABLE alert_outbox (
            id INTEGER PRIMARY KEY, sink TEXT NOT NULL, event_id TEXT NOT NULL, alert_key TEXT NOT NULL,
            payload TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', done_at REAL,
            UNIQUE (sink, event_id))""",
        "CREATE INDEX alert_outbox_status ON alert_outbox (status, sink, id)",
    ):
        db.execute(sql)


__all__ = ["alert_tables"]

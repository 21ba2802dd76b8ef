"""Annotations: deploys, incidents and notes, with the consumers and endpoints they concern (v10).

    annotations
        id TEXT PRIMARY KEY (random hex), ts REAL (when it happened), kind TEXT (deploy | incident | note),
        text TEXT, consumers TEXT (JSON list), endpoints TEXT (JSON list), source TEXT (who wrote it:
        `api:operator:<token name>`, `api:annotation-token`, `cli`), created REAL; index (ts)

An annotation naming neither consumers nor endpoints concerns every consumer. A consumer's token reads
an annotation `seen_by` it: the other consumers and endpoints it names are left out. Written through
`Store.submit(add_annotation(a))`; read with `list_annotations` on any sqlite3 connection (the
reader thread, or a read-only one from the CLI and reports). Kept forever: a few per day.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlite_utils import Database

KINDS = ("deploy", "incident", "note")


@dataclass(frozen=True, slots=True)
class Annotation:
    ts: float
    kind: str
    text: str
    consumers: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    source: str = ""
    created: float = 0.0
    id: str = field(default_factory=lambda: secrets.token_hex(8))

    def concerns(self, consumer: str, endpoints: Collection[str]) -> bool:
        """Whether it is about `consumer` (by name, by one of its `endpoints`, or about everyone)."""
        if not self.consumers and not self.endpoints:
            return True
        return consumer in self.consumers or any(e in endpoints for e in self.endpoints)

    def seen_by(self, consumer: str, endpoints: Collection[str]) -> Annotation:
        """As `consumer` may see it: of the consumers and endpoints it names, only itself and its `endpoints`."""
        return replace(
            self,
            consumers=tuple(c for c in self.consumers if c == consumer),
            endpoints=tuple(e for e in self.endpoints if e in endpoints),
        )

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["consumers"], doc["endpoints"] = list(self.consumers), list(self.endpoints)
        return doc


def annotation_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE annotations (
            id TEXT PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
            consumers TEXT NOT NULL DEFAULT '[]', endpoints TEXT NOT NULL DEFAULT '[]',
            source TEXT NOT NULL DEFAULT '', created REAL NOT NULL)"""
    )
    db.execute("CREATE INDEX annotations_ts ON annotations (ts)")


def add_annotation(a: Annotation) -> Callable[[Database], None]:
    """A writer op storing `a` (idempotent on its id)."""

    def op(db: Database) -> None:
        db.execute(
            "INSERT OR IGNORE INTO annotations (id, ts, kind, text, consumers, endpoints, source, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [a.id, a.ts, a.kind, a.text, json.dumps(list(a.consumers)), json.dumps(list(a.endpoints)),
             a.source, a.created],
        )  # fmt: skip

    return op


def list_annotations(
    conn: sqlite3.Connection, *, since: float | None = None, until: float | None = None, limit: int = 1000
) -> list[Annotation]:
    """Annotations with since <= ts <= until, oldest first (of equal ts, in the order they were stored), at
    most `limit` (the newest ones).

    A database from before v10 (read-only, never migrated) has none: an empty list."""
    try:
        rows = conn.execute(
            "SELECT id, ts, kind, text, consumers, endpoints, source, created FROM annotations "
            "WHERE ts >= ? AND ts <= ? ORDER BY ts DESC, rowid DESC LIMIT ?",
            (since if since is not None else float("-inf"), until if until is not None else float("inf"), limit),
        ).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise
    out = [
        Annotation(ts, kind, text, tuple(json.loads(cs)), tuple(json.loads(es)), source, created, id_)
        for id_, ts, kind, text, cs, es, source, created in rows
    ]
    return out[::-1]


__all__ = ["KINDS", "Annotation", "add_annotation", "annotation_tables", "list_annotations"]

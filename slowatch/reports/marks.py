"""The annotations a listing, a consumer's page or a report shows: the newest that pass a filter.

`limit` counts what is shown. Cut before the filter (`list_annotations(limit=...)` then `concerns`), a
consumer's `?limit=1` answered [] whenever another consumer had annotated more recently, telling its
token when others did, and the newest 1,000 annotations of all hid a consumer's older deploys from its
page and reports. Read newest first in pages, so a long history is not loaded for the last few.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection

from slowatch.store.annotations import Annotation, list_annotations

FIRST_PAGE = 100
"""Annotations read at first by `newest_matching`; each further read takes the next ones (twice as many
when a read brought nothing new: more than that many share one time)."""


def newest_matching(
    conn: sqlite3.Connection, since: float | None, until: float | None, limit: int, keep: Callable[[Annotation], bool]
) -> list[Annotation]:
    """The newest `limit` annotations in [since, until] that `keep` accepts, oldest first."""
    found: list[Annotation] = []  # newest first
    seen: set[str] = set()
    page, cursor = max(limit, FIRST_PAGE), until
    while True:
        rows = list_annotations(conn, since=since, until=cursor, limit=page)  # oldest first
        new = [a for a in reversed(rows) if a.id not in seen]
        for a in new:
            seen.add(a.id)
            if keep(a):
                found.append(a)
                if len(found) == limit:
                    return found[::-1]
        if len(rows) < page:  # everything in range was read
            return found[::-1]
        cursor = rows[0].ts  # inclusive: the rows of that time not read yet come next
        if not new:
            page *= 2


REPORT_MARKS = 100_000
"""The most annotations concerning one consumer a report reads (a few a day are usual)."""


def concerning(
    conn: sqlite3.Connection, consumer: str, endpoints: Collection[str], *, since: float | None = None,
    until: float | None = None, limit: int = REPORT_MARKS,
) -> list[Annotation]:  # fmt: skip
    """The newest `limit` annotations in [since, until] concerning `consumer` (by name, by one of its
    `endpoints`, or about everyone), oldest first."""
    return newest_matching(conn, since, until, limit, lambda a: a.concerns(consumer, endpoints))


__all__ = ["FIRST_PAGE", "REPORT_MARKS", "concerning", "newest_matching"]

"""Durable history in SQLite: raw results, hourly rollups, incidents and small state.

`Store` is the only entry point for the rest of the daemon; read queries live in `queries` and
are run with `await store.read(fn)`. The schema and its migrations are in `schema`.
"""

from slowatch.store.queries import (
    Counts,
    Incident,
    Rollup,
    StoredResult,
    counts_since,
    get_state,
    get_states,
    history,
    incidents,
    latest_results,
    rollup_counts_since,
    rollups,
)
from slowatch.store.schema import LATENCY_BUCKETS, MIGRATIONS, Migration
from slowatch.store.store import Store

__all__ = [
    "LATENCY_BUCKETS",
    "MIGRATIONS",
    "Counts",
    "Incident",
    "Migration",
    "Rollup",
    "Store",
    "StoredResult",
    "counts_since",
    "get_state",
    "get_states",
    "history",
    "incidents",
    "latest_results",
    "rollup_counts_since",
    "rollups",
]

"""The pack step: folded raw rows older than `retention.pack_after` move from `results` into `result_blocks`.

`results` stays the crash-safe table the writer inserts into (nothing is buffered in memory). Every
`interval` seconds (the fold's) a pass packs the rows that are
  - folded (id <= the fold watermark, fold.py), counted in the persisted SLO state (id <= the SLO
    watermark, slo_tables.py) and not the newest row (ids are never reused), and
  - in a block that ended at least `pack_after` ago (ts < block_of(now - pack_after)),
in transactions of at most `batch` rows, one per writer loop turn (results are written in between).
A transaction reads its rows in (endpoint, ts, id) order through the (endpoint, ts) index, packs each
(endpoint, block) group into one `result_blocks` row (blocks.py) and deletes exactly those rows by id,
so a crash anywhere leaves every result either in `results` or in a block, never both and never
neither. A result arriving after its block was packed is packed later into another row with the same
(endpoint, start): blocks are never read back and rewritten. A pass starts when the cutoff moved to a
new block (every 10 minutes) or the oldest row is due; otherwise there is nothing to pack but rows
that arrived late, and they wait for the next such pass.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.store.blocks import RawRow, block_of, encode
from slowatch.store.fold import watermark
from slowatch.store.schema import RESULT_COLUMNS
from slowatch.store.slo_tables import counted_watermark

logger = logging.getLogger(__name__)

_COLUMNS = ", ".join("iif(outcome = 'success', NULL, phases)" if c == "phases" else c for c in RESULT_COLUMNS)
_SELECT = (  # (the phases of successful results are not kept: not even read)
    f"SELECT id, {_COLUMNS} FROM results "
    "WHERE endpoint >= :after AND ts < :cutoff AND ts > -1e15 AND id <= :top "
    "ORDER BY endpoint, ts, id LIMIT :limit"
)
_INSERT = "INSERT INTO result_blocks (endpoint, start, end, n, data) VALUES (?, ?, ?, ?, ?)"
_DELETE = "DELETE FROM results WHERE id IN (SELECT value FROM json_each(?))"

Transact = Callable[[Callable[[Database], "tuple[int, str | None]"]], "tuple[int, str | None] | None"]
"""Runs a function in one writer transaction; returns its value, or None if the transaction failed."""


def pack_batch(db: Database, cutoff: float, limit: int, after: str = "") -> tuple[int, str | None]:
    """Pack up to `limit` due rows with endpoint >= `after`; return (rows packed, where to go on or None if
    no due rows are left). Runs in the caller's transaction."""
    conn = db.conn
    top = conn.execute("SELECT max(id) FROM results").fetchone()[0]
    if top is None:
        return 0, None
    held = [w for w in (watermark(db), counted_watermark(db), top - 1) if w is not None]
    params = {"after": after, "cutoff": cutoff, "top": min(held), "limit": limit}
    rows: list[RawRow] = conn.execute(_SELECT, params).fetchall()
    more = len(rows) == limit
    groups: list[tuple[str, int, int, int]] = []  # endpoint, start, first row, end row
    for i, row in enumerate(rows):
        key = (row[2], block_of(row[1]))
        if not groups or groups[-1][:2] != key:
            groups.append((*key, i, i + 1))
        else:
            groups[-1] = (*key, groups[-1][2], i + 1)
    if more and len(groups) > 1:  # the last group may go on past the limit: it goes with the next batch
        rows = rows[: groups.pop()[2]]
    blocks = []
    for endpoint, start, first, end in groups:
        last_ts, blob = encode(start, rows[first:end])
        blocks.append((endpoint, start, last_ts, end - first, blob))
    conn.executemany(_INSERT, blocks)
    conn.execute(_DELETE, (json.dumps([row[0] for row in rows]),))
    return len(rows), (rows[-1][2] if more and rows else None)


class Pack:
    """The pack schedule. `tick` is called by the writer thread once per loop turn."""

    def __init__(self, clock: Clock, *, pack_after: float, interval: float, batch: int, path: str = "") -> None:
        self._clock = clock
        self._pack_after = pack_after
        self._interval = interval
        self._batch = batch
        self._path = path
        self._next_due = clock.time()
        self._cutoff: float | None = None  # a pass is under way (up to this ts)
        self._last_cutoff = -1.0
        self._after = ""
        self.packed = 0  # rows packed since start (read by other threads)

    @property
    def busy(self) -> bool:
        """A pass is under way (the writer should not sleep between its transactions)."""
        return self._cutoff is not None

    def tick(self, transact: Transact, due_check: Callable[[float], bool]) -> None:
        if self._cutoff is None:
            now = self._clock.time()
            if now < self._next_due:
                return
            self._next_due = now + self._interval
            cutoff = float(block_of(now - self._pack_after))
            if cutoff <= self._last_cutoff and not due_check(cutoff):
                return
            self._cutoff, self._after, self._last_cutoff = cutoff, "", cutoff
        cutoff, after, limit = self._cutoff, self._after, self._batch
        done = transact(lambda db: pack_batch(db, cutoff, limit, after))
        if done is None:  # the writer logged and counted the failure; the next pass retries
            self._cutoff = None
            return
        self.packed += done[0]
        if done[1] is None:
            self._cutoff = None
        else:
            self._after = done[1]


def oldest_due(db: Database, cutoff: float) -> bool:
    """Whether the oldest raw row (by id) is before `cutoff`: a pass has something to pack."""
    row = db.conn.execute("SELECT ts FROM results ORDER BY id LIMIT 1").fetchone()
    return row is not None and row[0] < cutoff


__all__ = ["Pack", "oldest_due", "pack_batch"]

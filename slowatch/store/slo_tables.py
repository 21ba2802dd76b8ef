"""Tables of the SLO layer (migrations v2, v4 and v8). The store knows their shape; slowatch/slo/persist.py
knows their meaning (ledger cells per SLO fingerprint, and the monotonic event counters).

`slo_watermark.results_id` (v8) is the highest `results.id` the persisted cells and counters include,
written in the same transaction as them. Like the fold's watermark (fold.py) it holds raw rows back:
the pack step and retention leave every row above it in `results`, so a start after a kill can count
exactly the rows the last run stored but never persisted into the SLO state (slo/service.py).
"""

from __future__ import annotations

import logging
import sys
from array import array

from sqlite_utils import Database

logger = logging.getLogger(__name__)


def slo_tables(db: Database) -> None:
    """Migration: the SLO ledger's cells and counters."""
    db.execute(
        """CREATE TABLE slo_cells (
            fingerprint TEXT NOT NULL,
            layer TEXT NOT NULL,
            res INTEGER NOT NULL,
            start INTEGER NOT NULL,
            good INTEGER NOT NULL,
            total INTEGER NOT NULL,
            excluded INTEGER NOT NULL DEFAULT 0,
            good_slices INTEGER NOT NULL DEFAULT 0,
            slices INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (fingerprint, layer, start)) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE slo_counters (
            consumer TEXT NOT NULL,
            slo TEXT NOT NULL,
            events INTEGER NOT NULL,
            good INTEGER NOT NULL,
            PRIMARY KEY (consumer, slo))"""
    )


def slo_fine_blocks(db: Database) -> None:
    """Migration: fine cells packed one row per fingerprint and UTC hour, instead of one per cell.

    `good` and `total` hold the hour's 3600 / res cells as little-endian uint32. Loading 3 days of
    1-minute cells for 600 SLOs was 2.6 M rows (~2 s at start); it is 43,200 rows now. Existing
    fine cells (layer 'f' of slo_cells) are packed here, then removed from slo_cells.
    """
    db.execute(
        """CREATE TABLE slo_fine (
            fingerprint TEXT NOT NULL,
            res INTEGER NOT NULL,
            start INTEGER NOT NULL,
            good BLOB NOT NULL,
            total BLOB NOT NULL,
            PRIMARY KEY (fingerprint, start)) WITHOUT ROWID"""
    )
    rows = db.execute(
        "SELECT fingerprint, res, start, good, total FROM slo_cells WHERE layer = 'f' ORDER BY fingerprint, start"
    )
    blocks: dict[tuple[str, int, int], tuple[array[int], array[int]]] = {}
    for fingerprint, res, start, good, total in rows:
        if res <= 0 or 3600 % res:
            continue  # no such fine cell length is configurable
        hour = start - start % 3600
        key = (fingerprint, res, hour)
        if key not in blocks:
            blocks[key] = (array("I", bytes(4 * (3600 // res))), array("I", bytes(4 * (3600 // res))))
        g, t = blocks[key]
        g[(start - hour) // res], t[(start - hour) // res] = good, total
    for g, t in blocks.values():
        if sys.byteorder == "big":
            g.byteswap()
            t.byteswap()
    db.conn.executemany(
        "INSERT OR REPLACE INTO slo_fine (fingerprint, res, start, good, total) VALUES (?, ?, ?, ?, ?)",
        ((fp, res, hour, g.tobytes(), t.tobytes()) for (fp, res, hour), (g, t) in blocks.items()),
    )
    db.execute("DELETE FROM slo_cells WHERE layer = 'f'")


def slo_watermark(db: Database) -> None:
    """Migration: the SLO state's watermark table (see the module docstring), empty until the SLO service
    first starts on this database (slo/service.py): a store used without it holds no rows back."""
    db.execute(
        "CREATE TABLE slo_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "results_id INTEGER NOT NULL, updated REAL NOT NULL)"
    )


def counted_watermark(db: Database) -> int | None:
    """The highest results.id the persisted SLO state includes; None before the SLO service first started."""
    row = db.conn.execute("SELECT results_id FROM slo_watermark").fetchone()
    return None if row is None else int(row[0])


def set_counted_watermark(db: Database, now: float, results_id: int | None = None) -> None:
    """Mark the results up to `results_id` (default: every row written so far) as included in the SLO
    state, in the caller's transaction."""
    db.conn.execute(
        "INSERT OR REPLACE INTO slo_watermark (id, results_id, updated) "
        "VALUES (1, coalesce(?, (SELECT coalesce(max(id), 0) FROM results)), ?)",
        (results_id, now),
    )


_FINGERPRINTS = (
    "fps(f) AS (SELECT min(fingerprint) FROM {table} UNION ALL "
    "SELECT (SELECT min(fingerprint) FROM {table} WHERE fingerprint > f) FROM fps WHERE f IS NOT NULL)"
)
NEWEST_CELL = (
    f"WITH RECURSIVE {_FINGERPRINTS.format(table='slo_cells')}, "
    "layers(f, l) AS (SELECT f, (SELECT min(layer) FROM slo_cells WHERE fingerprint = f) FROM fps WHERE f IS NOT NULL "
    "UNION ALL SELECT f, (SELECT min(layer) FROM slo_cells WHERE fingerprint = f AND layer > l) FROM layers "
    "WHERE l IS NOT NULL) "
    "SELECT max((SELECT max(start) FROM slo_cells WHERE fingerprint = f AND layer = l)) FROM layers WHERE l IS NOT NULL"
)
"""The newest `slo_cells.start`, found through the primary key (fingerprint, layer, start) one (fingerprint, layer)
at a time: a few seeks per SLO layer. `SELECT max(start)` walked the whole table (no index leads with start):
~0.13 s at 1,000 SLOs with 90 days of hourly cells, on the writer thread at start (benchmarks/README.md, session 10)."""
NEWEST_FINE = (
    f"WITH RECURSIVE {_FINGERPRINTS.format(table='slo_fine')} "
    "SELECT max((SELECT max(start) FROM slo_fine WHERE fingerprint = f)) FROM fps WHERE f IS NOT NULL"
)
"""The newest `slo_fine.start`, likewise one fingerprint at a time through its key (fingerprint, start)."""

MAX_LEAD = 7 * 86400.0
"""`drop_cells_after` drops nothing when the saved cells reach further ahead of now than this: then it is the
clock at this start that is wrong (a machine booted before NTP synced, a reset RTC), not the one that counted
them, and dropping would erase the SLO state of every run up to it."""


def drop_cells_after(db: Database, now: float) -> None:
    """Delete the SLO cells that start after `now`: counts stamped by a run whose wall clock was ahead.

    What the running daemon's rewind does to its rings (slo/ledger_rings.py), for a start behind them: it
    loads only cells up to now, and the rows left behind would be loaded by a later start once the clock
    has passed them, counted again wherever nothing newer had replaced them. Not when they reach more than
    MAX_LEAD ahead: then now is what is wrong (logged as an error; nothing is deleted)."""
    conn = db.conn
    newest = max((conn.execute(sql).fetchone()[0] or 0.0) for sql in (NEWEST_CELL, NEWEST_FINE))
    if newest <= now:
        return
    if newest - now > MAX_LEAD:
        logger.error(
            "slo: the saved SLO state reaches %.1f days past the wall clock: is the clock set (NTP synced)? "
            "nothing dropped; budgets cover only what is counted from now on until a restart with the right "
            "time now=%.0f newest_cell=%.0f", (newest - now) / 86400, now, newest,
        )  # fmt: skip
        return
    cells = conn.execute("DELETE FROM slo_cells WHERE start > ?", (now,)).rowcount
    hours = conn.execute("DELETE FROM slo_fine WHERE start > ?", (now,)).rowcount
    logger.warning(
        "slo: dropped saved cells stamped after now (the wall clock was ahead when they were counted): "
        "coarse_cells=%d fine_hours=%d now=%.0f", cells, hours, now,
    )  # fmt: skip


__all__ = [
    "MAX_LEAD",
    "NEWEST_CELL",
    "NEWEST_FINE",
    "counted_watermark",
    "drop_cells_after",
    "set_counted_watermark",
    "slo_fine_blocks",
    "slo_tables",
    "slo_watermark",
]

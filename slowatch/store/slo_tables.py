"""Tables of the SLO layer (migrations v2 and v4). The store knows their shape; slowatch/slo/persist.py
knows their meaning (ledger cells per SLO fingerprint, and the monotonic event counters).
"""

from __future__ import annotations

import sys
from array import array

from sqlite_utils import Database


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


__all__ = ["slo_fine_blocks", "slo_tables"]

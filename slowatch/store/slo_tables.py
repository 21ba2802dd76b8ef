"""Tables of the SLO layer (migration v2). The store knows their shape; slowatch/slo/persist.py
knows their meaning (ledger cells per SLO fingerprint, and the monotonic event counters).
"""

from __future__ import annotations

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


__all__ = ["slo_tables"]

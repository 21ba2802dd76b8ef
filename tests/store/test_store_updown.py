"""The writer's committed up/down states found by endpoint number (store/updown.py) log the same incidents as the
lookups by name, across rolled-back transactions and the list's numbers starting over."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.models import Outcome
from slowatch.store.incident_log import both
from slowatch.store.recent_ids import RecentIds
from slowatch.store.results import Written, write_results
from slowatch.store.schema import migrate
from slowatch.store.updown import StateCache
from tests.store.helpers import T0, result


def incidents(db: Database) -> list[tuple[object, ...]]:
    select = "SELECT endpoint, ts, from_state, to_state, outcome, message, id FROM incidents "
    return [row[:6] for row in db.conn.execute(both(db.conn, select) + " ORDER BY id")]  # (unfolded: the recent table)


@pytest.mark.parametrize("seed", range(6))
def test_incidents_by_number_equal_those_by_name(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    by_number, by_name = (Database(sqlite3.connect(tmp_path / f"{w}.db", isolation_level=None)) for w in "ab")
    for db in (by_number, by_name):
        db.conn.execute("PRAGMA synchronous = OFF")  # (a test's files: no fsync per commit)
        migrate(db)
    recent = RecentIds()
    recent.start(by_number.conn)
    committed_a: dict[str, str] = {"e1": "down", "e2": "up"}  # as load_states gives them at start
    committed_b = dict(committed_a)
    cache = StateCache(recent, committed_a)
    at = T0
    for step in range(60):
        if rng.random() < 0.1:  # the list starts over (a gap, or a prune that emptied it): new numbers
            recent.start(by_number.conn)
        rs = []
        for _ in range(rng.randrange(0, 12)):
            at += 1
            ok = rng.random() < 0.6
            rs.append(result(f"e{rng.randrange(6)}", Outcome.SUCCESS if ok else Outcome.TIMEOUT, at=at,
                             final=rng.random() < 0.9, message=f"s{step}"))  # fmt: skip
        fail = rng.random() < 0.2
        for _ in range(2 if fail else 1):  # a failed transaction, then the same batch again
            changes: dict[str, str] = {}
            written: list[Written] = []
            cache.begin()
            by_number.conn.execute("BEGIN")
            half = len(rs) // 2  # two runs in one transaction (an op between them in the writer)
            write_results(by_number, rs[:half], changes, written, committed=committed_a, cache=cache)
            write_results(by_number, rs[half:], changes, written, committed=committed_a, cache=cache)
            if fail:
                by_number.conn.execute("ROLLBACK")
                fail = False
                continue
            by_number.conn.execute("COMMIT")
            committed_a.update(changes)
            cache.commit()
            assert [len(numbers) for _, numbers in cache.runs] == [len(rows) for _, rows in written]
            recent.add(written, cache.runs)
        changes_b: dict[str, str] = {}
        write_results(by_name, rs, changes_b, committed=committed_b)
        committed_b.update(changes_b)
        assert committed_a == committed_b
    assert incidents(by_number) == incidents(by_name)
    assert len(incidents(by_name)) > 20

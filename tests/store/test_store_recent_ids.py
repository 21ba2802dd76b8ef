"""Recent rows of a few endpoints read by id from the writer's list (store/recent_ids.py), not by a scan."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from slowatch.clock import FakeClock
from slowatch.store import history
from slowatch.store.raw import oldest_raw, raw_results
from slowatch.store.recent_ids import ListedDatabase, RecentIds
from slowatch.store.results import Written, result_row, write_results
from slowatch.store.schema import migrate
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, mixed, pass_done, result, scalar

HOUR = 3600.0


def steps(conn: sqlite3.Connection, fn: Callable[[], Any]) -> tuple[Any, int]:
    """fn()'s value and the SQLite VM instructions it ran (in hundreds)."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        return fn(), count[0]
    finally:
        conn.set_progress_handler(None, 0)


def both(db: Database, endpoints: list[str]) -> tuple[Any, Any]:
    """What the reader connection reads for `endpoints` (listed ids), and what a scan of `results` reads."""
    plain = Database(db.conn)
    listed = [(raw_results(db, [ep]), oldest_raw(db, [ep])) for ep in endpoints]
    scanned = [(raw_results(plain, [ep]), oldest_raw(plain, [ep])) for ep in endpoints]
    return listed, scanned


async def test_one_endpoints_history_reads_its_rows_by_id_not_the_whole_table(make_store: MakeStore) -> None:
    store = make_store()
    await store.start()
    for k in range(40):
        for i in range(200):
            store.record(result(f"ep{i:03d}", at=T0 + k * 60 + i * 0.1, message=f"m{k}"))
    await store.flush()
    assert await store.read(lambda db: isinstance(db, ListedDatabase))

    def read(db: Database) -> tuple[Any, ...]:
        listed, by_id = steps(db.conn, lambda: history(db, "ep123", limit=100))
        scanned, by_scan = steps(db.conn, lambda: history(Database(db.conn), "ep123", limit=100))
        return listed, by_id, scanned, by_scan

    listed, by_id, scanned, by_scan = await store.read(read)
    assert listed == scanned and [r.message for r in listed] == [f"m{k}" for k in range(39, -1, -1)]
    assert by_id * 20 < by_scan, (by_id, by_scan)  # 40 rows looked up, against 8,000 read


async def test_listed_reads_equal_the_scan_across_restart_gap_and_packing(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    eps = [f"ep{i}" for i in range(7)]
    first = make_store(rollup_interval=60.0)
    await first.start()
    for r in mixed(150, seed=3):
        first.record(r)
    await first.flush()
    await first.close()

    store = make_store(rollup_interval=60.0)  # the rows from before the restart: not listed (read by range)
    await store.start()
    for r in mixed(150, seed=4, start=T0 + 150 * 37):
        store.record(r)
    await store.flush(fold=False)
    listed, scanned = await store.read(lambda db: both(db, eps))
    assert listed == scanned and sum(len(rows) for rows, _ in listed) == 300

    def sneak(db: Database) -> None:  # a row the writer's runs did not bring: the list starts over after it
        db.conn.execute("INSERT INTO results (ts, endpoint, kind, outcome, duration) VALUES (?, 'ep3', 'http', "
                        "'success', 0.1)", (T0 + 400 * 37,))  # fmt: skip

    store.submit(sneak)
    for r in mixed(40, seed=5, start=T0 + 300 * 37):
        store.record(r)
    await store.flush()
    listed, scanned = await store.read(lambda db: both(db, eps))
    assert listed == scanned and sum(len(rows) for rows, _ in listed) == 341

    clock.set(T0 + 12 * HOUR)  # every block due: a pass packs all but the newest row, then a fold prunes the list
    await eventually(lambda: scalar(db_path, "SELECT count(*) FROM results") == 1 and pass_done(db_path))
    await store.flush()
    recent = store._writer.recent
    assert recent.floor == scalar(db_path, "SELECT min(id) FROM results") and recent.rows == 1  # (the newest)
    listed, scanned = await store.read(lambda db: both(db, eps))
    assert listed == scanned and sum(len(rows) for rows, _ in listed) == 341


def test_a_reader_whose_snapshot_predates_a_delete_still_reads_the_deleted_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "snap.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    migrate(Database(writer))
    recent = RecentIds()
    recent.start(writer)

    def write(n: int, start: float) -> None:
        written: list[Written] = []
        writer.execute("BEGIN IMMEDIATE")
        write_results(Database(writer), [result(f"e{k % 3}", at=start + k) for k in range(n)], {}, written)
        writer.execute("COMMIT")
        recent.add(written)

    write(30, T0)
    reader = sqlite3.connect(path, isolation_level=None)
    db = ListedDatabase(reader, recent)
    reader.execute("BEGIN")
    before = [raw_results(db, [f"e{k}"]) for k in range(3)]  # (the snapshot is taken here)
    writer.execute("DELETE FROM results WHERE id <= 20")  # as a pack pass deletes what it packed
    recent.prune(writer)
    assert recent.floor == 21 and recent.rows == 10
    assert [raw_results(db, [f"e{k}"]) for k in range(3)] == before  # found in the `id < floor` range
    reader.execute("ROLLBACK")
    assert sum(len(raw_results(db, [f"e{k}"])) for k in range(3)) == 10


def test_rows_the_list_did_not_see_are_read_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "gap.db"), isolation_level=None)
    migrate(Database(conn))
    recent = RecentIds()
    recent.start(conn)
    insert = "INSERT INTO results (ts, endpoint, kind, outcome, duration, status_code, message, attempt, final, " \
             "phases, cert_expiry, final_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # fmt: skip
    rows = [result_row(result("a", at=T0 + k)) for k in range(5)]
    conn.executemany(insert, rows)
    recent.add([(1, rows)])
    conn.executemany(insert, [result_row(result("a", at=T0 + 9)), result_row(result("b", at=T0 + 9))])  # 6, 7:
    conn.execute("DELETE FROM results WHERE id <= 6")  # written by someone else, not listed; then 1-6 deleted
    recent.prune(conn)
    assert (recent.floor, recent.known, recent.rows) == (6, 5, 0)  # the floor never passes known + 1: the two
    db = ListedDatabase(conn, recent)  # ranges stay apart
    assert [r[0] for r in raw_results(db, ["a", "b"])] == [7]
    more = [result_row(result("a", at=T0 + 10))]
    conn.execute(insert, more[0])
    recent.add([(8, more)])  # not known + 1: the list starts over from this run
    assert (recent.floor, recent.known) == (8, 8)
    assert [r[0] for r in raw_results(db, ["a", "b"])] == [7, 8]
    assert oldest_raw(db, ["a"]) == T0 + 10


def test_lookup_of_few_and_many_endpoints_gives_their_ids_at_or_above_the_floor(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "runs.db"), isolation_level=None)
    migrate(Database(conn))
    recent = RecentIds()
    recent.start(conn)
    names = [f"e{(k * 7919) % 300}" for k in range(3000)]  # 300 endpoints (numbers past one byte), mixed order
    first = 1
    for k in range(0, 3000, 250):  # runs of 250 rows
        recent.add([(first, [(T0, name) for name in names[k : k + 250]])])
        first += 250
    with conn:  # (one transaction)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO results (id, ts, endpoint, kind, outcome, duration) VALUES (?, ?, ?, "
                         "'http', 'success', 0.1)", [(i, T0, names[i - 1]) for i in range(1101, 3001)])  # fmt: skip
    recent.prune(conn)  # rows 1-1100 gone: the floor in the middle of a run
    assert (recent.floor, recent.known, recent.rows) == (1101, 3000, 1900)

    def want(eps: list[str]) -> list[int]:
        return [i for i in range(1101, 3001) if names[i - 1] in eps]

    for eps in (["e0"], ["e1", "e256", "e299"], [f"e{i}" for i in range(0, 300, 3)], ["nope"]):
        found = recent.lookup(eps, 10_000)
        assert found is not None and found == (1101, 3000, want(eps)), eps
    assert recent.lookup([f"e{i}" for i in range(0, 300, 3)], 100) is None  # more than `most`: a scan instead

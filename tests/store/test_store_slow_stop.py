"""A stop on a healthy but slow database: what can be written is written, even when the grace is used up."""

from __future__ import annotations

import time

from sqlite_utils import Database

from tests.store.conftest import MakeStore
from tests.store.helpers import T0, query_value, result

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25) SELECT sum(slow(x)) FROM c"


def slow_write(db: Database) -> None:
    """A transaction's statement that takes 2.5 s and then writes (a big fold or batch on a slow disk)."""

    def slow(x: int) -> int:
        time.sleep(0.1)
        return x

    db.conn.create_function("slow", 1, slow)
    db.conn.execute(SLOW).fetchone()
    db.conn.execute("INSERT INTO state (key, value, updated) VALUES ('slow', '1', 0)")


async def test_a_stop_with_its_grace_used_up_does_not_interrupt_a_healthy_transaction(
    make_store: MakeStore, db_path: str
) -> None:
    """The daemon's stop gives the store's close what is left of `shutdown_grace` (0 s once the SLO flush waited
    for a big backlog on a slow disk); the close then interrupted the writer as soon as no transaction had committed
    for that + 1 s: a healthy transaction taking longer (a batch or the fold at close on a slow disk) was aborted,
    and it and everything queued behind it lost, where the close before waited `close_timeout` (10 s)."""
    store = make_store(close_timeout=10.0)
    await store.start()
    await store.flush()
    store.submit(slow_write)
    for i in range(100):
        store.record(result(at=T0 + i))
    await store.close(retry_for=0.0)
    assert store.last_error is None, store.last_error
    assert query_value(db_path, "SELECT count(*) FROM state WHERE key = 'slow'") == 1
    assert query_value(db_path, "SELECT count(*) FROM results") == 100

"""Results, batching, rollups, incidents, state and queries against a real SQLite file."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlite_utils import Database

from slowatch.errors import StoreError
from slowatch.models import Outcome
from slowatch.store import (
    LATENCY_BUCKETS,
    Store,
    counts_since,
    history,
    incidents,
    latest_results,
    rollup_counts_since,
    rollups,
)
from slowatch.store.retention_clock import RUN_KEY, STATE_KEY
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, result, settled

HOUR = 3600.0


async def test_results_are_written_and_read_back(store: Store) -> None:
    full = result(
        "api", Outcome.HTTP_STATUS, at=T0 + 5, duration=0.25, message="503 Service Unavailable",
        status_code=503, phases={"connect": 0.01, "ttfb": 0.2}, cert_expiry=T0 + 86400,
        final_url="https://api.example/health", attempt=2, final=True,
    )  # fmt: skip
    store.record(result("api", at=T0))
    store.record(full)
    store.record(result("db", at=T0 + 1))
    await store.flush()
    assert store.pending == 0
    assert store.committed == 3

    rows = await store.read(lambda db: history(db, "api"))
    assert [r.ts for r in rows] == [T0 + 5, T0]  # newest first
    assert rows[0].to_probe_result() == full
    assert rows[0].id is not None

    latest = await store.read(latest_results)
    assert set(latest) == {"api", "db"}
    assert latest["api"].to_probe_result() == full
    only = await store.read(lambda db: latest_results(db, ["db"]))
    assert list(only) == ["db"]


async def test_history_range_limit_and_final_only(store: Store) -> None:
    for i in range(10):
        store.record(result(at=T0 + i, final=i % 2 == 0, outcome=Outcome.TIMEOUT))
    await store.flush()
    ranged = await store.read(lambda db: history(db, "api", since=T0 + 2, until=T0 + 8, limit=3))
    assert [r.ts for r in ranged] == [T0 + 7, T0 + 6, T0 + 5]
    finals = await store.read(lambda db: history(db, "api", final_only=True))
    assert [r.ts for r in finals] == [T0 + 8, T0 + 6, T0 + 4, T0 + 2, T0]
    assert await store.read(lambda db: history(db, "other")) == []


async def test_many_records_are_written_in_few_transactions(make_store: MakeStore) -> None:
    seen: list[float] = []
    store = make_store(batch_interval=30.0, observe_write=seen.append)
    await store.start()
    await store.prune()
    await settled(store)  # (the pack schedule's first look, a transaction of its own, is over)
    before, observed = store.transactions, len(seen)
    for i in range(5_000):
        store.record(result(f"ep{i % 50}", at=T0 + i * 0.01))
    assert store.pending == 5_000
    await store.flush()
    assert store.transactions - before == 1
    assert len(seen) - observed == 1 and seen[-1] > 0
    assert await store.read(lambda db: db["results"].count) == 5_000


async def test_ops_run_in_order_after_the_results_recorded_before_them(store: Store) -> None:
    seen: list[int] = []

    def count(db: Database) -> None:
        seen.append(db.execute("SELECT count(*) FROM results").fetchone()[0])

    store.record(result(at=T0))
    store.submit(count)
    store.record(result(at=T0 + 1))
    store.record(result(at=T0 + 2))
    store.submit(count)
    await store.flush()
    assert seen == [1, 3]


async def test_a_failing_op_is_dropped_and_counted_without_losing_the_batch(store: Store) -> None:
    def bug(db: Database) -> None:
        raise ZeroDivisionError("a bug in another layer")

    store.record(result(at=T0))
    store.submit(bug)
    store.put_state("after", 1)
    await store.flush()
    assert store.rejected == 1
    assert store.healthy
    assert store.write_errors == 0
    assert await store.read(lambda db: db["results"].count) == 1
    assert await store.get_state("after") == 1


async def test_rollups_count_final_attempts_per_hour(store: Store) -> None:
    store.record(result(at=T0 + 10, duration=0.004))  # <= 5ms
    store.record(result(at=T0 + 20, duration=0.3))  # <= 500ms
    store.record(result(at=T0 + 30, duration=7.0))  # <= 10s
    store.record(result(at=T0 + 40, outcome=Outcome.TIMEOUT, duration=5.0))
    store.record(result(at=T0 + 50, outcome=Outcome.TIMEOUT, duration=5.0, attempt=1, final=False))
    store.record(result(at=T0 + 60, outcome=Outcome.CONNECTION_REFUSED, duration=0.001))
    await store.flush()
    # a second batch upserts into the same hour, and a third result lands in the next hour
    store.record(result(at=T0 + 70, duration=0.05))
    store.record(result(at=T0 + HOUR + 1, duration=20.0))
    store.record(result("other", at=T0 + 1))
    await store.flush()

    first, second = await store.read(lambda db: rollups(db, "api", since=T0 + 1800))
    assert (first.hour, first.total, first.good) == (T0, 6, 4)
    assert first.latency_sum == pytest.approx(0.004 + 0.3 + 7.0 + 0.05)
    assert first.mean_latency == pytest.approx((0.004 + 0.3 + 7.0 + 0.05) / 4)
    expected = tuple(sum(d <= b for d in (0.004, 0.3, 7.0, 0.05)) for b in LATENCY_BUCKETS)
    assert first.buckets == expected == (1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4)
    assert first.outcomes == {"success": 4, "timeout": 1, "connection_refused": 1}
    assert (second.hour, second.total, second.good, second.buckets[-1]) == (T0 + HOUR, 1, 1, 0)
    assert await store.read(lambda db: rollups(db, "api", since=T0, until=T0 + HOUR)) == [first]

    by_rollup = await store.read(lambda db: rollup_counts_since(db, T0 + 10))
    assert (by_rollup["api"].total, by_rollup["api"].good, by_rollup["other"].total) == (7, 5, 1)
    exact = await store.read(lambda db: counts_since(db, T0 + 30))
    assert (exact["api"].total, exact["api"].good) == (5, 3)
    assert list(await store.read(lambda db: counts_since(db, T0, endpoint="other"))) == ["other"]


async def test_incidents_follow_final_state_changes_and_survive_restart(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    outcomes = [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.HTTP_STATUS, Outcome.SUCCESS]
    for i, outcome in enumerate(outcomes):
        store.record(result(outcome=outcome, at=T0 + i, message=outcome.value))
    store.record(result(outcome=Outcome.TIMEOUT, at=T0 + 10, final=False))  # a retried attempt
    store.record(result("db", Outcome.DNS_ERROR, at=T0 + 11))
    await store.flush()
    log = await store.read(lambda db: incidents(db, "api"))
    assert [(i.ts, i.from_state, i.to_state, i.outcome) for i in log] == [
        (T0 + 4, "down", "up", "success"),
        (T0 + 2, "up", "down", "timeout"),
        (T0, "unknown", "up", "success"),
    ]
    assert log[1].message == "timeout"
    assert len(await store.read(lambda db: incidents(db, limit=2))) == 2
    assert len(await store.read(lambda db: incidents(db, since=T0 + 3))) == 2
    await store.close()

    again = make_store(db_path)
    await again.start()
    again.record(result(at=T0 + 20))  # still up: no new incident
    again.record(result("db", Outcome.DNS_ERROR, at=T0 + 21))  # still down: none either
    await again.flush()
    assert len(await again.read(lambda db: incidents(db))) == 4
    again.record(result(outcome=Outcome.TIMEOUT, at=T0 + 30))
    await again.flush()
    newest = (await again.read(lambda db: incidents(db, limit=1)))[0]
    assert (newest.endpoint, newest.from_state, newest.to_state) == ("api", "up", "down")


async def test_history_and_state_survive_restart(make_store: MakeStore, db_path: str, clock: object) -> None:
    store = make_store()
    await store.start()
    store.record(result(at=T0))
    store.put_state("slo/api/window", {"good": 3, "bad": 1})
    store.put_state("slo/web/window", [1, 2])
    store.put_state("alert/outbox", "x")
    await store.close()

    again = make_store(db_path)
    await again.start()
    assert [r.ts for r in await again.read(lambda db: history(db, "api"))] == [T0]
    assert await again.get_state("slo/api/window") == {"good": 3, "bad": 1}
    assert await again.get_state("missing") is None
    assert await again.get_states("slo/") == {"slo/api/window": {"good": 3, "bad": 1}, "slo/web/window": [1, 2]}
    again.put_state("slo/web/window", None)
    await again.flush()
    assert (await again.get_states("slo/w")) == {"slo/web/window": None}
    retention_keys = {STATE_KEY, RUN_KEY}
    assert (await again.get_states()).keys() - retention_keys == {"alert/outbox", "slo/api/window", "slo/web/window"}
    with pytest.raises(TypeError):
        again.put_state("bad", object())


async def test_reads_run_on_a_reader_thread_and_cannot_write(store: Store) -> None:
    name = await store.read(lambda db: threading.current_thread().name)
    assert name.startswith("slowatch-store-reader")
    with pytest.raises(StoreError, match="readonly"):
        await store.read(lambda db: db.conn.execute("DELETE FROM results"))


async def test_lifecycle_misuse_is_a_clear_error(make_store: MakeStore) -> None:
    store = make_store()
    with pytest.raises(StoreError, match="not started"):
        await store.flush()
    await store.start()
    assert store.healthy
    with pytest.raises(StoreError, match="already started"):
        await store.start()
    await store.close()
    assert not store.healthy
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.read(lambda db: 1)
    store.record(result())  # after close: counted, not queued
    assert store.dropped == 1 and store.pending == 0


async def test_a_malformed_result_is_rejected_alone(store: Store) -> None:
    store.record(result(at=T0))
    store.record(result(at=T0 + 1, duration="slow"))  # type: ignore[arg-type]  # a bug upstream
    store.record(result(at=T0 + 2))
    await store.flush()
    assert (store.rejected, store.committed, store.write_errors) == (1, 2, 0)
    assert [r.ts for r in await store.read(lambda db: history(db, "api"))] == [T0 + 2, T0]


async def test_undecodable_text_from_a_target_is_stored_with_replacement_characters(store: Store) -> None:
    """A lone surrogate (bytes a library decoded with `surrogateescape`) in a message or final URL made SQLite
    refuse the whole batch, and the writer retried it forever: nothing more was stored."""
    store.record(result(at=T0, message="bad \udcff byte"))
    store.record(result(at=T0 + 1, final_url="http://x/\udcfe"))
    store.record(result(at=T0 + 2))
    await asyncio.wait_for(store.flush(), 10)
    assert (store.committed, store.write_errors) == (3, 0)
    rows = await store.read(lambda db: history(db, "api"))
    assert [(r.message, r.final_url) for r in rows][1:] == [("", "http://x/\ufffd"), ("bad \ufffd byte", None)]

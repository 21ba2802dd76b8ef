"""Packed raw results: the block codec, the pack step, the merged read path and retention of blocks."""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.models import Outcome
from slowatch.store import blocks, history, rollups
from slowatch.store.block_columns import general_planes
from slowatch.store.blocks import BLOCK, OUTCOME_CODES, block_of, decode, encode
from slowatch.store.phase_codec import as_json
from slowatch.store.phase_codec import encode as encode_phases
from slowatch.store.raw import oldest_raw, raw_results
from slowatch.store.slo_tables import set_counted_watermark
from slowatch.web.api import result_json
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, mixed, pass_done, result
from tests.store.helpers import query_value as scalar
from tests.store.recompute import assert_exact

HOUR = 3600.0
REPO = Path(__file__).resolve().parents[2]
PACKED = T0 + 2 * HOUR  # a clock at which every block of `mixed(...)` from T0 is due (n <= ~150)


def packed_form(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """What a raw row (id, *RESULT_COLUMNS) reads back as once packed (see blocks.py)."""
    _, ts, ep, kind, outcome, duration, status, message, attempt, final, phases, cert, url = row
    start = block_of(ts)
    packed_ts = start + math.floor((ts - start) * 1000 + math.ulp(ts) * 900) / 1000
    kept_phases = None if outcome == "success" else as_json(phases)  # JSON text, also of a binary form
    return (None, packed_ts, ep, kind, outcome, packed_duration(duration), status, message, attempt, final,
            kept_phases, cert, url)  # fmt: skip


def packed_duration(duration: float) -> float:
    """Whole µs, rounded up (never below the measured duration)."""
    us = round(duration * 1e6)
    return (us + (us / 1e6 < duration)) / 1e6


EDGES = [0.005, 0.25, 0.3, 0.1 + 0.2, math.nextafter(0.005, 1), math.nextafter(0.25, 0), 1e-7, 1e9, math.inf]
_rows = st.lists(
    st.tuples(
        st.floats(0, BLOCK, exclude_max=True),  # ts offset
        st.sampled_from(["http", "tcp", "tls"]),
        st.sampled_from([*OUTCOME_CODES, "from_the_future"]),
        st.one_of(st.floats(0, 5000, allow_nan=False), st.sampled_from(EDGES)),
        st.one_of(st.none(), st.integers(-5, 70_000)),
        st.text(max_size=8),
        st.integers(0, 300),
        st.booleans(),
        st.one_of(st.none(), st.just('{"connect":0.1,"tls":1e-300}'), st.just(encode_phases({"tls": 1e-300}))),
        st.one_of(st.none(), st.floats(0, 2e9)),
        st.one_of(st.none(), st.sampled_from(["https://a.example/x", "http://b/é?q=redacted"])),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_rows)
def test_a_block_decodes_to_what_was_packed(spec: list[tuple[Any, ...]]) -> None:
    start = block_of(T0 + 7 * BLOCK)
    rows = sorted(
        ((i, start + off, "ep", kind, outcome, dur, status, msg, attempt, 1 if final else 0, phases, cert, url)
         for i, (off, kind, outcome, dur, status, msg, attempt, final, phases, cert, url) in enumerate(spec)),
        key=lambda r: (r[1], r[0]),
    )  # fmt: skip
    end, blob = encode(start, rows)
    assert blob[0] == 1 and end == max(r[1] for r in rows)
    back = decode("ep", start, blob)
    assert len(back) == len(rows)
    for got, row in zip(back, rows, strict=True):
        if math.isfinite(row[5]) and 0 <= round(row[5] * 1e6) < 0xFFFFFFFF - 1:
            want = packed_form(row)
        else:  # kept exactly, out of the column's range
            shape = packed_form((*row[:5], 0.0, *row[6:]))
            want = (*shape[:5], row[5], *shape[6:])
        assert got[2:] == want[2:]
        assert abs(got[1] - row[1]) < 0.001 and int(got[1] // 60) == int(row[1] // 60)
        for threshold in (0.005, 0.25, 0.3, 1.0):  # latency SLIs answer the same
            assert (got[5] <= threshold) == (row[5] <= threshold)


ODD = {  # per column: values the fast path must leave to the general one, or store as it would
    5: [0.0, -0.0, 1e-7, 4294.967294, 4294.967295, 4295.0, math.inf, -math.inf, math.nan, -1e-9, 5],
    6: [None, 0, 0.0, 200.0, True, False, -1, 0xFFFE, 0xFFFF, 70_000, 500],
    8: [0, 254, 255, 256, -1, 1.0, True, 2],
    9: [0, 1, True, False, 2, 0.0, None],
    4: ["from_the_future", "timeout", Outcome.SUCCESS, Outcome.TIMEOUT],
    3: ["tcp", "", None, 7],
    11: [None, 1.9e9, 1_900_000_000, math.inf],
    12: [None, "https://b.example/é", ""],
}
_typical_with_odd_values = st.tuples(
    st.lists(st.floats(0, BLOCK, exclude_max=True), min_size=1, max_size=40),  # ts offsets
    st.sampled_from(["http", "tcp", ""]),
    st.sampled_from([200, None, 404]),
    st.one_of(st.none(), st.just(1.9e9)),
    st.one_of(st.none(), st.just("http://127.0.0.1:33001/fast/42")),
    st.lists(st.tuples(st.integers(0, 39), st.sampled_from(sorted(ODD)), st.integers(0, 11)), max_size=3),
    st.sampled_from([0.0, -0.004, -5.0]),  # the first ts's offset: at or before the block start
)


def assert_fast_path_writes_what_the_general_path_writes(start: int, block: list[tuple[Any, ...]]) -> None:
    """`encode`'s fast path either leaves the block to the general one (blocks._fixed_planes is None) or
    writes its very planes, and then the rows read back with their values and types."""
    _, tss, _, _, outcomes, durations, statuses, _, attempts, finals, _, _, _ = zip(*block, strict=True)
    fast = blocks._fixed_planes(start, tss, outcomes, durations, statuses, attempts, finals)
    nudge = math.ulp(start + BLOCK) * 900
    ms = [math.floor((t - start) * 1000 + nudge) for t in tss]
    codes = [blocks._CODE.get(o) for o in outcomes]
    side: dict[str, Any] = {}
    general = b"".join(general_planes(ms, codes, (outcomes, durations, statuses, attempts, finals), side))
    assert fast is None or (fast == general and side == {})
    back = decode("ep", start, encode(start, block)[1])
    if fast is None:  # the general path's (the first encoder's) own ways: the tests above and the pinned bodies
        return
    for got, row in zip(back, block, strict=True):  # in range: kept as they were, types included
        for column in (4, 6, 8):  # (a bool status or attempt reads back as the int it is)
            want = row[column].value if isinstance(row[column], Outcome) else row[column]
            assert got[column] == want and (type(want) is bool or type(got[column]) is type(want))
        assert [got[3], got[11], got[12]] == [row[3], row[11], row[12]]  # runs of equal values (1.9e9 == 1.9e9 int)
        assert got[9] == bool(row[9]) and 0 <= got[5] - row[5] < 1e-6


def test_each_odd_value_in_a_usual_block_is_stored_as_the_general_path_stores_it() -> None:
    start = block_of(T0 + 3 * BLOCK)
    usual = [(i, start + 3.7 + i * 60, "ep", "http", "success", 0.0004 + i / 1e4, 200, "", 1, 1, None, None,
              "http://127.0.0.1:33001/fast/42") for i in range(10)]  # fmt: skip
    for column, values in ODD.items():
        for value in values:
            for i in (0, 4, 9):
                block = [(*row[:column], value, *row[column + 1 :]) if j == i else row for j, row in enumerate(usual)]
                assert_fast_path_writes_what_the_general_path_writes(start, block)


@settings(max_examples=400, deadline=None)
@given(_typical_with_odd_values)
def test_the_fast_path_writes_what_the_general_path_writes(spec: tuple[Any, ...]) -> None:
    """Usual blocks (one kind, status, URL throughout) with a few odd values anywhere."""
    offsets, kind, status, cert, url, odd, first = spec
    start = block_of(T0 + 3 * BLOCK)
    rows = [[i, start + off, "ep", kind, "success", 0.0004 + off / 1e4, status, "", 1, 1, None, cert, url]
            for i, off in enumerate(sorted([first, *offsets]))]  # fmt: skip
    for i, column, k in odd:
        rows[i % len(rows)][column] = ODD[column][k % len(ODD[column])]
    assert_fast_path_writes_what_the_general_path_writes(start, [tuple(row) for row in rows])


def test_successful_results_pack_small() -> None:
    start = block_of(T0)
    rows = [(i, start + 3.7 + i * 30 + i % 3 * 0.0013, "ep-000042", "http", "success", 0.0005 + i % 7 * 0.0004, 200,
             "", 1, 1, '{"connect":0.0001,"processing":0.0002}', None, "http://127.0.0.1:33001/fast/42")
            for i in range(20)]  # fmt: skip
    _, blob = encode(start, rows)
    assert len(blob) < 160  # ~7 bytes per result before the row and index overhead


async def test_packed_history_reads_back_like_the_rows_it_replaced(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=60.0)
    await store.start()
    recorded = mixed(150, seed=11)
    for r in recorded:
        store.record(r)
    await store.flush()
    before = await store.read(lambda db: raw_results(db))
    endpoints = sorted({r.endpoint for r in recorded})
    api_before = await store.read(lambda db: {ep: history(db, ep, limit=10_000) for ep in endpoints})
    assert_exact(db_path)
    clock.set(PACKED)
    # all but the newest row (ids are never reused); once the pass ended they are gone from `results`
    await eventually(lambda: store.packed == len(recorded) - 1 and pass_done(db_path))
    assert scalar(db_path, "SELECT count(*) FROM results") == 1
    newest = max(row[0] for row in before)
    after = await store.read(lambda db: raw_results(db))
    assert sorted(map(repr, after)) == sorted(repr(row if row[0] == newest else packed_form(row)) for row in before)

    def shown(r: Any) -> dict[str, Any]:  # what /api/v1/endpoints/X/results shows, but started_at (to the ms)
        doc = result_json(r.to_probe_result())
        assert doc is not None
        return {**doc, "started_at": None, "final": r.final}

    for ep, rows in api_before.items():
        api_after = await store.read(lambda db, ep=ep: history(db, ep, limit=10_000))  # type: ignore[misc]
        assert {r.id for r in api_after} <= {None, newest}
        for b, a in zip(rows, api_after, strict=True):  # the same results, in the same order
            want = shown(b)
            if a.id is None:  # packed: phases of a success not kept; duration rounded up to the µs
                want["duration_seconds"] = round(packed_duration(b.duration), 6)
                want["phases"] = {} if b.outcome is Outcome.SUCCESS else want["phases"]
            assert shown(a) == want
            assert abs(a.ts - b.ts) < 0.001
    (hour, *_) = await store.read(lambda db: rollups(db, "ep1", since=T0))
    assert hour.total == sum(1 for r in recorded if r.endpoint == "ep1" and r.final and r.started_at < T0 + HOUR)


async def test_a_late_result_for_a_packed_block_gets_a_block_row_of_its_own(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=60.0)
    await store.start()
    for i in range(10):
        store.record(result(at=T0 + i * 30, duration=0.01 * i))
    store.record(result("other", at=T0 + 2 * BLOCK))  # the newest row stays in `results`
    await store.flush()
    clock.set(T0 + BLOCK + 900)
    await eventually(lambda: store.packed == 10)
    store.record(result(at=T0 + 45, outcome=Outcome.TIMEOUT, message="late", phases={"connect": 0.5}))
    store.record(result("other", at=T0 + 2 * BLOCK + 1))
    await store.flush()
    clock.advance(60)  # the pack cutoff has not moved and the oldest row is not due: no pass
    await store.flush()
    await store.flush()
    assert store.packed == 10
    clock.advance(BLOCK)  # the cutoff moves a block on: a pass packs the late row (not the newest one)
    await eventually(lambda: store.packed == 11)
    blocks = sqlite3.connect(db_path).execute("SELECT endpoint, start, n FROM result_blocks ORDER BY id").fetchall()
    assert blocks == [("api", T0, 10), ("api", T0, 1)]
    rows = await store.read(lambda db: history(db, "api"))
    assert [r.ts for r in rows] == sorted([T0 + i * 30 for i in range(10)] + [T0 + 45], reverse=True)
    late = next(r for r in rows if r.message == "late")
    assert (late.outcome, late.phases, late.id) == (Outcome.TIMEOUT, {"connect": 0.5}, None)
    assert [r.ts for r in await store.read(lambda db: history(db, "api", since=T0 + 40, until=T0 + 95))] == [
        T0 + 90, T0 + 60, T0 + 45,
    ]  # fmt: skip
    (hour,) = await store.read(lambda db: rollups(db, "api", since=T0))
    assert (hour.total, hour.good, hour.outcomes) == (11, 10, {"success": 10, "timeout": 1})


async def test_the_read_path_merges_blocks_and_recent_rows(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(rollup_interval=60.0)
    await store.start()
    times = [T0 + i * 20 for i in range(90)]  # 30 min: three blocks
    for i, at in enumerate(times):
        store.record(result(at=at, final=i % 4 != 1, attempt=1 + (i % 4 == 1)))
    await store.flush()
    clock.set(T0 + 2 * BLOCK + 900)  # the first two blocks are due, the third is not
    await eventually(lambda: store.packed == 60)
    newest = await store.read(lambda db: history(db, "api", limit=40))
    assert [r.ts for r in newest] == times[::-1][:40]
    assert {r.id is None for r in newest} == {True, False}  # both tables
    assert [r.ts for r in await store.read(lambda db: history(db, "api", limit=1000))] == times[::-1]
    finals = await store.read(lambda db: history(db, "api", final_only=True, since=T0 + 500, until=T0 + 1300))
    assert [r.ts for r in finals] == [at for i, at in enumerate(times) if i % 4 != 1 and 500 <= at - T0 < 1300][::-1]
    oldest_first = await store.read(lambda db: raw_results(db, ["api"], T0 + 590, T0 + 610))
    assert [row[1] for row in oldest_first] == [T0 + 600]
    assert await store.read(lambda db: oldest_raw(db, ["api"])) == T0 + BLOCK - 20  # the first block's end
    assert await store.read(lambda db: oldest_raw(db, ["nope"])) is None


async def test_retention_deletes_a_block_once_all_its_rows_expired(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(retention=RetentionConfig(raw=HOUR), rollup_interval=60.0, retention_interval=1e9,
                       retention_batch=2)  # fmt: skip
    await store.start()
    await store.prune()  # the pass due at start is over: none again (retention_interval)
    for ep in ("a", "b", "c"):
        for i in range(6):
            store.record(result(ep, at=T0 + i * 200))  # blocks T0 and T0 + 600
    store.record(result("z", at=T0 + 3 * HOUR))
    await store.flush()
    clock.set(T0 + HOUR + 300)
    await eventually(lambda: store.packed == 18)
    deleted = await store.prune()  # cutoff T0 + 300: the T0 blocks still hold rows at T0 + 400
    assert deleted["result_blocks"] == 0
    clock.set(T0 + HOUR + 600)  # cutoff T0 + 600 > every ts of the T0 blocks (T0 + 400 the latest)
    deleted = await store.prune()
    assert deleted["result_blocks"] == 3  # in transactions of two
    left = await store.read(lambda db: raw_results(db, ["a", "b", "c"]))
    assert sorted({row[1] for row in left}) == [T0 + 600, T0 + 800, T0 + 1000]
    clock.set(T0 + 2 * HOUR)
    assert (await store.prune())["result_blocks"] == 3
    assert await store.read(lambda db: raw_results(db, ["a", "b", "c"])) == []


async def test_a_pack_failing_mid_pass_loses_and_doubles_nothing(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=60.0, pack_batch=7)
    await store.start()
    recorded = mixed(120, seed=4)
    for r in recorded:
        store.record(r)
    await store.flush()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(  # a failure inside a pack transaction, after its first blocks are inserted
        "CREATE TRIGGER fail_pack BEFORE INSERT ON result_blocks WHEN (SELECT count(*) FROM result_blocks) >= 12 "
        "BEGIN SELECT RAISE(FAIL, 'injected failure'); END"
    )
    clock.set(PACKED)
    await eventually(lambda: store.write_errors > 0)
    assert 0 < store.packed < len(recorded) - 1
    assert scalar(db_path, "SELECT count(*) FROM result_blocks") < 12  # the failed transaction left nothing
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") == store.packed
    # the pass ended with the failure; what it packed before goes from `results` (pack_marker.py)
    await eventually(lambda: pass_done(db_path))
    assert scalar(db_path, "SELECT count(*) FROM results") == len(recorded) - store.packed
    conn.execute("DROP TRIGGER fail_pack")
    conn.close()
    clock.advance(60)  # the next pass goes on where the failed one stopped
    await eventually(lambda: store.packed == len(recorded) - 1 and pass_done(db_path))
    await eventually(lambda: store.healthy)
    rows = await store.read(lambda db: raw_results(db))
    assert sorted((row[2], row[7]) for row in rows) == sorted((r.endpoint, r.message) for r in recorded)
    assert scalar(db_path, "SELECT sum(n) FROM result_blocks") == len(recorded) - 1
    assert scalar(db_path, "SELECT count(*) FROM results") == 1


KILLED = """
import asyncio, os, signal, sys
from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.store.helpers import mixed

async def main(path):
    store = Store(path, clock=FakeClock(), retention=RetentionConfig(), batch_interval=0.01, rollup_interval=1e9)
    await store.start()
    results = mixed(200, seed=8)
    for r in results[:100]:
        store.record(r)
    await store.flush()  # committed and folded, not packed (not due)
    for r in results[100:]:
        store.record(r)
    while store.committed < 200:  # committed, neither folded nor packed
        await asyncio.sleep(0.005)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1]))
"""


async def test_a_kill_between_insert_and_pack_loses_and_doubles_nothing(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED, db_path], cwd=REPO, timeout=60)
    assert proc.returncode == -9
    assert scalar(db_path, "SELECT count(*) FROM results") == 200
    clock.set(T0 + 200 * 37 + 3 * HOUR)  # every block is due at start
    store = make_store(rollup_interval=60.0)
    await store.start()  # folds the unfolded rows, then packs everything but the newest row
    await eventually(lambda: store.packed == 199)
    recorded = mixed(200, seed=8)
    rows = await store.read(lambda db: raw_results(db))
    assert sorted((row[2], row[7]) for row in rows) == sorted((r.endpoint, r.message) for r in recorded)
    assert scalar(db_path, "SELECT sum(total) FROM rollups") == sum(r.final for r in recorded)
    await store.close()
    again = make_store()  # a second start packs and folds nothing more
    await again.start()
    await again.flush()
    assert again.packed == 0
    assert scalar(db_path, "SELECT sum(total) FROM rollups") == sum(r.final for r in recorded)
    assert len(await again.read(lambda db: raw_results(db))) == 200


async def test_rows_the_saved_slo_state_does_not_include_stay_in_results(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    """Above the SLO watermark (slo_tables.py) rows are neither packed nor deleted: a start after a kill
    counts them from `results` (slo/service.py). Before the watermark they were packed like any other."""
    store = make_store(rollup_interval=60.0, retention=RetentionConfig(raw=2 * 3600.0))
    await store.start()
    for i in range(40):
        store.record(result(at=T0 + i * 30))
    store.submit(lambda db: set_counted_watermark(db, T0, results_id=10))  # the SLO state saved 10 rows
    await store.flush()
    clock.set(PACKED)
    await eventually(lambda: store.packed == 10 and pass_done(db_path))
    clock.set(T0 + 30 * 3600.0)  # every row is past retention.raw
    assert (await store.prune())["results"] == 0  # none at or below the watermark left in `results`
    assert scalar(db_path, "SELECT min(id), count(*) FROM results") == 11
    assert scalar(db_path, "SELECT count(*) FROM results") == 30


def _pinned_blocks() -> list[tuple[int, list[tuple[Any, ...]]]]:
    """200 seeded blocks of varied rows: outcomes (one unknown), statuses (None, 0, out of range), attempts,
    finals, messages, phases, cert expiries, URLs and edge durations (infinity included)."""
    rng = random.Random(20261206)
    edges = [0.005, 0.25, 0.3, 0.1 + 0.2, math.nextafter(0.005, 1), 1e-7, 1e9, math.inf, 0.0]
    out = []
    for b in range(200):
        start = block_of(T0 + b * BLOCK)
        rows = []
        for i in range(rng.choice([1, 2, 10, 10, 10, 37])):
            ok = rng.random() < 0.85
            rows.append((
                i, start + rng.random() * BLOCK, f"ep-{b % 13}", rng.choice(["http", "http", "tcp"]),
                "success" if ok else rng.choice([*OUTCOME_CODES, "from_the_future"]),
                rng.choice(edges) if rng.random() < 0.2 else rng.uniform(0, 3),
                rng.choice([200, 200, None, 0, 500, 70000]), "" if ok else f"m{i}", rng.choice([1, 1, 2, 300]),
                rng.random() < 0.9, None if ok else '{"connect":0.1}', rng.choice([None, None, 1.9e9]),
                rng.choice(["https://a.example/x", "https://a.example/x", None]),
            ))  # fmt: skip
        rows.sort(key=lambda r: (r[1], r[0]))
        out.append((start, rows))
    return out


def _typical_blocks() -> list[tuple[int, list[tuple[Any, ...]]]]:
    """120 seeded blocks shaped like the pack pass's usual ones: 1-40 rows a few seconds apart, one kind and
    final URL throughout (or none, or one change), a constant or absent cert expiry, mostly successes with
    phases in the binary form, sometimes a failure or two with a message and phases (binary or JSON text),
    now and then a retried attempt or a non-final row."""
    rng = random.Random(20261207)
    out = []
    for b in range(120):
        start = block_of(T0 + b * BLOCK)
        n = rng.choice([1, 2, 9, 10, 10, 10, 11, 20, 40])
        kind = rng.choice(["http", "http", "tcp", "tls", ""])
        url = rng.choice([f"http://127.0.0.1:3300{b % 8}/fast/{b}", None, "https://b.example/é"])
        cert = rng.choice([None, None, 1.9e9 + b])
        failures = set(rng.sample(range(n), rng.choice([0, 0, 0, 1, 1, 2]) if n > 2 else 0))
        rows = []
        for i in range(n):
            ok = i not in failures
            d = rng.uniform(0.0005, 0.4) if rng.random() < 0.95 else rng.choice([0.005, 0.25, 1e-7, 0.0])
            phases = encode_phases({"connect": d / 4, "processing": d / 2, "transfer": d / 8})
            rows.append((
                b * 100 + i, start + (i * BLOCK + rng.random() * 3) / n, f"ep-{b:06d}", kind,
                "success" if ok else rng.choice(["http_status", "timeout", "connection_refused"]),
                d, (200 if ok else rng.choice([500, None])) if kind == "http" else None,
                "" if ok else "expected status 200, got 500", 1 if rng.random() < 0.9 else 2,
                1 if rng.random() < 0.95 else 0, phases if ok or rng.random() < 0.5 else '{"connect":0.1}',
                cert, url if i < n - 1 or rng.random() < 0.9 else "https://c.example/moved",
            ))  # fmt: skip
        rows.sort(key=lambda r: (r[1], r[0]))
        out.append((start, rows))
    return out


def test_block_bodies_are_byte_for_byte_what_format_v1_always_wrote() -> None:
    """The encoder's speed-ups (column transposes, fast paths, its own JSON for the side object) must not
    change a byte of what is deflated (how it is deflated may change: the reader inflates any raw stream):
    the SHA-256 of these blocks' bodies and last ts as the first v1 encoder wrote them."""
    digest = hashlib.sha256()
    for start, rows in _pinned_blocks() + _typical_blocks():
        last, blob = encode(start, rows)
        assert blob[0] == 1 and decode(rows[0][2], start, blob)[0][2] == rows[0][2]
        body = zlib.decompress(blob[1:], -15)
        digest.update(b"%d:%s%r;" % (len(body), body, last))
    assert digest.hexdigest() == "2a64cdb936a823e347e3a105804666f0820b6ea78c611cc85ebc6157c8603798"


OLD_BLOBS = {  # block -> the blob the first v1 encoder (zlib.compress(body, 6, wbits=-15)) wrote for it
    "typical 0": "01e3646060906e38fdd46485c47a270616206066656665608402061898cdabd5b7fc5a50e5d467afad5eb3769d577dcac8"
    "ccc8ccc6c8cacccc80014ec0005c841103542b652b5945471be8286594941428c5c6ea28952209145be9eb27e9a55624e616e4a4eac79"
    "41a18a45a0215d50200",
    "typical 3": "01e3626060e8bfbf65e377cdca8f5fbc195ebd04c25740cc8005cce3fca775db6695d5a3ef6b02346efccf6fdb66398599"
    "95958589999585155d313b36134080110ba856ca55b28a8e36d5514aad28484d2e494d51282e492c292d56303230d05148cf2f5130353"
    "0508a8dd5512a802aac8e514acecfcb032a8e51b232d033ac05cb6683640d74944a920bc0fc6408dfd0d200028cf50c62636b01",
    "pinned 56": "01e3626060a8e76b58699cb9a28b5d2dee6faab797bc5d148f300313230323500e424040fca3ffc5bd8b6c67eaab1a24ff"
    "df2615ddccf65e9c59fc3fb7840a33b7121303c37fa83a1e263005e2fe3f7102888018c4030b3030fdffcff89f1108c00404542ba5285"
    "945471be978e6a565e6659654c6c6ea28e58384cc7594d28af273e34b3252e3d34a4b4a8b52954072c52039431d83589d68131d730320"
    "00b22c807ca05c2244ce182c6604a54da0b4259806aaca05a93200d2a64a40614320c312c400da976b02b6a200aaa03a4629393f2f2f35"
    "b92446c9ca40cfb016aa1eabb8395671a069d950d3324a4a0a94c0ee522a4906b34c11826670417384a0055cd0122608342f19649e898e"
    "a1a50114e81980cdca2bcdc9019b8426630e93b14095011a558ae4b4622b7dfd44bdd48ac4dc829c54fd0a90adc6309da6389598210cc"
    "7ae24b61600",
}


def test_blocks_written_by_the_first_encoder_still_decode_to_the_same_rows() -> None:
    """Blocks already in databases: the old encoder's blobs (32 KiB window, memLevel 8) decode to the rows
    the current encoder's blobs of the same block decode to, from the same body. "pinned 56" holds an
    infinite duration, statuses None, 0 and 70,000, attempt 300, an unknown outcome, runs of kind, cert
    and URL; "typical 3" a failure with phases and a cert expiry."""
    blocks = {"typical 0": _typical_blocks()[0], "typical 3": _typical_blocks()[3], "pinned 56": _pinned_blocks()[56]}
    for name, (start, rows) in blocks.items():
        old = bytes.fromhex(OLD_BLOBS[name])
        _, new = encode(start, rows)
        assert zlib.decompress(old[1:], -15) == zlib.decompress(new[1:], -15), name
        back = decode(rows[0][2], start, old)
        assert back == decode(rows[0][2], start, new), name
        for got, row in zip(back, rows, strict=True):
            finite = math.isfinite(row[5])
            want = packed_form(row if finite else (*row[:5], 0.0, *row[6:]))
            assert got[2:5] == want[2:5] and got[6:] == want[6:], name
            assert got[5] == (want[5] if finite else row[5]), name
            assert abs(got[1] - row[1]) < 0.001, name

"""The stored form of phase timings (store/phase_codec.py): exact round trips, the old JSON rows, packing
and what the API shows."""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from array import array
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import slowatch.phases as phases_module
from slowatch.clock import FakeClock
from slowatch.models import Outcome, ProbeResult
from slowatch.phases import Phases
from slowatch.store import history, latest_results
from slowatch.store import phase_codec as codec
from slowatch.store.blocks import BLOCK
from slowatch.store.blocks import decode as decode_block
from slowatch.store.queries import StoredResult
from slowatch.web.api import result_json
from tests.store.conftest import MakeStore
from tests.store.helpers import T0, eventually, pass_done, result


@pytest.fixture(autouse=True, scope="module")
def own_shape_caches() -> Iterator[None]:
    """The many random shapes of these tests do not fill the shape caches (the codec's, `Phases.of`'s) for
    the tests after them: full, they share no more key tuples."""
    caches: list[dict[Any, Any]] = [codec._HEADERS, codec._NAMES, phases_module._SHAPES]
    saved = [dict(cache) for cache in caches]
    yield
    for cache, before in zip(caches, saved, strict=True):
        cache.clear()
        cache.update(before)


PHASES = {"resolve": 0.0, "connect": 0.0123, "tls": 1e-300, "processing": 0.1 + 0.2, "transfer": 5e-6}


def old_json(phases: Any) -> str:
    """What the writer stored before session 5 (results.phases_json)."""
    return json.dumps({str(k): float(v) for k, v in phases.items()}, separators=(",", ":"))


def bits(phases: dict[str, float]) -> list[tuple[str, bytes]]:
    """Names and exact float64 bits, in order (NaN == NaN here, -0.0 != 0.0)."""
    return [(k, struct.pack("<d", v)) for k, v in phases.items()]


_names = st.text(max_size=12) | st.sampled_from(["connect", "tls", 'q"\\%', "é\n"])
_phases = st.dictionaries(_names, st.floats(allow_nan=True, allow_infinity=True), max_size=9)


@settings(max_examples=400, deadline=None)
@given(_phases)
def test_phases_round_trip_exactly_from_a_dict_and_from_phases(phases: dict[str, float]) -> None:
    stored = codec.encode(phases)
    if not phases:
        assert stored is None and codec.decode(stored) == {} and codec.as_json(stored) is None
        return
    assert isinstance(stored, bytes) and stored[0] in (codec.FORMAT, codec.NAMED)
    assert codec.encode(Phases.of(phases)) == stored  # what a worker's result stores: the same bytes
    assert bits(codec.decode(stored)) == bits(phases)
    assert codec.as_json(stored) == old_json(phases)  # JSON text spelled as the old rows hold it
    assert bits(codec.decode(old_json(phases))) == bits(codec.decode(codec.as_json(stored)))


def test_odd_keys_and_values_store_what_json_stored() -> None:
    cases: list[dict[Any, Any]] = [
        {"connect": 0.001, "tls": 1e-300, "processing": 5, "transfer": True},
        {"a": math.nan, 'b"q': math.inf, "é\n": -math.inf, "z": -0.0, "big": 1e300},
        {3: 1.5, "3": 2.5},  # keys that collide once made strings: json's rule decides
        {None: 1.0, 2.5: 2},
        {"x": "0.25"},  # a value only float() takes
    ]
    for phases in cases:
        want = json.loads(old_json(phases))
        forms = [phases] if "x" in phases else [phases, Phases.of(phases)]  # (Phases takes numbers only)
        for form in forms:
            stored = codec.encode(form)
            assert isinstance(stored, bytes)
            assert bits(codec.decode(stored)) == bits(want)
            assert codec.as_json(stored) == old_json(phases)


def test_many_shapes_round_trip_beyond_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "_HEADERS", {})
    monkeypatch.setattr(codec, "_NAMES", {})
    for i in range(3 * codec._MAX_SHAPES):
        phases = {f"step-{i}-{j}": i + j / 8 for j in range(i % 11 + 1)}
        for _ in range(2):  # once when the shape is new, once as seen before (cached or not)
            assert codec.decode(codec.encode(phases)) == phases
            assert codec.decode(codec.encode(Phases.of(phases))) == phases
    assert len(codec._HEADERS) == len(codec._NAMES) == codec._MAX_SHAPES


def test_phases_with_a_float32_array_store_their_values_as_doubles() -> None:
    phases = Phases(("connect", "tls"), array("f", [0.5, 0.25]))
    assert codec.encode(phases) == codec.encode({"connect": 0.5, "tls": 0.25})


KNOWN_V2 = ("resolve", "connect", "tls", "processing", "transfer", "loss_ratio", "rtt_min", "rtt_avg", "rtt_max")
"""Format 2's names as released (session 15): stored masks name these positions, so they never change."""


def test_format_2s_names_are_append_only_and_in_the_database(db_path: str) -> None:
    assert codec.KNOWN[: len(KNOWN_V2)] == KNOWN_V2 and len(codec.KNOWN) <= 16
    from slowatch.store.schema import MIGRATIONS, migrate

    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        from sqlite_utils import Database

        migrate(Database(conn), MIGRATIONS)
        assert conn.execute("SELECT bit, name FROM phase_names ORDER BY bit").fetchall() == list(enumerate(codec.KNOWN))
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("phases", "form", "size"),
    [
        (PHASES, 2, 3 + 5 * 8),  # an HTTPS probe's five phases: 43 bytes (96 in format 1)
        ({"connect": 0.5, "processing": 0.25}, 2, 3 + 2 * 8),  # TCP
        ({"loss_ratio": 0.0, "rtt_min": 1e-3, "rtt_avg": 2e-3, "rtt_max": 3e-3}, 2, 3 + 4 * 8),  # ICMP
        ({"processing": 0.5, "connect": 0.25}, 1, None),  # out of KNOWN's order: the names are written
        ({"login": 0.5, "checkout": 0.25}, 1, None),  # a transaction's steps
        ({"resolve": 0.1, "Connect": 0.2}, 1, None),
    ],
)
def test_known_names_in_their_order_store_a_mask_others_their_names(
    phases: dict[str, float], form: int, size: int | None
) -> None:
    for form_in in (phases, Phases.of(phases)):
        stored = codec.encode(form_in)
        assert stored is not None and stored[0] == form
        assert size is None or len(stored) == size
        assert list(codec.decode(stored).items()) == list(phases.items())  # names, order and values
        assert codec.as_json(stored) == old_json(phases)


def test_format_1_rows_of_known_names_still_read() -> None:
    """Rows written before v12 (format 1 for every shape) read as they did."""
    names = json.dumps(list(PHASES), separators=(",", ":")).encode()
    stored = bytes((1,)) + struct.pack("<I", len(names)) + names + struct.pack("<5d", *PHASES.values())
    assert bits(codec.decode(stored)) == bits(PHASES)
    assert codec.as_json(stored) == old_json(PHASES)


def test_a_mask_naming_no_known_phase_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown names in mask"):
        codec.decode(b"\x02" + struct.pack("<H", 1 << 15) + struct.pack("<d", 1.0))


def test_a_broken_stored_value_is_an_error() -> None:
    stored = codec.encode({"a-step": 0.5})
    assert stored is not None and stored[0] == codec.NAMED
    with pytest.raises(ValueError, match="unknown stored format"):
        codec.decode(b"\x07" + stored[1:])
    with pytest.raises(ValueError, match="1 names but 2 values"):
        codec.decode(stored + stored[-8:])


def rows_of(path: str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def shown(r: StoredResult) -> dict[str, Any]:
    """What /api/v1/endpoints/X/results shows of a stored result (web/api.py `_stored_json`)."""
    doc = result_json(r.to_probe_result())
    assert doc is not None
    return {**doc, "final": r.final}


async def test_results_store_a_blob_and_read_back_as_old_json_rows_did(make_store: MakeStore, db_path: str) -> None:
    store = make_store()
    await store.start()
    full: dict[str, Any] = dict(outcome=Outcome.HTTP_STATUS, message="503", status_code=503, final_url="https://a/")
    store.record(result("new", at=T0 + 1, phases=Phases.of(PHASES), **full))  # as from a prober worker
    store.record(result("dict", at=T0 + 1, phases=dict(PHASES), **full))  # as from an in-process probe
    store.record(result("none", at=T0 + 1, **full))
    await store.flush()
    conn = sqlite3.connect(db_path)  # a row as the previous version wrote it, still there after an upgrade
    conn.execute(
        "INSERT INTO results (ts, endpoint, kind, outcome, duration, status_code, message, phases, final_url) "
        "VALUES (?, 'old', 'http', 'http_status', 0.1, 503, '503', ?, 'https://a/')",
        (T0 + 1, old_json(PHASES)),
    )
    conn.commit()
    conn.close()
    await store.flush()
    stored = dict(rows_of(db_path, "SELECT endpoint, typeof(phases) FROM results"))
    assert stored == {"new": "blob", "dict": "blob", "none": "null", "old": "text"}
    assert rows_of(db_path, "SELECT DISTINCT phases FROM results WHERE endpoint IN ('new', 'dict')") == [
        (codec.encode(PHASES),)
    ]
    assert dict(rows_of(db_path, "SELECT endpoint, typeof(phases) FROM latest")) == stored  # folded as stored

    want = {
        "outcome": "http_status", "ok": False, "started_at": T0 + 1, "duration_seconds": 0.1, "message": "503",
        "status_code": 503, "phases": PHASES, "cert_expiry": None, "final_url": "https://a/", "attempt": 1,
        "final": True,
    }  # fmt: skip
    for ep in ("new", "dict", "old"):
        (row,) = await store.read(lambda db, ep=ep: history(db, ep))  # type: ignore[misc]
        assert json.dumps(shown(row)) == json.dumps(want)  # the same JSON, key order and float spelling included
        assert row.to_probe_result() == result(ep, at=T0 + 1, phases=PHASES, **full)
    latest = await store.read(latest_results)
    assert {ep: shown(r) for ep, r in latest.items()} == {
        "new": want, "dict": want, "old": want, "none": {**want, "phases": {}},
    }  # fmt: skip


async def test_a_packed_failure_keeps_its_phases_as_json_text(
    make_store: MakeStore, clock: FakeClock, db_path: str
) -> None:
    store = make_store(rollup_interval=60.0)
    await store.start()
    failed = result(at=T0 + 30, outcome=Outcome.TIMEOUT, message="slow", phases=Phases.of(PHASES))
    odd = result(at=T0 + 60, outcome=Outcome.ERROR, phases={"a": math.inf, "b": -0.0})
    for r in (result(at=T0, phases=Phases.of(PHASES)), failed, odd):
        store.record(r)
    store.record(result("other", at=T0 + 2 * BLOCK))  # the newest row stays in `results`
    await store.flush()
    before = await store.read(lambda db: [shown(r) for r in history(db, "api")])
    clock.set(T0 + BLOCK + 900)
    await eventually(lambda: store.packed == 3 and pass_done(db_path))
    ((start, blob),) = rows_of(db_path, "SELECT start, data FROM result_blocks")
    packed = [row[10] for row in decode_block("api", start, blob)]  # block format v1: JSON text, as before
    assert packed == [None, old_json(PHASES), '{"a":Infinity,"b":-0.0}']
    after = await store.read(lambda db: [shown(r) for r in history(db, "api")])
    assert [r["phases"] for r in after] == [{"a": math.inf, "b": -0.0}, PHASES, {}]  # a success's: not kept
    assert [r["phases"] for r in before] == [{"a": math.inf, "b": -0.0}, PHASES, PHASES]


def test_a_result_row_holds_the_codecs_bytes() -> None:
    from slowatch.store.results import result_row

    r = ProbeResult("api", "http", Outcome.SUCCESS, T0, 0.1, phases=Phases.of(PHASES))
    assert result_row(r)[9] == codec.encode(PHASES)
    assert result_row(result())[9] is None

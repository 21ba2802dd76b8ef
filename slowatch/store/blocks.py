"""The packed form of raw results: one `result_blocks.data` blob holds one endpoint's results of one block.

A block is BLOCK (600) seconds of one endpoint, starting at a multiple of BLOCK. Format v1 (the first
byte of the blob) is a raw-deflate stream of: the row count (uint32), then fixed-width little-endian
columns, each stored byte plane by byte plane (all low bytes, then the next ones: runs deflate well):

    ts        uint32  ms since the previous row (the first: since the block start); ts floored to the ms
    duration  uint32  µs, rounded up (never below the measured duration: block_columns.micros); 0xFFFFFFFF: "d"
    outcome   uint8   index in OUTCOME_CODES (append only: the codes of format v1 never change); 255: "o"
    status    uint16  HTTP status, 0 for none; 0xFFFF: see "s"
    attempt   uint8   255: see "a"
    final     uint8   0 / 1

and a JSON object of what fixed columns cannot hold, as [row, value] pairs: "k" kind, "c" cert_expiry
and "u" final_url where they change (run-length), "m" non-empty messages, "p" phases (JSON text: `encode`
converts the binary form of `results.phases` with phase_codec.as_json) of non-success results only, and
"d", "s", "a", "o" for values out of their column's range. Rows are in (ts, results.id) order; a decoded
row is `RawRow` (id None). What is not kept: the phases of successful results, and ts / duration precision
below 1 ms / 1 µs.

The format is the inflated body: how it is deflated is free (`decode` inflates any raw stream; since session
6 a 4 KiB window, see `_deflate`), and tests/store pins the bodies of the first v1 encoder byte for byte.
`encode` packs the usual block (every fixed value in its column's range: ~10 rows of one endpoint at 60 s)
on a fast path, `_fixed_planes`; anything else goes the general way (block_columns.py: sentinels and side
values), which is the first encoder's. At 10 rows the deflate is a third of the cost (~5 µs).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate, repeat
from typing import Any

from slowatch.models import Outcome
from slowatch.store.block_columns import BIG, COLUMNS, U8, U16, U32, Side, general_planes, side_json, unplanes
from slowatch.store.phase_codec import as_json

BLOCK = 600
FORMAT = 1
OUTCOME_CODES: tuple[str, ...] = tuple(o.value for o in Outcome)
"""Format v1's outcome codes: the position of each Outcome in models.Outcome, which is append only
(tests/store pins the codes already written)."""

RawRow = tuple[Any, ...]
"""(id or None, *RESULT_COLUMNS): id, ts, endpoint, kind, outcome, duration, status_code, message,
attempt, final, phases (JSON text or None from `decode`; `encode` also takes the binary form of
phase_codec.py), cert_expiry, final_url."""

_CODE = {name: i for i, name in enumerate(OUTCOME_CODES)}
_SUCCESS = Outcome.SUCCESS.value
_COUNT = struct.Struct("<I")
_FORMAT = bytes((FORMAT,))
_FLOOR = """ts is floored to the ms after adding 0.9 ulp (of the block's largest ts): `T0 + 0.05` is stored as
the double just below it, which must still pack as 50 ms, while a ts a whole ulp below a boundary stays below."""


def block_of(ts: float) -> int:
    return int(ts // BLOCK) * BLOCK


def _fixed_planes(start: int, tss: Sequence[float], outcomes: Sequence[Any], durations: Sequence[Any],
                  statuses: Sequence[Any], attempts: Sequence[Any], finals: Sequence[Any]) -> bytes | None:  # fmt: skip
    """The fixed columns plane by plane when every value is in its column's range (the usual block), else
    None: then `general_planes` stores sentinels and side values. array() refuses None, non-integers and
    what its type cannot hold (a negative ms delta: rows out of order or before the block start); the
    sentinels are checked apart. Floats where they are exact (start, 1000) let the interpreter's float
    arithmetic take its fast path; each value is the one the general path computes."""
    n = len(tss)
    if 0 in statuses:  # stored as 0xFFFF and "s" (a status 0 must not read back as None)
        return None
    o, f, s = outcomes[0], finals[0], float(start)
    nudge = math.ulp(start + BLOCK) * 900  # see _FLOOR (ms of an ulp of the block's largest ts)
    floor = math.floor
    prev = 0
    try:
        status = array("H", statuses if None not in statuses else [0 if v is None else v for v in statuses])
        attempt = array("B", attempts)
        codes = bytes((_CODE[o],)) * n if outcomes.count(o) == n else bytes(map(_CODE.__getitem__, outcomes))
        deltas = array("I", [-prev + (prev := floor((t - s) * 1000.0 + nudge)) for t in tss])
        micros = array("I", [(us := round(d * 1e6)) + (us / 1e6 < d) for d in durations])  # block_columns.micros
    except (KeyError, TypeError, ValueError, OverflowError):  # and NaN, infinities
        return None
    if U16 in status or U8 in attempt or U32 in micros:
        return None
    if BIG:
        for column in (status, deltas, micros):
            column.byteswap()
    t, d, h = deltas.tobytes(), micros.tobytes(), status.tobytes()
    final = bytes((f != 0,)) * n if type(f) is int and finals.count(f) == n else bytes(map(bool, finals))
    return b"".join((t[0::4], t[1::4], t[2::4], t[3::4], d[0::4], d[1::4], d[2::4], d[3::4], codes, h[0::2],
                     h[1::2], attempt.tobytes(), final))  # fmt: skip


def _deflate(body: bytes) -> bytes:
    """Raw deflate at level 6 with a window that covers the body: the 4 KiB one (memLevel 2: a ~20 KiB state
    instead of zlib.compress's ~256 KiB, set up per call: ~50 µs when that lands on fresh pages) for the
    usual block of a few hundred bytes. `decode` inflates streams of any window."""
    small = len(body) < 3_800  # zlib's matches reach back up to the window size - 262 bytes
    deflater = zlib.compressobj(6, zlib.DEFLATED, -12 if small else -15, 2 if small else 8)
    return b"".join((_FORMAT, deflater.compress(body), deflater.flush()))


def encode(start: int, rows: Sequence[RawRow]) -> tuple[float, bytes]:
    """Pack rows of one endpoint and block (sorted by ts, then id); return (max ts, blob)."""
    n = len(rows)
    columns = zip(*rows, strict=False)  # one tuple per column (every row has them all)
    _, tss, _, kinds, outcomes, durations, statuses, messages, attempts, finals, phases, certs, urls = columns
    side: Side = {}
    fixed = _fixed_planes(start, tss, outcomes, durations, statuses, attempts, finals)
    if fixed is None:
        nudge = math.ulp(start + BLOCK) * 900  # see _FLOOR
        ms = [math.floor((t - start) * 1000 + nudge) for t in tss]
        general = (outcomes, durations, statuses, attempts, finals)
        fixed = b"".join(general_planes(ms, list(map(_CODE.get, outcomes)), general, side))
    if any(messages):
        side["m"] = [[i, m] for i, m in enumerate(messages) if m]
    if phases.count(None) != n:
        kept = [
            [i, as_json(p)]
            for i, (p, o) in enumerate(zip(phases, outcomes, strict=True))
            if p is not None and o != _SUCCESS
        ]
        if kept:
            side["p"] = kept
    return max(tss), _deflate(b"".join((_COUNT.pack(n), fixed, side_json(side, (kinds, certs, urls)))))


def _fill(n: int, default: Any, runs: list[list[Any]] | None) -> list[Any]:
    values = [default] * n
    for j, (i, v) in enumerate(runs or ()):
        end = runs[j + 1][0] if runs and j + 1 < len(runs) else n
        values[i:end] = repeat(v, end - i)
    return values


def _sparse(n: int, default: Any, pairs: list[list[Any]] | None) -> list[Any]:
    values = [default] * n
    for i, v in pairs or ():
        values[i] = v
    return values


def decode(endpoint: str, start: int, blob: bytes) -> list[RawRow]:
    """The rows of one block, in the order they were packed."""
    if not blob or blob[0] != FORMAT:
        raise ValueError(f"result block of {endpoint!r} at {start}: unknown format {blob[:1]!r}")
    data = zlib.decompress(blob[1:], -15)
    (n,) = struct.unpack_from("<I", data)
    pos = 4
    cols = []
    for typecode, width in COLUMNS:
        cols.append(unplanes(data[pos : pos + n * width], typecode, width, n))
        pos += n * width
    side: dict[str, list[list[Any]]] = json.loads(data[pos:]) if pos < len(data) else {}
    deltas, dur, out, status, attempt, final = cols
    ts = [start + ms / 1000 for ms in accumulate(deltas)]
    durations: list[Any] = [us / 1e6 for us in dur]
    outcomes: list[Any] = [OUTCOME_CODES[c] if c < len(OUTCOME_CODES) else "" for c in out]
    statuses: list[Any] = [s or None for s in status]
    attempts: list[Any] = list(attempt)
    for key, column in (("d", durations), ("o", outcomes), ("s", statuses), ("a", attempts)):
        for i, v in side.get(key, ()):
            column[i] = v
    return list(
        zip(
            repeat(None, n), ts, repeat(endpoint, n), _fill(n, "", side.get("k")), outcomes, durations, statuses,
            _sparse(n, "", side.get("m")), attempts, final, _sparse(n, None, side.get("p")),
            _fill(n, None, side.get("c")), _fill(n, None, side.get("u")), strict=True,
        )
    )  # fmt: skip


__all__ = ["BLOCK", "FORMAT", "OUTCOME_CODES", "RawRow", "block_of", "decode", "encode"]

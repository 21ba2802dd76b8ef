"""The packed form of raw results: one `result_blocks.data` blob holds one endpoint's results of one block.

A block is BLOCK (600) seconds of one endpoint, starting at a multiple of BLOCK. Format v1 (the first
byte of the blob) is a raw-deflate stream of: the row count (uint32), then fixed-width little-endian
columns, each stored byte plane by byte plane (all low bytes, then the next ones: runs deflate well):

    ts        uint32  ms since the previous row (the first: since the block start); ts floored to the ms
    duration  uint32  µs, rounded up (never below the measured duration: see _micros); 0xFFFFFFFF: "d"
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
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate, repeat
from json.encoder import encode_basestring_ascii as _quote  # json.dumps's own quoting of a str
from operator import sub
from typing import Any

from slowatch.models import Outcome
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
_BIG = sys.byteorder == "big"
_COLUMNS = (("I", 4), ("I", 4), ("B", 1), ("H", 2), ("B", 1), ("B", 1))  # ts, duration, outcome, status, ...
_U32, _U16, _U8 = 0xFFFFFFFF, 0xFFFF, 0xFF
_SIDE = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(side, separators=...) builds per call
_FLOOR = """ts is floored to the ms after adding 0.9 ulp (of the block's largest ts): `T0 + 0.05` is stored as
the double just below it, which must still pack as 50 ms, while a ts a whole ulp below a boundary stays below."""


def block_of(ts: float) -> int:
    return int(ts // BLOCK) * BLOCK


def _planes(values: array[int], width: int) -> bytes:
    if _BIG and width > 1:
        values = array(values.typecode, values)
        values.byteswap()
    raw = values.tobytes()
    return raw if width == 1 else b"".join([raw[i::width] for i in range(width)])


def _unplanes(data: bytes, typecode: str, width: int, n: int) -> array[int]:
    if width == 1:
        return array(typecode, data)
    raw = bytearray(n * width)
    for i in range(width):
        raw[i::width] = data[i * n : (i + 1) * n]
    values = array(typecode, bytes(raw))
    if _BIG:
        values.byteswap()
    return values


def _runs(values: Sequence[Any], default: Any) -> list[list[Any]]:
    """[row, value] wherever the value changes, starting from `default`."""
    first = values[0] if values else default
    if first == first and values.count(first) == len(values):  # one value throughout (the usual case; not NaN)
        return [] if first == default else [[0, first]]
    out: list[list[Any]] = []
    prev = default
    for i, v in enumerate(values):
        if v != prev:
            out.append([i, v])
            prev = v
    return out


def _column(typecode: str, values: list[Any], key: str, side: dict[str, list[list[Any]]], lo: int,
            sentinel: int, fixed: list[Any] | None = None) -> array[int]:  # fmt: skip
    """`values` as an array; a value outside [lo, sentinel) is stored as `sentinel` with the original
    (or `fixed`'s) value in `side[key]`. The common case (all in range) runs in C."""
    try:
        if values and lo <= min(values) and max(values) < sentinel:
            return array(typecode, values)
    except TypeError:  # None or a non-number among them
        pass
    out = array(typecode)
    for i, v in enumerate(values):
        if isinstance(v, int) and lo <= v < sentinel:
            out.append(v)
        else:
            out.append(sentinel)
            side.setdefault(key, []).append([i, (fixed or values)[i]])
    return out


def _micros(d: float) -> int | None:
    """The fewest whole µs whose decoded value (us / 1e6) is >= d: a latency threshold of whole µs
    (`duration <= t`) answers the same for the packed duration as for the measured one."""
    if not math.isfinite(d):
        return None
    us = round(d * 1e6)
    return us + 1 if us / 1e6 < d else us


def _micros_all(durations: Sequence[Any]) -> list[int | None]:
    """`_micros` of each duration; the usual case (all finite) in one comprehension."""
    try:
        return [(us := round(d * 1e6)) + (us / 1e6 < d) for d in durations]
    except (OverflowError, ValueError, TypeError):  # an infinity, NaN or non-number among them
        return [_micros(d) for d in durations]


def _side_json(side: dict[str, list[list[Any]]]) -> bytes:
    """`json.dumps(side, separators=(",", ":"))`, byte for byte; values that are not str, None, int or finite
    float (the usual case: kinds, URLs, messages, phases) go through json itself."""
    parts = []
    for key, pairs in side.items():
        items = []
        for i, v in pairs:
            t = type(v)
            if t is str:
                items.append(f"[{i},{_quote(v)}]")
            elif v is None:
                items.append(f"[{i},null]")
            elif t is int or (t is float and v - v == 0.0):
                items.append(f"[{i},{v!r}]")
            else:
                return _SIDE.encode(side).encode()
        parts.append(f'"{key}":[{",".join(items)}]')
    return ("{" + ",".join(parts) + "}").encode()


_RECORD = struct.Struct("<IIBHBB")  # one row of the fixed columns, little-endian: see _fixed_planes
_PLANE_OFFSETS = tuple(offset + i for offset, (_, width) in zip((0, 4, 8, 9, 11, 12), _COLUMNS, strict=True)
                       for i in range(width))  # fmt: skip


def _fixed_planes(deltas: list[int], micros: list[Any], codes: list[Any], statuses: Sequence[Any],
                  attempts: Sequence[Any], finals: Sequence[Any]) -> list[bytes] | None:  # fmt: skip
    """The byte planes of the fixed columns when every value is in its column's range (the usual case:
    one `struct` record per row, sliced into planes, ~a third of the per-column path's cost); None
    otherwise (then `_column` stores sentinels and side values)."""
    if None in micros or None in codes or None in statuses or 0 in statuses:
        return None
    try:
        if max(micros) >= _U32 or min(micros) < 0 or max(statuses) >= _U16 or min(statuses) < 0:
            return None
        if max(attempts) >= _U8 or min(attempts) < 0:
            return None
        records = b"".join(map(_RECORD.pack, deltas, micros, codes, statuses, attempts, map(bool, finals)))
    except (TypeError, struct.error):  # a non-integer among them
        return None
    size = _RECORD.size
    return [records[i::size] for i in _PLANE_OFFSETS]


def encode(start: int, rows: Sequence[RawRow]) -> tuple[float, bytes]:
    """Pack rows of one endpoint and block (sorted by ts, then id); return (max ts, blob)."""
    n = len(rows)
    columns = zip(*rows, strict=True)  # one tuple per column
    _, tss, _, kinds, outcomes, durations, statuses, messages, attempts, finals, phases, certs, urls = columns
    side: dict[str, list[list[Any]]] = {}
    nudge = math.ulp(start + BLOCK) * 900  # see _FLOOR (ms of an ulp of the block's largest ts)
    floor = math.floor
    ms = [floor((t - start) * 1000 + nudge) for t in tss]
    if min(ms) < 0:
        ms = [max(0, m) for m in ms]
    deltas = list(map(sub, ms, [0, *ms]))
    micros, codes = _micros_all(durations), list(map(_CODE.get, outcomes))
    planes = _fixed_planes(deltas, micros, codes, statuses, attempts, finals)
    if planes is None:
        dur = _column("I", micros, "d", side, 0, _U32, list(durations))
        out = _column("B", codes, "o", side, 0, _U8, list(outcomes))
        plain = list(statuses) if None not in statuses else [0 if s is None else s for s in statuses]
        status = _column("H", plain, "s", side, 0, _U16, list(statuses))
        if 0 in statuses:  # a status 0 must not read back as None
            zeros = [i for i, s in enumerate(statuses) if s == 0]
            for i in zeros:
                status[i] = _U16
            side["s"] = sorted([*side.get("s", []), *([i, 0] for i in zeros)])
        attempt = _column("B", list(attempts), "a", side, 0, _U8)
        final = array("B", map(bool, finals))
        fixed = (array("I", deltas), dur, out, status, attempt, final)
        planes = [_planes(col, w) for col, (_, w) in zip(fixed, _COLUMNS, strict=True)]
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
    for key, values, default in (("k", kinds, ""), ("c", certs, None), ("u", urls, None)):
        runs = _runs(values, default)
        if runs:
            side[key] = runs
    body = [struct.pack("<I", n), *planes, _side_json(side) if side else b""]
    blob = bytes([FORMAT]) + zlib.compress(b"".join(body), 6, wbits=-15)
    return max(tss), blob


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
    for typecode, width in _COLUMNS:
        cols.append(_unplanes(data[pos : pos + n * width], typecode, width, n))
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

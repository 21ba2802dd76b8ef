"""The fixed columns of a result block (format v1, blocks.py) for any values: sentinels, side values, planes.

`blocks.encode` packs the usual block (every value in its column's range) on its own fast path; this
module is the general path it falls back to (the first v1 encoder's), with its byte-plane transposes and
the inverse one `blocks.decode` uses:

    ts        uint32  ms deltas (a negative ms, a ts before the block start, is stored as 0)
    duration  uint32  `micros` of each duration; NaN, infinities and what does not fit: 0xFFFFFFFF + "d"
    outcome   uint8   code in OUTCOME_CODES; an unknown outcome: 255 + "o"
    status    uint16  0 for None; 0, 0xFFFF and above, negatives, non-integers: 0xFFFF + "s"
    attempt   uint8   255 and above, negatives, non-integers: 255 + "a"
    final     uint8   bool

`side_json` writes the side object, the runs of kind, cert expiry and URL last, as `json.dumps(side,
separators=(",", ":"))` would, byte for byte.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as quote  # json.dumps's own quoting of a str
from operator import sub
from typing import Any

Side = dict[str, list[list[Any]]]
"""The side object of a block: key -> [row, value] pairs (blocks.py)."""

COLUMNS = (("I", 4), ("I", 4), ("B", 1), ("H", 2), ("B", 1), ("B", 1))  # ts, duration, outcome, status, ...
U32, U16, U8 = 0xFFFFFFFF, 0xFFFF, 0xFF
BIG = sys.byteorder == "big"
_SIDE = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(side, separators=...) builds per call


def planes(values: array[int], width: int) -> bytes:
    """The column's bytes plane by plane (all low bytes, then the next ones), little-endian."""
    if BIG and width > 1:
        values = array(values.typecode, values)
        values.byteswap()
    raw = values.tobytes()
    return raw if width == 1 else b"".join([raw[i::width] for i in range(width)])


def unplanes(data: bytes, typecode: str, width: int, n: int) -> array[int]:
    if width == 1:
        return array(typecode, data)
    raw = bytearray(n * width)
    for i in range(width):
        raw[i::width] = data[i * n : (i + 1) * n]
    values = array(typecode, bytes(raw))
    if BIG:
        values.byteswap()
    return values


def _column(typecode: str, values: list[Any], key: str, side: Side, lo: int, sentinel: int,
            fixed: list[Any] | None = None) -> array[int]:  # fmt: skip
    """`values` as an array; a value outside [lo, sentinel) is stored as `sentinel` with the original
    (or `fixed`'s) value in `side[key]`."""
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


def micros(d: float) -> int | None:
    """The fewest whole µs whose decoded value (us / 1e6) is >= d: a latency threshold of whole µs
    (`duration <= t`) answers the same for the packed duration as for the measured one."""
    if not math.isfinite(d):
        return None
    us = round(d * 1e6)
    return us + 1 if us / 1e6 < d else us


def general_planes(ms: list[int], codes: list[int | None], rows: Sequence[Sequence[Any]], side: Side) -> list[bytes]:
    """The planes of the fixed columns of any block: `ms` (ms since the block start of each row), `codes`
    (outcome codes, None for unknown ones), `rows` the columns (outcomes, durations, statuses, attempts,
    finals); values out of their column's range go to `side` (keys "d", "o", "s", "a", in that order)."""
    outcomes, durations, statuses, attempts, finals = rows
    clamped = [max(0, m) for m in ms]  # a ts before the block start (not in a pack pass's blocks)
    deltas = array("I", map(sub, clamped, [0, *clamped]))
    try:
        us: list[Any] = [(u := round(d * 1e6)) + (u / 1e6 < d) for d in durations]
    except (OverflowError, ValueError, TypeError):  # an infinity, NaN or non-number among them
        us = [micros(d) for d in durations]
    dur = _column("I", us, "d", side, 0, U32, list(durations))
    out = _column("B", codes, "o", side, 0, U8, list(outcomes))
    plain = list(statuses) if None not in statuses else [0 if s is None else s for s in statuses]
    status = _column("H", plain, "s", side, 0, U16, list(statuses))
    if 0 in statuses:  # a status 0 must not read back as None
        zeros = [i for i, s in enumerate(statuses) if s == 0]
        for i in zeros:
            status[i] = U16
        side["s"] = sorted([*side.get("s", []), *([i, 0] for i in zeros)])
    attempt = _column("B", list(attempts), "a", side, 0, U8)
    final = array("B", map(bool, finals))
    fixed = (deltas, dur, out, status, attempt, final)
    return [planes(col, w) for col, (_, w) in zip(fixed, COLUMNS, strict=True)]


def runs(values: Sequence[Any], default: Any) -> list[list[Any]]:
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


def _parts(side: Side) -> list[str] | None:
    """`"key":[[row,value],...]` per key, as json.dumps writes them; None if a value is not a str, None, int
    or finite float (the usual ones: kinds, URLs, messages, phases; then json itself)."""
    parts = []
    for key, pairs in side.items():
        items = []
        for i, v in pairs:
            t = type(v)
            if t is str:
                items.append(f"[{i},{quote(v)}]")
            elif v is None:
                items.append(f"[{i},null]")
            elif t is int or (t is float and v - v == 0.0):
                items.append(f"[{i},{v!r}]")
            else:
                return None
        parts.append(f'"{key}":[{",".join(items)}]')
    return parts


def _same(values: Sequence[Any], key: str, default: Any) -> str | None:
    """The part of one str, None, int or finite float throughout `values` (the usual kind, cert expiry and
    URL; "" for `default`), as `runs` and `_parts` write it; None for anything else."""
    v = values[0]
    t = type(v)
    if (t is str or v is None or t is int or (t is float and v - v == 0.0)) and values.count(v) == len(values):
        return "" if v == default else f'"{key}":[[0,{quote(v) if t is str else "null" if v is None else repr(v)}]]'
    return None


def side_json(side: Side, kinds_certs_urls: tuple[Sequence[Any], Sequence[Any], Sequence[Any]]) -> bytes:
    """The side object: `side` (keys "d", "o", "s", "a", "m", "p", those present), then the runs of kind,
    cert expiry and final URL ("k", "c", "u"), as `json.dumps(side, separators=(",", ":"))` writes it,
    byte for byte; b"" when it is empty. Runs of one str or None (the usual case) are written straight."""
    kinds, certs, urls = kinds_certs_urls
    same = (_same(kinds, "k", ""), _same(certs, "c", None), _same(urls, "u", None))
    parts = _parts(side) if side else []
    if parts is not None and None not in same:
        parts += [part for part in same if part]
    else:  # a run that changes or a value json writes itself
        for key, values, default in (("k", kinds, ""), ("c", certs, None), ("u", urls, None)):
            changes = runs(values, default)
            if changes:
                side[key] = changes
        parts = _parts(side)
        if parts is None:
            return _SIDE.encode(side).encode()
    return ("{" + ",".join(parts) + "}").encode() if parts else b""

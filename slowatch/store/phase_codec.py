"""The stored form of a result's phase timings: the `phases` column of `results` and `latest`.

Since session 5 the writer stores a BLOB (the column is declared TEXT, but SQLite columns are dynamically
typed: a BLOB stays a BLOB, no migration). Two binary formats, told apart by their first byte:

    format 2 (since session 15: names every probe kind uses, in the order the probes record them)
    0x02                          the format byte
    uint16 little-endian M        which of KNOWN's names, bit i for KNOWN[i], in KNOWN's order
    8 bytes per name              the values, float64 little-endian, in KNOWN's order

    format 1 (any other names: a transaction's steps, names out of KNOWN's order)
    0x01                          the format byte
    uint32 little-endian L        length of the names
    L bytes                       the phase names: a JSON array of strings (ASCII, `json.dumps` of a list)
    8 bytes per name              the values, float64 little-endian, in the names' order

Format 2 is format 1 without the names: an HTTP probe's five phases take 43 bytes instead of 96, and its
`results` row ~25 % fewer (each is written, checkpointed and deleted again by the pack step: the bytes are the
store writer's work, benchmarks/README.md). KNOWN is append only: stored masks name its positions (migration
v12 writes it to the `phase_names` table too, for anyone reading the file with sqlite3).

Results of one kind share their names, so the header (format byte, and the mask or L and names) is built
once per shape of names and cached (`_MAX_SHAPES` of them; beyond, built per row): a row is `header + values`,
the values from a `Phases`' `array('d')` as they are (`tobytes`; byte-swapped on big-endian hosts) or from a
dict through a cached `struct.Struct`. Anything else (non-str keys, values that are not floats or ints) takes
the slow path, which stores what the JSON form stored: `{str(k): float(v)}`. Every float64 round-trips exactly
(NaN, infinities and -0.0 included).

Rows written before session 5 hold JSON text (`json.dumps({str(k): float(v)}, separators=(",", ":"))`):
`decode` reads all three. Packed blocks (blocks.py, format v1) keep JSON text in their side data: `as_json`.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Mapping
from itertools import pairwise
from json.encoder import encode_basestring_ascii as quote  # json.dumps's own quoting of a str
from typing import Any

from sqlite_utils import Database

from slowatch.phases import Phases

FORMAT = 2
"""The format `encode` writes when it can (format 1 otherwise: `NAMED`)."""
NAMED = 1
KNOWN: tuple[str, ...] = (
    "resolve", "connect", "tls", "processing", "transfer", "loss_ratio", "rtt_min", "rtt_avg", "rtt_max",
)  # fmt: skip
"""Format 2's names (append only, at most 16): HTTP's (probes/tracing.py), TCP's, TLS's, DNS's and UDP's, ICMP's."""
_BIT = {name: i for i, name in enumerate(KNOWN)}
_MASK = struct.Struct("<H")
_BIG = sys.byteorder == "big"
_LENGTH = struct.Struct("<I")
_MAX_SHAPES = 64  # a few shapes in practice (one per probe kind and TLS or not, transaction steps)
_HEADERS: dict[tuple[object, ...], tuple[bytes, struct.Struct]] = {}  # names -> (header, values' Struct)
_NAMES: dict[bytes, tuple[tuple[str, ...], struct.Struct]] = {}  # header -> (names, values' Struct)
_COMPACT = (",", ":")


def _header(keys: tuple[object, ...]) -> bytes:
    """Format 2's header when every name is one of KNOWN, in KNOWN's order (str keys only); else format 1's."""
    bits = [_BIT.get(k, -1) if type(k) is str else -1 for k in keys]
    if -1 not in bits and all(a < b for a, b in pairwise(bits)):
        return bytes((FORMAT,)) + _MASK.pack(sum(1 << b for b in bits))
    names = json.dumps(list(keys), separators=_COMPACT).encode("ascii")
    return bytes((NAMED,)) + _LENGTH.pack(len(names)) + names


def _slow(phases: Mapping[Any, Any]) -> bytes | None:
    """What the JSON form kept: str keys (the last of colliding ones wins), float values."""
    plain = {str(k): float(v) for k, v in phases.items()}
    if not plain:
        return None
    return _header(tuple(plain)) + struct.pack(f"<{len(plain)}d", *plain.values())


def _shape(keys: tuple[object, ...]) -> tuple[bytes, struct.Struct] | None:
    """The cached (header, values' Struct) of a new shape of names; None: not cached (non-str names, or too
    many shapes already)."""
    if len(_HEADERS) >= _MAX_SHAPES or any(type(k) is not str for k in keys):
        return None
    shape = _HEADERS[keys] = (_header(keys), struct.Struct(f"<{len(keys)}d"))
    return shape


def encode(phases: Mapping[str, float] | None) -> bytes | None:
    """The stored form of `phases` (None for None or no phases)."""
    if type(phases) is Phases:  # (first, and without `len()`: a Python call on a Phases, ~0.1 µs)
        keys, values = phases.parts()
        if not keys:
            return None
        if values.typecode == "d" and len(values) == len(keys):
            shape = _HEADERS.get(keys) or _shape(keys)
            if shape is None:
                return _slow(phases)
            if _BIG:
                values = array("d", values)
                values.byteswap()
            return shape[0] + values  # (bytes + a buffer: the values' bytes without a copy of their own)
    if not phases:
        return None
    keys = tuple(phases)
    shape = _HEADERS.get(keys) or _shape(keys)
    if shape is not None:
        try:
            return shape[0] + shape[1].pack(*phases.values())
        except struct.error:  # a value struct does not take as a double (float() may): the slow path
            pass
    return _slow(phases)


def _names(header: bytes) -> tuple[str, ...]:
    if header[0] == FORMAT:
        (mask,) = _MASK.unpack_from(header, 1)
        if mask >> len(KNOWN):
            raise ValueError(f"phases: unknown names in mask {mask:#06x}")
        return tuple(name for i, name in enumerate(KNOWN) if mask >> i & 1)
    return tuple(json.loads(header[5:]))


def _decode_blob(stored: bytes) -> dict[str, float]:
    form = stored[0]
    if form == FORMAT:
        end = 1 + _MASK.size
    elif form == NAMED:
        end = 5 + _LENGTH.unpack_from(stored, 1)[0]
    else:
        raise ValueError(f"phases: unknown stored format {stored[:1]!r}")
    header = stored[:end]
    shape = _NAMES.get(header)
    if shape is None:
        keys = _names(header)
        shape = (keys, struct.Struct(f"<{len(keys)}d"))
        if len(_NAMES) < _MAX_SHAPES:
            _NAMES[header] = shape
    keys, values = shape
    if len(stored) - end != values.size:
        raise ValueError(f"phases: {len(keys)} names but {(len(stored) - end) / 8:g} values")
    return dict(zip(keys, values.unpack_from(stored, end), strict=True))


def decode(stored: bytes | str | None) -> dict[str, float]:
    """The phases of a stored value: the binary form, JSON text (rows written before session 5, packed
    blocks' side data) or None / empty (no phases)."""
    if not stored:
        return {}
    if type(stored) is bytes:
        return _decode_blob(stored)
    value: dict[str, float] = json.loads(stored)
    return value


def as_json(stored: bytes | str | None) -> str | None:
    """The JSON text of a stored value (`json.dumps(..., separators=(",", ":"))`, as rows before session 5
    held it); None for None / empty."""
    if not stored:
        return None
    if type(stored) is str:
        return stored
    phases = decode(stored)
    total = sum(phases.values())
    if total - total == 0.0:  # finite floats (an infinite or NaN one makes the sum so): as json.dumps writes them
        return "{" + ",".join([f"{quote(k)}:{v!r}" for k, v in phases.items()]) + "}"
    return json.dumps(phases, separators=_COMPACT)  # (NaN, Infinity)


def phase_names(db: Database) -> None:
    """Migration v12: `phase_names (bit INTEGER PRIMARY KEY, name TEXT)`, format 2's KNOWN (what its masks
    mean, for a reader of the file; the codec reads its own tuple). A slowatch of before v12 refuses the
    database (user_version is newer) instead of failing on the format 2 phases it cannot read."""
    db.execute("CREATE TABLE phase_names (bit INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    db.conn.executemany("INSERT INTO phase_names (bit, name) VALUES (?, ?)", enumerate(KNOWN))


__all__ = ["FORMAT", "KNOWN", "NAMED", "as_json", "decode", "encode", "phase_names"]

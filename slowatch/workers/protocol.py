"""The wire between the daemon and its prober workers: length-prefixed pickle frames over a socketpair.

Both ends are this package's own code (the daemon spawns the worker with `sys.executable` and hands
it one end of a `socket.socketpair()`), so pickle is safe here: nothing else can write to the socket.

Daemon -> worker:
    ("part", endpoints)             the first chunks of a large shard (START_CHUNK endpoints each), if any
    ("start", endpoints, options)   the (rest of the) worker's shard and its settings (with "revisions": the
                                    definitions' numbers where not 0); sent once, after the parts
    ("update", endpoints)           a new shard after a reload (unchanged endpoints keep their phase)
    ("apply", changes)              a reload's EndpointChanges for the shard (with the reload's revision), in
                                    frames of START_CHUNK endpoints or names (workers/link.py)
    ("stop", grace)                 stop scheduling, drain for `grace` s, flush, say "bye", exit
Worker -> daemon:
    ("ready", count)                                      its shard is received and scheduled (once, first)
    ("batch", results, lags, skipped, missed, in_flight)   every ~50 ms while there is news
    ("bye", cancelled)                                    the last frame before a clean exit

Results travel as plain tuples (`pack_result`/`unpack_result`): pickling a tuple of builtins is several
times cheaper than pickling the frozen dataclass.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slowatch.models import Outcome, ProbeResult
from slowatch.phases import Phases

if TYPE_CHECKING:
    from slowatch.config.endpoints import Endpoint

_HEADER = struct.Struct("!I")
MAX_FRAME = 1 << 30

ResultTuple = tuple[
    str, str, str, float, float, str, int | None, dict[str, float] | None, float | None, str | None, int, bool, int
]


def pack_result(r: ProbeResult) -> ResultTuple:
    return (
        r.endpoint, r.kind, r.outcome.value, r.started_at, r.duration, r.message, r.status_code,
        dict(r.phases) if r.phases else None, r.cert_expiry, r.final_url, r.attempt, r.final, r.revision,
    )  # fmt: skip


_OUTCOMES = {o.value: o for o in Outcome}


def unpack_result(t: ResultTuple, known: Mapping[str, Endpoint] | None = None) -> ProbeResult:
    """The ProbeResult a tuple stands for. With `known` (the daemon's endpoints by name) the result shares the
    config's name and URL strings where equal, and its phases are a compact `Phases`: the daemon keeps every
    endpoint's latest result, ~330 B less each at 100,000 endpoints."""
    endpoint, kind, outcome, started, duration, message, status, phases, cert, final_url, attempt, final, revision = t
    if known is not None:
        ep = known.get(endpoint)
        if ep is not None:
            endpoint = ep.name
            url = getattr(ep, "url", None)
            if final_url is not None and final_url == url:
                final_url = url
        if phases is not None:
            phases = Phases.of(phases)  # type: ignore[assignment]
    if phases is None:
        return ProbeResult(endpoint, kind, _OUTCOMES[outcome], started, duration, message, status,
                           cert_expiry=cert, final_url=final_url, attempt=attempt, final=final,
                           revision=revision)  # fmt: skip
    return ProbeResult(
        endpoint, kind, _OUTCOMES[outcome], started, duration, message, status, phases, cert, final_url, attempt, final,
        revision,
    )  # fmt: skip


def encode(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next message, or None at a clean end of stream (the peer closed or exited)."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise ConnectionError("prober wire: stream ended inside a frame header") from e
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ConnectionError(f"prober wire: frame of {size} bytes is larger than {MAX_FRAME}")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as e:
        raise ConnectionError("prober wire: stream ended inside a frame") from e
    try:
        message = pickle.loads(body)
    except Exception as e:  # a torn or foreign frame: whatever pickle raises, the wire is broken
        raise ConnectionError(f"prober wire: undecodable frame ({type(e).__name__}: {e})") from e
    if not isinstance(message, tuple) or not message or not isinstance(message[0], str):
        raise ConnectionError(f"prober wire: unexpected message {type(message).__name__}")
    return message


__all__ = ["MAX_FRAME", "ResultTuple", "encode", "pack_result", "read_frame", "unpack_result"]

"""An HTTP probe of a server that does not speak HTTP (answers garbage, then closes) gets one outcome,
every time, on either event loop.

Whether the garbage reaches the response parser before or after the request is written depends on the
loop: asyncio writes first (the parser fails: `protocol_error`); uvloop reads as soon as the connection is
up, so the parser has failed and closed the transport before the write, which failed with "Cannot write to
closing transport" and read as `connection_reset` (276 of 300 SMTP-banner probes before the fix).
"""

from __future__ import annotations

import asyncio
import collections
import random

import pytest

from slowatch import loops
from slowatch.clock import SystemClock
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, http, make_session
from tests.probes.conftest import http_endpoint
from tests.support.sockets import Handler, TcpTarget, close_at_once

PROBES = 300
NOISE = b"\x16" + random.Random(9).randbytes(63)  # fixed random bytes (the message quotes them); not a status line
BURST = 50  # probes in flight at once, as a busy daemon has them


async def smtp_banner_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.example.com ESMTP Postfix\r\n")  # greets without reading, like a mail server
    await writer.drain()
    writer.close()


async def random_bytes_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(NOISE)
    await writer.drain()
    writer.close()


async def reads_then_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"-ERR unknown command 'GET'\r\n")  # a Redis answering an HTTP request
    await writer.drain()
    writer.close()


async def outcomes(handler: Handler, probes: int) -> collections.Counter[tuple[Outcome, str]]:
    target = await TcpTarget(handler).start()
    try:
        async with make_session() as session:
            ctx = ProbeContext(session=session, clock=SystemClock())
            endpoint = http_endpoint(f"http://127.0.0.1:{target.port}/")
            seen: collections.Counter[tuple[Outcome, str]] = collections.Counter()
            for _ in range(probes // BURST):
                for result in await asyncio.gather(*(http.probe(endpoint, ctx) for _ in range(BURST))):
                    seen[(result.outcome, result.message.replace(str(target.port), "PORT"))] += 1
            return seen
    finally:
        await target.close()


def loop_names() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


@pytest.mark.parametrize("loop", loop_names())
@pytest.mark.parametrize(
    ("handler", "probes"),
    [(smtp_banner_then_close, PROBES), (random_bytes_then_close, PROBES), (reads_then_garbage, 100)],
    ids=["smtp-banner", "random-bytes", "reads-then-garbage"],
)
def test_a_peer_answering_garbage_then_closing_is_always_a_protocol_error(
    loop: str, handler: Handler, probes: int
) -> None:
    seen = loops.run(outcomes(handler, probes), loop)
    assert len(seen) == 1, seen  # one outcome and one message for every probe
    (outcome, message), count = seen.most_common(1)[0]
    assert (outcome, count) == (Outcome.PROTOCOL_ERROR, probes)
    assert message.startswith("invalid HTTP response: Bad status line"), message


@pytest.mark.parametrize("loop", loop_names())
def test_a_peer_closing_without_a_word_is_still_a_reset(loop: str) -> None:
    seen = loops.run(outcomes(close_at_once, 100), loop)
    assert {outcome for outcome, _ in seen} == {Outcome.CONNECTION_RESET}, seen

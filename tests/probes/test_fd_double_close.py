"""A peer that resets the connection before the TLS handshake must not leave a socket that closes another's fd.

The hostile soak (1,000 endpoints on uvloop, the daemon's default loop, on a busy machine) recorded ~30 `error`
results a run, "RuntimeError: File descriptor 40 is used by transport <TCPTransport closed=False ...>" (with a
traceback in the log), and in its last minutes probes reading other targets' bytes: an HTTP probe got the UDP
echo's `+PONG`, a TCP banner check got a TLS ServerHello. `strace -k` showed `close()` of fd numbers libuv had
already closed, from Python socket objects freed with uvloop's handles. uvloop's `create_connection(sock=...,
ssl=...)` attaches the socket object to the transport after the TCP part is up; when the peer's RST was already
there (the loop was slow to resume the probe), the transport is closed by then (libuv closes the fd), the object
stays attached, never detached, and when it is freed it closes that fd number again: by then another
connection's. Both TLS paths build on our socket: `kind: tls` (tls.py) and HTTPS (aiohttp's connector).

Here the peer is a thread (it resets as soon as the kernel completes the handshake, as a separate process
does) and a busy task keeps the loop slow, so the reset is always there before the probe resumes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from slowatch import loops
from slowatch.clock import SystemClock
from slowatch.models import Outcome, ProbeResult
from slowatch.probes import ProbeContext, make_session, probe_once
from tests.probes.conftest import http_endpoint, tcp_endpoint, tls_endpoint
from tests.probes.test_http_non_http_peer import loop_names

PROBES = 30


@pytest.fixture
def rst_port() -> Iterator[int]:
    """A listener whose thread accepts and resets each connection at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(5)


def _closed_fd(sock: socket.socket) -> bool:
    try:
        os.fstat(sock.fileno())
    except OSError:
        return True
    return False


async def results_and_stale_sockets(
    probe: Callable[[ProbeContext, int], Awaitable[ProbeResult]], port: int
) -> tuple[set[tuple[Outcome, str]], int]:
    async def busy() -> None:
        while True:
            time.sleep(0.02)  # a loop slow to resume a probe, as in a busy worker
            await asyncio.sleep(0)

    busy_task = asyncio.create_task(busy())
    seen: set[tuple[Outcome, str]] = set()
    stale = 0
    try:
        async with make_session() as session:
            ctx = ProbeContext(session=session, clock=SystemClock())
            for _ in range(PROBES):
                result = await probe(ctx, port)
                seen.add((result.outcome, result.message.replace(str(port), "PORT")))
                # a socket object still holding a number whose fd is gone closes whatever has that number next
                stale += sum(
                    1 for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() != -1 and _closed_fd(o)
                )
    finally:
        busy_task.cancel()
    return seen, stale


async def tls_probe(ctx: ProbeContext, port: int) -> ProbeResult:
    return await probe_once(tls_endpoint(port, timeout=2), ctx)


async def tcp_probe(ctx: ProbeContext, port: int) -> ProbeResult:
    return await probe_once(tcp_endpoint(port, timeout=2, send="PING\\r\\n", expect={"contains": "+PONG"}), ctx)


async def https_probe(ctx: ProbeContext, port: int) -> ProbeResult:
    return await probe_once(http_endpoint(f"https://127.0.0.1:{port}/", timeout=2), ctx)


@pytest.mark.parametrize("loop", loop_names())
@pytest.mark.parametrize("probe", [tls_probe, https_probe, tcp_probe], ids=["tls", "https", "tcp"])
def test_a_reset_before_the_tls_handshake_leaves_no_socket_holding_a_closed_fd(
    rst_port: int, loop: str, probe: Any
) -> None:
    seen, stale = loops.run(results_and_stale_sockets(probe, rst_port), loop)
    assert stale == 0
    assert {outcome for outcome, _ in seen} == {Outcome.CONNECTION_RESET}, seen

"""A `kind: tls` probe of a peer that talks first (an SMTP or SSH greeting: a plaintext port probed as TLS)
is a `tls_error` on either event loop, not a timeout.

The greeting here is sent from another thread the moment the connection is accepted, as a mail server in
another process does. uvloop reads a new connection at once: the greeting went into the plain stream's
buffer before `start_tls`, the TLS layer never saw a byte, and the handshake waited for the timeout (20 of
20 probes on uvloop, the daemon's default loop; 0 on asyncio).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from slowatch import loops
from slowatch.clock import SystemClock
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, make_session, tls
from tests.probes.conftest import MARGIN, tls_endpoint
from tests.probes.test_http_non_http_peer import loop_names

PROBES = 20
TIMEOUT = 0.5


@contextlib.contextmanager
def greeting_server(greeting: bytes) -> Iterator[int]:
    """A plain TCP server (a thread, blocking sockets) that sends `greeting` on accept and holds the connection."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=PROBES)
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError):
                conn.sendall(greeting)
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


async def outcomes(port: int) -> collections.Counter[tuple[Outcome, str]]:
    async with make_session() as session:
        ctx = ProbeContext(session=session, clock=SystemClock())
        endpoint = tls_endpoint(port, timeout=TIMEOUT)
        results = await asyncio.gather(*(tls.probe(endpoint, ctx) for _ in range(PROBES)))
    assert all(r.duration <= TIMEOUT + MARGIN for r in results)
    return collections.Counter((r.outcome, r.message) for r in results)


@pytest.mark.parametrize("loop", loop_names())
@pytest.mark.parametrize("greeting", [b"220 mail.example.com ESMTP Postfix\r\n", b"SSH-2.0-OpenSSH_9.2\r\n"])
def test_a_peer_that_greets_in_plaintext_is_a_tls_error_on_every_loop(loop: str, greeting: bytes) -> None:
    with greeting_server(greeting) as port:
        seen = loops.run(outcomes(port), loop)
    assert seen == {(Outcome.TLS_ERROR, "TLS handshake failed: WRONG_VERSION_NUMBER"): PROBES}

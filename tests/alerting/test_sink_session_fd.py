"""The sinks' session hands sockets to the loop as the probes' does: a webhook receiver that resets the
connection before the TLS handshake must not leave a socket object holding a closed fd either (on uvloop it
stayed attached to the closed transport and, freed later, closed whatever connection had that number by
then: in the daemon's own process; see tests/probes/test_fd_double_close.py)."""

from __future__ import annotations

import asyncio
import gc
import socket
import time

import aiohttp
import pytest

from slowatch import loops
from slowatch.alerting.service import default_session
from tests.probes.test_fd_double_close import PROBES, _closed_fd, rst_port
from tests.probes.test_http_non_http_peer import loop_names

__all__ = ["rst_port"]


async def posts_and_stale_sockets(port: int) -> tuple[set[str], int]:
    async def busy() -> None:
        while True:
            time.sleep(0.02)  # a loop slow to resume the sender
            await asyncio.sleep(0)

    busy_task = asyncio.create_task(busy())
    errors: set[str] = set()
    stale = 0
    try:
        async with default_session() as session:
            for _ in range(PROBES):
                try:
                    async with session.post(f"https://127.0.0.1:{port}/hook", json={"text": "down"}) as resp:
                        errors.add(f"status {resp.status}")
                except aiohttp.ClientError as exc:
                    errors.add(type(exc).__name__)
                stale += sum(
                    1 for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() != -1 and _closed_fd(o)
                )
    finally:
        busy_task.cancel()
    return errors, stale


@pytest.mark.parametrize("loop", loop_names())
def test_a_receiver_resetting_before_tls_leaves_no_socket_holding_a_closed_fd(rst_port: int, loop: str) -> None:
    errors, stale = loops.run(posts_and_stale_sockets(rst_port), loop)
    assert stale == 0
    assert errors and not any(e.startswith("status") for e in errors), errors

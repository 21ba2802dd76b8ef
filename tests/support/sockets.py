"""Raw TCP targets on loopback: real sockets, asyncio, nothing mocked.

`TcpTarget` runs one connection handler on a random port (optionally over TLS) and, on `close()`, cancels
every connection it still holds, so hanging handlers never leak. The handlers here are the raw-TCP
behaviours (hang, banner, echo, close, reset, garbage); HTTP behaviours are in `hostile.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from slowatch.topology.processes import free_port as topology_free_port
from slowatch.topology.processes import port_share

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TcpTarget:
    """A loopback server running `handler` for each connection."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._transports: set[asyncio.BaseTransport] = set()
        self._accepted = 0  # protocols the server made; each gets its transport a loop turn or two later
        self._made = 0  # of them, those whose connection was made (`_transports`: those still open)
        self.port = 0
        self.connections = 0

    async def start(self) -> TcpTarget:
        target = self

        class Tracked(asyncio.StreamReaderProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                target._made += 1
                target._transports.add(transport)
                self._tracked = transport
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                target._transports.discard(self._tracked)  # (kept for a long-lived target: a leak, tests/probes
                super().connection_lost(exc)  # test_resources.py)

        def factory() -> asyncio.StreamReaderProtocol:
            self._accepted += 1
            reader = asyncio.StreamReader(limit=2**16)
            return Tracked(reader, self._serve)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away: that is what probes do
        except asyncio.CancelledError:
            pass  # close() ends hanging handlers; end quietly (asyncio logs cancelled handler tasks)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.transport.abort()
            with contextlib.suppress(Exception):  # retrieve the close error so asyncio does not log it
                await writer.wait_closed()

    async def idle(self, within: float = 2.0) -> None:
        """Wait until every connection handler has finished (clients gone), at most `within` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # A connection accepted just before reaches `connection_made` a loop turn or two later, and `_serve`
            # later still: it is tracked from the protocol the server made, so it is ended even if its handler
            # never ran (a ResourceWarning at teardown, seen with grpc's parallel connection attempts on a
            # loaded CI machine, where a fixed 20 ms wait was not enough).
            # Over TLS a failed handshake never reaches `connection_made` (the TLS layer closes that socket),
            # so there the count is not awaited. The first sleep lets accepts already taken reach the factory.
            await asyncio.sleep(0.02)
            deadline = asyncio.get_running_loop().time() + (2.0 if self._ssl is None else 0.02)
            while self._made < self._accepted and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.005)
        while self._tasks or self._writers or self._transports:
            for transport in list(self._transports):
                transport.abort()  # type: ignore[attr-defined]
            self._transports.clear()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                await task
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            await asyncio.sleep(0.01)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let aborted transports finish closing


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), like a crashing server or a middlebox."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):  # the client may have closed first: nothing left to reset
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never answer; ends when the client goes away (so no server-side socket lingers)."""
    while await reader.read(65536):
        pass


def banner(text: bytes) -> Handler:
    """Send `text` on accept (an SMTP/Redis-style greeting), then hold the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(text)
        await writer.drain()
        await hang(reader, writer)

    return handler


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo each line back upper-cased, like a tiny line protocol (`PING` -> `+PONG`)."""
    while line := await reader.readline():
        reply = b"+PONG\r\n" if line.strip() == b"PING" else line.upper()
        writer.write(reply)
        await writer.drain()


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def reset_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    reset(writer)


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff not what you expected\r\n" * 4)
    await writer.drain()
    await hang(reader, writer)


def worker_ports() -> range:
    """This test process's share of the ports below the kernel's ephemeral range: under pytest-xdist each
    worker (PYTEST_XDIST_WORKER gwN of PYTEST_XDIST_WORKER_COUNT) has its own, so a port one worker picked
    and has not bound yet (a daemon starting, or restarting after kill -9) is never the other's pick; being
    below the ephemeral range, no outgoing connection or bind to port 0 takes it either."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return port_share(index, count)


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released), from this worker's `worker_ports()`:
    for a service to start on, or a port that refuses connections."""
    return topology_free_port(ports=worker_ports())


__all__ = [
    "Handler",
    "TcpTarget",
    "banner",
    "close_at_once",
    "echo",
    "free_port",
    "garbage",
    "hang",
    "reset",
    "reset_at_once",
    "worker_ports",
]

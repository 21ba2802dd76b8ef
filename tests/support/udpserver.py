"""A real UDP server on loopback for the udp probe's tests: answers each datagram as told."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

Answer = Callable[[bytes], bytes | None]


class UdpServer(asyncio.DatagramProtocol):
    """Answers each datagram with `answer(data)` (None: stays silent); keeps what it received."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport, not always a subclass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)
        reply = self.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@pytest.fixture
async def udp_serve() -> AsyncIterator[Callable[[Answer], Any]]:
    """`await udp_serve(answer)` -> (server, port) on 127.0.0.1, closed after the test."""
    transports: list[asyncio.BaseTransport] = []

    async def start(answer: Answer) -> tuple[UdpServer, int]:
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(lambda: UdpServer(answer), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return server, transport.get_extra_info("sockname")[1]

    yield start
    for transport in transports:
        transport.close()


def closed_udp_port() -> int:
    """A loopback UDP port nothing listens on (the kernel answers it with ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


__all__ = ["Answer", "UdpServer", "closed_udp_port", "udp_serve"]

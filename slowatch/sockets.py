"""Sockets handed to the event loop: detached once their fd is gone; refused when connected to themselves.

Two hazards of building a transport on a socket object we created (`loop.create_connection(sock=...)`):

* uvloop attaches the object to the transport only once the TCP part is up. When the peer's reset was already
  there (a TLS ClientHello written into it), the transport is closed by then (libuv closed the fd), the object
  stays attached, never detached, and when it is freed it closes that fd number again: by then another
  connection's ('File descriptor N is used by transport' errors, probes reading other targets' bytes in the
  hostile soak). `forget_if_taken` detaches it once the number no longer names that socket (inode compare).
* Connecting to a local port in the ephemeral range with no listener, the kernel may give the socket that very
  port: the SYN meets itself (TCP simultaneous open) and the connection is up with nobody at the other end.
  `self_connected` sees it; it is refused (`SelfConnectedError`, a ConnectionRefusedError).

`HandoffConnector` does both for aiohttp: the probes' connector (tracing.ProbeConnector) and the sinks'.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection

_handed: ContextVar[list[tuple[socket.socket, int]] | None] = ContextVar("slowatch_handed_sockets", default=None)


class SelfConnectedError(ConnectionRefusedError):
    """The socket connected to itself: nothing listens on the port it was connecting to."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNREFUSED, "connected to itself")


def self_connected(sock: socket.socket) -> bool:
    """Whether the connected `sock` is its own peer. A peer that already reset (ENOTCONN) is not: that is
    left to the I/O that follows, which reports the reset."""
    try:
        return bool(sock.getsockname() == sock.getpeername())
    except OSError:
        return False


def socket_inode(sock: socket.socket) -> int:
    """The inode of `sock`'s open file: which socket an fd number is, while it is open."""
    return os.fstat(sock.fileno()).st_ino


def forget_if_taken(sock: socket.socket, inode: int) -> None:
    """After a transport was built on `sock`: detach the socket object when its fd number no longer is that
    socket (closed by the transport, maybe another connection's by now), so that freeing it cannot close the
    number again. A number still naming the socket is left to its transport, which closes it (uvloop detaches
    the object then; asyncio's transport closes the object itself, which leaves fileno() at -1)."""
    fd = sock.fileno()
    if fd == -1:
        return
    try:
        same = os.fstat(fd).st_ino == inode
    except OSError:
        same = False
    if not same:
        sock.detach()


def _new_socket(addr_info: Any) -> socket.socket:
    """aiohappyeyeballs' socket, remembered (with its inode) for the connection attempt under way."""
    sock = socket.socket(family=addr_info[0], type=addr_info[1], proto=addr_info[2])
    handed = _handed.get()
    if handed is not None:
        handed.append((sock, socket_inode(sock)))
    return sock


def _refusing_factory(factory: Callable[[], ResponseHandler]) -> ResponseHandler:
    """Called by `loop.create_connection(sock=...)` once aiohttp's socket is connected, before TLS: a socket
    connected to itself is closed and refused (aiohttp makes the OSError a ClientConnectorError)."""
    for sock, _ in _handed.get() or ():
        if sock.fileno() != -1 and self_connected(sock):
            sock.close()
            raise SelfConnectedError()
    return factory()


class HandoffConnector(aiohttp.TCPConnector):
    """A TCPConnector whose sockets are forgotten once their fd is gone and refused when self-connected.
    Without aiohttp's protocol factory hook (another aiohttp version) self-connects go undetected."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(socket_factory=_new_socket, **kwargs)
        factory = getattr(self, "_factory", None)
        if isinstance(factory, functools.partial):
            self._factory = functools.partial(_refusing_factory, factory)

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Connection:  # noqa: ASYNC109 (aiohttp's signature)
        handed: list[tuple[socket.socket, int]] = []
        token = _handed.set(handed)
        try:
            return await super().connect(req, traces, timeout)
        finally:
            _handed.reset(token)
            for sock, inode in handed:  # the sockets aiohttp gave to transports
                forget_if_taken(sock, inode)


__all__ = ["HandoffConnector", "SelfConnectedError", "forget_if_taken", "self_connected", "socket_inode"]

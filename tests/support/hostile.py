"""A hostile (and sometimes healthy) HTTP/1.1 target: `HostileHttp` picks a behaviour by request path
(see `HostileHttp.ROUTES`); tests add their own with `respond(...)` / `redirect(...)`. Run it with
`TcpTarget(HostileHttp())` (optionally with a TLS context). The raw-TCP pieces are re-exported from
`sockets.py` so tests need one import.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.support.sockets import (
    Handler,
    TcpTarget,
    banner,
    close_at_once,
    echo,
    free_port,
    garbage,
    hang,
    reset,
    reset_at_once,
)

TWO_GIB = 2 << 30
_ZEROS = bytes(64 * 1024)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, headers, body)


def http_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


Route = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def respond(status: int = 200, body: bytes | str | object = b"ok", headers: dict[str, str] | None = None) -> Route:
    """A route answering `status` with `body` (str: text, bytes: as is, anything else: JSON)."""
    if isinstance(body, str):
        data, ctype = body.encode(), "text/plain; charset=utf-8"
    elif isinstance(body, bytes):
        data, ctype = body, "application/octet-stream"
    else:
        data, ctype = json.dumps(body).encode(), "application/json"
    fields = {"Content-Type": ctype, "Content-Length": str(len(data)), "Connection": "close"}
    fields.update(headers or {})

    async def route(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_head(status, fields) + (b"" if req.method == "HEAD" else data))
        await writer.drain()

    return route


def redirect(location: Callable[[Request], str], status: int = 302) -> Route:
    async def route(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = {"Location": location(req), "Content-Length": "0", "Connection": "close"}
        writer.write(http_head(status, head))
        await writer.drain()

    return route


async def _hang(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await hang(reader, writer)


async def _trickle(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(http_head(200, {"Content-Length": "100", "Content-Type": "text/plain"}))
    for _ in range(100):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(1.0)


async def _huge(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """2 GiB announced in Content-Length, generated lazily from one 64 KiB buffer."""
    writer.write(http_head(200, {"Content-Length": str(TWO_GIB)}))
    if req.method == "HEAD":
        await writer.drain()
        return
    for _ in range(TWO_GIB // len(_ZEROS)):
        writer.write(_ZEROS)
        await writer.drain()


async def _huge_chunked(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """2 GiB in chunked encoding (no Content-Length to judge by), generated lazily."""
    writer.write(http_head(200, {"Transfer-Encoding": "chunked"}))
    chunk = f"{len(_ZEROS):x}\r\n".encode() + _ZEROS + b"\r\n"
    for _ in range(TWO_GIB // len(_ZEROS)):
        writer.write(chunk)
        await writer.drain()


async def _reset(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(http_head(200, {"Content-Length": "1000"}) + b"partial")
    await writer.drain()
    await asyncio.sleep(0.05)
    reset(writer)


async def _garbage(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage \x01\x02\r\n\r\n")
    await writer.drain()


async def _close(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _echo(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = {"method": req.method, "headers": req.headers, "body": req.body.decode("utf-8", "replace")}
    await respond(200, body)(req, reader, writer)


def _chain(req: Request) -> str:
    n = int(req.path.rsplit("/", 1)[1])
    return "/ok" if n <= 1 else f"/chain/{n - 1}"


def _other_host(req: Request) -> str:
    """`127.0.0.1:port` <-> `localhost:port`: the same server under another host name."""
    host, _, port = req.headers.get("host", "").rpartition(":")
    other = "localhost" if host == "127.0.0.1" else "127.0.0.1"
    return f"http://{other}:{port}/ok"


@dataclass
class HostileHttp:
    """An HTTP/1.1 handler choosing its behaviour by path. `requests` holds the last 100 that arrived
    (bounded, so thousands of probes do not look like a leak in memory tests)."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: collections.deque[Request] = field(default_factory=lambda: collections.deque(maxlen=100))

    ROUTES = {
        "/ok": respond(200, "ok"),
        "/hang": _hang,
        "/trickle": _trickle,
        "/huge": _huge,
        "/huge-chunked": _huge_chunked,
        "/loop": redirect(lambda req: "/loop"),
        "/other-host": redirect(_other_host),
        "/reset": _reset,
        "/garbage": _garbage,
        "/close": _close,
        "/echo": _echo,
    }

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await read_request(reader)
        if req is None:
            return
        self.requests.append(req)
        path = req.path.split("?", 1)[0]
        route = self.routes.get(path) or self.ROUTES.get(path)
        if route is None and path.startswith("/status/"):
            route = respond(int(path.rsplit("/", 1)[1]), "status")
        if route is None and path.startswith("/chain/"):
            route = redirect(_chain)
        await (route or respond(404, "not found"))(req, reader, writer)


__all__ = [
    "TWO_GIB",
    "Handler",
    "HostileHttp",
    "Request",
    "TcpTarget",
    "banner",
    "close_at_once",
    "echo",
    "free_port",
    "garbage",
    "hang",
    "redirect",
    "reset",
    "reset_at_once",
    "respond",
]

"""Plain TCP connections for the tcp and tls probes, with `resolve` and `connect` phase timings; escapes."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Any

from slowatch.clock import Clock
from slowatch.probes.failures import INVALID_HOST_NAME
from slowatch.sockets import SelfConnectedError, self_connected


async def open_tcp(
    host: str, port: int, clock: Clock, phases: dict[str, float], limit: int = 65536
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve, then try each address in turn; raises OSError (socket.gaierror when resolving fails). An IP
    literal is not resolved (no resolver thread hop; its `resolve` phase is 0)."""
    sock = await connect_socket(host, port, clock, phases)
    return await asyncio.open_connection(sock=sock, limit=limit)


async def getaddrinfo(host: str, port: int | None, **kwargs: Any) -> list[Any]:
    """`loop.getaddrinfo`, with a name the resolver refuses to encode (`a..example`, a label of more than 63
    characters: UnicodeError, no lookup made) raised as the socket.gaierror any failed lookup is."""
    try:
        return await asyncio.get_running_loop().getaddrinfo(host, port, **kwargs)
    except UnicodeError as exc:
        raise socket.gaierror(socket.EAI_NONAME, INVALID_HOST_NAME) from exc


async def connect_socket(host: str, port: int, clock: Clock, phases: dict[str, float]) -> socket.socket:
    """`open_tcp`'s connected non-blocking socket, for a transport to be built on (TLS from its first byte:
    `tls.probe`). Records `resolve` and `connect`; never leaves a socket open when it raises or is cancelled."""
    addresses = literal_address(host, port)
    loop = asyncio.get_running_loop()
    if addresses is None:
        t = clock.monotonic()
        infos = await getaddrinfo(host, port, type=socket.SOCK_STREAM)
        phases["resolve"] = clock.monotonic() - t
        found = dict.fromkeys((info[0], str(info[4][0]), int(info[4][1])) for info in infos)
        candidates = [(socket.AddressFamily(family), address, p) for family, address, p in found]
    else:
        phases["resolve"] = 0.0
        bare, literal_port = addresses[0]
        family = socket.AF_INET6 if ":" in bare else socket.AF_INET
        candidates = [(family, bare, literal_port)]
    t = clock.monotonic()
    error: OSError = OSError(f"no addresses for {host}")
    for family, address, address_port in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, (address, address_port))
            if self_connected(sock):  # nothing listens there (see slowatch.sockets)
                raise SelfConnectedError()
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:  # cancelled (the probe's timeout): the socket is ours to close
            sock.close()
            raise
        phases["connect"] = clock.monotonic() - t
        return sock
    raise error


def literal_address(host: str, port: int) -> list[tuple[str, int]] | None:
    """`[(host, port)]` when `host` is an IPv4 or IPv6 address (brackets allowed), else None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return None
    return [(bare, port)]


_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[rnt0\\])")
_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def decode_escapes(text: str) -> bytes:
    r"""UTF-8 bytes of `text` with `\r \n \t \0 \\ \xHH` turned into the bytes they name."""
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos : match.start()].encode()
        code = match.group(1)
        out += bytes([int(code[1:], 16)]) if code[0] == "x" else _SIMPLE[code]
        pos = match.end()
    out += text[pos:].encode()
    return bytes(out)


__all__ = ["connect_socket", "decode_escapes", "getaddrinfo", "literal_address", "open_tcp"]

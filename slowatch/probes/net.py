"""Plain TCP connections for the tcp and tls probes, with `resolve` and `connect` phase timings; escapes."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

from slowatch.clock import Clock


async def open_tcp(
    host: str, port: int, clock: Clock, phases: dict[str, float], limit: int = 65536
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve, then try each address in turn; raises OSError (socket.gaierror when resolving fails). An IP
    literal is not resolved (no resolver thread hop; its `resolve` phase is 0)."""
    addresses = literal_address(host, port)
    if addresses is None:
        t = clock.monotonic()
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        phases["resolve"] = clock.monotonic() - t
        addresses = list(dict.fromkeys((str(info[4][0]), int(info[4][1])) for info in infos))
    else:
        phases["resolve"] = 0.0
    t = clock.monotonic()
    error: OSError = OSError(f"no addresses for {host}")
    for address, address_port in addresses:
        try:
            reader, writer = await asyncio.open_connection(address, address_port, limit=limit)
        except OSError as exc:
            error = exc
            continue
        phases["connect"] = clock.monotonic() - t
        return reader, writer
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


__all__ = ["decode_escapes", "literal_address", "open_tcp"]

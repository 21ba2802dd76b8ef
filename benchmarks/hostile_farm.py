"""The hostile target farm of `hostile_soak.py`: one asyncio process, loopback only, many ports.

HTTP (plain and over TLS with good, expired, self-signed, wrong-host, not-yet-valid certificates):
`tests/support/hostile.py`'s routes plus slow-loris headers, close mid-headers, 100 MB bodies, a gzip bomb,
invalid status lines, redirects to other schemes, ports and hosts, and a flaky (alternating) path. Raw TCP:
RST on accept, close on accept, tarpit, garbage, a banner, an echo, a TLS peer that stalls mid-handshake.
DNS (UDP and TCP): `tests/support/dnsserver.py`'s names plus oversized answers and wrong ids only. UDP: echo,
silent, garbage. gRPC: healthy, oversized replies. Nothing here is used by slowatch itself.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnslib import RR, DNSRecord

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.certs import CertSet, make_certs  # noqa: E402
from tests.support.dnsserver import DnsTarget  # noqa: E402
from tests.support.grpcserver import SERVING, GrpcTarget  # noqa: E402
from tests.support.hostile import (  # noqa: E402
    HostileHttp,
    Request,
    TcpTarget,
    banner,
    close_at_once,
    echo,
    free_port,
    garbage,
    hang,
    http_head,
    redirect,
    reset_at_once,
    respond,
)

Reader, Writer = asyncio.StreamReader, asyncio.StreamWriter
HUNDRED_MB = 100 * 1024 * 1024
_ZEROS = bytes(64 * 1024)
_BOMB = gzip.compress(bytes(HUNDRED_MB), compresslevel=9)  # ~100 KB on the wire, 100 MB decoded
TLS_VARIANTS = ("good", "expired", "self_signed", "wrong_host", "not_yet_valid")


async def _slowloris(req: Request, reader: Reader, writer: Writer) -> None:
    """The status line and headers, one byte per second (never finishes within any sane timeout)."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"a" * 4096:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def _close_mid_headers(req: Request, reader: Reader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
    await writer.drain()
    writer.close()


async def _hundred_mb(req: Request, reader: Reader, writer: Writer) -> None:
    writer.write(http_head(200, {"Content-Length": str(HUNDRED_MB), "Content-Type": "text/plain"}))
    for _ in range(HUNDRED_MB // len(_ZEROS)):
        writer.write(_ZEROS)
        await writer.drain()


async def _infinite_chunked(req: Request, reader: Reader, writer: Writer) -> None:
    writer.write(http_head(200, {"Transfer-Encoding": "chunked"}))
    chunk = f"{len(_ZEROS):x}\r\n".encode() + _ZEROS + b"\r\n"
    while True:
        writer.write(chunk)
        await writer.drain()


async def _gzip_bomb(req: Request, reader: Reader, writer: Writer) -> None:
    head = {"Content-Length": str(len(_BOMB)), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    writer.write(http_head(200, head) + _BOMB)
    await writer.drain()


def _raw(data: bytes) -> Any:
    async def route(req: Request, reader: Reader, writer: Writer) -> None:
        writer.write(data)
        await writer.drain()

    return route


@dataclass
class Flaky:
    """Alternates: 200, then 503, then 200, ..."""

    count: itertools.count[int] = field(default_factory=itertools.count)

    async def __call__(self, req: Request, reader: Reader, writer: Writer) -> None:
        await (respond(200, "ok") if next(self.count) % 2 == 0 else respond(503, "down"))(req, reader, writer)


async def _tls_stall(reader: Reader, writer: Writer) -> None:
    """Reads the ClientHello, answers the first 5 bytes of a ServerHello record, then nothing."""
    await reader.read(4096)
    writer.write(b"\x16\x03\x03\x00\x7a\x02")
    await writer.drain()
    await hang(reader, writer)


class HostileDns(DnsTarget):
    """`huge.test.`: a 3,000-record answer (over UDP one ~48 KB datagram without TC: no server should);
    `wrongid.test.`: over UDP only replies with another id (see `decoys`)."""

    def answer(self, data: bytes, transport: str) -> bytes | None:
        request = DNSRecord.parse(data)
        if str(request.q.qname) != "huge.test.":
            return super().answer(data, transport)
        reply = request.reply()
        for i in range(3000):
            reply.add_answer(*RR.fromZone(f"huge.test. 60 IN A 10.{i // 65536}.{i // 256 % 256}.{i % 256}"))
        packed: bytes = reply.pack()
        return packed


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.mode == "echo":
            self.transport.sendto(b"+PONG " + data[:100], addr)
        elif self.mode == "garbage":
            self.transport.sendto(b"\x00\xff\x1b[31m" + bytes(range(256)) * 200, addr)


def refused_port() -> int:
    """A port nothing listens on, below the ephemeral range: a free ephemeral port can become the source port of a
    connection to itself (TCP self-connect), which then "succeeds" (seen in the first soak: 645 of them)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in range(low - 1, 1024, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


@dataclass
class Farm:
    certs: CertSet
    http: int = 0
    tls: dict[str, int] = field(default_factory=dict)
    tcp: dict[str, int] = field(default_factory=dict)
    udp: dict[str, int] = field(default_factory=dict)
    dns: int = 0
    grpc: dict[str, int] = field(default_factory=dict)
    refused: int = field(default_factory=lambda: refused_port())
    _closers: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self._closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result


def http_routes(farm: Farm) -> dict[str, Any]:
    def to(url: str) -> Any:
        return redirect(lambda req: url)

    return {
        "/slowloris": _slowloris,
        "/close-mid-headers": _close_mid_headers,
        "/100mb": _hundred_mb,
        "/infinite-chunked": _infinite_chunked,
        "/gzip-bomb": _gzip_bomb,
        "/flaky": Flaky(),
        "/bad-status": _raw(b"HTTP/1.1 99999999999 \x1b[2J\r\n\r\n"),
        "/no-colon": _raw(b"HTTP/1.1 200 OK\r\nthis header has no colon\r\nContent-Length: 2\r\n\r\nok"),
        "/bad-chunk": _raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"),
        "/header-flood": _raw(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 500 + b"Content-Length: 0\r\n\r\n"),
        "/redirect-ftp": to("ftp://127.0.0.1/pub"),
        "/redirect-javascript": to("javascript:alert(1)"),
        "/redirect-badport": to("http://127.0.0.1:99999/x"),
        "/redirect-refused": to(f"http://127.0.0.1:{farm.refused}/x"),
        "/redirect-tls-expired": to(f"https://localhost:{farm.tls.get('expired', 1)}/ok"),
        "/redirect-nxhost": to("http://no-such-host.invalid/ok"),
        "/redirect-secret": to("/ok?token=hunter2-redirect-secret"),
    }


async def start_farm(workdir: Path | None = None) -> Farm:
    directory = Path(workdir or tempfile.mkdtemp(prefix="hostile-farm-"))
    directory.mkdir(parents=True, exist_ok=True)
    farm = Farm(make_certs(directory))
    for variant in TLS_VARIANTS:
        handler = HostileHttp()
        target = await TcpTarget(handler, farm.certs.server_context(variant)).start()
        farm.tls[variant] = target.port
        farm._closers.append(target.close)
    routes = http_routes(farm)
    http = HostileHttp(routes=routes)
    target = await TcpTarget(http).start()
    farm.http = target.port
    farm._closers.append(target.close)
    raw = {
        "rst": reset_at_once, "close": close_at_once, "tarpit": hang, "garbage": garbage, "echo": echo,
        "banner": banner(b"220 smtp.example ESMTP ready\r\n"), "tls-stall": _tls_stall,
    }  # fmt: skip
    for name, raw_handler in raw.items():
        target = await TcpTarget(raw_handler).start()
        farm.tcp[name] = target.port
        farm._closers.append(target.close)
    loop = asyncio.get_running_loop()
    for mode in ("echo", "silent", "garbage"):
        transport, _ = await loop.create_datagram_endpoint(lambda m=mode: _Udp(m), local_addr=("127.0.0.1", 0))
        farm.udp[mode] = transport.get_extra_info("sockname")[1]
        farm._closers.append(transport.close)
    dns = HostileDns(decoys={"wrongid.test.": ("id", "junk", "source")}, silent={"wrongid.test."})
    await dns.start()
    farm.dns = dns.port
    farm._closers.append(dns.close)
    healthy = await GrpcTarget().start()
    await healthy.set("orders", SERVING)
    huge = await GrpcTarget(huge=8 << 20).start()
    farm.grpc = {"healthy": healthy.port, "huge": huge.port}
    farm._closers += [healthy.close, huge.close]
    return farm


def ports(farm: Farm) -> dict[str, Any]:
    return {
        "http": farm.http, "tls": farm.tls, "tcp": farm.tcp, "udp": farm.udp, "dns": farm.dns, "grpc": farm.grpc,
        "refused": farm.refused, "ca_file": str(farm.certs.ca_file),
    }  # fmt: skip


async def serve(workdir: Path) -> None:
    """Run the farm in this process until killed; its ports as one JSON line on stdout."""
    farm = await start_farm(workdir)
    print(json.dumps(ports(farm)), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="hostile-farm-"))))


__all__ = ["TLS_VARIANTS", "Farm", "ports", "refused_port", "serve", "start_farm"]

"""A loopback DNS server (dnslib for the wire format, asyncio for the sockets) on one random port,
UDP and TCP. Behaviour per name: records from `zone`, or `nxdomain.test.` -> NXDOMAIN,
`servfail.test.` -> SERVFAIL, `timeout.test.` -> never answers, `garbage.test.` -> the query's id and
flags, then junk, `big.test.` -> TC over UDP (too many records) and the full answer over TCP,
`close.test.` -> TC over UDP and, over TCP, the connection closed without a reply.

Over UDP, `decoys[name]` are datagrams sent before the reply to a query for `name`, as a spoofer or a
late answer would: "id" (the reply with another id), "question" (the query's id, another question),
"question_tc" (the same, truncated), "source" (the right reply, from another port), "junk" (six bytes).
`silent` names get only their decoys."""

from __future__ import annotations

import asyncio
import collections
import struct
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSRecord

DECOYS = ("id", "question", "question_tc", "source", "junk")
DEFAULT_ZONE = """
up.test.        60 IN A     127.0.0.10
up.test.        60 IN A     127.0.0.11
v6.test.        60 IN AAAA  ::1
alias.test.     60 IN CNAME up.test.
up.test.        60 IN MX    10 mail.up.test.
up.test.        60 IN TXT   "v=spf1 -all"
_http._tcp.up.test. 60 IN SRV 0 5 8080 up.test.
up.test.        60 IN NS    ns1.up.test.
"""


@dataclass
class DnsTarget:
    zone: str = DEFAULT_ZONE
    port: int = 0
    queries: collections.deque[tuple[str, str, str]] = field(  # (transport, name, type), the last 100
        default_factory=lambda: collections.deque(maxlen=100)
    )
    decoys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    _records: list[RR] = field(default_factory=list)
    _udp: asyncio.DatagramTransport | None = None
    _other: Any = None  # a second UDP socket, for replies from another port
    _tcp: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> DnsTarget:
        self._records = RR.fromZone(self.zone)
        loop = asyncio.get_running_loop()
        for _ in range(20):  # find a port free for both UDP and TCP
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=("127.0.0.1", self.port))
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
            except OSError:
                transport.close()
                continue
            self._udp, self.port = transport, port
            self._other, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
            return self
        raise RuntimeError("no free port for UDP and TCP")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._other is not None:
            self._other.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
            await task
        if self._tcp is not None:
            await self._tcp.wait_closed()

    def answer(self, data: bytes, transport: str) -> bytes | None:
        """The reply to one query, None to stay silent, or b"" to close the connection (TCP)."""
        request = DNSRecord.parse(data)
        qname, qtype = str(request.q.qname), QTYPE[request.q.qtype]
        self.queries.append((transport, qname, qtype))
        reply = request.reply()
        if qname == "timeout.test.":
            return None
        if qname == "garbage.test.":  # a header for one question, then no question
            return data[:2] + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00junk"
        if qname == "nxdomain.test.":
            reply.header.rcode = RCODE.NXDOMAIN
        elif qname == "servfail.test.":
            reply.header.rcode = RCODE.SERVFAIL
        elif qname == "close.test.":
            if transport == "tcp":
                return b""  # close without a reply
            reply.header.tc = 1
        elif qname == "big.test.":
            if transport == "udp":
                reply.header.tc = 1
            else:
                for i in range(100):
                    reply.add_answer(*RR.fromZone(f"big.test. 60 IN A 10.0.{i // 250}.{i % 250}"))
        else:
            self._add_answers(reply, qname, qtype)
        packed: bytes = reply.pack()
        return packed

    def send_udp(self, data: bytes, addr: tuple[str, int], udp: Any) -> None:
        """The decoys for the query's name (see the module docstring), then its reply unless `silent`."""
        reply = self.answer(data, "udp")
        if reply is None:
            return
        qname = str(DNSRecord.parse(data).q.qname)
        for kind in self.decoys.get(qname, ()):
            sender = self._other if kind == "source" else udp
            sender.sendto(reply if kind == "source" else self._decoy(kind, reply), addr)
        if qname not in self.silent:
            udp.sendto(reply, addr)

    @staticmethod
    def _decoy(kind: str, reply: bytes) -> bytes:
        if kind == "id":
            return struct.pack("!H", (struct.unpack("!H", reply[:2])[0] + 1) & 0xFFFF) + reply[2:]
        if kind in ("question", "question_tc"):
            other = DNSRecord.parse(reply)
            other.q.qname = "decoy.test."
            other.header.tc = int(kind == "question_tc")
            packed: bytes = other.pack()
            return packed
        assert kind == "junk", kind
        return b"\x00\x01junk"

    def _add_answers(self, reply: DNSRecord, qname: str, qtype: str) -> None:
        names = [qname]
        for rr in self._records:  # follow one level of CNAME, like a recursive server would
            if str(rr.rname) == qname and QTYPE[rr.rtype] == "CNAME" and qtype != "CNAME":
                reply.add_answer(rr)
                names.append(str(rr.rdata))
        matched = [rr for rr in self._records if str(rr.rname) in names and QTYPE[rr.rtype] == qtype]
        if not matched and not any(str(rr.rname) == qname for rr in self._records):
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in matched:
            reply.add_answer(rr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = self.answer(await reader.readexactly(length), "tcp")
                if reply == b"":
                    return
                if reply is None:  # stay silent until the client gives up
                    while await reader.read(65536):
                        pass
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # close() ends silent connections; end quietly
        finally:
            self._tasks.discard(task)
            writer.transport.abort()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, target: DnsTarget) -> None:
        self.target = target
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # a datagram transport (not a DatagramTransport subclass in 3.11)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.target.send_udp(data, addr, self.transport)


__all__ = ["DECOYS", "DEFAULT_ZONE", "DnsTarget"]

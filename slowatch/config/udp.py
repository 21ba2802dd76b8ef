"""`kind: udp`: send one datagram to a host and port; optionally wait for a reply that must match."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from slowatch.config.endpoint_base import ByteSize, EndpointBase, Host, Port, TcpExpect


class UdpEndpoint(EndpointBase):
    """Send `send` (escapes like `\\r\\n`, `\\x00` allowed) in one datagram. With `expect`, the first reply
    datagram must contain the substring or match the regex, within the timeout; without, sending is enough."""

    kind: Literal["udp"]
    host: Host
    port: Port
    send: Annotated[str, Field(max_length=65_000)]
    expect: TcpExpect | None = None
    read_bytes: Annotated[ByteSize, Field(le=65_535)] = 4096


__all__ = ["UdpEndpoint"]

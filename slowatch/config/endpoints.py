"""Endpoint models: what to probe and how. One model per probe kind, discriminated by `kind`.

The union sits above the kinds: endpoint_base.py (the shared parts, http, tcp, tls, dns) <- grpc.py, icmp.py,
transaction.py, udp.py <- this module. Imports run downwards only, so any of them can be imported first.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from slowatch.config.endpoint_base import (
    JSON_PATH_STEP,
    BodyAssertion,
    ByteSize,
    DnsEndpoint,
    DnsExpect,
    EndpointBase,
    Host,
    HttpEndpoint,
    HttpExpect,
    Port,
    Proxy,
    TcpEndpoint,
    TcpExpect,
    TlsClient,
    TlsEndpoint,
    check_json_path,
    check_regex,
    http_url,
    split_hostport,
)
from slowatch.config.grpc import GrpcEndpoint
from slowatch.config.icmp import IcmpEndpoint
from slowatch.config.transaction import TransactionEndpoint
from slowatch.config.udp import UdpEndpoint

Endpoint = Annotated[
    HttpEndpoint
    | TcpEndpoint
    | TlsEndpoint
    | DnsEndpoint
    | TransactionEndpoint
    | GrpcEndpoint
    | IcmpEndpoint
    | UdpEndpoint,
    Field(discriminator="kind"),
]

__all__ = [
    "JSON_PATH_STEP",
    "BodyAssertion",
    "ByteSize",
    "DnsEndpoint",
    "DnsExpect",
    "Endpoint",
    "EndpointBase",
    "GrpcEndpoint",
    "Host",
    "HttpEndpoint",
    "HttpExpect",
    "IcmpEndpoint",
    "Port",
    "Proxy",
    "TcpEndpoint",
    "TcpExpect",
    "TlsClient",
    "TlsEndpoint",
    "TransactionEndpoint",
    "UdpEndpoint",
    "check_json_path",
    "check_regex",
    "http_url",
    "split_hostport",
]

"""Endpoint models for tests: name `t`, interval 10 s, timeout 1 s unless overridden."""

from __future__ import annotations

from typing import Any

from slowatch.config.endpoints import DnsEndpoint, HttpEndpoint, TcpEndpoint, TlsEndpoint


def http_endpoint(url: str, **options: Any) -> HttpEndpoint:
    return HttpEndpoint.model_validate(
        {"kind": "http", "name": "t", "interval": 10, "timeout": 1, "url": url, **options}
    )


def tcp_endpoint(port: int, **options: Any) -> TcpEndpoint:
    data = {"kind": "tcp", "name": "t", "interval": 10, "timeout": 1, "host": "127.0.0.1", "port": port}
    return TcpEndpoint.model_validate({**data, **options})


def tls_endpoint(port: int, **options: Any) -> TlsEndpoint:
    data = {"kind": "tls", "name": "t", "interval": 10, "timeout": 1, "host": "127.0.0.1", "port": port}
    return TlsEndpoint.model_validate({**data, **options})


def dns_endpoint(query: str, port: int, **options: Any) -> DnsEndpoint:
    data = {"kind": "dns", "name": "t", "interval": 10, "timeout": 1, "query": query}
    return DnsEndpoint.model_validate({**data, "nameserver": f"127.0.0.1:{port}", **options})

"""The endpoint config models: the discriminated union, validation errors, secrets kept secret."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from slowatch.config.endpoints import (
    DnsEndpoint,
    Endpoint,
    HttpEndpoint,
    TcpEndpoint,
    TlsEndpoint,
    split_hostport,
)

ENDPOINT: TypeAdapter[Any] = TypeAdapter(Endpoint)
BASE = {"name": "x", "interval": "30s", "timeout": "5s"}


def parse(**data: Any) -> Any:
    return ENDPOINT.validate_python({**BASE, **data})


def error(**data: Any) -> str:
    with pytest.raises(ValidationError) as info:
        parse(**data)
    return str(info.value)


def test_kinds_and_defaults() -> None:
    http = parse(kind="http", url="https://api.example/health")
    assert isinstance(http, HttpEndpoint)
    assert (http.method, http.expect.status, http.follow_redirects, http.max_redirects) == ("GET", [200], True, 10)
    assert (http.max_body_size, http.tls.verify, http.proxy) == (1 << 20, True, None)
    tcp = parse(kind="tcp", host="db.internal", port=5432)
    assert isinstance(tcp, TcpEndpoint) and tcp.read_bytes == 4096 and tcp.expect is None
    tls = parse(kind="tls", host="api.example")
    assert isinstance(tls, TlsEndpoint) and tls.port == 443 and tls.expiry_threshold == 14 * 86400
    dns = parse(kind="dns", query="api.example")
    assert isinstance(dns, DnsEndpoint)
    assert (dns.record_type, dns.transport, dns.expect.rcode, dns.nameserver) == ("A", "udp", "NOERROR", None)


def test_full_http_options() -> None:
    ep = parse(
        kind="http",
        url="https://api.example/v1/health",
        method="post",
        headers={"Authorization": "Bearer t0ken"},
        json={"probe": True},
        expect={
            "status": [200, "3xx", "500-503"],
            "headers": {"Content-Type": "json"},
            "body": [{"json_path": "$.checks[0]['db ok']", "equals": True}, {"regex": "up|ok"}],
        },
        follow_redirects=False,
        max_redirects=3,
        max_body_size="64KiB",
        tls={"verify": True, "ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem", "key_password": "kp"},
        proxy={"url": "http://proxy:3128", "username": "u", "password": "pp"},
    )
    assert ep.method == "POST" and ep.json_body == {"probe": True} and ep.max_body_size == 65536
    text = repr(ep)
    assert "t0ken" not in text and "kp" not in text.replace("key_password", "") and "'pp'" not in text


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"kind": "ftp", "url": "x"}, "does not match any of the expected tags"),
        ({"kind": "http", "url": "ftp://x/"}, "must be an http:// or https:// URL"),
        ({"kind": "http", "url": "https://u:p@x/"}, "credentials do not belong in the URL"),
        ({"kind": "http", "url": "https://x/", "method": "GET /"}, "not an HTTP method"),
        ({"kind": "http", "url": "https://x/", "body": "a", "json": {}}, "set body or json, not both"),
        ({"kind": "http", "url": "https://x/", "expect": {"status": [99]}}, "status 99 is not between 100 and 599"),
        ({"kind": "http", "url": "https://x/", "expect": {"status": ["2x"]}}, "is not a code, a class like 2xx"),
        ({"kind": "http", "url": "https://x/", "expect": {"status": []}}, "at least 1 item"),
        ({"kind": "http", "url": "https://x/", "expect": {"headers": {"A": "("}}}, "invalid regular expression"),
        (
            {"kind": "http", "url": "https://x/", "expect": {"body": [{}]}},
            "set exactly one of contains, regex, json_path",
        ),
        (
            {"kind": "http", "url": "https://x/", "expect": {"body": [{"contains": "a", "regex": "b"}]}},
            "set exactly one of contains, regex, json_path",
        ),
        (
            {"kind": "http", "url": "https://x/", "expect": {"body": [{"contains": "a", "equals": 1}]}},
            "go with json_path",
        ),
        ({"kind": "http", "url": "https://x/", "expect": {"body": [{"json_path": "status"}]}}, "unsupported JSON path"),
        ({"kind": "http", "url": "https://x/", "expect": {"body": [{"json_path": "$..a"}]}}, "unsupported JSON path"),
        (
            {
                "kind": "http",
                "url": "https://x/",
                "expect": {"body": [{"json_path": "$.a", "equals": 1, "exists": True}]},
            },
            "set equals or exists, not both",
        ),
        ({"kind": "http", "url": "https://x/", "max_body_size": "1 potato"}, "not a size"),
        ({"kind": "http", "url": "https://x/", "tls": {"key_file": "/k"}}, "need cert_file"),
        ({"kind": "http", "url": "https://x/", "proxy": {"url": "http://u:p@proxy:1"}}, "not in the URL"),
        (
            {"kind": "http", "url": "https://x/", "proxy": {"url": "http://p:1", "username": "a:b"}},
            "cannot contain ':'",
        ),
        ({"kind": "http", "url": "https://x/", "verify": False}, "Extra inputs are not permitted"),
        ({"kind": "tcp", "host": "db", "port": 0}, "greater than or equal to 1"),
        ({"kind": "tcp", "host": "db", "port": 1, "expect": {}}, "set exactly one of contains, regex"),
        ({"kind": "tcp", "host": "db/x", "port": 1}, "String should match pattern"),
        ({"kind": "dns", "query": "a" * 64 + ".example"}, "not a DNS name"),
        ({"kind": "dns", "query": "a.example", "record_type": "PTR"}, "Input should be 'A'"),
        ({"kind": "dns", "query": "a.example", "nameserver": "1.1.1.1:dns"}, "not host[:port]"),
        ({"kind": "dns", "query": "a.example", "expect": {"rcode": "NOPE"}}, "Input should be 'NOERROR'"),
    ],
)
def test_invalid(data: dict[str, Any], fragment: str) -> None:
    assert fragment in error(**data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.1.1.1", ("1.1.1.1", 53)),
        ("1.1.1.1:5353", ("1.1.1.1", 5353)),
        ("ns1.example", ("ns1.example", 53)),
        ("ns1.example:54", ("ns1.example", 54)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
    ],
)
def test_split_hostport(value: str, expected: tuple[str, int]) -> None:
    assert split_hostport(value, 53) == expected


@pytest.mark.parametrize("value", ["", ":53", "host:0", "host:99999", "[::1", "[::1]x", "a b:53", "1:2:zz"])
def test_split_hostport_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="not host"):
        split_hostport(value, 53)

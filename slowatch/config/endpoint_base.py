"""What every endpoint kind builds on (`EndpointBase`, sizes, hosts, ports, TLS client options, URL and
assertion checks) and the first four kinds' models: http, tcp, tls, dns.

The other kinds (grpc.py, icmp.py, transaction.py, udp.py) import from here; `endpoints.py` joins them all
into the `Endpoint` union. Nothing here imports a kind module: importing any one of them first works.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

import dns.exception
import dns.name
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, field_validator, model_validator
from yarl import URL

from slowatch.config.alerting import EndpointAlerts
from slowatch.config.consumers import EndpointRef
from slowatch.config.types import (
    Delay,
    Duration,
    ExpectedHeaders,
    Headers,
    Interval,
    Model,
    Name,
    Timeout,
    control_character,
    finite_json,
)


class EndpointBase(Model):
    """Options common to every kind. `interval` and `timeout` are filled from `defaults` when absent."""

    name: Name
    interval: Interval
    timeout: Timeout
    retries: Annotated[int, Field(ge=0, le=10)] = 0
    retry_delay: Delay = 1.0
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    alerts: EndpointAlerts = Field(default_factory=EndpointAlerts)
    depends_on: list[EndpointRef] = Field(default_factory=list)  # names or label selectors (config/dependencies.py)


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.ASCII)  # (`\d`: ASCII digits only)
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 1 << 20, "GB": 10**9, "GiB": 1 << 30}


def _to_bytes(value: Any) -> Any:
    match = _SIZE.match(value) if isinstance(value, str) else None
    if isinstance(value, str) and not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 4096, 64KiB, 1MiB)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)] if match else value


ByteSize = Annotated[int, BeforeValidator(_to_bytes), Field(ge=1, le=1 << 30)]
"""Bytes; written as `4096`, `64KiB`, `1MiB` (KB/MB/GB are powers of 1000)."""

Port = Annotated[int, Field(ge=1, le=65535)]


def _unbracketed(value: Any) -> Any:
    """`[::1]` (an IPv6 address as a URL writes it) -> `::1`: the host field takes both spellings."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and ":" in value:
        return value[1:-1]
    return value


Host = Annotated[
    str,
    BeforeValidator(_unbracketed),
    Field(min_length=1, max_length=253, pattern=r"^[^\s/:@]+$|^[0-9A-Fa-f:.]+$"),
]
"""A name or an address; an IPv6 address bare (`::1`) or in brackets (`[::1]`)."""


def _sendable_name(value: str) -> str:
    try:
        value.encode("idna")  # as ssl does for SNI: an error there escaped the probe (a bug, not an outcome)
    except UnicodeError:
        raise ValueError("not a valid host name (an empty label, or one longer than 63 characters)") from None
    return value


ServerName = Annotated[Host, AfterValidator(_sendable_name)]
"""The name a TLS client sends (SNI) and checks: a Host that ssl can encode. (A `host` that cannot be one is a
dns_error at probe time instead: a redirect can name one too.)"""

JSON_PATH_STEP = r"\.[A-Za-z_][\w-]*|\[-?\d+\]|\['[^']*'\]|\[\"[^\"]*\"\]"
"""One step of the JSONPath subset: `.name`, `[0]`, `[-1]`, `['odd key']`. A path is `$` then steps."""
_JSON_PATH = re.compile(rf"^\$(?:{JSON_PATH_STEP})*$")
_STATUS_RANGE = re.compile(r"^[1-5]xx$|^([1-5]\d\d)-([1-5]\d\d)$", re.ASCII)


def check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def check_json_path(path: str) -> str:
    if not _JSON_PATH.match(path):
        raise ValueError(f"unsupported JSON path {path!r} (use e.g. $.a.b[0].c)")
    return path


def http_url(value: str, no_credentials: str) -> str:
    found = control_character(value)
    if found is not None:  # yarl would silently drop it: the URL probed would not be the one written
        raise ValueError(f"a URL cannot contain {found}")
    try:
        url = URL(value)
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL")
    if url.user or url.password:
        raise ValueError(no_credentials)
    return value


def request_url(value: str) -> str:
    """The URL an HTTP probe (or a transaction step) requests: `http_url`, credentials refused: they go in an
    `Authorization` header, which is never shown (a URL is, redacted)."""
    return http_url(value, "credentials do not belong in the URL: use an Authorization header")


def http_method(value: str) -> str:
    """A request method (`get` -> `GET`): letters only, at most 20."""
    if not re.fullmatch(r"[A-Za-z]{1,20}", value):
        raise ValueError(f"not an HTTP method: {value!r}")
    return value.upper()


class BodyAssertion(Model):
    """Exactly one of `contains`, `regex` (searched) or `json_path` (with `equals` or `exists`)."""

    contains: str | None = None
    regex: str | None = None
    json_path: str | None = None
    equals: Annotated[Any, AfterValidator(finite_json)] = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> BodyAssertion:
        kinds = [k for k in ("contains", "regex", "json_path") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("set exactly one of contains, regex, json_path")
        if self.json_path is None and ({"equals", "exists"} & self.model_fields_set):
            raise ValueError("equals/exists go with json_path")
        if {"equals", "exists"} <= self.model_fields_set:
            raise ValueError("set equals or exists, not both")
        if self.regex is not None:
            check_regex(self.regex)
        if self.json_path is not None:
            check_json_path(self.json_path)
        return self


class HttpExpect(Model):
    """`status`: codes (`200`), classes (`2xx`) or ranges (`200-299`). `headers`: name -> regex searched
    in the value (plain text matches as a substring; `""` only requires presence)."""

    status: list[int | str] = Field(default_factory=lambda: list[int | str]([200]), min_length=1)
    headers: ExpectedHeaders = Field(default_factory=dict)
    body: list[BodyAssertion] = Field(default_factory=list)

    @field_validator("status", mode="before")
    @classmethod
    def _one_status(cls, v: object) -> object:
        """`status: 204` is `status: [204]` (a boolean stays refused: YAML's `on` is no status)."""
        return [v] if isinstance(v, int | str) and not isinstance(v, bool) else v

    @field_validator("status")
    @classmethod
    def _status(cls, v: list[int | str]) -> list[int | str]:
        for s in v:
            if isinstance(s, int) and not 100 <= s <= 599:
                raise ValueError(f"status {s} is not between 100 and 599")
            if isinstance(s, str) and not _STATUS_RANGE.match(s):
                raise ValueError(f"status {s!r} is not a code, a class like 2xx or a range like 200-299")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for pattern in v.values():
            check_regex(pattern)
        return v


class TlsClient(Model):
    """TLS options of an HTTP probe: verification, a custom CA bundle, a client certificate (mTLS), and the name
    sent as SNI and checked against the certificate when it is not the URL's host (`server_name`: probing one
    backend by its address, as blackbox_exporter's `tls_config.server_name`)."""

    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: SecretStr | None = None
    server_name: ServerName | None = None

    @model_validator(mode="after")
    def _pairs(self) -> TlsClient:
        if (self.key_file or self.key_password) and not self.cert_file:
            raise ValueError("key_file/key_password need cert_file")
        return self


class Proxy(Model):
    url: str
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v, "put proxy credentials in username/password, not in the URL")

    @field_validator("username")
    @classmethod
    def _username(cls, v: str | None) -> str | None:
        if v is not None and ":" in v:
            raise ValueError("a proxy username cannot contain ':'")
        return v


class HttpEndpoint(EndpointBase):
    kind: Literal["http"]
    url: str
    method: str = "GET"
    headers: Headers = Field(default_factory=dict)
    body: str | None = None
    json_body: Annotated[Any, AfterValidator(finite_json)] = Field(default=None, alias="json")
    expect: HttpExpect = Field(default_factory=HttpExpect)
    follow_redirects: bool = True
    max_redirects: Annotated[int, Field(ge=1, le=50)] = 10
    max_body_size: ByteSize = 1 << 20
    tls: TlsClient = Field(default_factory=TlsClient)
    proxy: Proxy | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return request_url(v)

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        return http_method(v)

    @model_validator(mode="after")
    def _one_body(self) -> HttpEndpoint:
        if self.body is not None and "json_body" in self.model_fields_set:
            raise ValueError("set body or json, not both")
        return self


class TcpExpect(Model):
    """What the first bytes read must contain: a substring or a regex (searched)."""

    contains: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> TcpExpect:
        if (self.contains is None) == (self.regex is None):
            raise ValueError("set exactly one of contains, regex")
        if self.regex is not None:
            check_regex(self.regex)
        return self


class TcpEndpoint(EndpointBase):
    """Connect; optionally send `send` (escapes like `\\r\\n`, `\\x00` allowed) and check the reply."""

    kind: Literal["tcp"]
    host: Host
    port: Port
    send: str | None = None
    expect: TcpExpect | None = None
    read_bytes: Annotated[ByteSize, Field(le=1 << 20)] = 4096


class TlsEndpoint(EndpointBase):
    kind: Literal["tls"]
    host: Host
    port: Port = 443
    server_name: ServerName | None = None
    verify: bool = True
    ca_file: str | None = None
    expiry_threshold: Duration = 14 * 86400.0


class DnsExpect(Model):
    """`answers`: the exact answer set (order ignored); `contains`: values that must be among them."""

    rcode: Literal["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"] = "NOERROR"
    answers: list[str] | None = None
    contains: list[str] | None = None


class DnsEndpoint(EndpointBase):
    kind: Literal["dns"]
    query: Annotated[str, Field(min_length=1, max_length=253)]
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS"] = "A"
    nameserver: str | None = None
    transport: Literal["udp", "tcp"] = "udp"
    expect: DnsExpect = Field(default_factory=DnsExpect)

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        try:
            dns.name.from_text(v)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a DNS name: {v!r} ({exc})") from None
        return v

    @field_validator("nameserver")
    @classmethod
    def _nameserver(cls, v: str | None) -> str | None:
        if v is not None:
            split_hostport(v, 53)
        return v


def _port(text: str) -> int:
    """A port in ASCII digits (`int` also reads `٣` as 3, and `str.isdigit` passes `¹`, which `int` refuses); -1
    for anything else."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 else -1


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `1.2.3.4:53`, `::1`, `[::1]:53` -> (host, port). Raises ValueError."""
    host, port = value, default_port
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not host[:port]: {value!r}")
        if rest:
            port = _port(rest[1:])
    elif value.count(":") == 1:
        host, _, p = value.partition(":")
        port = _port(p)
    elif ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError(f"not host[:port]: {value!r} (write IPv6 with a port as [addr]:port)") from None
    if not host or not 1 <= port <= 65535 or any(c in host for c in " /@") or control_character(host):
        raise ValueError(f"not host[:port]: {value!r}")
    return host, port

"""Per-request phase timings for HTTP probes, named like blackbox_exporter's.

`resolve` (DNS), `connect` (TCP), `tls` (handshake), `processing` (request sent -> response headers, i.e.
server think time plus first byte), `transfer` (headers -> body read, recorded by the probe). With redirects
the phases of every hop are added up. The probe makes its PhaseRecorder current (`recording`, a context
variable) and `ProbeConnector`, the session's connector, reports to it: around `connect` (connection
creation: DNS, TCP, TLS; then `processing` starts as the request goes out, and ends when the probe has the
response headers or the next redirect hop connects), around `_resolve_host` (DNS), and from its protocol
factory the moment TCP is up and TLS starts (it also hands over the protocol, whose transport carries the
peer certificate). This replaced `aiohttp.TraceConfig`, whose per-request Trace objects and awaited
signals cost ~15 % of a probe's CPU (benchmarks/README.md). When the factory hook is absent (another
aiohttp version) `tls` is folded into `connect` and `cert_expiry` stays None. IP-literal hosts have no
`resolve`.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection
from aiohttp.helpers import is_ip_address

from slowatch.clock import Clock
from slowatch.probes.certs import peer_cert_expiry
from slowatch.probes.failures import INVALID_HOST_NAME
from slowatch.sockets import HandoffConnector

_current: ContextVar[PhaseRecorder | None] = ContextVar("slowatch_phase_recorder", default=None)


class PhaseRecorder:
    """Collects one probe's phase timings (seconds) and the certificate expiry of its last connection."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.phases: dict[str, float] = {}
        self.cert_expiry: float | None = None
        self._mark: dict[str, float] = {}
        self._protocol: ResponseHandler | None = None
        self.connecting = False  # between connection creation start and ready (DNS, TCP, TLS)

    def start(self, name: str) -> None:
        self._mark[name] = self._clock.monotonic()

    def stop(self, name: str) -> None:
        began = self._mark.pop(name, None)
        if began is not None:
            self.add(name, self._clock.monotonic() - began)

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + max(seconds, 0.0)

    def connection_started(self) -> None:
        self.stop("processing")  # a redirect: the previous hop's response has arrived
        self.connecting = True
        self.start("connect")

    def resolved(self) -> None:
        """DNS resolution happens inside connection creation: `connect` starts when it ends."""
        self.stop("resolve")
        if "connect" in self._mark:
            self.start("connect")

    def tcp_connected(self, protocol: ResponseHandler) -> None:
        """Called from the protocol factory: TCP is up, TLS (if any) starts now."""
        self._protocol = protocol
        if "connect" in self._mark:
            self.stop("connect")
            self.start("tls")

    def connection_ready(self) -> None:
        self.connecting = False
        transport = self._protocol.transport if self._protocol is not None else None
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        self.stop("connect")
        if ssl_object is None:
            self._mark.pop("tls", None)
        else:
            self.stop("tls")
            self.cert_expiry = peer_cert_expiry(ssl_object)
        self._protocol = None


@contextlib.contextmanager
def recording(recorder: PhaseRecorder) -> Iterator[None]:
    """Make `recorder` the one the connector's protocol factory reports to, in this task."""
    token = _current.set(recorder)
    try:
        yield
    finally:
        _current.reset(token)


def _reporting_factory(factory: Callable[[], ResponseHandler]) -> ResponseHandler:
    protocol = factory()
    recorder = _current.get()
    if recorder is not None:
        recorder.tcp_connected(protocol)
    return protocol


class ProbeConnector(HandoffConnector):
    """A TCPConnector that times the phases of the current probe's connections (see module doc).

    Requests made outside `recording(...)` (no current PhaseRecorder) pass straight through."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        factory = getattr(self, "_factory", None)
        if isinstance(factory, functools.partial):
            self._factory = functools.partial(_reporting_factory, factory)

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Connection:  # noqa: ASYNC109 (aiohttp's signature)
        recorder = _current.get()
        if recorder is None:
            return await super().connect(req, traces, timeout)
        recorder.connection_started()
        conn = await super().connect(req, traces, timeout)
        recorder.connection_ready()
        recorder.start("processing")  # the request goes out on this connection right away
        return conn

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> Any:
        recorder = _current.get()
        if recorder is None or is_ip_address(host):
            return await self._resolve(host, port, traces)
        recorder.start("resolve")
        try:
            return await self._resolve(host, port, traces)
        finally:
            recorder.resolved()

    async def _resolve(self, host: str, port: int, traces: Any) -> Any:
        """A name the resolver refuses to encode (`a..example`, a label over 63 characters; a redirect can
        name one) raises UnicodeError, which aiohttp passes on as is: made the OSError it turns into a
        ClientConnectorDNSError, as `net.getaddrinfo` does for the other kinds."""
        try:
            return await super()._resolve_host(host, port, traces)
        except UnicodeError as exc:
            raise socket.gaierror(socket.EAI_NONAME, INVALID_HOST_NAME) from exc


__all__ = ["PhaseRecorder", "ProbeConnector", "recording"]

"""Per-request phase timings for HTTP probes, named like blackbox_exporter's.

`resolve` (DNS), `connect` (TCP), `tls` (handshake), `processing` (request sent -> response headers, i.e.
server think time plus first byte), `transfer` (headers -> body read, recorded by the probe). With redirects
the phases of every hop are added up. Timings ride on `aiohttp.TraceConfig` (attached to the shared session
by `make_session`, fed per request through `trace_request_ctx`), plus one hook aiohttp has no signal for:
the moment TCP is up and TLS starts, taken from the connector's protocol factory (it also hands over the
protocol, whose transport carries the peer certificate). When that hook is absent (another aiohttp
version) `tls` is folded into `connect` and `cert_expiry` stays None. IP-literal hosts have no `resolve`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from slowatch.clock import Clock
from slowatch.probes.certs import peer_cert_expiry

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


class ProbeConnector(aiohttp.TCPConnector):
    """A TCPConnector whose protocol factory tells the current probe when TCP is up (see module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        factory = getattr(self, "_factory", None)
        if isinstance(factory, functools.partial):
            self._factory = functools.partial(_reporting_factory, factory)


def _recorder(trace_config_ctx: SimpleNamespace) -> PhaseRecorder | None:
    rec = getattr(trace_config_ctx, "trace_request_ctx", None)
    return rec if isinstance(rec, PhaseRecorder) else None


def _on(action: Callable[[PhaseRecorder], None]) -> Callable[..., Any]:
    async def handler(session: aiohttp.ClientSession, trace_config_ctx: SimpleNamespace, params: Any) -> None:
        rec = _recorder(trace_config_ctx)
        if rec is not None:
            action(rec)

    return handler


def trace_config() -> aiohttp.TraceConfig:
    """The TraceConfig `make_session` attaches; requests without a PhaseRecorder are ignored."""
    tc = aiohttp.TraceConfig()
    tc.on_dns_resolvehost_start.append(_on(lambda r: r.start("resolve")))
    tc.on_dns_resolvehost_end.append(_on(lambda r: r.resolved()))
    tc.on_dns_cache_hit.append(_on(lambda r: r.add("resolve", 0.0)))
    tc.on_connection_create_start.append(_on(lambda r: r.connection_started()))
    tc.on_connection_create_end.append(_on(lambda r: r.connection_ready()))
    tc.on_request_headers_sent.append(_on(lambda r: r.start("processing")))
    tc.on_request_end.append(_on(lambda r: r.stop("processing")))
    tc.on_request_redirect.append(_on(lambda r: r.stop("processing")))
    return tc


__all__ = ["PhaseRecorder", "ProbeConnector", "recording", "trace_config"]

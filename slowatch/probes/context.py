"""`ProbeContext`: what every probe may use, made once per daemon, prober worker or `slowatch probe` run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from slowatch.clock import Clock
from slowatch.probes.certs import SslContexts

if TYPE_CHECKING:
    from slowatch.probes.http import Prepared


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a probe may use: the shared aiohttp session, the clock, and TLS contexts built once.

    Make one per daemon (or per `slowatch probe` run) and share it: `ssl_contexts` is a cache."""

    session: aiohttp.ClientSession
    clock: Clock
    ssl_contexts: SslContexts = field(default_factory=SslContexts)
    http_options: dict[str, Prepared] = field(default_factory=dict)
    """Per endpoint name: request options built once (`http.prepared`); rebuilt when the endpoint changes."""
    http_options_shared: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    """Equal request options of different endpoints, kept once (`http.prepared`)."""
    prepared: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)
    """Other kinds' per-endpoint state built once: (kind, endpoint name) -> (endpoint, state); rebuilt
    when the endpoint object changes (a reload)."""


__all__ = ["ProbeContext"]

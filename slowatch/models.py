"""Value types shared by every layer. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Outcome(StrEnum):
    """Exactly one per probe result. The names are the `outcome` label values on /metrics.

    Append only: the position of each member is its code in the store (store/blocks.py). Which kinds
    produce which outcomes: each kind's `ProbeKind.outcomes` (probes/registry.py)."""

    SUCCESS = "success"
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    DNS_ERROR = "dns_error"
    TLS_ERROR = "tls_error"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    HTTP_STATUS = "http_status"
    ASSERTION_FAILED = "assertion_failed"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    PROTOCOL_ERROR = "protocol_error"
    ERROR = "error"
    NOT_SERVING = "not_serving"
    UNKNOWN_SERVICE = "unknown_service"
    PACKET_LOSS = "packet_loss"


_EMPTY: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe attempt against one endpoint.

    `started_at` is wall-clock unix seconds (from the Clock); `duration` is seconds measured on a
    monotonic clock. `attempt` counts from 1; `final` is False for an attempt that failed and was
    retried (recorded in history, not counted in SLIs or `slowatch_probes_total`). `revision` says which
    definition of the endpoint was probed: 0 the one the daemon started with, else the number of the reload
    that last added or edited it (`EndpointChanges.revision`), so a probe in flight across a reload is told
    apart from the new definition's (metrics/probe.py).
    """

    endpoint: str
    kind: str
    outcome: Outcome
    started_at: float
    duration: float
    message: str = ""
    status_code: int | None = None
    phases: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    cert_expiry: float | None = None
    final_url: str | None = None
    attempt: int = 1
    final: bool = True
    revision: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS


__all__ = ["Outcome", "ProbeResult"]

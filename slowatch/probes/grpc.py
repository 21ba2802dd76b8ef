"""`kind: grpc`: a `grpc.health.v1.Health/Check` probe (the work is in `probes/grpc_call.py`).

Outcomes: SERVING is `success`; NOT_SERVING (or SERVICE_UNKNOWN from a Watch-style server) is
`not_serving`; the status NOT_FOUND (the server does not know `service`) is `unknown_service`;
DEADLINE_EXCEEDED is `timeout`; UNAVAILABLE is split by its cause (`connection_refused`, `tls_error`,
`dns_error`, `connection_reset`, `protocol_error` for a peer that is not gRPC); a reply larger than
`max_message_size` (RESOURCE_EXHAUSTED) is `body_too_large`; UNIMPLEMENTED (no health service) is
`protocol_error`; anything else is `error` with the status name.

This module registers the kind without importing grpc: grpc and grpc_health cost ~20 MB of resident memory
in each process that imports them (the daemon and every prober worker), so they are imported, in a thread
(an import reads files: never on the event loop), when the first gRPC probe of the process runs.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from types import ModuleType
from typing import TYPE_CHECKING

from slowatch.config.grpc import GrpcEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.kind import TRANSPORT_OUTCOMES, ProbeKind
from slowatch.redact import Shown

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext

_IMPL = "slowatch.probes.grpc_call"
_impl: ModuleType | None = None  # set once the import has finished (sys.modules holds it while half-built)
_importing = threading.Lock()  # one import at a time: grpc's own modules fail when imported by two threads at once


def _load() -> ModuleType:
    global _impl
    with _importing:
        if _impl is None:
            _impl = importlib.import_module(_IMPL)
        return _impl


async def _implementation() -> ModuleType:
    impl = _impl
    if impl is None:
        impl = await asyncio.to_thread(_load)
    return impl


async def probe(endpoint: GrpcEndpoint, ctx: ProbeContext) -> ProbeResult:
    impl = await _implementation()
    result: ProbeResult = await impl.probe(endpoint, ctx)
    return result


def _target(shown: Shown) -> str:
    service = shown("service")
    tls = "grpcs" if shown.endpoint.tls is not None else "grpc"
    return f"{tls}://{shown.host_port()}" + (f" {service}" if service else "")


KIND = ProbeKind(
    name="grpc",
    model=GrpcEndpoint,
    probe=probe,
    target=_target,
    outcomes=TRANSPORT_OUTCOMES | {
        Outcome.TLS_ERROR, Outcome.NOT_SERVING, Outcome.UNKNOWN_SERVICE, Outcome.BODY_TOO_LARGE,
        Outcome.PROTOCOL_ERROR,
    },
    weight=lambda endpoint: 4.0 if endpoint.tls is not None else 2.0,
)  # fmt: skip

__all__ = ["KIND", "probe"]

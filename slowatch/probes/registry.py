"""The probe kinds, one line each. Adding a kind: write its config model (a member of
`config.endpoints.Endpoint`), its module `probes/<kind>.py` with `probe` and `KIND`, and one line here."""

from __future__ import annotations

from typing import Any

from slowatch.probes import dns, grpc, http, icmp, tcp, tls, transaction, udp
from slowatch.probes.kind import ProbeKind
from slowatch.redact import Shown

KINDS: dict[str, ProbeKind] = {
    kind.name: kind
    for kind in (
        http.KIND,
        tcp.KIND,
        tls.KIND,
        dns.KIND,
        transaction.KIND,
        grpc.KIND,
        icmp.KIND,
        udp.KIND,
    )
}


def kind_of(endpoint: Any) -> ProbeKind:
    return KINDS[endpoint.kind]


def describe_target(endpoint: Any) -> str:
    """What an endpoint points at, safe to show anyone: interpolated fields as written (`${NAME}`)."""
    return KINDS[endpoint.kind].target(Shown(endpoint)) or endpoint.kind


def probe_weight(endpoint: Any) -> float:
    """Relative CPU of one probe of `endpoint` (1.0: a plain HTTP probe on a fresh connection)."""
    return KINDS[endpoint.kind].weight(endpoint)


__all__ = ["KINDS", "describe_target", "kind_of", "probe_weight"]

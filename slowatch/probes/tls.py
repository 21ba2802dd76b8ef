"""TLS probe: handshake, verify chain and hostname, and fail early when a certificate of the chain nears expiry
(the leaf, an intermediate or the root: `certs.chain_expiry`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from slowatch.config.endpoints import TlsEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.certs import ChainExpiry, TlsSettings, chain_expiry, load_error
from slowatch.probes.failures import Failure, classify
from slowatch.probes.kind import TRANSPORT_OUTCOMES, ProbeKind
from slowatch.probes.net import connect_socket
from slowatch.redact import join_host_port
from slowatch.sockets import forget_if_taken, socket_inode

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext


async def probe(endpoint: TlsEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    where = join_host_port(endpoint.host, endpoint.port)
    server_name = endpoint.server_name or endpoint.host
    phases: dict[str, float] = {}
    expiry: ChainExpiry | None = None
    transport: asyncio.Transport | None = None
    try:
        context = ctx.ssl_contexts.get(TlsSettings(verify=endpoint.verify, ca_file=endpoint.ca_file))
    except OSError as exc:  # a missing or unreadable ca_file
        return _result(endpoint, started, ctx.clock.monotonic() - t0, Outcome.ERROR, load_error(exc), {}, None)
    try:
        async with asyncio.timeout(endpoint.timeout):
            sock = await connect_socket(endpoint.host, endpoint.port, ctx.clock, phases)
            t = ctx.clock.monotonic()
            inode = socket_inode(sock)
            # TLS from the socket's first byte: a plain stream upgraded with start_tls lost a greeting the peer
            # sent at once (an SMTP banner) to the stream's buffer on uvloop, and the handshake waited it out
            try:
                transport, _ = await asyncio.get_running_loop().create_connection(
                    asyncio.Protocol, sock=sock, ssl=context, server_hostname=server_name
                )
            finally:
                forget_if_taken(sock, inode)
            phases["tls"] = ctx.clock.monotonic() - t
            expiry = chain_expiry(transport.get_extra_info("ssl_object"))
        outcome, message = _judge(endpoint, server_name, expiry, ctx.clock.time())
    except TimeoutError:
        stage = "TLS handshake with" if "connect" in phases else "connection to"
        outcome, message = Outcome.TIMEOUT, f"no {stage} {where} within {endpoint.timeout:g}s"
    except OSError as exc:  # includes ssl.SSLError
        outcome, message = classify(exc, where, endpoint.timeout)
    finally:
        if transport is not None:
            transport.abort()
    not_after = None if expiry is None else expiry.not_after
    return _result(endpoint, started, ctx.clock.monotonic() - t0, outcome, message, phases, not_after)


def _result(
    endpoint: TlsEndpoint,
    started: float,
    duration: float,
    outcome: Outcome,
    message: str,
    phases: dict[str, float],
    expiry: float | None,
) -> ProbeResult:
    return ProbeResult(
        endpoint=endpoint.name,
        kind="tls",
        outcome=outcome,
        started_at=started,
        duration=duration,
        message=message,
        phases=phases,
        cert_expiry=expiry,
    )


def _judge(endpoint: TlsEndpoint, server_name: str, expiry: ChainExpiry | None, now: float) -> Failure:
    if expiry is None:
        return Outcome.TLS_ERROR, f"{server_name} sent no readable certificate"
    left = expiry.not_after - now
    if left >= endpoint.expiry_threshold:
        return Outcome.SUCCESS, ""
    if expiry.name is None:
        return Outcome.CERTIFICATE_EXPIRING, f"certificate for {server_name} {expires_in(left)}"
    return Outcome.CERTIFICATE_EXPIRING, f"certificate {expiry.name!r} in the chain of {server_name} {expires_in(left)}"


def expires_in(seconds: float) -> str:
    """`expires in 3 days`, `expires in 5 hours`, `expired 2 days ago` (whole units, rounded down)."""
    ago = seconds < 0
    span = abs(seconds)
    count, unit = (int(span // 86400), "day") if span >= 86400 else (int(span // 3600), "hour")
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"expired {text} ago" if ago else f"expires in {text}"


KIND = ProbeKind(
    name="tls",
    model=TlsEndpoint,
    probe=probe,
    target=lambda shown: shown.host_port(),
    outcomes=TRANSPORT_OUTCOMES | {Outcome.TLS_ERROR, Outcome.CERTIFICATE_EXPIRING},
    weight=lambda endpoint: 3.0,
)


__all__ = ["KIND", "expires_in", "probe"]

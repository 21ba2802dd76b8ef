"""The gRPC probe's work: `grpc.health.v1.Health/Check` on a fresh channel (its own connection, like every probe).

Imported by `probes/grpc.py` the first time a gRPC probe runs (grpc and its runtime cost ~20 MB of memory in
every process that imports them, the daemon's and each prober worker's, so a config without `kind: grpc`
never loads them).

Outcomes: SERVING is `success`; NOT_SERVING (or SERVICE_UNKNOWN from a Watch-style server) is
`not_serving`; the status NOT_FOUND (the server does not know `service`) is `unknown_service`;
DEADLINE_EXCEEDED (or UNAVAILABLE because the connect attempt timed out) is `timeout`; UNAVAILABLE is split
by its cause (`connection_refused`, `tls_error`, `dns_error`, `connection_reset`, `protocol_error` for a peer
that is not gRPC); a reply larger than `max_message_size` (RESOURCE_EXHAUSTED) is `body_too_large`;
UNIMPLEMENTED (no health service) is `protocol_error`; anything else is `error` with the status name.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from slowatch.config.grpc import GrpcEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.certs import file_stamp, load_error
from slowatch.probes.failures import Failure, short
from slowatch.redact import join_host_port

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext

_SERVING = health_pb2.HealthCheckResponse.SERVING
_UNAVAILABLE_CAUSES = (
    (("connection refused", "connect failed"), Outcome.CONNECTION_REFUSED, "connection refused by {where}"),
    (("dns resolution failed", "name or service not known", "domain name not found", "errors resolving"),
     Outcome.DNS_ERROR, "cannot resolve {where}"),
    # before TLS: a peer closing during the handshake ("Handshake read failed (Socket closed)") is a reset, as for
    # kind: tls and http
    (("reset", "socket closed", "connection closed", "eof", "broken pipe"), Outcome.CONNECTION_RESET,
     "connection reset by {where}"),
    (("ssl", "handshake", "certificate", "tls"), Outcome.TLS_ERROR, "TLS handshake with {where} failed: {details}"),
    (("http1", "http/1", "protocol", "frame"), Outcome.PROTOCOL_ERROR, "{where} does not speak gRPC: {details}"),
)  # fmt: skip


async def _credentials(endpoint: GrpcEndpoint, ctx: ProbeContext) -> grpc.ChannelCredentials | None:
    """TLS credentials, read once per endpoint definition and version of its files (in a thread: file reads
    never block the loop), so a rotated or corrected CA, certificate or key is picked up as for kind: http."""
    if endpoint.tls is None:
        return None
    tls = endpoint.tls
    key = ("grpc", endpoint.name)
    stamps = (endpoint, *(_stamp(f) for f in (tls.ca_file, tls.cert_file, tls.key_file)))
    cached = ctx.prepared.get(key)
    if cached is not None and cached[0] == stamps:
        credentials: grpc.ChannelCredentials = cached[1]
        return credentials

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    root, chain, key_pem = await asyncio.to_thread(lambda: (read(tls.ca_file), read(tls.cert_file), read(tls.key_file)))
    if chain is not None and key_pem is None:  # the key in the certificate file, as for kind: http
        key_pem = chain
    credentials = grpc.ssl_channel_credentials(root_certificates=root, private_key=key_pem, certificate_chain=chain)
    ctx.prepared[key] = (stamps, credentials)
    return credentials


def _stamp(path: str | None) -> tuple[int, ...] | None:
    """`file_stamp(path)`, None for no file or one that cannot be stat'ed (reading it will say why)."""
    try:
        return file_stamp(path) if path else None
    except OSError:
        return None


def _keep_runtime(ctx: ProbeContext) -> None:
    """grpc.aio starts its poller thread with the first channel and stops it (joining the thread, on the
    event loop) when the last one is gone: with one channel per probe that would be a thread start and a
    blocking join per probe. An idle channel (it never connects) kept in the context holds the runtime up."""
    if ("grpc", "") not in ctx.prepared:
        ctx.prepared[("grpc", "")] = (None, grpc.aio.insecure_channel("127.0.0.1:9"))


def _channel(endpoint: GrpcEndpoint, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    target = join_host_port(endpoint.host, endpoint.port)
    options: list[tuple[str, Any]] = [
        ("grpc.use_local_subchannel_pool", 1),  # a connection of our own: not shared with other channels
        ("grpc.enable_retries", 0),
        # the connect attempt (TCP + TLS + HTTP/2 settings) ends with the probe: by default grpc keeps trying for
        # at least 20 s after the channel is closed, holding the socket (2 fds per probe to a silent peer)
        ("grpc.min_reconnect_backoff_ms", max(100, int(endpoint.timeout * 1000))),
        ("grpc.max_receive_message_length", endpoint.max_message_size),
        ("grpc.primary_user_agent", "slowatch"),
    ]
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options)
    if endpoint.server_name is not None:
        options.append(("grpc.ssl_target_name_override", endpoint.server_name))
    return grpc.aio.secure_channel(target, credentials, options=options)


async def probe(endpoint: GrpcEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    where = join_host_port(endpoint.host, endpoint.port)
    try:
        credentials = await _credentials(endpoint, ctx)
    except OSError as exc:  # a missing or unreadable CA / client certificate
        outcome, message = Outcome.ERROR, load_error(exc)
    else:
        _keep_runtime(ctx)
        channel = _channel(endpoint, credentials)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service=endpoint.service)
            reply = await stub.Check(request, timeout=endpoint.timeout, wait_for_ready=False)
            outcome, message = _judge(endpoint, reply.status)
        except grpc.aio.AioRpcError as exc:
            outcome, message = classify_rpc(exc, endpoint, where)
        finally:
            await channel.close(grace=None)
    return ProbeResult(
        endpoint=endpoint.name,
        kind="grpc",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
    )


def _judge(endpoint: GrpcEndpoint, status: int) -> Failure:
    if status == _SERVING:
        return Outcome.SUCCESS, ""
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status) if status in (0, 1, 2, 3) else str(status)
    what = f"service {endpoint.service!r}" if endpoint.service else "the server"
    return Outcome.NOT_SERVING, f"{what} is {name}"


def _connect_timed_out(exc: grpc.aio.AioRpcError) -> bool:
    """grpc's connect attempt is bounded by the probe's timeout too (`min_reconnect_backoff_ms`), so a silent
    peer ends in DEADLINE_EXCEEDED or, when that timer fires first, UNAVAILABLE "connection attempt timed out
    before receiving SETTINGS frame" (not a protocol problem: nothing was received)."""
    return "timed out" in (exc.details() or "").lower()


def classify_rpc(exc: grpc.aio.AioRpcError, endpoint: GrpcEndpoint, where: str) -> Failure:
    code = exc.code()
    details = short(exc.details() or "", 160)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED or (code is grpc.StatusCode.UNAVAILABLE and _connect_timed_out(exc)):
        return Outcome.TIMEOUT, f"no answer from {where} within {endpoint.timeout:g}s"
    if code is grpc.StatusCode.NOT_FOUND:
        return Outcome.UNKNOWN_SERVICE, f"{where} does not know the service {endpoint.service!r}"
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Outcome.BODY_TOO_LARGE, f"reply larger than max_message_size ({endpoint.max_message_size} bytes)"
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return Outcome.PROTOCOL_ERROR, f"{where} does not implement grpc.health.v1.Health"
    if code is grpc.StatusCode.UNAVAILABLE:
        lowered = (exc.details() or "").lower()  # all of it: a long host name pushed the cause past `details`
        for needles, outcome, template in _UNAVAILABLE_CAUSES:
            if any(n in lowered for n in needles):
                return outcome, template.format(where=where, details=details)
        return Outcome.ERROR, f"{where} unavailable: {details}"
    return Outcome.ERROR, f"gRPC {code.name}: {details}"


__all__ = ["classify_rpc", "probe"]

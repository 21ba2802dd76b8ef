"""HTTP(S) probe: one request (following redirects if asked), bounded body read, then the checks.

Redirects are followed by aiohttp, also to other hosts (`localhost` -> `127.0.0.1`, `http` -> `https`):
`final_url` shows where the probe ended. On a cross-origin hop aiohttp drops `Authorization`, `Cookie`
and `Proxy-Authorization`; other configured headers are sent on (like `curl -L`). Probe a URL that does
not redirect, or set `follow_redirects: false`, when a header must never leave the first host. A
configured `Host` (a virtual host of the configured server) goes to the configured origin only; another
origin gets its own name (`keep_host_at_origin`), as Go's client (blackbox_exporter) does.

Outcome order: transport failures (timeout, refused, reset, dns, tls, protocol), then `http_status`,
then expected headers (`assertion_failed`), then `body_too_large`, then body assertions.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import hdrs
from aiohttp.http import HttpProcessingError
from yarl import URL

from slowatch.config.concealed import concealed_of
from slowatch.config.endpoints import HttpEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.assertions import check_body, check_response
from slowatch.probes.certs import TlsSettings, load_error
from slowatch.probes.failures import (
    INVALID_HOST_NAME,
    Failure,
    causes,
    classify,
    classify_os_error,
    payload_failure,
    short,
)
from slowatch.probes.kind import TRANSPORT_OUTCOMES, KindGauge, ProbeKind, phases_of
from slowatch.probes.tracing import PhaseRecorder, recording
from slowatch.redact import join_host_port, redact_url

if TYPE_CHECKING:
    from aiohttp.client_middlewares import ClientHandlerType
    from aiohttp.client_reqrep import ClientResponse
    from aiohttp.connector import Connection

    from slowatch.probes.context import ProbeContext

_CHUNK = 64 * 1024
NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a probe of one endpoint sends, built once per endpoint definition (not per probe), but for the
    TLS context of an endpoint with TLS files, looked up per probe (`tls`): a rotated file is picked up."""

    endpoint: HttpEndpoint
    options: dict[str, Any]
    shown_url: str  # the configured URL, redacted: `final_url` when there was no redirect
    url: URL  # parsed once: aiohttp would parse the string again on every request
    tls: TlsSettings | None = None  # the endpoint's CA / client certificate files, if any


def prepared(endpoint: HttpEndpoint, ctx: ProbeContext) -> Prepared:
    """The cached request options of `endpoint`; a reloaded (new) endpoint object gets new ones."""
    cached = ctx.http_options.get(endpoint.name)
    if cached is None or cached.endpoint is not endpoint:
        shown = redact_url(endpoint.url)
        concealed = concealed_of(endpoint)
        if concealed is not None:  # `${...}` in the URL: the final URL shows `${NAME}` (no new result per probe)
            shown = concealed.scrub(shown)
        options = _request_options(endpoint, ctx)
        key = _options_key(options)
        if key is not None:  # most endpoints send the same options: one dict for all of them (memory)
            options = ctx.http_options_shared.setdefault(key, options)
        shown = endpoint.url if shown == endpoint.url else shown
        cached = Prepared(endpoint, options, shown, URL(endpoint.url), _tls_files(endpoint))
        ctx.http_options[endpoint.name] = cached
    elif cached.tls is not None:  # (never shared: `_options_key`) the same context until a file changes
        cached.options["ssl"] = ctx.ssl_contexts.get(cached.tls)
    return cached


def _tls_files(endpoint: HttpEndpoint) -> TlsSettings | None:
    tls = endpoint.tls
    if tls.ca_file or tls.cert_file:
        return TlsSettings(tls.verify, tls.ca_file, tls.cert_file, tls.key_file, tls.key_password)
    return None


@dataclass(slots=True)
class _Seen:
    status: int | None = None
    final_url: str | None = None
    reading_body: bool = False


async def probe(endpoint: HttpEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    recorder = PhaseRecorder(ctx.clock)
    seen = _Seen()
    try:
        prep = prepared(endpoint, ctx)
    except OSError as exc:  # a missing or unreadable CA bundle / client certificate, a wrong key password
        return _result(endpoint, started, ctx.clock.monotonic() - t0, Outcome.ERROR, load_error(exc))
    try:
        async with asyncio.timeout(endpoint.timeout):
            with recording(recorder):
                outcome, message = await _exchange(endpoint, ctx, prep, recorder, seen)
    except TimeoutError:
        stage = "waiting for the response"
        if seen.reading_body:
            stage = "reading the body"
        elif recorder.connecting:
            stage = "connecting (TCP/TLS)"
        outcome, message = Outcome.TIMEOUT, f"timed out after {endpoint.timeout:g}s {stage}"
    except (aiohttp.ClientError, OSError) as exc:
        outcome, message = _classify(exc, endpoint)
    return _result(endpoint, started, ctx.clock.monotonic() - t0, outcome, message, seen, recorder)


def _result(
    endpoint: HttpEndpoint,
    started: float,
    duration: float,
    outcome: Outcome,
    message: str,
    seen: _Seen | None = None,
    recorder: PhaseRecorder | None = None,
) -> ProbeResult:
    return ProbeResult(
        endpoint=endpoint.name,
        kind="http",
        outcome=outcome,
        started_at=started,
        duration=duration,
        message=message,
        status_code=seen.status if seen else None,
        phases=recorder.phases if recorder else {},
        cert_expiry=recorder.cert_expiry if recorder else None,
        final_url=seen.final_url if seen else None,
    )


def _options_key(options: dict[str, Any]) -> tuple[Any, ...] | None:
    """A key for request options that hold only headers and flags (no body, TLS context or proxy)."""
    if set(options) != {"headers", "allow_redirects", "max_redirects", "timeout"}:
        return None
    return (tuple(options["headers"].items()), options["allow_redirects"], options["max_redirects"])


def _request_options(endpoint: HttpEndpoint, ctx: ProbeContext) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "headers": {k: v.get_secret_value() for k, v in endpoint.headers.items()},
        "allow_redirects": endpoint.follow_redirects,
        "max_redirects": endpoint.max_redirects + 1,
        # `probe` bounds the whole exchange with asyncio.timeout(endpoint.timeout): no second timer from aiohttp
        "timeout": NO_CLIENT_TIMEOUT,
    }
    server_name = endpoint.tls.server_name
    if server_name is not None:
        opts["server_hostname"] = server_name
    opts.update(keep_host_at_origin(opts["headers"], URL(endpoint.url), server_name))
    if endpoint.body is not None:
        opts["data"] = endpoint.body.encode()
    elif "json_body" in endpoint.model_fields_set:
        opts["json"] = endpoint.json_body
    files = _tls_files(endpoint)
    if files is not None:
        opts["ssl"] = ctx.ssl_contexts.get(files)
    elif not endpoint.tls.verify:
        opts["ssl"] = False
    if endpoint.proxy is not None:
        opts["proxy"] = endpoint.proxy.url
        if endpoint.proxy.username is not None:
            password = endpoint.proxy.password.get_secret_value() if endpoint.proxy.password else ""
            # https: sent with CONNECT only; http: the proxy reads it from the request itself
            auth = {"Proxy-Authorization": aiohttp.encode_basic_auth(endpoint.proxy.username, password)}
            if URL(endpoint.url).scheme == "https":
                opts["proxy_headers"] = auth
            else:
                opts["headers"].update(auth)
    return opts


def keep_host_at_origin(headers: dict[str, str], url: URL, server_name: str | None = None) -> dict[str, Any]:
    """Request options that send a configured `Host` header, and check the certificate against a configured
    `server_name`, at `url`'s origin only: a redirect to another origin carries that origin's own host and
    checks its own name (aiohttp would use the configured ones on every hop). Empty (no middleware, no cost)
    when neither is configured."""
    host_set = any(name.lower() == "host" for name in headers)
    if not host_set and server_name is None:
        return {}
    origin = (url.scheme, url.host, url.port)  # not url.origin(): `https://h:443` and `https://h` differ there

    async def own_host(req: aiohttp.ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if (req.url.scheme, req.url.host, req.url.port) != origin:
            host = req.url.host_port_subcomponent
            if host_set and host is not None:
                req.headers[hdrs.HOST] = host
            req.server_hostname = None
        return await handler(req)

    return {"middlewares": (own_host,)}


async def _exchange(
    endpoint: HttpEndpoint, ctx: ProbeContext, prep: Prepared, recorder: PhaseRecorder, seen: _Seen
) -> Failure:
    limit = endpoint.max_body_size
    request = ctx.session.request(endpoint.method, prep.url, **prep.options)
    async with request as resp:
        recorder.stop("processing")
        seen.status = resp.status
        seen.final_url = prep.shown_url if resp.url == prep.url else redact_url(str(resp.url))
        seen.reading_body = True
        recorder.start("transfer")
        body, too_large = await read_bounded(resp, limit, endpoint.method)
        recorder.stop("transfer")
        seen.reading_body = False
        head = check_response(endpoint.expect, resp.status, resp.headers, too_large, limit)
        if head is not None:
            return head
        failed = check_body(endpoint.expect.body, bytes(body), resp.charset)
        if failed is not None:
            return Outcome.ASSERTION_FAILED, failed
    return Outcome.SUCCESS, ""


async def read_bounded(resp: ClientResponse, limit: int, method: str) -> tuple[bytearray, bool]:
    """The body, up to `limit` bytes, and whether it was larger (reading stops there)."""
    announced = None if method == "HEAD" else resp.content_length  # HEAD: the size of a GET
    too_large = announced is not None and announced > limit
    body = bytearray()
    while not too_large:
        chunk = await resp.content.read(min(_CHUNK, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        too_large = len(body) > limit
    return body, too_large


class ProbeRequest(aiohttp.ClientRequest):
    """The probe session's request class (`make_session`): a reply that arrived before the request was sent
    is classified by what it said, whatever the event loop.

    A peer that talks first and then closes (an SMTP/SSH banner, random bytes) makes the response parser fail.
    asyncio writes the request before it reads, so the parse error is what the probe sees; uvloop reads as
    soon as the connection is up, the parser error closes the transport, and writing the request then fails
    with "Cannot write to closing transport", which read as `connection_reset` (276 of 300 SMTP-banner probes
    on uvloop). Here that write failure yields the parse error already recorded on the connection, as the
    response would have raised it: `protocol_error`. A peer that closed without sending bytes is still a reset.
    """

    async def send(self, conn: Connection) -> ClientResponse:
        try:
            return await super().send(conn)
        except aiohttp.ClientConnectionResetError:
            early = conn.protocol.exception() if conn.protocol is not None else None
            if not isinstance(early, HttpProcessingError):
                raise
        # raised outside the handler: no reset in its context for `classify_os_error` to find
        raise aiohttp.ClientResponseError(
            self.request_info, (), status=early.code, message=early.message, headers=early.headers
        ) from early


def _where(endpoint: HttpEndpoint) -> str:
    url = URL(endpoint.url)
    return join_host_port(url.host or "", url.port)


def _classify(exc: BaseException, endpoint: HttpEndpoint) -> Failure:
    proxy = endpoint.proxy.url if endpoint.proxy is not None else None
    return classify_http(exc, _where(endpoint), endpoint.timeout, endpoint.max_redirects, proxy)


def classify_http(exc: BaseException, where: str, timeout: float, max_redirects: int, proxy: str | None) -> Failure:
    """An exception of an aiohttp request -> one outcome (also used by the transaction kind's steps). `where`
    is the configured `host:port`; a connection that failed (DNS, refused, TLS) names its own (redirects).
    Through a proxy, the proxy is the socket's peer: a reset or close names it, and the target it was for
    (it may have been passing on what the target did); TLS is end to end, its errors name the target."""
    proxy_where = proxy_at = None
    if proxy is not None:
        proxy_url = URL(proxy)
        proxy_at = join_host_port(proxy_url.host or "", proxy_url.port)
        proxy_where = f"proxy {proxy_at}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError) and proxy_where is not None:
        where = proxy_where
    else:
        if isinstance(exc, aiohttp.ClientConnectorError):  # the hop that failed (after a redirect, not `where`)
            where = join_host_port(exc.host, exc.port)
        # (not the proxy's own host: a name that does not resolve; nor TLS, end to end through the tunnel)
        tunnelled = where != proxy_at and not isinstance(exc, ssl.SSLError | aiohttp.ClientSSLError)
        if proxy_where is not None and tunnelled:
            where = f"{proxy_where} (to {where})"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Outcome.TOO_MANY_REDIRECTS, f"more than {max_redirects} redirects"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return Outcome.ERROR, f"proxy refused the tunnel: {exc.status} {short(exc.message, 80)}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        invalid = any(isinstance(e, socket.gaierror) and e.strerror == INVALID_HOST_NAME for e in causes(exc))
        return Outcome.DNS_ERROR, f"cannot resolve {where}" + (f": {INVALID_HOST_NAME}" if invalid else "")
    if isinstance(exc, aiohttp.ServerFingerprintMismatch | aiohttp.ClientSSLError | ssl.SSLError):
        found = classify_os_error(exc, where)
        return found or (Outcome.TLS_ERROR, short(str(exc)))
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.RedirectClientError):  # a bad Location (ours is valid)
        target = exc.args[0] if exc.args else ""
        return Outcome.PROTOCOL_ERROR, f"invalid redirect target: {short(redact_url(str(target)), 120)}"
    found = classify_os_error(exc, where)
    if found is not None:
        return found
    head_code = getattr(exc.message, "code", None) if isinstance(exc, aiohttp.ServerDisconnectedError) else None
    if isinstance(head_code, int):  # the head parsed so far (aiohttp's RawResponseMessage): a status line came
        message = f"{where} closed the connection in the middle of the response headers (status {head_code})"
        return Outcome.PROTOCOL_ERROR, message  # as a body cut short is
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Outcome.CONNECTION_RESET, f"{where} closed the connection without a response"
    if isinstance(exc, aiohttp.ClientResponseError):  # the response could not be parsed
        return Outcome.PROTOCOL_ERROR, f"invalid HTTP response: {short(exc.message, 120)}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return payload_failure(str(exc), where)
    return classify(exc, where, timeout)


def _weight(endpoint: HttpEndpoint) -> float:
    return 3.0 if endpoint.url.startswith("https:") else 1.0  # a TLS handshake costs ~3 plain requests


KIND = ProbeKind(
    name="http",
    model=HttpEndpoint,
    probe=probe,
    target=lambda shown: shown.url() or "",
    outcomes=TRANSPORT_OUTCOMES | {
        Outcome.TLS_ERROR, Outcome.HTTP_STATUS, Outcome.ASSERTION_FAILED, Outcome.BODY_TOO_LARGE,
        Outcome.TOO_MANY_REDIRECTS, Outcome.PROTOCOL_ERROR,
    },
    weight=_weight,
    gauges=(KindGauge("slowatch_probe_http_duration_seconds", "Duration of each phase of the last HTTP probe", "phase",
                      phases_of, phases=True),),
    status_code=True,
)  # fmt: skip


__all__ = ["KIND", "NO_CLIENT_TIMEOUT", "ProbeRequest", "classify_http", "keep_host_at_origin", "probe", "read_bounded"]

"""The HTTP listener, hardened against slow and greedy clients.

Two limits (`server.http`), because aiohttp alone holds a connection that sends half a request head
for an hour (its default keep-alive timeout, 3630 s) and accepts connections until file descriptors
run out:

- `header_timeout`: a client has this long, from connecting or from the end of its previous response,
  to send a complete request head; then the connection is closed. aiohttp 3.14 starts its keep-alive
  timer when the connection is made, does not push it back when bytes trickle in, and closes the
  connection at the deadline while no complete request has arrived; so its `keepalive_timeout` *is*
  this deadline (an idle keep-alive connection closes after the same time). A request body left
  unread is drained for at most the same time (`lingering_time`); no route of slowatch reads bodies.
- `max_connections`: open connections at most; one more is answered `503` and closed at once. The
  limit is lowered to fit the process's open-file limit (RLIMIT_NOFILE), keeping room for probes, whose
  `max_concurrency` is fitted to it first (`fitted_concurrency`).

A request aiohttp cannot parse (a request line or header over 8 KB, a bad status line or header: its
`BadHttpMessage` family) gets aiohttp's own 400, and aiohttp logs it at ERROR with a traceback, so
anyone who can reach the port could fill the logs. `ClientErrorLog` (the handlers' logger) makes it
one WARNING line without a traceback, `peer=` and the error's short text, at most `CLIENT_ERROR_BURST`
lines a minute (the next line says how many were `suppressed`); a real server error keeps its traceback.
The parser's text quotes the offending request line or header, and any header may carry a credential
(`X-Api-Key`, `Private-Token`, ...): a quoted header line is logged as its name and `redacted`, unless the
header is one of the harmless `SHOWN_HEADERS` (`Host`, `User-Agent`, ...); a quoted request line or target
keeps its path and loses its query values; any other quoted text (a value cut off, a continuation line)
is `redacted` whole. This is done on the whole text, before it is cut to length. The client's answer quoted the
same text (aiohttp's 400 body is the parser's message, `?token=` and key headers included) as text/plain;
it is now `{"error": "malformed request: <the parser's reason, without what it quotes>"}` (`JsonClientErrors`):
the API's clients get the JSON error they get for everything else (the path is unknown: the parser failed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestHandler

from slowatch.config.schema import HttpConfig
from slowatch.errors import SlowatchError

logger = logging.getLogger(__name__)

FULL = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
RESERVED_FDS = 64
"""File descriptors kept free beyond the probes' own (the database, logs, the event loop, workers)."""
CLIENT_ERROR_BURST = 10
"""Lines about unparsable requests logged per `CLIENT_ERROR_WINDOW` seconds; the rest are counted."""
CLIENT_ERROR_WINDOW = 60.0
SHOWN_HEADERS = frozenset(
    {"host", "user-agent", "content-type", "content-length", "content-encoding", "transfer-encoding", "connection",
     "accept", "accept-encoding", "accept-language", "upgrade", "expect", "te"}
)  # fmt: skip
"""Headers whose value a log line about a malformed request may show: none of them carries a credential."""
_QUOTED = re.compile(r"""(b?)('(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$))""", re.DOTALL)
_HEADER_NAME = re.compile(r"([A-Za-z0-9!#$%&*+.^_`|~-]+)[ \t]*:")
_REQUEST_LINE = re.compile(r"(?:[A-Z]+ )?/")  # `GET /x?q=1 HTTP/1.1`, or the target alone (a too long one)
_QUERY_VALUE = re.compile(r"([?&][^=&\s]*=)[^&\s]*")
_BARE_QUERY_VALUE = re.compile(r"([?&][^=&\s'\"]*=)[^&\s'\"]*")  # outside quotes: up to a closing quote
_SECRET_HEADER = re.compile(r"((?:proxy-)?authorization|cookie)[^:\n]{0,16}:[^\n]*", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)\S+", re.IGNORECASE)


def _shown_quote(match: re.Match[str]) -> str:
    prefix, quoted = match.group(1), match.group(2)
    mark, inner = quoted[0], quoted[1:-1] if len(quoted) > 1 and quoted.endswith(quoted[0]) else quoted[1:]
    if header := _HEADER_NAME.match(inner):
        name = header.group(1)
        shown = inner if name.lower() in SHOWN_HEADERS else f"{name}: redacted"
    elif _REQUEST_LINE.match(inner):
        shown = _QUERY_VALUE.sub(r"\1redacted", inner)
    else:
        shown = "redacted"
    return f"{prefix}{mark}{shown}{mark}"


def redacted_request_text(text: str) -> str:
    """The parser's message with what may be a secret replaced (see the module docstring): header values but
    those of `SHOWN_HEADERS`, query values, any other quoted text; outside quotes, credential headers' values."""
    text = _QUOTED.sub(_shown_quote, text)
    text = _BARE_QUERY_VALUE.sub(r"\1redacted", text)
    text = _SECRET_HEADER.sub(r"\1: redacted", text)
    return _BEARER.sub(r"\1redacted", text)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout: float = 10.0
    max_connections: int = 1024


def fitted_concurrency(configured: int, *, api: int = 16) -> int:
    """`server.max_concurrency`, lowered (with a warning) to what the open-file limit leaves after
    `RESERVED_FDS` and `api` connections: probes past it would fail for want of a socket and count against
    their targets; within it they wait for a slot (lag, skipped runs: the host's limit, said as such)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft - RESERVED_FDS - api >= configured:
        return configured
    fitted = max(1, soft - RESERVED_FDS - api)
    logger.warning(
        "max_concurrency lowered to fit the open-file limit configured=%d used=%d nofile=%d: probes beyond it "
        "wait for a slot instead of failing; raise ulimit -n / LimitNOFILE to probe more at once",
        configured, fitted, soft,
    )  # fmt: skip
    return fitted


def fitted_limits(config: HttpConfig, *, probe_sockets: int) -> HttpLimits:
    """The configured limits, `max_connections` lowered to what the open-file limit leaves after the
    probes' sockets and `RESERVED_FDS` (at least 16)."""
    wanted = config.max_connections
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fitted = wanted if soft == resource.RLIM_INFINITY else max(16, min(wanted, soft - probe_sockets - RESERVED_FDS))
    if soft != resource.RLIM_INFINITY and soft < probe_sockets + RESERVED_FDS + 16:
        logger.warning(
            "open-file limit too low for max_concurrency: nofile=%d needed=%d (max_concurrency=%d + %d spare + 16 "
            "for the API); probes past it fail with outcome=error 'out of file descriptors': raise ulimit -n / "
            "LimitNOFILE or lower server.max_concurrency",
            soft, probe_sockets + RESERVED_FDS + 16, probe_sockets, RESERVED_FDS,
        )  # fmt: skip
    if fitted < wanted:
        logger.warning(
            "http: max_connections lowered to fit the open-file limit (RLIMIT_NOFILE) configured=%d used=%d nofile=%d",
            wanted, fitted, soft,
        )  # fmt: skip
    return HttpLimits(header_timeout=config.header_timeout, max_connections=fitted)


class ClientErrorLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's request handler logger (`aiohttp.server`), with a request that could not be parsed
    logged as one rate-limited WARNING line instead of an ERROR with a traceback (see the docstring)."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"))
        self.window_start = -CLIENT_ERROR_WINDOW
        self.logged = 0
        self.suppressed = 0

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if level >= logging.ERROR and isinstance(exc, BadHttpMessage):
            self.client_error(exc, args[0] if args else None)  # "Error handling request from %s", peer
        else:
            super().log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs  # LoggerAdapter would replace `extra` with its own (empty) one

    def client_error(self, exc: BadHttpMessage, peer: object) -> None:
        now = time.monotonic()
        if now - self.window_start >= CLIENT_ERROR_WINDOW:
            self.window_start, self.logged = now, 0
        if self.logged >= CLIENT_ERROR_BURST:
            self.suppressed += 1
            return
        self.logged += 1
        message = redacted_request_text(exc.message)[:400]
        text = "".join(c if c.isprintable() else "?" for c in " ".join(message.split()))[:160]
        more = f" suppressed={self.suppressed}" if self.suppressed else ""
        self.suppressed = 0
        logger.warning("http: bad request from a client, answered %d peer=%s error=%r%s", exc.code, peer, text, more)


_REASON_END = re.compile(r"[:'\"(\[]")


class JsonClientErrors(RequestHandler):
    """aiohttp's request handler, answering a request its parser refused with a JSON 4xx that does not quote the
    request (see the module docstring); every other error as aiohttp does. `GuardedSite` makes each handler one
    (`__class__`: aiohttp's `Server` builds the handler, and a subclass adding no slots has its layout)."""

    __slots__ = ()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)  # (logs it, through ClientErrorLog)
        if not isinstance(exc, BadHttpMessage) or not 400 <= status < 500:
            return response
        reason = _REASON_END.split(exc.message, maxsplit=1)[0].strip()
        reason = "".join(c for c in reason if c.isprintable())[:80] or "unreadable"
        refused = web.Response(status=status, text=json.dumps({"error": f"malformed request: {reason}"}),
                               content_type="application/json")  # fmt: skip
        refused.force_close()
        return refused


class _Counted(asyncio.Protocol):
    """Passes everything to aiohttp's handler; gives its slot back when the connection ends."""

    __slots__ = ("_inner", "_site")

    def __init__(self, inner: asyncio.Protocol, site: GuardedSite) -> None:
        self._inner, self._site = inner, site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._site.open_connections -= 1
        self._inner.connection_lost(exc)


class _Full(asyncio.Protocol):
    """A connection beyond `max_connections`: a 503 and goodbye, before reading anything."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(FULL)
        transport.close()


class GuardedSite(web.BaseSite):
    """A TCP site that counts its connections and refuses those beyond `max_connections`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self.max_connections = max_connections
        self.open_connections = 0
        self.refused = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the OS chose for port 0)."""
        sockets = getattr(self._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    def _protocol(self) -> asyncio.Protocol:
        if self.open_connections >= self.max_connections:
            self.refused += 1
            if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                logger.warning(
                    "http: connection limit reached, refusing connections max_connections=%d refused=%d",
                    self.max_connections, self.refused,
                )  # fmt: skip
            return _Full()
        server = self._runner.server
        assert server is not None
        self.open_connections += 1
        handler = server()
        handler.__class__ = JsonClientErrors
        return _Counted(handler, self)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port, reuse_address=True)


async def serve(app: web.Application, host: str, port: int, limits: HttpLimits) -> tuple[web.AppRunner, GuardedSite]:
    """Start serving `app`; `runner.cleanup()` stops it."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=limits.header_timeout,
        lingering_time=limits.header_timeout,
        logger=ClientErrorLog(),
    )
    await runner.setup()
    site = GuardedSite(runner, host, port, max_connections=limits.max_connections)
    try:
        await site.start()
    except OSError as e:  # (address in use, not ours to bind, unknown host): the user's to fix, said plainly
        await runner.cleanup()
        raise SlowatchError(
            f"cannot listen on {host}:{port}: {e.strerror or e}; set server.listen or pass --listen"
        ) from None
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site


__all__ = [
    "CLIENT_ERROR_BURST", "SHOWN_HEADERS", "ClientErrorLog", "GuardedSite", "HttpLimits", "JsonClientErrors",
    "fitted_concurrency", "fitted_limits", "serve",
]  # fmt: skip

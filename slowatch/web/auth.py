"""Access control for the HTTP face: bearer tokens from `server.auth` and `consumers[].access`.

Scopes, decided per request from the matched route:
- open: `/healthz`, `/readyz`; `/metrics` unless `server.auth.protect_metrics`;
- consumer: routes with a `{consumer}` part (its page, report, badges, `/api/v1/consumers/{consumer}`):
  the consumer is public, or the token is one of its tokens or an operator token;
- operator: everything else (the overview, the full API, unknown paths); `POST /api/v1/annotations`
  also takes an annotation token (`server.auth.annotation_tokens`: CI pipelines marking deploys).

A token comes as `Authorization: Bearer <token>` or `?token=<token>` (for links and badge images). A
missing token is 401, a wrong one 403, and a consumer that does not exist answers exactly like one
the token may not read, so neither reveals which consumers exist (an operator gets the real 404).
Nor does the time a refusal takes: a presented token is hashed once (SHA-256) and looked up among the
digests of every token of the running config (`AccessTable`, built once per config), whatever the
consumer in the path. Comparing it with that consumer's tokens instead (`hmac.compare_digest` per
candidate) made a wrong token on a consumer with 1,000 tokens 0.1 ms slower than on one that does not
exist (tests/web/test_auth_timing.py). A token with bytes that are not UTF-8 is hashed as those bytes
(and refused), never an error. Tokens are never logged. Without `server.auth` every request passes.
A refusal is logged as one INFO line with `peer=` and the matched route's pattern (never the raw path or
query), at most `REFUSALS_BURST` lines a minute (the next says how many were `suppressed=`): anyone who
reaches the port can send refused requests as fast as the connection allows.

Whatever the tokens, a write (any method but GET, HEAD, OPTIONS) that a browser marks as sent by a page of
another origin (`Origin` naming another host, or `null`; `Sec-Fetch-Site: cross-site` or `same-site`) is
refused with a 403: without `server.auth` any web page the operator opens could otherwise post an
annotation or a correction through the browser to the local daemon (a `no-cors` fetch or a `text/plain`
form is a request browsers send without asking). curl, CI and `slowatch annotate` send neither header.
A browser's `Sec-Fetch-Site` is believed when present (`same-origin` and `none` pass): behind a reverse proxy
that sends its upstream's address as Host, Origin (the public host) never equals Host; only a browser too
old to send it is judged by Origin against Host.

Without `server.auth`, a browser's write (`Origin` or `Sec-Fetch-Site` sent) must also name the daemon by an IP
address or `localhost` in its Host: DNS rebinding (a site whose name the attacker points at 127.0.0.1 once its
page is loaded) makes that page same-origin with the daemon, so only the Host tells it apart
(`rebound_write`). With `server.auth` the page has no token to send; curl, CI and the CLI send no browser header.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from slowatch.config.schema import Config
from slowatch.config.seen import PerConfig
from slowatch.web.params import json_error
from slowatch.web.view import VIEW

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSALS_BURST = 20
"""Refused requests logged per `REFUSALS_WINDOW` seconds; the rest are counted."""
REFUSALS_WINDOW = 60.0
ANNOTATIONS_PATH = "/api/v1/annotations"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()  # undecodable bytes: surrogates


@dataclass(frozen=True, slots=True)
class Grant:
    """What one token may do: `operator` is the operator token's name."""

    operator: str | None = None
    annotation: bool = False
    consumers: frozenset[str] = frozenset()


NOTHING = Grant()


class AccessTable:
    """Every token of one config by its SHA-256 digest, and the public consumers."""

    __slots__ = ("_grants", "auth", "public")

    def __init__(self, config: Config) -> None:
        self.auth = config.server.auth
        self.public = frozenset(c.name for c in config.consumers if c.access is not None and c.access.public)
        operators: dict[bytes, str] = {}
        annotations: set[bytes] = set()
        consumers: dict[bytes, set[str]] = {}
        if self.auth is not None:
            for name, secret in reversed(self.auth.operator_secrets):  # the first of equal tokens names it
                operators[_digest(secret.get_secret_value())] = name
            annotations = {_digest(t.get_secret_value()) for t in self.auth.annotation_tokens}
        for c in config.consumers:
            for t in c.access.tokens if c.access is not None else ():
                consumers.setdefault(_digest(t.get_secret_value()), set()).add(c.name)
        self._grants = {
            d: Grant(operators.get(d), d in annotations, frozenset(consumers.get(d, ())))
            for d in operators.keys() | annotations | consumers.keys()
        }

    def grant(self, token: str | None) -> Grant:
        return NOTHING if token is None else self._grants.get(_digest(token), NOTHING)

    def allowed(self, token: str | None, consumer: str | None) -> bool | None:
        """True: may read; False: a token was given but may not; None: a token is needed and missing.

        `consumer`: the consumer the request is about (None: an operator-only path)."""
        if self.auth is None or consumer in self.public:
            return True
        if token is None:
            return None
        grant = self.grant(token)
        return grant.operator is not None or consumer in grant.consumers

    def operator_name(self, token: str | None) -> str | None:
        """The name of the operator token presented (`local` without server.auth); None: not an operator's."""
        return "local" if self.auth is None else self.grant(token).operator

    def is_operator(self, token: str | None) -> bool:
        return self.operator_name(token) is not None

    def annotation_writer(self, request: web.Request, token: str | None) -> bool:
        """An annotation token posting an annotation (the one thing it may do)."""
        if self.auth is None or request.method != "POST" or request.path != ANNOTATIONS_PATH:
            return False
        return self.grant(token).annotation


ACCESS: web.AppKey[PerConfig[AccessTable]] = web.AppKey("access_tables")
"""The access table of the config the daemon runs (configs are immutable: identity is enough)."""


class RefusalLog:
    """Refused requests as INFO lines, at most `burst` per `window` seconds (then one saying how many
    were suppressed)."""

    def __init__(self, burst: int = REFUSALS_BURST, window: float = REFUSALS_WINDOW) -> None:
        self.burst, self.window = burst, window
        self.window_start = -window
        self.logged = self.suppressed = 0

    def refused(self, request: web.Request, why: str, *, level: int = logging.INFO, now: float | None = None) -> None:
        at = time.monotonic() if now is None else now
        if at - self.window_start >= self.window:
            self.window_start, self.logged = at, 0
        if self.logged >= self.burst:
            self.suppressed += 1
            return
        self.logged += 1
        more = f" suppressed={self.suppressed}" if self.suppressed else ""
        self.suppressed = 0
        logger.log(level, "request refused route=%s method=%s peer=%s why=%s%s", _route(request), request.method,
                   request.remote, why, more)  # fmt: skip


REFUSALS: web.AppKey[RefusalLog] = web.AppKey("refusals", RefusalLog)


def access(request: web.Request) -> AccessTable:
    """The access table of the config the daemon runs now (after a reload, the new one's tokens only)."""
    return request.app[ACCESS].of(request.app[VIEW].config)


def _route(request: web.Request) -> str:
    """The matched route's pattern (`/api/v1/corrections/{id}/revoke`), never the raw path or query."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _deny(status: int) -> web.HTTPException:
    if status == 401:
        return web.HTTPUnauthorized(
            text="a token is needed: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="slowatch"'},
        )
    return web.HTTPForbidden(text="this token may not read this page")


def cross_site_write(request: web.Request) -> bool:
    """A write a browser sent for a page of another origin (see the module docstring)."""
    if request.method in SAFE_METHODS:
        return False
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site:  # the browser's own word, whatever Host a reverse proxy sends (Origin is the public host)
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")  # (a browser without Sec-Fetch-Site: Origin against Host)
    if origin is None:
        return False
    try:
        netloc = urlsplit(origin.strip()).netloc.lower()
    except ValueError:
        return True
    return netloc != (request.host or "").lower()  # `null` (a sandboxed or opaque origin) has none


def rebound_write(request: web.Request) -> bool:
    """A browser's write to a daemon named by a host name (see the module docstring: DNS rebinding); only
    asked without `server.auth`."""
    if request.method in SAFE_METHODS or not ("Origin" in request.headers or "Sec-Fetch-Site" in request.headers):
        return False
    try:
        host = urlsplit(f"//{request.host or ''}").hostname or ""
    except ValueError:
        return True
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if cross_site_write(request):
        request.app[REFUSALS].refused(request, "cross-site write", level=logging.WARNING)
        raise json_error(web.HTTPForbidden, "cross-site write refused: a page of another origin may not write here")
    table = access(request)
    auth = table.auth
    if auth is None and rebound_write(request):
        request.app[REFUSALS].refused(
            request, "browser write to a host name without server.auth", level=logging.WARNING
        )
        raise json_error(
            web.HTTPForbidden,
            "a browser may write here only at an IP address or localhost while server.auth is off "
            "(a host name could be a DNS rebinding attack); turn server.auth on to write from a browser by name",
        )
    path = request.path
    if auth is None or path in OPEN_PATHS or (path == "/metrics" and not auth.protect_metrics):
        return await handler(request)
    consumer = request.match_info.get("consumer")
    token = presented_token(request)
    verdict = table.allowed(token, consumer)
    if verdict is True or (verdict is False and table.annotation_writer(request, token)):
        return await handler(request)
    request.app[REFUSALS].refused(request, "token missing" if verdict is None else "token not allowed")
    raise _deny(401 if verdict is None else 403)


__all__ = [
    "ACCESS", "ANNOTATIONS_PATH", "REFUSALS", "AccessTable", "Grant", "RefusalLog", "access",
    "presented_token", "require_token",
]  # fmt: skip

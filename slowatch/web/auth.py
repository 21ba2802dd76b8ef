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
Every comparison is constant-time (`hmac.compare_digest`) and goes through all candidate tokens; a
token with bytes that are not UTF-8 is compared as those bytes (and refused), never an error.
Tokens are never logged. Without `server.auth` every request passes (local use).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from pydantic import SecretStr

from slowatch.config.schema import Config
from slowatch.web.view import VIEW

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
ANNOTATIONS_PATH = "/api/v1/annotations"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or None


def _matches(token: str, candidates: Iterable[SecretStr]) -> bool:
    given = token.encode("utf-8", "surrogateescape")  # undecodable header bytes arrive as surrogates
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(given, candidate.get_secret_value().encode())
    return found


def allowed(config: Config, token: str | None, consumer: str | None) -> bool | None:
    """True: may read; False: a token was given but may not; None: a token is needed and missing.

    `consumer`: the consumer the request is about (None: an operator-only path)."""
    auth = config.server.auth
    if auth is None:
        return True
    target = next((c for c in config.consumers if c.name == consumer), None) if consumer is not None else None
    if target is not None and target.access is not None and target.access.public:
        return True
    if token is None:
        return None
    candidates = [t for _, t in auth.operator_secrets]
    if target is not None and target.access is not None:
        candidates += target.access.tokens
    return _matches(token, candidates)


def is_operator(config: Config, token: str | None) -> bool:
    auth = config.server.auth
    return auth is None or (token is not None and _matches(token, [t for _, t in auth.operator_secrets]))


def operator_name(config: Config, token: str | None) -> str | None:
    """The name of the operator token presented (`local` without server.auth); None: not an operator's."""
    auth = config.server.auth
    if auth is None:
        return "local"
    found = None
    for name, secret in auth.operator_secrets:  # every candidate is compared: constant time per token
        if token is not None and _matches(token, [secret]):
            found = name
    return found


def annotation_writer(config: Config, request: web.Request, token: str | None) -> bool:
    """An annotation token posting an annotation (the one thing it may do)."""
    auth = config.server.auth
    if auth is None or token is None or request.method != "POST" or request.path != ANNOTATIONS_PATH:
        return False
    return _matches(token, auth.annotation_tokens)


def _deny(status: int) -> web.HTTPException:
    if status == 401:
        return web.HTTPUnauthorized(
            text="a token is needed: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="slowatch"'},
        )
    return web.HTTPForbidden(text="this token may not read this page")


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[VIEW].config
    auth = config.server.auth
    path = request.path
    if auth is None or path in OPEN_PATHS or (path == "/metrics" and not auth.protect_metrics):
        return await handler(request)
    consumer = request.match_info.get("consumer")
    token = presented_token(request)
    verdict = allowed(config, token, consumer)
    if verdict is True or (verdict is False and annotation_writer(config, request, token)):
        return await handler(request)
    logger.info("request refused path_kind=%s token=%s", "consumer" if consumer else "operator",
                "missing" if verdict is None else "not allowed")  # fmt: skip
    raise _deny(401 if verdict is None else 403)


__all__ = [
    "ANNOTATIONS_PATH", "allowed", "annotation_writer", "is_operator", "operator_name", "presented_token",
    "require_token",
]  # fmt: skip

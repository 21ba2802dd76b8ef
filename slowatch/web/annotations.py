"""Annotations over HTTP: deploys, incidents and notes (slowatch/store/annotations.py).

POST /api/v1/annotations   {"kind": "deploy", "text": "checkout v142",
                            "consumers": ["checkout"], "endpoints": ["pay-api"], "time": 1764950000}
    `consumer`/`endpoint` (one name) work too; `time` (Unix seconds or ISO 8601 with an offset)
    defaults to now. An operator token or an annotation token (server.auth.annotation_tokens); `source`
    records which: `api:operator:<token name>` or `api:annotation-token`.
    201 with the stored annotation; 400 naming the field for anything wrong.
GET /api/v1/annotations?since=&until=&consumer=&endpoint=&kind=&limit=
    oldest first; `consumer` also matches annotations about its endpoints, or about everyone.
GET /api/v1/consumers/{consumer}/annotations?since=&until=&kind=&limit=
    the ones concerning the consumer (its tokens may read them), each naming only that consumer and its
    endpoints of those it concerns.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from slowatch.annotate import AnnotationError, parse_annotation
from slowatch.config.consumers import resolve_endpoints
from slowatch.config.messages import loop_did_you_mean
from slowatch.reports.marks import newest_matching
from slowatch.store.annotations import KINDS, Annotation, add_annotation
from slowatch.web.auth import ANNOTATIONS_PATH, access, presented_token
from slowatch.web.consumer_page import known_consumer
from slowatch.web.params import Query, bad_parameter, json_error, not_found
from slowatch.web.view import VIEW

STORE_WAIT = 10.0


async def post(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    try:
        doc = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested 100,000 deep
        raise bad_parameter("body", "must be a JSON object") from None
    config = view.config
    if config.server.auth is None:
        source = "api"
    else:  # who: the operator token's name (as a correction's author), or an annotation token (unnamed)
        operator = access(request).operator_name(presented_token(request))
        source = "api:annotation-token" if operator is None else f"api:operator:{operator}"
    try:
        annotation = parse_annotation(config, doc, view.now(), source, loop_did_you_mean)
    except AnnotationError as e:
        raise bad_parameter(e.field, e.message) from None
    view.store.submit(add_annotation(annotation))
    try:
        await asyncio.wait_for(view.store.flush(), STORE_WAIT)
    except TimeoutError:
        raise json_error(web.HTTPServiceUnavailable, "the database is not committing; try again") from None
    return web.json_response({"annotation": annotation.as_dict()}, status=201)


async def listing(request: web.Request) -> web.Response:
    q = Query(request, "since", "until", "consumer", "endpoint", "kind", "limit")
    view = request.app[VIEW]
    config = view.config
    since, until = q.timestamp("since"), q.timestamp("until")
    if since is not None and until is not None and until < since:
        raise bad_parameter("until", f"must not be before since (got since={since:g}, until={until:g})")
    limit = q.integer("limit", default=1000, low=1, high=10_000)
    kind = _kind(q)
    consumer, endpoint = q.get("consumer"), q.get("endpoint")
    scope: set[str] = set()
    if consumer is not None:
        found = next((c for c in config.consumers if c.name == consumer), None)
        if found is None:
            raise not_found("consumer", consumer, [c.name for c in config.consumers])
        scope = set(resolve_endpoints(found.endpoints, config.endpoints))
    if endpoint is not None and endpoint not in {e.name for e in config.endpoints}:
        raise not_found("endpoint", endpoint, [e.name for e in config.endpoints])

    def keep(a: Annotation) -> bool:
        return (
            (kind is None or a.kind == kind)
            and (consumer is None or a.concerns(consumer, scope))
            and (endpoint is None or endpoint in a.endpoints or not (a.consumers or a.endpoints))
        )

    rows = await view.store.read(lambda db: newest_matching(db.conn, since, until, limit, keep))
    return web.json_response({"annotations": [a.as_dict() for a in rows]})


async def consumer_listing(request: web.Request) -> web.Response:
    """`/api/v1/consumers/{consumer}/annotations`: the ones concerning it (its access tokens may read them)."""
    q = Query(request, "since", "until", "kind", "limit")
    consumer = known_consumer(request)
    view = request.app[VIEW]
    since, until = q.timestamp("since"), q.timestamp("until")
    if since is not None and until is not None and until < since:
        raise bad_parameter("until", f"must not be before since (got since={since:g}, until={until:g})")
    limit = q.integer("limit", default=1000, low=1, high=10_000)
    kind = _kind(q)
    scope = set(resolve_endpoints(consumer.endpoints, view.config.endpoints))

    def keep(a: Annotation) -> bool:
        return (kind is None or a.kind == kind) and a.concerns(consumer.name, scope)

    rows = await view.store.read(lambda db: newest_matching(db.conn, since, until, limit, keep))
    out = [a.seen_by(consumer.name, scope).as_dict() for a in rows]
    return web.json_response({"consumer": consumer.name, "annotations": out})


def _kind(q: Query) -> str | None:
    kind = q.get("kind")
    if kind is not None and kind not in KINDS:
        raise bad_parameter("kind", f"must be one of {', '.join(KINDS)} (got {kind[:40]!r})")
    return kind


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(ANNOTATIONS_PATH, post)
    router.add_get(ANNOTATIONS_PATH, listing)
    router.add_get("/api/v1/consumers/{consumer}/annotations", consumer_listing)


__all__ = ["add_routes"]

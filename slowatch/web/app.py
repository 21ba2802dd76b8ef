"""The HTTP face of the daemon: /metrics, /healthz, /readyz, the JSON API and the status page.

Handlers never touch SQLite on the event loop: they read in-memory state or go through
`Store.read`, which runs the query on the store's reader thread. /metrics is rendered on the event
loop in slices of a few milliseconds and streamed (`slowatch.metrics.Scrape`): rendering in a worker
thread held the GIL against the loop, and most endpoints' text is cached between scrapes anyway.
"""

from __future__ import annotations

import json
from contextlib import aclosing

from aiohttp import web

from slowatch.config.seen import PerConfig
from slowatch.metrics import Scrape
from slowatch.web import annotations as annotation_api
from slowatch.web import api, auth, badges, consumer_page, corrections, dependencies, gate, rules_api, status_page
from slowatch.web import hosts as known_hosts
from slowatch.web.auth import Handler
from slowatch.web.view import VIEW, DaemonView

API_PREFIX = "/api/"


@web.middleware
async def api_errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api/, an HTTP error with a body that is not JSON yet (a refused token, an unknown path, a
    method the route does not take, a body over the size limit) gets `{"error": <its text>}`, keeping its
    status and headers (`Allow`, `WWW-Authenticate`)."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith(API_PREFIX) or e.content_type == "application/json":
            raise
        text = e.text or e.reason
        e.text = json.dumps({"error": text.removeprefix(f"{e.status}: ")})
        e.content_type = "application/json"
        raise


async def metrics(request: web.Request) -> web.StreamResponse:
    headers = request.headers
    scrape = Scrape(request.app[VIEW].registry, headers.get("Accept", ""), headers.get("Accept-Encoding", ""))
    if request.method == "HEAD":  # a GET's headers and no body: a streamed body would corrupt the connection
        return web.Response(headers=scrape.headers)
    response = web.StreamResponse(headers=scrape.headers)
    await response.prepare(request)
    try:
        async with aclosing(scrape.body()) as body:  # closed at once if the scraper goes away mid-body
            async for chunk in body:
                await response.write(chunk)
        await response.write_eof()
    finally:
        scrape.finished()
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    reasons = request.app[VIEW].readiness()
    if reasons:
        return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


COMPRESS_FROM = 1024
"""Bytes from which a page or JSON answer goes gzipped to a client that accepts it."""
COMPRESSED = ("text/html", "application/json", "image/svg+xml", "text/plain")


@web.middleware
async def compress(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    """Gzip the pages and JSON for clients that accept it: a consumer page of 200 SLOs over 2,000 endpoints
    weighs 4.3 MB, 110 KB gzipped. A body over 1 MiB is compressed on aiohttp's executor, off the loop.
    Streamed answers (/metrics, which negotiates its own encoding) are left alone."""
    response = await handler(request)
    if (
        isinstance(response, web.Response)
        and not response.headers.get("Content-Encoding")
        and response.content_type in COMPRESSED
        and isinstance(response.body, bytes)
        and len(response.body) >= COMPRESS_FROM
    ):
        response.enable_compression()
        response.headers["Vary"] = "Accept-Encoding"  # the body depends on it: a cache must keep both apart
    return response


def make_app(view: DaemonView) -> web.Application:
    app = web.Application(middlewares=[compress, api_errors_as_json, known_hosts.known_hosts_only, auth.require_token])
    app[VIEW] = view
    app[known_hosts.KNOWN_HOSTS] = PerConfig(known_hosts.KnownHosts)
    app[auth.ACCESS] = PerConfig(auth.AccessTable)
    app[auth.REFUSALS] = auth.RefusalLog()
    app[dependencies.GRAPH] = dependencies.DependencyGraph()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    api.add_routes(app.router)
    rules_api.add_routes(app)
    status_page.add_routes(app.router)
    consumer_page.add_routes(app.router)
    badges.add_routes(app.router)
    corrections.add_routes(app.router)
    dependencies.add_routes(app.router)
    gate.add_routes(app.router)
    annotation_api.add_routes(app.router)
    return app


__all__ = ["VIEW", "DaemonView", "make_app"]

"""The HTTP face of the daemon: /metrics, /healthz, /readyz, the JSON API and the status page.

Handlers never touch SQLite on the event loop: they read in-memory state or go through
`Store.read`, which runs the query on the store's reader thread. /metrics is rendered in a worker
thread too, so a large scrape never stalls probing (collectors only read in-memory state and are
thread-safe).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from slowatch.metrics import render_response
from slowatch.web import api, status_page
from slowatch.web.view import VIEW, DaemonView


async def metrics(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    body, headers = await asyncio.to_thread(
        render_response,
        view.registry,
        request.headers.get("Accept", ""),
        request.headers.get("Accept-Encoding", ""),
    )
    return web.Response(body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    reasons = request.app[VIEW].readiness()
    if reasons:
        return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


def make_app(view: DaemonView) -> web.Application:
    app = web.Application()
    app[VIEW] = view
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    api.add_routes(app.router)
    status_page.add_routes(app.router)
    return app


__all__ = ["VIEW", "DaemonView", "make_app"]

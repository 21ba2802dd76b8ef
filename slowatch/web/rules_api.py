"""`GET /api/v1/prometheus/rules`: the Prometheus rules of the running config, as a rule_files YAML file.

The same text as `slowatch generate prometheus-rules` for the config the daemon runs now (after a
reload, the new one). Rendering is pure CPU, done in a thread (at 100,000 endpoints and 1,000 SLOs it takes
~28 s: on the event loop, that long without a probe run nor a /healthz answer); the text is kept until the
config object changes, and requests meanwhile wait for the one rendering.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from slowatch.config.schema import Config
from slowatch.config.seen import LastSeen
from slowatch.generate.prometheus import render_rules
from slowatch.web.params import Query
from slowatch.web.view import VIEW


class RulesCache:
    """The rendered rules of the last config seen (configs are immutable: identity is enough)."""

    def __init__(self) -> None:
        self._config = LastSeen()
        self._text = ""
        self._lock = asyncio.Lock()  # one rendering at a time: concurrent requests for a new config wait for it

    async def text(self, config: Config) -> str:
        async with self._lock:
            if not self._config(config):
                self._text = await asyncio.to_thread(render_rules, config, "the running slowatch config")
                self._config.seen(config)
            return self._text


CACHE: web.AppKey[RulesCache] = web.AppKey("rules_cache", RulesCache)


async def prometheus_rules(request: web.Request) -> web.Response:
    Query(request)
    text = await request.app[CACHE].text(request.app[VIEW].cluster.full)  # every shard: the whole picture
    return web.Response(text=text, content_type="application/yaml")


def add_routes(app: web.Application) -> None:
    app[CACHE] = RulesCache()
    app.router.add_get("/api/v1/prometheus/rules", prometheus_rules)


__all__ = ["add_routes"]

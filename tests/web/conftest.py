"""A daemon serving its HTTP face on a loopback port, over a real SQLite file holding some results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.config import load_text
from slowatch.daemon import Daemon


@asynccontextmanager
async def serving_daemon(db: Path, *, rounds: int = 3, http: str = "{}") -> AsyncIterator[Daemon]:
    """The daemon (no scheduler) after `rounds` probes of an endpoint that is up and one that is down;
    `http` is its `server.http` (YAML)."""

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    target = TestServer(app, host="127.0.0.1")
    await target.start_server()
    try:
        async with _daemon(db, target.port, rounds, http) as daemon:
            yield daemon
    finally:
        await target.close()


@asynccontextmanager
async def _daemon(db: Path, port: int, rounds: int, http: str) -> AsyncIterator[Daemon]:
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{db}", http: {http}}}
endpoints:
  - {{name: up, kind: http, url: "http://127.0.0.1:{port}/ok"}}
  - {{name: down, kind: http, url: "http://127.0.0.1:{port}/fail"}}
consumers:
  - name: shop
    endpoints: [up, down]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
"""
    )
    daemon = Daemon(config)
    await daemon.start(schedule=False)
    try:
        for _ in range(rounds):
            await daemon.probe_all_once()
        await daemon.store.flush()
        yield daemon
    finally:
        await daemon.stop()


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    async with serving_daemon(tmp_path / "web.db") as d:
        yield d

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess

HITS: web.AppKey[Counter[str]] = web.AppKey("hits", Counter)


@pytest.fixture
async def targets() -> AsyncIterator[TestServer]:
    """Real probe targets: /ok answers 200, /fail answers 503, /slow hangs for 30 s."""

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async def slow(request: web.Request) -> web.Response:
        request.app[HITS]["slow"] += 1
        await asyncio.sleep(30)
        return web.Response(text="late")

    app = web.Application()
    app[HITS] = Counter()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/slow", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    path = tmp_path / "slowatch.yaml"

    def write(text: str) -> Path:
        path.write_text(text)
        return path

    return write


@pytest.fixture
async def daemons(tmp_path: Path) -> AsyncIterator[list[DaemonProcess]]:
    """Started daemons are killed at teardown if a test left them running."""
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        if d.proc is not None and d.proc.returncode is None:
            d.proc.kill()
            await d.proc.wait()

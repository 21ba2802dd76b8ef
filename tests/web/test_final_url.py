"""The API shows a result's `final_url` as the probe recorded it: a `${VAR}` in the host stays `${VAR}`.

The README promises that an interpolated value is shown "as `${VAR}`, as written in the config"; the API
redacted the stored (already redacted) URL a second time with a parser that lowercases the host, so a
`url: http://${TARGET_HOST}/ok` came back as `http://${target_host}/ok`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.config import load_text
from slowatch.daemon import Daemon


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "up"})


async def _serve() -> TestServer:
    app = web.Application()
    app.router.add_get("/ok", _ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def _get(d: Daemon, path: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{d.bound_port}{path}") as r:
        assert r.status == 200, await r.text()
        return dict(json.loads(await r.text()))


@asynccontextmanager
async def _daemon(port: int, tmp_path: Path) -> AsyncIterator[Daemon]:
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "u.db"}"}}
endpoints:
  - {{name: up, kind: http, url: "http://${{TARGET_HOST}}/ok?key=${{KEY}}"}}
""",
        env={"TARGET_HOST": f"127.0.0.1:{port}", "KEY": "k3y-value-secret"},
    )
    d = Daemon(config)
    await d.start(schedule=False)
    try:
        yield d
    finally:
        await d.stop()


async def test_final_url_keeps_the_interpolated_host_as_written(tmp_path: Path) -> None:
    server = await _serve()
    try:
        async with _daemon(server.port or 0, tmp_path) as d:
            await d.probe_all_once()
            await d.store.flush()
            shown = "http://${TARGET_HOST}/ok?key=redacted"
            one = await _get(d, "/api/v1/endpoints/up")
            latest = one["latest"]
            assert isinstance(latest, dict)
            assert latest["outcome"] == "success"
            assert latest["final_url"] == shown
            history = await _get(d, "/api/v1/endpoints/up/results")
            results = history["results"]
            assert isinstance(results, list)
            assert [r["final_url"] for r in results] == [shown]
    finally:
        await server.close()

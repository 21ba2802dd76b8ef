"""A small real API for transaction probes: log in (a token and a session cookie), then call with both."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

TOKEN = "tok-7fQk29xLmZ"
FAIL = web.AppKey("fail", dict[str, Any])
SEEN = web.AppKey("seen", list[dict[str, str]])


async def login(request: web.Request) -> web.Response:
    fail = request.app[FAIL]
    request.app[SEEN].append(dict(request.cookies))
    if "login" in fail:
        return web.Response(status=fail["login"], text="login broken")
    doc = await request.json() if request.content_type == "application/json" else dict(await request.post())
    if doc.get("password") != "pw":
        return web.json_response({"error": "bad password"}, status=403)
    body = {"session": {"token": TOKEN}} if "no_token" not in fail else {"session": {}}
    response = web.json_response(body)
    response.set_cookie("sid", "cookie-abc")
    return response


async def orders(request: web.Request) -> web.Response:
    fail = request.app[FAIL]
    if request.headers.get("Authorization") != f"Bearer {TOKEN}" or request.cookies.get("sid") != "cookie-abc":
        return web.json_response({"error": "unauthorized"}, status=401)
    if "orders_hang" in fail:
        await asyncio.sleep(3600)
    if "orders" in fail:
        return web.Response(status=fail["orders"], text="orders broken")
    return web.json_response({"orders": [{"id": 1}], "echo": request.headers["Authorization"]},
                             headers={"X-Echo": TOKEN})  # fmt: skip


def make_app() -> web.Application:
    app = web.Application()
    app[FAIL] = {}
    app[SEEN] = []
    app.router.add_post("/login", login)
    app.router.add_get("/orders", orders)
    return app


def transaction(port: int, **options: Any) -> dict[str, Any]:
    """A `kind: transaction` endpoint document: login -> orders on 127.0.0.1:port."""
    base = f"http://127.0.0.1:{port}"
    steps = [
        {"name": "login", "method": "POST", "url": f"{base}/login", "json": {"user": "probe", "password": "pw"},
         "extract": {"token": {"json_path": "$.session.token"}}},
        {"name": "orders", "url": f"{base}/orders", "headers": {"Authorization": "Bearer {{steps.login.token}}"},
         "expect": {"status": [200], "body": [{"json_path": "$.orders[0].id", "equals": 1}]}},
    ]  # fmt: skip
    return {"kind": "transaction", "name": "t", "interval": 10, "timeout": 2, "steps": steps, **options}

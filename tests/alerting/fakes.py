"""Real HTTP fakes for the alerting tests: a scripted webhook receiver (Slack, generic webhook) and a
probe target whose health is switched per test. Both are aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    status: int


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


class FakeReceiver:
    """Records every POST (`attempts`) and the acknowledged ones (`acked`); replies from the request
    path's own script in `scripts` if it has one, else from `script`, in order, then `default`.
    `hang` makes every reply wait that long first."""

    def __init__(self) -> None:
        self.attempts: list[Hit] = []
        self.acked: list[Hit] = []
        self.script: deque[Reply] = deque()
        self.scripts: dict[str, deque[Reply]] = {}
        self.default = Reply()
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()  # ends every hang (set at close, so the server stops at once)
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        own = self.scripts.get(request.path)
        reply = own.popleft() if own else self.script.popleft() if self.script else self.default
        hit = Hit(request.path_qs, dict(request.headers), json.loads(raw), time.monotonic(), reply.status)
        self.attempts.append(hit)
        if reply.hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), reply.hang)
        if 200 <= reply.status < 300:
            self.acked.append(hit)
            self.arrived.set()
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    async def start(self) -> FakeReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def wait_acked(self, n: int, timeout: float = 10.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.acked) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} acked posts, got {len(self.acked)}: {self.acked}")
            await asyncio.sleep(0.02)
        return self.acked

    async def close(self) -> None:
        self.release.set()
        if self.server is not None:
            await self.server.close()


EXPECT_UP = {"body": [{"json_path": "$.status", "equals": "up"}]}


class Target:
    """A probe target: GET /health answers {"status": "up"} while `up`, else {"status": `error`}.

    Endpoints use EXPECT_UP, so a down target fails with a message quoting the target's own text."""

    def __init__(self) -> None:
        self.up = True
        self.error = "down for <maintenance> & more"
        self.server: TestServer | None = None

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "up" if self.up else self.error})

    async def start(self) -> Target:
        app = web.Application()
        app.router.add_get("/health", self.health)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/health"))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

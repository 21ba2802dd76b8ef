"""A stand-in daemon for the command line's HTTP clients (`gate --url`, `annotate --url`): one loopback aiohttp
server whose `/<case>/...` answers as the test sets `cases[case]`, recording each request's Authorization, and
`run` to call the command line in a thread (its own event loop, as in a real run)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.cli import main

TOKEN = "s3cret-ci-token-0123456789"
GO = {"consumer": "shop", "decision": "go", "reason": "within policy", "slos": [
    {"slo": "availability", "decision": "go", "rule": "within policy", "reason": "ok", "message": ""}]}  # fmt: skip
STORED = {"annotation": {"id": 7, "ts": 1_800_000_000.0, "kind": "deploy", "text": "v1"}}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hostile:
    """One loopback server; `/<case>/...` answers as `cases[case]`; every request's Authorization is kept."""

    server: TestServer
    cases: dict[str, Handler]
    stop: asyncio.Event
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    sent: list[int] = field(default_factory=lambda: [0])

    def url(self, case: str) -> str:
        return str(self.server.make_url(f"/{case}"))


async def serve(cases: dict[str, Handler], **ssl_kw: ssl.SSLContext) -> AsyncIterator[Hostile]:
    stop = asyncio.Event()
    holder: list[Hostile] = []

    async def route(request: web.Request) -> web.StreamResponse:
        holder[0].seen.append((request.path, request.headers.get("Authorization")))
        return await cases[request.match_info["case"]](request)

    app = web.Application()
    app.router.add_route("*", "/{case}/{tail:.*}", route)
    server = TestServer(app, host="127.0.0.1", scheme="https" if ssl_kw else "http")
    await server.start_server(**ssl_kw)
    holder.append(Hostile(server, cases, stop))
    yield holder[0]
    stop.set()
    await server.close()


def reply(status: int, body: bytes | str = b"", content_type: str = "application/json", **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        data = body.encode() if isinstance(body, str) else body
        return web.Response(status=status, body=data, headers={"Content-Type": content_type, **headers})

    return handler


def document(doc: object, status: int = 200) -> Handler:
    return reply(status, json.dumps(doc))


async def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    """The command line in a thread (its own event loop, like a real run): (exit status, stdout, stderr, seconds)."""
    capsys.readouterr()
    start = time.monotonic()
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    return code, out, err, time.monotonic() - start


def gate_argv(url: str, *extra: str) -> list[str]:
    return ["gate", "--url", url, "--consumer", "shop", "--token", TOKEN, *extra]


def annotate_argv(url: str, *extra: str) -> list[str]:
    return ["annotate", "--url", url, "--kind", "deploy", "--text", "v1", "--token", TOKEN, *extra]


COMMANDS = {"gate": gate_argv, "annotate": annotate_argv}


def one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2, (code, out, err)
    assert out == "" and len(err.splitlines()) == 1 and err.endswith("\n"), (out, err)
    assert "Traceback" not in err and TOKEN not in err, err
    return err


__all__ = [
    "COMMANDS", "GO", "STORED", "TOKEN", "Hostile", "annotate_argv", "document", "gate_argv", "one_error_line",
    "reply", "run", "serve",
]  # fmt: skip

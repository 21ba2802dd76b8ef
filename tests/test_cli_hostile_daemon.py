"""`slowatch gate --url` and `slowatch annotate --url` against servers that misbehave (real aiohttp servers on
loopback): whatever answers, the command ends with one line on stderr and exit status 2, never a traceback,
a hang, an unbounded read, a token in its output, or (gate) an answer it does not understand read as "go"."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.cli import main
from tests.support.sockets import free_port

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


async def _serve(cases: dict[str, Handler], **ssl_kw: ssl.SSLContext) -> AsyncIterator[Hostile]:
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


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    async for server in _serve({}):
        yield server


async def test_the_well_behaved_daemon_still_gets_its_answers_through(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.cases.update(go=document(GO), stored=document(STORED, 201))
    code, out, err, _ = await run(gate_argv(hostile.url("go")), capsys)
    assert (code, err) == (0, "") and out.startswith("GO: within policy\n"), (code, out, err)
    hold = {**GO, "decision": "hold", "slos": [{**GO["slos"][0], "decision": "hold"}]}  # type: ignore[index]
    hostile.cases["hold"] = document(hold)
    assert (await run(gate_argv(hostile.url("hold")), capsys))[0] == 1
    code, out, err, _ = await run(annotate_argv(hostile.url("stored")), capsys)
    assert (code, err) == (0, "") and out.startswith("annotated deploy at 2027-01-15 08:00:00 UTC (id 7)"), out
    assert [path for path, _ in hostile.seen] == [
        "/go/api/v1/consumers/shop/gate",
        "/hold/api/v1/consumers/shop/gate",
        "/stored/api/v1/annotations",
    ]
    assert {auth for _, auth in hostile.seen} == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize("command", COMMANDS)
async def test_json_nested_100000_deep_is_an_error_not_a_recursion_error(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    hostile.cases.update(deep=reply(200, deep), deep201=reply(201, '{"annotation": ' + deep + "}"))
    url = hostile.url("deep" if command == "gate" else "deep201")
    err = one_error_line(*(await run(COMMANDS[command](url), capsys))[:3])
    assert "nested too deep" in err, err

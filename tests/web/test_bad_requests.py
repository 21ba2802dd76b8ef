"""Requests aiohttp cannot parse get its 400 and cost one WARNING line, never a traceback per request:
anyone who can reach the port must not be able to fill the logs. A bug in a handler keeps its traceback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp import web

from slowatch.web.server import CLIENT_ERROR_BURST, HttpLimits, serve
from tests.web.conftest import serving_daemon

LONG_LINE = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
LONG_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
BAD_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\x1b[2J: x\r\n\r\n"


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_an_oversized_or_malformed_request_is_a_400_and_one_warning_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving_daemon(tmp_path / "web.db", rounds=1) as daemon:
        with caplog.at_level(logging.INFO):
            replies = [await exchange(daemon.bound_port, raw) for raw in (LONG_LINE, LONG_HEADER, BAD_HEADER)]
            ok = await exchange(daemon.bound_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert all(reply.startswith(b"HTTP/1.0 400 Bad Request") for reply in replies)
    assert ok.startswith(b"HTTP/1.1 200 OK")  # still serving
    assert tracebacks(caplog) == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    lines = [r.getMessage() for r in caplog.records if "bad request from a client" in r.getMessage()]
    assert len(lines) == 3
    assert all("answered 400 peer=127.0.0.1 error=" in line and len(line) < 300 for line in lines)
    assert "8190 bytes" in lines[0] and "8190 bytes" in lines[1] and "Invalid header" in lines[2]
    assert all("\n" not in line and "\x1b" not in line for line in lines)  # nothing a terminal would act on


async def test_a_flood_of_bad_requests_is_rate_limited(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with serving_daemon(tmp_path / "web.db", rounds=1) as daemon:
        with caplog.at_level(logging.INFO):
            for _ in range(CLIENT_ERROR_BURST * 3):
                assert (await exchange(daemon.bound_port, LONG_LINE)).startswith(b"HTTP/1.0 400")
    lines = [r.getMessage() for r in caplog.records if "bad request from a client" in r.getMessage()]
    assert len(lines) == CLIENT_ERROR_BURST and tracebacks(caplog) == []


async def test_a_bug_in_a_handler_still_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a real server error")

    app = web.Application()
    app.router.add_get("/broken", broken)
    runner, site = await serve(app, "127.0.0.1", 0, HttpLimits())
    try:
        with caplog.at_level(logging.INFO):
            reply = await exchange(site.port, b"GET /broken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        await runner.cleanup()
    assert reply.startswith(b"HTTP/1.1 500")
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "aiohttp.server" and record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_a_malformed_request_never_writes_its_token_to_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The parser's message quotes the offending line: a `?token=` or an `Authorization` header on it is redacted."""
    secret = "co-1a2b3c4d5e6f7a8b"
    raws = [
        f"GET /consumers/shop?token={secret} HTTP/9.9\r\nHost: x\r\n\r\n",  # bad version: the request line
        f"GET /consumers/shop?show=sli&token={secret}\x7f HTTP/1.1\r\nHost: x\r\n\r\n",  # bad char in the query
        f"GET /consumers/shop HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\x01\r\n\r\n",
        f"GET /consumers/shop HTTP/1.1\r\nHost: x\r\nauthorization : bearer {secret}\r\n\r\n",  # space before ':'
        f"GET /consumers/shop HTTP/1.1\r\nHost: x\r\nCookie: t={secret}\x01\r\n\r\n",
    ]
    async with serving_daemon(tmp_path / "web.db", rounds=1) as daemon:
        with caplog.at_level(logging.DEBUG):
            replies = [await exchange(daemon.bound_port, raw.encode("latin-1")) for raw in raws]
    assert all(reply.startswith(b"HTTP/1.0 400 Bad Request") for reply in replies)
    lines = [r.getMessage() for r in caplog.records if "bad request from a client" in r.getMessage()]
    assert len(lines) == len(raws)
    assert secret[:8] not in caplog.text and secret[-8:] not in caplog.text, lines
    assert "token=redacted" in lines[0] and "HTTP/9.9" in lines[0]  # still says what was wrong
    assert "Authorization: redacted" in lines[2]


async def test_a_malformed_request_logs_no_header_value_beyond_a_harmless_few(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Any header may carry a credential (`X-Api-Key`, `X-Auth-Token`, `Private-Token`, ...): the line names
    the header and what was wrong, and shows a value only for a harmless header (`Host`, `User-Agent`, ...)."""
    secret = "k3y-9f8e7d6c5b4a3210"
    raws = [
        f"GET / HTTP/1.1\r\nHost: x\r\nX-Api-Key: {secret}\x01\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: x\r\nX-Auth-Token : {secret}\r\n\r\n",  # space before ':': the whole line quoted
        f"GET / HTTP/1.1\r\nHost: x\r\nPrivate-Token: {secret}{'a' * 9000}\r\n\r\n",  # too long: the value quoted
        f"GET / HTTP/1.1\r\nHost: x\r\nX-Api-Key: a\r\n {secret}\r\n\r\n",  # an obsolete continuation line
        f"GET / HTTP/1.1\r\nHost: x\r\nX-Api-Key: '\"{secret}\x01\r\n\r\n",  # quotes in the value
        "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/1.0\x01\r\n\r\n",  # harmless: shown
    ]
    async with serving_daemon(tmp_path / "web.db", rounds=1) as daemon:
        with caplog.at_level(logging.DEBUG):
            replies = [await exchange(daemon.bound_port, raw.encode("latin-1")) for raw in raws]
    assert all(reply.startswith(b"HTTP/1.0 400 Bad Request") for reply in replies)
    lines = [r.getMessage() for r in caplog.records if "bad request from a client" in r.getMessage()]
    assert len(lines) == len(raws)
    assert secret[:6] not in caplog.text and secret[-6:] not in caplog.text, lines
    assert "X-Api-Key: redacted" in lines[0] and "Invalid header value char" in lines[0]
    assert "X-Auth-Token: redacted" in lines[1]
    assert "8190 bytes" in lines[2]
    assert "User-Agent: probe/1.0" in lines[5]

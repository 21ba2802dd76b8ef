"""Tokens in a real `slowatch run`: a token rotated out by a reload (SIGHUP) is refused at once, a reload
with a bad token keeps the running ones and names the field without the value, and no token reaches the
log, whether sent in the header, in `?token=`, or in a request the parser rejects."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.harness import DaemonProcess

OPERATOR = "op-e2e-0123456789abcdef"
OLD = "co-old-0123456789abcdef"
NEW = "co-new-fedcba9876543210"
SHORT = "co-short"


def config(tmp_path: Path, checkout_token: str) -> str:
    return f"""
server:
  database: "{tmp_path / "tokens.db"}"
  auth: {{operator_tokens: ["{OPERATOR}"]}}
endpoints:
  - {{name: pay, kind: tcp, host: 127.0.0.1, port: 9, interval: 60s}}
consumers:
  - name: checkout
    endpoints: [pay]
    access: {{tokens: ["{checkout_token}"]}}
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
"""


async def status(d: DaemonProcess, path: str, token: str | None = None, *, query: bool = False) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token and not query else {}
    url = f"{d.url}{path}" + (f"?token={token}" if token and query else "")
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status


async def logged(d: DaemonProcess, line: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while line not in d.log():
        assert time.monotonic() < deadline, d.log()
        await asyncio.sleep(0.1)


def malformed(port: int, token: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            f"GET /consumers/checkout?token={token} HTTP/1.1\r\nAuthorization: Bearer {token}\x01\r\n\r\n".encode()
        )
        return s.recv(4096)


@pytest.mark.slow
async def test_a_rotated_token_is_refused_at_once_and_no_token_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(config(tmp_path, OLD))
    d = DaemonProcess(path, tmp_path)
    await d.start()
    try:
        page = "/api/v1/consumers/checkout"
        assert await status(d, page, OLD) == 200 and await status(d, page, OLD, query=True) == 200
        assert await status(d, page, NEW) == 403
        path.write_text(config(tmp_path, NEW))
        d.send(signal.SIGHUP)
        await logged(d, "config reloaded ")
        assert await status(d, page, OLD) == 403 and await status(d, page, OLD, query=True) == 403
        assert await status(d, page, NEW) == 200
        # A bad token in the next file: the reload is refused, the running tokens stay, the value is not shown.
        path.write_text(config(tmp_path, SHORT))
        d.send(signal.SIGHUP)
        await logged(d, "config reload rejected")
        assert "consumers[0].access.tokens[0]" in d.log()
        assert await status(d, page, NEW) == 200 and await status(d, page, SHORT) == 403
        assert (await asyncio.to_thread(malformed, d.port, NEW)).startswith(b"HTTP/1.")
        assert await status(d, "/api/v1/endpoints", NEW) == 403
    finally:
        await d.stop()
    log = d.log()
    for token in (OPERATOR, OLD, NEW, SHORT):
        assert token not in log, token

"""Slow and greedy clients cannot hold the HTTP listener: half-sent request heads are cut off after
`server.http.header_timeout`, and connections beyond `max_connections` get a 503 at once."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from slowatch.daemon import Daemon
from tests.web.conftest import serving_daemon

HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for 1,000 client and 1,000 server sockets in this one process."""
    need, infinity = 2600, resource.RLIM_INFINITY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != infinity and soft < need:
        if hard != infinity and hard < need:
            pytest.skip(f"the hard open-file limit ({hard}) is too low for 1,000 connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def half_heads(port: int, n: int) -> list[Conn]:
    """`n` connections that each sent half a request head and then nothing."""
    conns: list[Conn] = []
    for start in range(0, n, 100):  # in batches: the listen backlog is 100
        size = min(n, start + 100) - start
        batch = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(size)))
        for _, writer in batch:
            writer.write(HALF_HEAD)
        conns.extend(batch)
    await asyncio.sleep(0.2)
    return conns


async def healthz_seconds(port: int) -> float:
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        async with session.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as r:
            assert r.status == 200
        return time.perf_counter() - t0


async def closed_by_server(conns: list[Conn], within: float) -> int:
    async def eof(reader: asyncio.StreamReader) -> bool:
        try:
            return await asyncio.wait_for(reader.read(), timeout=within) == b""
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    return sum(await asyncio.gather(*(eof(r) for r, _ in conns)))


def close_all(conns: list[Conn]) -> None:
    for _, writer in conns:
        writer.close()


@pytest.mark.slow
async def test_healthz_stays_fast_with_1000_half_sent_heads_which_are_then_closed(
    tmp_path: Path, many_files: None
) -> None:
    async with serving_daemon(tmp_path / "slow.db", rounds=1, http="{header_timeout: 2s}") as daemon:
        port = daemon.bound_port
        assert port is not None
        quiet = min([await healthz_seconds(port) for _ in range(3)])
        opened = time.monotonic()
        conns = await half_heads(port, 1000)
        try:
            busy = max([await healthz_seconds(port) for _ in range(3)])
            assert busy < 0.5, f"/healthz took {busy:.3f}s with 1,000 slow connections open ({quiet:.3f}s without)"
            assert time.monotonic() - opened < 2.0, "the test opened the connections too slowly to check the timeout"
            # every one is still open before its deadline, and closed by the server soon after it
            assert await closed_by_server(conns, within=4.0) == 1000
            assert time.monotonic() - opened < 6.0
        finally:
            close_all(conns)


async def test_a_trickled_head_does_not_extend_the_deadline(daemon_1s: Daemon) -> None:
    port = daemon_1s.bound_port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.monotonic()
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(10):  # a header byte every 0.2 s: 2 s in all, never a complete head
            await asyncio.sleep(0.2)
            if reader.at_eof():
                break
            writer.write(b"X")
        assert await asyncio.wait_for(reader.read(), timeout=3) == b""
        assert 0.9 < time.monotonic() - t0 < 2.0
    finally:
        writer.close()


async def test_connections_beyond_the_limit_get_503_until_slots_free(daemon_1s: Daemon) -> None:
    port = daemon_1s.bound_port
    assert port is not None
    conns = await half_heads(port, 16)  # the limit in daemon_1s
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await asyncio.wait_for(reader.read(), timeout=2)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert await closed_by_server(conns, within=2.0) == 16
        await asyncio.sleep(0.1)
        assert await healthz_seconds(port) < 0.5  # the slots are free again
    finally:
        close_all(conns)


@pytest.fixture
async def daemon_1s(tmp_path: Path) -> AsyncIterator[Daemon]:
    async with serving_daemon(tmp_path / "limits.db", rounds=1, http="{header_timeout: 1s, max_connections: 16}") as d:
        yield d

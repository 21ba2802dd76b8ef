"""Receivers in the way of delivery (audit): a 413 for a storm's grouped message, a 2xx that is a proxy's HTML page,
a redirect, headers that trickle in, a host that does not resolve. Each is a failure with its reason, retried where
that can help, and never holds up another sink. Real aiohttp servers and raw sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from slowatch.alerting.outbox import list_outbox
from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_sink_audit import one_alert, until

SIGN_IN = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Corporate proxy</body></html>"


async def test_a_grouped_message_refused_as_too_large_is_sent_in_halves_and_every_alert_delivered(
    tmp_path: Path, target: Target, rig: Any
) -> None:
    """12 alerts wait through an outage (503) and are restored at a restart: they go out as one grouped message, and
    the receiver (a proxy's body limit) refuses more than 4 events with 413. That was a permanent failure: all 12
    alerts `failed`, none delivered. (Restored, they are queued at once: the grouping does not depend on timing.)"""
    got: list[int] = []
    up = False

    async def handle(request: web.Request) -> web.Response:
        n = len((await request.json())["events"])
        if not up:
            return web.Response(status=503, text="down")
        got.append(n)
        return web.Response(status=413 if n > 4 else 200, text="Request Entity Too Large" if n > 4 else "ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        names = [f"e{i:02d}" for i in range(12)]
        config = make_config(
            tmp_path,
            endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in names],
            sinks={"hook": {"kind": "webhook", "url": str(server.make_url("/hook")), **FAST_SINK}},
            routes=[{"sinks": ["hook"]}],
            alerting={"storm": {"threshold": 3, "window": "1m", "group_wait": "0s", "group_interval": "200ms"}},
        )
        first = await rig(config)
        target.up = False
        for n in names:
            await first.probe(n)
        await first.store.flush()
        await first.stop()
        up = True
        r = await rig(config)
        counters = r.service.dispatcher.counters
        await until(lambda: counters[("hook", "delivered")] + counters[("hook", "failed")] >= 12)
        assert counters[("hook", "delivered")] == 12 and not counters[("hook", "failed")]
        assert got == [12, 6, 3, 3, 6, 3, 3], got  # halves until each part fits
        rows = await r.store.read(list_outbox)
        assert {row.status for row in rows} == {"delivered"}
    finally:
        await server.close()


async def test_a_single_message_too_large_fails_saying_so(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.default = Reply(413, "Request Entity Too Large")
    r = await one_alert(tmp_path, target, rig, {"kind": "webhook", "url": receiver.url(), **FAST_SINK})
    await until(lambda: r.service.dispatcher.counters[("oncall", "failed")])
    [row] = await r.store.read(list_outbox)
    assert row.last_error.startswith("HTTP 413 (too large for the receiver at "), row.last_error
    assert len(receiver.attempts) == 1


@pytest.mark.parametrize("kind", ["slack", "alertmanager"])
async def test_a_2xx_html_page_is_not_a_delivery_but_retried(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, kind: str
) -> None:
    """A sign-in page or captive portal answering 200 in the receiver's place was counted delivered: the page lost."""
    receiver.script.append(Reply(200, SIGN_IN, {"Content-Type": "text/html; charset=utf-8"}))
    sink = slack_sink(receiver.url()) if kind == "slack" else {"kind": "alertmanager", "url": receiver.url("/")}
    r = await one_alert(tmp_path, target, rig, {**sink, **FAST_SINK})
    await until(lambda: r.service.dispatcher.counters[("oncall", "delivered")])
    assert [a.status for a in receiver.attempts[:2]] == [200, 200]
    assert r.service.dispatcher.counters[("oncall", "retried")] == 1
    [row] = await r.store.read(list_outbox)
    assert row.status == "delivered" and row.attempts == 2


async def test_slack_ok_sent_as_text_html_is_still_a_delivery(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.default = Reply(200, "ok", {"Content-Type": "text/html"})  # what hooks.slack.com sends
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "delivered")])
    assert len(receiver.attempts) == 1


async def test_a_redirect_fails_saying_it_was_not_followed(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.default = Reply(308, "", {"Location": "http://127.0.0.1:9/elsewhere"})
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "failed")])
    [row] = await r.store.read(list_outbox)
    assert row.last_error == "HTTP 308 (a redirect, not followed: point the sink at its new URL)"


@pytest.fixture
async def trickler() -> AsyncIterator[str]:
    """A receiver that reads the request, then sends its status line and one byte of headers every 100 ms, forever."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while True:
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook"
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 1)


async def test_headers_trickling_in_are_cut_at_the_timeout_and_retried_while_other_sinks_deliver(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, trickler: str
) -> None:
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"slow": {**slack_sink(trickler), "timeout": "500ms"}, "fast": slack_sink(receiver.url())},
        routes=[{"sinks": ["slow", "fast"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    counters = r.service.dispatcher.counters
    await until(lambda: counters[("slow", "retried")] >= 2)
    assert counters[("fast", "delivered")] == 1 and not counters[("slow", "delivered")]
    rows = {row.sink: row for row in await r.store.read(list_outbox)}
    assert rows["slow"].status == "pending" and rows["slow"].last_error.startswith("timeout after 0.5s")


class NoSuchHost(AbstractResolver):
    """The resolver answering as for a host that does not exist (NXDOMAIN), at once: no dependence on the
    machine's DNS."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_a_webhook_host_that_does_not_resolve_is_retried_saying_so(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={"hook": {"kind": "webhook", "url": "https://hooks.gone.example/T0/SECRET", **FAST_SINK}},
        routes=[{"sinks": ["hook"]}],
    )

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=NoSuchHost()))

    r = await rig(config, session_factory=session)
    target.up = False
    await r.probe("a")
    await until(lambda: r.service.dispatcher.counters[("hook", "retried")] >= 2)
    [view] = r.service.sinks_view()
    error = str(view["retrying"])
    assert "cannot resolve the receiver's host: Name or service not known" in error, view
    assert "SECRET" not in error and "gone.example" not in error

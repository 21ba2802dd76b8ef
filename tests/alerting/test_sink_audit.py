"""Sinks through real outages (outside audit): Slack's error codes, hostile receivers, and the
outbox after a long outage with a flapping endpoint. Real aiohttp receivers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.alerting.outbox import list_outbox
from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_delivery import metrics_text
from tests.support.certs import make_certs


async def one_alert(tmp_path: Path, target: Target, rig: Any, sink: dict[str, Any]) -> Any:
    """A rig with one endpoint routed to sink `oncall`, whose first failed probe fires its alert."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={"oncall": sink},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    return r


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("code", ["invalid_payload", "no_text", "channel_not_found", "no_service"])
async def test_slack_error_code_in_a_2xx_reply_is_a_permanent_failure_not_a_delivery(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, code: str
) -> None:
    """Slack-compatible receivers (and Slack's legacy webhooks) can answer 200 with Slack's error code:
    the message was not posted. Counting it delivered lost the alert without a trace."""
    receiver.default = Reply(200, code)
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "failed")])
    [row] = await r.store.read(list_outbox)
    assert row.status == "failed" and code in row.last_error
    assert 'slowatch_notifications_total{outcome="failed",sink="oncall"} 1.0' in metrics_text(r)
    await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 1  # permanent: not retried


async def test_slack_ok_and_other_2xx_bodies_are_deliveries(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.default = Reply(200, '{"success": true}')  # e.g. Rocket.Chat's Slack-compatible hook
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "delivered")])


async def test_flapping_endpoints_through_an_outage_get_their_latest_state_and_slack_lists_each_once(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    """12 endpoints flap 5 times each (120 FIRING/RESOLVED) while both sinks answer 503. After recovery
    the webhook gets each alert once or twice (one may have been in flight), ending RESOLVED, and
    Slack's grouped message lists each alert once, in its latest state, with how many notifications it
    stands for: not "60 firing, 60 resolved" of endpoints that are up again."""
    receiver.default = Reply(503, "down")
    names = [f"e{i:02d}" for i in range(12)]
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1, success_threshold=1) for n in names],
        sinks={
            "slack": slack_sink(receiver.url("/slack")),
            "hook": {"kind": "webhook", "url": receiver.url("/hook"), **FAST_SINK},
        },
        routes=[{"match": {}, "sinks": ["slack", "hook"]}],
    )
    r = await rig(config)
    for _ in range(5):
        for name in names:
            target.up = False
            await r.probe(name)
            target.up = True
            await r.probe(name)
    workers = r.service.dispatcher.workers
    assert len(workers["slack"].queue) <= 2 * 12 and len(workers["hook"].queue) <= 2 * 12  # was 120 each
    receiver.default = Reply(200, "ok")
    await until(lambda: not workers["slack"].queue and not workers["hook"].queue, 20)
    hook = [e for a in receiver.acked if a.path == "/hook" for e in a.body["events"]]
    for name in names:
        mine = [e for e in hook if e["alert"] == f"endpoint:{name}"]
        assert 1 <= len(mine) <= 2 and mine[-1]["status"] == "resolved", mine
        assert sum(1 + e["details"].get("folded", 0) for e in mine) == 10  # each notification accounted for
    slack = [a.body for a in receiver.acked if a.path == "/slack"]
    grouped = [b for b in slack if "at once" in b["text"]]
    assert grouped, [b["text"] for b in slack]
    for body in grouped:
        lines = [ln for blk in body["blocks"][2:] if "text" in blk for ln in blk["text"]["text"].splitlines()]
        for name in names:
            assert len([ln for ln in lines if f"endpoint {name} is down" in ln]) <= 1, lines  # each alert once
        assert "notifications): " in body["text"] and any("_(latest of " in ln for ln in lines), lines
    for name in names:  # what Slack last said of each alert: up again
        last = [str(b) for b in slack if f"endpoint {name} is down" in str(b)][-1]
        line = next(ln for ln in last.split("\\n") if f"endpoint {name} is down" in ln)
        assert "RESOLVED" in line, line
    rows = await r.store.read(lambda db: list_outbox(db, 1000))
    assert {row.status for row in rows} == {"delivered"}, rows  # superseded rows deleted, not kept for 7 days
    assert len(rows) <= 2 * 2 * len(names), len(rows)  # two sinks, at most two per alert each: was 240


async def test_a_receiver_that_accepts_and_never_answers_is_retried_each_attempt_cut_at_the_timeout(
    tmp_path: Path, target: Target, rig: Any
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):  # takes the request, answers nothing, until the client hangs up
            pass
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sink = {**slack_sink(f"http://127.0.0.1:{port}/services/T0/B0/SILENTSECRET"), "timeout": "300ms"}
        r = await one_alert(tmp_path, target, rig, sink)
        await until(lambda: r.service.dispatcher.counters[("oncall", "retried")] >= 3)
        [view] = r.service.sinks_view()
        assert view["pending"] == 1 and view["retrying"]["error"] == "timeout after 0.3s"  # type: ignore[index]
        started = time.monotonic()
        await r.service.stop()
        assert time.monotonic() - started < 2.5
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("reply", ["trickle", "huge"])
async def test_a_trickling_or_endless_reply_body_neither_holds_the_worker_nor_is_read_whole(
    tmp_path: Path, target: Target, rig: Any, reply: str
) -> None:
    """200, then the body at 1 byte/s, or 1 GiB of it: the sink reads its 2 KiB at most and goes on."""
    sent = [0]

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(status=200)
        await resp.prepare(request)
        chunk, pause = (b"o", 1.0) if reply == "trickle" else (b"k" * 65536, 0.0)
        with contextlib.suppress(ConnectionError):
            while sent[0] < 2**30:
                await resp.write(chunk)
                sent[0] += len(chunk)
                await asyncio.sleep(pause)
        return resp

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        cpu = time.process_time()
        r = await one_alert(tmp_path, target, rig, {**slack_sink(str(server.make_url("/hook"))), "timeout": "5s"})
        await until(lambda: r.service.dispatcher.counters[("oncall", "delivered")], timeout=3)
        assert time.process_time() - cpu < 2.0
        await asyncio.sleep(0.3)
        assert sent[0] < 64 * 2**20  # the client hung up: not a GiB pushed through
    finally:
        await server.close()


async def test_a_redirect_to_another_host_is_not_followed_and_leaks_nothing(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = await FakeReceiver().start()
    try:
        for status in (301, 307):
            receiver.script.append(Reply(status, "moved", {"Location": elsewhere.url("/collect")}))
        url = receiver.url("/services/T0/B0/REDIRSECRET")
        with caplog.at_level(logging.INFO, logger="slowatch"):
            r = await one_alert(tmp_path, target, rig, {"kind": "webhook", "url": url,
                                                        "headers": {"Authorization": "Bearer HDRSECRET"}})  # fmt: skip
            await until(lambda: r.service.dispatcher.counters[("oncall", "failed")])
            target.up = True
            await r.probe("a")
            await until(lambda: r.service.dispatcher.counters[("oncall", "failed")] == 2)
        assert elsewhere.attempts == []  # neither the body nor the Authorization header went there
        rows = await r.store.read(list_outbox)
        not_followed = "(a redirect, not followed: point the sink at its new URL): moved"
        assert sorted(row.last_error for row in rows) == [f"HTTP 301 {not_followed}", f"HTTP 307 {not_followed}"]
        assert "REDIRSECRET" not in caplog.text and "HDRSECRET" not in caplog.text
    finally:
        await elsewhere.close()


async def test_a_receiver_with_a_bad_certificate_is_retried_with_the_reason_and_gets_nothing(
    tmp_path: Path, target: Target, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    certs = make_certs(tmp_path)
    receiver = FakeReceiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    server = TestServer(app, host="127.0.0.1", scheme="https")
    await server.start_server(ssl=certs.server_context("self_signed"))
    try:
        with caplog.at_level(logging.INFO, logger="slowatch"):
            r = await one_alert(tmp_path, target, rig, slack_sink(str(server.make_url("/services/T0/B0/TLSSECRET"))))
            await until(lambda: r.service.dispatcher.counters[("oncall", "retried")] >= 2)
        assert receiver.attempts == []
        [view] = r.service.sinks_view()
        assert "CERTIFICATE_VERIFY_FAILED" in str(view["retrying"])
        assert "TLSSECRET" not in caplog.text + str(view)
    finally:
        await server.close()


async def test_ten_minutes_of_500s_keep_being_retried_at_the_capped_backoff_then_deliver_once(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.default = Reply(500, "rollup_error")
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))  # retry 50ms doubling to 200ms
    for _ in range(10):  # ten minutes on the fake clock (give_up_after is a day), retries all along
        seen = len(receiver.attempts)
        r.clock.advance(60)
        await until(lambda seen=seen: len(receiver.attempts) >= seen + 2)
    gaps = [b.at - a.at for a, b in zip(receiver.attempts[3:], receiver.attempts[4:], strict=False)]
    assert sorted(gaps)[len(gaps) // 2] < 0.3  # retry_max (200 ms) caps the backoff: no growth past it
    assert not r.service.dispatcher.counters[("oncall", "expired")]
    receiver.default = Reply(200, "ok")
    await receiver.wait_acked(1)
    await asyncio.sleep(0.3)
    assert len(receiver.acked) == 1
    [row] = await r.store.read(list_outbox)
    assert row.status == "delivered" and row.attempts == len(receiver.attempts)


async def test_retry_after_as_an_http_date_is_waited_for(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    later = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1 to 2 s
    receiver.script.append(Reply(429, "rate_limited", {"Retry-After": later}))
    await one_alert(tmp_path, target, rig, slack_sink(receiver.url(), retry_max="5s"))  # (retry_max bounds it)
    await receiver.wait_acked(1)
    first, second = receiver.attempts
    assert 0.9 <= second.at - first.at < 2.5  # not retry_initial (50 ms)

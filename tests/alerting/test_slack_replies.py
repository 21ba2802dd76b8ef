"""Slack answers a JSON object with `"ok": false` on a 2xx from some webhooks (workflow webhooks, Web API style
proxies, Slack-compatible receivers): the message was not posted. It was counted delivered. Against a real aiohttp
receiver answering each way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.alerting.outbox import list_outbox
from tests.alerting.conftest import slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_sink_audit import one_alert, until


@pytest.mark.parametrize("code", ["invalid_payload", "channel_not_found", "invalid_auth"])
async def test_a_2xx_json_reply_with_ok_false_is_a_permanent_failure_not_a_delivery(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, code: str
) -> None:
    receiver.default = Reply(200, f'{{"ok": false, "error": "{code}"}}', {"Content-Type": "application/json"})
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url()))
    await until(lambda: r.service.dispatcher.counters[("oncall", "failed")])
    [row] = await r.store.read(list_outbox)
    assert row.status == "failed" and code in row.last_error, row
    await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 1 and not r.service.dispatcher.counters[("oncall", "delivered")]


async def test_a_2xx_json_reply_with_ok_false_and_a_transient_error_is_retried(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any
) -> None:
    receiver.script.append(Reply(200, '{"ok": false, "error": "ratelimited"}', {"Retry-After": "1"}))
    receiver.script.append(Reply(200, '{"ok": false, "error": "internal_error"}'))
    receiver.default = Reply(200, '{"ok": true}')
    r = await one_alert(tmp_path, target, rig, slack_sink(receiver.url(), retry_max="5s"))  # (bounds Retry-After)
    await until(lambda: r.service.dispatcher.counters[("oncall", "delivered")])
    assert len(receiver.attempts) == 3 and r.service.dispatcher.counters[("oncall", "retried")] == 2
    first, second, _ = receiver.attempts
    assert second.at - first.at >= 0.9  # its Retry-After honoured, not retry_initial (50 ms)
    [row] = await r.store.read(list_outbox)
    assert row.status == "delivered"


async def test_a_2xx_ok_false_reply_written_in_two_parts_is_still_read_whole(
    tmp_path: Path, target: Target, rig: Any
) -> None:
    """A receiver (or a proxy before it) may send its reply in several chunks. Only the first one was read
    (`StreamReader.read(n)` returns what has arrived, up to n bytes): `{"ok": ` alone is no JSON, so the
    reply counted as the 2xx it is and the undelivered message as delivered. Against a real aiohttp receiver
    writing the reply in two chunked writes."""

    async def webhook(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"ok": ')
        await asyncio.sleep(0.2)  # (the first chunk is on its way: a client reading it alone got only that)
        await response.write(b'false, "error": "channel_not_found"}')
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/hook", webhook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        r = await one_alert(tmp_path, target, rig, slack_sink(str(server.make_url("/hook"))))
        await until(lambda: r.service.dispatcher.counters[("oncall", "failed")]
                    or r.service.dispatcher.counters[("oncall", "delivered")])  # fmt: skip
        [row] = await r.store.read(list_outbox)
        assert row.status == "failed" and "channel_not_found" in row.last_error, row
    finally:
        await server.close()

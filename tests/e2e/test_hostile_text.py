"""Text a hostile target sends (bytes that are not UTF-8, ANSI escapes, markup, Slack mentions, huge
headers) recorded by the real daemon: stored, and on every page, API, sink payload and CLI output inert."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess, metric_value
from tests.e2e.test_secrets import SINKS, cli, concrete, every_get_route, receiver, wait_for
from tests.support.sockets import TcpTarget, banner

__all__ = ["receiver"]  # the fixture, shared with test_secrets

EVIL = b"\xff\xfe\x1b[31mRED\x1b]0;pwn\x07 <script>alert(1)</script> <!channel> <@U123>"
SLACK = b"*RESOLVED* :white_check_mark: `x` <!here> "  # mrkdwn that would fake a resolved alert
BIG = b"A" * 6000  # under aiohttp's 8 KiB header line limit, far over what any message should carry
HEADER = b"HTTP/1.1 200 OK\r\nX-Ver: " + EVIL + BIG + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
BANNER = SLACK + b"\x1b[2J\x1b[31m220 \xff\xfe <script>alert(2)</script>\r\n2026-12-07 06:00:00,000 INFO forged\r\n"
NAMES = ("hdr", "banner")


def config_text(http_port: int, banner_port: int, receiver_port: int) -> str:
    return f"""\
server: {{database: ./slowatch.db, shutdown_grace: 1s}}
defaults:
  interval: 1s
  timeout: 800ms
  alerts: {{failure_threshold: 1}}
endpoints:
  - {{name: hdr, kind: http, url: "http://127.0.0.1:{http_port}/", expect: {{headers: {{X-Ver: "^1"}}}}}}
  - {{name: banner, kind: tcp, host: 127.0.0.1, port: {banner_port}, expect: {{contains: "+PONG"}}}}
consumers:
  - name: app
    endpoints: [hdr, banner]
    slos:
      - {{name: avail, sli: availability, objective: 99, window: 1h}}
sinks:
  slack: {{kind: slack, webhook_url: "http://127.0.0.1:{receiver_port}/slack"}}
  hook: {{kind: webhook, url: "http://127.0.0.1:{receiver_port}/hook"}}
  am: {{kind: alertmanager, url: "http://127.0.0.1:{receiver_port}"}}
routes:
  - match: {{}}
    sinks: [slack, hook, am]
"""


@pytest.fixture
async def targets() -> AsyncIterator[tuple[TcpTarget, TcpTarget]]:
    http = await TcpTarget(banner(HEADER)).start()
    tcp = await TcpTarget(banner(BANNER)).start()
    yield http, tcp
    await http.close()
    await tcp.close()


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """Every text of a Slack message that Slack parses as mrkdwn (headers are plain_text)."""
    texts = [payload["text"]]
    for block in payload["blocks"]:
        texts.extend(t["text"] for t in [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
                     if t.get("type") == "mrkdwn")  # fmt: skip
    return texts


def only_in_code(text: str, needle: str) -> bool:
    """Each `needle` in `text` sits inside an inline code span, where Slack applies no formatting."""
    starts = [i for i in range(len(text)) if text.startswith(needle, i)]
    return all(text[:i].count("`") % 2 == 1 and "`" not in needle for i in starts)


def strict_utf8(doc: object) -> bool:
    return bool(json.dumps(doc, ensure_ascii=False).encode("utf-8"))


@pytest.mark.slow
async def test_hostile_text_is_stored_and_shown_inert_everywhere(
    targets: tuple[TcpTarget, TcpTarget],
    receiver: tuple[TestServer, dict[str, list[str]]],
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    server, bodies = receiver
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(targets[0].port, targets[1].port, server.port or 0))
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    await d.start()
    shown: dict[str, str] = {}

    async def alerted_everywhere() -> bool:
        return all(all(n in "".join(bodies[s]) for n in NAMES) for s in SINKS)

    async def incidents_recorded() -> bool:
        status, body = await d.get("/api/v1/incidents")
        return status == 200 and all(n in body for n in NAMES)

    await wait_for(alerted_everywhere, "every sink got an alert for every endpoint")
    await wait_for(incidents_recorded, "an incident for every endpoint")
    # One target's bytes must never stop the store: every result of every endpoint is written.
    assert metric_value(await d.metrics(), "slowatch_store_write_errors_total") == 0
    for route in sorted(every_get_route()):
        for name in NAMES if "{name}" in route else ("-",):
            status, body = await d.get(concrete(route, name))
            assert status == 200, (route, status, body[:300])
            shown[concrete(route, name)] = body
    status, body = await d.get("/api/v1/endpoints/hdr")
    message = json.loads(body)["latest"]["message"]
    assert message.startswith('header X-Ver was "\ufffd\ufffd\\u001b[31mRED') and len(message) <= 1000, message
    for sink in SINKS:
        shown[f"{sink} payloads"] = "\n".join(bodies[sink])
        assert all(strict_utf8(json.loads(b)) for b in bodies[sink]), sink
        assert all(len(b) < 20_000 for b in bodies[sink]), (sink, max(map(len, bodies[sink])))
    assert await d.stop() == 0
    shown["daemon log"] = d.log()
    shown["slowatch alerts"] = await cli("alerts", "--config", str(path), cwd=tmp_path)
    shown["slowatch report"] = await cli("report", "--config", str(path), cwd=tmp_path)
    for name in NAMES:
        shown[f"slowatch probe {name}"] = await cli("probe", "--config", str(path), name, cwd=tmp_path)

    assert "\\u001b[2J" in shown["slowatch probe banner"]  # shown, escaped
    for where, text in shown.items():
        assert "\x1b" not in text and "\x07" not in text, where  # nothing a terminal acts on
        assert "\n2026-12-07 06:00:00,000 INFO forged" not in text, where  # no forged log or CLI line
        if text.lstrip().lower().startswith("<!doctype") or "<svg" in text[:200]:
            assert "<script" not in text, where
    assert "<!channel>" not in shown["slack payloads"] and "<!here>" not in shown["slack payloads"]
    # What the target wrote is shown in code spans, so `*RESOLVED* :white_check_mark:` is not bold and no emoji.
    texts = [t for b in bodies["slack"] for t in mrkdwn_texts(json.loads(b))]
    assert any("RESOLVED" in t for t in texts)
    assert all(only_in_code(t, "*RESOLVED*") and only_in_code(t, ":white_check_mark:") for t in texts), texts


FORGED = "2026-12-07 06:00:00,000 CRITICAL slowatch.daemon: forged"
LOG_HEAD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


@pytest.fixture
async def hostile_receiver() -> AsyncIterator[TestServer]:
    """A webhook receiver answering 500 with a body that would forge a log line and clear the terminal."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"nope\r\n{FORGED}\n\x1b[2J\x1b]0;x\x07")

    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.mark.slow
async def test_no_log_line_is_forged_by_what_a_target_or_a_receiver_sent(
    targets: tuple[TcpTarget, TcpTarget], hostile_receiver: TestServer, daemons: list[DaemonProcess], tmp_path: Path
) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(f"""\
server: {{database: ./slowatch.db, shutdown_grace: 1s}}
defaults: {{interval: 1s, timeout: 800ms, alerts: {{failure_threshold: 1}}}}
endpoints:
  - {{name: banner, kind: tcp, host: 127.0.0.1, port: {targets[1].port}, expect: {{contains: "+PONG"}}}}
sinks:
  hook: {{kind: webhook, url: "http://127.0.0.1:{hostile_receiver.port}/hook", retry_initial: 100ms}}
routes: [{{match: {{}}, sinks: [hook]}}]
""")
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    await d.start()
    await wait_for(lambda: asyncio.sleep(0, "notification failed" in d.log()), "a failed delivery logged")
    assert await d.stop() == 0
    log = d.log()
    assert "nope" in log
    for line in log.splitlines():
        assert LOG_HEAD.match(line) or line[:1].isspace(), f"a line that is no record's head: {line!r}"
        assert not line.startswith(FORGED), line
        assert "\x1b" not in line and "\r" not in line and "\x07" not in line, line
    shown = await cli("alerts", "--config", str(path), cwd=tmp_path)
    assert f"last_error=HTTP 500: nope {FORGED} \\u001b[2J" in shown, shown  # on the outbox item's line

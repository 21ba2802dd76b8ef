"""transaction, grpc and icmp endpoints in the real daemon with one prober worker (pickled endpoints and
results, the worker on its own event loop): metrics, API and logs, and no extracted secret anywhere."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess, metric_value
from tests.support.grpcserver import SERVING, GrpcTarget
from tests.support.transactions import TOKEN, make_app


@pytest.fixture
async def grpc_target() -> AsyncIterator[GrpcTarget]:
    target = await GrpcTarget().start()
    await target.set("orders", SERVING)
    yield target
    await target.close()


@pytest.mark.slow
async def test_new_kinds_through_a_prober_worker(
    aiohttp_server: Any, grpc_target: GrpcTarget, write_config: Callable[[str], Path], tmp_path: Path,
    daemons: list[DaemonProcess],
) -> None:  # fmt: skip
    api: TestServer = await aiohttp_server(make_app())
    base = f"http://127.0.0.1:{api.port}"
    icmp = "  - {name: ping, kind: icmp, host: 127.0.0.1, count: 2, spacing: 50ms}\n" if os.geteuid() == 0 else ""
    config = f"""
server:
  database: ./slowatch.db
  shutdown_grace: 2s
  probe_workers: 1
  metrics: {{phases: true}}
defaults:
  interval: 1s
  timeout: 800ms
endpoints:
  - name: flow
    kind: transaction
    steps:
      - {{name: login, method: POST, url: "{base}/login", json: {{password: pw}},
         extract: {{token: {{json_path: $.session.token}}}}}}
      - {{name: orders, url: "{base}/orders", headers: {{Authorization: "Bearer {{{{steps.login.token}}}}"}},
         expect: {{headers: {{X-Echo: "^never$"}}}}}}
  - {{name: health, kind: grpc, host: 127.0.0.1, port: {grpc_target.port}, service: orders}}
{icmp}"""
    d = DaemonProcess(write_config(config), tmp_path)
    daemons.append(d)
    await d.start()
    await d.wait_for_metric('slowatch_probes_total{endpoint="flow",kind="transaction",outcome="assertion_failed"}')
    await d.wait_for_metric('slowatch_probes_total{endpoint="health",kind="grpc",outcome="success"}')
    await d.wait_for_metric('slowatch_probe_step_duration_seconds{endpoint="flow",step="orders"}')
    text = await d.metrics()
    assert metric_value(text, 'slowatch_probe_http_status_code{endpoint="flow"}') == 200.0
    if icmp:
        await d.wait_for_metric('slowatch_probes_total{endpoint="ping",kind="icmp",outcome="success"}')
        text = await d.metrics()
        assert 0 < metric_value(text, 'slowatch_probe_icmp_rtt_seconds{endpoint="ping",stat="max"}') < 0.5
        assert metric_value(text, 'slowatch_probe_icmp_packet_loss_ratio{endpoint="ping"}') == 0.0
    status, body = await d.get("/api/v1/endpoints/flow")
    assert status == 200
    flow = json.loads(body)
    assert flow["target"] == f"{base}/login (+1 step)"
    assert flow["latest"]["message"] == 'step orders: header X-Echo was "{{steps.login.token}}", expected /^never$/'
    assert set(flow["latest"]["phases"]) == {"login", "orders"}
    status, body = await d.get("/api/v1/endpoints/health")
    assert json.loads(body)["target"] == f"grpc://127.0.0.1:{grpc_target.port} orders"
    shown = [await d.metrics(), (await d.get("/api/v1/endpoints"))[1], (await d.get("/"))[1]]
    assert await d.stop() == 0
    shown.append(d.log())
    shown.append((tmp_path / "slowatch.db").read_bytes().decode("latin-1"))
    assert not [i for i, text in enumerate(shown) if TOKEN in text]


@pytest.mark.slow
async def test_a_hostile_extracted_host_sends_nothing_elsewhere_in_the_daemon(
    aiohttp_server: Any, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """A login answer naming another host (`127.0.0.1:<evil>/`) where the template fixes the port: before, the
    next step went to evil with the config's Authorization header; now it fails, unsent, through a worker."""
    evil_saw: list[str | None] = []

    async def evil_handler(request: web.Request) -> web.Response:
        evil_saw.append(request.headers.get("Authorization"))
        return web.Response(text="ok")

    evil_app = web.Application()
    evil_app.router.add_route("*", "/{tail:.*}", evil_handler)
    evil: TestServer = await aiohttp_server(evil_app)

    async def login(request: web.Request) -> web.Response:
        return web.json_response({"host": f"127.0.0.1:{evil.port}/"})

    api_app = web.Application()
    api_app.router.add_get("/login", login)
    api: TestServer = await aiohttp_server(api_app)
    config = f"""
server: {{database: ./slowatch.db, shutdown_grace: 2s, probe_workers: 1}}
defaults: {{interval: 1s, timeout: 800ms}}
endpoints:
  - name: flow
    kind: transaction
    steps:
      - {{name: login, url: "http://127.0.0.1:{api.port}/login", extract: {{host: {{json_path: $.host}}}}}}
      - {{name: call, url: "http://{{{{steps.login.host}}}}:{api.port}/v1", headers: {{Authorization: "${{API_KEY}}"}}}}
"""
    d = DaemonProcess(write_config(config), tmp_path, env={"API_KEY": "Bearer s3cret-e2e"})
    daemons.append(d)
    await d.start()
    await d.wait_for_metric('slowatch_probes_total{endpoint="flow",kind="transaction",outcome="assertion_failed"}')
    status, body = await d.get("/api/v1/endpoints/flow")
    assert status == 200
    assert json.loads(body)["latest"]["message"] == (
        "step call: {{steps.login.host}} cannot be a host name (letters, digits, '.', '-', '_'); not sent"
    )
    assert await d.stop() == 0
    assert evil_saw == []
    assert "s3cret-e2e" not in d.log() and f":{evil.port}/" not in d.log()

"""udp endpoints in the real daemon with one prober worker: config load, the probe in the worker, the store,
/metrics, the API and the status page (a kind is one unit: nothing outside its modules knows it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import DaemonProcess
from tests.support.udpserver import closed_udp_port, udp_serve

__all__ = ["udp_serve"]  # the fixture


@pytest.mark.slow
async def test_udp_through_a_prober_worker(
    udp_serve: Any, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    server, port = await udp_serve(lambda data: b"+PONG\n" if data == b"PING\n" else None)
    closed = closed_udp_port()
    config = f"""
server:
  database: ./slowatch.db
  shutdown_grace: 2s
  probe_workers: 1
defaults:
  interval: 1s
  timeout: 800ms
endpoints:
  - {{name: echo, kind: udp, host: 127.0.0.1, port: {port}, send: 'PING\\n', expect: {{contains: "+PONG"}}}}
  - {{name: closed, kind: udp, host: 127.0.0.1, port: {closed}, send: x, expect: {{regex: .}}}}
consumers:
  - name: ops
    endpoints: [echo, closed]
    slos: [{{name: up, sli: availability, objective: 99, window: 7d}}]
"""
    d = DaemonProcess(write_config(config), tmp_path)
    daemons.append(d)
    await d.start()
    await d.wait_for_metric('slowatch_probes_total{endpoint="echo",kind="udp",outcome="success"}')
    await d.wait_for_metric('slowatch_probes_total{endpoint="closed",kind="udp",outcome="connection_refused"}')
    status, body = await d.get("/api/v1/endpoints/echo")
    assert status == 200
    echo = json.loads(body)
    assert (echo["kind"], echo["target"], echo["latest"]["outcome"]) == ("udp", f"127.0.0.1:{port}", "success")
    assert "processing" in echo["latest"]["phases"]
    status, body = await d.get("/api/v1/endpoints/closed")
    assert json.loads(body)["latest"]["message"] == f"connection refused by 127.0.0.1:{closed}"
    status, page = await d.get("/")
    assert status == 200 and f"127.0.0.1:{port}" in page and ">udp<" in page
    assert await d.stop() == 0
    assert b"PING\n" in server.received
    restarted = DaemonProcess(write_config(config.replace("interval: 1s", "interval: 1h")), tmp_path)
    daemons.append(restarted)
    await restarted.start()
    status, body = await restarted.get("/api/v1/endpoints/echo")  # the latest result, read back from the store
    assert json.loads(body)["latest"]["outcome"] == "success"
    assert await restarted.stop() == 0

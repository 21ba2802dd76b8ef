"""Real Prometheus: promtool lints live /metrics, and a Prometheus server scrapes the daemon."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess, free_port
from tests.e2e.test_daemon import base_config


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (scripts/dev test installs Debian's prometheus package)")
        pytest.skip(f"{name} not installed")
    return path


async def test_promtool_check_metrics_on_live_output(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    promtool = binary("promtool")
    d = DaemonProcess(write_config(base_config(targets.port)), tmp_path, env={"TOKEN": "x"})
    daemons.append(d)
    await d.start()
    await d.wait_for_metric('slowatch_probes_total{endpoint="failing"')
    text = await d.metrics()
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert await d.stop() == 0


async def test_real_prometheus_scrapes_and_answers_promql(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    prometheus = binary("prometheus")
    d = DaemonProcess(write_config(base_config(targets.port)), tmp_path, env={"TOKEN": "x"})
    daemons.append(d)
    await d.start()
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: slowatch
    static_configs: [{{targets: ["127.0.0.1:{d.port}"]}}]
"""
    )
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed in finally
    proc = await asyncio.create_subprocess_exec(
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        stdout=log,
        stderr=log,
    )
    try:
        series: dict[str, float] = {}
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline and len(series) < 2:
                await asyncio.sleep(0.5)
                try:
                    async with s.get(
                        f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": "slowatch_probe_success"}
                    ) as r:
                        if r.status != 200:
                            continue
                        doc = await r.json()
                except aiohttp.ClientError:
                    continue
                series = {item["metric"]["endpoint"]: float(item["value"][1]) for item in doc["data"]["result"]}
        assert series == {"healthy": 1.0, "failing": 0.0}, (tmp_path / "prometheus.log").read_text()[-3000:]
    finally:
        proc.terminate()
        await proc.wait()
        log.close()
    assert await d.stop() == 0

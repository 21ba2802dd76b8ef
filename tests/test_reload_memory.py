"""Memory across reloads of a real `slowatch run`: a Config that was replaced is freed (benchmarks/README.md,
session 13). The daemon logs how many of the Configs its reloader loaded or replaced are still alive with each
"config running" line (`configs_alive`, a weak reference to each)."""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import aiohttp

from slowatch.config import load
from slowatch.daemon import Daemon

RUNNING = re.compile(r"config running .*?configs_alive=(\d+) gc_frozen=(\d+)")


def config_text(tmp_path: Path, timeout: str) -> str:
    endpoints = "".join(f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:1/{i}'}}\n" for i in range(20))
    return (
        f"server: {{database: '{tmp_path / 'd.db'}', listen: '127.0.0.1:0', shutdown_grace: 1s}}\n"
        f"defaults: {{interval: 60s, timeout: {timeout}}}\nendpoints:\n{endpoints}"
    )


def wait_for(log: Path, pattern: re.Pattern[str], count: int, proc: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found: list[str] = pattern.findall(log.read_text(errors="replace"))
        if len(found) >= count:
            return found
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{pattern.pattern!r} not logged {count} time(s):\n{log.read_text()}")


def test_the_config_started_with_is_freed_once_a_reload_replaced_it(tmp_path: Path) -> None:
    """Before, `slowatch run` held the Config it started with for the whole run (a local of the command and a
    closure variable of its main coroutine): after a reload that changed every endpoint, two Configs stayed in
    memory for good, the start's own endpoints included (~70 MB at 100,000 endpoints)."""
    path, log = tmp_path / "slowatch.yaml", tmp_path / "daemon.log"
    path.write_text(config_text(tmp_path, "5s"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "slowatch", "run", "--config", str(path), "--log-level", "INFO"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
    try:
        wait_for(log, re.compile(r"slowatch started"), 1, proc)
        for k, timeout in enumerate(("4s", "3s"), start=1):
            path.write_text(config_text(tmp_path, timeout))  # every endpoint changes (its timeout)
            os.kill(proc.pid, signal.SIGHUP)
            found = wait_for(log, RUNNING, k, proc)
        assert [int(alive) for alive, _ in found] == [1, 1], log.read_text()
    finally:
        proc.terminate()
        proc.wait(20)


async def test_a_replaced_config_is_freed_though_the_web_layer_served_it(tmp_path: Path) -> None:
    """Before, the web layer's per-config caches (the access table any request builds, the dependency graph of an
    endpoint's page, the rendered Prometheus rules) held the last config they served until a request came for the
    next one: a daemon nobody fetched the rules from again kept that config, endpoints and all, for good."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "5s"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    await daemon.start()
    try:
        served = weakref.ref(daemon.config)
        base = f"http://127.0.0.1:{daemon.bound_port}"
        async with aiohttp.ClientSession() as s:
            for route in ("/api/v1/endpoints/e1", "/api/v1/prometheus/rules"):
                async with s.get(base + route) as r:
                    assert r.status == 200, await r.text()
        path.write_text(config_text(tmp_path, "4s"))
        assert await daemon.reload()
        assert daemon.config.endpoints[0].timeout == 4.0
        gc.collect()
        assert served() is None  # (no request since the reload)
    finally:
        await daemon.stop()

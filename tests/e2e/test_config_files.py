"""The config file changed as deployments change it, under a real `slowatch run`: what the watcher sees."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess


def many(port: int, count: int, extra: str = "") -> str:
    """`count` endpoints probed every 60 s (a start that takes a second or so), and `extra` ones."""
    endpoints = "".join(
        f"  - {{name: ep{i}, kind: http, url: 'http://127.0.0.1:{port}/ok', interval: 60s}}\n" for i in range(count)
    )
    return f"server: {{database: ./slowatch.db}}\nendpoints:\n{endpoints}{extra}"


@pytest.mark.slow
async def test_an_edit_made_while_the_daemon_starts_is_applied(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """The watcher took the file's fingerprint once the daemon had started, seconds after the config was
    read: an edit made in between (a ConfigMap updated while the pod restarts) was taken as the running
    config and never applied."""
    path = write_config(many(targets.port, 5000))
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    await d.spawn()
    while "migration(s)" not in d.log():  # the config has been read: the store is being opened
        assert d.proc is not None and d.proc.returncode is None, d.log()
        await asyncio.sleep(0.01)
    write_config(
        many(
            targets.port,
            5000,
            f"  - {{name: late, kind: http, url: 'http://127.0.0.1:{targets.port}/ok', interval: 1s, timeout: 0.5s}}\n",
        )
    )
    await d.ready(timeout=60)
    await d.wait_for_metric('slowatch_probe_success{endpoint="late",kind="http"} 1.0', timeout=20)
    assert d.log().count("config file changed, reloading") == 1
    assert await d.stop() == 0

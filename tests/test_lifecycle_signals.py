"""Signals to an in-process daemon (`Daemon.run`), sent for real to this process: a SIGHUP once a stop was
requested is no reload (it would run against what the stop is closing: the store, the scheduler)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from slowatch.config import load
from slowatch.daemon import Daemon


def config_text(tmp_path: Path, *names: str) -> str:
    endpoints = "".join(f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:1/{n}'}}\n" for n in names)
    return (
        f"server: {{database: '{tmp_path / 'd.db'}', listen: '127.0.0.1:0', shutdown_grace: 1s}}\n"
        f"defaults: {{interval: 10s}}\nendpoints:\n{endpoints}"
    )


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_a_sighup_while_stopping_or_stopped_is_no_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the reload ran anyway: during the stop it raced the drain and the store's close; after it, it
    logged 'config reload failed ... store is closed' twice, with tracebacks, on the way out."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    running = asyncio.ensure_future(daemon.run())
    await eventually(lambda: daemon.readiness() == [] or running.done())
    assert not running.done()
    path.write_text(config_text(tmp_path, "first", "second"))  # what a reload would switch to

    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGHUP)  # handled after the SIGTERM, while the daemon stops
    await asyncio.wait_for(running, 20)
    os.kill(os.getpid(), signal.SIGHUP)  # stopped: the loop still runs (as in `slowatch run` until it exits)
    await eventually(lambda: caplog.text.count("reload not started: the daemon is stopping") == 2)
    await asyncio.sleep(0.2)  # (what a reload would have done by now)

    assert [ep.name for ep in daemon.config.endpoints] == ["first"]
    assert "config reload" not in caplog.text and "config file loaded" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text

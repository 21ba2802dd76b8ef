"""A reload reads the file it fingerprints: the SHA-256 it records (slowatch_config_info, /api/v1/config)
is that of the content running, even when a write lands between the hash and the read; and a SIGHUP
sent while the file is still being written waits until it holds still, as the watcher does."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from slowatch.config import Config, load
from slowatch.daemon import Daemon
from slowatch.lifecycle import Lifecycle


def config_text(tmp_path: Path, *names: str) -> str:
    endpoints = "".join(f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:1/{n}'}}\n" for n in names)
    return (
        f"server: {{database: '{tmp_path / 'd.db'}', listen: '127.0.0.1:0', shutdown_grace: 1s}}\n"
        f"defaults: {{interval: 10s}}\nendpoints:\n{endpoints}"
    )


def names(daemon: Daemon) -> list[str]:
    return [ep.name for ep in daemon.config.endpoints]


def config_info(daemon: Daemon, text: str) -> float | None:
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    return daemon.registry.get_sample_value("slowatch_config_info", {"sha256": sha256})


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_a_write_between_the_hash_and_the_read_leaves_the_sha256_of_what_runs(tmp_path: Path) -> None:
    """The reload hashed the file, then read it: a write in between ran the new content under the old SHA-256
    (a fleet comparing slowatch_config_info saw a mismatch that was not there, and one that was, hidden)."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    second, third = config_text(tmp_path, "first", "second"), config_text(tmp_path, "first", "third")
    writes = [third]

    def loader(p: Path) -> Config:  # the real loader; a deploy job's write lands just before it reads
        if writes:
            p.write_text(writes.pop())
        return load(p)

    daemon = Daemon(load(path), config_path=path, watch_interval=0, load=loader)
    await daemon.start(serve=False)
    try:
        path.write_text(second)
        assert await daemon.reload() is True
        assert names(daemon) == ["first", "third"]
        assert config_info(daemon, third) == 1.0, "the SHA-256 recorded is not that of the config running"
    finally:
        await daemon.stop()


async def test_a_sighup_during_a_write_waits_for_the_file_to_hold_still(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A SIGHUP read the file at once: a file cut short at a point that is valid YAML (here: the third
    endpoint not written yet) ran until the next change, with the watcher off even for good."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0, watch_settle=0.3)
    running = asyncio.ensure_future(daemon.run())
    await eventually(lambda: daemon.readiness() == [] or running.done())
    assert not running.done()
    try:
        whole = config_text(tmp_path, "first", "second", "third")
        path.write_text(config_text(tmp_path, "first", "second"))  # the writer has not finished
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.1)
        path.write_text(whole)  # now it has: 0.1 s later, within the settle time
        await eventually(lambda: "config running" in caplog.text)
        assert names(daemon) == ["first", "second", "third"]
        assert caplog.text.count("config file loaded") == 1  # the half-written file never ran
        assert config_info(daemon, whole) == 1.0
    finally:
        daemon.request_stop()
        await asyncio.wait_for(running, 20)


async def test_one_stop_signal_handled_twice_at_once_is_one_stop_not_a_forced_exit() -> None:
    """One SIGTERM was once handled twice in the same millisecond while the daemon started (uvloop, a SIGHUP just
    before): the second call forced `os._exit(1)` instead of the clean stop. Within SAME_SIGNAL it is one stop."""
    lifecycle = Lifecycle()
    lifecycle.request_stop()
    lifecycle.request_stop()  # the same signal again: no exit (os._exit would end this test process)
    assert lifecycle.stopping

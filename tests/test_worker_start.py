"""A prober worker's start-up (interpreter, imports, its shard received and scheduled) is not probing yet, and
not a hang either: real worker processes, held at the door by a gate file until the test opens it."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from slowatch.config.endpoints import HttpEndpoint
from slowatch.models import ProbeResult
from slowatch.workers.pool import ProberPool

GATED = 'while [ ! -e "$0" ]; do sleep 0.02; done; exec "$@"'
"""`sh -c GATED GATE python -m slowatch.workers --fd ...`: the worker starts once the file GATE exists."""


def ep(name: str) -> HttpEndpoint:  # nothing listens on port 1: a quick connection_refused result every second
    return HttpEndpoint(name=name, kind="http", url="http://127.0.0.1:1/", interval=1.0, timeout=1.0)


class Sink:
    def __init__(self) -> None:
        self.results: list[ProbeResult] = []
        self.restarts = 0

    def pool(self, gate: Path, **kw: float) -> ProberPool:
        return ProberPool(
            1, on_result=self.results.append, observe_lag=lambda s: None, on_skipped=lambda n: None,
            on_missed=lambda n: None, max_concurrency=10, jitter=0.0, on_restart=self.count,
            command=("sh", "-c", GATED, str(gate), sys.executable, "-m", "slowatch.workers"), **kw,
        )  # fmt: skip

    def count(self) -> None:
        self.restarts += 1


async def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_starting_worker_is_down_until_its_shard_is_scheduled(tmp_path: Path) -> None:
    """/readyz (`down`) and `running` wait for the worker's "ready": a worker spawned but still importing is not
    probing its shard (they used to say ready at the spawn: a restarted worker of a loaded machine then looked
    up for seconds, and its endpoints unprobed)."""
    sink, gate = Sink(), tmp_path / "gate"
    pool = sink.pool(gate)
    await pool.start([ep("a"), ep("b")])
    try:
        assert pool.down() == [0] and not pool.running  # spawned, not started: nothing is probed
        gate.touch()
        await wait_for(lambda: pool.running, 30)
        assert pool.down() == []
        await wait_for(lambda: {r.endpoint for r in sink.results} == {"a", "b"}, 10)
    finally:
        await pool.stop(1.0)
    assert sink.restarts == 0


async def test_a_slow_start_is_not_killed_as_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Start-up sends nothing (20 s for a 100,000-endpoint shard on a busy 2-core machine); the silence limit of
    a running worker does not apply to it (it used to: killed as hung, again after each restart, never probing)."""
    sink, gate = Sink(), tmp_path / "gate"
    pool = sink.pool(gate, silent_limit=0.3)  # (less than the heartbeat's second: for the start-up only)
    await pool.start([ep("a")])
    try:
        proc = pool._workers[0].proc
        await asyncio.sleep(1.5)  # five times the silence limit, watched every 0.075 s
        assert sink.restarts == 0 and proc is not None and proc.returncode is None, caplog.text
        assert "killing it" not in caplog.text
    finally:
        gate.touch()  # it starts, finds "stop" after its shard and exits
        await pool.stop(1.0)


async def test_a_worker_that_never_gets_ready_is_killed_and_restarted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink, gate = Sink(), tmp_path / "gate"
    pool = sink.pool(gate, start_limit=0.5)
    await pool.start([ep("a")])
    try:
        await wait_for(lambda: sink.restarts == 1, 10)
        assert "prober worker not ready in time, killing it index=0" in caplog.text
    finally:
        gate.touch()
        await pool.stop(1.0)

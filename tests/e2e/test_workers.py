"""The daemon with prober worker processes (`server.probe_workers`), as a user runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess, http_fleet, metric_value, numbered


def worker_config(port: int, workers: int = 2, endpoints: int = 8, loop: str = "auto") -> str:
    server = f"  probe_workers: {workers}\n  event_loop: {loop}\n"
    return (
        http_fleet(port, numbered(endpoints, lambda i: i == 0), grace="2s", server=server)
        + """consumers:
  - name: app
    endpoints: [ep1, ep2]
    slos:
      - {name: avail, sli: availability, objective: 99, window: 1h}
"""
    )


async def started(path: Path, workdir: Path, daemons: list[DaemonProcess]) -> DaemonProcess:
    """The daemon as a subprocess, ready (killed at teardown if a test leaves it running)."""
    d = DaemonProcess(path, workdir)
    daemons.append(d)
    await d.start()
    assert d.proc is not None
    return d


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def probes(text: str, i: int) -> float:
    prefix = f'slowatch_probes_total{{endpoint="ep{i}",'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


async def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_workers_probe_every_endpoint_and_feed_metrics_store_and_slos(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    d = await started(write_config(worker_config(targets.port)), tmp_path, daemons)
    assert d.proc is not None
    workers = children(d.proc.pid)
    assert len(workers) == 2
    for i in range(8):
        await d.wait_for_metric(f'slowatch_probes_total{{endpoint="ep{i}",kind="http",outcome=')
    text = await d.metrics()
    assert metric_value(text, 'slowatch_probe_success{endpoint="ep0",kind="http"}') == 0.0
    assert metric_value(text, 'slowatch_probe_success{endpoint="ep1",kind="http"}') == 1.0
    assert metric_value(text, "slowatch_scheduler_lag_seconds_count") >= 8
    assert metric_value(text, "slowatch_scheduler_jobs") == 8
    assert 'slowatch_slo_events_total{consumer="app",slo="avail"' in text
    assert await d.stop() == 0
    assert not any(alive(pid) for pid in workers), "workers must exit with the daemon"
    rows = sqlite3.connect(tmp_path / "slowatch.db").execute("SELECT count(DISTINCT endpoint) FROM latest").fetchone()
    assert rows[0] == 8
    assert "prober worker started index=1" in d.log()


@pytest.mark.slow
async def test_a_killed_worker_is_restarted_with_its_shard(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    d = await started(write_config(worker_config(targets.port)), tmp_path, daemons)
    assert d.proc is not None
    victim = children(d.proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    await d.wait_for_metric("slowatch_prober_worker_restarts_total 1.0")
    await wait_until(lambda: len([p for p in children(d.proc.pid) if alive(p)]) == 2 if d.proc else False)
    status, _ = await d.get("/readyz")
    for _ in range(200):  # the restarted worker is ready once its shard is scheduled: an interpreter's start
        if status == 200:
            break
        await asyncio.sleep(0.1)
        status, _ = await d.get("/readyz")
    assert status == 200
    text = await d.metrics()  # /readyz 200: both workers have scheduled their shards (not merely been spawned)
    before = {i: probes(text, i) for i in range(8)}
    waiting = set(range(8))  # every endpoint, both shards, is probed again (each is due within its 1 s interval)
    deadline = time.monotonic() + 15
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        after = await d.metrics()
        waiting = {i for i in waiting if probes(after, i) <= before[i]}
    assert not waiting, f"never probed again after the restart: {sorted(f'ep{i}' for i in waiting)}"
    assert "prober worker exited unexpectedly index=" in d.log()
    assert await d.stop() == 0


@pytest.mark.slow
async def test_workers_do_not_outlive_a_killed_daemon(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    d = await started(write_config(worker_config(targets.port)), tmp_path, daemons)
    assert d.proc is not None
    workers = children(d.proc.pid)
    d.proc.kill()
    await d.proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not any(alive(p) for p in workers), "orphaned prober workers kept running"


async def test_reload_moves_endpoints_without_restarting_workers(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(worker_config(targets.port, endpoints=4))
    d = await started(cfg, tmp_path, daemons)
    assert d.proc is not None
    workers = sorted(children(d.proc.pid))
    write_config(worker_config(targets.port, endpoints=6))
    d.send(signal.SIGHUP)
    await d.wait_for_metric('slowatch_probes_total{endpoint="ep5",kind="http",outcome="success"}')
    assert metric_value(await d.metrics(), "slowatch_scheduler_jobs") == 6
    assert sorted(children(d.proc.pid)) == workers
    assert "config reloaded added=2 removed=0 changed=0" in d.log()
    assert await d.stop() == 0


async def test_the_standard_asyncio_loop_works_too(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(worker_config(targets.port, workers=1, endpoints=3, loop="asyncio"))
    d = await started(cfg, tmp_path, daemons)
    assert d.proc is not None
    for i in range(3):
        await d.wait_for_metric(f'slowatch_probes_total{{endpoint="ep{i}",kind="http",outcome=')
    assert await d.stop() == 0
    assert "prober_workers=1 loop=asyncio" in d.log()


@pytest.mark.slow
async def test_a_sighup_to_every_slowatch_process_reloads_and_kills_no_worker(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """`pkill -HUP -f slowatch` (or a hangup of the terminal's process group) reaches the workers too: SIGHUP's
    default action ended them (restarted after a backoff, their in-flight probes lost, an error logged)."""
    cfg = write_config(worker_config(targets.port))
    d = await started(cfg, tmp_path, daemons)
    assert d.proc is not None
    workers = children(d.proc.pid)
    assert len(workers) == 2
    deadline = time.monotonic() + 15
    while True:  # both workers probe (past their start)
        text = await d.metrics()
        if all(probes(text, i) for i in range(8)):
            break
        assert time.monotonic() < deadline, text
        await asyncio.sleep(0.1)
    write_config(worker_config(targets.port, endpoints=9))
    for pid in [d.proc.pid, *workers]:
        os.kill(pid, signal.SIGHUP)
    await wait_until(lambda: "config reloaded added=1 " in d.log())
    await asyncio.sleep(1.0)  # a worker ended by the signal is seen within a moment
    assert all(alive(pid) for pid in workers) and sorted(children(d.proc.pid)) == sorted(workers), d.log()[-3000:]
    assert "exited unexpectedly" not in d.log()
    assert await d.stop() == 0

"""The daemon when its own environment fails: here, too few file descriptors for its probes.

(A database deleted or replaced while running: tests/store/test_store_file.py; a full disk:
tests/store/test_store_failures.py.)"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess

pytestmark = pytest.mark.slow


def low_fd_limit() -> None:
    """A hard limit of 128 (a container's): slowatch cannot raise it."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


def low_soft_fd_limit() -> None:
    """A soft limit of 128 under a high hard one (the usual 1024 / 524288 of a shell or a systemd unit)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def slow_endpoints(targets: TestServer, write_config: Callable[[str], Path]) -> Path:
    """300 endpoints whose probes each hold a socket for their whole 2 s timeout, all at once."""
    endpoints = "".join(
        f"  - {{name: ep{i}, kind: http, url: 'http://127.0.0.1:{targets.port}/slow?i={i}'}}\n" for i in range(300)
    )
    return write_config(
        "server:\n  database: ./slowatch.db\n  shutdown_grace: 1s\n  max_concurrency: 300\n"
        f"defaults:\n  interval: 4s\n  timeout: 2s\nendpoints:\n{endpoints}"
    )


def stored_outcomes(workdir: Path) -> dict[str, int]:
    db = sqlite3.connect(workdir / "slowatch.db")
    try:
        return dict(db.execute("SELECT outcome, count(*) FROM results GROUP BY 1"))
    finally:
        db.close()


async def test_a_hard_open_file_limit_lowers_the_concurrency_and_no_probe_fails_for_it(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """300 slow probes at once under a hard limit of 128 descriptors. They used to fail as `error` (out of
    file descriptors: counted against their targets' SLOs) and could leave the API none; now the bound on
    concurrent probes is fitted to the limit, the rest wait for a slot, and the API keeps answering."""
    cfg = slow_endpoints(targets, write_config)
    d = DaemonProcess(cfg, tmp_path, preexec=low_fd_limit)
    daemons.append(d)
    await d.start()
    await asyncio.sleep(3)
    assert (await d.get("/healthz"))[0] == 200  # while every slot is taken
    await asyncio.sleep(3)
    assert d.proc is not None and d.proc.returncode is None  # no crash
    assert await d.stop() == 0

    log = d.log()
    assert "max_concurrency lowered to fit the open-file limit configured=300 used=48 nofile=128" in log
    assert "Traceback" not in log and "open-file limit too low" not in log
    outcomes = stored_outcomes(tmp_path)
    assert outcomes.get("timeout", 0) >= 48 and "error" not in outcomes, outcomes  # (/slow: timeouts, as intended)


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 4096, reason="needs a hard open-file limit >= 4096")
async def test_a_low_soft_open_file_limit_is_raised_to_the_hard_one(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """The same 300 endpoints under a soft limit of 128 only: the daemon raises it (as Go programs do), so
    no probe fails for want of a descriptor (they used to: a target's SLO paid for the host's limit)."""
    cfg = slow_endpoints(targets, write_config)
    d = DaemonProcess(cfg, tmp_path, preexec=low_soft_fd_limit)
    daemons.append(d)
    await d.start()
    await asyncio.sleep(6)
    assert await d.stop() == 0
    log = d.log()
    assert "open-file limit raised to the hard limit nofile=128->" in log
    assert "open-file limit too low" not in log and "Traceback" not in log
    outcomes = stored_outcomes(tmp_path)
    assert sum(outcomes.values()) >= 300 and "error" not in outcomes, outcomes  # (/slow: timeouts, as intended)

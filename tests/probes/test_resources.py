"""Hanging targets must not slow healthy probes, and failing probes must not leak sockets or memory."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slowatch.models import Outcome, ProbeResult
from slowatch.probes import ProbeContext, probe_once
from tests.probes.conftest import http_endpoint
from tests.support.hostile import TcpTarget


async def test_healthy_probes_are_not_slowed_by_hanging_ones(ctx: ProbeContext, hostile: TcpTarget) -> None:
    finished: dict[str, list[float]] = {"ok": [], "hang": []}
    t0 = time.monotonic()

    async def timed(kind: str, path: str, timeout: float) -> ProbeResult:
        result = await probe_once(http_endpoint(f"http://127.0.0.1:{hostile.port}{path}", timeout=timeout), ctx)
        finished[kind].append(time.monotonic() - t0)
        return result

    hanging = [timed("hang", "/hang", 1.0) for _ in range(20)]
    healthy = [timed("ok", "/ok", 1.0) for _ in range(20)]
    results = await asyncio.gather(*hanging, *healthy)
    assert [r.outcome for r in results] == [Outcome.TIMEOUT] * 20 + [Outcome.SUCCESS] * 20
    assert max(finished["ok"]) < 0.5, finished["ok"]  # vs 1 s for the hanging ones
    assert min(finished["hang"]) >= 0.95


@pytest.mark.slow
def test_no_fd_or_memory_growth_after_1000_failing_probes() -> None:
    """1,000 failing probes (20 kinds of failure) in a fresh interpreter: no more fds and (within allocator
    noise) no more RSS than after the first 100; and nothing left for asyncio or GC to complain about."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.support.leakcheck"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no ResourceWarning, unclosed transport, never-retrieved exception, ...
    report = json.loads(proc.stdout)
    print(report)
    assert report["successes"] == 0
    assert "error" not in report["outcomes"], report["outcomes"]
    assert report["fds_1000"] <= report["fds_100"]
    # 4 MiB covers allocator warm-up (measured +1 MiB); a leak of 5 KiB per probe would exceed it
    assert report["rss_1000"] - report["rss_100"] < 4 << 20

"""What the log of `slowatch run` says when its database cannot be written: once, with the cause."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from slowatch.clock import SystemClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.e2e.harness import DaemonProcess, metric_value
from tests.support.cli import run_cli

CONFIG = """\
server: {database: ./slowatch.db, shutdown_grace: 1s}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 1s, timeout: 500ms}
consumers:
  - {name: shop, endpoints: [api], slos: [{name: up, sli: availability, objective: 99}]}
"""


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` read-only for the daemon: its mode (root ignores it: then a read-only bind mount of the file)."""
    path.chmod(0o444)
    if os.geteuid() != 0:
        yield
        return
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
    try:
        done = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a read-only bind mount: {done.stderr.decode().strip()}")
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
async def test_a_read_only_database_is_logged_once_with_its_cause_and_never_as_resumed(tmp_path: Path) -> None:
    """Started on a read-only database file, the daemon logged "store write failed" at every retry (7 lines in its
    first 3 s, ~45 in a minute), with "store writes resumed" between them whenever a transaction that wrote
    nothing (a retention step with nothing to delete) committed."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out, _ = await run_cli("run", "-c", "slowatch.yaml", "--once", cwd=tmp_path, merged=True)
    assert code == 1, out  # (the endpoint refuses: a failure, recorded)
    d = DaemonProcess(tmp_path / "slowatch.yaml", tmp_path)
    with read_only(tmp_path / "slowatch.db"):
        await d.spawn()
        try:
            deadline = time.monotonic() + 30.0
            while await write_errors(d) < 6:  # retried with backoff (0.05 s, 0.1 s, ...): ~2 s
                assert time.monotonic() < deadline, d.log()
                await asyncio.sleep(0.2)
            status, ready = await d.get("/readyz")
            assert status == 503 and "readonly" in ready, ready
        finally:
            await d.stop(signal.SIGKILL)  # (the stop itself: the test below)
    log = d.log()
    failed = [line for line in log.splitlines() if "store write failed" in line]
    assert len(failed) == 1, log  # the cause, once (a reminder comes after a minute)
    assert "attempt to write a readonly database" in failed[0] and "path=" in failed[0]
    assert "resumed" not in log, log


async def write_errors(d: DaemonProcess) -> float:
    """`slowatch_store_write_errors_total`, or 0 while /metrics does not answer yet."""
    assert d.proc is not None and d.proc.returncode is None, d.log()
    try:
        status, text = await d.get("/metrics")
    except aiohttp.ClientError:
        return 0.0
    return metric_value(text, "slowatch_store_write_errors_total") if status == 200 else 0.0


@pytest.mark.slow
async def test_a_stop_on_a_read_only_database_takes_the_shutdown_grace_and_reports_what_is_lost(
    tmp_path: Path,
) -> None:
    """With `shutdown_grace: 1s`, a SIGTERM on a read-only database took ~20 s: the alert outbox's and the SLO
    state's flushes, then the store's close, each retried writes that could not happen for 10 s of their own."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out, _ = await run_cli("run", "-c", "slowatch.yaml", "--once", cwd=tmp_path, merged=True)
    assert code == 1, out
    d = DaemonProcess(tmp_path / "slowatch.yaml", tmp_path)
    with read_only(tmp_path / "slowatch.db"):
        await d.spawn()
        try:
            deadline = time.monotonic() + 30.0
            while await write_errors(d) < 3:
                assert time.monotonic() < deadline, d.log()
                await asyncio.sleep(0.2)
            started = time.monotonic()
            assert await d.stop(signal.SIGTERM, timeout=60.0) == 0, d.log()
            took = time.monotonic() - started
        finally:
            if d.proc is not None and d.proc.returncode is None:
                await d.stop(signal.SIGKILL)
    log = d.log()
    assert took < 8.0, log  # 1 s of grace for the writes, and what a start of Python costs on a loaded machine
    assert "store closed with" in log and "unwritten items" in log, log  # what could not be written is reported


async def test_an_idle_store_on_a_read_only_database_retries_retention_with_backoff(tmp_path: Path) -> None:
    """A retention step that failed left its pass `busy`, and the writer ran the next turn at once instead of
    waiting: an idle daemon on a read-only file (no result pending, whose retry has a backoff) retried its
    retention transaction in a loop, ~100 failed transactions a second, a core kept busy for nothing."""
    path = tmp_path / "slowatch.db"
    first = Store(str(path), clock=SystemClock(), retention=RetentionConfig())
    await first.start()
    await first.close()
    with read_only(path):
        store = Store(str(path), clock=SystemClock(), retention=RetentionConfig(), max_backoff=30.0)
        await store.start()
        try:
            deadline = time.monotonic() + 30.0
            while store.write_errors < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await asyncio.sleep(3.0)
            errors = store.write_errors
            assert not store.healthy and store.last_error is not None and "readonly" in store.last_error
        finally:
            await store.close(retry_for=0.0)
    assert errors <= 12, errors  # backoff from 0.05 s, doubling: ~7 tries in 3 s (a loaded machine makes fewer)

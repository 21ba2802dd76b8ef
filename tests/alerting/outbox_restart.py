"""The restart scenario of test_alertmanager_races.py and test_restored_resolved.py: a replica whose Alertmanager
is unreachable queues alerts in its outbox and is stopped with them pending (killed and restarted: the same); it
restarts against a receiver or a real Alertmanager, often after a peer replica changed what Alertmanager holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from slowatch.config.schema import Config
from tests.alerting.conftest import FAST_SINK, Rig, am_alerts, http_endpoint, make_config
from tests.alerting.fakes import Target
from tests.e2e.harness import free_port


def nowhere() -> str:
    """An Alertmanager URL nothing listens at: every POST fails and waits in the outbox."""
    return f"http://127.0.0.1:{free_port()}"


def am_config(
    tmp_path: Path,
    url: str,
    endpoints: dict[str, Target],
    *,
    replica: str | None = None,
    resend: str = "1h",
    sinks: dict[str, Any] | None = None,
) -> Config:
    """HTTP endpoints (name -> target) alerting at their first failure and first success, an Alertmanager sink `am`
    at `url` re-posting every `resend` (and `sinks`), every alert routed to all of them. A `replica` has its own
    database (`<replica>.db`), as two replicas of one instance do."""
    return make_config(
        tmp_path,
        **({"server": {"database": str(tmp_path / f"{replica}.db")}} if replica else {}),
        endpoints=[
            http_endpoint(name, target.url(), failure_threshold=1, success_threshold=1)
            for name, target in endpoints.items()
        ],
        sinks={"am": {"kind": "alertmanager", "url": url, "resend_interval": resend, **FAST_SINK}, **(sinks or {})},
        routes=[{"sinks": ["am", *(sinks or {})]}],
    )


async def stop_with_outbox(r: Rig) -> None:
    """Stop `r` once what it decided is in its database (its outbox included)."""
    await r.store.flush()
    await r.stop()


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def drained(r: Rig, sink: str = "am") -> Callable[[], bool]:
    return lambda: not r.service.dispatcher.workers[sink].queue


async def active(url: str) -> list[str]:
    """The alert keys Alertmanager holds active."""
    async with aiohttp.ClientSession() as s:
        return sorted(a["labels"]["alert_key"] for a in await am_alerts(s, url) if a["status"]["state"] == "active")


async def until_active(url: str, keys: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := await active(url)) != keys:
        if time.monotonic() > deadline:
            raise AssertionError(f"Alertmanager holds {got} active, waiting for {keys}")
        await asyncio.sleep(0.05)

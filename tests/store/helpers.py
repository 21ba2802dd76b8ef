from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from slowatch.models import Outcome, ProbeResult

T0 = 1_767_225_600.0  # FakeClock's default start, 2026-01-01T00:00:00Z (an hour boundary)


def result(
    endpoint: str = "api",
    outcome: Outcome = Outcome.SUCCESS,
    at: float = T0,
    duration: float = 0.1,
    **kw: Any,
) -> ProbeResult:
    return ProbeResult(endpoint=endpoint, kind="http", outcome=outcome, started_at=at, duration=duration, **kw)


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("slowatch-store")]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)

"""Time comes from a Clock, so tests can drive days of history in milliseconds."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock unix seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock, for durations."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to. `monotonic` moves with `time`, except across `step`."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._mono = 0.0  # monotonic() - time()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now + self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a FakeClock cannot go backwards")
        self._now += seconds

    def set(self, now: float) -> None:
        self._now = now
        self._mono = 0.0

    def step(self, seconds: float) -> None:
        """A wall-clock step (NTP, a VM resumed, an operator): `time` jumps either way, `monotonic` does not."""
        self._now += seconds
        self._mono -= seconds


__all__ = ["Clock", "FakeClock", "SystemClock"]

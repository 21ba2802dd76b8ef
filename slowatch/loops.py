"""Which event loop the daemon and its prober workers run on (`server.event_loop`).

uvloop is a drop-in asyncio loop written on libuv. For slowatch's workload, a fresh TCP connection per
probe, it spends ~25 % less CPU per probe than the standard loop (../shared/MEASUREMENTS.md,
benchmarks/README.md), so "auto" uses it when it is installed (it is a dependency on Linux and macOS)
and falls back to asyncio's own loop otherwise; "asyncio" forces the standard loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
LoopName = Literal["auto", "asyncio", "uvloop"]


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for `asyncio.Runner`; None means asyncio's default loop."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as e:
        if name == "uvloop":
            raise RuntimeError("server.event_loop is 'uvloop' but uvloop is not installed (pip install uvloop)") from e
        return None
    return uvloop.new_event_loop


def loop_name(name: str) -> str:
    """What `name` resolves to on this machine: 'uvloop' or 'asyncio'."""
    return "asyncio" if loop_factory(name) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], name: str = "auto") -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)


__all__ = ["LoopName", "loop_factory", "loop_name", "run"]

"""The daemon's stop request, the signals that make it, and the background tasks it owns.

SIGTERM/SIGINT request a stop; a second one forces exit (the daemon's `stop()` may hang on a stuck
component). SIGHUP starts a reload as an owned task, cancelled when the daemon stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class Lifecycle:
    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run `coro` as a task owned until it ends or `cancel_tasks()`."""
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def request_stop(self) -> None:
        if self._stop.is_set():
            logger.warning("second stop signal: exiting now")
            os._exit(1)
        self._stop.set()

    def install_signal_handlers(self, reload: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """SIGTERM/SIGINT: `request_stop()`; SIGHUP: `reload()` in an owned task."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self.spawn(reload()))

    async def stopped(self) -> None:
        """Returns once a stop was requested."""
        await self._stop.wait()

    async def cancel_tasks(self, wait: float = 2.0) -> None:
        """Cancel the owned tasks and wait for them at most `wait` seconds."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=wait)


__all__ = ["Lifecycle"]

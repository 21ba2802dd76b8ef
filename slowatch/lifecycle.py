"""The daemon's stop request, the signals that make it, and the background tasks it owns.

SIGTERM/SIGINT request a stop; a second one forces exit (the daemon's `stop()` may hang on a stuck
component). SIGHUP starts a reload as an owned task, cancelled when the daemon stops; once a stop is
requested a SIGHUP is logged and ignored (a reload then would run against what the stop is closing).
While the daemon starts (`starting()`), a stop is requested the same way and honoured once started, and a
SIGHUP is counted, for one reload once started.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

SAME_SIGNAL = 0.05
"""Seconds within which a second stop request is the first signal handled twice, not a second signal: one
SIGTERM sent while `slowatch run` started (a SIGHUP just before it) was once handled twice in the same
millisecond, and the daemon exited at once with status 1 instead of stopping cleanly. No person presses
Ctrl-C twice within 50 ms; a later second signal still forces the exit."""


class Lifecycle:
    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        self.hangups = 0  # SIGHUPs while starting
        self._stop_at = 0.0  # monotonic time of the first stop request

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run `coro` as a task owned until it ends or `cancel_tasks()`."""
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def request_stop(self) -> None:
        now = time.monotonic()
        if self._stop.is_set():
            if now - self._stop_at < SAME_SIGNAL:  # one signal handled twice (seen once on uvloop mid-start)
                return
            logger.warning("second stop signal: exiting now")
            os._exit(1)
        self._stop_at = now
        self._stop.set()

    def starting(self) -> None:
        """Signal handlers for while the daemon starts: SIGTERM/SIGINT `request_stop()`, SIGHUP counted."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_while_starting, sig)
        loop.add_signal_handler(signal.SIGHUP, self._hangup_while_starting)

    def _stop_while_starting(self, sig: signal.Signals) -> None:
        if not self._stop.is_set():
            logger.info("stop requested while starting: stopping once started signal=%s", sig.name)
        self.request_stop()

    def _hangup_while_starting(self) -> None:
        self.hangups += 1

    def install_signal_handlers(self, reload: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """SIGTERM/SIGINT: `request_stop()`; SIGHUP: `reload()` in an owned task, unless stopping."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._hangup, reload)

    def _hangup(self, reload: Callable[[], Coroutine[Any, Any, object]]) -> None:
        if self._stop.is_set():
            logger.info("reload not started: the daemon is stopping signal=SIGHUP")
            return
        self.spawn(reload())

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

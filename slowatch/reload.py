"""Config reload: re-read the file on request (SIGHUP) or when its content changes, and switch to it.

Whatever goes wrong (a located config error, a path that is no regular file, a bug in loading or in
applying the new config) ends the same way: the running config stays (a half-applied one is switched
back), the error is logged, `report(False)` sets slowatch_config_last_reload_successful to 0, and the
watcher keeps watching, so the next good edit is picked up.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from slowatch.config.isolated import reload_isolated
from slowatch.config.loader import gc_paused
from slowatch.config.schema import Config
from slowatch.config.source import fingerprint
from slowatch.errors import ConfigError

logger = logging.getLogger(__name__)


class ConfigReloader:
    """Owns the config path, the fingerprint of what was last loaded, and the reload lock."""

    def __init__(
        self,
        path: Path,
        *,
        current: Callable[[], Config],
        switch: Callable[[Config], Awaitable[None]],
        report: Callable[[bool], None],
        loader: Callable[[Path], Config] = reload_isolated,
    ) -> None:
        self.path = path
        self._current = current
        self._switch = switch
        self._report = report
        self._loader = loader
        self._digest: str | None = None  # taken off the loop when watch() starts (or by a reload)
        self.running: str | None = None
        """The SHA-256 of the file the running config came from (slowatch_config_info): set by `prime()` at
        start and by each successful reload, kept by a rejected one."""
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """Load the file and switch to it; on any failure keep the running config and say why."""
        async with self._lock:
            path = self.path
            try:
                digest = await asyncio.to_thread(fingerprint, path)
                new = await asyncio.to_thread(self._load, path)
            except ConfigError as exc:
                self._report(False)
                logger.error(
                    "config reload rejected, keeping the running config file=%s errors=%d\n%s",
                    path, len(exc.problems), exc,
                )  # fmt: skip
                return False
            except Exception:  # a bug must not end reloads for good
                self._report(False)
                logger.exception("config reload failed, keeping the running config file=%s", path)
                return False
            self._digest = digest
            old = self._current()
            try:
                await self._switch(new)
            except Exception:
                self._report(False)
                logger.exception("config reload failed while applying it, restoring the running config file=%s", path)
                try:
                    await self._switch(old)
                except Exception:
                    logger.exception("config reload: restoring the running config failed too file=%s", path)
                return False
            self.running = digest
            self._report(True)
            return True

    def _load(self, path: Path) -> Config:
        """The loader, then the new Config (millions of objects, all long-lived) out of the cyclic GC's
        sight, before the GC may run again: the first collections would otherwise scan all of it, on
        whichever thread allocates next (the event loop, for a second or more at 100,000 endpoints)."""
        started, cpu = time.monotonic(), time.thread_time()
        with gc_paused():
            config = self._loader(path)
            gc.freeze()
        logger.info(  # this thread's CPU: taking the Config over (a loader child's parsing is another process's)
            "config file loaded file=%s seconds=%.1f cpu_ms=%.0f endpoints=%d",
            path, time.monotonic() - started, (time.thread_time() - cpu) * 1e3, len(config.endpoints),
        )  # fmt: skip
        return config

    async def prime(self) -> None:
        """Take the file's fingerprint as the running one (off the loop), unless a reload already did: the
        daemon's start awaits it, so an edit made once the daemon is up is always seen as a change."""
        if self._digest is None:
            self._digest = await asyncio.to_thread(fingerprint, self.path)
        if self.running is None:
            self.running = self._digest

    async def watch(self, interval: float) -> None:
        """Reload whenever the file's fingerprint changes (a hash every `interval` seconds, off-loop)."""
        await self.prime()
        while True:
            await asyncio.sleep(interval)
            try:
                digest = await asyncio.to_thread(fingerprint, self.path)
                if digest is not None and digest != self._digest:
                    self._digest = digest
                    logger.info("config file changed, reloading file=%s", self.path)
                    await self.reload()
            except Exception:  # reload() reports its own failures: this is a last resort, the watch goes on
                logger.exception("config watch: unexpected error, still watching file=%s", self.path)


__all__ = ["ConfigReloader"]

"""Config reload: re-read the file on request (SIGHUP) or when its content changes, and switch to it.

Whatever goes wrong (a located config error, a path that is no regular file, a bug in loading or in
applying the new config) ends the same way: the running config stays (a half-applied one is switched
back), the error is logged, `report` gets a failed `ReloadOutcome` (slowatch_config_last_reload_successful
drops to 0; /api/v1/config shows its problems), and the watcher keeps watching, so the next good edit is
picked up.

The watcher polls: every `interval` seconds it hashes the file's content (config/source.py `fingerprint`,
following symlinks: a Kubernetes ConfigMap's `..data` swap is a change; mtime, inode and renames are not
looked at, so identical content is no change and content restored with an older mtime is one). A path it
cannot open or read (deleted, permission denied) is a change too: reported once, reloaded when readable
again. A change is reloaded once two reads `settle` seconds apart agree (a file written in place is
read whole); a SIGHUP waits the same way (`reload(settle=...)`), since it is often sent while an editor or a
deploy job is still writing. The fingerprint recorded is checked again after the file was read: a write that
landed in between would otherwise leave the SHA-256 of content that is not running (the file is read again,
`READ_ROUNDS` times at most). The first fingerprint is the file's before the start read it (`digest`, from `slowatch
run`), so an edit made while the daemon starts is a change. Reload requests made while a reload runs
(SIGHUPs, the watcher) share one reload after it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from slowatch.config.isolated import reload_isolated
from slowatch.config.loader import gc_paused
from slowatch.config.schema import Config
from slowatch.config.source import fingerprint
from slowatch.config.stand_ins import refuse_stand_ins
from slowatch.errors import ConfigError

logger = logging.getLogger(__name__)

SETTLE = 1.0
"""Seconds a changed file must stay the same before it is reloaded (`ConfigReloader._settled`)."""
SETTLE_ROUNDS = 10
"""A file that keeps changing for this many settle periods is reloaded as it then is (it may never settle)."""
READ_ROUNDS = 3
"""Reads of a file whose fingerprint changed while it was read before the last one is taken as it is."""


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """How one reload ended, as /api/v1/config shows it."""

    ok: bool
    fingerprint: str
    """What was read (config/source.py `fingerprint`: the SHA-256 of a regular file's content, else why it
    was not read: `unreadable:ENOENT`, `refused:...`)."""
    problems: tuple[str, ...] = ()
    """The first KEPT_PROBLEMS config problems as logged, `file:line:col path: message` (never a secret: see
    config/loader.py)."""
    problem_count: int = 0
    """How many problems there were in all."""
    error: str | None = None
    """A failure that is no config problem (a bug while loading or applying): what failed; the log has the rest."""

    @property
    def sha256(self) -> str | None:
        """The SHA-256 of the file read, or None when it was not read (see `fingerprint`)."""
        return None if ":" in self.fingerprint or not self.fingerprint else self.fingerprint


KEPT_PROBLEMS = 1000
"""Problems of a rejected reload kept for /api/v1/config (the log has them all): a file of 100,000 broken endpoints
would otherwise keep ~20 MB of messages."""

ENVIRONMENT_NOTE = "\n(a reload reads the environment slowatch was started with: restart it to take in a new variable)"
"""Added to a rejected reload's log when a `${VAR}` is unset (or not UTF-8): a shell's `export` does not reach the
daemon, and "environment variable TOKEN is not set" alone reads like a typo."""


class ConfigReloader:
    """Owns the config path, the fingerprint of what was last loaded, and the reload lock."""

    def __init__(
        self,
        path: Path,
        *,
        current: Callable[[], Config],
        switch: Callable[[Config], Awaitable[None]],
        report: Callable[[ReloadOutcome], None],
        loader: Callable[[Path], Config] = reload_isolated,
        digest: str | None = None,
        switch_back: Callable[[Config], Awaitable[None]] | None = None,
    ) -> None:
        """`digest`: the fingerprint of the file the running config came from, taken before it was read
        (else `prime` takes it when the daemon starts: an edit made meanwhile would be taken as running).
        `switch_back`: how to return to the running config after `switch` failed part-way (default `switch`)."""
        self.path = path
        self._current = current
        self._switch = switch
        self._switch_back = switch if switch_back is None else switch_back
        self._report = report
        self._loader = loader
        self._digest = digest  # or taken off the loop when watch() starts (or by a reload)
        self.running: str | None = None
        """The SHA-256 of the file the running config came from (slowatch_config_info): set by `prime()` at
        start and by each successful reload, kept by a rejected one."""
        self._lock = asyncio.Lock()
        self._queued: asyncio.Future[bool] | None = None  # the reload waiting for the running one, if any
        # every Config loaded or replaced, by id (a frozen model hashes its fields: some are lists)
        self._configs: weakref.WeakValueDictionary[int, Config] = weakref.WeakValueDictionary()

    async def reload(self, settle: float = 0.0) -> bool:
        """Load the file and switch to it; on any failure keep the running config and say why. Requests
        made while a reload runs share one reload after it (it reads the file as it then is): a burst of
        SIGHUPs during a 20 s reload of 100,000 endpoints used to queue one full reload each. With `settle`
        (a SIGHUP) the file is read once two reads `settle` seconds apart agree, as the watcher does;
        requests made meanwhile share this reload."""
        if self._queued is not None:
            return await asyncio.shield(self._queued)
        queued = self._queued = asyncio.get_running_loop().create_future()
        try:
            async with self._lock:
                if settle > 0:
                    await self._settled(await asyncio.to_thread(fingerprint, self.path), settle)
                self._queued = None  # the file is read from here on: a later request needs another reload
                ok = await self._reload()
            queued.set_result(ok)
            return ok
        finally:
            if self._queued is queued:
                self._queued = None
            queued.cancel()  # (no-op once it has its result) the requests sharing it are cancelled with it

    async def _reload(self) -> bool:
        """One reload, under the lock."""
        path = self.path
        try:
            for _ in range(READ_ROUNDS):
                # what is about to be read, recorded whatever comes of it: the watcher reloads only a later change
                self._digest = digest = await asyncio.to_thread(fingerprint, path)
                new = await asyncio.to_thread(self._load, path)
                if (after := await asyncio.to_thread(fingerprint, path)) == digest:
                    break
                logger.info("config file changed while it was read, reading it again file=%s", path)
            else:  # still changing: `digest` is older than what was read, so the watcher reloads again
                logger.warning("config file kept changing while it was read, running it as last read file=%s "
                               "last_sha256=%s", path, after)  # fmt: skip
        except ConfigError as exc:
            kept = tuple(str(p) for p in exc.problems[:KEPT_PROBLEMS])
            self._report(ReloadOutcome(False, self._digest or "", kept, len(exc.problems)))
            unset = any(p.message.startswith("environment variable ") for p in exc.problems)
            logger.error(
                "config reload rejected, keeping the running config file=%s errors=%d\n%s%s",
                path, len(exc.problems), exc, ENVIRONMENT_NOTE if unset else "",
            )  # fmt: skip
            return False
        except Exception as exc:  # a bug must not end reloads for good
            self._report(ReloadOutcome(False, self._digest or "", error=f"loading failed ({type(exc).__name__})"))
            logger.exception("config reload failed, keeping the running config file=%s", path)
            return False
        old = self._current()
        self._configs[id(old)] = old
        self._configs[id(new)] = new
        try:
            await self._switch(new)
        except Exception as exc:
            self._report(ReloadOutcome(False, digest, error=f"applying it failed ({type(exc).__name__})"))
            logger.exception("config reload failed while applying it, restoring the running config file=%s", path)
            try:
                await self._switch_back(old)
            except Exception:
                logger.exception("config reload: restoring the running config failed too file=%s", path)
            return False
        self.running = digest
        self._report(ReloadOutcome(True, digest))
        del old, new
        # (instances of one fleet compare it: slowatch_config_info, SlowatchConfigMismatch; sha256sum prints it)
        logger.info(
            "config running file=%s config_sha256=%s configs_alive=%d gc_frozen=%d",
            path, digest, self.configs_alive, gc.get_freeze_count(),
        )  # fmt: skip
        return True

    @property
    def configs_alive(self) -> int:
        """How many of the Configs this reloader loaded or replaced are still in memory (the running one, the
        one replaced last while something still holds it, and any kept alive by mistake: a leak over reloads)."""
        return len(self._configs)

    def _load(self, path: Path) -> Config:
        """The loader, then the new Config (millions of objects, all long-lived) out of the cyclic GC's
        sight, before the GC may run again: the first collections would otherwise scan all of it, on
        whichever thread allocates next (the event loop, for a second or more at 100,000 endpoints)."""
        started, cpu = time.monotonic(), time.thread_time()
        with gc_paused():
            config = self._loader(path)
            refuse_stand_ins(config, str(path))  # (never from the daemon's loaders: they load strictly)
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

    async def watch(self, interval: float, settle: float = SETTLE) -> None:
        """Reload whenever the file's fingerprint changes (a hash every `interval` seconds, off-loop) and
        has then held still for `settle` seconds (`_settled`)."""
        await self.prime()
        while True:
            await asyncio.sleep(interval)
            try:
                digest = await asyncio.to_thread(fingerprint, self.path)
                if digest != self._digest:
                    digest = await self._settled(digest, settle)
                if digest != self._digest:
                    self._digest = digest
                    logger.info("config file changed, reloading file=%s", self.path)
                    await self.reload()
            except Exception:  # reload() reports its own failures: this is a last resort, the watch goes on
                logger.exception("config watch: unexpected error, still watching file=%s", self.path)

    async def _settled(self, digest: str, settle: float) -> str:
        """The fingerprint once two reads `settle` seconds apart agree (at most SETTLE_ROUNDS more reads): a
        file written in place (truncated, then written in one or more writes) is read when it is whole,
        not empty or cut short at a point that may even be valid YAML, and a file deleted and written
        again is read once it is back."""
        for _ in range(SETTLE_ROUNDS):
            await asyncio.sleep(settle)
            again = await asyncio.to_thread(fingerprint, self.path)
            if again == digest:
                break
            digest = again
        return digest


__all__ = ["KEPT_PROBLEMS", "READ_ROUNDS", "SETTLE", "SETTLE_ROUNDS", "ConfigReloader", "ReloadOutcome"]

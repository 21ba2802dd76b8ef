"""Child processes of a local topology: one loopback service each, with its log file and a readiness URL.

Used by `slowatch.topology.stack` (the cluster demo and its end-to-end test). Every process listens on
127.0.0.1 only; ports come from `free_port()`. `kill()` is SIGKILL (a crash), `stop()` SIGTERM with a
bounded wait, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

logger = logging.getLogger(__name__)


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768 elsewhere or if unreadable)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


EPHEMERAL_LOW = _ephemeral_low()
"""Read once, at import: `free_port()` is called from the event loop (the e2e harness), where a file read blocks."""


def free_port(low: int | None = None, *, ports: range | None = None) -> int:
    """A TCP port free on 127.0.0.1 right now, below the kernel's ephemeral range when it can.

    A service restarted on its port (a replica after `kill -9`: Prometheus scrapes that port) must find it free.
    A port the OS picks (bind to 0) is an ephemeral one, which any outgoing connection of any process may take
    meanwhile ("address already in use" on the restart, seen under load); ports below the range are only
    ever taken by a bind that asks for them. `low`: the range's first port (default EPHEMERAL_LOW); when it
    leaves no room above 1024 (`ip_local_port_range` = "1024 65535" is a common tuning) the OS picks.
    `ports`: pick from these instead (one `port_share` each: processes that start services side by side, such
    as parallel test workers, then never pick a port another picked and has not bound yet)."""
    low = EPHEMERAL_LOW if low is None else low
    if ports is None:
        ports = range(max(1024, low - 12_000), low)
    for _ in range(200 if len(ports) else 0):
        port = random.choice(ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # (everything there taken: let the OS pick)
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_share(index: int, count: int, low: int | None = None) -> range:
    """The `index`-th of `count` equal, disjoint shares of the ports `free_port` picks from (below the
    ephemeral range; of the ports above 1024 when the range leaves no room below it)."""
    low = EPHEMERAL_LOW if low is None else low
    whole = range(max(1024, low - 12_000), low) if low > 2048 else range(1024, 65536)
    size = len(whole) // max(1, count)
    return range(whole.start + index * size, whole.start + (index + 1) * size)


def find_binary(*names: str) -> str | None:
    """The first of `names` on PATH (Debian calls Alertmanager `prometheus-alertmanager`)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


class Service:
    """One child process: `argv` run in `cwd`, output to `cwd/<name>.log`, ready when `ready_url` answers 200."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        url: str,
        ready_path: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.url = url
        self.ready_url = url + ready_path
        self.env = {**os.environ, **(env or {})}
        self.log_path = cwd / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        log = await asyncio.to_thread(open, self.log_path, "ab")
        with log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, cwd=self.cwd, env=self.env,
                start_new_session=True,  # Ctrl-C in the demo's terminal reaches the demo, which stops us in order
            )  # fmt: skip
        logger.debug("started name=%s pid=%s", self.name, self.proc.pid)

    async def ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with s.get(self.ready_url) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {within:g}s ({self.ready_url}):\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: what a crash or `kill -9` does (no flush, no goodbye)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self, within: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `within` seconds; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            logger.warning("no exit after SIGTERM name=%s within=%gs: killing", self.name, within)
            self.proc.kill()
            return await self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


async def get_json(url: str, params: Mapping[str, str] | None = None) -> object:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s, s.get(url, params=params) as r:
        r.raise_for_status()
        return await r.json()


__all__ = ["Service", "find_binary", "free_port", "get_json", "port_share"]

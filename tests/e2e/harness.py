"""Run the real daemon (`python -m slowatch run`) as a subprocess and talk to it over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp

from tests.support.sockets import free_port


class DaemonProcess:
    def __init__(
        self, config: Path, workdir: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
        preexec: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.config = config
        self.args = args  # more `run` flags (e.g. --shard 0/2)
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / f"daemon-{self.port}.log"
        self.env = {**os.environ, **(env or {})}
        self.preexec = preexec  # run in the child before exec (e.g. resource.setrlimit)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:
        await self.spawn()
        await self.ready(timeout)

    async def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        with open(self.log_path, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "slowatch",
                "run",
                "--config",
                str(self.config),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "INFO",
                *self.args,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=self.env,
                preexec_fn=self.preexec,
            )

    async def ready(self, timeout: float = 20.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
                try:
                    async with s.get(f"{self.url}/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"daemon not ready after {timeout}s:\n{self.log()}")

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}{path}") as r:
            return r.status, await r.text()

    async def metrics(self) -> str:
        status, text = await self.get("/metrics")
        assert status == 200, text
        return text

    async def wait_for_metric(self, line_prefix: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = await self.metrics()
            for line in text.splitlines():
                if line.startswith(line_prefix):
                    return line
            await asyncio.sleep(0.2)
        raise AssertionError(f"no metric line starting with {line_prefix!r} within {timeout}s")

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def metric_value(text: str, prefix: str) -> float:
    """The value of the first sample line starting with `prefix` (name plus labels as rendered)."""
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {prefix!r} in /metrics")


def http_fleet(port: int, paths: Mapping[str, str], *, grace: str = "1s", server: str = "") -> str:
    """The top of most e2e daemons' configs, up to their endpoints: the database `./slowatch.db` (in the daemon's
    working directory), probes every 1 s (800 ms timeout) of HTTP endpoints, name -> path ("ok", "fail") on the
    `targets` server at `port`. `server`: more lines of `server:` (each indented two spaces, newline-ended).
    Append the consumers (and anything else) as plain YAML."""
    url = f"http://127.0.0.1:{port}"
    endpoints = "".join(f"  - {{name: {name}, kind: http, url: '{url}/{path}'}}\n" for name, path in paths.items())
    return f"""
server:
  database: ./slowatch.db
  shutdown_grace: {grace}
{server}defaults:
  interval: 1s
  timeout: 800ms
endpoints:
{endpoints}"""


def numbered(n: int, fail: Callable[[int], bool] = lambda i: False) -> dict[str, str]:
    """Endpoints ep0 .. ep{n-1} for `http_fleet`: "fail" where `fail(i)`, else "ok"."""
    return {f"ep{i}": "fail" if fail(i) else "ok" for i in range(n)}

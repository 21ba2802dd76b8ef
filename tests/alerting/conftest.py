from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from slowatch.alerting import AlertService
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.probes import ProbeContext, make_session, run_probe
from slowatch.store import Store
from tests.alerting.fakes import EXPECT_UP, FakeReceiver, Target
from tests.e2e.harness import free_port

FAST_STORM = {"threshold": 10, "window": "1m", "group_wait": 0, "group_interval": "200ms"}
FAST_SINK = {"retry_initial": "50ms", "retry_max": "200ms", "timeout": "2s"}


@pytest.fixture
async def receiver() -> AsyncIterator[FakeReceiver]:
    r = await FakeReceiver().start()
    yield r
    await r.close()


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = await Target().start()
    yield t
    await t.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_config(tmp_path: Path, **extra: Any) -> Config:
    data: dict[str, Any] = {"server": {"database": str(tmp_path / "alerts.db")}, **extra}
    data.setdefault("alerting", {}).setdefault("storm", FAST_STORM)
    return Config.model_validate(data)


def http_endpoint(name: str, url: str, **alerts: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "http",
        "url": url,
        "interval": "10s",
        "timeout": "2s",
        "alerts": alerts,
        "expect": EXPECT_UP,
    }


def slack_sink(url: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "slack", "webhook_url": url, **FAST_SINK, **extra}


class Rig:
    """A started Store + AlertService on a FakeClock, plus a probe context for real probes."""

    def __init__(self, config: Config, clock: FakeClock, **service: Any) -> None:
        self.config, self.clock = config, clock
        self.store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
        self.service = AlertService(config, self.store, clock, **service)
        self.session = make_session()
        self.ctx = ProbeContext(session=self.session, clock=clock)

    async def start(self) -> Rig:
        await self.store.start()
        await self.service.start()
        return self

    async def probe(self, name: str, times: int = 1, step: float = 10.0) -> None:
        """Probe endpoint `name` for real, `times` times, the fake clock moving `step` s before each."""
        endpoint = self.config.endpoint(name)
        for _ in range(times):
            self.clock.advance(step)
            await run_probe(endpoint, self.ctx, self.service.observe)

    async def stop(self) -> None:
        await self.service.stop()
        await self.session.close()
        await self.store.close()


@pytest.fixture
async def rig(clock: FakeClock) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    rigs: list[Rig] = []

    async def make(config: Config, **service: Any) -> Rig:
        r = await Rig(config, clock, **service).start()
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        await r.stop()


# -- a real Alertmanager (Debian's prometheus-alertmanager) on a loopback port ---------------------------
BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
        pytest.skip("prometheus-alertmanager is not installed")
    conf = tmp_path / "am.yml"
    conf.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = free_port()
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={conf}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def am_alerts(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with session.get(f"{url}/api/v2/alerts") as r:
        assert r.status == 200
        data: list[dict[str, Any]] = await r.json()
        return data


async def wait_ready(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(f"{url}/-/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("alertmanager not ready")


@pytest.fixture
async def am(alertmanager: str) -> AsyncIterator[str]:
    await wait_ready(alertmanager)
    yield alertmanager

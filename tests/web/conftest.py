"""A daemon with three days of history, fed through its real probe path (`on_result`) under a FakeClock.

checkout depends on pay and cat: `availability` (99% over 7d) and `monthly` (latency <= 300ms,
99%, the calendar month in Europe/Berlin); partner depends on far. pay is down for one hour
(30h in), a one-off maintenance covers cat and checkout for two hours (50h in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult

T0 = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()
HOURS = 72
STEP = 600.0  # one probe per endpoint every 10 minutes
OUTAGE = (T0 + 30 * 3600, T0 + 31 * 3600)
MAINTENANCE = (T0 + 50 * 3600, T0 + 52 * 3600)


def config_text(tmp_path: Path, *, auth: str = "", checkout_access: str = "", partner_access: str = "") -> str:
    start = dt.datetime.fromtimestamp(MAINTENANCE[0], dt.UTC).isoformat()
    end = dt.datetime.fromtimestamp(MAINTENANCE[1], dt.UTC).isoformat()
    return f"""
server:
  listen: "127.0.0.1:0"
  database: "{tmp_path / 'pages.db'}"
{auth}
endpoints:
  - {{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}}
  - {{name: cat, kind: http, url: "http://127.0.0.1:9/cat"}}
  - {{name: far, kind: http, url: "http://127.0.0.1:9/far"}}
consumers:
  - name: checkout
    description: Checkout web and mobile apps
    endpoints: [pay, cat]
{checkout_access}
    slos:
      - {{name: availability, sli: availability, objective: 99, window: 7d}}
      - name: monthly
        sli: latency
        threshold: 300ms
        objective: 99
        window: {{calendar: month, timezone: Europe/Berlin}}
  - name: partner
    endpoints: [far]
{partner_access}
    slos:
      - {{name: availability, sli: availability, objective: 99, window: 30d}}
maintenance:
  - {{name: db-migration, consumers: [checkout], endpoints: [cat], start: "{start}", end: "{end}"}}
"""


def result(endpoint: str, ts: float) -> ProbeResult:
    down = endpoint == "pay" and OUTAGE[0] <= ts < OUTAGE[1]
    outcome = Outcome.CONNECTION_REFUSED if down else Outcome.SUCCESS
    message = "connection refused by 127.0.0.1:9" if down else ""
    return ProbeResult(endpoint, "http", outcome, ts, 0.05, message=message)


async def feed(daemon: Daemon, clock: FakeClock) -> None:
    ts = T0
    while ts < T0 + HOURS * 3600:
        clock.advance(ts - clock.time())
        for name in ("pay", "cat", "far"):
            daemon.on_result(result(name, ts))
        if ts % 21600 == 0:  # the daemon persists its ledgers every 5 s; every 6 simulated hours is plenty
            daemon._slo.persist()
        ts += STEP
    clock.advance(ts - clock.time())
    daemon._slo.refresh()
    daemon._slo.persist()
    await daemon.store.flush()


Builder = Callable[..., Awaitable[Daemon]]


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Builder]:
    started: list[Daemon] = []

    async def make(**access: str) -> Daemon:
        clock = FakeClock(T0 - 60)
        daemon = Daemon(load_text(config_text(tmp_path, **access), env={}), clock=clock)
        await daemon.start(schedule=False)
        started.append(daemon)
        await feed(daemon, clock)
        return daemon

    yield make
    for daemon in started:
        await daemon.stop()


async def fetch(daemon: Daemon, path: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{daemon.bound_port}{path}"
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()

"""Fixtures for the web tests.

`serving_daemon` / `daemon`: a daemon serving its HTTP face on a loopback port, over a real SQLite file
holding some results.

`build`: a daemon with three days of history, fed through its real probe path (`on_result`) under a
FakeClock. checkout depends on pay and cat: `availability` (99% over 7d) and `monthly` (latency <= 300ms,
99%, the calendar month in Europe/Berlin); partner depends on far. pay is down for one hour (30h in), a
one-off maintenance covers cat and checkout for two hours (50h in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult


@asynccontextmanager
async def serving_daemon(db: Path, *, rounds: int = 3, http: str = "{}") -> AsyncIterator[Daemon]:
    """The daemon (no scheduler) after `rounds` probes of an endpoint that is up and one that is down;
    `http` is its `server.http` (YAML)."""

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    target = TestServer(app, host="127.0.0.1")
    await target.start_server()
    try:
        async with _daemon(db, target.port, rounds, http) as daemon:
            yield daemon
    finally:
        await target.close()


@asynccontextmanager
async def _daemon(db: Path, port: int, rounds: int, http: str) -> AsyncIterator[Daemon]:
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{db}", http: {http}}}
endpoints:
  - {{name: up, kind: http, url: "http://127.0.0.1:{port}/ok"}}
  - {{name: down, kind: http, url: "http://127.0.0.1:{port}/fail"}}
consumers:
  - name: shop
    endpoints: [up, down]
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
"""
    )
    daemon = Daemon(config)
    await daemon.start(schedule=False)
    try:
        for _ in range(rounds):
            await daemon.probe_all_once()
        await daemon.store.flush()
        yield daemon
    finally:
        await daemon.stop()


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    async with serving_daemon(tmp_path / "web.db") as d:
        yield d


T0 = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()
HOURS = 72
STEP = 600.0  # one probe per endpoint every 10 minutes
OUTAGE = (T0 + 30 * 3600, T0 + 31 * 3600)
MAINTENANCE = (T0 + 50 * 3600, T0 + 52 * 3600)


def config_text(
    tmp_path: Path, *, auth: str = "", checkout_access: str = "", partner_access: str = "", checkout_slos: str = ""
) -> str:
    """`checkout_slos`: more of checkout's SLOs (YAML list items, indented 6), e.g. `JOURNEY`."""
    start = dt.datetime.fromtimestamp(MAINTENANCE[0], dt.UTC).isoformat()
    end = dt.datetime.fromtimestamp(MAINTENANCE[1], dt.UTC).isoformat()
    return f"""
server:
  listen: "127.0.0.1:0"
  database: "{tmp_path / "pages.db"}"
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
{checkout_slos}
  - name: partner
    endpoints: [far]
{partner_access}
    slos:
      - {{name: availability, sli: availability, objective: 99, window: 30d}}
maintenance:
  - {{name: db-migration, consumers: [checkout], endpoints: [cat], start: "{start}", end: "{end}"}}
"""


JOURNEY = """\
      - name: journey
        description: pay, then the partner's confirmation
        objective: 98
        window: 7d
        composite: {method: serial, members: [{slo: availability}, {slo: partner/availability}]}"""


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
    daemon._slo.refresh()  # the snapshot exporting the counters just saved (slowatch/slo/service.py)


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

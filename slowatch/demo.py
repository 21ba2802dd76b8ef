"""`slowatch demo`: a small local platform with realistic, partly flaky services, probed by the daemon.

Everything listens on 127.0.0.1, so the demo works without internet access:

    /payments/healthz    healthy, 10-40 ms, JSON {"status": "up"}
    /catalog/products    flaky: about 8% of answers are 503, 30-250 ms
    /search/query        slow tail: about 20% of answers take 300-900 ms
    /inventory/healthz   down (500) for 45 s of every 3 minutes
    /auth/healthz        JSON status "degraded" about 10% of the time
    TCP port+25          an SMTP-like banner service ("220 demo.slowatch ESMTP ready")
    POST /demo-slack/X   a stand-in for Slack incoming webhooks: the demo prints what alerts arrive
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from slowatch.config.schema import Config
from slowatch.daemon import Daemon
from slowatch.models import ProbeResult
from slowatch.slo.display import row_budget_text

logger = logging.getLogger(__name__)


SLACK: web.AppKey[list[tuple[str, str]]] = web.AppKey("slack", list)


def make_platform(rng: random.Random, now: Callable[[], float] = time.monotonic) -> web.Application:
    t0 = now()

    async def slack(request: web.Request) -> web.Response:
        doc = await request.json()
        request.app[SLACK].append((request.match_info["channel"], str(doc.get("text", ""))))
        return web.Response(text="ok")

    async def payments(request: web.Request) -> web.Response:
        await asyncio.sleep(rng.uniform(0.01, 0.04))
        return web.json_response({"status": "up", "service": "payments"})

    async def catalog(request: web.Request) -> web.Response:
        await asyncio.sleep(rng.uniform(0.03, 0.25))
        if rng.random() < 0.08:
            return web.json_response({"error": "upstream unavailable"}, status=503)
        return web.json_response({"products": [{"id": 1, "name": "socks"}]})

    async def search(request: web.Request) -> web.Response:
        slow = rng.random() < 0.2
        await asyncio.sleep(rng.uniform(0.3, 0.9) if slow else rng.uniform(0.02, 0.12))
        return web.json_response({"hits": 3})

    async def inventory(request: web.Request) -> web.Response:
        if (now() - t0) % 180 < 45:
            return web.Response(status=500, text="database connection pool exhausted")
        return web.json_response({"status": "up"})

    async def auth(request: web.Request) -> web.Response:
        status = "degraded" if rng.random() < 0.1 else "up"
        return web.json_response({"status": status})

    app = web.Application()
    app[SLACK] = []
    app.router.add_post("/demo-slack/{channel}", slack)
    app.router.add_get("/payments/healthz", payments)
    app.router.add_get("/catalog/products", catalog)
    app.router.add_get("/search/query", search)
    app.router.add_get("/inventory/healthz", inventory)
    app.router.add_get("/auth/healthz", auth)
    return app


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(b"220 demo.slowatch ESMTP ready\r\n")
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.read(1024), timeout=2.0)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def render_table(daemon: Daemon, counts: dict[str, Counter[str]]) -> str:
    """The live view the demo prints: one line per endpoint, with its success ratio so far."""
    lines = [f"{'endpoint':24} {'last':20} {'time':>8} {'ok/total':>9}  message"]
    for ep in daemon.config.endpoints:
        r = daemon.latest.get(ep.name)
        if r is None:
            lines.append(f"{ep.name:24} {'(waiting)':20}")
            continue
        c = counts.setdefault(ep.name, Counter())
        ratio = f"{c['ok']}/{c['total']}"
        lines.append(
            f"{ep.name:24} {r.outcome.value:20} {r.duration * 1000:7.0f}ms {ratio:>9}  {r.message[:60]}"
        )
    for row in daemon.slo_view():
        text = "budget left " + row_budget_text(row)
        if row.get("state") == "too_few_events":
            text += " (no alerts until then)"
        lines.append(f"  SLO {row.get('consumer')}/{row.get('slo')}: {text}")
    for alert in daemon.alerts_view():
        quiet = " (suppressed: silence or maintenance)" if alert.get("suppressed") else ""
        lines.append(f"  ALERT {str(alert.get('severity')).upper()}: {alert.get('title')}{quiet}")
    return "\n".join(lines)


async def run_demo(
    config: Config,
    *,
    config_path: str | Path | None,
    port: int = 8900,
    banner_port: int | None = None,
    write: Callable[[str], None] = print,
    duration: float | None = None,
    refresh: float = 5.0,
) -> int:
    """Start the demo platform, then the daemon; print a live table until Ctrl-C (or `duration`)."""
    platform = make_platform(random.Random())
    runner = web.AppRunner(platform, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    banner = await asyncio.start_server(_banner, "127.0.0.1", port + 25 if banner_port is None else banner_port)
    counts: dict[str, Counter[str]] = {}

    def count(result: ProbeResult) -> None:
        c = counts.setdefault(result.endpoint, Counter())
        c["total"] += 1
        c["ok"] += int(result.ok)

    daemon = Daemon(config, config_path=config_path, listeners=[count])
    await daemon.start()
    daemon.install_signal_handlers()
    server = config.server
    write(
        f"slowatch demo: platform on http://127.0.0.1:{port}, status page http://{server.host}:{daemon.bound_port}/,"
        f" metrics http://{server.host}:{daemon.bound_port}/metrics  (Ctrl-C to stop)"
    )
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while deadline is None or time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(daemon.stopped(), timeout=refresh)
                break
            write("\n" + time.strftime("%H:%M:%S ") + render_table(daemon, counts))
            while platform[SLACK]:
                channel, text = platform[SLACK].pop(0)
                write(f"  -> slack #{channel}: {text[:160]}")
    finally:
        await daemon.stop()
        banner.close()
        await banner.wait_closed()
        await runner.cleanup()
    return 0


__all__ = ["make_platform", "render_table", "run_demo"]

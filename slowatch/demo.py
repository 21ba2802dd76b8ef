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
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web

from slowatch.cli_flags import override
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
        lines.append(f"{ep.name:24} {r.outcome.value:20} {r.duration * 1000:7.0f}ms {ratio:>9}  {r.message[:60]}")
    for row in daemon.slo_view():
        text = "budget left " + row_budget_text(row)
        if row.get("state") == "too_few_events":
            text = row_budget_text(row) + " (no burn-rate alerts until then)"
        journey = f" ({row.get('measures')})" if row.get("sli_kind") == "composite" else ""
        lines.append(f"  SLO {row.get('consumer')}/{row.get('slo')}{journey}: {text}")
    for alert in daemon.alerts_view():
        quiet = " (suppressed: silence or maintenance)" if alert.get("suppressed") else ""
        lines.append(f"  ALERT {str(alert.get('severity')).upper()}: {alert.get('title')}{quiet}")
    return "\n".join(lines)


DEMO_PORT = 8900
"""The platform's port when free (then the shipped config's defaults need no moving); else any free port."""


def demo_env(port: int, smtp_port: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the demo loads its config with: the variables of the shipped config/slowatch.yaml
    point at the ports the platform got (DEMO_HOST, DEMO_SMTP_PORT), and so do its Slack webhooks
    unless ONCALL_SLACK_WEBHOOK / PLATFORM_SLACK_WEBHOOK are set."""
    env = dict(environ)
    env["DEMO_HOST"] = f"127.0.0.1:{port}"
    env["DEMO_SMTP_PORT"] = str(smtp_port)
    for var, channel in (("ONCALL_SLACK_WEBHOOK", "oncall"), ("PLATFORM_SLACK_WEBHOOK", "platform-feed")):
        if not env.get(var):
            env[var] = f"http://127.0.0.1:{port}/demo-slack/{channel}"
    return env


def bind_local(port: int | None, preferred: int) -> socket.socket:
    """A socket bound on 127.0.0.1: to `port` when given (taken is an error), else to `preferred` if free,
    else to a port the OS picks."""
    candidates = [port] if port is not None else [preferred, 0]
    for candidate in candidates:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError as exc:
            sock.close()
            if candidate == candidates[-1]:
                raise OSError(exc.errno, f"cannot listen on 127.0.0.1:{candidate}: {exc.strerror}") from None
            continue
        return sock
    raise AssertionError("unreachable")


def _port_free(host: str, port: int) -> bool:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError:
        return False
    return True


async def run_demo(
    load_config: Callable[[Mapping[str, str]], Config],
    *,
    config_path: str | Path | None,
    port: int | None = None,
    banner_port: int | None = None,
    listen: str | None = None,
    write: Callable[[str], None] = print,
    duration: float | None = None,
    refresh: float = 5.0,
) -> int:
    """Start the demo platform, then the daemon; print a live table until Ctrl-C (or `duration`).

    The platform takes `port` (default: DEMO_PORT if free, else any free port) and the SMTP-like service
    `banner_port` (default: the platform's + 25 if free, else any); `load_config(env)` loads the config
    with `demo_env`, so its targets follow. The daemon listens on `listen` when given, else on the
    config's `server.listen` if free, else on a free port. Raises ConfigError from `load_config`."""
    platform_sock = bind_local(port, DEMO_PORT)
    platform_port = platform_sock.getsockname()[1]
    try:
        banner_sock = bind_local(banner_port, platform_port + 25)
    except OSError:
        platform_sock.close()
        raise
    smtp_port = banner_sock.getsockname()[1]
    platform = make_platform(random.Random())
    runner = web.AppRunner(platform, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.SockSite(runner, platform_sock).start()
        banner = await asyncio.start_server(_banner, sock=banner_sock)
        try:
            env = demo_env(platform_port, smtp_port, os.environ)
            config = _listening(load_config(env), listen)
            chosen = config.server.listen

            def reload(_path: Path) -> Config:  # same ports on reload: the platform does not move
                return _listening(load_config(env), chosen)

            where = f"127.0.0.1:{platform_port}"
            counts: dict[str, Counter[str]] = {}

            def count(result: ProbeResult) -> None:
                c = counts.setdefault(result.endpoint, Counter())
                c["total"] += 1
                c["ok"] += int(result.ok)

            daemon = Daemon(config, config_path=config_path, listeners=[count], load=reload)
            return await _watch(daemon, counts, platform[SLACK], where, smtp_port, write, duration, refresh)
        finally:
            banner.close()
            await banner.wait_closed()
    finally:
        await runner.cleanup()
        banner_sock.close()  # no-ops when the servers took them (and closed them)
        platform_sock.close()


def _listening(config: Config, listen: str | None) -> Config:
    """`config` with `server.listen` set to `listen`, or moved to a free port if its own is taken."""
    server = config.server
    if listen is None:
        if server.port == 0 or _port_free(server.host, server.port):
            return config
        listen = server.listen.rpartition(":")[0] + ":0"
    return override(config, listen, None, None)


async def _watch(
    daemon: Daemon,
    counts: dict[str, Counter[str]],
    slack: list[tuple[str, str]],
    platform: str,
    smtp_port: int,
    write: Callable[[str], None],
    duration: float | None,
    refresh: float,
) -> int:
    await daemon.start()  # (a start that fails stops what it started: stopping again would fail)
    try:
        daemon.install_signal_handlers()
        web_at = f"http://{daemon.config.server.host}:{daemon.bound_port}"
        write(
            f"slowatch demo: platform on http://{platform} (SMTP-like service on port {smtp_port}),"
            f" status page {web_at}/, metrics {web_at}/metrics  (Ctrl-C to stop)"
        )
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                wait = refresh if deadline is None else max(0.0, min(refresh, deadline - time.monotonic()))
                await asyncio.wait_for(daemon.stopped(), timeout=wait)
                break
            write("\n" + time.strftime("%H:%M:%S ") + render_table(daemon, counts))
            while slack:
                channel, text = slack.pop(0)
                write(f"  -> slack #{channel}: {text[:160]}")
    finally:
        await daemon.stop()
    return 0


__all__ = ["make_platform", "render_table", "run_demo"]

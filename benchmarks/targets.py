"""A probe-target server process for the benchmarks (loopback only, bounded lifetime).

    python benchmarks/targets.py --ports 4 --slow-ms 200 --lifetime 600

Binds `--ports` listening sockets on 127.0.0.1 (ephemeral ports, so many fresh connections per
second do not exhaust one destination's TIME_WAIT space) and prints one line `ports P1 P2 ...`
on stdout once they accept. Routes, any suffix (many endpoints share a port by path):

    /fast/<i>  -> 200 "ok"
    /slow/<i>  -> 200 "ok" after --slow-ms
    /fail/<i>  -> 500 "boom"

Exits by itself after `--lifetime` seconds, or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from aiohttp import web


def make_app(slow: float) -> web.Application:
    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow_handler(request: web.Request) -> web.Response:
        await asyncio.sleep(slow)
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/fast/{i}", fast)
    app.router.add_get("/slow/{i}", slow_handler)
    app.router.add_get("/fail/{i}", fail)
    return app


async def serve(n_ports: int, slow: float, lifetime: float) -> None:
    runner = web.AppRunner(make_app(slow), access_log=None, handle_signals=False)
    await runner.setup()
    ports: list[int] = []
    for _ in range(n_ports):
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        ports.append(int(sockets[0].getsockname()[1]))
    print("ports " + " ".join(map(str, ports)), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), lifetime)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=4)
    parser.add_argument("--slow-ms", type=float, default=200.0)
    parser.add_argument("--lifetime", type=float, default=600.0, help="exit after this many seconds")
    args = parser.parse_args()
    asyncio.run(serve(args.ports, args.slow_ms / 1000, args.lifetime))
    sys.exit(0)


if __name__ == "__main__":
    main()

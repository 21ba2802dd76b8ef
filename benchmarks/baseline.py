"""The baseline: a bare aiohttp loop probing the same URLs at the same rate as the daemon.

    python benchmarks/baseline.py --urls urls.txt --interval 10 --duration 30 [--concurrency 256]

Every URL is fetched once per `--interval`, first runs spread over the interval (like the daemon's
phase offsets), with a fresh connection per probe (`force_close=True`, as an uptime probe must),
a global concurrency bound, a per-probe timeout and the body read. No scheduler, no storage, no
metrics: the least any Python prober must do. Prints one JSON line: probes completed, failures and
CPU seconds (this process's own rusage) inside the measurement window, which starts after
`--warmup` seconds. Exits by itself after warmup + duration (+ at most `--timeout` to drain).

`--mode` swaps in more of slowatch's own probe path, to split the daemon's cost per probe:

    bare            aiohttp ClientSession.get + read (the baseline)
    bare-trace      + slowatch's ProbeConnector (phase timings) with a PhaseRecorder
    slowatch-http   slowatch.probes.http.probe(endpoint, ctx) called directly
    slowatch-probe  slowatch.probes.run_probe (adds probe_once's asyncio.wait_for safety net)

`--uvloop` runs the same loop on uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

MODES = ("bare", "bare-trace", "slowatch-http", "slowatch-probe")


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def make_prober(mode: str, urls: list[str], interval: float, timeout: float, concurrency: int, keepalive: bool
                ) -> tuple[Callable[[str], Awaitable[bool]], aiohttp.ClientSession]:  # fmt: skip
    """Returns probe(url) -> ok, and the session to close."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    if mode == "bare":
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=not keepalive)
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

        async def bare(url: str) -> bool:
            try:
                async with session.get(url, timeout=client_timeout) as resp:
                    await resp.read()
                    return resp.status == 200
            except (aiohttp.ClientError, OSError, TimeoutError):
                return False

        return bare, session

    from slowatch.clock import SystemClock
    from slowatch.probes import ProbeContext, make_session, run_probe
    from slowatch.probes import http as http_probe
    from slowatch.probes.tracing import PhaseRecorder, recording

    session = make_session(limit=concurrency)  # ProbeConnector (phase timings), force_close
    clock = SystemClock()
    if mode == "bare-trace":

        async def traced(url: str) -> bool:
            try:
                with recording(PhaseRecorder(clock)):
                    async with session.get(url, timeout=client_timeout) as resp:
                        await resp.read()
                        return resp.status == 200
            except (aiohttp.ClientError, OSError, TimeoutError):
                return False

        return traced, session

    from slowatch.config.schema import Config

    config = Config.model_validate(
        {
            "endpoints": [
                {"name": f"b{i}", "kind": "http", "url": u, "interval": f"{interval}s", "timeout": f"{timeout}s"}
                for i, u in enumerate(urls)
            ]
        }
    )
    by_url: dict[str, Any] = {ep.url: ep for ep in config.endpoints}  # type: ignore[union-attr]
    ctx = ProbeContext(session=session, clock=clock)

    if mode == "slowatch-http":

        async def direct(url: str) -> bool:
            return (await http_probe.probe(by_url[url], ctx)).ok

        return direct, session

    async def full(url: str) -> bool:
        return (await run_probe(by_url[url], ctx, lambda r: None)).ok

    return full, session


async def run(urls: list[str], interval: float, duration: float, warmup: float, concurrency: int,
              timeout: float, tick: float, keepalive: bool = False, mode: str = "bare") -> dict[str, Any]:  # fmt: skip
    slots = asyncio.Semaphore(concurrency)
    counts = {"probes": 0, "failures": 0}
    window = [0.0, 0.0]  # monotonic start/end of the measurement window
    tasks: set[asyncio.Task[None]] = set()
    prober, session = make_prober(mode, urls, interval, timeout, concurrency, keepalive)

    async def probe(url: str) -> None:
        async with slots:
            ok = await prober(url)
        if window[0] <= time.monotonic() < window[1]:
            counts["probes"] += 1
            counts["failures"] += not ok

    async with session:
        # A stable phase per URL in [0, interval), then every interval.
        phased = sorted(((zlib.crc32(u.encode()) / 2**32) * interval, u) for u in urls)
        t0 = time.monotonic()
        window[0], window[1] = t0 + warmup, t0 + warmup + duration
        cpu = [0.0, 0.0]
        cpu_marked = False
        idx, cycle = 0, 0
        n = len(phased)
        while True:
            now = time.monotonic()
            if not cpu_marked and now >= window[0]:
                cpu[0], cpu_marked = cpu_seconds(), True
            if now >= window[1]:
                cpu[1] = cpu_seconds()
                break
            while n:
                due = t0 + cycle * interval + phased[idx][0]
                if due > now:
                    break
                task = asyncio.ensure_future(probe(phased[idx][1]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                idx += 1
                if idx == n:
                    idx, cycle = 0, cycle + 1
            await asyncio.sleep(tick)
        if tasks:
            await asyncio.wait(list(tasks), timeout=timeout + 1.0)
    return {
        "mode": mode,
        "probes": counts["probes"],
        "failures": counts["failures"],
        "cpu_s": cpu[1] - cpu[0],
        "window_s": duration,
        "scheduled_per_s": len(urls) / interval,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", required=True, help="file with one URL per line")
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--tick", type=float, default=0.005, help="pacer resolution (s)")
    parser.add_argument("--mode", choices=MODES, default="bare")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--keepalive", action="store_true", help="reuse connections (to drive an exporter)")
    args = parser.parse_args()
    with open(args.urls) as f:
        urls = [line.strip() for line in f if line.strip()]
    main_coro = run(
        urls, args.interval, args.duration, args.warmup, args.concurrency, args.timeout, args.tick,
        args.keepalive, args.mode,
    )  # fmt: skip
    if args.uvloop:
        import uvloop

        out = uvloop.run(main_coro)
    else:
        out = asyncio.run(main_coro)
    out["uvloop"] = args.uvloop
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

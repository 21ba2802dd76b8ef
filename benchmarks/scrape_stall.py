"""/metrics under load: scrape time, event-loop stalls and CPU per scrape, for several /metrics variants.

  .venv/bin/python benchmarks/scrape_stall.py [--endpoints 10000] [--no-histograms] [--phases] [--scrapes 5]
      [--src DIR]  [--variants app,thread]  [--json FILE]

Each variant runs in a fresh child process that builds the metrics as the daemon does (`ProbeMetrics` over
N HTTP endpoints, two results each, `SelfMetrics`, and an SLO-sized collector: 600 SLOs x 9 families
through prometheus-client), then `gc.freeze()` and `gc.set_threshold(50_000, 20, 100)` like `Daemon.start`,
and serves them with the real aiohttp app (`slowatch.web.app.make_app`). On its loop run:
  * busy work: every 1 ms tick, `--busy-ms` of pure-Python spinning, `--syscalls` send/recv pairs on a
    socketpair (each releases the GIL and must win it back, as the daemon's socket I/O does: this is where a
    GIL-holding render thread hurts the loop), plus `--observes` `ProbeMetrics.observe` calls (8,000/s:
    ~80 % of 10,000 endpoints have a new result at each scrape, as at 10,000 @ 10 s scraped every 15 s);
  * a lag sampler: `await asyncio.sleep(0.001)` in a loop, recording how late each wake-up is.
A quiet window (no scrapes) gives the baseline lag and CPU rate; then a scraper *process* (so that reading
20 MB never runs on the measured loop) GETs /metrics `--scrapes` times, one every `--every` s, with
Prometheus's own `Accept` and `Accept-Encoding: gzip` headers, and checks each body (gunzip, `# EOF`).
Printed per variant: scrape wall time (min/median/max), the worst loop stall during scrapes, lag p99 in
both windows, CPU-s per scrape (3 more scrapes once the spinning has stopped, observes going on: the
process's CPU minus the observes' own rate, / 3; and under load, the scrape window's CPU minus the quiet
window's rate, which is muddied by the busy task doing less while the loop is stalled), max RSS.

Variants: `app` is whatever `make_app`'s /metrics handler does in the imported tree; `thread` is the
pre-streaming handler, `asyncio.to_thread(render_response, ...)` and one `web.Response`; `gzip-offload`
streams like `app` but deflates in a worker thread (`Scrape(offload=True)`). `--src DIR` adds
`before:app`, the app of another tree (e.g. `git archive HEAD slowatch | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SCRAPER = r"""
import gzip, http.client, json, sys, time
port, n, every = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
for i in range(n):
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics", headers={"Accept": sys.argv[4], "Accept-Encoding": "gzip"})
    r = c.getresponse()
    first = time.monotonic()
    body = r.read()
    t1 = time.monotonic()
    c.close()
    text = gzip.decompress(body) if r.getheader("Content-Encoding") == "gzip" else body
    ok = r.status == 200 and text.endswith(b"# EOF\n") and text.count(b"# EOF") == 1
    print(json.dumps({"t0": t0, "t1": t1, "first_byte": first - t0, "gzip": len(body), "text": len(text), "ok": ok}))
    sys.stdout.flush()
    time.sleep(max(0.0, every - (time.monotonic() - t0)))
"""


@dataclass
class View:
    registry: Any
    config: Any = None  # read by the auth middleware: a Config without server.auth


def build(n: int, histograms: bool, phases: bool = False) -> tuple[Any, Any, list[Any]]:
    from prometheus_client import CollectorRegistry, disable_created_metrics
    from prometheus_client.core import GaugeMetricFamily

    from slowatch.config.schema import Config, MetricsConfig
    from slowatch.metrics import ProbeMetrics, SelfMetrics
    from slowatch.models import Outcome, ProbeResult

    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(histograms=histograms, **({"phases": True} if phases else {})))
    SelfMetrics(registry, pending_writes=lambda: 0.0, store_healthy=lambda: 1.0, in_flight=lambda: 12.0,
                jobs=lambda: float(n), store_write_errors=lambda: 0.0, store_dropped=lambda: 0.0)  # fmt: skip

    class SloSized:  # the shape of SloCollector at 600 SLOs: 9 families, ~9,000 samples
        def collect(self) -> Any:
            for f in range(9):
                fam = GaugeMetricFamily(f"bench_slo_family_{f}", "SLO-sized family", labels=["consumer", "slo", "w"])
                for i in range(600 if f % 2 else 1200):
                    fam.add_metric([f"consumer-{i // 2}", f"slo-{i % 2}", f"{f}h"], i / 7.0)
                yield fam

    registry.register(SloSized())  # type: ignore[arg-type]
    pm.set_endpoints(Config.model_validate({"endpoints": [
        {"name": f"ep-{i:06d}", "kind": "http", "url": "http://127.0.0.1/", "interval": "10s"} for i in range(n)
    ]}).endpoints)  # fmt: skip
    now = time.time()
    results = []
    for i in range(n):
        ok = i % 25 != 0
        results.append(ProbeResult(
            endpoint=f"ep-{i:06d}", kind="http", outcome=Outcome.SUCCESS if ok else Outcome.HTTP_STATUS,
            started_at=now + i * 0.001, duration=0.0005 + (i * 7919) % 4000 / 1e6, status_code=200 if ok else 500,
            phases={"connect": 1e-4 + i % 400 / 1e6, "processing": 1e-4 + i % 1900 / 1e6, "transfer": 2e-5},
        ))  # fmt: skip
    for r in results + results:
        pm.observe(r)
    return registry, pm, results


async def serve(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp import web

    from slowatch.config.schema import Config
    from slowatch.metrics import render_response
    from slowatch.web.app import make_app

    registry, pm, results = build(args.endpoints, not args.no_histograms, args.phases)
    app = make_app(View(registry, Config.model_validate({})))  # type: ignore[arg-type]
    if args.variant == "thread":

        async def threaded(request: web.Request) -> web.Response:
            body, headers = await asyncio.to_thread(render_response, registry, request.headers.get("Accept", ""),
                                                    request.headers.get("Accept-Encoding", ""))  # fmt: skip
            return web.Response(body=body, headers=headers)

        app = web.Application()
        app.router.add_get("/metrics", threaded)
    elif args.variant == "gzip-offload":
        from slowatch.metrics import Scrape

        async def offloaded(request: web.Request) -> web.StreamResponse:
            h = request.headers
            scrape = Scrape(registry, h.get("Accept", ""), h.get("Accept-Encoding", ""), offload=True)
            response = web.StreamResponse(headers=scrape.headers)
            await response.prepare(request)
            async for chunk in scrape.body():
                await response.write(chunk)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_get("/metrics", offloaded)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    lags: list[tuple[float, float]] = []
    stop = False

    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)

    async def busy(light: bool = False) -> None:
        i = 0
        while not stop:
            t = time.perf_counter()
            while not light and time.perf_counter() - t < args.busy_ms / 1e3:
                pass
            for _ in range(0 if light else args.syscalls):  # each releases and retakes the GIL, as socket I/O does
                left.send(b"x")
                right.recv(16)
            for _ in range(args.observes):
                pm.observe(results[i % len(results)])
                i += 1
            await asyncio.sleep(0.001)

    async def sampler() -> None:
        while not stop:
            t = time.monotonic()
            await asyncio.sleep(0.001)
            now = time.monotonic()
            lags.append((now, now - t - 0.001))

    tasks = [asyncio.create_task(busy()), asyncio.create_task(sampler())]
    await asyncio.sleep(1.0)  # settle
    q0, c0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(args.quiet)
    q1, c1 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SCRAPER, str(port), str(args.scrapes),
                                                str(args.every), ACCEPT, stdout=asyncio.subprocess.PIPE)  # fmt: skip
    out, _ = await proc.communicate()
    s1, c2 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    stop = True
    await asyncio.gather(*tasks)
    stop = False  # CPU per scrape without the spinning: only the observes go on (their own rate is subtracted)
    task = asyncio.create_task(busy(light=True))
    i0, c3 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(2.0)
    i1, c4 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    idle = await asyncio.create_subprocess_exec(sys.executable, "-c", SCRAPER, str(port), "3", "1.0", ACCEPT,
                                                stdout=asyncio.subprocess.PIPE)  # fmt: skip
    await idle.communicate()
    i2, c5 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    stop = True
    await task
    await runner.cleanup()
    left.close()
    right.close()
    scrapes = [json.loads(line) for line in out.decode().splitlines()]
    cpu = lambda a, b: (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)  # noqa: E731
    quiet_rate = cpu(c0, c1) / (q1 - q0)
    quiet = sorted(lag for t, lag in lags if q0 <= t < q1)
    during = sorted(lag for t, lag in lags if q1 <= t <= s1)
    stalls = [max((lag for t, lag in lags if s["t0"] <= t <= s["t1"] + 0.05), default=0.0) for s in scrapes]
    return {
        "variant": args.label or args.variant, "endpoints": args.endpoints, "histograms": not args.no_histograms,
        "phases": args.phases,
        "scrape_s": [round(s["t1"] - s["t0"], 3) for s in scrapes], "ok": all(s["ok"] for s in scrapes),
        "first_byte_s": [round(s["first_byte"], 3) for s in scrapes],
        "text_mb": scrapes[-1]["text"] / 1e6, "gzip_mb": scrapes[-1]["gzip"] / 1e6,
        "stall_max_per_scrape_ms": [round(s * 1e3, 1) for s in stalls],
        "lag_p99_quiet_ms": quiet[int(0.99 * len(quiet))] * 1e3, "lag_max_quiet_ms": quiet[-1] * 1e3,
        "lag_p99_scraping_ms": during[int(0.99 * len(during))] * 1e3, "lag_max_scraping_ms": during[-1] * 1e3,
        "cpu_per_scrape_s": (cpu(c1, c2) - quiet_rate * (s1 - q1)) / len(scrapes),
        "cpu_per_idle_scrape_s": (cpu(c4, c5) - cpu(c3, c4) / (i1 - i0) * (i2 - i1)) / 3,
        "loop_busy_cores": quiet_rate, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    }  # fmt: skip


def child(variant: str, label: str, src: str | None, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--variant", variant, "--label", label,
           "--endpoints", str(args.endpoints), "--scrapes", str(args.scrapes), "--every", str(args.every),
           "--quiet", str(args.quiet), "--busy-ms", str(args.busy_ms), "--syscalls", str(args.syscalls),
           "--observes", str(args.observes)]  # fmt: skip
    if args.no_histograms:
        cmd.append("--no-histograms")
    if args.phases:
        cmd.append("--phases")
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())} if src else None
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def show(r: dict[str, Any]) -> None:
    s = sorted(r["scrape_s"])
    print(f"{r['variant']:12} scrape {s[0]:.3f}/{statistics.median(s):.3f}/{s[-1]:.3f} s (min/median/max), "
          f"first byte median {statistics.median(r['first_byte_s']):.3f} s, {r['text_mb']:.1f} MB ({r['gzip_mb']:.2f} "
          f"gzip), ok={r['ok']}\n{'':12} worst stall per scrape {r['stall_max_per_scrape_ms']} ms; lag p99/max "
          f"quiet {r['lag_p99_quiet_ms']:.1f}/{r['lag_max_quiet_ms']:.1f} ms, scraping "
          f"{r['lag_p99_scraping_ms']:.1f}/{r['lag_max_scraping_ms']:.1f} ms; CPU per scrape "
          f"{r['cpu_per_idle_scrape_s']:.3f} s without spinning ({r['cpu_per_scrape_s']:.3f} s under load, "
          f"loop busy {r['loop_busy_cores']:.2f} cores); max RSS {r['maxrss_mb']:.0f} MB")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=10_000)
    p.add_argument("--no-histograms", action="store_true", help="server.metrics.histograms: false (the default)")
    p.add_argument("--phases", action="store_true", help="server.metrics.phases: true (trees before it: always on)")
    p.add_argument("--scrapes", type=int, default=5)
    p.add_argument("--every", type=float, default=2.0, help="seconds between scrape starts")
    p.add_argument("--quiet", type=float, default=4.0, help="seconds of load without scrapes (baseline)")
    p.add_argument("--busy-ms", type=float, default=0.4, help="spinning per 1 ms tick on the loop")
    p.add_argument("--syscalls", type=int, default=10, help="socket send+recv pairs per tick (GIL releases)")
    p.add_argument(
        "--observes",
        type=int,
        default=8,
        help="results observed per tick (8: ~80%% of 10,000 "
        "endpoints dirty at each scrape, as with 10,000 endpoints every 10 s scraped every 15 s)",
    )
    p.add_argument("--variants", default="app,thread,gzip-offload")
    p.add_argument("--src", help="also run the app of the slowatch package in this directory (as before:app)")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="app", help=argparse.SUPPRESS)
    p.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(serve(args))))
        return
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()[0]:.2f}, "
          f"{args.endpoints} endpoints, histograms {'off' if args.no_histograms else 'on'}, "
          f"phases {'on' if args.phases else 'off'}")  # fmt: skip
    runs = [("app", "before:app", args.src)] if args.src else []
    runs += [(v, v, None) for v in args.variants.split(",") if v]
    results = []
    for variant, label, src in runs:
        results.append(child(variant, label, src, args))
        show(results[-1])
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""CPU per probe of one prober worker process (scheduler + probe + batching) next to the bare aiohttp loop.

    .venv/bin/python benchmarks/worker_cpu.py --endpoints 2000 --interval 2 --duration 20 [--loop asyncio]

Starts loopback targets (benchmarks/targets.py), then, one after the other on the same URLs and rate:
`baseline.py --mode bare` (asyncio and uvloop) and a real `ProberPool` with one worker whose results
are only counted (no store, SLO or metrics: the daemon side of the wire is measured separately as the
receiving process's CPU). Prints CPU-s per 1,000 probes of each and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import measure as m  # noqa: E402
from run import PY, Children, start_targets  # noqa: E402

from slowatch.config.endpoints import Endpoint, HttpEndpoint  # noqa: E402
from slowatch.models import ProbeResult  # noqa: E402
from slowatch.workers.pool import ProberPool  # noqa: E402


async def run_pool(urls: list[str], interval: float, duration: float, warmup: float, loop: str,
                   profile: str | None = None) -> dict[str, float]:  # fmt: skip
    count = [0]
    eps: list[Endpoint] = [
        HttpEndpoint(name=f"ep-{i}", kind="http", url=u, interval=interval, timeout=min(2.0, interval / 2))
        for i, u in enumerate(urls)
    ]

    def on_result(r: ProbeResult) -> None:
        count[0] += 1

    pool = ProberPool(1, on_result=on_result, observe_lag=lambda s: None, on_skipped=lambda n: None,
                      on_missed=lambda n: None, max_concurrency=256, jitter=0.0, event_loop=loop)  # fmt: skip
    await pool.start(eps)
    await asyncio.sleep(warmup)
    w = pool._workers[0]
    assert w.proc is not None
    c0, main0, n0 = m.proc_cpu(w.proc.pid), m.proc_cpu(os.getpid()), count[0]
    spy = None
    if profile:
        spy = subprocess.Popen(
            [str(Path(PY).parent / "py-spy"), "record", "--pid", str(w.proc.pid), "--duration", str(int(duration)),
             "--rate", "200", "--format", "raw", "--output", profile, "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    await asyncio.sleep(duration)
    c1, main1, n1 = m.proc_cpu(w.proc.pid), m.proc_cpu(os.getpid()), count[0]
    if spy is not None:
        spy.wait(30)
    await pool.stop(1.0)
    probes = n1 - n0
    return {"probes": probes, "worker_cpu_s": c1 - c0, "receiver_cpu_s": main1 - main0}


def bare(url_file: str, interval: float, duration: float, warmup: float, uvloop: bool) -> dict[str, float]:
    out = subprocess.run(
        [PY, str(HERE / "baseline.py"), "--urls", url_file, "--interval", str(interval), "--duration", str(duration),
         "--warmup", str(warmup), "--mode", "bare", *(["--uvloop"] if uvloop else [])],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=2000)
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"))
    p.add_argument("--profile", metavar="FILE", help="py-spy the worker into FILE (raw) and print its top frames")
    p.add_argument("--no-bare", dest="bare", action="store_false")
    args = p.parse_args()
    children = Children()
    try:
        _, ports = start_targets(children, 2, 4, 200.0, 3 * (args.duration + args.warmup) + 60)
        urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/fast/{i}" for i in range(args.endpoints)]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(urls))
        print(
            f"worker_cpu  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {args.endpoints} endpoints at "
            f"{args.interval:g} s = {args.endpoints / args.interval:.0f} probes/s; load {m.loadavg()[0]:.2f}"
        )
        per: dict[str, float] = {}
        for name, uv in (("bare asyncio", False), ("bare uvloop", True)) if args.bare else ():
            b = bare(f.name, args.interval, args.duration, args.warmup, uv)
            per[name] = 1000 * b["cpu_s"] / max(1, b["probes"])
            print(f"  {name:28} {b['probes']:7d} probes  {per[name]:.3f} CPU-s per 1,000")
        w = asyncio.run(run_pool(urls, args.interval, args.duration, args.warmup, args.loop, args.profile))
        per["worker"] = 1000 * w["worker_cpu_s"] / max(1, w["probes"])
        per["receiver"] = 1000 * w["receiver_cpu_s"] / max(1, w["probes"])
        print(f"  {'worker (' + args.loop + ')':28} {w['probes']:7d} probes  {per['worker']:.3f} CPU-s per 1,000"
              f"  (+ receiving side {per['receiver']:.3f})")  # fmt: skip
        if args.profile:
            total, top_self, top_incl = m.top_frames(Path(args.profile).read_text(), 30)
            print("  top self:", *(f"    {100 * n / total:5.1f}%  {f}" for f, n in top_self), sep="\n")
            print("  top inclusive:", *(f"    {100 * n / total:5.1f}%  {f}" for f, n in top_incl), sep="\n")
        if not args.bare:
            return 0
        print(
            f"  worker / bare asyncio {per['worker'] / per['bare asyncio']:.2f}x,"
            f" worker / bare uvloop {per['worker'] / per['bare uvloop']:.2f}x;  load {m.loadavg()[0]:.2f}"
        )
    finally:
        children.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

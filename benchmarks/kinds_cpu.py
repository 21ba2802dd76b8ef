"""CPU per probe of each probe kind next to the bare aiohttp loop, measured in one run (ratios are what count).

    .venv/bin/python benchmarks/kinds_cpu.py [--probes 2000] [--concurrency 20] [--loop uvloop|asyncio]

Targets run in another process (benchmarks/kinds_targets.py). Each kind probes its target `--probes` times,
`--concurrency` at a time, through `probe_once` on the daemon's session; the figure is this process's CPU
(all threads: grpc's poller included) per 1,000 probes. "bare" is an aiohttp GET on a fresh connection
with nothing of slowatch around it. Kinds are measured in rounds (every kind once per round, `--rounds`)
and the median per kind is printed, with its ratio to bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from slowatch import loops  # noqa: E402
from slowatch.clock import SystemClock  # noqa: E402
from slowatch.config.schema import Config  # noqa: E402
from slowatch.probes import ProbeContext, make_session, probe_once  # noqa: E402


def endpoints(http: int, https: int, grpc: int, dns: int, ca: str, udp: int) -> dict[str, Any]:
    base, tls = f"http://127.0.0.1:{http}", {"ca_file": ca}
    steps = [
        {"name": "login", "method": "POST", "url": f"{base}/login", "json": {"password": "pw"},
         "extract": {"token": {"json_path": "$.session.token"}}},
        {"name": "orders", "url": f"{base}/orders", "headers": {"Authorization": "Bearer {{steps.login.token}}"}},
    ]  # fmt: skip
    docs = {
        "http": {"kind": "http", "url": f"{base}/fast"},
        "https": {"kind": "http", "url": f"https://localhost:{https}/fast", "tls": tls},
        "tcp": {"kind": "tcp", "host": "127.0.0.1", "port": http},
        "tls": {"kind": "tls", "host": "localhost", "port": https, "ca_file": ca},
        "dns": {"kind": "dns", "query": "up.test", "nameserver": f"127.0.0.1:{dns}"},
        "udp": {"kind": "udp", "host": "127.0.0.1", "port": udp, "send": "ping\\n", "expect": {"contains": "ping"}},
        "transaction": {"kind": "transaction", "steps": steps},
        "grpc": {"kind": "grpc", "host": "127.0.0.1", "port": grpc},
    }
    if os.geteuid() == 0:
        docs["icmp"] = {"kind": "icmp", "host": "127.0.0.1", "count": 1}
    config = Config.model_validate(
        {"endpoints": [{"name": n, "interval": 10, "timeout": 5, **d} for n, d in docs.items()]}
    )
    return {ep.name: ep for ep in config.endpoints}


async def measure(one: Callable[[], Awaitable[bool]], n: int, concurrency: int) -> tuple[float, int]:
    slots = asyncio.Semaphore(concurrency)
    failures = [0]

    async def run() -> None:
        async with slots:
            if not await one():
                failures[0] += 1

    c0 = time.process_time()
    await asyncio.gather(*(run() for _ in range(n)))
    return (time.process_time() - c0) * 1000 / n, failures[0]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, str(HERE / "kinds_targets.py"), "--lifetime", "600"],
                            stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        http, https, grpc, dns = (int(x) for x in line[1:5])
        eps = endpoints(http, https, grpc, dns, line[5], int(line[6]))
        bare_url = f"http://127.0.0.1:{http}/fast"
        figures: dict[str, list[float]] = {"bare": [], **{name: [] for name in eps}}
        failed: dict[str, int] = dict.fromkeys(figures, 0)
        connector = aiohttp.TCPConnector(limit=100, force_close=True)
        async with make_session() as session, aiohttp.ClientSession(connector=connector) as bare_session:
            ctx = ProbeContext(session=session, clock=SystemClock())

            async def bare() -> bool:
                async with bare_session.get(bare_url) as r:
                    await r.read()
                    return r.status == 200

            def probe(name: str) -> Callable[[], Awaitable[bool]]:
                async def one() -> bool:
                    return (await probe_once(eps[name], ctx)).ok

                return one

            for name in figures:  # warm-up: imports, TLS contexts, grpc's threads
                await measure(bare if name == "bare" else probe(name), 50, args.concurrency)
            for _ in range(args.rounds):
                for name in figures:
                    cpu, bad = await measure(bare if name == "bare" else probe(name), args.probes, args.concurrency)
                    figures[name].append(cpu)
                    failed[name] += bad
        medians = {name: statistics.median(v) for name, v in figures.items()}
        return {
            "loop": loops.loop_name(args.loop),
            "cpu_ms_per_probe": {k: round(v, 3) for k, v in medians.items()},
            "ratio_to_bare": {k: round(v / medians["bare"], 2) for k, v in medians.items()},
            "failed": failed,
        }
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"))
    args = parser.parse_args()
    print(json.dumps(loops.run(main(args), args.loop), indent=1))

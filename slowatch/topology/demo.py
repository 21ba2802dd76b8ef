"""`scripts/cluster-demo` (`python -m slowatch.topology`): N shards x M replicas of slowatch, Debian's
Prometheus with the generated rules, two clustered Alertmanagers and a Slack stand-in, probing the demo
platform (slowatch/demo.py), all on free loopback ports. Prints the URLs and every alert the stand-in
receives; stops everything on Ctrl-C (or after `--duration`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from slowatch.demo import make_platform
from slowatch.topology.processes import find_binary, free_port
from slowatch.topology.stack import Topology, grid


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/cluster-demo", description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--config", "-c", default="config/cluster-demo.yaml", help="config every instance runs")
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--workdir", help="where logs, databases and configs go (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory at the end")
    p.add_argument("--ports", metavar="LOW-HIGH", help="take every port from LOW..HIGH-1 (default: any free one)")
    args = p.parse_args(argv)
    if not 1 <= args.shards <= 16 or not 1 <= args.replicas <= 4:
        p.error("--shards must be 1..16 and --replicas 1..4")
    if args.ports is not None:
        low, _, high = args.ports.partition("-")
        if not (low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) <= 65536):
            p.error(f"--ports must be LOW-HIGH with 1024 <= LOW < HIGH <= 65536 (got {args.ports!r})")
        args.ports = range(int(low), int(high))
    return args


async def run(args: argparse.Namespace, write: Callable[[str], None]) -> int:
    prometheus = find_binary("prometheus")
    alertmanager = find_binary("prometheus-alertmanager", "alertmanager")
    if prometheus is None or alertmanager is None:
        write("error: needs Debian's prometheus and prometheus-alertmanager (apt-get install them)")
        return 69
    config = Path(args.config)
    if not await asyncio.to_thread(config.is_file):
        write(f"error: {config}: no such config file")
        return 66
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="slowatch-cluster-"))
    port = free_port(ports=args.ports)
    runner = web.AppRunner(make_platform(random.Random()), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    topology = Topology(
        workdir, config, grid(args.shards, args.replicas), prometheus=prometheus, alertmanager=alertmanager,
        env={"DEMO_HOST": f"127.0.0.1:{port}"}, ports=args.ports,
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        write(f"starting {args.shards} shard(s) x {args.replicas} replica(s), Prometheus, 2 Alertmanagers ...")
        await topology.start()
        write(f"demo platform {'':19} http://127.0.0.1:{port}/")
        for line in topology.describe():
            write(line)
        write("Ctrl-C to stop" if args.duration is None else f"stopping after {args.duration:g}s (or Ctrl-C)")
        await _watch(topology, stop, args.duration, write)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        codes = await topology.stop()
        await runner.cleanup()
        bad = {name: code for name, code in codes.items() if code not in (0, None)}
        write("stopped" + (f"; instances that did not exit cleanly: {bad}" if bad else ""))
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif workdir.exists():
            write(f"logs and databases kept in {workdir}")
    return 0


async def _watch(topology: Topology, stop: asyncio.Event, duration: float | None, write: Callable[[str], None]) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    shown = 0
    while not stop.is_set():
        wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
        if wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        for d in topology.slack.deliveries[shown:]:
            write(time.strftime("%H:%M:%S ", time.localtime(d.at)) + "slack <- " + d.text)
        shown = len(topology.slack.deliveries)
        for name, service in topology.instances.items():
            if service.proc is not None and service.proc.returncode is not None:
                write(f"instance {name} exited {service.proc.returncode}: see {service.log_path}")
                return


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(run(args, lambda line: print(line, flush=True)))


if __name__ == "__main__":
    sys.exit(main())

"""Soak: an hour of a hostile week, compressed (loopback only, bounded, stops by itself).

    python benchmarks/soak.py --duration 300            # ~5 minutes; --duration 3600 for a real hour

The real daemon (`python -m slowatch run`, with `--probe-workers` prober processes) probes:
* healthy HTTP endpoints every second;
* hostile ones (hang, trickle, 2 GiB bodies, redirect loops, resets, garbage, early close, refused);
* flapping ones whose target goes down for `--down` s every `--period` s (phases staggered), so their
  endpoint-down alerts fire and resolve on a known schedule.

Meanwhile the config is rewritten every `--reload-every` s (the file watcher reloads it; every
third time SIGHUP instead; every fourth write is *invalid* (`interval: .nan`), which must be refused
with the old config kept and the watcher alive), and the alert receivers (a Slack stand-in and a JSON
webhook) flap: answering 200, then 500, 429 with Retry-After, resetting the connection, or hanging past
the sink's timeout, each for a few seconds.

At the end the flapping stops, both receivers become healthy, and once every flapper has resolved and
the outbox is empty the daemon is stopped with SIGTERM. Reported: fd count, threads and RSS of the daemon
and its workers at the start and the end of the window (and the peak), probes and reloads, and for each
sink the alerts **expected** (from the targets' own record of each down period), **delivered** (unique
per alert, status and start), **lost**, **duplicated** (delivered twice) and **spurious**.
Exit status 1 when anything was lost or duplicated, fds or RSS grew past `--max-growth`, or the daemon
exited unclean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soak_support import Flappers, Receiver, proc_rss, proc_tree_stats  # noqa: E402

from tests.e2e.harness import DaemonProcess, free_port, metric_value  # noqa: E402
from tests.support.hostile import HostileHttp, TcpTarget  # noqa: E402

HOSTILE = ["hang", "trickle", "huge", "huge-chunked", "loop", "reset", "garbage", "close"]


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    hostile_port: int = 0
    app_port: int = 0
    refused_port: int = field(default_factory=free_port)
    writes: int = 0
    bad_writes: int = 0
    sighups: int = 0

    def config(self, generation: int, *, bad: bool = False, final: bool = False) -> str:
        a, hp, ap = self.args, self.hostile_port, self.app_port
        lines = [
            f"server: {{database: ./soak.db, shutdown_grace: 2s, probe_workers: {a.probe_workers}"
            + (f", retention: {{pack_after: {a.pack_after}}}}}" if a.pack_after else "}"),
            "defaults: {interval: 1s, timeout: 700ms, alerts: {failure_threshold: 2, success_threshold: 2}}",
            "endpoints:",
        ]
        # generation varies what a reload changes: one endpoint's interval, and one endpoint comes and goes
        for i in range(a.healthy):
            interval = "2s" if (i == 0 and generation % 2) else "1s"
            lines.append(
                f"  - {{name: healthy-{i}, kind: http, url: 'http://127.0.0.1:{hp}/ok', interval: {interval}}}"
            )
        if generation % 3 == 1:
            lines.append(f"  - {{name: comes-and-goes, kind: http, url: 'http://127.0.0.1:{hp}/ok'}}")
        for path in HOSTILE if a.hostile else []:
            lines.append(f"  - {{name: hostile-{path}, kind: http, url: 'http://127.0.0.1:{hp}/{path}',"
                         " max_redirects: 5, alerts: {enabled: false}}")  # fmt: skip
        if a.hostile:
            lines.append(f"  - {{name: hostile-refused, kind: http, url: 'http://127.0.0.1:{self.refused_port}/',"
                         " alerts: {enabled: false}}")  # fmt: skip
            lines.append(f"  - {{name: hostile-tcp-garbage, kind: tcp, host: 127.0.0.1, port: {hp},"
                         " expect: {contains: '220 '}, alerts: {enabled: false}}")  # fmt: skip
        for i in range(a.flappers):
            lines.append(f"  - {{name: flapper-{i}, kind: http, url: 'http://127.0.0.1:{ap}/flap/{i}'}}")
        if final:
            lines.append(f"  - {{name: final-marker, kind: http, url: 'http://127.0.0.1:{hp}/ok'}}")
        if bad:
            lines.append("  - {name: broken, kind: http, url: 'http://127.0.0.1:1/', interval: .nan}")
        lines += [
            "consumers:",
            "  - name: soak",
            f"    endpoints: [{', '.join(f'healthy-{i}' for i in range(a.healthy))}]",
            "    slos: [{name: availability, sli: availability, objective: 99, window: 7d}]",
            "sinks:",
            f"  slack: {{kind: slack, webhook_url: 'http://127.0.0.1:{ap}/slack', timeout: 2s,"
            " retry_initial: 500ms, retry_max: 4s}",
            f"  hook: {{kind: webhook, url: 'http://127.0.0.1:{ap}/webhook', timeout: 2s,"
            " retry_initial: 500ms, retry_max: 4s}",
            "routes: [{match: {}, sinks: [slack, hook]}]",
            f"# generation {generation}",
        ]
        return "\n".join(lines) + "\n"


async def main(a: argparse.Namespace) -> int:
    workdir = Path(a.workdir or f"/tmp/slowatch-soak-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    hostile = await TcpTarget(HostileHttp()).start()
    flappers = Flappers(a.flappers, period=a.period, down=a.down)
    receiver = Receiver(cycle=a.sink_cycle)
    app = web.Application()
    flappers.add_routes(app)
    receiver.add_routes(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    run = Run(a, workdir, hostile_port=hostile.port, app_port=runner.addresses[0][1])
    config_path = workdir / "soak.yaml"
    config_path.write_text(run.config(0))
    daemon = DaemonProcess(config_path, workdir, env=diag_env(a, workdir))
    await daemon.start(timeout=60)
    pid = daemon.proc.pid if daemon.proc else 0
    print(f"daemon pid {pid} on {daemon.url}; workdir {workdir}; window {a.duration:.0f}s", flush=True)
    await asyncio.sleep(a.warmup)
    first = proc_tree_stats(pid)
    trace = open(a.trace, "w") if a.trace else None  # noqa: SIM115  (closed below)
    flappers.start()
    if a.sink_flap:
        receiver.start()
    peak = dict(first)
    t0 = time.monotonic()
    next_reload = t0 + a.reload_every
    next_sample = t0 + 10
    generation = 0
    while (now := time.monotonic()) < t0 + a.duration:
        if daemon.proc is None or daemon.proc.returncode is not None:
            print("daemon died:\n" + daemon.log()[-3000:], file=sys.stderr)
            return 1
        if a.reloads and now >= next_reload:
            generation += 1
            bad = a.bad_reloads and generation % 4 == 0
            run.writes += 1
            run.bad_writes += bad
            config_path.write_text(run.config(generation, bad=bad))
            if generation % 3 == 0 and not bad:
                daemon.send(signal.SIGHUP)
                run.sighups += 1
            next_reload += a.reload_every
        if now >= next_sample:
            stats = proc_tree_stats(pid)
            peak = {k: max(peak[k], stats[k]) for k in peak}
            if trace is not None:
                trace.write(json.dumps({"t": round(now - t0, 1), "procs": proc_rss(pid)}) + "\n")
                trace.flush()
            next_sample += 10
        await asyncio.sleep(0.2)
    config_path.write_text(run.config(generation + 1, final=True))  # end on a valid config, no SIGHUP
    watcher_alive = await wait_for(daemon, "/api/v1/endpoints/final-marker", 15.0)
    flappers.stop()
    receiver.stop()
    settled = await wait_settled(daemon, flappers, receiver, a.settle)
    last = proc_tree_stats(pid)
    peak = {k: max(peak[k], last[k]) for k in peak}
    if trace is not None:
        trace.write(json.dumps({"t": "end", "procs": proc_rss(pid)}) + "\n")
        trace.close()
    text = await daemon.metrics()
    reload_ok = metric_value(text, "slowatch_config_last_reload_successful")
    code = await daemon.stop()
    await runner.cleanup()
    await hostile.close()
    report = build_report(
        a, run, flappers, receiver, first, last, peak, settled, reload_ok, watcher_alive, code, workdir
    )
    print(json.dumps(report, indent=2) if a.json else format_report(report))
    return 0 if report["pass"] else 1


def diag_env(a: argparse.Namespace, workdir: Path) -> dict[str, str]:
    """`--diag SECONDS` (see soak_diag/sitecustomize.py): GC figures, optional full collections and
    tracemalloc snapshots of the daemon and its workers, in WORKDIR/diag."""
    if not a.diag:
        return {}
    out = workdir / "diag"
    out.mkdir(exist_ok=True)
    path = [str(Path(__file__).parent / "soak_diag"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        "SOAK_DIAG_DIR": str(out),
        "SOAK_DIAG_EVERY": str(a.diag),
        "SOAK_DIAG_COLLECT": a.diag_collect,
        "SOAK_DIAG_TRACEMALLOC": str(a.tracemalloc),
        "SOAK_DIAG_ROLES": a.tracemalloc_roles,
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
    }


async def wait_for(daemon: DaemonProcess, path: str, limit: float) -> bool:
    """Whether `path` answers 200 within `limit` seconds (the file watcher applied the last write)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (await daemon.get(path))[0] == 200:
            return True
        await asyncio.sleep(0.5)
    return False


async def wait_settled(daemon: DaemonProcess, flappers: Flappers, receiver: Receiver, limit: float) -> bool:
    """Every flapper's last down period resolved at both sinks and nothing pending in the outbox."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        text = await daemon.metrics()
        pending = sum(float(m.group(1)) for m in re.finditer(r"^slowatch_outbox_pending\S* (\S+)$", text, re.M))
        if pending == 0 and all(receiver.resolved_all(sink, flappers) for sink in ("slack", "webhook")):
            return True
        await asyncio.sleep(0.5)
    return False


def build_report(
    a: argparse.Namespace, run: Run, flappers: Flappers, receiver: Receiver, first: dict[str, float],
    last: dict[str, float], peak: dict[str, float], settled: bool, reload_ok: float, watcher_alive: bool, code: int,
    workdir: Path,
) -> dict[str, Any]:  # fmt: skip
    sinks = {sink: receiver.tally(sink, flappers) for sink in ("slack", "webhook")}
    growth_fds = last["fds"] - first["fds"]
    growth_rss = last["rss_mb"] / max(first["rss_mb"], 1.0) - 1.0
    ok = (
        code == 0 and settled and reload_ok == 1.0 and watcher_alive
        and all(s["lost"] == 0 and s["duplicated"] == 0 and s["spurious"] == 0 for s in sinks.values())
        and growth_fds <= a.max_fd_growth and growth_rss <= a.max_growth
    )  # fmt: skip
    return {
        "duration_s": a.duration, "probe_workers": a.probe_workers, "config_writes": run.writes,
        "invalid_config_writes": run.bad_writes, "sighups": run.sighups, "reload_ok_at_end": reload_ok,
        "watcher_alive_at_end": watcher_alive,
        "start": first, "end": last, "peak": peak, "fd_growth": growth_fds, "rss_growth": round(growth_rss, 3),
        "receiver_modes": sorted(receiver.modes_seen), "receiver_requests": receiver.requests,
        "sinks": sinks, "settled": settled, "exit_code": code, "workdir": str(workdir), "pass": ok,
    }  # fmt: skip


def format_report(r: dict[str, Any]) -> str:
    s, e, p = r["start"], r["end"], r["peak"]
    lines = [
        f"soak {r['duration_s']:.0f}s, probe_workers={r['probe_workers']}: {r['config_writes']} config writes "
        f"({r['invalid_config_writes']} invalid, {r['sighups']} SIGHUP), "
        f"reload ok at end: {r['reload_ok_at_end']:.0f}, "
        f"file watcher alive at end: {r['watcher_alive_at_end']}",
        f"fds     start {s['fds']:.0f}  end {e['fds']:.0f}  peak {p['fds']:.0f}",
        f"threads start {s['threads']:.0f}  end {e['threads']:.0f}  peak {p['threads']:.0f}",
        f"RSS MB  start {s['rss_mb']:.1f}  end {e['rss_mb']:.1f}  peak {p['rss_mb']:.1f}  "
        f"(growth {r['rss_growth']:.1%})",
        f"receiver modes {r['receiver_modes']}; requests {r['receiver_requests']}",
    ]
    for sink, t in r["sinks"].items():
        lines.append(
            f"{sink:8} expected {t['expected']}  delivered {t['delivered']}  lost {t['lost']}  "
            f"duplicated {t['duplicated']}  spurious {t['spurious']}  refused attempts {t['refused']}"
        )
    lines.append(f"settled: {r['settled']}; daemon exit code {r['exit_code']}; " + ("PASS" if r["pass"] else "FAIL"))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=300.0, help="seconds of soak (default 300)")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--healthy", type=int, default=20)
    p.add_argument("--flappers", type=int, default=2)
    p.add_argument("--period", type=float, default=30.0, help="a flapper goes down once per period")
    p.add_argument("--down", type=float, default=10.0, help="for this long")
    p.add_argument("--reload-every", type=float, default=3.0)
    p.add_argument("--no-bad-reloads", dest="bad_reloads", action="store_false")
    p.add_argument("--sink-cycle", type=float, default=7.0, help="seconds per receiver mode")
    p.add_argument("--probe-workers", type=int, default=1)
    p.add_argument("--settle", type=float, default=90.0, help="how long to wait for the last alerts at the end")
    p.add_argument("--max-growth", type=float, default=0.25, help="allowed RSS growth, start to end")
    p.add_argument("--max-fd-growth", type=int, default=10)
    p.add_argument("--no-hostile", dest="hostile", action="store_false", help="no hostile endpoints")
    p.add_argument("--no-reloads", dest="reloads", action="store_false", help="never rewrite the config")
    p.add_argument("--no-sink-flap", dest="sink_flap", action="store_false", help="receivers always answer 200")
    p.add_argument("--trace", help="append per-process RSS (daemon, each worker; anon/file) every 10 s as JSON lines")
    p.add_argument("--diag", type=float, default=0.0, metavar="SECONDS",
                   help="every SECONDS, each process logs RSS and GC figures to WORKDIR/diag")  # fmt: skip
    p.add_argument("--diag-collect", choices=["0", "1", "types"], default="0",
                   help="with --diag: a full gc.collect() each time (types: and log what it found)")  # fmt: skip
    p.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                   help="with --diag: trace allocations, a snapshot each time")  # fmt: skip
    p.add_argument("--tracemalloc-roles", default="daemon", help="daemon,worker: which processes trace")
    p.add_argument("--pack-after", help="server.retention.pack_after (e.g. 0s: raw results packed every 10 min)")
    p.add_argument("--workdir")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))

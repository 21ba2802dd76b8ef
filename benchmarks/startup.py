"""Start-up and reload at scale: how long until /readyz, next to parsing the same file with libyaml alone.

    .venv/bin/python benchmarks/startup.py --endpoints 100000

Steps (loopback targets from benchmarks/targets.py; every child is killed on exit):
 1. write the config of benchmarks/run.py (N HTTP endpoints, `--consumers` consumers x 2 SLOs);
 2. time `yaml.load(text, CSafeLoader)` in this process: the yardstick every figure is divided by;
 3. time `python -m slowatch check --config FILE` with no compiled cache (cold), then again (warm);
 4. start `python -m slowatch run` with no compiled cache and time start -> /readyz 200 (cold), stop it,
    start it again (warm: the cache written by the first start);
 5. with the warm daemon running: poll /healthz every `--poll-ms` from a thread (its latency is how
    long the event loop was unavailable), change one endpoint's URL (replacing the file atomically: the
    daemon's watcher reloads it; a SIGHUP as well would reload twice), wait for the "config reloaded"
    log line plus `--settle` seconds; report the longest /healthz latency during
    the reload next to the longest before it, and the missed runs and scheduler lag (counter and
    histogram deltas from /metrics scraped before and after, outside the window).

`--reload-only` skips steps 2-3 and the cold start: one start (cold), then step 5 `--reloads` times in a
row (the k-th sets the same endpoint's URL to `?changed=k`: each reload changes one endpoint).

`--src DIR` measures another snapshot of the package (like run.py). Prints a report; `--json FILE` too.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure as m  # noqa: E402
import run  # noqa: E402

PY = sys.executable


def forget_cache(config: Path) -> None:
    """Remove the compiled config cache (its name: slowatch/config/cache.py `cache_path`)."""
    for f in config.parent.glob(f".{config.name}.*cache*"):
        f.unlink()


def tree_cpu_all(pid: int) -> float:
    """CPU seconds of `pid` (with its children that exited: the config loader) and its live descendants."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return own + sum(m.proc_cpu(p) for p in m.tree(pid) if p != pid)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_check(children: run.Children, config: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `slowatch check` (its loader child included)."""
    cpu0 = children_cpu()
    t0 = time.monotonic()
    # cwd: not the source tree, so that with `--src` the snapshot is what `-m slowatch` imports
    proc = children.start([PY, "-m", "slowatch", "check", str(config)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, cwd=str(config.parent))  # fmt: skip
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"slowatch check failed:\n{out.decode()[-3000:]}")
    return time.monotonic() - t0, children_cpu() - cpu0


def start(children: run.Children, config: Path, listen: str, log: Path, timeout: float) -> tuple[Any, float, float]:
    """Start the daemon; (process, wall seconds to /readyz 200, CPU seconds of its tree until then)."""
    t0 = time.monotonic()
    with open(log, "ab") as f:
        proc = children.start([PY, "-m", "slowatch", "run", "--config", str(config), "--listen", listen,
                               "--log-level", "INFO"], stdout=f, stderr=f, cwd=str(config.parent))  # fmt: skip
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}; see {log}")
        if m.http_status(f"http://{listen}/readyz", timeout=1.0) == 200:
            return proc, time.monotonic() - t0, tree_cpu_all(proc.pid)
        time.sleep(0.05)
    raise TimeoutError(f"daemon not ready after {timeout:.0f}s; see {log}")


class Poller(threading.Thread):
    """GET /healthz over one keep-alive connection every `every` s; records (sent at, latency)."""

    def __init__(self, listen: str, every: float) -> None:
        super().__init__(daemon=True)
        host, _, port = listen.rpartition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            t0 = time.monotonic()
            self.conn.request("GET", "/healthz")
            self.conn.getresponse().read()
            self.samples.append((t0, time.monotonic() - t0))
            time.sleep(self.every)

    def worst(self, since: float, until: float) -> tuple[float, float]:
        """The longest latency of a request sent in [since, until], and when it was sent (s after `since`)."""
        return max(((lat, t - since) for t, lat in self.samples if since <= t <= until), default=(0.0, 0.0))


def counters(listen: str) -> tuple[float, list[tuple[float, float]]]:
    text = m.scrape(f"http://{listen}/metrics").text
    return m.value(text, "slowatch_scheduler_missed_runs_total"), m.histogram(text, "slowatch_scheduler_lag_seconds")


def wait_for(log: Path, needle: str, offset: int, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if needle in log.read_text(errors="replace")[offset:]:
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"no {needle!r} in {log} after {timeout:.0f}s")


def measure_reload(
    proc: Any, config: Path, listen: str, log: Path, args: argparse.Namespace, k: int = 1
) -> dict[str, Any]:
    time.sleep(args.warmup)
    missed0, lag0 = counters(listen)
    poller = Poller(listen, args.poll_ms / 1000)
    poller.start()
    time.sleep(3.0)
    quiet_until = time.monotonic()
    text = config.read_text()
    if k > 1:  # back to the original URL before changing it again
        text = text.replace(f'/fast/7?changed={k - 1}"', '/fast/7"', 1)
    offset = len(log.read_text(errors="replace"))
    changed = config.with_name(config.name + ".new")
    if args.change == "all":  # every endpoint: the defaults' timeout, 5 s -> 4 s -> 5 s ...
        old, new = ("  timeout: 5s\n", "  timeout: 4s\n") if k % 2 else ("  timeout: 4s\n", "  timeout: 5s\n")
        assert old in text, old
        changed.write_text(text.replace(old, new, 1))
    else:
        changed.write_text(text.replace('/fast/7"', f'/fast/7?changed={k}"', 1))
    busy0, steal0 = m.machine_cpu()
    t0 = time.monotonic()
    changed.replace(config)  # atomically: the daemon's file watcher (every 5 s) reloads it, once
    reloaded = wait_for(log, "config reloaded", offset, 300)
    wait_for(log, "config switched", offset, 300)
    logged = log.read_text(errors="replace")[offset:]
    own = [float(x) for x in re.findall(r"config file loaded .*? cpu_ms=([0-9.]+)", logged)]
    own += [float(x) for x in re.findall(r"config switched .*?prepare_cpu_ms=([0-9.]+)", logged)]
    time.sleep(args.settle)
    poller.done.set()
    poller.join()
    busy1, steal1 = m.machine_cpu()
    missed1, lag1 = counters(listen)
    lag = m.histogram_delta(lag1, lag0)
    return {
        "reload_s": reloaded - t0,
        "stall_before_s": poller.worst(quiet_until - 3.0, quiet_until)[0],
        "stall_during_s": poller.worst(t0, time.monotonic())[0],
        "stall_during_at_s": poller.worst(t0, time.monotonic())[1],
        # the daemon's own part: the endpoint diff and the rest in threads (~0.7 s before "config reloaded"),
        # then what runs on the loop; before it, the loader child parses (another process, the same 2 cores)
        "stall_switch_s": poller.worst(reloaded - 1.5, time.monotonic())[0],
        "stall_loading_s": poller.worst(t0, reloaded - 1.5)[0],
        "missed": missed1 - missed0,
        "lag_p99_s": m.quantile(lag, 0.99),
        "lag_max_bucket_s": m.max_bucket(lag),
        "samples": len(poller.samples),
        # the whole machine (other sessions too) from the change to the end of --settle: cores busy, and stolen
        "machine_busy_cores": (busy1 - busy0) / (time.monotonic() - t0),
        "machine_steal_s": steal1 - steal0,
        # the daemon's CPU taking the Config over and preparing the switch, from its log (None: not logged)
        "daemon_load_cpu_s": sum(own) / 1000 if len(own) == 2 else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoints", type=int, default=100_000)
    p.add_argument("--interval", type=float, default=60.0)
    p.add_argument("--consumers", type=int, default=300)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--src", help="measure another snapshot of the slowatch package (see run.py)")
    p.add_argument("--no-reload", action="store_true")
    p.add_argument("--reload-only", action="store_true", help="one (cold) start, then only the reload(s)")
    p.add_argument("--reloads", type=int, default=1, help="reloads measured one after the other (each after --warmup)")
    p.add_argument(
        "--change",
        choices=("one", "all"),
        default="one",
        help="a reload changes one endpoint's URL, or every endpoint (the defaults' timeout)",
    )
    p.add_argument("--poll-ms", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds after /readyz before the reload")
    p.add_argument("--settle", type=float, default=10.0, help="seconds observed after the reload")
    p.add_argument("--ready-timeout", type=float, default=600.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="slowatch-startup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    children = run.Children(args.src)
    res: dict[str, Any] = {
        "endpoints": args.endpoints,
        "load_before": m.loadavg(),
        "date": time.strftime("%F %T"),
        "change": args.change,
    }
    try:
        _, ports = run.start_targets(children, 1, 4, 200.0, 3600.0)
        config, log = workdir / "bench.yaml", workdir / "daemon.log"
        listen = f"127.0.0.1:{run.free_port()}"
        run.write_config(config, n=args.endpoints, interval=args.interval, timeout=5.0, ports=ports,
                         refused_port=run.free_port(), mix=run.parse_mix("fast=90,slow=5,fail=4,refused=1"),
                         consumers=args.consumers, db=workdir / "bench.db", listen=listen, histograms=True,
                         max_concurrency=None, jitter=None)  # fmt: skip
        res["config_bytes"] = config.stat().st_size
        if args.reload_only:
            proc, res["ready_cold_s"], res["ready_cold_cpu"] = start(children, config, listen, log, args.ready_timeout)
            res["reloads"] = [measure_reload(proc, config, listen, log, args, k) for k in range(1, args.reloads + 1)]
            res["stop_cold_s"] = children.stop(proc)
            return finish(res, args)
        text = config.read_text()
        t0, cpu0 = time.perf_counter(), time.process_time()
        yaml.load(text, Loader=yaml.CSafeLoader)
        res["libyaml_s"], res["libyaml_cpu"] = time.perf_counter() - t0, time.process_time() - cpu0
        gc.disable()  # the same without the cyclic GC (slowatch loads with it paused): a stricter yardstick
        t0, cpu0 = time.perf_counter(), time.process_time()
        yaml.load(text, Loader=yaml.CSafeLoader)
        res["libyaml_nogc_s"], res["libyaml_nogc_cpu"] = time.perf_counter() - t0, time.process_time() - cpu0
        gc.enable()
        del text
        forget_cache(config)
        res["check_cold_s"], res["check_cold_cpu"] = time_check(children, config)
        res["check_warm_s"], res["check_warm_cpu"] = time_check(children, config)
        forget_cache(config)
        for phase in ("cold", "warm"):
            proc, res[f"ready_{phase}_s"], res[f"ready_{phase}_cpu"] = start(
                children, config, listen, log, args.ready_timeout
            )
            if phase == "warm" and not args.no_reload:
                res["reloads"] = [
                    measure_reload(proc, config, listen, log, args, k) for k in range(1, args.reloads + 1)
                ]
            res[f"stop_{phase}_s"] = children.stop(proc)
    finally:
        children.stop_all()
    return finish(res, args)


def finish(res: dict[str, Any], args: argparse.Namespace) -> int:
    res["load_after"] = m.loadavg()
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


def report(res: dict[str, Any]) -> str:
    lines = [
        f"{res['date']}  {res['endpoints']:,} endpoints, {res['config_bytes'] / 2**20:.1f} MiB;"
        f" load {res['load_before'][0]:.1f} -> {res['load_after'][0]:.1f}",
        f"  {'':38} {'wall':>8}  {'x libyaml':>9}  {'CPU':>7}  {'x libyaml':>9}",
    ]
    labels = {
        "libyaml": "libyaml alone (yaml.load, CSafeLoader)",
        "libyaml_nogc": "libyaml alone, cyclic GC off",
        "check_cold": "slowatch check, cold",
        "check_warm": "slowatch check, warm",
        "ready_cold": "start -> /readyz, cold",
        "ready_warm": "start -> /readyz, warm",
    }
    base, base_cpu = res.get("libyaml_s"), res.get("libyaml_cpu")
    for key, label in labels.items():
        if f"{key}_s" not in res:
            continue
        wall, cpu = res[f"{key}_s"], res[f"{key}_cpu"]
        ratios = (f"{wall / base:8.2f}x", f"{cpu / base_cpu:8.2f}x") if base and base_cpu else ("", "")
        lines.append(f"  {label:<38} {wall:7.2f}s  {ratios[0]:>9}  {cpu:6.2f}s  {ratios[1]:>9}")
    for r in res.get("reloads", []):
        lines += [
            f"  reload, {'every endpoint' if res.get('change') == 'all' else 'one endpoint'} changed:"
            f" file replaced -> 'config reloaded' {r['reload_s']:.2f} s",
            f"    longest /healthz latency: {r['stall_during_s'] * 1000:.0f} ms during the reload"
            f" ({r['stall_during_at_s']:.1f} s after the file was replaced),"
            f" {r['stall_before_s'] * 1000:.0f} ms in the 3 s before ({r['samples']} samples)",
            f"    of which: while the loader child parses {r['stall_loading_s'] * 1000:.0f} ms; from 1.5 s before"
            f" 'config reloaded' on (the daemon's own part) {r['stall_switch_s'] * 1000:.0f} ms",
            f"    missed runs {r['missed']:.0f}; scheduler lag p99 {run.ms(r['lag_p99_s'])},"
            f" largest bucket {run.ms(r['lag_max_bucket_s'])}",
            f"    the machine meanwhile: {r['machine_busy_cores']:.2f} cores busy, {r['machine_steal_s']:.2f} s stolen"
            " (hypervisor steal: the VM's vCPUs not running)",
            "    the daemon's CPU taking the new Config over and preparing the switch: "
            + ("not logged" if r["daemon_load_cpu_s"] is None else f"{r['daemon_load_cpu_s']:.2f} s"),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

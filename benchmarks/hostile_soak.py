"""Hostile targets at scale: the real daemon against ~1,000 endpoints of every probe kind over a farm of
hostile servers (`hostile_farm.py`, one asyncio process of its own on loopback), for `--duration` seconds.

    .venv/bin/python benchmarks/hostile_soak.py --endpoints 1000 --duration 600

Every 10 s: open fds, threads and RSS of the daemon and its prober workers (/proc), how long /metrics,
/healthz and /api/v1/endpoints take to answer, scheduler lag (p99 from the histogram's buckets over the last
10 s), missed and skipped runs, probes in flight. At the end: every endpoint's results from the API, each
checked against the outcomes its variant allows (`hostile_variants.py`), every message for "unknown error",
a traceback, more than 1,000 characters or the secret; the log for tracebacks, ERROR records and the secret;
then SIGTERM and the time to exit. Exit status 1 on any finding.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import sys
import time
import types
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from hostile_variants import SECRET, Variant, variants  # noqa: E402
from soak_support import proc_tree_stats  # noqa: E402

from tests.e2e.harness import DaemonProcess  # noqa: E402

INTERVALS = (5, 7, 10, 15)


def config(vs: list[Variant], n: int, grace: float, workers: str, loop: str) -> tuple[str, dict[str, Variant]]:
    lines = [
        f"server: {{database: ./hostile.db, shutdown_grace: {grace:g}s, probe_workers: {workers}, event_loop: {loop}}}",
        "defaults: {timeout: 3s, alerts: {enabled: false}}",
        "endpoints:",
    ]
    names: dict[str, Variant] = {}
    for i in range(n):
        v = vs[i % len(vs)]
        name = f"{v.name}-{i}"
        names[name] = v
        interval = INTERVALS[i % len(INTERVALS)]
        lines.append(f"  - {{name: '{name}', kind: {v.kind}, interval: {interval}s, {v.spec}}}")
    return "\n".join(lines) + "\n", names


def histogram_p99(text: str, name: str) -> dict[float, float]:
    out: dict[float, float] = collections.defaultdict(float)
    for m in re.finditer(rf'^{name}_bucket{{[^}}]*le="([^"]+)"[^}}]*}} (\S+)$', text, re.M):
        out[float(m.group(1))] += float(m.group(2))
    return out


def p99(now: dict[float, float], before: dict[float, float]) -> float:
    delta = sorted((le, now[le] - before.get(le, 0.0)) for le in now)
    total = delta[-1][1] if delta else 0.0
    for le, count in delta:
        if total and count >= 0.99 * total:
            return le
    return 0.0


def total(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def timed_get(url: str) -> tuple[float, str]:
    """GET in the calling thread (urllib): the farm's event loop, busy with 100 MB bodies, must not delay it."""
    t = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return time.monotonic() - t, r.read().decode()
    except (OSError, ValueError):
        return time.monotonic() - t, ""


async def fetch(url: str) -> tuple[float, str]:
    return await asyncio.to_thread(timed_get, url)


def farm_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def judge(name: str, v: Variant, results: list[dict[str, Any]]) -> list[str]:
    problems = []
    for r in results:
        msg = r.get("message") or ""
        if r["outcome"] not in v.outcomes:
            problems.append(f"{name}: outcome {r['outcome']} (allowed {sorted(v.outcomes)}): {msg[:300]}")
        if not r["ok"] and not msg.strip():
            problems.append(f"{name}: {r['outcome']} without a message")
        if "unknown error" in msg.lower() or "Traceback" in msg or len(msg) > 1000 or SECRET in json.dumps(r):
            problems.append(f"{name}: bad message {msg[:300]!r}")
    return problems


async def main(a: argparse.Namespace) -> int:
    workdir = Path(a.workdir or f"/tmp/hostile-soak-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    farm_proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("hostile_farm.py")), str(workdir / "certs"),
        stdout=asyncio.subprocess.PIPE, stderr=open(workdir / "farm.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    assert farm_proc.stdout is not None
    found = json.loads(await asyncio.wait_for(farm_proc.stdout.readline(), 60))
    farm = types.SimpleNamespace(**found, certs=types.SimpleNamespace(ca_file=found["ca_file"]))
    chosen = [v for v in variants(farm) if not a.only or v.name.startswith(tuple(a.only.split(",")))]
    text, names = config(chosen, a.endpoints, a.grace, a.probe_workers, a.event_loop)
    (workdir / "hostile.yaml").write_text(text)
    daemon = DaemonProcess(workdir / "hostile.yaml", workdir, env={"SOAK_SECRET": SECRET})
    await daemon.start(timeout=120)
    pid = daemon.proc.pid if daemon.proc else 0
    print(f"daemon pid {pid} on {daemon.url}; {len(names)} endpoints; workdir {workdir}", flush=True)
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    before: dict[float, float] = {}
    while time.monotonic() < t0 + a.duration:
        await asyncio.sleep(10)
        if daemon.proc is None or daemon.proc.returncode is not None:
            print("daemon died:\n" + daemon.log()[-3000:], file=sys.stderr)
            return 1
        m_time, m = await fetch(f"{daemon.url}/metrics")
        h_time, _ = await fetch(f"{daemon.url}/healthz")
        a_time, _ = await fetch(f"{daemon.url}/api/v1/endpoints")
        buckets = histogram_p99(m, "slowatch_scheduler_lag_seconds")
        row = {
            "t": round(time.monotonic() - t0), **proc_tree_stats(pid),
            "metrics_s": round(m_time, 3), "healthz_s": round(h_time, 3), "api_s": round(a_time, 3),
            "lag_p99_s": p99(buckets, before), "missed": total(m, "slowatch_scheduler_missed_runs_total"),
            "skipped": total(m, "slowatch_scheduler_skipped_runs_total"),
            "in_flight": total(m, "slowatch_probes_in_flight"), "probes": total(m, "slowatch_probes_total"),
            "farm_cpu_s": farm_cpu(farm_proc.pid),
        }  # fmt: skip
        before = buckets
        samples.append(row)
        print(json.dumps(row), flush=True)
    problems: list[str] = []
    seen: collections.Counter[str] = collections.Counter()
    messages: dict[str, str] = {}
    urls = [f"{daemon.url}/api/v1/endpoints/{name}/results?limit=100" for name in names]
    with ThreadPoolExecutor(4) as pool:
        bodies = await asyncio.get_running_loop().run_in_executor(None, lambda: list(pool.map(timed_get, urls)))
    for (name, v), (_, body) in zip(names.items(), bodies, strict=True):
        results = json.loads(body)["results"] if body else []
        if not results:
            problems.append(f"{name}: no results")
        seen.update(f"{v.name} {r['outcome']}" for r in results)
        messages.update((f"{v.name} {r['outcome']}", (r["message"] or "")[:200]) for r in results)
        problems += judge(name, v, results)
    t_stop = time.monotonic()
    code = await daemon.stop(timeout=a.grace + 30)
    stop_s = time.monotonic() - t_stop
    farm_proc.terminate()
    await farm_proc.wait()
    log = daemon.log()
    bad_lines = [ln for ln in log.splitlines() if re.search(r"Traceback| ERROR |CRITICAL|unknown error", ln)]
    bad_lines += [ln for ln in log.splitlines() if SECRET in ln]
    report = {
        "endpoints": len(names), "duration_s": a.duration, "samples": samples, "stop_s": round(stop_s, 2),
        "exit_code": code, "outcomes": dict(sorted(seen.items())), "messages": dict(sorted(messages.items())),
        "problems": problems[:200],
        "problem_count": len(problems), "log_lines": len(log.splitlines()), "bad_log_lines": bad_lines[:50],
        "last_log": log.splitlines()[-3:],
    }  # fmt: skip
    (workdir / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    ok = code == 0 and not problems and not bad_lines and stop_s <= a.grace + 10
    print(("PASS" if ok else "FAIL") + f"; report in {workdir / 'report.json'}")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoints", type=int, default=1000)
    p.add_argument("--duration", type=float, default=600.0)
    p.add_argument("--grace", type=float, default=5.0, help="server.shutdown_grace (seconds)")
    p.add_argument("--probe-workers", default="auto")
    p.add_argument("--event-loop", default="auto", help="server.event_loop: auto (uvloop), asyncio, uvloop")
    p.add_argument("--only", help="comma-separated variant name prefixes (e.g. http-,tls-): only those")
    p.add_argument("--workdir")
    return p.parse_args(argv)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))

"""Memory over many reloads: does a daemon that reloads every few minutes for months grow?

    .venv/bin/python benchmarks/reload_memory.py --endpoints 2000 --reloads 100

Starts loopback targets (benchmarks/targets.py) and a real `python -m slowatch run` on the config of
benchmarks/run.py (N HTTP endpoints, 90 % answering, 10 % slow / failing / refused; `--consumers` consumers
x 2 SLOs), then reloads it `--reloads` times by SIGHUP, alternating a small edit (one endpoint's URL) and an
all-changing one (the defaults' timeout, which every endpoint inherits). After each reload ("config
running" in the log) it records:
  - the daemon's RSS (VmRSS in /proc/PID/status);
  - `gc_frozen` and `configs_alive` from the daemon's "config running" log line: objects in the cyclic GC's
    permanent generation (`gc.get_freeze_count()`), and how many of the Configs the reloader loaded or
    replaced are still in memory (a weak set; 1 when only the running one is);
  - the prober workers' RSS (their own /proc figures; none at small N).
`--change churn` (session 15) makes every reload rotate a `${TOKEN_Tn:-...}` in every endpoint's `Authorization`
header (one token per team of 50) and add `--added` new endpoints while removing the previous reload's;
`--counts N` asks the prober workers every N reloads for their GC-tracked objects by type and the sizes of their
per-endpoint and per-reload structures (reload_memory_diag/: the Interner's tables, ProbeContext's caches, the
scheduler's slots and heap, APScheduler jobs, the loop's timers, the connector's connections).
The trend is a least-squares slope per reload over the second half (the first reloads grow caches and
SLO state up to their size). `--json FILE` keeps every row. Every child is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure as m  # noqa: E402
import run  # noqa: E402

RUNNING = re.compile(r"config running [^\n]*")
FIGURES = re.compile(r"configs_alive=(\d+) gc_frozen=(\d+)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def edit(base: str, k: int) -> str:
    """The k-th edit (from 1): odd ones change every endpoint (the defaults' timeout 5s -> 4s / 3s), even ones
    one endpoint's URL (and put the timeout back): each is a change from the config running."""
    if k % 2:
        return base.replace("  timeout: 5s\n", f"  timeout: {4 if k % 4 == 1 else 3}s\n", 1)
    return base.replace('/fast/7"', f'/fast/7?k={k}"', 1)


def churn(base: str, k: int, added: int) -> str:
    """The k-th edit of `--change churn` (k = 0: the config started with): every endpoint sends an `Authorization`
    header with its team's token, `${TOKEN_Tn:-...}` whose value every reload rotates (50 distinct header sets per
    reload, every endpoint changed), and `added` endpoints `add-K-J` are added and the previous reload's removed
    (names never seen before, each with its own URL)."""
    out, url = [], None
    for line in base.splitlines():
        if line.startswith('  - {"name": "ep-'):
            ep = json.loads(line[4:])
            ep["headers"] = {
                "Authorization": f"Bearer ${{TOKEN_{ep['labels']['team'].upper()}:-r{k}-{ep['labels']['team']}}}"
            }
            url = url or ep["url"]
            line = "  - " + json.dumps(ep)
        elif line == "consumers:" and url is not None:
            root = url.rsplit("/", 2)[0]
            for j in range(added if k else 0):
                headers = {"Authorization": f"Bearer r{k}-add"}
                ep = {"name": f"add-{k}-{j}", "kind": "http", "url": f"{root}/fast/a{k}-{j}",
                      "labels": {"team": "tadd", "class": "fast"}, "headers": headers}  # fmt: skip
                out.append("  - " + json.dumps(ep))
        out.append(line)
    return "\n".join(out) + "\n"


def wait_running(log: Path, count: int, timeout: float) -> tuple[int | None, int | None]:
    """Wait for the `count`-th "config running" line; its (configs_alive, gc_frozen), None where not logged
    (before session 13)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = RUNNING.findall(log.read_text(errors="replace"))
        if len(found) >= count:
            figures = FIGURES.search(found[count - 1])
            return (int(figures[1]), int(figures[2])) if figures else (None, None)
        if re.search(
            r"config reload (rejected|failed)|Task exception was never retrieved", log.read_text(errors="replace")
        ):
            raise RuntimeError(f"a reload failed; see {log}")
        time.sleep(0.05)
    raise TimeoutError(f"reload {count} not done after {timeout:.0f}s; see {log}")


def slope(ys: list[float]) -> float:
    """Least-squares slope of `ys` against their index."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def measure(args: argparse.Namespace, children: run.Children, workdir: Path) -> dict[str, Any]:
    _, ports = run.start_targets(children, 1, 4, 200.0, 3600.0)
    config, log = workdir / "bench.yaml", workdir / "daemon.log"
    listen = f"127.0.0.1:{run.free_port()}"
    run.write_config(config, n=args.endpoints, interval=args.interval, timeout=5.0, ports=ports,
                     refused_port=run.free_port(), mix=run.parse_mix("fast=90,slow=5,fail=4,refused=1"),
                     consumers=args.consumers, db=workdir / "bench.db", listen=listen, histograms=True,
                     max_concurrency=None, jitter=None)  # fmt: skip
    base = config.read_text()
    if args.change == "churn":
        config.write_text(churn(base, 0, args.added))
    t0 = time.monotonic()
    env = dict(children.env or os.environ)
    diag, traces = workdir / "diag", workdir / "traces"
    snap_at = {int(k) for k in args.tracemalloc.split(",")} if args.tracemalloc else set()
    trim_at = {int(k) for k in args.trim.split(",")} if args.trim else set()
    if args.diag or snap_at or trim_at or args.counts:
        diag.mkdir(exist_ok=True)
        paths = [str(HERE / "reload_memory_diag"), *filter(None, [env.get("PYTHONPATH")])]
        env.update(RELOAD_MEMORY_DIAG=str(diag), PYTHONPATH=os.pathsep.join(paths))
    if snap_at:
        traces.mkdir(exist_ok=True)
        env.update(RELOAD_MEMORY_TRACEMALLOC=str(traces))
    with open(log, "ab") as f:
        proc = children.start([sys.executable, "-m", "slowatch", "run", "--config", str(config), "--listen", listen,
                               "--log-level", "INFO"], stdout=f, stderr=f, cwd=str(workdir), env=env)  # fmt: skip
    while m.http_status(f"http://{listen}/readyz", timeout=1.0) != 200:
        if proc.poll() is not None or time.monotonic() - t0 > args.ready_timeout:
            raise RuntimeError(f"daemon not ready; see {log}")
        time.sleep(0.1)
    time.sleep(args.warmup)  # every endpoint probed once (and the start's last freeze done)

    def row(k: int, alive: int | None, frozen: int | None) -> dict[str, Any]:
        workers = [p for p in m.tree(proc.pid) if p != proc.pid]
        return {
            "reload": k,
            "t_s": round(time.monotonic() - t0, 1),
            "rss_mb": round(rss_mb(proc.pid), 1),
            "configs_alive": alive,
            "gc_frozen": frozen,
            "workers_rss_mb": round(sum(rss_mb(p) for p in workers), 1),
            "change": "start" if k == 0 else ("churn" if args.change == "churn" else "all" if k % 2 else "one"),
        }

    count_at = set(range(0, args.reloads + 1, args.counts)) | {args.reloads} if args.counts else set()
    rows = [row(0, None, None)]
    if 0 in trim_at:
        rows[0]["trim"] = trim(diag, 0, len([p for p in m.tree(proc.pid) if p != proc.pid]))
        print(f"  start: prober workers' RSS before / after malloc_trim(0): {rows[0]['trim']}", flush=True)
    quiet, until = [rows[0]], time.monotonic() + args.quiet
    while time.monotonic() < until:  # the same daemon, no reload: its own growth meanwhile
        time.sleep(max(1.0, args.quiet / 20))
        quiet.append(row(0, None, None))
    rows[0] = quiet[-1]
    if 0 in count_at:
        rows[0]["counts"] = counts(diag, 0, len([p for p in m.tree(proc.pid) if p != proc.pid]))
    for k in range(1, args.reloads + 1):
        staged = config.with_name(config.name + ".new")
        staged.write_text(churn(base, k, args.added) if args.change == "churn" else edit(base, k))
        staged.replace(config)
        os.kill(proc.pid, signal.SIGHUP)
        alive, frozen = wait_running(log, k, args.reload_timeout)
        time.sleep(args.pause)
        rows.append(row(k, alive, frozen))
        r = rows[-1]
        if k in trim_at:
            r["trim"] = trim(diag, k, len([p for p in m.tree(proc.pid) if p != proc.pid]))
            print(f"  reload {k}: prober workers' RSS before / after malloc_trim(0): {r['trim']}", flush=True)
        if k in count_at:
            r["counts"] = counts(diag, k, len([p for p in m.tree(proc.pid) if p != proc.pid]))
            sizes = r["counts"][0]["sizes"] if r["counts"] else {}
            print(f"  reload {k}: worker objects {r['counts'][0]['objects']:,}, {sizes}", flush=True)
        if k in snap_at:
            time.sleep(args.interval + 2)  # every endpoint probed since the reload: caches hold the new definitions
            snapshot(traces, k, len([p for p in m.tree(proc.pid) if p != proc.pid]))
        if args.verbose or k % 10 == 0:
            print(f"  reload {k:3d} ({r['change']:>3}): rss {r['rss_mb']:7.1f} MB  frozen {frozen:>9,}  "
                  f"configs alive {alive}  workers {r['workers_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    answer = None
    if args.diag:
        (diag / "ask").touch()
        while not (diag / "answer.json").exists():
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited; see {log}")
            time.sleep(0.2)
        answer = json.loads((diag / "answer.json").read_text())
    children.stop(proc)
    growth = trace_diff(traces, min(snap_at), max(snap_at)) if len(snap_at) > 1 else None
    return {"endpoints": args.endpoints, "consumers": args.consumers, "config_bytes": len(base), "rows": rows,
            "quiet": quiet, "diag": answer, "worker_growth": growth}  # fmt: skip


def ask_workers(diag: Path, what: str, k: int, workers: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Touch `diag/{what}-{k}` and wait for every prober worker's `worker-*-{what}-{k}.json` answer."""
    (diag / f"{what}-{k}").touch()
    deadline = time.monotonic() + timeout
    while len(found := list(diag.glob(f"worker-*-{what}-{k}.json"))) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} answer from the workers after reload {k}")
        time.sleep(0.2)
    return [json.loads(p.read_text()) for p in found]


def trim(diag: Path, k: int, workers: int) -> list[dict[str, Any]]:
    """Every prober worker's RSS before and after `malloc_trim(0)`, now (after reload `k`)."""
    return ask_workers(diag, "trim", k, workers)


def counts(diag: Path, k: int, workers: int) -> list[dict[str, Any]]:
    """Every prober worker's GC-tracked objects by type and its structures' sizes now (after reload `k`)."""
    return ask_workers(diag, "count", k, workers)


def snapshot(traces: Path, k: int, workers: int, timeout: float = 120.0) -> None:
    """Ask every prober worker for a tracemalloc snapshot now (after reload `k`) and wait for them."""
    (traces / f"snap-{k}").touch()
    deadline = time.monotonic() + timeout
    while len(list(traces.glob(f"worker-*-{k}.tracemalloc"))) < workers:  # (a restarted worker answers them all)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no tracemalloc snapshot from the workers after reload {k}")
        time.sleep(0.2)


def trace_diff(traces: Path, first: int, last: int, top: int = 15) -> list[dict[str, Any]]:
    """Per worker: the traced total at both reloads and the `top` call sites (innermost 4 frames) that grew most."""
    import tracemalloc

    out = []
    for path in sorted(traces.glob(f"worker-*-{first}.tracemalloc")):
        pid = path.name.split("-")[1]
        a = tracemalloc.Snapshot.load(str(path))
        b = tracemalloc.Snapshot.load(str(traces / f"worker-{pid}-{last}.tracemalloc"))
        stats = b.compare_to(a, "traceback")
        sites = []
        for s in sorted(stats, key=lambda s: -s.size_diff)[:top]:
            frames = [f"{f.filename.rsplit('site-packages/', 1)[-1].rsplit('/slowatch/', 1)[-1]}:{f.lineno}"
                      for f in reversed(s.traceback[-4:])]  # fmt: skip
            sites.append({"kb": round(s.size_diff / 1024, 1), "blocks": s.count_diff, "at": " <- ".join(frames)})
        total = [sum(t.size for t in snap.traces) / 2**20 for snap in (a, b)]
        every = {}  # traced MB after each reload asked, and the GC-tracked object types that grew most since the first
        types_a = json.loads((traces / f"worker-{pid}-{first}.types.json").read_text())
        for snap in sorted(traces.glob(f"worker-{pid}-*.tracemalloc"), key=lambda p: int(p.stem.split("-")[2])):
            k = snap.stem.split("-")[2]
            every[k] = round(sum(t.size for t in tracemalloc.Snapshot.load(str(snap)).traces) / 2**20, 2)
        types_b = json.loads((traces / f"worker-{pid}-{last}.types.json").read_text())
        types = sorted(((t, n - types_a.get(t, 0)) for t, n in types_b.items()), key=lambda x: -x[1])[:8]
        out.append({"pid": pid, "traced_mb": [round(x, 2) for x in total], "from": first, "to": last, "grew": sites,
                    "traced_mb_at": every, "types_grew": types})  # fmt: skip
    return out


def report(res: dict[str, Any]) -> str:
    rows = res["rows"]
    half = rows[len(rows) // 2 :]
    lines = [
        f"{res['date']}  {res['endpoints']:,} endpoints, {res['consumers']} consumers,"
        f" {res['config_bytes'] / 2**20:.2f} MiB; {len(rows) - 1} reloads; load {res['load_before'][0]:.1f}"
        f" -> {res['load_after'][0]:.1f}",
        f"  {'':22} {'RSS MB':>8} {'gc_frozen':>10} {'configs alive':>14} {'workers MB':>11}",
    ]
    for r in rows:
        if r["reload"] in (0, 1, 2, 10, 25, 50, 75, 100, 200, 300, 400) or r is rows[-1]:
            label = "after start" if r["reload"] == 0 else f"after reload {r['reload']} ({r['change']})"
            frozen = "-" if r["gc_frozen"] is None else f"{r['gc_frozen']:,}"
            alive = "-" if r["configs_alive"] is None else str(r["configs_alive"])
            lines.append(f"  {label:22} {r['rss_mb']:8.1f} {frozen:>10} {alive:>14} {r['workers_rss_mb']:11.1f}")
    frozen = [float(r["gc_frozen"]) for r in half if r["gc_frozen"] is not None]
    quiet, span = res["quiet"], rows[-1]["t_s"] - rows[0]["t_s"]
    if len(quiet) > 1 and span > 0:
        q = quiet[-1]["t_s"] - quiet[0]["t_s"]
        lines.append(
            f"  RSS growth per minute: {(quiet[-1]['rss_mb'] - quiet[0]['rss_mb']) / q * 60 * 1024:+.0f} kB with no"
            f" reload ({q:.0f} s), {(rows[-1]['rss_mb'] - rows[0]['rss_mb']) / span * 60 * 1024:+.0f} kB while"
            f" reloading ({span:.0f} s)"
        )
    lines.append(
        f"  second half, per reload: RSS {slope([r['rss_mb'] for r in half]) * 1000:+.0f} kB,"
        f" gc_frozen {slope(frozen):+.0f} objects; configs alive max {max(r['configs_alive'] or 0 for r in rows)}"
    )
    counted = [r for r in rows if r.get("counts")]
    if counted:
        lines.append("  prober worker (--counts): reload, RSS MB, GC-tracked objects not frozen, frozen, and sizes")
        keys = ("interner_dicts", "http_options", "http_options_shared", "slots", "heap", "in_flight", "loop_scheduled")
        for r in counted:
            c = r["counts"][0]
            sizes = ", ".join(f"{k} {c['sizes'].get(k, '-')}" for k in keys)
            lines.append(f"    {r['reload']:4d} {c['rss_kb'] / 1024:6.1f} {c['objects']:8,} {c['frozen']:8,}  {sizes}")
        a, b = counted[0]["counts"][0]["types"], counted[-1]["counts"][0]["types"]
        grew = sorted(((t, n - a.get(t, 0)) for t, n in b.items()), key=lambda x: -x[1])[:8]
        lines.append(f"    objects that grew most, reload {counted[0]['reload']} -> {counted[-1]['reload']}: "
                     + ", ".join(f"{t} {n:+,}" for t, n in grew))  # fmt: skip
    for w in res.get("worker_growth") or []:
        lines.append(f"  worker {w['pid']}: traced {w['traced_mb'][0]:.2f} MB after reload {w['from']} -> "
                     f"{w['traced_mb'][1]:.2f} MB after reload {w['to']}; grew most:")  # fmt: skip
        lines += [f"    {g['kb']:+9.1f} kB {g['blocks']:+7d} blocks  {g['at']}" for g in w["grew"]]
        lines.append("    traced MB after reload " + ", ".join(f"{k}: {v}" for k, v in w["traced_mb_at"].items()))
        lines.append("    GC-tracked objects that grew most: " + ", ".join(f"{t} {n:+,}" for t, n in w["types_grew"]))
    if res.get("diag"):
        d = res["diag"]
        lines += [
            f"  at the end (--diag): pending cyclic garbage {d['pending']:,}; of {d['frozen']:,} frozen objects"
            f" {d['frozen_garbage']:,} were cyclic garbage (Config objects among them: {d['configs_frozen_garbage']});"
            f" live Configs {d['configs_live']}",
            "    frozen garbage by type: " + ", ".join(f"{t} {n:,}" for t, n in d["frozen_garbage_types"][:10]),
        ]
        lines += [f"    live Config {i} held by: {held}" for i, held in enumerate(d.get("configs_live_held_by", []))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoints", type=int, default=2000)
    p.add_argument("--consumers", type=int, default=100)
    p.add_argument("--interval", type=float, default=10.0, help="probe interval, seconds")
    p.add_argument("--reloads", type=int, default=100)
    p.add_argument("--warmup", type=float, default=15.0, help="seconds after /readyz before the first reload")
    p.add_argument("--quiet", type=float, default=0.0, help="seconds measured with no reload first (a control)")
    p.add_argument(
        "--diag", action="store_true", help="at the end, count the frozen cyclic garbage (reload_memory_diag/)"
    )
    p.add_argument(
        "--tracemalloc",
        help="reloads after which the prober workers dump a tracemalloc snapshot, e.g."
        " 5,50: the first and last are diffed (tracing slows the workers)",
    )
    p.add_argument(
        "--trim",
        help="reloads after which each prober worker reports its RSS before and after glibc's"
        " malloc_trim(0), e.g. 0,10,30,60 (0: before the first reload)",
    )
    p.add_argument("--change", choices=["alternate", "churn"], default="alternate",
                   help="alternate: one endpoint's URL / every endpoint's timeout; churn: every endpoint's rotated"
                   " ${TOKEN} header and --added endpoints added and removed, each reload")  # fmt: skip
    p.add_argument("--added", type=int, default=20, help="--change churn: endpoints added (and removed) per reload")
    p.add_argument("--counts", type=int, default=0,
                   help="every this many reloads, the workers' objects by type and structure sizes")  # fmt: skip
    p.add_argument("--pause", type=float, default=0.5, help="seconds after each reload before measuring")
    p.add_argument("--ready-timeout", type=float, default=600.0)
    p.add_argument("--reload-timeout", type=float, default=300.0)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--src", help="measure another snapshot of the slowatch package (see run.py)")
    p.add_argument("--json", type=Path)
    p.add_argument("-v", "--verbose", action="store_true", help="print every reload, not every 10th")
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="slowatch-reload-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    children = run.Children(args.src)
    load_before, date = m.loadavg(), time.strftime("%F %T")
    try:
        res = measure(args, children, workdir)
    finally:
        children.stop_all()
    res.update(date=date, load_before=load_before, load_after=m.loadavg())
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

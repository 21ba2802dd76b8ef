"""Scale benchmark: the real daemon against local targets, next to a bare aiohttp loop.

    .venv/bin/python benchmarks/run.py --endpoints 10000 --interval 10 --duration 60

Steps (every child process is bounded in time and killed on exit; loopback only):
 1. start `--target-procs` target servers (benchmarks/targets.py, aiohttp), `--ports-per-proc` ports each;
 2. write a config with N endpoints (mix of fast / slow / failing (500) / refused) and
    `--consumers` consumers with two SLOs each, then run `python -m slowatch run` on it;
 3. after `--warmup`, measure for `--duration` seconds: daemon CPU (/proc/PID/stat), peak RSS
    (VmHWM), target CPU, scrapes of /metrics every `--scrape-interval` (timed, sized; inside the
    CPU window, as Prometheus would be), scheduling lag / missed / skipped (histogram and counter
    deltas over the window), probes (rows in `results` with ts in the window), DB bytes per probe;
 4. SIGTERM, then restart on the same database and time start -> /readyz 200;
 5. the baseline: benchmarks/baseline.py probes the same URLs at the same rate (fresh connection,
    same concurrency bound); CPU per 1,000 probes and the daemon/baseline ratio;
 6. optionally blackbox_exporter (`--blackbox`) driven at the same rate (its own CPU only);
 7. optionally `--profile`: py-spy samples the daemon during the window (top frames printed).

Variants: `--probe-path` (slowatch's probe function alone at the same rate), `--uvloop`, `--gc-log` /
`--gc-threshold G0,G1,G2` (through benchmarks/gc_main.py), `--src DIR` (measure another snapshot of
the slowatch package, e.g. `git archive HEAD slowatch | tar -x -C DIR`). See benchmarks/README.md.

Prints a report and, with `--json FILE`, writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure as m  # noqa: E402

PY = sys.executable
CLASSES = ("fast", "slow", "fail", "refused")


# -- processes ----------------------------------------------------------------------------------
class Children:
    """Every child process the harness starts; all are terminated (then killed) on exit.

    `src`: a directory holding another `slowatch` package (e.g. `git archive HEAD slowatch | tar -x -C DIR`)
    that children import instead of the working tree (PYTHONPATH), to compare versions."""

    def __init__(self, src: str | None = None) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())} if src else None

    def start(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        if self.env is not None:
            kw.setdefault("env", self.env)
        proc = subprocess.Popen(args, **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns seconds until exit."""
        t0 = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return time.monotonic() - t0

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_targets(children: Children, n_procs: int, ports_per_proc: int, slow_ms: float,
                  lifetime: float) -> tuple[list[subprocess.Popen[bytes]], list[int]]:  # fmt: skip
    procs, ports = [], []
    for _ in range(n_procs):
        p = children.start(
            [PY, str(HERE / "targets.py"), "--ports", str(ports_per_proc), "--slow-ms", str(slow_ms),
             "--lifetime", str(lifetime)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        procs.append(p)
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline().decode().split()  # targets print their ports once they accept
        if not line or line[0] != "ports":
            raise RuntimeError("a target server did not start")
        ports += [int(x) for x in line[1:]]
    return procs, ports


# -- config -------------------------------------------------------------------------------------
def parse_mix(text: str) -> dict[str, float]:
    mix = dict.fromkeys(CLASSES, 0.0)
    for part in text.split(","):
        key, _, share = part.partition("=")
        if key.strip() not in mix:
            raise SystemExit(f"--mix: unknown class {key!r} (use {', '.join(CLASSES)})")
        mix[key.strip()] = float(share)
    total = sum(mix.values())
    return {k: v / total for k, v in mix.items()}


def endpoint_classes(n: int, mix: dict[str, float]) -> list[str]:
    """A deterministic, evenly interleaved assignment of classes to endpoint indexes."""
    out, acc = [], dict.fromkeys(mix, 0.0)
    for _ in range(n):
        for k, share in mix.items():
            acc[k] += share
        pick = max(acc, key=lambda k: acc[k])
        acc[pick] -= 1.0
        out.append(pick)
    return out


def write_config(path: Path, *, n: int, interval: float, timeout: float, ports: list[int], refused_port: int,
                 mix: dict[str, float], consumers: int, db: Path, listen: str, histograms: bool,
                 max_concurrency: int | None, jitter: float | None,
                 probe_workers: str | None = None, phases: bool = False) -> list[str]:  # fmt: skip
    """Write the daemon config (JSON-in-YAML, one endpoint per line); return the endpoint URLs."""
    urls = []
    classes = endpoint_classes(n, mix)
    lines = [
        "server:",
        f"  listen: {json.dumps(listen)}",
        f"  database: {json.dumps(str(db))}",
        f"  metrics: {{histograms: {'true' if histograms else 'false'}{', phases: true' if phases else ''}}}",
    ]
    if max_concurrency:
        lines.append(f"  max_concurrency: {max_concurrency}")
    if probe_workers is not None:
        lines.append(f"  probe_workers: {probe_workers}")
    if jitter is not None:
        lines.append(f"  jitter: {jitter:g}")
    lines += ["defaults:", f"  interval: {interval:g}s", f"  timeout: {timeout:g}s", "endpoints:"]
    for i, cls in enumerate(classes):
        port = refused_port if cls == "refused" else ports[i % len(ports)]
        url = f"http://127.0.0.1:{port}/{'fast' if cls == 'refused' else cls}/{i}"
        urls.append(url)
        ep = {"name": f"ep-{i:06d}", "kind": "http", "url": url, "labels": {"team": f"t{i % 50}", "class": cls}}
        lines.append("  - " + json.dumps(ep))
    if consumers and n:
        lines.append("consumers:")
        per = max(1, min(20, n))
        for c in range(consumers):
            eps = sorted({f"ep-{(c * per + k) % n:06d}" for k in range(per)})
            slos: list[dict[str, Any]] = [{"name": "availability", "sli": "availability", "objective": 99.9}]
            if c % 5 == 0:
                slos.append({"name": "minutes", "sli": "availability", "objective": 99.5, "budgeting": "timeslices",
                             "window": {"calendar": "month", "timezone": "Europe/Berlin"}})  # fmt: skip
            else:
                slos.append({"name": "fast", "sli": "latency", "threshold": "300ms", "objective": 99, "window": "30d"})
            lines.append("  - " + json.dumps({"name": f"consumer-{c}", "endpoints": eps, "slos": slos}))
    path.write_text("\n".join(lines) + "\n")
    return urls


# -- the daemon ---------------------------------------------------------------------------------
def start_daemon(children: Children, config: Path, listen: str, log: Path, ready_timeout: float,
                 uvloop: bool = False, gc_log: bool = False, gc_threshold: str | None = None,
                 ) -> tuple[subprocess.Popen[bytes], float]:  # fmt: skip
    """Spawn `python -m slowatch run` and wait for /readyz 200; return it and seconds to ready."""
    t0 = time.monotonic()
    launcher = [str(HERE / "uvloop_main.py")] if uvloop else ["-m", "slowatch"]
    if gc_log or gc_threshold:
        launcher = [str(HERE / "gc_main.py"), *([f"--gc-threshold={gc_threshold}"] if gc_threshold else [])]
    with open(log, "ab") as f:
        proc = children.start(
            [PY, *launcher, "run", "--config", str(config), "--listen", listen, "--log-level", "WARNING"],
            stdout=f, stderr=f, cwd=str(config.parent),
        )  # fmt: skip
    url = f"http://{listen}/readyz"
    while time.monotonic() - t0 < ready_timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}; see {log}:\n{log.read_text()[-3000:]}")
        if m.http_status(url, timeout=1.0) == 200:
            return proc, time.monotonic() - t0
        time.sleep(0.05)
    raise TimeoutError(f"daemon not ready after {ready_timeout:.0f}s; see {log}")


def measure_daemon(args: argparse.Namespace, children: Children, workdir: Path, config: Path, db: Path,
                   listen: str, targets: list[subprocess.Popen[bytes]]) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    log = workdir / "daemon.log"
    proc, ready = start_daemon(children, config, listen, log, args.ready_timeout, args.uvloop, args.gc_log,
                               args.gc_threshold)  # fmt: skip
    out["start_to_ready_s"] = ready
    out["rss_after_start_mb"] = m.tree_status(proc.pid).get("VmRSS", 0) / 1024
    metrics_url = f"http://{listen}/metrics"
    time.sleep(args.warmup)
    first = m.scrape(metrics_url)
    # The scrape stalls the daemon's loop (rendering holds the GIL): let that pass before measuring.
    time.sleep(min(30.0, 2 * first.seconds + 1.0))
    spy = None
    if args.profile:
        spy_out = workdir / "profile.txt"
        spy = children.start(
            [str(Path(PY).parent / "py-spy"), "record", "--pid", str(proc.pid), "--duration", str(int(args.duration)),
             "--rate", str(args.profile_rate), "--format", "raw", "--output", str(spy_out), "--nonblocking",
             "--threads", "--subprocesses"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    t_start_wall, t_start = time.time(), time.monotonic()
    cpu0 = m.tree_cpu(proc.pid)
    main_cpu0 = m.proc_cpu(proc.pid)
    tcpu0 = sum(m.proc_cpu(p.pid) for p in targets)
    load0 = m.loadavg()
    scrapes: list[dict[str, float]] = []
    per_second: list[float] = []
    last_cpu, last_tick, next_scrape = (
        cpu0,
        time.monotonic(),
        t_start + args.scrape_interval if args.scrape_interval > 0 else float("inf"),
    )
    while (now := time.monotonic()) < t_start + args.duration:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon died during the run; see {log}")
        if now >= next_scrape:
            s = m.scrape(metrics_url)
            scrapes.append({"seconds": s.seconds, "bytes": s.bytes_text, "bytes_gzip": s.bytes_wire})
            next_scrape += args.scrape_interval
        tick = time.monotonic()
        time.sleep(max(0.0, min(1.0, t_start + args.duration - tick)))
        c = m.tree_cpu(proc.pid)
        per_second.append((c - last_cpu) / max(1e-3, time.monotonic() - last_tick))
        last_cpu, last_tick = c, time.monotonic()
    cpu1 = m.tree_cpu(proc.pid)
    main_cpu1 = m.proc_cpu(proc.pid)
    tcpu1 = sum(m.proc_cpu(p.pid) for p in targets)
    t_end_wall, t_end = time.time(), time.monotonic()
    load1 = m.loadavg()
    status = m.tree_status(proc.pid)
    main_status = m.proc_status(proc.pid)
    last = m.scrape(metrics_url)
    (workdir / "metrics-last.txt").write_text(last.text)
    if spy is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)
    out["shutdown_s"] = children.stop(proc, timeout=60)
    window = t_end - t_start
    out.update(
        window_s=window,
        cpu_s=cpu1 - cpu0,
        main_cpu_s=main_cpu1 - main_cpu0,
        processes=status.get("Processes", 1),
        main_peak_rss_mb=main_status.get("VmHWM", 0) / 1024,
        cpu_per_s_max=max(per_second, default=0.0),
        target_cpu_s=tcpu1 - tcpu0,
        peak_rss_mb=status.get("VmHWM", 0) / 1024,
        rss_mb=status.get("VmRSS", 0) / 1024,
        threads=status.get("Threads", 0),
        loadavg_start=load0,
        loadavg_end=load1,
        scrapes=scrapes,
        scrape_first={"seconds": first.seconds, "bytes": first.bytes_text, "bytes_gzip": first.bytes_wire},
        scrape_last={"seconds": last.seconds, "bytes": last.bytes_text, "bytes_gzip": last.bytes_wire},
    )
    lag = m.histogram_delta(m.histogram(last.text, "slowatch_scheduler_lag_seconds"),
                            m.histogram(first.text, "slowatch_scheduler_lag_seconds"))  # fmt: skip
    out["lag"] = {
        "count": lag[-1][1] if lag else 0,
        "p50_s": m.quantile(lag, 0.5),
        "p99_s": m.quantile(lag, 0.99),
        "max_le_s": m.max_bucket(lag),
        "share_le_100ms": m.fraction_le(lag, 0.1),
        "share_le_250ms": m.fraction_le(lag, 0.25),
        "buckets": lag,
    }
    for key, name in (("missed", "slowatch_scheduler_missed_runs_total"),
                      ("skipped", "slowatch_scheduler_skipped_runs_total"),
                      ("store_dropped", "slowatch_store_dropped_results_total"),
                      ("store_write_errors", "slowatch_store_write_errors_total")):  # fmt: skip
        out[key] = m.value(last.text, name) - m.value(first.text, name)
    out["store_pending_end"] = m.value(last.text, "slowatch_store_pending_writes")
    out["write_p99_s"] = m.quantile(
        m.histogram_delta(m.histogram(last.text, "slowatch_store_write_duration_seconds"),
                          m.histogram(first.text, "slowatch_store_write_duration_seconds")), 0.99)  # fmt: skip
    refresh = m.histogram_delta(m.histogram(last.text, "slowatch_slo_refresh_seconds"),
                                m.histogram(first.text, "slowatch_slo_refresh_seconds"))  # fmt: skip
    n_refresh = refresh[-1][1] if refresh else 0.0
    sum_refresh = m.value(last.text, "slowatch_slo_refresh_seconds_sum") - m.value(
        first.text, "slowatch_slo_refresh_seconds_sum")  # fmt: skip
    out["slo_refresh"] = {"count": n_refresh, "mean_s": sum_refresh / n_refresh if n_refresh else None,
                          "p99_s": m.quantile(refresh, 0.99)}  # fmt: skip
    # Probes and outcomes from the database the daemon wrote (flushed at shutdown).
    outcomes = db_outcomes(str(db), t_start_wall, t_end_wall)
    out["outcomes"] = outcomes
    out["probes"] = sum(outcomes.values())
    if args.jitter == 0:
        out["lag_db"] = db_lag(str(db), args.interval, t_start_wall, t_end_wall)
    total_rows = db_raw_count(str(db))
    out["results_rows"] = total_rows
    out["db_tables_bytes"] = m.table_bytes(str(db))
    out["db_file_bytes"] = db.stat().st_size
    if args.gc_log or args.gc_threshold:
        pauses = [line for line in log.read_text().splitlines() if line.startswith("gc-pause")]
        out["gc_pauses"] = [
            {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
            for line in pauses
            if t_start_wall <= float(line.rsplit("at=", 1)[1]) < t_end_wall
        ]
    if args.profile:
        text = (workdir / "profile.txt").read_text() if (workdir / "profile.txt").exists() else ""
        total, own, incl = m.top_frames(text, args.profile_top)
        out["profile"] = {"samples": total, "self": own, "inclusive": incl, "file": str(workdir / "profile.txt")}
    return out


def db_raw(db: str, since: float | None = None, until: float | None = None) -> list[tuple[Any, ...]]:
    """Every raw result of the daemon's database with since <= ts < until, oldest first, packed blocks and
    recent rows alike (slowatch.store.raw: (id, ts, endpoint, kind, outcome, duration, ..., attempt, ...))."""
    from sqlite_utils import Database

    from slowatch.store.raw import raw_results

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return raw_results(Database(conn), None, since, until)
    finally:
        conn.close()


def db_outcomes(db: str, since: float, until: float) -> dict[str, int]:
    """Raw results per outcome with since <= ts < until."""
    return dict(Counter(str(row[4]) for row in db_raw(db, since, until)))


def db_raw_count(db: str) -> int:
    """Every raw result kept: rows of `results` plus the rows packed in `result_blocks`."""
    recent: int = int(str(m.query(db, "SELECT count(*) FROM results")[0][0]))
    tables = {str(name) for (name,) in m.query(db, "SELECT name FROM sqlite_schema WHERE type = 'table'")}
    if "result_blocks" not in tables:
        return recent
    packed = m.query(db, "SELECT coalesce(sum(n), 0) FROM result_blocks")[0][0]
    return recent + int(str(packed))


def db_lag(db: str, interval: float, t0: float, t1: float) -> dict[str, Any]:
    """Lag of every first attempt started in [t0, t1), from the database (needs jitter 0).

    Without jitter APScheduler plans an endpoint's runs at first + k * interval. Per endpoint,
    k = round((ts - ts_first_seen) / interval) and `first` is estimated as min(ts - k * interval),
    so each lag is measured relative to that endpoint's smallest lag over the whole run (a slight
    underestimate when even the best run of an endpoint was late)."""
    by_ep: dict[str, list[float]] = {}
    for row in db_raw(db):  # oldest first: each endpoint's series is in time order
        if row[8] == 1:  # attempt
            by_ep.setdefault(str(row[2]), []).append(float(row[1]))
    lags: list[float] = []
    for series in by_ep.values():
        if len(series) < 3:  # too few runs to know the planned phase
            continue
        base0 = series[0]
        ks = [round((ts - base0) / interval) for ts in series]
        first = min(ts - k * interval for ts, k in zip(series, ks, strict=True))
        lags += [ts - k * interval - first for ts, k in zip(series, ks, strict=True) if t0 <= ts < t1]
    lags.sort()
    if not lags:
        return {"count": 0}

    def q(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))]

    return {"count": len(lags), "p50_s": q(0.5), "p99_s": q(0.99), "p999_s": q(0.999), "max_s": lags[-1],
            "share_le_100ms": sum(1 for x in lags if x <= 0.1) / len(lags),
            "share_le_250ms": sum(1 for x in lags if x <= 0.25) / len(lags)}  # fmt: skip


def measure_restart(args: argparse.Namespace, children: Children, workdir: Path, config: Path,
                    listen: str) -> dict[str, Any]:  # fmt: skip
    proc, ready = start_daemon(children, config, listen, workdir / "daemon-restart.log", args.ready_timeout,
                               args.uvloop)  # fmt: skip
    rss = m.proc_status(proc.pid).get("VmRSS", 0) / 1024
    children.stop(proc, timeout=60)
    return {"start_to_ready_s": ready, "rss_at_ready_mb": rss}


def measure_baseline(args: argparse.Namespace, children: Children, workdir: Path, urls: list[str],
                     duration: float, *, mode: str = "bare") -> dict[str, Any]:  # fmt: skip
    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    warmup = min(args.warmup, 2.0)
    proc = children.start(
        [PY, str(HERE / "baseline.py"), "--urls", str(url_file), "--interval", str(args.interval),
         "--duration", str(duration), "--warmup", str(warmup), "--concurrency", str(args.max_concurrency or 256),
         "--timeout", str(args.timeout), "--mode", mode, *(["--uvloop"] if args.uvloop else [])],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = proc.communicate(timeout=duration + warmup + args.timeout + 60)
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


def measure_blackbox(args: argparse.Namespace, children: Children, workdir: Path, urls: list[str],
                     duration: float) -> dict[str, Any] | None:  # fmt: skip
    exe = "/usr/bin/prometheus-blackbox-exporter"
    if not Path(exe).exists():
        return None
    cfg = workdir / "blackbox.yml"
    cfg.write_text(f"modules:\n  http_2xx:\n    prober: http\n    timeout: {args.timeout:g}s\n"
                   "    http:\n      preferred_ip_protocol: ip4\n")  # fmt: skip
    port = free_port()
    proc = children.start(
        [exe, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while m.http_status(f"http://127.0.0.1:{port}/metrics") != 200:
        if time.monotonic() > deadline:
            children.stop(proc)
            return None
        time.sleep(0.1)
    from urllib.parse import quote

    probe_urls = [f"http://127.0.0.1:{port}/probe?module=http_2xx&target={quote(u, safe='')}" for u in urls]
    url_file = workdir / "blackbox-urls.txt"
    url_file.write_text("\n".join(probe_urls) + "\n")
    warmup = min(args.warmup, 2.0)
    driver = children.start(
        [PY, str(HERE / "baseline.py"), "--urls", str(url_file), "--interval", str(args.interval),
         "--duration", str(duration), "--warmup", str(warmup), "--concurrency", str(args.max_concurrency or 256),
         "--timeout", str(args.timeout + 1), "--keepalive"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(warmup)
    cpu0 = m.proc_cpu(proc.pid)
    time.sleep(duration)
    cpu1 = m.proc_cpu(proc.pid)
    stdout, _ = driver.communicate(timeout=args.timeout + 60)
    rss = m.proc_status(proc.pid).get("VmHWM", 0) / 1024
    children.stop(proc)
    drive: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return {"probes": drive["probes"], "cpu_s": cpu1 - cpu0, "peak_rss_mb": rss, "window_s": duration}


# -- report -------------------------------------------------------------------------------------
def per_1000(cpu: float, probes: float) -> float | None:
    return 1000 * cpu / probes if probes else None


def fmt(x: float | None, spec: str = ".3f", unit: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{unit}"


def ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 1000:.1f} ms"


def report(res: dict[str, Any]) -> str:
    a, d = res["args"], res["daemon"]
    lag, ldb = d["lag"], d.get("lag_db") or {}
    lag_line = (
        f"lag (histogram delta)            p50 {ms(lag['p50_s'])} / p99 {ms(lag['p99_s'])}"
        f" / max <= {ms(lag['max_le_s'])}"
        f"   (share <= 100 ms {fmt(lag['share_le_100ms'], '.4f')}, <= 250 ms {fmt(lag['share_le_250ms'], '.4f')};"
        f" {lag['count']:.0f} observations)"
    )
    if ldb.get("count"):
        ldb_line = (
            f"lag from the database            p50 {ms(ldb['p50_s'])} / p99 {ms(ldb['p99_s'])}"
            f" / p99.9 {ms(ldb['p999_s'])} / max {ms(ldb['max_s'])}   ({ldb['count']} probes)"
        )
    else:
        ldb_line = "lag from the database            n/a (jitter > 0, or < 3 runs per endpoint)"
    lines = [
        f"slowatch benchmark  {res['date']}  endpoints={a['endpoints']} interval={a['interval']:g}s "
        f"duration={a['duration']:g}s consumers={a['consumers']} histograms={a['histograms']} "
        f"phases={a.get('phases', False)} mix={a['mix']}"
        f"{' uvloop' if a.get('uvloop') else ''}",
        f"load average: start {d['loadavg_start'][0]:.2f}  end {d['loadavg_end'][0]:.2f}  (2 cores shared)"
        f"   source: {res.get('source', '?')}",
        "",
        f"start -> ready (fresh db)        {d['start_to_ready_s']:.2f} s"
        f"   (RSS after start {d['rss_after_start_mb']:.0f} MB)",
        f"probes/s achieved / scheduled    {res['probes_per_s']:.1f} / {res['scheduled_per_s']:.1f}"
        f"   ({d['probes']} probes in {d['window_s']:.1f} s)",
        f"outcomes                         {d['outcomes']}",
        lag_line,
        ldb_line,
        f"missed / skipped runs            {d['missed']:.0f} / {d['skipped']:.0f}"
        f"   (store dropped {d['store_dropped']:.0f}, write errors {d['store_write_errors']:.0f},"
        f" pending at end {d['store_pending_end']:.0f}, write p99 {ms(d['write_p99_s'])})",
        f"SLO engine refresh               mean {ms(d['slo_refresh']['mean_s'])} / p99 {ms(d['slo_refresh']['p99_s'])}"
        f"   ({d['slo_refresh']['count']:.0f} refreshes in the window)",
        f"daemon CPU (with its workers)    {d['cpu_s']:.2f} s = {d['cpu_s'] / d['window_s']:.2f} cores"
        f" (busiest second {d['cpu_per_s_max']:.2f}; main process {d['main_cpu_s'] / d['window_s']:.2f} cores,"
        f" {d['processes']} process(es))",
        f"daemon CPU-s per 1,000 probes    {fmt(res['daemon_cpu_per_1000'])}",
        f"target servers CPU               {d['target_cpu_s']:.2f} s = {d['target_cpu_s'] / d['window_s']:.2f} cores",
        f"peak RSS (VmHWM, all processes)  {d['peak_rss_mb']:.0f} MB   (main process {d['main_peak_rss_mb']:.0f} MB,"
        f" threads {d['threads']})",
    ]
    sc = d["scrapes"] or [d["scrape_last"]]
    worst = max(sc, key=lambda s: s["seconds"])
    lines.append(
        f"/metrics scrape                  {len(d['scrapes'])} in window, worst {worst['seconds']:.3f} s,"
        f" last {d['scrape_last']['seconds']:.3f} s, {d['scrape_last']['bytes'] / 1e6:.2f} MB text"
        f" ({d['scrape_last']['bytes_gzip'] / 1e6:.2f} MB gzip)"
    )
    lines.append(f"DB bytes per 1,000 result rows   {fmt(res['db_bytes_per_1000'], ',.0f')}"
                 "   (whole DB, per-endpoint tables incl.; "
                 f"file {d['db_file_bytes'] / 1e6:.1f} MB, {d['results_rows']} result rows; per table: "
                 + ", ".join(f"{k}={v / 1e6:.1f}MB" for k, v in sorted(d['db_tables_bytes'].items()) if v > 8192)
                 + ")")  # fmt: skip
    lines.append(f"raw bytes per result row         {fmt(res.get('raw_bytes_per_row'), ',.0f')}"
                 "   (results table + its indexes)")  # fmt: skip
    if "gc_pauses" in d:
        gp = d["gc_pauses"]
        worst = max((p["ms"] for p in gp), default=0.0)
        lines.append(
            f"cyclic GC pauses >= 20 ms        {len(gp)} in window, worst {worst:.0f} ms, total"
            f" {sum(p['ms'] for p in gp) / 1000:.2f} s (gen2: {sum(1 for p in gp if p['gen'] == 2)})"
        )
    lines.append(f"shutdown (SIGTERM -> exit)       {d['shutdown_s']:.2f} s")
    if res.get("restart"):
        lines.append(f"restart -> ready (existing db)   {res['restart']['start_to_ready_s']:.2f} s")
    b = res.get("baseline")
    if b:
        lines.append(
            f"baseline bare aiohttp loop       {b['probes']} probes in {b['window_s']:.0f} s, CPU {b['cpu_s']:.2f} s,"
            f" {fmt(res['baseline_cpu_per_1000'])} CPU-s per 1,000"
        )
        lines.append(f"RATIO daemon / baseline CPU      {fmt(res['ratio'], '.2f')}x   (target <= 1.4x, issue #16)")
    pp = res.get("probe_path")
    if pp:
        lines.append(
            f"slowatch probe path alone        {pp['probes']} probes, CPU {pp['cpu_s']:.2f} s,"
            f" {fmt(res['probe_path_cpu_per_1000'])} CPU-s per 1,000 (run_probe + make_session, nothing else)"
        )
    bb = res.get("blackbox")
    if bb:
        lines.append(
            f"blackbox_exporter                {bb['probes']} probes, CPU {bb['cpu_s']:.2f} s,"
            f" {fmt(per_1000(bb['cpu_s'], bb['probes']))} CPU-s per 1,000; daemon / blackbox"
            f" {fmt(res.get('ratio_blackbox'), '.2f')}x; RSS {bb['peak_rss_mb']:.0f} MB"
        )
    prof = d.get("profile")
    if prof:
        lines += ["", f"profile: {prof['samples']} samples ({prof['file']})", "  top self:"]
        total = max(1, prof["samples"])
        lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in prof["self"]]
        lines.append("  top inclusive:")
        lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in prof["inclusive"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=1000)
    p.add_argument("--interval", type=float, default=10.0, help="probe interval (s) of every endpoint")
    p.add_argument("--duration", type=float, default=60.0, help="measurement window (s)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds after ready before measuring")
    p.add_argument("--timeout", type=float, default=None, help="probe timeout (s); default min(2, interval/2)")
    p.add_argument("--mix", default="fast=0.90,slow=0.05,fail=0.04,refused=0.01")
    p.add_argument("--slow-ms", type=float, default=200.0)
    p.add_argument("--consumers", type=int, default=300, help="consumers with 2 SLOs each (0: none)")
    p.add_argument("--histograms", action="store_true", help="server.metrics.histograms: true (default: false)")
    p.add_argument("--no-histograms", dest="histograms", action="store_false",
                   help="server.metrics.histograms: false (the default; written explicitly)")  # fmt: skip
    p.add_argument("--phases", action="store_true", help="server.metrics.phases: true (default: false)")
    p.add_argument("--max-concurrency", type=int, default=None, help="server.max_concurrency (default: daemon's)")
    p.add_argument("--probe-workers", default=None, help="server.probe_workers: N or auto (default: daemon's)")
    p.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="server.jitter (default 0: planned times are then known, so the lag of every probe "
        "is measured from the database; pass 0.1 for the daemon's default)",
    )
    p.add_argument("--target-procs", type=int, default=2)
    p.add_argument("--ports-per-proc", type=int, default=4)
    p.add_argument(
        "--scrape-interval", type=float, default=15.0, help="scrape /metrics this often (0: only at the ends)"
    )
    p.add_argument("--no-baseline", dest="baseline", action="store_false")
    p.add_argument("--baseline-duration", type=float, default=None, help="default: min(duration, 60)")
    p.add_argument("--no-restart", dest="restart", action="store_false")
    p.add_argument(
        "--probe-path",
        action="store_true",
        help="also run slowatch's probe function alone (no scheduler/store/metrics) at the same rate",
    )
    p.add_argument("--uvloop", action="store_true", help="run the daemon and the baselines on uvloop")
    p.add_argument("--gc-threshold", help="G0,G1,G2: gc.set_threshold in the daemon before it starts (implies the"
                   " gc_main.py launcher)")  # fmt: skip
    p.add_argument("--gc-log", action="store_true", help="log the daemon's cyclic-GC pauses >= 20 ms (asyncio only)")
    p.add_argument("--blackbox", action="store_true", help="also measure prometheus-blackbox-exporter")
    p.add_argument("--profile", action="store_true", help="py-spy the daemon during the window")
    p.add_argument("--profile-rate", type=int, default=100)
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--ready-timeout", type=float, default=600.0)
    p.add_argument("--src", help="import slowatch from this directory instead of the working tree (PYTHONPATH)")
    p.add_argument("--workdir", help="keep config, db, logs here (default: a temp dir, removed)")
    p.add_argument("--json", help="write all figures to this file")
    args = p.parse_args(argv)
    mix = parse_mix(args.mix)
    if args.timeout is None:
        args.timeout = min(2.0, args.interval / 2)
    baseline_duration = args.baseline_duration or min(args.duration, 60.0)

    tmp = None
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="slowatch-bench-")
        workdir = Path(tmp.name)
    db = workdir / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db}{suffix}")
    children = Children(args.src)
    # Targets must outlive every phase; they also exit by themselves after this.
    lifetime = 3 * args.ready_timeout + args.duration + args.warmup + 2 * baseline_duration + 300
    refused = socket.socket()  # bound, never listening: connections to it are refused
    refused.bind(("127.0.0.1", 0))
    try:
        targets, ports = start_targets(children, args.target_procs, args.ports_per_proc, args.slow_ms, lifetime)
        listen = f"127.0.0.1:{free_port()}"
        config = workdir / "bench.yaml"
        urls = write_config(
            config, n=args.endpoints, interval=args.interval, timeout=args.timeout, ports=ports,
            refused_port=refused.getsockname()[1], mix=mix, consumers=args.consumers, db=db, listen=listen,
            histograms=args.histograms, max_concurrency=args.max_concurrency, jitter=args.jitter,
            probe_workers=args.probe_workers, phases=args.phases,
        )  # fmt: skip
        res: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "args": {**vars(args), "mix": args.mix},
            "command": " ".join([Path(PY).name, *sys.argv]),
            "source": args.src
            or "working tree at "
            + subprocess.run(
                ["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"], capture_output=True, text=True
            ).stdout.strip(),
        }
        d = measure_daemon(args, children, workdir, config, db, listen, targets)
        res["daemon"] = d
        res["scheduled_per_s"] = args.endpoints / args.interval
        res["probes_per_s"] = d["probes"] / d["window_s"]
        res["daemon_cpu_per_1000"] = per_1000(d["cpu_s"], d["probes"])
        tables = d["db_tables_bytes"]
        db_total = sum(tables.values())
        res["db_bytes_per_1000"] = 1000 * db_total / d["results_rows"] if d["results_rows"] else None
        res["raw_bytes_per_row"] = tables.get("results", 0) / d["results_rows"] if d["results_rows"] else None
        if args.restart:
            res["restart"] = measure_restart(args, children, workdir, config, listen)
        if args.baseline:
            b = measure_baseline(args, children, workdir, urls, baseline_duration)
            res["baseline"] = b
            res["baseline_cpu_per_1000"] = per_1000(b["cpu_s"], b["probes"])
            if res["daemon_cpu_per_1000"] and res["baseline_cpu_per_1000"]:
                res["ratio"] = res["daemon_cpu_per_1000"] / res["baseline_cpu_per_1000"]
        if args.probe_path:
            pp = measure_baseline(args, children, workdir, urls, baseline_duration, mode="slowatch-probe")
            res["probe_path"] = pp
            res["probe_path_cpu_per_1000"] = per_1000(pp["cpu_s"], pp["probes"])
        if args.blackbox:
            bb = measure_blackbox(args, children, workdir, urls, baseline_duration)
            res["blackbox"] = bb
            if bb and bb["probes"] and res["daemon_cpu_per_1000"]:
                res["ratio_blackbox"] = res["daemon_cpu_per_1000"] / per_1000(bb["cpu_s"], bb["probes"])
    finally:
        children.stop_all()
        refused.close()
    print(report(res), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

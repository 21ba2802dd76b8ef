"""Measurement helpers for the benchmark harness: /proc sampling, Prometheus text, SQLite sizes,
py-spy collapsed stacks. No slowatch imports: the harness measures the daemon from outside."""

from __future__ import annotations

import gzip
import os
import re
import sqlite3
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")

# What Prometheus 2.x sends when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


# -- /proc ------------------------------------------------------------------------------------
def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0.0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (the daemon and its prober workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_cpu(pid: int) -> float:
    """utime + stime of `pid` and its live descendants, in seconds."""
    return sum(proc_cpu(p) for p in tree(pid))


def tree_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS summed over `pid` and its descendants (kB); `Processes` counts them."""
    total: dict[str, int] = {}
    pids = tree(pid)
    for p in pids:
        for k, v in proc_status(p).items():
            total[k] = total.get(k, 0) + v
    total["Processes"] = len(pids)
    return total


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS in kB (empty if the process is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def machine_cpu() -> tuple[float, float]:
    """CPU seconds of the whole machine since boot: (busy, stolen by the hypervisor), from /proc/stat. Steal
    means this VM's vCPUs were runnable but not running: a process then stalls however idle it is."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split()[1:9]
    )
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


# -- HTTP -------------------------------------------------------------------------------------
@dataclass
class Scrape:
    seconds: float
    bytes_wire: int
    bytes_text: int
    text: str


def scrape(url: str, timeout: float = 120.0) -> Scrape:
    """GET /metrics the way Prometheus does (OpenMetrics preferred, gzip) and time it end to end."""
    req = urllib.request.Request(url, headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        encoding = resp.headers.get("Content-Encoding", "")
    elapsed = time.perf_counter() - t0
    text = (gzip.decompress(raw) if encoding == "gzip" else raw).decode()
    return Scrape(elapsed, len(raw), len(text), text)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (OSError, urllib.error.URLError):
        return None


# -- Prometheus text --------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)")


def samples(text: str, prefix: str) -> list[tuple[str, str, float]]:
    """(name, raw label text, value) of every sample whose name starts with `prefix`."""
    out = []
    for line in text.splitlines():
        if line.startswith(prefix):
            m = _SAMPLE.match(line)
            if m:
                out.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return out


def value(text: str, name: str) -> float:
    """Sum of the samples named exactly `name` (0.0 if absent)."""
    return sum(v for n, _, v in samples(text, name) if n == name)


def histogram(text: str, name: str) -> list[tuple[float, float]]:
    """Cumulative (le, count) buckets of an unlabelled histogram, +Inf last."""
    buckets = []
    for n, labels, v in samples(text, name + "_bucket"):
        if n != name + "_bucket":
            continue
        m = re.search(r'le="([^"]+)"', labels)
        if m:
            buckets.append((float(m.group(1)), v))
    return sorted(buckets)


def histogram_delta(after: list[tuple[float, float]], before: list[tuple[float, float]]) -> list[tuple[float, float]]:
    old = dict(before)
    return [(le, v - old.get(le, 0.0)) for le, v in after]


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le  # as Prometheus: the highest finite bound
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def fraction_le(buckets: list[tuple[float, float]], bound: float) -> float | None:
    """Exact share of observations <= bound (bound must be a bucket edge)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    for le, count in buckets:
        if abs(le - bound) < 1e-12:
            return count / total
    return None


def max_bucket(buckets: list[tuple[float, float]]) -> float | None:
    """Upper bound of the highest non-empty bucket: the max is at most this."""
    prev = 0.0
    top = None
    for le, count in buckets:
        if count > prev:
            top = le
        prev = count
    return top


# -- SQLite -----------------------------------------------------------------------------------
def table_bytes(path: str) -> dict[str, int]:
    """Bytes per table, its indexes included (dbstat), read with a private read-only connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: Counter[str] = Counter()
        owners = {name: tbl for name, tbl in conn.execute("SELECT name, tbl_name FROM sqlite_schema")}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            out[owners.get(name, name)] += int(size)
        return dict(out)
    finally:
        conn.close()


def query(path: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


# -- py-spy -----------------------------------------------------------------------------------
def top_frames(collapsed: str, n: int = 25) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """From py-spy `--format raw` output: (samples, top self frames, top inclusive frames)."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    return total, own.most_common(n), incl.most_common(n)


def _short(frame: str) -> str:
    """`fn (/long/path/site-packages/pkg/mod.py:12)` -> `fn (pkg/mod.py:12)`."""
    m = re.match(r"^(.*) \((.*):(\d+)\)$", frame)
    if not m:
        return frame
    fn, path, line = m.groups()
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{fn} ({path}:{line})"

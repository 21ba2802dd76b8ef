"""The pages people read at a large, hostile consumer: weight, gzip, server CPU per page.

Builds a daemon (no scheduler) on a real SQLite file under a FakeClock, fed through its real probe path:
one consumer `big` with `--slos` SLOs over `--endpoints` endpoints (label selectors; objectives 99.999 %,
99.9 %, 99 %, 50 %; rolling 30d/7d, calendar month just started, quarter; one SLO overspent ~1,000x, one
without data), and a consumer `hostile` whose every free-text field (descriptions, labels, maintenance
names, probe messages, annotations, corrections) holds `<script>`, quotes, `&`, RTL and emoji. It then
serves on a loopback port and, with `--serve`, stays up (for chromium) until interrupted; otherwise it
fetches each page `--repeat` times with a separate `curl` process (so the client's CPU is not counted)
and prints bytes, bytes sent gzipped (when the server gzips) and server CPU (process_time, reader thread
included; best of `--repeat`) per page, fetched plain and with `Accept-Encoding: gzip`. Another version of
slowatch: `PYTHONPATH=DIR` with DIR from `git archive REV slowatch | tar -x -C DIR`.

  .venv/bin/python benchmarks/pages.py [--endpoints 2000] [--slos 200] [--hours 48] [--repeat 3] [--serve]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult

NOW = dt.datetime(2026, 12, 1, 0, 40, tzinfo=dt.UTC).timestamp()  # a calendar month 40 minutes old
EVIL = "<script>alert(1)</script> \"q\" 'a' & &amp; \u202eRTL \u05e9\u05dc\u05d5\u05dd 🔥"
OBJECTIVES = (99.999, 99.9, 99, 50)
WINDOWS = ("30d", "7d", "{calendar: month, timezone: Pacific/Chatham}", "{calendar: quarter}")


def config_text(db: Path, endpoints: int, slos: int) -> str:
    q = EVIL.replace("\\", "\\\\").replace('"', '\\"')
    eps = "\n".join(
        f'  - {{name: ep-{i:05d}, kind: http, url: "http://127.0.0.1:9/e{i}", labels: {{group: g{i % slos}, '
        f'note: "{q}"}}}}'
        for i in range(endpoints)
    )
    slo_lines = "\n".join(
        f"      - {{name: slo-{k:03d}, sli: availability, objective: {OBJECTIVES[k % 4]}, "
        f'window: {WINDOWS[k % 4]}, endpoints: [{{labels: {{group: g{k}}}}}], description: "{q}"}}'
        for k in range(slos)
    )
    return f"""
server: {{listen: "127.0.0.1:0", database: "{db}"}}
endpoints:
{eps}
  - {{name: never-probed, kind: http, url: "http://127.0.0.1:9/never"}}
consumers:
  - name: big
    description: "{q}"
    endpoints: [{{labels: {{note: "{q}"}}}}]
    slos:
{slo_lines}
  - name: hostile
    description: "{q}"
    endpoints: [ep-00000, ep-00001, never-probed]
    slos:
      - {{name: overspent, sli: availability, objective: 99.9, window: 7d, endpoints: [ep-00001], description: "{q}"}}
      - {{name: half, sli: availability, objective: 50, window: 7d, endpoints: [ep-00000]}}
      - {{name: nodata, sli: availability, objective: 99.9, window: 30d, endpoints: [never-probed]}}
      - {{name: month, sli: availability, objective: 99.9, window: {{calendar: month}}, endpoints: [ep-00000]}}
maintenance:
  - {{name: db-migration, consumers: [hostile], endpoints: [ep-00000],
     start: "2026-11-30T10:00:00Z", end: "2026-12-02T00:00:00Z"}}
"""


def outcome(i: int, ts: float) -> tuple[Outcome, str]:
    if i == 1:  # every probe bad against 99.9 %: 1,000x its budget
        return Outcome.HTTP_STATUS, EVIL
    if i % 7 == 3 and NOW - 5 * 3600 <= ts < NOW - 4 * 3600:
        return Outcome.CONNECTION_REFUSED, f"refused {EVIL}"
    return Outcome.SUCCESS, ""


async def build(db: Path, endpoints: int, slos: int, hours: int, step: float) -> Daemon:
    clock = FakeClock(NOW - hours * 3600 - 60)
    daemon = Daemon(load_text(config_text(db, endpoints, slos), env={}), clock=clock)
    await daemon.start(schedule=False)
    ts = NOW - hours * 3600
    while ts < NOW:
        clock.set(ts)
        dense = (ts - NOW) % step == 0  # ep-00000 and ep-00001 (`hostile`) every minute, the others every step
        for i in range(endpoints if dense else 2):
            out, msg = outcome(i, ts)
            daemon.on_result(ProbeResult(f"ep-{i:05d}", "http", out, ts, 0.05, message=msg))
        if ts % 21600 == 0:
            daemon._slo.persist()
            await daemon.store.flush()
        ts += 60.0
    clock.set(NOW)
    daemon._slo.refresh()
    daemon._slo.persist()
    await daemon.store.flush()
    daemon._slo.refresh()
    base = f"http://127.0.0.1:{daemon.bound_port}/api/v1"
    async with aiohttp.ClientSession() as http:  # an annotation and a budget correction, written by hostile people
        for path, doc in (
            ("annotations", {"kind": "deploy", "text": EVIL, "consumers": ["hostile"], "time": NOW - 7200}),
            (
                "corrections",
                {"consumer": "hostile", "slo": "half", "from": NOW - 9000, "to": NOW - 8000, "reason": EVIL},
            ),
        ):
            async with http.post(f"{base}/{path}", json=doc) as r:
                assert r.status in (200, 201), (path, r.status, await r.text())
    return daemon


PAGES = ("/", "/consumers/big", "/consumers/big/report", "/consumers/hostile", "/consumers/hostile/report",
         "/badges/big/slo-001.svg", "/badges/hostile/overspent.svg")  # fmt: skip


def fetch(url: str, gz: bool) -> tuple[bytes, str]:
    args = ["curl", "-s", "-D", "-", url] + (["-H", "Accept-Encoding: gzip"] if gz else [])
    out = subprocess.run(args, capture_output=True, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    return body, head.decode("latin-1")


async def measure(daemon: Daemon, repeat: int) -> None:
    base = f"http://127.0.0.1:{daemon.bound_port}"
    print(f"load average {os.getloadavg()}")
    print(f"{'page':32} {'bytes':>10} {'sent gzip':>10} {'cpu ms':>7} {'cpu ms gz':>10} {'wall ms gz':>11}")
    for path in PAGES:
        cpu = {False: float("inf"), True: float("inf")}
        wall, body, sent = float("inf"), b"", b""
        for _ in range(repeat):
            for gz in (False, True):
                c0, w0 = time.process_time(), time.perf_counter()
                got, head = await asyncio.to_thread(fetch, base + path, gz)
                cpu[gz] = min(cpu[gz], time.process_time() - c0)
                if gz:
                    wall = min(wall, time.perf_counter() - w0)
                    sent = got if "content-encoding: gzip" in head.lower() else b""
                else:
                    body = got
        print(
            f"{path:32} {len(body):>10,} {len(sent) if sent else '-':>10} {cpu[False] * 1000:>7.0f} "
            f"{cpu[True] * 1000:>10.0f} {wall * 1000:>11.0f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--slos", type=int, default=200)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--step", type=float, default=1800.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        daemon = await build(Path(tmp) / "pages.db", args.endpoints, args.slos, args.hours, args.step)
        print(f"built in {time.perf_counter() - t0:.1f} s; serving on http://127.0.0.1:{daemon.bound_port}", flush=True)
        try:
            if args.serve:
                await asyncio.Event().wait()
            await measure(daemon, args.repeat)
        finally:
            await daemon.stop()


if __name__ == "__main__":
    asyncio.run(main())

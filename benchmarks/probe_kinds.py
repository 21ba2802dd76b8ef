"""CPU per probe of each probe kind: slowatch's probe function next to a bare asyncio/aiohttp loop doing the same.

    .venv/bin/python benchmarks/probe_kinds.py [--rate 200] [--duration 10] [--kinds http,https,tcp,tls,dns]

One child process serves loopback targets (not measured): HTTP and HTTPS (aiohttp, a trustme CA's leaf for
127.0.0.1 / localhost), a TCP listener that accepts and closes, and a DNS server (tests/support/dnsserver,
UDP). Then, per kind, two prober child processes one after the other probe at `--rate` per second for
`--duration` s (after `--warmup` s, 2), at most 256 at once, and report their own CPU (getrusage) and probes:

  bare       the least code doing the same work: aiohttp GET with a fresh connection per request
             (force_close) and the body read (http, https: full TLS handshake, certificate verified);
             `asyncio.open_connection` + close (tcp); the same with TLS and `getpeercert()` (tls); a
             dnspython `udp` query (dns, the library slowatch's DNS probe uses)
  slowatch   `slowatch.probes.probe_once` on a validated endpoint of that kind, in a shared ProbeContext
             (the worker's probe path without the scheduler: benchmarks/worker_cpu.py prices that)

Prints CPU-s per 1,000 probes of each and the ratio, with the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
KINDS = ("http", "https", "tcp", "tls", "dns")


async def serve_targets(workdir: Path) -> None:
    """The targets' child: print their ports as JSON, serve until stdin closes."""
    import trustme
    from aiohttp import web

    from tests.support.dnsserver import DnsTarget

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    plain, tls = web.TCPSite(runner, "127.0.0.1", 0), web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await plain.start()
    await tls.start()

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    tcp = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    dns = await DnsTarget().start()
    port = lambda site: site._server.sockets[0].getsockname()[1]  # noqa: E731
    print(json.dumps({"http": port(plain), "https": port(tls), "tcp": tcp.sockets[0].getsockname()[1],
                      "dns": dns.port, "ca": str(workdir / "ca.pem")}), flush=True)  # fmt: skip
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def endpoint(kind: str, t: dict[str, Any]) -> Any:
    from slowatch.config.schema import Config

    docs = {
        "http": {"kind": "http", "url": f"http://127.0.0.1:{t['http']}/"},
        "https": {"kind": "http", "url": f"https://localhost:{t['https']}/", "tls": {"ca_file": t["ca"]}},
        "tcp": {"kind": "tcp", "host": "127.0.0.1", "port": t["tcp"]},
        "tls": {"kind": "tls", "host": "localhost", "port": t["https"], "ca_file": t["ca"]},
        "dns": {"kind": "dns", "query": "up.test.", "record_type": "A", "nameserver": f"127.0.0.1:{t['dns']}"},
    }
    doc = {"name": f"bench-{kind}", "timeout": "2s", **docs[kind]}
    return Config.model_validate({"endpoints": [doc]}).endpoints[0]


async def bare_probe(kind: str, t: dict[str, Any]) -> Any:
    """A probe function doing the same work with the least code (see the module docstring)."""
    import aiohttp
    import dns.asyncquery
    import dns.message

    client = ssl.create_default_context(cafile=t["ca"])
    if kind in ("http", "https"):
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, force_close=True, ssl=client))
        url = f"http://127.0.0.1:{t['http']}/" if kind == "http" else f"https://localhost:{t['https']}/"

        async def get() -> bool:
            async with session.get(url) as r:
                await r.read()
                return r.status == 200

        return get
    if kind in ("tcp", "tls"):
        port = t["tcp"] if kind == "tcp" else t["https"]

        async def connect() -> bool:
            if kind == "tcp":
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            else:
                _, writer = await asyncio.open_connection("localhost", port, ssl=client)
                writer.get_extra_info("peercert")
            writer.close()
            return True

        return connect

    async def query() -> bool:
        reply = await dns.asyncquery.udp(dns.message.make_query("up.test.", "A"), "127.0.0.1", port=t["dns"],
                                         timeout=2)  # fmt: skip
        return bool(reply.answer)

    return query


async def prober(kind: str, mode: str, t: dict[str, Any], rate: float, duration: float,
                 warmup: float) -> dict[str, Any]:  # fmt: skip
    from slowatch.clock import SystemClock
    from slowatch.models import Outcome
    from slowatch.probes import ProbeContext, make_session, probe_once

    if mode == "bare":
        fn = await bare_probe(kind, t)
    else:
        ctx, ep = ProbeContext(make_session(256), SystemClock()), endpoint(kind, t)

        async def fn() -> bool:
            return (await probe_once(ep, ctx)).outcome is Outcome.SUCCESS

    limit, done, ok, counting = asyncio.Semaphore(256), [0], [0], [False]

    async def one() -> None:
        async with limit:
            try:
                good = await fn()
            except Exception:
                good = False
        if counting[0]:
            done[0] += 1
            ok[0] += good

    tasks: set[asyncio.Task[None]] = set()
    start, sent, c0, t0 = time.monotonic(), 0, None, 0.0
    while (now := time.monotonic()) < start + warmup + duration:
        if c0 is None and now >= start + warmup:
            c0, t0, counting[0] = resource.getrusage(resource.RUSAGE_SELF), now, True
        due = int((now - start) * rate)
        for _ in range(due - sent):
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent = max(sent, due)
        await asyncio.sleep(0.005)
    c1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    counting[0] = False
    await asyncio.gather(*tasks)
    assert c0 is not None
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    return {"kind": kind, "mode": mode, "probes": done[0], "ok": ok[0], "seconds": t1 - t0, "cpu_s": cpu,
            "cpu_per_1000": cpu / max(1, done[0]) * 1000}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200.0, help="probes per second")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per kind and mode")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of probing before the measurement")
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--targets", help=argparse.SUPPRESS)
    p.add_argument("--prober", nargs=3, metavar=("KIND", "MODE", "TARGETS_JSON"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.targets:
        asyncio.run(serve_targets(Path(args.targets)))
        return
    if args.prober:
        kind, mode, targets = args.prober
        got = asyncio.run(prober(kind, mode, json.loads(targets), args.rate, args.duration, args.warmup))
        print(json.dumps(got))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, __file__, "--targets", tmp], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert server.stdout is not None
            targets = server.stdout.readline().strip()
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()[0]:.2f}, "
                  f"{args.rate:g} probes/s for {args.duration:g} s per kind and mode")  # fmt: skip
            rows = []
            for kind in args.kinds.split(","):
                got = {}
                for mode in ("bare", "slowatch"):
                    cmd = [sys.executable, __file__, "--rate", str(args.rate), "--duration", str(args.duration),
                           "--warmup", str(args.warmup), "--prober", kind, mode, targets]  # fmt: skip
                    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120, check=True)
                    got[mode] = json.loads(out.stdout.strip().splitlines()[-1])
                    rows.append(got[mode])
                b, s = got["bare"], got["slowatch"]
                print(f"{kind:6} bare {b['cpu_per_1000']:.3f} CPU-s per 1,000 ({b['ok']}/{b['probes']} ok)   "
                      f"slowatch {s['cpu_per_1000']:.3f} ({s['ok']}/{s['probes']} ok)   "
                      f"ratio {s['cpu_per_1000'] / b['cpu_per_1000']:.2f}x")  # fmt: skip
            print(f"load average at the end {os.getloadavg()[0]:.2f}")
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=2))
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()

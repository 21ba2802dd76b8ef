"""`SlowatchLocalFailures` under a real Prometheus: rule-group evaluation time at N endpoints x locations x replicas.

    .venv/bin/python -m benchmarks.local_failures_rule --endpoints 100000 --rounds 6      # 600,000 series
    #   --phases dense,sparse,dense,sparse   which rule set each phase loads (`before`: the single-expression rule
    #                                        of sessions 11-13; `dense`: session 14's recording rules, both reading
    #                                        every `slowatch_probe_success`; `sparse`: what slowatch generates now,
    #                                        the first from `slowatch_probe_failing`)
    #   --stats   also run each variant's alert expression through /api/v1/query?stats=all once per phase

A synthetic exporter (aiohttp, one port per location x replica) serves `slowatch_probe_success` in the shape a
slowatch fleet exports it (`endpoint`, `kind`, `shard`, `replica`, `location`; `instance` and `job` from the
scrape), and `slowatch_probe_failing 1` for the series that are 0. A share of the endpoints is down at every
replica of the first location (`--local`), a share at one replica only (`--one-replica`), a share everywhere
(`--everywhere`); the rest are up. Debian's `prometheus`
scrapes it and evaluates the `slowatch-fleet` group; each phase loads a rule set (`/-/reload`) and reads
`prometheus_rule_group_last_duration_seconds` from Prometheus's own /metrics after every evaluation. Each phase
also checks that the alert's expression gives the same counts per location as the `before` expression.

On a shared machine those wall-clock durations mostly measure the competition for the cores. `--cpu N` then
(after the phases; the last must be `dense` or `sparse`, so the recording rules have samples) stops scraping and
rule evaluation (a config without either) and runs each variant's rules N times, in a rotating order, as instant
queries at the time of that last evaluation, reading Prometheus's own CPU time (utime + stime in /proc/PID/stat)
around each: `before` is its one expression, `dense` and `sparse` their two recording rules' expressions and the
alert's (the alert reads the recorded series: the same samples for both), and the ratios to `dense`. `--gc` also
runs a full Go collection before each run (untimed) and at its end (timed), and a collection alone (`idle`), so
that no run pays for the garbage of the one before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from slowatch.generate.fleet import PROBE_DOWN, fleet_alerts
from slowatch.generate.promql import Aggregation
from slowatch.topology.processes import Service, find_binary, free_port

BEFORE_EXPR = """count by (job, location) (
  max without (instance, replica, shard) (slowatch_probe_success) == 0
  and on (endpoint) (max without (instance, replica, shard, location) (slowatch_probe_success) == 1)
  unless on (endpoint) ALERTS{alertname="SlowatchEndpointDown",alertstate="firing"}
)"""
DENSE_DOWN = "slowatch_probe_success == 0"
"""Session 14's `slowatch_fleet:probe_success:down`: a read of every series (now from `slowatch_probe_failing`)."""
GROUP = "slowatch-fleet"
VARIANTS = ("before", "dense", "sparse")


def _rules(variant: str) -> list[dict[str, object]]:
    local = [r for r in fleet_alerts(Aggregation()) if r.get("alert") in (None, "SlowatchLocalFailures")]
    if variant == "sparse":
        return local
    if variant == "dense":
        return [r | {"expr": DENSE_DOWN} if r.get("record") == PROBE_DOWN else r for r in local]
    alert = next(r for r in local if r.get("alert"))
    return [alert | {"expr": BEFORE_EXPR}]


def _alert_expr(variant: str) -> str:
    return str(next(r for r in _rules(variant) if r.get("alert"))["expr"])


def _state(i: int, loc: int, replica: int, args: argparse.Namespace) -> int:
    """1 (up) or 0 (down) for endpoint i as (location, replica) sees it."""
    share = (i % 1000) / 1000
    if share < args.everywhere:
        return 0
    if share < args.everywhere + args.local:
        return 0 if loc == 0 else 1
    if share < args.everywhere + args.local + args.one_replica:
        return 0 if replica == 0 else 1
    return 1


def body(loc: int, replica: int, args: argparse.Namespace) -> bytes:
    locations, letters = ("eu", "us", "ap", "sa", "af", "oc"), "abcdefgh"
    out = ["# HELP slowatch_probe_success 1 if the endpoint's last probe succeeded, else 0\n",
           "# TYPE slowatch_probe_success gauge\n"]  # fmt: skip
    failing = ["# HELP slowatch_probe_failing 1 while the endpoint's last probe failed (no series otherwise)\n",
               "# TYPE slowatch_probe_failing gauge\n"]  # fmt: skip
    for i in range(args.endpoints):
        shard = i % args.shards
        labels = (
            f'endpoint="endpoint-{i:06d}",kind="http",shard="{shard}",replica="{letters[replica]}",'
            f'location="{locations[loc]}"'
        )
        state = _state(i, loc, replica, args)
        out.append(f"slowatch_probe_success{{{labels}}} {state}\n")
        if state == 0:
            failing.append(f"slowatch_probe_failing{{{labels}}} 1\n")
    return "".join(out + failing).encode()


async def exporter(args: argparse.Namespace) -> tuple[list[web.AppRunner], list[str]]:
    runners, targets = [], []
    for loc in range(args.locations):
        for replica in range(args.replicas):
            payload = body(loc, replica, args)

            async def metrics(_: web.Request, payload: bytes = payload) -> web.Response:
                return web.Response(body=payload, content_type="text/plain")

            app = web.Application()
            app.router.add_get("/metrics", metrics)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
            targets.append(f"127.0.0.1:{port}")
    return runners, targets


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def collect_garbage(session: aiohttp.ClientSession, url: str) -> None:
    """A full Go garbage collection in Prometheus (its pprof heap handler runs `runtime.GC()` first)."""
    async with session.get(f"{url}/debug/pprof/heap", params={"gc": "1"}) as resp:
        await resp.read()


async def cpu_rounds(
    session: aiohttp.ClientSession, url: str, pid: int, at: float, rounds: int, gc: bool
) -> dict[str, list[float]]:
    """Prometheus CPU seconds per evaluation of each variant's rules, as instant queries at `at`. With `gc`, each
    measurement starts after a full collection (untimed: no variant pays for the previous one's garbage) and ends
    with one (timed: it pays for its own), and `idle` is such a collection alone (what every figure includes)."""
    exprs = {v: [str(r["expr"]) for r in _rules(v)] for v in VARIANTS}
    if gc:
        exprs["idle"] = []
    out: dict[str, list[float]] = {v: [] for v in exprs}
    names = list(exprs)
    for k in range(rounds):
        for variant in names[k % len(names) :] + names[: k % len(names)]:  # each variant in every place in turn
            if gc:
                await collect_garbage(session, url)
            t0 = cpu_seconds(pid)
            for expr in exprs[variant]:
                await query(session, url, expr, at=at)
            if gc:
                await collect_garbage(session, url)
            out[variant].append(cpu_seconds(pid) - t0)
            print(f"  cpu {variant}: {out[variant][-1]:.2f} s", flush=True)
    return out


def parse_metrics(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and 'rule_group="' in line and GROUP in line:
            return float(line.rsplit(" ", 1)[1])
    return None


async def query(
    session: aiohttp.ClientSession, url: str, expr: str, stats: bool = False, at: float | None = None
) -> dict[str, object]:
    params = {"query": expr, **({"stats": "all"} if stats else {}), **({"time": repr(at)} if at else {})}
    async with session.get(f"{url}/api/v1/query", params=params) as resp:
        data: dict[str, object] = await resp.json()
    if data.get("status") != "success":
        raise RuntimeError(f"query failed: {data}")
    return data


def counts(data: dict[str, object]) -> dict[str, float]:
    result = data["data"]["result"]  # type: ignore[index]
    return {r["metric"].get("location", ""): float(r["value"][1]) for r in result}  # type: ignore[union-attr]


async def phase(
    session: aiohttp.ClientSession, url: str, workdir: Path, variant: str, args: argparse.Namespace
) -> dict[str, object]:
    doc = {"groups": [{"name": GROUP, "interval": f"{args.eval_interval}s", "rules": _rules(variant)}]}
    (workdir / "rules.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    async with session.post(f"{url}/-/reload") as resp:
        if resp.status != 200:
            raise RuntimeError(f"reload failed: {resp.status} {await resp.text()}")
    durations: list[float] = []
    last_ts = None
    deadline = time.monotonic() + (args.rounds + 3) * args.eval_interval * 3
    seen = 0
    while len(durations) < args.rounds and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        async with session.get(f"{url}/metrics") as resp:
            text = await resp.text()
        ts = parse_metrics(text, "prometheus_rule_group_last_evaluation_timestamp_seconds")
        dur = parse_metrics(text, "prometheus_rule_group_last_duration_seconds")
        if ts is None or dur is None or ts <= 0 or ts == last_ts:
            continue
        last_ts = ts
        seen += 1
        if seen > 1:  # the first evaluation after a reload may have started under the previous rule set
            durations.append(dur)
            print(f"  {variant}: evaluation {len(durations)}: {dur:.3f} s", flush=True)
    before = counts(await query(session, url, BEFORE_EXPR))
    mine = counts(await query(session, url, _alert_expr(variant)))
    out: dict[str, object] = {
        "variant": variant,
        "durations": durations,
        "counts": mine,
        "same_as_before": mine == before,
    }
    if args.stats:
        stats = (await query(session, url, _alert_expr(variant), stats=True))["data"]["stats"]  # type: ignore[index]
        out["query_stats"] = stats
    with open("/proc/loadavg") as f:
        out["load"] = f.read().split()[:3]
    out["last_evaluation"] = last_ts
    return out


async def main(args: argparse.Namespace) -> int:
    prometheus = find_binary("prometheus")
    if prometheus is None:
        print("needs Debian's prometheus", file=sys.stderr)
        return 2
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="local-failures-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    runners, targets = await exporter(args)
    print(f"exporter: {len(targets)} targets x {args.endpoints} series ({time.monotonic() - t0:.1f} s)", flush=True)
    (workdir / "rules.yml").write_text(yaml.safe_dump({"groups": []}))
    (workdir / "prometheus.yml").write_text(
        f"global: {{scrape_interval: {args.scrape_interval}s, scrape_timeout: {args.scrape_interval}s, "
        f"evaluation_interval: {args.eval_interval}s}}\nrule_files: [rules.yml]\n"
        f"scrape_configs:\n  - job_name: slowatch\n    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
    )
    port = free_port()
    prom = Service(
        "prometheus",
        [prometheus, "--config.file=prometheus.yml", "--storage.tsdb.path=tsdb", "--storage.tsdb.retention.time=1d",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
        cwd=workdir, url=f"http://127.0.0.1:{port}", ready_path="/-/ready",
    )  # fmt: skip
    results = []
    try:
        await prom.spawn()
        await prom.ready(120)
        print(f"prometheus: {prom.url} workdir {workdir}", flush=True)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            want = args.endpoints * args.locations * args.replicas
            while True:  # every target scraped in full
                data = await query(session, prom.url, "count(slowatch_probe_success)")
                have = counts(data).get("", 0.0)
                if have >= want:
                    break
                await asyncio.sleep(2)
            print(f"prometheus has {want} series ({time.monotonic() - t0:.0f} s)", flush=True)
            await asyncio.sleep(2 * args.scrape_interval)  # a few samples each
            for variant in args.phases.split(","):
                results.append(await phase(session, prom.url, workdir, variant, args))
                r = results[-1]
                d: list[float] = r["durations"]  # type: ignore[assignment]
                print(f"{variant}: median {statistics.median(d):.3f} s, min {min(d):.3f}, max {max(d):.3f} over "
                      f"{len(d)} evaluations; counts {r['counts']}; same as before: {r['same_as_before']}; "
                      f"load {r['load']}", flush=True)  # fmt: skip
            if args.cpu:
                at = results[-1]["last_evaluation"]
                (workdir / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")  # nothing more comes in
                async with session.post(f"{prom.url}/-/reload") as resp:
                    assert resp.status == 200, await resp.text()
                assert prom.proc is not None
                cpu = await cpu_rounds(session, prom.url, prom.proc.pid, float(str(at)), args.cpu, args.gc)
                dense = statistics.median(cpu["dense"])
                for variant, values in cpu.items():
                    print(f"cpu {variant}: median {statistics.median(values):.2f} s, min {min(values):.2f}, "
                          f"max {max(values):.2f} over {len(values)} runs; "
                          f"{statistics.median(values) / dense:.2f}x dense", flush=True)  # fmt: skip
                idle = statistics.median(cpu["idle"]) if "idle" in cpu else 0.0
                for k in range(len(cpu["dense"])):
                    raw = cpu["sparse"][k] / cpu["dense"][k]
                    net = (cpu["sparse"][k] - idle) / (cpu["dense"][k] - idle)
                    print(f"round {k}: sparse / dense {raw:.2f} ({net:.2f} less the idle collection)", flush=True)
                results.append({"cpu_seconds": cpu, "at": at})
    finally:
        await prom.stop()
        for runner in runners:
            await runner.cleanup()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if all(r.get("same_as_before", True) for r in results) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoints", type=int, default=100_000)
    p.add_argument("--locations", type=int, default=3)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--local", type=float, default=0.01, help="share down at every replica of the first location")
    p.add_argument("--one-replica", type=float, default=0.01, help="share down at the first replica of each location")
    p.add_argument("--everywhere", type=float, default=0.001, help="share down everywhere")
    p.add_argument("--scrape-interval", type=int, default=30)
    p.add_argument("--eval-interval", type=int, default=15)
    p.add_argument("--rounds", type=int, default=5, help="evaluations measured per phase")
    p.add_argument("--phases", default="dense,sparse,dense,sparse")
    p.add_argument("--stats", action="store_true")
    p.add_argument("--cpu", type=int, default=0, help="then Prometheus's CPU per evaluation, N runs of each variant")
    p.add_argument("--gc", action="store_true", help="--cpu: a full collection before (untimed) and after each run")
    p.add_argument("--workdir")
    p.add_argument("--json")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))

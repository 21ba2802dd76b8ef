"""A fleet under kill -9 chaos: does every outage page exactly once, and every recovery resolve once?

    .venv/bin/python -m benchmarks.fleet_chaos [--seed 1] [--duration 480] [--workdir DIR] [--storm-threshold 0]
    .venv/bin/python -m benchmarks.fleet_chaos --judge DIR/result.json     # judge a finished run again

2 shards x 2 replicas (slowatch.topology: real `python -m slowatch run` processes on loopback, Debian's
prometheus and a 2-member `prometheus-alertmanager` cluster whose receiver is a Slack stand-in recording every
notification), every instance also posting to a direct webhook recorded here (header X-Instance says which). The
31 endpoints follow the plan of benchmarks/fleet_chaos_check.py. Meanwhile, seeded:
  - every 20-35 s one instance is killed with SIGKILL and started again 3-20 s later (never both replicas of
    a shard, except once: both replicas of shard 1 are down together for 25 s);
  - Alertmanager member 1 is killed with SIGKILL for 60 s;
  - every instance is reloaded with SIGHUP (the config gains e30), then the fleet is resharded 2 -> 3 shards
    (`--shard I/3`: server.cluster takes effect at a restart, README), one instance at a time, SIGTERM;
  - at the end of the script every endpoint but the dead ones is up; the receivers get 45 s to settle.
It prints the actions, the counts and every violation; exit status 1 if any. Takes duration + ~90 s.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from benchmarks.fleet_chaos_check import Note, Plan, judge_alertmanager, judge_webhook, make_plan
from slowatch.sharding import shard_of
from slowatch.topology import AmTiming, InstanceSpec, Topology, find_binary, free_port
from slowatch.topology.processes import Service


def config(port: int, hook: int, endpoints: int, storm: int) -> str:
    eps = "".join(
        f'  - {{name: e{i:02d}, kind: http, url: "http://127.0.0.1:{port}/e{i:02d}"}}\n' for i in range(endpoints)
    )
    return f"""\
server: {{database: ./slowatch.db, jitter: 0}}
defaults: {{interval: 1s, timeout: 500ms, alerts: {{failure_threshold: 3, success_threshold: 2}}}}
endpoints:
{eps}{f"alerting: {{storm: {{threshold: {storm}}}}}" if storm else ""}
sinks:
  am-1: {{kind: alertmanager, url: "${{SLOWATCH_ALERTMANAGER_1}}", resend_interval: 10s, retry_max: 2s}}
  am-2: {{kind: alertmanager, url: "${{SLOWATCH_ALERTMANAGER_2}}", resend_interval: 10s, retry_max: 2s}}
  hook: {{kind: webhook, url: "http://127.0.0.1:{hook}/hook", retry_max: 2s,
         headers: {{X-Instance: "${{SLOWATCH_INSTANCE}}"}}}}
routes: [{{sinks: [am-1, am-2, hook]}}]
"""


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.rng = random.Random(args.seed)
        self.duration = float(args.duration)
        self.plan: Plan = make_plan(args.seed, self.duration)
        self.workdir = workdir
        self.t0 = time.time()
        self.hook_notes: list[Note] = []
        self.log: list[str] = []
        self.down: set[str] = set()  # instances killed and not yet back
        self.busy = asyncio.Lock()  # the reshard and the random kills take turns
        self.moved: set[tuple[str, str]] = set()
        self.tasks: list[asyncio.Future[None]] = []

    def now(self) -> float:
        return time.time() - self.t0

    def say(self, text: str) -> None:
        line = f"{self.now():7.1f}s {text}"
        self.log.append(line)
        print(line, flush=True)

    async def target(self, request: web.Request) -> web.Response:
        down = self.plan.is_down(request.match_info["name"], self.now())
        return web.Response(status=503 if down else 200, text="down" if down else "ok")

    async def hook(self, request: web.Request) -> web.Response:
        doc = await request.json()
        sender = request.headers.get("X-Instance", "?")
        for ev in doc.get("events") or []:
            if ev.get("status") in ("firing", "resolved") and ev.get("endpoint"):
                self.hook_notes.append(Note(self.now(), ev["endpoint"], ev["status"], sender, str(ev.get("id"))))
        return web.Response(text="ok")

    def spec(self, shard: int, shards: int, replica: str) -> InstanceSpec:
        spec = InstanceSpec(shard=shard, shards=shards, replica=replica)
        return dataclasses.replace(spec, env={"SLOWATCH_INSTANCE": spec.name})

    async def restart_later(self, topo: Topology, names: list[str], after: float) -> None:
        await asyncio.sleep(after)
        for name in names:
            await topo.instances[name].spawn()
        await asyncio.gather(*(topo.instances[n].ready(90) for n in names))
        self.down.difference_update(names)
        self.say(f"restarted {', '.join(names)}")

    async def kill(self, topo: Topology, names: list[str], back_after: float) -> None:
        for name in names:
            service = topo.instances[name]
            service.kill()
            assert service.proc is not None
            await service.proc.wait()
        self.down.update(names)
        self.say(f"kill -9 {', '.join(names)} (back in {back_after:.0f}s)")

    async def random_kills(self, topo: Topology, until: float) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(20, 35))
            if self.now() > until:
                return
            async with self.busy:
                shards = {n: topo.specs[n].shard for n in topo.instances}
                hit = {shards[n] for n in self.down}
                choices = sorted(n for n in topo.instances if shards[n] not in hit)
                if not choices:
                    continue
                victim, back = self.rng.choice(choices), self.rng.uniform(3, 20)
                await self.kill(topo, [victim], back)
                self.tasks.append(asyncio.ensure_future(self.restart_later(topo, [victim], back)))

    async def at(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.now()))

    async def both_replicas(self, topo: Topology, t: float) -> None:
        await self.at(t)
        async with self.busy:
            while any(topo.specs[n].shard == 1 for n in self.down):
                await asyncio.sleep(1)
            await self.kill(topo, ["shard1-a", "shard1-b"], 25)
            start = self.now()
            await self.restart_later(topo, ["shard1-a", "shard1-b"], 25)
            names = frozenset(f"e{i:02d}" for i in range(31) if shard_of(f"e{i:02d}", 2) == 1)
            self.plan.blind.append((names, start, self.now()))

    async def am_outage(self, topo: Topology, t: float, length: float) -> tuple[float, float]:
        await self.at(t)
        member = topo.ams.members[0]
        member.kill()
        assert member.proc is not None
        await member.proc.wait()
        start = self.now()
        self.say("kill -9 alertmanager-1")
        await asyncio.sleep(length)
        await member.spawn()
        await topo.ams.ready(60)
        self.say("alertmanager-1 back, cluster settled")
        return start, self.now()

    async def reload_and_reshard(self, topo: Topology, path: Path, text: str, t: float) -> None:
        await self.at(t)
        async with self.busy:
            while self.down:
                await asyncio.sleep(1)
            path.write_text(text)
            for service in topo.instances.values():
                assert service.proc is not None
                service.proc.send_signal(signal.SIGHUP)
            self.say("SIGHUP every instance (config gains e30)")
            await asyncio.sleep(5)
            names = [f"e{i:02d}" for i in range(31)]
            for replica in "ab":
                for shard in range(3):
                    spec = self.spec(shard, 3, replica)
                    old = topo.instances.get(spec.name)
                    if old is not None:
                        self.moved.update((spec.name, n) for n in names if shard_of(n, 2) == shard != shard_of(n, 3))
                        assert await old.stop() == 0, old.tail()
                    topo.instances[spec.name] = service = _respawnable(topo, spec)
                    topo.specs[spec.name] = spec
                    await service.spawn()
                    await service.ready(90)
                    self.say(f"{spec.name} now runs --shard {shard}/3")


def _respawnable(topo: Topology, spec: InstanceSpec) -> Service:
    return topo._instance(spec)


async def main(args: argparse.Namespace) -> int:
    prometheus, alertmanager = find_binary("prometheus"), find_binary("prometheus-alertmanager", "alertmanager")
    if prometheus is None or alertmanager is None:
        print("needs Debian's prometheus and prometheus-alertmanager", file=sys.stderr)
        return 2
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fleet-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    run = Run(args, workdir)
    app = web.Application()
    app.router.add_get("/{name}", run.target)
    app.router.add_post("/hook", run.hook)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    port, hook = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await web.TCPSite(runner, "127.0.0.1", hook).start()
    path = workdir / "slowatch.yaml"
    path.write_text(config(port, hook, 30, args.storm_threshold))
    specs = [run.spec(s, 2, r) for s in (0, 1) for r in "ab"]
    topo = Topology(workdir / "topology", path, specs, prometheus=prometheus, alertmanager=alertmanager,
                    timing=AmTiming(), prometheus_alerts=False)  # fmt: skip
    for member in topo.ams.members:  # which member notified what: "Notify success" lines
        member.argv.append("--log.level=debug")
    await topo.start(90)
    run.t0 = time.time()  # the plan starts now
    run.say(f"fleet up: {', '.join(topo.instances)}; workdir {workdir}")
    d = run.duration
    try:
        chaos = asyncio.ensure_future(run.random_kills(topo, d - 40))
        am = asyncio.ensure_future(run.am_outage(topo, 0.25 * d, 60))
        both = asyncio.ensure_future(run.both_replicas(topo, 0.42 * d))
        reshard = asyncio.ensure_future(
            run.reload_and_reshard(topo, path, config(port, hook, 31, args.storm_threshold), 0.55 * d)
        )
        am_window = await am
        await asyncio.gather(chaos, both, reshard)
        await asyncio.gather(*run.tasks)
        await run.at(d + 45)
        while run.down:
            await asyncio.sleep(1)
        await asyncio.sleep(10)
    finally:
        codes = await topo.stop()
        await runner.cleanup()
    run.say(f"stopped: exit codes {codes}")
    am_notes = [
        Note(x.at - run.t0, x.labels["endpoint"], x.status, key=x.fingerprint)
        for x in topo.slack.deliveries
        if "alert_key" in x.labels and x.labels.get("endpoint")
    ]
    meta = {
        "seed": args.seed,
        "duration": run.duration,
        "storm": args.storm_threshold,
        "am_window": am_window,
        "moved": sorted(run.moved),
    }
    meta |= {"blind": [(sorted(n), a, b) for n, a, b in run.plan.blind], "log": run.log, "t0": run.t0}
    raw = {"am": [dataclasses.asdict(n) for n in am_notes], "hook": [dataclasses.asdict(n) for n in run.hook_notes]}
    (workdir / "result.json").write_text(json.dumps(meta | {"raw": raw}, indent=1))
    return judge(workdir / "result.json")


def judge(path: Path) -> int:
    """The verdict on a run's result.json (also `--judge FILE`: re-judge a run with this checker)."""
    doc = json.loads(path.read_text())
    plan = make_plan(doc["seed"], doc["duration"])
    plan.blind = [(frozenset(n), a, b) for n, a, b in doc["blind"]]
    notes = {k: [Note(**n) for n in v] for k, v in doc["raw"].items()}
    verdicts = {
        "alertmanager": judge_alertmanager(plan, notes["am"], tuple(doc["am_window"])),
        "webhook": judge_webhook(plan, notes["hook"], [tuple(m) for m in doc["moved"]], storm=doc.get("storm") == 0),
    }
    bad = 0
    for name, v in verdicts.items():
        print(f"{name}: {v.counts}; {len(v.violations)} violations, {len(v.documented)} documented")
        for line in v.violations:
            print("  VIOLATION", line)
        for line in v.documented:
            print("  documented", line)
        bad += len(v.violations)
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=480)
    parser.add_argument("--workdir")
    parser.add_argument("--storm-threshold", type=int, default=1000, help="alerting.storm.threshold (0: the default)")
    parser.add_argument("--judge", metavar="RESULT_JSON", help="only judge a finished run's result.json again")
    args = parser.parse_args()
    sys.exit(judge(Path(args.judge)) if args.judge else asyncio.run(main(args)))

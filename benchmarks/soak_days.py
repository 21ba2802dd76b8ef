"""Bounded growth over weeks: the real Daemon on a FakeClock over 60+ simulated days, in minutes.

    .venv/bin/python benchmarks/soak_days.py --days 60 --step 300      # --json FILE, --tracemalloc

200 endpoints (steady ones, flappers that fail every few minutes, some down for days, and a churning
set replaced by a config reload every 2 days together with a tenant consumer, its SLO and a sink of its
own, broken every other time), maintenance windows (daily and one-off), annotations and SLO corrections
through the HTTP API, a silence a day (as `slowatch silence` stores it), and two webhook sinks on real
aiohttp receivers, one of which is down for a whole simulated day. Results are fed through the daemon's
probe path (`on_result`, as a prober would); the SLO refresh, the alert evaluation and the SLO save run
every simulated step (`schedule=False`: no real probes; the alert service's own loop also runs, every
50 ms of real time, with its hourly prune on the FakeClock). The store's folds, pack passes and retention
run on the FakeClock's time, as they would over weeks.

At each checkpoint (default days 10, 20, 30, 40, 50, 60) it prints every table's row count, the database
and -wal sizes, and the lengths of the daemon's in-memory structures (latest results, alert streaks and
firing alerts, outbox queues, SLO ledgers and counters, the writer's recent-id runs and fold slots, series
on /metrics). Retention is short (raw 1d, rollups 14d) so all of it should plateau by day ~15: the
`grows` column at the end names what still grew between the last two checkpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slowatch.alerting.suppress import silence_key
from slowatch.clock import FakeClock
from slowatch.config import load
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from slowatch.scheduler import ProbeScheduler

DAY = 86400.0
GENERATIONS_EVERY = 2 * DAY


class Hook:
    """A webhook receiver on a fixed loopback port that can be taken down and brought back."""

    def __init__(self) -> None:
        self.posts = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _post(self, request: web.Request) -> web.Response:
        await request.read()
        self.posts += 1
        return web.Response(text="ok")

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def down(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def config_text(db: Path, gen: int, hooks: tuple[Hook, Hook], n: int) -> str:
    """The config of churn generation `gen`: the same steady/flapping/long-down endpoints, `n // 5` churning
    endpoints named after the generation, and a tenant consumer + sink of the generation."""
    steady, flap, down = n * 3 // 5, n // 10, n // 20
    churn = n - steady - flap - down
    eps = [f"steady-{i}" for i in range(steady)] + [f"flap-{i}" for i in range(flap)]
    eps += [f"down-{i}" for i in range(down)] + [f"churn-{gen}-{i}" for i in range(churn)]
    lines = [
        "server:",
        f"  database: {db}",
        "  listen: 127.0.0.1:0",
        "  retention: {raw: 1d, rollups: 14d, pack_after: 1h}",
        "endpoints:",
    ]
    for name in eps:
        lines.append(f"  - {{name: {name}, kind: http, url: 'http://127.0.0.1:9/{name}', interval: 5m, "
                     "alerts: {failure_threshold: 2, success_threshold: 1}}")  # fmt: skip
    tenant = f"tenant-{gen}"
    lines += [
        "consumers:",
        "  - name: core",
        "    endpoints: [" + ", ".join(e for e in eps if e.startswith(("steady-", "flap-"))) + "]",
        "    slos:",
        "      - {name: avail, sli: availability, objective: 99.5, window: 7d}",
        "      - {name: fast, sli: latency, threshold: 300ms, objective: 99, window: 30d}",
        "  - name: ops",
        "    endpoints: [" + ", ".join(e for e in eps if e.startswith("down-")) + "]",
        "    slos: [{name: avail, sli: availability, objective: 99, window: 7d}]",
        f"  - name: {tenant}",
        "    endpoints: [" + ", ".join(e for e in eps if e.startswith("churn-")) + "]",
        "    slos: [{name: avail, sli: availability, objective: 99.9, window: 7d}]",
        "maintenance:",
        "  - {name: nightly, consumers: [core], recurring: {start: '03:00', duration: 30m, timezone: UTC}}",
        f"  - {{name: one-off-{gen}, endpoints: [down-0], start: 2026-01-{1 + gen % 28:02d}T10:00:00Z, "
        f"end: 2026-01-{1 + gen % 28:02d}T12:00:00Z}}",
        "sinks:",
        f"  main: {{kind: webhook, url: 'http://127.0.0.1:{hooks[0].port}/main', retry_initial: 50ms, "
        "retry_max: 200ms, give_up_after: 2d}",
        f"  flaky: {{kind: webhook, url: 'http://127.0.0.1:{hooks[1].port}/flaky', retry_initial: 50ms, "
        "retry_max: 200ms, give_up_after: 2d}",
        # the tenant's own sink: broken (refused) half the generations, so a reload removes it with rows pending
        f"  sink-{gen}: {{kind: webhook, url: 'http://127.0.0.1:{9 if gen % 2 else hooks[0].port}/g{gen}', "
        "retry_initial: 50ms, retry_max: 200ms}",
        "routes:",
        f"  - {{match: {{consumer: {tenant}}}, sinks: [sink-{gen}], continue: true}}",
        "  - {match: {}, sinks: [main, flaky]}",
        "alerting:",
        "  evaluate_interval: 50ms",
        "  storm: {threshold: 1000, window: 1m, group_wait: 0s, group_interval: 0s}",
    ]
    return "\n".join(lines) + "\n"


def outcome_of(name: str, t: float, t0: float) -> Outcome:
    day, minute = (t - t0) / DAY, int((t - t0) // 60)
    if name.startswith("flap-"):
        return Outcome.TIMEOUT if (minute // 5 + zlib.crc32(name.encode()) % 3) % 4 == 0 else Outcome.SUCCESS
    if name.startswith("down-"):
        return Outcome.CONNECTION_REFUSED if int(day) % 10 in (3, 4, 5) else Outcome.SUCCESS
    if name.startswith("churn-") and name.endswith("-0"):  # one tenant endpoint flaps slowly: tenant alerts
        return Outcome.TIMEOUT if minute % 180 < 20 else Outcome.SUCCESS
    return Outcome.HTTP_STATUS if minute % 997 == zlib.crc32(name.encode()) % 997 else Outcome.SUCCESS


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        out["alert_outbox (pending)"] = conn.execute(
            "SELECT count(*) FROM alert_outbox WHERE status = 'pending'"
        ).fetchone()[0]
        return out
    finally:
        conn.close()


def memory(d: Daemon) -> dict[str, int]:
    """Lengths of the daemon's long-lived in-memory structures (private attributes: this is a diagnosis)."""
    a, s, w = d._alerts, d._slo, d._store._writer
    metric_series = 0
    endpoint_series = 0
    for family in d.registry.collect():
        for sample in family.samples:
            metric_series += 1
            endpoint_series += "endpoint" in sample.labels
    disp = a.dispatcher
    return {
        "latest": len(d._latest),
        "alert_streaks": len(a.health.streaks),
        "alert_firing": len(a.book.firing),
        "alert_book_counters": len(a.book.counters),
        "dispatcher_counters": len(disp.counters),
        "dispatcher_last_failure": len(disp.last_failure),
        "sink_workers": len(disp.workers),
        "outbox_queued": sum(len(wk.queue) for wk in disp.workers.values()),
        "burn_no_data": len(a.slo._no_data_since),
        "deps_recovered": len(a.health.deps._recovered),
        "slo_ledgers": len(s.engine.ledgers),
        "slo_counters": len(s.engine.counters),
        "slo_saved_counters": len(s._saved_counters),
        "slo_exported": len(s._exported.values),
        "recent_id_runs": len(w.recent._runs),
        "fold_slots": len(w.folds.memory._slots) if w.folds.memory is not None else -1,
        "fold_hours": len(w.folds.memory._hours) if w.folds.memory is not None else -1,
        "metric_series": metric_series,
        "metric_endpoint_series": endpoint_series,
    }


async def api(session: aiohttp.ClientSession, d: Daemon, path: str, body: dict[str, Any]) -> int:
    async with session.post(f"http://127.0.0.1:{d.bound_port}{path}", json=body) as r:
        await r.read()
        return r.status


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="soak-days-"))
    work.mkdir(parents=True, exist_ok=True)
    db, cfg = work / "soak.db", work / "slowatch.yaml"
    hooks = (Hook(), Hook())
    for h in hooks:
        await h.up()
    clock = FakeClock()
    t0 = clock.time()
    gen = 0
    cfg.write_text(config_text(db, gen, hooks, args.endpoints))
    d = Daemon(load(cfg), config_path=cfg, clock=clock, watch_interval=0)
    await d.start(schedule=False)
    # A reload applies its changes to the scheduler, which would then probe for real: give it the loop but keep
    # it from arming any run (the FakeClock's results come from this script only).
    sched = d._probing.scheduler
    assert isinstance(sched, ProbeScheduler)
    sched._loop, sched._accepting = asyncio.get_running_loop(), False
    names = [ep.name for ep in d.config.endpoints]
    checkpoints = sorted(int(x) for x in args.checkpoints.split(","))
    rows: list[dict[str, Any]] = []
    if args.tracemalloc:
        tracemalloc.start(10)
    snaps: dict[int, tracemalloc.Snapshot] = {}
    started = time.monotonic()
    reloads = failed_api = 0
    async with aiohttp.ClientSession() as session:
        t, end = t0, t0 + args.days * DAY
        while t < end:
            t += args.step
            clock.set(t)
            for name in names:
                out = outcome_of(name, t, t0)
                d.on_result(ProbeResult(name, "http", out, t - 0.2, 0.05 if out is Outcome.SUCCESS else 2.0))
            snap = d._slo.refresh()
            d._alerts.evaluate(snap)
            d._slo.persist_due()
            await asyncio.sleep(0)
            day = (t - t0) / DAY
            if int((t - t0) // args.step) % 12 == 0:
                await d.store.flush(fold=False)  # keep the writer's queue short (a real day spreads it out)
            if (t - t0) % DAY < args.step:  # once a day: an annotation and (every 3rd day) a correction
                note = {"kind": "deploy", "text": f"day {day:.0f}", "consumers": ["core"]}
                failed_api += await api(session, d, "/api/v1/annotations", note) != 201
                # and what `slowatch silence --endpoint` stores: the new tenant's canary, for an hour
                until = {"until": t + 3600, "reason": "canary deploy"}
                d.store.put_state(silence_key("endpoint", f"churn-{gen}-1"), until)
                if int(day) % 3 == 0:
                    body = {"consumer": "core", "slo": "avail", "from": t - 3600, "to": t - 1800,
                            "reason": f"probe host fault day {day:.0f}"}  # fmt: skip
                    failed_api += await api(session, d, "/api/v1/corrections", body) != 201
            if (t - t0) % DAY < args.step and int(day) == 5:
                await hooks[1].down()
            if (t - t0) % DAY < args.step and int(day) == 6:
                await hooks[1].up()
            if (t - t0 + DAY) % GENERATIONS_EVERY < args.step:  # (on odd days: checkpoints fall between reloads)
                gen += 1
                cfg.write_text(config_text(db, gen, hooks, args.endpoints))
                reloads += await d.reload()
                names = [ep.name for ep in d.config.endpoints]
            if int(day) in checkpoints and (t - t0) % DAY < args.step:
                await d.store.flush()
                await d.store.prune()
                await asyncio.sleep(0.3)  # let the sinks deliver what is due
                await d.store.flush(fold=False)
                row = {
                    "day": int(day),
                    "wall_s": round(time.monotonic() - started, 1),
                    "db_mb": round(db.stat().st_size / 2**20, 2),
                    "wal_mb": round(os.path.getsize(f"{db}-wal") / 2**20, 2) if os.path.exists(f"{db}-wal") else 0,
                    "tables": table_counts(db),
                    "memory": memory(d),
                    "posts": [h.posts for h in hooks],
                }
                if args.tracemalloc:
                    snaps[int(day)] = tracemalloc.take_snapshot()
                    row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
                checkpoints.remove(int(day))
    await d.stop()
    for h in hooks:
        await h.down()
    top: list[str] = []
    if len(snaps) >= 2:
        first, last = snaps[min(snaps)], snaps[max(snaps)]
        top = [str(s) for s in last.compare_to(first, "lineno")[:15]]
    return {"rows": rows, "reloads": reloads, "failed_api": failed_api, "tracemalloc_growth": top}


def grows(rows: list[dict[str, Any]]) -> list[str]:
    """What rose between the last two checkpoints (past the retention horizon it should not)."""
    if len(rows) < 2:
        return []
    a, b = rows[-2], rows[-1]
    out = [f"table {k}: {a['tables'].get(k, 0)} -> {v}" for k, v in b["tables"].items() if v > a["tables"].get(k, 0)]
    out += [f"memory {k}: {a['memory'][k]} -> {v}" for k, v in b["memory"].items() if v > a["memory"][k]]
    if b["db_mb"] > a["db_mb"] * 1.05:
        out.append(f"db file: {a['db_mb']} -> {b['db_mb']} MB")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=float, default=60)
    p.add_argument("--step", type=float, default=300.0, help="simulated seconds between each endpoint's results")
    p.add_argument("--endpoints", type=int, default=200)
    p.add_argument("--checkpoints", default="10,20,30,40,50,60")
    p.add_argument("--workdir")
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--json", help="write the whole report to this file")
    args = p.parse_args()
    report = asyncio.run(run(args))
    report["grows"] = grows(report["rows"])
    for line in report["grows"]:
        print("GROWS", line)
    for line in report["tracemalloc_growth"]:
        print("TRACEMALLOC", line)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Past one machine, proven on one: shards x HA replicas, Prometheus with the generated rules, a clustered
Alertmanager and a Slack stand-in (slowatch.topology, what scripts/cluster-demo starts), loopback only.

2 shards x 2 replicas probe 9 endpoints every second (2 always fail, 1 has an outage the test starts and
ends); a 5th, unsharded instance probes the same ones. The consumer budgets and burn rates the rules compute
equal the unsharded instance's own within 2 %; one replica is killed with SIGKILL mid-outage and started again
before it ends: no budget jump, and every firing and resolved alert reaches Slack exactly once.

(Three locations with a quorum: tests/e2e/test_replica_alerts.py, one topology that also routes every
location's instance to Alertmanager.)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from slowatch.sharding import shard_of
from slowatch.topology import AmTiming, InstanceSpec, Topology, find_binary, grid
from slowatch.topology.processes import Service
from tests.support.sockets import worker_ports


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[None]:
    """No blocking-call guard here: `slowatch.topology` is a harness (scripts/cluster-demo and this test) that
    writes a few config files and starts processes while it sets a topology up; it is not the daemon, whose
    own processes run without the guard anyway (they are subprocesses)."""
    yield


# One topology at a time (2 Alertmanagers, Prometheus, 3-5 daemons each): under pytest-xdist, on one worker.
pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.xdist_group("topology")]

FAILING: web.AppKey[set[str]] = web.AppKey("failing", set)
ENDPOINTS = [f"ep{i}" for i in range(8)]
OUTAGE = "flaky"


def binaries() -> tuple[str, str]:
    prometheus, alertmanager = find_binary("prometheus"), find_binary("prometheus-alertmanager", "alertmanager")
    if prometheus is None or alertmanager is None:
        pytest.skip("needs Debian's prometheus and prometheus-alertmanager")
    return prometheus, alertmanager


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    """/ok 200, /fail 503, /switch/NAME 503 while NAME is in app[FAILING]."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    async def switch(request: web.Request) -> web.Response:
        down = request.match_info["name"] in request.app[FAILING]
        return web.Response(status=503 if down else 200, text="down" if down else "ok")

    app = web.Application()
    app[FAILING] = set()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/switch/{name}", switch)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def sharded_config(port: int, *, alerts: bool) -> str:
    eps = "".join(
        f'  - {{name: {n}, kind: http, url: "http://127.0.0.1:{port}/{"fail" if i < 2 else "ok"}"}}\n'
        for i, n in enumerate(ENDPOINTS)
    )
    routing = """\
sinks:
  am-1: {kind: alertmanager, url: "${SLOWATCH_ALERTMANAGER_1}", resend_interval: 2s}
  am-2: {kind: alertmanager, url: "${SLOWATCH_ALERTMANAGER_2}", resend_interval: 2s}
routes: [{sinks: [am-1, am-2]}]
"""
    return f"""\
server: {{database: ./slowatch.db, jitter: 0}}
defaults: {{interval: 1s, timeout: 500ms, alerts: {{failure_threshold: 2, success_threshold: 2}}}}
endpoints:
{eps}  - {{name: {OUTAGE}, kind: http, url: "http://127.0.0.1:{port}/switch/{OUTAGE}"}}
consumers:
  - name: shop
    endpoints: [{", ".join(ENDPOINTS)}]
    slos:
      - {{name: strict, sli: availability, objective: 99, window: 30d}}
      - {{name: loose, sli: availability, objective: 78, window: 7d}}
  - name: ops
    endpoints: [{OUTAGE}]
    slos: [{{name: up, sli: availability, objective: 90, window: 30d}}]
alerting: {{evaluate_interval: 1s}}
{routing if alerts else ""}"""


async def eventually(check: Callable[[], Awaitable[list[str]]], within: float, what: str) -> None:
    problems = ["not checked yet"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        problems = await check()
        if not problems:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"{what} not within {within:g}s:\n" + "\n".join(problems))


async def own_figures(service: Service) -> dict[str, dict[tuple[str, ...], float]]:
    """The unsharded instance's own burn rates and budgets, from its /metrics."""
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"{service.url}/metrics") as r:
        text = await r.text()
    out: dict[str, dict[tuple[str, ...], float]] = {"burn": {}, "budget": {}, "events": {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("consumer") != "shop":
                continue
            if sample.name == "slowatch_slo_burn_rate":
                out["burn"][(sample.labels["slo"], sample.labels["window"])] = sample.value
            elif sample.name == "slowatch_slo_error_budget_remaining_ratio":
                out["budget"][(sample.labels["slo"],)] = sample.value
            elif sample.name == "slowatch_slo_events_total":
                out["events"][(sample.labels["slo"],)] = sample.value
    return out


def apart(ours: dict[tuple[str, ...], float], theirs: dict[tuple[str, ...], float]) -> list[str]:
    out = [f"{k}: only in one (rules {k in ours}, unsharded {k in theirs})" for k in sorted(set(ours) ^ set(theirs))]
    out += [f"{k}: rules {ours[k]:.4f} vs unsharded {theirs[k]:.4f}" for k in sorted(set(ours) & set(theirs))
            if abs(ours[k] - theirs[k]) > 0.02 * abs(theirs[k])]  # fmt: skip
    return out


async def test_shards_and_replicas_match_one_instance_and_alert_once_through_a_replica_crash(
    target: TestServer, tmp_path: Path
) -> None:
    prometheus, alertmanager = binaries()
    config = tmp_path / "slowatch.yaml"
    config.write_text(sharded_config(target.port, alerts=True))
    reference = tmp_path / "reference.yaml"
    reference.write_text(sharded_config(target.port, alerts=False))
    assert {shard_of(n, 2) for n in ENDPOINTS[:2]} == {0, 1}  # the failing endpoints span both shards
    specs = [*grid(2, 2), InstanceSpec(config=reference, scraped=False)]
    topo = Topology(tmp_path / "topology", config, specs, prometheus=prometheus, alertmanager=alertmanager,
                    timing=AmTiming(), ports=worker_ports())  # fmt: skip
    await topo.start()
    try:
        single = topo.instances["single"]

        async def parity() -> list[str]:
            own = await own_figures(single)
            burn = await topo.values('slowatch_slo:burn_rate:ratio{consumer="shop"}', "slo", "window")
            budget = await topo.values('slowatch_slo:error_budget_remaining:ratio{consumer="shop"}', "slo")
            problems = [f"burn {p}" for p in apart(burn, own["burn"])]
            # Budget *spent* (1 - remaining) within 2 %: remaining itself crosses 0 (loose: about -0.14 here),
            # where a relative comparison would magnify a 0.1 % difference in the error ratio into several %.
            spent = {k: 1 - v for k, v in budget.items()}
            problems += [f"budget spent {p}" for p in apart(spent, {k: 1 - v for k, v in own["budget"].items()})]
            return problems + ([] if len(burn) == 2 * 8 else [f"burn rates for {sorted(burn)}"])

        await eventually(parity, 60, "the rules' budgets and burn rates equal the unsharded instance's")

        # An outage of `flaky`, its shard's replica a killed with SIGKILL while it is firing, then the end of it.
        victim = topo.instances[f"shard{shard_of(OUTAGE, 2)}-a"]
        target.app[FAILING].add(OUTAGE)

        async def flaky_firing() -> list[str]:
            got = [d for d in topo.slack.deliveries if d.labels.get("endpoint") == OUTAGE and "alert_key" in d.labels]
            return [] if any(d.status == "firing" for d in got) else [f"flaky deliveries: {got}"]

        await eventually(flaky_firing, 20, "the outage's alert at Slack")
        # Budget left from the SLO-window error ratio: the recorded one waits for enough probes (100 at 99 %), a
        # threshold the 30d SLO's summed events are near here, while this checks the sums only.
        strict = 'slowatch_slo:sli_error:ratio_rate30d{slo="strict"}'
        loose = 'slowatch_slo:sli_error:ratio_rate7d{slo="loose"}'
        unguarded = f"1 - ({strict} / 0.01 or {loose} / 0.22)"
        before = await topo.values(unguarded, "slo")
        events = (await own_figures(single))["events"]
        victim.kill()
        assert victim.proc is not None and await victim.proc.wait() == -9
        budgets = [before]
        for _ in range(6):  # Prometheus marks the victim down and its series stale
            await asyncio.sleep(1)
            budgets.append(await topo.values(unguarded, "slo"))
        # No jump: the budget moves by at most what one probe round of the victim's shard can move it (the two
        # replicas' counts differ by about that much; a replica counted twice, or its shard's counts lost,
        # would move it by a third or more of the whole here).
        owned = sum(1 for n in ENDPOINTS if shard_of(n, 2) == shard_of(OUTAGE, 2))
        for slo, objective in (("strict", 0.99), ("loose", 0.78)):
            seen = [b[(slo,)] for b in budgets if (slo,) in b]
            one_round = owned / events[(slo,)] / (1 - objective)
            assert len(seen) == len(budgets) and max(seen) - min(seen) <= one_round, (slo, seen, one_round)
        await eventually(parity, 10, "parity after the crash")
        await victim.spawn()  # restarted mid-incident: its stored firing alert goes out again, as the same alert
        await victim.ready(30)
        await asyncio.sleep(3)  # a resend_interval (2s here) of the restarted replica
        target.app[FAILING].discard(OUTAGE)

        async def flaky_resolved() -> list[str]:
            got = [d for d in topo.slack.deliveries if d.labels.get("endpoint") == OUTAGE and "alert_key" in d.labels]
            return [] if any(d.status == "resolved" for d in got) else [f"flaky deliveries: {got}"]

        await eventually(flaky_resolved, 25, "the outage's resolution at Slack")
        await asyncio.sleep(6)  # a group interval past the resolution: a stale duplicate would be here
        ours = [d for d in topo.slack.deliveries if "alert_key" in d.labels]
        counts = Counter((d.status, d.fingerprint) for d in ours)
        twice = [
            (round(d.at - ours[0].at, 1), d.status, d.labels["alert_key"], d.labels.get("shard"))
            for d in ours
            if counts[(d.status, d.fingerprint)] > 1
        ]
        assert not twice, twice
        down = [d for d in ours if d.labels["kind"] == "endpoint_down"]
        firing = {d.labels.get("endpoint") for d in down if d.status == "firing"}
        assert firing == {"ep0", "ep1", OUTAGE}, ours
        assert {d.labels.get("endpoint") for d in down if d.status == "resolved"} == {OUTAGE}, ours
        assert all("replica" not in d.labels for d in ours), ours
        # an SLO alert says which shard judged it (each judges its part of a consumer); an endpoint alert does not
        # (one shard owns each endpoint: tests/e2e/test_reshard_alerts.py)
        assert all(("shard" in d.labels) == (d.labels["kind"] != "endpoint_down") for d in ours), ours
    finally:
        codes = await topo.stop()
    assert {n: c for n, c in codes.items() if c != 0} == {}


def test_the_cluster_demo_script_starts_and_stops_cleanly(tmp_path: Path) -> None:
    """scripts/cluster-demo: 1 shard x 2 replicas for a few seconds; every URL printed, every process gone."""
    import subprocess

    binaries()
    root = Path(__file__).resolve().parents[2]
    ports = worker_ports()
    done = subprocess.run(
        [str(root / "scripts" / "cluster-demo"), "--shards", "1", "--replicas", "2", "--duration", "3",
         "--workdir", str(tmp_path / "demo"), "--ports", f"{ports.start}-{ports.stop}"],
        capture_output=True, text=True, timeout=90, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in ("slowatch a ", "slowatch b ", "prometheus ", "alertmanager 1 ", "alertmanager 2 ", "stopped\n"):
        assert line in out, out
    assert "did not exit cleanly" not in out, out
    logs = {p.name: p.read_text() for p in (tmp_path / "demo").rglob("*.log")}
    assert "slowatch stopped" in logs["a.log"] and "slowatch stopped" in logs["b.log"], logs

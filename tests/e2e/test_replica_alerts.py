"""Several slowatch instances alerting through one clustered Alertmanager, judged at the receiver (a Slack
stand-in behind two clustered `prometheus-alertmanager`s; slowatch.topology), loopback only.

1. Two HA replicas, one outage that starts while the whole Alertmanager cluster is down: the alert waits in both
   outboxes and, once Alertmanager is back, the receiver gets it once firing and once resolved, also when a
   replica is killed (SIGKILL) mid-outage and restarted after the other one resolved it; both outboxes drain.
2. Three locations probe one endpoint through their own address (`${TARGET}`) with a quorum of 2, every
   instance routed to Alertmanager: one failing location leaves the rules' quorum at 0 and pages no one
   (neither an instance nor the rules) but is counted by the rules' local-failures ticket for that location; two
   failing locations fire the rules' quorum alert, paged once, and are no local failure.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.topology import AmTiming, Delivery, InstanceSpec, Topology, grid
from slowatch.topology.processes import get_json
from tests.e2e.test_cluster_topology import FAILING, binaries, eventually
from tests.support.sockets import worker_ports


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[None]:
    """No blocking-call guard: slowatch.topology is a harness that writes files and starts processes."""
    yield


# One topology at a time (2 Alertmanagers, Prometheus, 3-5 daemons each): under pytest-xdist, on one worker.
pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.xdist_group("topology")]


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    """/switch/NAME answers 503 while NAME is in app[FAILING], else 200."""

    async def switch(request: web.Request) -> web.Response:
        down = request.match_info["name"] in request.app[FAILING]
        return web.Response(status=503 if down else 200, text="down" if down else "ok")

    app = web.Application()
    app[FAILING] = set()
    app.router.add_get("/switch/{name}", switch)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


SINKS = """\
sinks:
  am-1: {kind: alertmanager, url: "${SLOWATCH_ALERTMANAGER_1}", resend_interval: 1s, retry_max: 2s}
  am-2: {kind: alertmanager, url: "${SLOWATCH_ALERTMANAGER_2}", resend_interval: 1s, retry_max: 2s}
routes: [{sinks: [am-1, am-2]}]
"""


def replica_config(port: int) -> str:
    # A probe every 2 s and 3 successes to resolve: a restarted replica takes ~5 s to see the end of an outage.
    return f"""\
server: {{database: ./slowatch.db, jitter: 0}}
defaults: {{interval: 2s, timeout: 500ms, alerts: {{failure_threshold: 2, success_threshold: 3}}}}
endpoints:
  - {{name: api, kind: http, url: "http://127.0.0.1:{port}/switch/api"}}
{SINKS}"""


def ours(topo: Topology) -> list[Delivery]:
    """What reached the receiver from slowatch instances themselves (not from the Prometheus rules)."""
    return [d for d in topo.slack.deliveries if "alert_key" in d.labels]


def arrived(topo: Topology, status: str) -> Callable[[], Awaitable[list[str]]]:
    async def check() -> list[str]:
        return [] if any(d.status == status for d in ours(topo)) else [f"deliveries: {ours(topo)}"]

    return check


async def outbox_pending(service_url: str) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"{service_url}/metrics") as r:
        text = await r.text()
    lines = [line for line in text.splitlines() if line.startswith("slowatch_outbox_pending{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


async def test_replicas_page_once_through_an_alertmanager_outage_a_crash_and_a_restart_after_the_outage(
    target: TestServer, tmp_path: Path
) -> None:
    """Both Alertmanagers down when the outage starts: the alert waits in both replicas' outboxes and arrives once
    they are back. Then replica a is killed mid-outage and restarted after b resolved it: its database still says
    firing, and it must not tell Alertmanager so again. Each status reaches the receiver once; both outboxes drain."""
    prometheus, alertmanager = binaries()
    config = tmp_path / "slowatch.yaml"
    config.write_text(replica_config(target.port))
    topo = Topology(tmp_path / "topology", config, grid(1, 2), prometheus=prometheus, alertmanager=alertmanager,
                    timing=AmTiming(), prometheus_alerts=False, ports=worker_ports())  # fmt: skip
    await topo.start()
    try:
        await topo.ams.stop()
        target.app[FAILING].add("api")

        async def queued() -> list[str]:
            pending = [await outbox_pending(s.url) for s in topo.instances.values()]
            return [] if all(p >= 2 for p in pending) else [f"outbox pending {pending}"]

        await eventually(queued, 20, "the firing alert waiting in both replicas' outboxes")
        await topo.ams.spawn()
        await topo.ams.ready(30)
        await eventually(arrived(topo, "firing"), 20, "the outage's alert once Alertmanager is back")
        # Both replicas posted it with identical labels: each Alertmanager holds ONE alert for api.
        for url in topo.ams.urls:
            alerts = await get_json(f"{url}/api/v2/alerts")
            assert isinstance(alerts, list) and [a["labels"].get("endpoint") for a in alerts] == ["api"], alerts
        victim = topo.instances["a"]
        victim.kill()
        assert victim.proc is not None and await victim.proc.wait() == -9
        target.app[FAILING].discard("api")
        await eventually(arrived(topo, "resolved"), 25, "the resolution, from replica b")
        await victim.spawn()  # its database still says firing: it must not tell Alertmanager so again
        await victim.ready(30)
        await asyncio.sleep(12)  # the victim sees the end itself (~5 s), then a group_interval (5 s) goes by
        got = ours(topo)
        assert Counter(d.status for d in got) == {"firing": 1, "resolved": 1}, got
        assert len({d.fingerprint for d in got}) == 1, got

        async def drained() -> list[str]:
            pending = [await outbox_pending(s.url) for s in topo.instances.values()]
            return [] if pending == [0, 0] else [f"outbox pending {pending}"]

        await eventually(drained, 10, "both outboxes drained")
    finally:
        codes = await topo.stop()
    assert set(codes.values()) == {0}, codes


def location_config() -> str:
    return f"""\
server: {{database: ./slowatch.db, jitter: 0, cluster: {{locations: [eu, us, ap]}}}}
defaults: {{interval: 1s, timeout: 500ms, alerts: {{failure_threshold: 2, success_threshold: 2}}}}
endpoints:
  - {{name: api, kind: http, url: "http://${{TARGET}}", alerts: {{locations: {{quorum: 2}}}}}}
consumers:
  - name: shop
    endpoints: [api]
    slos: [{{name: up, sli: availability, objective: 99, window: 30d, locations: {{quorum: 2}}}}]
alerting: {{evaluate_interval: 1s}}
{SINKS}"""


async def test_a_local_blip_pages_no_one_and_two_failing_locations_page_once_through_the_rules_quorum(
    target: TestServer, tmp_path: Path
) -> None:
    """Every location's instance routed to Alertmanager: eu failing alone leaves the rules' quorum at 0 and pages
    no one (neither an instance nor the rules); eu and us failing fire the rules' quorum alert, paged once."""
    prometheus, alertmanager = binaries()
    config = tmp_path / "slowatch.yaml"
    config.write_text(location_config())
    where = {loc: f"127.0.0.1:{target.port}/switch/{loc}" for loc in ("eu", "us", "ap")}
    specs = [InstanceSpec(location=loc, env={"TARGET": url}) for loc, url in where.items()]
    topo = Topology(tmp_path / "topology", config, specs, prometheus=prometheus, alertmanager=alertmanager,
                    ports=worker_ports())  # fmt: skip
    target.app[FAILING].add("eu")  # the network near the eu monitor is broken
    await topo.start()
    try:

        async def quorum() -> dict[tuple[str, ...], float]:
            return await topo.values('slowatch_slo:quorum_failed:bool{consumer="shop"}', "slo")

        async def eu_down() -> list[str]:
            down = await topo.values("slowatch_probe_success == 0", "location")
            failed = await quorum()
            return [] if set(down) == {("eu",)} and failed == {("up",): 0.0} else [f"down {down}, quorum {failed}"]

        await eventually(eu_down, 30, "eu alone seeing api down")
        # 8 s: past the down alert's `for` (2 probe intervals), the instances' failure threshold, a resend and
        # Alertmanager's group_wait
        for _ in range(8):
            await asyncio.sleep(1)
            assert not await topo.query('ALERTS{alertname="SlowatchEndpointDown"}')
            assert (await quorum()) == {("up",): 0.0}
        assert not topo.slack.deliveries, topo.slack.deliveries
        # ... but it is not unseen: the rules' local-failures ticket counts it for eu (pending: `for: 5m`), and
        # eu's own instance lists the alert it did not send
        local = 'ALERTS{alertname="SlowatchLocalFailures"}'
        assert await topo.values(local, "location", "alertstate") == {("eu", "pending"): 1.0}
        for name, service in topo.instances.items():
            doc = await get_json(f"{service.url}/api/v1/alerts")
            assert isinstance(doc, dict)
            own = [(a["endpoint"], a["suppressed"], a["suppressed_reason"]) for a in doc["alerts"]]
            assert own == ([("api", True, "location quorum")] if name == "eu" else []), (name, doc)
        target.app[FAILING].add("us")

        async def quorum_fires() -> list[str]:
            alerts = await topo.values('ALERTS{alertname="SlowatchEndpointDown",alertstate="firing"}', "endpoint")
            failed = await quorum()
            slack = [d.labels.get("endpoint") for d in topo.slack.deliveries if d.status == "firing"]
            ok = set(alerts) == {("api",)} and failed == {("up",): 1.0} and "api" in slack
            return [] if ok else [f"alerts {alerts}, quorum {failed}, slack {slack}"]

        await eventually(quorum_fires, 30, "the quorum alert and a page with two of three locations failing")
        await asyncio.sleep(6)  # a group_interval: other pages about the same outage would be here
        firing = [d for d in topo.slack.deliveries if d.status == "firing"]
        assert [(d.labels["alertname"], d.labels.get("endpoint")) for d in firing] == [
            ("SlowatchEndpointDown", "api")
        ], firing
        assert "alert_key" not in firing[0].labels, firing  # the rules' quorum alert, not one location's own
        assert not await topo.query(local), await topo.query(local)  # a quorum's outage is no local failure
        target.app[FAILING].add("ap")  # every location: still one down page, none from an instance
        await asyncio.sleep(6)  # a group_interval
        got = topo.slack.deliveries
        assert not [d for d in got if "alert_key" in d.labels], got
        assert len({d.fingerprint for d in got}) == len(got), got  # each alert once (the SLO's burn pages besides)
        assert [d.labels["alertname"] for d in got].count("SlowatchEndpointDown") == 1, got
        assert not await topo.query(local), await topo.query(local)
    finally:
        codes = await topo.stop()
    assert set(codes.values()) == {0}, codes

"""Resharding in the middle of an outage, judged at the receiver (a Slack stand-in behind two clustered
`prometheus-alertmanager`s; slowatch.topology), loopback only.

Two shards page for `web` (shard 0 of 2) while it is down; every instance is restarted with 3 shards, which
moves `web` to shard 2 (`slowatch shard`). One outage is one alert: the receiver gets it firing once (not a
second page from its new shard, nor a "resolved" from the old one while it is still down) and resolved once
when it ends; the old owner's own alerts no longer list it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from slowatch.sharding import shard_of
from slowatch.topology import AmTiming, InstanceSpec, Topology
from slowatch.topology.processes import get_json
from tests.e2e.test_cluster_topology import FAILING, binaries, eventually
from tests.e2e.test_replica_alerts import SINKS, arrived, ours, target
from tests.support.sockets import worker_ports

__all__ = ["target"]  # (the fixture, shared)


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[None]:
    """No blocking-call guard: slowatch.topology is a harness that writes files and starts processes."""
    yield


# One topology at a time (2 Alertmanagers, Prometheus, 3-5 daemons each): under pytest-xdist, on one worker.
pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.xdist_group("topology")]


def config(port: int) -> str:
    return f"""\
server: {{database: ./slowatch.db, jitter: 0}}
defaults: {{interval: 1s, timeout: 500ms, alerts: {{failure_threshold: 2, success_threshold: 2}}}}
endpoints:
  - {{name: web, kind: http, url: "http://127.0.0.1:{port}/switch/web"}}
  - {{name: db, kind: http, url: "http://127.0.0.1:{port}/switch/db"}}
{SINKS}"""


async def test_an_endpoint_moved_to_another_shard_mid_outage_is_one_alert_paged_once(
    target: TestServer, tmp_path: Path
) -> None:
    assert (shard_of("web", 2), shard_of("web", 3)) == (0, 2)
    prometheus, alertmanager = binaries()
    path = tmp_path / "slowatch.yaml"
    path.write_text(config(target.port))
    specs = [InstanceSpec(shard=s, shards=2, replica="a") for s in (0, 1)]
    topo = Topology(tmp_path / "topology", path, specs, prometheus=prometheus, alertmanager=alertmanager,
                    timing=AmTiming(), prometheus_alerts=False, ports=worker_ports())  # fmt: skip
    target.app[FAILING].add("web")
    await topo.start()
    try:
        await eventually(arrived(topo, "firing"), 20, "web's page from shard 0 of 2")
        for service in topo.instances.values():
            assert await service.stop() == 0
        # `--shard I/3` for all (a new instance for shard 2); the old ones keep their directories and databases
        resharded = [InstanceSpec(shard=s, shards=3, replica="a") for s in (0, 1, 2)]
        topo.instances = {spec.name: topo._instance(spec) for spec in resharded}
        topo.specs = {spec.name: spec for spec in resharded}
        for service in topo.instances.values():
            await service.spawn()
        await asyncio.gather(*(s.ready(30) for s in topo.instances.values()))

        async def taken_over() -> list[str]:
            alerts = {}
            for name, service in topo.instances.items():
                doc = await get_json(f"{service.url}/api/v1/alerts")
                assert isinstance(doc, dict)
                alerts[name] = [a["endpoint"] for a in doc["alerts"]]
            return [] if alerts == {"shard0-a": [], "shard1-a": [], "shard2-a": ["web"]} else [f"alerts {alerts}"]

        await eventually(taken_over, 20, "web's alert on its new shard only")
        await asyncio.sleep(7)  # a resend (1s) and a group_interval (5s): a second page would be here
        assert [(d.status, d.labels.get("endpoint")) for d in ours(topo)] == [("firing", "web")], ours(topo)
        target.app[FAILING].discard("web")
        await eventually(arrived(topo, "resolved"), 20, "web's resolution")
        await asyncio.sleep(6)
        got = ours(topo)
        assert Counter((d.status, d.labels.get("endpoint")) for d in got) == {
            ("firing", "web"): 1,
            ("resolved", "web"): 1,
        }, got
        assert len({d.fingerprint for d in got}) == 1, got
    finally:
        codes = await topo.stop()
    assert set(codes.values()) == {0}, codes

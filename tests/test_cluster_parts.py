"""Several instances, the parts that are easy to get wrong: composites under sharding, alert labels in HA."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestServer

from slowatch.alerting.events import AlertEvent, endpoint_key
from slowatch.alerting.sinks import build_sinks
from slowatch.cluster import local_view
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.sharding import shard_of

# blake2b-64 mod 2: e0 lives in shard 0, e3 in shard 1.
COMPOSITE = """
server: {{listen: "127.0.0.1:0", database: "{db}", cluster: {{shards: 2, shard: {shard}}}}}
endpoints:
  - {{name: e0, kind: http, url: "http://127.0.0.1:{port}/ok"}}
  - {{name: e3, kind: http, url: "http://127.0.0.1:{port}/ok"}}
consumers:
  - name: a
    endpoints: [e0]
    slos: [{{name: up, sli: availability, objective: 99}}]
  - name: b
    endpoints: [e3]
    slos: [{{name: up, sli: availability, objective: 99}}]
  - name: journey          # no endpoints of its own: a composite of a/up (shard 0) and b/up (shard 1)
    slos:
      - name: checkout
        objective: 99
        composite: {{method: serial, members: [{{slo: a/up}}, {{slo: b/up}}]}}
      - name: deeper       # a composite of a composite
        objective: 99
        composite: {{method: worst, members: [{{slo: checkout}}]}}
  - name: only-b
    slos: [{{name: j, objective: 99, composite: {{method: serial, members: [{{slo: b/up}}]}}}}]
"""


def test_a_shard_keeps_a_composite_with_the_members_it_owns(tmp_path: Path) -> None:
    assert (shard_of("e0", 2), shard_of("e3", 2)) == (0, 1)
    view = local_view(load_text(COMPOSITE.format(db=tmp_path / "x.db", shard=0, port=9)))
    consumers = {c.name: c for c in view.local.consumers}
    assert set(consumers) == {"a", "journey"}  # only-b's composite has no member on shard 0
    checkout, deeper = consumers["journey"].slos
    assert checkout.composite is not None and [m.slo for m in checkout.composite.members] == ["a/up"]
    assert deeper.composite is not None and [m.slo for m in deeper.composite.members] == ["checkout"]
    assert view.partial["journey"].owned == 1 and view.partial["journey"].total == 2
    assert "journey" in local_view(load_text(COMPOSITE.format(db=tmp_path / "y.db", shard=1, port=9))).partial


async def test_a_sharded_daemon_evaluates_the_composite_over_its_members(target: TestServer, tmp_path: Path) -> None:
    d = Daemon(load_text(COMPOSITE.format(db=tmp_path / "s.db", shard=1, port=target.port)))
    await d.start(schedule=False, serve=False)
    try:
        assert [r.endpoint for r in await d.probe_all_once()] == ["e3"]
        rows = {(r["consumer"], r["slo"]): r for r in d.slo_view()}
    finally:
        await d.stop()
    assert set(rows) == {("b", "up"), ("journey", "checkout"), ("journey", "deeper"), ("only-b", "j")}
    assert rows[("journey", "checkout")]["sli_kind"] == "composite"


CLUSTERED = """
server: {{cluster: {{shards: 2, shard: 1, replica: {replica}, locations: [eu, us], location: us}}}}
endpoints: [{{name: api, kind: http, url: "http://127.0.0.1:9/"}}]
sinks: {{am: {{kind: alertmanager, url: "http://127.0.0.1:9093"}}}}
routes: [{{sinks: [am]}}]
"""


def test_replicas_send_alertmanager_identical_labels_with_shard_and_location() -> None:
    """An SLO alert says which shard judged it (each judges its part of a consumer); an endpoint alert does not: one
    shard owns each endpoint, and one that moves to another shard keeps its alert (tests/e2e/test_reshard_alerts.py)."""
    event = AlertEvent(
        alert_key=endpoint_key("api"), kind="endpoint_down", status="firing", severity="page",
        since=1000.0, ts=1001.0, title="api is down", summary="api: connection refused", endpoint="api",
    )  # fmt: skip
    slo = AlertEvent(
        alert_key="burn:shop/up:page", kind="burn_rate", status="firing", severity="page", since=1000.0, ts=1001.0,
        title="shop/up burns", summary="shop/up burns its budget", consumers=("shop",), slo="up",
    )  # fmt: skip
    sent = []
    for replica in ("a", "b"):
        sink = build_sinks(load_text(CLUSTERED.format(replica=replica)))["am"]
        sent.append([a["labels"] for a in sink.request([event, slo]).body])
    assert sent[0] == sent[1]
    down, burn = sent[0]
    assert "shard" not in down and down["location"] == "us" and "replica" not in down
    assert burn["shard"] == "1" and burn["location"] == "us" and "replica" not in burn
    plain = build_sinks(load_text(CLUSTERED.format(replica="a").split("\n", 2)[2]))  # no server.cluster
    assert "shard" not in plain["am"].request([event]).body[0]["labels"]

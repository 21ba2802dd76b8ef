"""One instance of several: shard filtering, cluster labels on every series, partial consumers, the CLI."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from slowatch.cli import main
from slowatch.cluster import local_view
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.sharding import shard_of, worker_of
from tests.support.cli import run_cli

# With 2 shards: e0, e1, e2 live in shard 0; e3, e4 in shard 1 (blake2b-64(name) mod 2).
CONFIG = """
server:
  listen: "127.0.0.1:0"
  database: "{db}"
  cluster: {{shards: 2, shard: 1, replica: a, locations: [eu, us], location: us}}
endpoints:
{endpoints}
consumers:
  - name: mixed            # e1 on shard 0, e3 on shard 1: partial on both
    endpoints: [e1, e3]
    slos: [{{name: up, sli: availability, objective: 99}}]
  - name: elsewhere        # only e0, shard 0: absent from shard 1
    endpoints: [e0]
    slos: [{{name: up, sli: availability, objective: 99}}]
  - name: here             # only e4, shard 1: complete on shard 1
    endpoints: [e4]
    slos: [{{name: up, sli: availability, objective: 99}}]
"""


def config_text(port: int, db: Path) -> str:
    eps = "\n".join(f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:{port}/ok'}}" for i in range(5))
    return CONFIG.format(db=db, endpoints=eps)


def test_the_shard_hash_is_documented_and_predictable() -> None:
    assert [shard_of(f"e{i}", 2) for i in range(5)] == [0, 0, 0, 1, 1]
    import hashlib

    for name in ("payments-api", "e3", "ünïcode"):
        h = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
        assert shard_of(name, 7) == h % 7 and worker_of(name, 3, 7) == (h // 7) % 3


def test_workers_of_one_shard_are_balanced() -> None:
    """With shards == workers, hash % workers would put every endpoint of a shard on one worker."""
    names = [f"endpoint-{i}" for i in range(4000)]
    for shards, workers in ((2, 2), (4, 4), (3, 2)):
        mine = [n for n in names if shard_of(n, shards) == 1]
        counts = Counter(worker_of(n, workers, shards) for n in mine)
        assert len(counts) == workers
        assert min(counts.values()) > 0.8 * len(mine) / workers, counts


def test_local_view_keeps_owned_endpoints_and_marks_partial_consumers(tmp_path: Path) -> None:
    view = local_view(load_text(config_text(9, tmp_path / "x.db")))
    assert [ep.name for ep in view.local.endpoints] == ["e3", "e4"]
    assert [c.name for c in view.local.consumers] == ["mixed", "here"]
    assert set(view.partial) == {"mixed"}
    assert view.partial["mixed"].owned == 1 and view.partial["mixed"].total == 2
    assert len(view.full.endpoints) == 5
    unsharded = load_text(config_text(9, tmp_path / "x.db").replace("shards: 2, shard: 1, ", ""))
    assert local_view(unsharded).local is unsharded and not local_view(unsharded).partial


async def test_sharded_daemon_probes_its_shard_labels_every_series_and_says_partial(
    target: TestServer, tmp_path: Path
) -> None:
    d = Daemon(load_text(config_text(target.port, tmp_path / "s.db")))
    await d.start(schedule=False)
    try:
        results = await d.probe_all_once()
        assert sorted(r.endpoint for r in results) == ["e3", "e4"]
        base = f"http://127.0.0.1:{d.bound_port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/metrics") as r:
                metrics = await r.text()
            async with s.get(f"{base}/api/v1/consumers") as r:
                consumers = {c["name"]: c for c in (await r.json())["consumers"]}
            async with s.get(f"{base}/") as r:
                status = await r.text()
            async with s.get(f"{base}/consumers/mixed") as r:
                page = await r.text()
            async with s.get(f"{base}/api/v1/prometheus/rules") as r:
                rules = await r.text()
            async with s.get(f"{base}/api/v1/endpoints") as r:
                latest = [e["latest"] for e in (await r.json())["endpoints"]]
            await d.store.flush()
            async with s.get(f"{base}/api/v1/endpoints/e3/results") as r:
                stored = (await r.json())["results"]
    finally:
        await d.stop()
    for doc in [*latest, *stored]:  # every result says where it was seen from
        assert (doc["shard"], doc["replica"], doc["location"]) == ("1", "a", "us"), doc
    assert stored
    samples = [s for f in text_string_to_metric_families(metrics) for s in f.samples]
    assert len(samples) > 50
    for s in samples:
        assert (s.labels.get("shard"), s.labels.get("replica"), s.labels.get("location")) == ("1", "a", "us"), s
    endpoints = {s.labels["endpoint"] for s in samples if s.name == "slowatch_probe_success"}
    assert endpoints == {"e3", "e4"}
    assert consumers["mixed"]["partial"]["owned_endpoints"] == 1
    assert consumers["mixed"]["partial"]["total_endpoints"] == 2
    assert "Prometheus rules" in consumers["mixed"]["partial"]["whole_picture"]
    assert "partial" not in consumers["here"] and "elsewhere" not in consumers
    assert "mixed</a> (partial)" in status and "here</a> (partial)" not in status
    assert "partial on this instance: 1 of 2 endpoints (shard 1 of 2, 0-based)" in page
    assert 'consumer="elsewhere"' in rules  # the rules cover the whole config, not this shard's part


async def test_unclustered_metrics_carry_no_cluster_labels(target: TestServer, tmp_path: Path) -> None:
    text = config_text(target.port, tmp_path / "u.db").replace(
        "  cluster: {shards: 2, shard: 1, replica: a, locations: [eu, us], location: us}\n", ""
    )
    d = Daemon(load_text(text))
    await d.start(schedule=False, serve=False)
    try:
        assert len(await d.probe_all_once()) == 5
        from slowatch.metrics import render_metrics

        body = render_metrics(d.registry, "")[0].decode()
    finally:
        await d.stop()
    assert 'slowatch_probe_success{endpoint="e0",kind="http"} 1.0' in body
    assert "shard=" not in body and "replica=" not in body and "location=" not in body


def test_check_warns_when_replicas_route_to_slack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    body = """
        server: {cluster: {replica: b}}
        endpoints: [{name: api, kind: http, url: "http://127.0.0.1:9/"}]
        sinks:
          chat: {kind: slack, webhook_url: "https://hooks.slack.test/x"}
          am: {kind: alertmanager, url: "http://127.0.0.1:9093"}
        routes: [{sinks: [ROUTED]}]
    """
    path.write_text(textwrap.dedent(body).replace("ROUTED", "chat, am"))
    assert main(["check", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: server.cluster: replica 'b' sends alerts straight to chat" in err and "alertmanager" in err
    path.write_text(textwrap.dedent(body).replace("ROUTED", "am"))
    assert main(["check", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_shard_command_and_bad_shard_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text(9, tmp_path / "c.db"))
    assert main(["shard", "-c", str(path), "e3", "e0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("e3\tshard 1 of 2") and out[1].startswith("e0\tshard 0 of 2")
    assert main(["shard", "-c", str(path)]) == 0
    summary = capsys.readouterr().out
    assert "shard 0: 3 endpoints, 2 consumers (1 partial)\nshard 1: 2 endpoints, 2 consumers (1 partial)" in summary
    assert main(["run", "-c", str(path), "--shard", "2/2"]) == 2
    assert "I must be 0..N-1" in capsys.readouterr().err
    assert main(["run", "-c", str(path), "--location", "ap"]) == 2
    assert "server.cluster.location: 'ap' (from --location) is not one of locations: eu, us" in capsys.readouterr().err


@pytest.mark.parametrize("shards", ["0", "-1", "4097"])
async def test_shard_command_refuses_shards_out_of_range(tmp_path: Path, shards: str) -> None:
    """`--shards 0` printed the config's own 2 shards, exit 0, as if the flag had not been given; `--shards 5000`
    ended in a pydantic ValidationError traceback (server.cluster.shards is 1..4096)."""
    (tmp_path / "c.yaml").write_text(config_text(9, tmp_path / "c.db"))
    code, out, err = await run_cli("shard", "-c", "c.yaml", "--shards", shards, cwd=tmp_path)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.strip() == f"--shards must be 1..4096 (got {shards})"


async def test_report_of_a_shard_notes_partial_consumers(
    target: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text(target.port, tmp_path / "r.db"))
    d = Daemon(load_text(path.read_text()))
    await d.start(schedule=False, serve=False)
    await d.probe_all_once()
    await d.stop()
    import asyncio

    code = await asyncio.to_thread(main, ["report", "--config", str(path), "--window", "1h"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "note: consumer mixed: partial on this instance: 1 of 2 endpoints (shard 1 of 2, 0-based)" in err
    assert "elsewhere" not in out and "here" in out


def test_a_quorum_needs_the_locations_list_even_where_one_location_is_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A location quorum counts `server.cluster.locations`, the same list on every instance: `location` alone
    (in the file or from `run --location`) was taken for a list of one, so a file accepted `quorum: 1` on an
    instance whose location was set and rejected it on one without, and `quorum: 2` said "larger than the 1
    location(s) in server.cluster.locations" of a file that lists none."""
    path = tmp_path / "c.yaml"
    body = """\
        server:
          database: "{db}"
          cluster: {{location: eu-west}}
        endpoints:
          - {{name: api, kind: http, url: "http://127.0.0.1:9/"}}
        consumers:
          - name: shop
            endpoints: [api]
            slos: [{{name: up, sli: availability, objective: 99, locations: {{quorum: 1}}}}]
        """
    path.write_text(textwrap.dedent(body).format(db=tmp_path / "c.db"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "consumers[0].slos[0].locations.quorum: a location quorum needs server.cluster.locations" in err, err
    assert main(["run", "-c", str(path), "--location", "us-east", "--once"]) == 2
    assert "a location quorum needs server.cluster.locations" in capsys.readouterr().err
    path.write_text(path.read_text().replace(", locations: {quorum: 1}", ""))
    # without a quorum `location` alone is a label (the rules add up every location's probes): accepted
    assert main(["run", "-c", str(path), "--location", "us-east", "--once"]) == 1  # port 9 refuses: a failed probe
    assert "--location" not in capsys.readouterr().err

"""`server.cluster` and location quorums: bad input gets located errors."""

from __future__ import annotations

from tests.config.conftest import Errors, Loader

EP = """\
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", alerts: {locations: {quorum: QA}}}
consumers:
  - name: shop
    endpoints: [api]
    slos: [{name: up, sli: availability, objective: 99, locations: {quorum: QS}}]
"""


def test_shard_index_out_of_range_is_located(errors: Errors) -> None:
    assert errors("server:\n  cluster: {shards: 4, shard: 4}\n") == [
        "2:31 server.cluster.shard: must be 0..3 for shards: 4 (shards are 0-based; got 4)"
    ]
    assert errors("server:\n  cluster:\n    shards: 2\n    shard: -1\n")[0].startswith("4:12 server.cluster.shard:")


def test_replica_and_location_must_be_label_values(errors: Errors) -> None:
    problems = errors('server:\n  cluster:\n    replica: "a b"\n    locations: [eu-west, ""]\n    location: mars\n')
    assert problems[0].startswith("3:14 server.cluster.replica: 'a b' cannot be a Prometheus label value")
    assert problems[1].startswith("4:26 server.cluster.locations[1]: '' cannot be a Prometheus label value")
    assert len(problems) == 2  # location is checked against a valid list only


def test_location_must_be_listed(errors: Errors) -> None:
    assert errors("server:\n  cluster: {locations: [eu, us], location: ap}\n") == [
        "2:44 server.cluster.location: 'ap' is not one of locations: eu, us"
    ]


def test_quorum_larger_than_locations(errors: Errors) -> None:
    head = "server:\n  cluster: {locations: [eu, us, ap], location: eu}\n"
    problems = errors(head + EP.replace("QA", "4").replace("QS", "5"))
    assert problems == [
        "4:86 endpoints[0].alerts.locations.quorum: quorum 4 is larger than the 3 location(s) in "
        "server.cluster.locations",
        "8:77 consumers[0].slos[0].locations.quorum: quorum 5 is larger than the 3 location(s) in "
        "server.cluster.locations",
    ]


def test_quorum_needs_locations(errors: Errors) -> None:
    problems = errors(EP.replace("QA", "1").replace("QS", "2"))
    assert all("needs server.cluster.locations" in p for p in problems) and len(problems) == 2


def test_valid_cluster(load_config: Loader) -> None:
    head = "server:\n  cluster: {shards: 4, shard: 3, replica: b, locations: [eu, us, ap], location: us}\n"
    config = load_config(head + EP.replace("QA", "2").replace("QS", "3"))
    assert config.server.cluster is not None
    assert config.server.cluster.labels() == (("shard", "3"), ("replica", "b"), ("location", "us"))
    plain = load_config(EP.replace(", alerts: {locations: {quorum: QA}}", "").replace(", locations: {quorum: QS}", ""))
    assert plain.server.cluster is None

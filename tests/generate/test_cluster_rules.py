"""The generated rules across shards, HA replicas and locations, unit-tested with `promtool test rules`.

Input: counters of shards 0 and 1, two replicas (a, b) each (b of shard 0 dies half-way), and three
locations probing the same endpoints; expected: the figures one unsharded slowatch would compute (a weighted
journey's too, whose members live on different shards), and the location quorum's alerts.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import load
from slowatch.generate.prometheus import render_rules
from slowatch.generate.quorum import LOCATION_ERROR, QUORUM_FAILED
from tests.generate.test_promtool import alerts, expect, promtool

pytestmark = pytest.mark.prometheus

CONFIG = """\
server: {cluster: {shards: 2, shard: 0, replica: a, locations: [eu, us, ap], location: eu}}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/api", interval: 10s,
     alerts: {failure_threshold: 1, locations: {quorum: 2}}}
  - {name: web, kind: http, url: "http://127.0.0.1:9/web", interval: 10s, alerts: {enabled: false}}
consumers:
  - name: plain
    endpoints: [web]
    slos: [{name: avail, sli: availability, objective: 99, window: 1h}]
  - name: shop
    endpoints: [api]
    slos: [{name: avail, sli: availability, objective: 99, window: 1h, locations: {quorum: 2}}]
  - name: trip
    endpoints: [web]
    slos:
      - {name: pay, sli: availability, objective: 99, window: 1h}
      - {name: cart, sli: availability, objective: 99, window: 1h}
      - name: journey
        objective: 95
        window: 1h
        composite: {method: weighted, members: [{slo: pay, weight: 3}, {slo: cart}]}
"""
EVENTS, GOOD = "slowatch_slo_events_total", "slowatch_slo_good_events_total"


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in {**labels, "job": "slowatch"}.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def sharded_replicas() -> list[dict[str, str]]:
    """`plain`: shard 0 sees 100 probes/min with 10 bad, shard 1 50/min all good, each twice (replicas a and
    b, identical counts); replica b of shard 0 is gone after 30 minutes (killed)."""
    out = []
    for shard, total, bad in (("0", 100, 10), ("1", 50, 0)):
        for replica in ("a", "b"):
            gone = shard == "0" and replica == "b"
            for name, step in ((EVENTS, total), (GOOD, total - bad)):
                values = f"500+{step}x30 _x30" if gone else f"500+{step}x60"
                labels = {"consumer": "plain", "slo": "avail", "shard": shard, "replica": replica}
                out.append(series(name, values, instance=f"s{shard}{replica}:9464", **labels, location="eu"))
    return out


def journey_replicas() -> list[dict[str, str]]:
    """`trip`: member `pay` on shard 0 (100 probes/min, 10 bad), `cart` on shard 1 (100/min, all good), each
    counted by replicas a and b; replica b of shard 0 is gone after 30 minutes."""
    out = []
    for slo, shard, bad in (("pay", "0", 10), ("cart", "1", 0)):
        for replica in ("a", "b"):
            gone = shard == "0" and replica == "b"
            for name, step in ((EVENTS, 100), (GOOD, 100 - bad)):
                values = f"500+{step}x30 _x30" if gone else f"500+{step}x60"
                labels = {"consumer": "trip", "slo": slo, "shard": shard, "replica": replica}
                out.append(series(name, values, instance=f"s{shard}{replica}:9464", **labels, location="eu"))
    return out


def locations(failing: tuple[str, ...], sampled: Callable[[str], str] = lambda v: v) -> list[dict[str, str]]:
    """`shop` from three locations, 6 probes/min each; the `failing` ones see 1 bad probe every minute, and see
    endpoint `api` down. `sampled` turns one value a minute into promtool's values (every minute by default)."""
    out = []
    for loc in ("eu", "us", "ap"):
        bad = 1 if loc in failing else 0
        labels = {"consumer": "shop", "slo": "avail", "shard": "0", "replica": "a", "location": loc}
        out.append(series(EVENTS, sampled(" ".join(str(6 * m) for m in range(61))), instance=f"{loc}:9464", **labels))
        good = sampled(" ".join(str((6 - bad) * m) for m in range(61)))
        out.append(series(GOOD, good, instance=f"{loc}:9464", **labels))
        up = sampled(" ".join("0" if loc in failing else "1" for _ in range(61)))
        out.append(series("slowatch_probe_success", up, endpoint="api", kind="http", instance=f"{loc}:9464",
                          shard="0", replica="a", location=loc))  # fmt: skip
    return out


def reset_at(minute: int, loc: str, failing: tuple[str, ...]) -> list[dict[str, str]]:
    """`locations(failing)`, but `loc`'s SLO is removed and added back by a reload just before `minute`: its counters
    start again from 0 (README), 3 probes (1 bad when failing) counted since by the sample at `minute`."""
    out = locations(failing)
    bad = 1 if loc in failing else 0
    for s in out:
        if f'location="{loc}"' in s["series"] and "slowatch_slo_" in s["series"]:
            good = s["series"].startswith(GOOD)
            values = [int(v) for v in s["values"].split()]
            after = [(3 - bad if good else 3) + ((6 - bad) if good else 6) * k for k in range(len(values) - minute)]
            s["values"] = " ".join(str(v) for v in values[:minute] + after)
    return out


def once_a_minute(values: str) -> str:
    """promtool values at a 20s step: one sample a minute, 20s after each rule evaluation (Prometheus's default
    scrape interval is 1m, and a scrape's offset from the rule evaluations is any)."""
    return " ".join(f"_ {v} _" for v in values.split())


DOWN = 'ALERTS{alertname="SlowatchEndpointDown",endpoint="api"}'
FAILED = f'{QUORUM_FAILED}{{consumer="shop"}}'
SHOP_LABELS = '{consumer="shop",slo="avail",job="slowatch"}'
US_ERROR = LOCATION_ERROR + '{consumer="shop",slo="avail",job="slowatch",location="us"}'


def case(name: str, input_series: list[dict[str, str]], *tests: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "interval": "1m", "input_series": input_series, "promql_expr_test": list(tests)}


def cases() -> list[dict[str, Any]]:
    plain = '{consumer="plain",slo="avail",job="slowatch"}'
    journey = '{consumer="trip",slo="journey",job="slowatch"}'
    down = alerts("SlowatchEndpointDown", endpoint="api", severity="page", kind="endpoint_down")
    ratio = 10 / 150
    return [
        case(
            "shards are summed, replicas taken once, a replica killed half-way changes nothing",
            sharded_replicas(),
            expect(
                f"abs(slowatch_slo:sli_error:ratio_rate1h{plain} - {ratio}) < bool 1e-9",
                "60m",
                [{"labels": plain, "value": 1}],
            ),
            expect(
                f"abs(slowatch_slo:error_budget_remaining:ratio{plain} - {1 - ratio / 0.01}) < bool 1e-9",
                "60m",
                [{"labels": plain, "value": 1}],
            ),
            expect(
                f"abs(slowatch_slo:events:window_total{plain} - 9000) < bool 1e-9",
                "60m",
                [{"labels": plain, "value": 1}],
            ),
        ),
        case(
            "a weighted journey takes one replica of each member, as its members do: 3 x 600 bad of 3 x 6000 + 6000",
            journey_replicas(),
            expect(
                f"abs(slowatch_slo:sli_error:ratio_rate1h{journey} - 0.075) < bool 1e-9",
                "60m",
                [{"labels": journey, "value": 1}],
            ),
            expect(
                f"abs(slowatch_slo:events:window_total{journey} - 24000) < bool 1e-9",
                "60m",
                [{"labels": journey, "value": 1}],
            ),
        ),
        case(
            "one location of three sees failures: quorum 2 is not met, no alert",
            locations(("eu",)),
            expect(FAILED, "30m", [{"labels": QUORUM_FAILED + SHOP_LABELS, "value": 0}]),
            expect(
                'slowatch_slo:sli_error:ratio_rate30m{consumer="shop"}',
                "40m",
                [{"labels": "slowatch_slo:sli_error:ratio_rate30m" + SHOP_LABELS, "value": 0}],
            ),
            expect(DOWN, "30m", []),
        ),
        case(
            "two locations of three see failures: the quorum fails the slices and the endpoint alert fires",
            locations(("eu", "us")),
            expect(FAILED, "30m", [{"labels": QUORUM_FAILED + SHOP_LABELS, "value": 1}]),
            expect(
                'slowatch_slo:sli_error:ratio_rate30m{consumer="shop"}',
                "40m",
                [{"labels": "slowatch_slo:sli_error:ratio_rate30m" + SHOP_LABELS, "value": 1}],
            ),
            expect(DOWN, "30m", [down]),
        ),
        case(
            "a location's counters reset (its SLO removed and added back in one scrape): the slice counts what they "
            "counted since, as increase() does, so two failing locations still fail it",
            reset_at(10, "us", ("eu", "us")),
            expect(FAILED, "10m", [{"labels": QUORUM_FAILED + SHOP_LABELS, "value": 1}]),
            expect(f'{LOCATION_ERROR}{{location="us"}}', "10m", [{"labels": US_ERROR, "value": 1 / 3}]),
            expect(FAILED, "11m", [{"labels": QUORUM_FAILED + SHOP_LABELS, "value": 1}]),
        ),
    ]


def scraped_once_a_minute_cases() -> list[dict[str, Any]]:
    return [
        {
            **case(
                "scraped once a minute, 20s after the evaluations: two failing locations still fail the slices",
                locations(("eu", "us"), once_a_minute),
                expect(FAILED, "30m", [{"labels": QUORUM_FAILED + SHOP_LABELS, "value": 1}]),
                expect(
                    'slowatch_slo:sli_error:ratio_rate30m{consumer="shop"}',
                    "40m",
                    [{"labels": "slowatch_slo:sli_error:ratio_rate30m" + SHOP_LABELS, "value": 1}],
                ),
            ),
            "interval": "20s",
        },
        {
            **case(
                "scraped once a minute, 20s after the evaluations: one failing location does not",
                locations(("eu",), once_a_minute),
                expect(FAILED, "30m", [{"labels": QUORUM_FAILED + SHOP_LABELS, "value": 0}]),
            ),
            "interval": "20s",
        },
    ]


def test_cluster_rules_under_promtool(tmp_path: Path) -> None:
    config_path = tmp_path / "slowatch.yaml"
    config_path.write_text(textwrap.dedent(CONFIG))
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(load(config_path, env={})))
    assert promtool("check", "rules", str(rules)).returncode == 0
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": cases() + scraped_once_a_minute_cases()}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr

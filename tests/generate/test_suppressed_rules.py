"""`SlowatchEndpointDown` stays quiet where slowatch holds the page, under `promtool test rules`.

Two HA replicas (a, b) both see `api` down from minute 5 (`slowatch_probe_success 0`); the page fires at
the third failure (`for: 20s`). A replica exporting `slowatch_endpoint_suppressed{endpoint="api"}` (a
maintenance window, a silence, a dependency's outage: slowatch/alerting/held.py) keeps it quiet, whichever
replica it is; once the series ends, the page fires. With a location quorum, one location holding the page
is enough.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import load
from slowatch.generate.prometheus import render_rules
from tests.generate.test_cluster_rules import series
from tests.generate.test_promtool import alerts, expect, promtool

pytestmark = pytest.mark.prometheus

CONFIG = """\
server: {cluster: {replica: a, locations: [eu, us, ap], location: eu}}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/api", interval: 10s, alerts: {failure_threshold: 3}}
  - {name: edge, kind: http, url: "http://127.0.0.1:9/edge", interval: 10s,
     alerts: {failure_threshold: 1, locations: {quorum: 2}}}
"""
API = alerts("SlowatchEndpointDown", endpoint="api", severity="page", kind="endpoint_down")
EDGE = alerts("SlowatchEndpointDown", endpoint="edge", severity="page", kind="endpoint_down")
FIRING_API = 'ALERTS{alertname="SlowatchEndpointDown",endpoint="api",alertstate="firing"}'
FIRING_EDGE = 'ALERTS{alertname="SlowatchEndpointDown",endpoint="edge",alertstate="firing"}'


def replicas(held: dict[str, str]) -> list[dict[str, str]]:
    """`api` up for 5 minutes, then down (pending at 5m, firing at 6m), at both replicas (one location); `held`:
    replica -> the reason and the values of its `slowatch_endpoint_suppressed` series."""
    out = []
    for replica in ("a", "b"):
        labels = {"instance": f"{replica}:9464", "replica": replica, "location": "eu"}
        out.append(series("slowatch_probe_success", "1x4 0x55", endpoint="api", kind="http", **labels))
    return out + [
        series("slowatch_endpoint_suppressed", values, endpoint="api", reason=reason, **ours)
        for replica, (reason, values) in held.items()
        for ours in [{"instance": f"{replica}:9464", "replica": replica, "location": "eu"}]
    ]


def locations(held_at: str | None, reason: str = "silence") -> list[dict[str, str]]:
    """`edge` down from minute 5 at eu and us (quorum 2 met), up at ap; `held_at`: the locations holding the page
    (comma-separated; a silence in its database, or `reason`) for the whole hour."""
    out = []
    for loc in ("eu", "us", "ap"):
        labels = {"instance": f"{loc}:9464", "replica": "a", "location": loc}
        values = "1x60" if loc == "ap" else "1x4 0x55"
        out.append(series("slowatch_probe_success", values, endpoint="edge", kind="http", **labels))
        if held_at is not None and loc in held_at.split(","):
            out.append(series("slowatch_endpoint_suppressed", "1x60", endpoint="edge", reason=reason, **labels))
    return out


def case(name: str, input_series: list[dict[str, str]], *tests: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "interval": "1m", "input_series": input_series, "promql_expr_test": list(tests)}


def cases() -> list[dict[str, Any]]:
    out = [
        case("no suppression: the page fires at the third failure (20s after the first)", replicas({}),
             expect(FIRING_API, "5m", []), expect(FIRING_API, "6m", [API]), expect(FIRING_API, "40m", [API])),
        case("a location quorum without suppression pages", locations(None), expect(FIRING_EDGE, "10m", [EDGE])),
        case("one location holding a quorum endpoint's page keeps it quiet", locations("us"),
             expect(FIRING_EDGE, "10m", []), expect(FIRING_EDGE, "50m", [])),
        case("one location seeing a dependency down (its local view) does not hold a quorum page",
             locations("us", "dependency"), expect(FIRING_EDGE, "10m", [EDGE])),
        case("a quorum of locations seeing the dependency down holds it", locations("eu,us", "dependency"),
             expect(FIRING_EDGE, "10m", []), expect(FIRING_EDGE, "50m", [])),
    ]  # fmt: skip
    for reason in ("maintenance", "silence", "dependency"):
        for holder in ("a", "b"):
            out.append(case(
                f"{reason} at replica {holder} only, until minute 30: quiet, then the page fires",
                replicas({holder: (reason, "1x30 stale")}),
                expect(FIRING_API, "7m", []),
                expect(FIRING_API, "30m", []),
                expect(FIRING_API, "32m", [API]),
            ))  # fmt: skip
    out.append(case("suppressed at both replicas for the whole outage: never pages",
                    replicas({"a": ("maintenance", "1x60"), "b": ("maintenance", "1x60")}),
                    expect(FIRING_API, "7m", []), expect(FIRING_API, "59m", [])))  # fmt: skip
    return out


def test_endpoint_down_stays_quiet_where_slowatch_holds_the_page(tmp_path: Path) -> None:
    config = tmp_path / "slowatch.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(load(config, env={})))
    assert promtool("check", "rules", str(rules)).returncode == 0
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": cases()}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr

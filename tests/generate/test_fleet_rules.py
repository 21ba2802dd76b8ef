"""The alerts on the instances themselves (slowatch/generate/fleet.py), unit-tested with `promtool test rules`.

Input: `slowatch_cluster_shards` and `slowatch_config_info` as 2 shards x 2 replicas (x 2 locations)
export them, scraped once a minute; instances die, start with another shard count or another config.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import Config
from slowatch.generate.fleet import PROBE_DOWN
from slowatch.generate.prometheus import render_rules
from slowatch.generate.promql import PROBE_FAILING, PROBE_SUCCESS
from tests.generate.test_promtool import alerts, expect, promtool

pytestmark = pytest.mark.prometheus

OLD, NEW = "0" * 64, "f" * 64


def fleet(
    *, gone: tuple[str, ...] = (), shards: dict[str, int] | None = None, configs: dict[str, str] | None = None,
    locations: tuple[str, ...] = ("",),
) -> list[dict[str, str]]:  # fmt: skip
    """Every instance (`<shard><replica>`, e.g. "1b", per location) for 60 minutes; those in `gone` stop
    after 30 (`loc/1b` for one location only). `shards` and `configs` override an instance's shard count
    (default 2) and config sha256 (default OLD)."""
    out = []
    for loc in locations:
        for name in ("0a", "0b", "1a", "1b"):
            where = f"{loc}/{name}" if loc else name
            values = "{v}x30 _x30" if name in gone or where in gone else "{v}x60"
            labels = {"instance": f"{where}:9464", "shard": name[0], "replica": name[1], "job": "slowatch"}
            if loc:
                labels["location"] = loc
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
            n = (shards or {}).get(name, 2)
            sha = (configs or {}).get(name, OLD)
            out.append({"series": f"slowatch_cluster_shards{{{inner}}}", "values": values.format(v=n)})
            out.append({"series": f'slowatch_config_info{{{inner},sha256="{sha}"}}', "values": values.format(v=1)})
    return out


def fleet_alert(name: str, **labels: str) -> dict[str, Any]:
    severity = "ticket" if name in ("SlowatchConfigMismatch", "SlowatchLocalFailures") else "page"
    return alerts(name, severity=severity, kind="fleet", **labels)


MISSING = 'ALERTS{alertname="SlowatchShardMissing",alertstate="firing"}'
COUNTS = 'ALERTS{alertname="SlowatchShardCountMismatch",alertstate="firing"}'
CONFIGS = 'ALERTS{alertname="SlowatchConfigMismatch",alertstate="firing"}'
DOWN_NAME = "SlowatchEndpointDown"
DOWN = f'ALERTS{{alertname="{DOWN_NAME}"}}'
LOCAL = 'ALERTS{alertname="SlowatchLocalFailures",alertstate="firing"}'
SUPPRESSED_API = (
    'slowatch_endpoint_suppressed{endpoint="api",reason="silence",job="slowatch",location="eu",replica="a"}'
)


def seen_from(shard: str = "", **values: str) -> list[dict[str, str]]:
    """`slowatch_probe_success` of endpoint api as replicas a and b of each location (the keyword) see it."""
    out = []
    for loc, value in values.items():
        for replica in ("a", "b"):
            labels = f'endpoint="api",kind="http",job="slowatch",location="{loc}",replica="{replica}"'
            labels += f',shard="{shard}"' if shard else ""
            out.append({"series": f"slowatch_probe_success{{{labels},instance=\"{loc}-{replica}:9464\"}}",
                        "values": value})  # fmt: skip
    return out


def one_replica_down(series: list[dict[str, str]]) -> list[dict[str, str]]:
    return [s | {"values": "0x60" if 'replica="a"' in s["series"] else "1x60"} for s in series]


def expand(values: str) -> list[str]:
    """promtool's input notation (`1x9 0x30 _x20 stale`) as one token per sample: a number, `_` or `stale`."""
    out: list[str] = []
    for token in values.split():
        m = re.fullmatch(r"(_|stale|-?[0-9.]+)(?:([+-][0-9.]+)?x([0-9]+))?", token)
        assert m is not None, token
        start, step, times = m.group(1), float(m.group(2) or 0), m.group(3)
        if times is None:
            out.append(start)
        elif start in ("_", "stale"):
            out += [start] * int(times)
        else:  # `a+bxn`: a, a+b, ..., a+n*b (n + 1 samples)
            out += [f"{float(start) + k * step:g}" for k in range(int(times) + 1)]
    return out


def failing_of(values: str) -> str:
    """`slowatch_probe_failing` as the scrapes that gave `slowatch_probe_success` these samples give it to Prometheus:
    1 where success is 0; where success is 1 the series is missing from the scrape, which Prometheus marks stale at
    once (a stale marker, not a gap: promtool would otherwise keep the last 1 for 5 minutes); a missing success
    sample misses both."""
    out, live = [], False
    for v in expand(values):
        if v in ("_", "stale"):
            out.append(v)
            live = live and v == "_"
        elif float(v) == 0:
            out.append("1")
            live = True
        else:
            out.append("stale" if live else "_")
            live = False
    return " ".join(out)


def with_failing(input_series: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each `slowatch_probe_success` input with the `slowatch_probe_failing` series slowatch exports next to it
    (the `SlowatchLocalFailures` rules read that one instead of every success series, since session 15)."""
    out = list(input_series)
    for s in input_series:
        if s["series"].startswith(f"{PROBE_SUCCESS}{{"):
            out.append({"series": PROBE_FAILING + s["series"][len(PROBE_SUCCESS) :], "values": failing_of(s["values"])})
    return out


def case(name: str, input_series: list[dict[str, str]], *tests: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "interval": "1m", "input_series": with_failing(input_series), "promql_expr_test": list(tests)}


def cases() -> list[dict[str, Any]]:
    probe_gone = {"series": 'slowatch_probe_success{endpoint="api",kind="http",shard="1",job="slowatch"}',
                  "values": "1x30 _x30"}  # fmt: skip
    return [
        case(
            "every replica of shard 1 dies: its endpoints' down alert cannot fire, the fleet alert does",
            [*fleet(gone=("1a", "1b")), probe_gone],
            expect(MISSING, "30m", []),
            expect(MISSING, "38m", []),  # (promtool keeps a series 5m after its last sample; Prometheus marks it
            # stale at the first failed scrape), then `for: 5m`
            expect(MISSING, "41m", [fleet_alert("SlowatchShardMissing")]),
            expect(DOWN, "41m", []),  # absent, not 0: nothing else says it
        ),
        case("one replica of each shard dies: still covered", fleet(gone=("0a", "1b")), expect(MISSING, "50m", [])),
        case(
            "a shard gone in one location of two: said for that location",
            fleet(gone=("us/1a", "us/1b"), locations=("eu", "us")),
            expect(MISSING, "50m", [fleet_alert("SlowatchShardMissing", location="us")]),
        ),
        case(
            "no slowatch scraped at all",
            [probe_gone],
            expect(MISSING, "50m", [{"labels": MISSING.replace("}", ',kind="fleet",severity="page"}'), "value": 1}]),
        ),
        case(
            "an instance started with --shard 1/3 among 2-shard ones",
            fleet(shards={"1b": 3}),
            expect(COUNTS, "4m", []),
            expect(COUNTS, "6m", [fleet_alert("SlowatchShardCountMismatch")]),
            expect(MISSING, "6m", [fleet_alert("SlowatchShardMissing")]),  # and shard 2 of 3 has no instance
        ),
        case(
            "one instance runs another config file: a ticket after 15 minutes; all alike: nothing",
            fleet(configs={"1a": NEW}),
            expect(CONFIGS, "14m", []),
            expect(CONFIGS, "16m", [fleet_alert("SlowatchConfigMismatch")]),
            expect(COUNTS, "16m", []),
        ),
        case(
            "the network near eu fails for 30 minutes: a ticket for eu after 5 minutes, no page, then it clears",
            seen_from(eu="1x9 0x30 1x20", us="1x60", ap="1x60"),
            expect(LOCAL, "14m", []),
            expect(LOCAL, "16m", [fleet_alert("SlowatchLocalFailures", location="eu")]),
            expect(DOWN, "16m", []),
            expect(f"count({PROBE_DOWN})", "40m", [{"labels": "{}", "value": 2}]),  # both eu replicas, 0 until 40m
            expect(PROBE_DOWN, "41m", []),  # at the first scrape that sees it up (stale at once, not 5 minutes on)
            expect(LOCAL, "45m", []),
        ),
        case(
            "api down from everywhere: the page, and no local failure",
            seen_from(eu="0x60", us="0x60", ap="0x60"),
            expect(DOWN, "30m", [alerts(DOWN_NAME, endpoint="api", severity="page", kind="endpoint_down")]),
            expect(LOCAL, "30m", []),
        ),
        case(
            "one replica in eu still sees api up: eu does not see it down",
            [*seen_from(us="1x60", ap="1x60"), *one_replica_down(seen_from(eu=""))],
            expect(LOCAL, "30m", []),
        ),
        case(
            "eu and us lose api, ap still sees it up: a ticket for each of the two, no page",
            seen_from(eu="0x60", us="1x9 0x50", ap="1x60"),
            expect(LOCAL, "16m", [fleet_alert("SlowatchLocalFailures", location=loc) for loc in ("eu", "us")]),
            expect(DOWN, "16m", []),
        ),
        case(
            "sharded instances: the shard label does not split a location",
            seen_from(shard="1", eu="0x60", us="1x60"),
            expect(LOCAL, "16m", [fleet_alert("SlowatchLocalFailures", location="eu")]),
        ),
        case(
            "api down from everywhere while a process holds its page: neither the page nor a local failure",
            [*seen_from(eu="0x60", us="0x60"), {"series": SUPPRESSED_API, "values": "1x60"}],
            expect(DOWN, "30m", []),
            expect(LOCAL, "30m", []),
        ),
        case(
            "the same config and shard count everywhere", fleet(), expect(CONFIGS, "50m", []), expect(COUNTS, "50m", [])
        ),
    ]


def test_fleet_alerts_under_promtool(rules_config: Config, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(rules_config))
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": cases()}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


BEFORE_SESSION_14 = """count by (job, location) (
  max without (instance, replica, shard) (slowatch_probe_success) == 0
  and on (endpoint) (max without (instance, replica, shard, location) (slowatch_probe_success) == 1)
  unless on (endpoint) ALERTS{alertname="SlowatchEndpointDown",alertstate="firing"}
)"""
"""`SlowatchLocalFailures` as one expression (5.4 s per evaluation at 600,000 series): the reference for the rules."""

PLACES = [(loc, replica) for loc in ("eu", "us", "ap") for replica in ("a", "b")]


def random_fleet(seed: int, endpoints: int, minutes: int) -> dict[tuple[str, str, str], list[int]]:
    """0/1 per minute for (endpoint, location, replica); some replicas, and some whole locations, export nothing
    for an endpoint. Each minute an endpoint is up everywhere, down near one or two locations, down at one
    replica, or down everywhere (endpoints not in the config: no page can fire for them)."""
    rng = random.Random(seed)
    out: dict[tuple[str, str, str], list[int]] = {}
    for e in range(endpoints):
        name = f"x{e}"
        gone = {p for p in PLACES if rng.random() < 0.15} | (
            {p for p in PLACES if p[0] == "ap"} if e % 5 == 0 else set()
        )
        for p in PLACES:
            if p not in gone:
                out[(name, *p)] = []
        for _ in range(minutes):
            kind = rng.choice(["up", "up", "local", "local", "two", "replica", "everywhere"])
            down_locs = set(rng.sample(["eu", "us", "ap"], 2 if kind == "two" else 1))
            for (ep, loc, replica), values in out.items():
                if ep != name:
                    continue
                down = (kind == "everywhere" or (kind in ("local", "two") and loc in down_locs)
                        or (kind == "replica" and loc in down_locs and replica == "a"))  # fmt: skip
                values.append(0 if down else 1)
    return out


def local_failures_oracle(fleet: dict[tuple[str, str, str], list[int]], minute: int) -> dict[str, int]:
    """The alert's meaning per location: endpoints every replica there sees down while some series sees up."""
    groups: dict[tuple[str, str], list[int]] = {}
    for (ep, loc, _), values in fleet.items():
        groups.setdefault((ep, loc), []).append(values[minute])
    up_somewhere = {ep for (ep, _), vs in groups.items() if max(vs) == 1}
    counts: dict[str, int] = {}
    for (ep, loc), vs in groups.items():
        if max(vs) == 0 and ep in up_somewhere:
            counts[loc] = counts.get(loc, 0) + 1
    return counts


def test_local_failures_rules_agree_with_their_meaning(rules_config: Config, tmp_path: Path) -> None:
    """The recording rules and the alert's expression give, minute by minute, what the meaning says (computed here)
    and what the single expression gave, over a seeded random fleet of 3 locations x 2 replicas."""
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(rules_config))
    doc = yaml.safe_load(rules.read_text())
    fleet_group = next(g for g in doc["groups"] if g["name"] == "slowatch-fleet")
    alert_expr = next(r["expr"] for r in fleet_group["rules"] if r.get("alert") == "SlowatchLocalFailures")
    minutes = 40
    fleet = random_fleet(seed=14, endpoints=12, minutes=minutes)
    series = []
    for (ep, loc, replica), values in fleet.items():
        labels = f'endpoint="{ep}",kind="http",job="slowatch",location="{loc}",replica="{replica}",shard="0"'
        instance = f"{loc}-{replica}:9464"
        series.append({"series": f'slowatch_probe_success{{{labels},instance="{instance}"}}',
                       "values": " ".join(map(str, values))})  # fmt: skip
    tests = []
    seen_counts = set()
    for minute in range(0, minutes, 3):
        want = local_failures_oracle(fleet, minute)
        seen_counts.update(want.values())
        samples = [{"labels": f'{{job="slowatch",location="{loc}"}}', "value": n} for loc, n in sorted(want.items())]
        for expr in (alert_expr, BEFORE_SESSION_14):
            tests.append(expect(expr, f"{minute}m", samples))
        # the down series, read from `slowatch_probe_failing`: exactly the success series that are 0, none left over
        # from an earlier minute (the endpoints flap from minute to minute: each recovery is a stale marker)
        zeros = sum(1 for values in fleet.values() if values[minute] == 0)
        tests.append(expect(f"count({PROBE_DOWN})", f"{minute}m", [{"labels": "{}", "value": zeros}] if zeros else []))
        tests.append(expect(f"{PROBE_DOWN} unless {PROBE_SUCCESS} == 0", f"{minute}m", []))
    assert len(seen_counts) >= 3, "the random fleet should give several different counts"
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m",
           "tests": [case("a random fleet", series, *tests)]}  # fmt: skip
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr

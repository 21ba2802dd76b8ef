"""The generated rules checked by Debian's promtool: `check rules`, and `test rules` unit tests.

The unit tests feed counters from two slowatch instances (`a` and `b`, shards 0 and 1 splitting the
endpoints) at one scrape a minute and assert what Prometheus computes and which alerts fire.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import Config, load
from slowatch.generate.prometheus import render_rules
from slowatch.slo.snapshot import SloState, state_of
from tests.generate.conftest import binary

pytestmark = pytest.mark.prometheus
ROOT = Path(__file__).resolve().parents[2]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=60, check=False)


def test_check_rules_on_the_shipped_config(tmp_path: Path) -> None:
    config = load(ROOT / "config" / "slowatch.yaml", env={})
    path = tmp_path / "rules.yml"
    path.write_text(render_rules(config))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_check_rules_on_a_test_config(rules_config: Config, tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(render_rules(rules_config))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def counters(consumer: str, slo: str, per_minute: int, bad_per_minute: int, minutes: int = 90) -> list[dict[str, str]]:
    """Events and good events of one SLO, split 60/40 over two instances, as promtool input series."""
    out = []
    for instance, share in (("a", 0.6), ("b", 0.4)):
        total, bad = per_minute * share, bad_per_minute * share
        shard = "0" if instance == "a" else "1"
        for name, step in (("slowatch_slo_events_total", total), ("slowatch_slo_good_events_total", total - bad)):
            labels = f'{{consumer="{consumer}",slo="{slo}",instance="{instance}",shard="{shard}",job="slowatch"}}'
            out.append({"series": name + labels, "values": f"1000+{step:g}x{minutes}"})
    return out


def alerts(name: str, **labels: str) -> dict[str, Any]:
    fixed = {"alertname": name, "alertstate": "firing", "job": "slowatch"}
    inner = ",".join(f'{k}="{v}"' for k, v in {**fixed, **labels}.items())
    return {"labels": f"ALERTS{{{inner}}}", "value": 1}


def burn(severity: str) -> dict[str, Any]:
    return alerts("SlowatchErrorBudgetBurn", consumer="shop", slo="avail", severity=severity, kind="burn_rate")


def expect(expr: str, eval_time: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {"expr": expr, "eval_time": eval_time, "exp_samples": samples}


BURNS = 'ALERTS{alertname="SlowatchErrorBudgetBurn",consumer="shop",alertstate="firing"}'
EXHAUSTED = 'ALERTS{alertname="SlowatchErrorBudgetExhausted",consumer="reports",alertstate="firing"}'
SHOP_1H = 'slowatch_slo:burn_rate:ratio{consumer="shop",slo="avail",window="1h"}'
SHOP_LABELS = 'slowatch_slo:burn_rate:ratio{consumer="shop",slo="avail",window="1h",job="slowatch"}'

CASES: dict[str, dict[str, Any]] = {
    "a 15x burn pages (and tickets)": {
        "input_series": counters("shop", "avail", 100, 15),
        "promql_expr_test": [
            expect(SHOP_1H, "60m", [{"labels": SHOP_LABELS, "value": 15}]),
            expect(BURNS, "60m", [burn("page"), burn("ticket")]),
        ],
    },
    "a 10x burn tickets but does not page": {
        "input_series": counters("shop", "avail", 100, 10),
        "promql_expr_test": [
            expect(SHOP_1H, "60m", [{"labels": SHOP_LABELS, "value": 10}]),
            expect(BURNS, "60m", [burn("ticket")]),
        ],
    },
    "no traffic: no series, no burn or budget alert, no data after no_data_after": {
        "input_series": counters("shop", "avail", 0, 0),
        "promql_expr_test": [
            expect(
                '{__name__=~"slowatch_slo:.*",consumer="shop",slo="avail",__name__!~".*(objective|window:seconds).*"}',
                "30m",
                [
                    {
                        "labels": 'slowatch_slo:events:window_total{consumer="shop",slo="avail",job="slowatch"}',
                        "value": 0,
                    }
                ],
            ),
            expect(
                'ALERTS{consumer="shop",slo="avail"}',
                "5m",
                [
                    {
                        "labels": 'ALERTS{alertname="SlowatchSloNoData",alertstate="pending",consumer="shop",'
                        'slo="avail",severity="ticket",kind="no_data",job="slowatch"}',
                        "value": 1,
                    }
                ],
            ),
            expect(
                'ALERTS{consumer="shop",slo="avail"}',
                "20m",
                [alerts("SlowatchSloNoData", consumer="shop", slo="avail", severity="ticket", kind="no_data")],
            ),
        ],
    },
}


EXHAUSTED_ALERT = alerts("SlowatchErrorBudgetExhausted", consumer="reports", slo="budget", severity="ticket",
                         kind="budget_exhausted")  # fmt: skip
for bad, remaining, firing in ((4, 0.6, []), (5, 0.5, [EXHAUSTED_ALERT]), (6, 0.4, [EXHAUSTED_ALERT])):
    CASES[f"budget exhausted at the threshold 0.5: {remaining:g} left fires: {bool(firing)}"] = {
        "input_series": counters("reports", "budget", 100, bad),
        "promql_expr_test": [
            expect(
                f'abs(slowatch_slo:error_budget_remaining:ratio{{consumer="reports"}} - {remaining}) < bool 1e-9',
                "60m",
                [{"labels": '{consumer="reports",slo="budget",job="slowatch"}', "value": 1}],
            ),
            expect(EXHAUSTED, "60m", firing),
        ],
    }


QUIET = '{consumer="quiet",slo="avail",job="slowatch"}'
CASES["too few probes for 99.9 %: an SLI but no budget left nor time to exhaustion, as slowatch exports"] = {
    "input_series": counters("quiet", "avail", 20, 2),  # 600 probes at 30m, 1,200 at 60m; 1,000 needed
    "promql_expr_test": [
        expect(f"slowatch_slo:sli:ratio{QUIET}", "30m", [{"labels": f"slowatch_slo:sli:ratio{QUIET}", "value": 0.9}]),
        expect(f"slowatch_slo:error_budget_remaining:ratio{QUIET}", "30m", []),
        expect(f"slowatch_slo:time_to_exhaustion:seconds{QUIET}", "30m", []),
        expect(f"round(slowatch_slo:error_budget_remaining:ratio{QUIET})", "60m", [{"labels": QUIET, "value": -99}]),
    ],
}


def test_slowatch_exports_no_budget_below_the_units_needed() -> None:
    """The other side of the case above: slowatch's state for 600 and 1,200 probes at 99.9 %."""
    assert state_of(600, 0.999) is SloState.TOO_FEW_EVENTS and state_of(1200, 0.999) is SloState.OK


def promtool_test_file(rules: Path) -> dict[str, Any]:
    tests = []
    for name, case in CASES.items():
        tests.append({"name": name, "interval": "1m", **case})
    return {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}


@pytest.mark.slow
def test_promtool_unit_tests(rules_config: Config, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(rules_config))
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(promtool_test_file(rules), sort_keys=False, width=1000))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


JOURNEYS = """
server: {listen: "127.0.0.1:0", database: "/tmp/unused.db"}
endpoints:
  - {name: a, kind: http, url: "http://127.0.0.1:9/a"}
  - {name: b, kind: http, url: "http://127.0.0.1:9/b"}
consumers:
  - name: shop
    endpoints: [a, b]
    slos:
      - {name: pay, sli: availability, objective: 99, window: 7d, endpoints: [a]}
      - {name: cart, sli: availability, objective: 99, window: 7d, endpoints: [b]}
      - name: journey
        objective: 95
        window: 7d
        composite: {method: weighted, members: [{slo: pay, weight: 3}, {slo: cart}]}
      - {name: path, objective: 95, window: 7d, composite: {method: serial, members: [{slo: pay}, {slo: cart}]}}
"""


def test_weighted_journeys_add_their_members_counters_and_serial_ones_are_flagged(tmp_path: Path) -> None:
    """pay fails 10 of 100 probes a minute, cart none; both split over instances a and b. The weighted
    journey (pay x3, cart x1): 30 bad of 400 = 7.5% errors, a 1.5x burn of its 5% budget, from the
    members' counters (the journey's own are absent here); the serial one reads its own counters."""
    (tmp_path / "slowatch.yaml").write_text(JOURNEYS)
    config = load(tmp_path / "slowatch.yaml", env={})
    text = render_rules(config)
    assert "exact only when one slowatch\n# instance probes every member's endpoints" in text
    assert "Here: shop/path (serial)." in text and "shop/journey (weighted)" not in text
    rules = tmp_path / "rules.yml"
    rules.write_text(text)
    journey_1h = 'slowatch_slo:burn_rate:ratio{consumer="shop",slo="journey",window="1h"}'
    journey_labels = '{consumer="shop",job="slowatch",slo="journey",window="1h"}'
    case = {
        "name": "weighted journey from its members",
        "interval": "1m",
        "input_series": counters("shop", "pay", 100, 10) + counters("shop", "cart", 100, 0),
        "promql_expr_test": [
            expect(f"abs({journey_1h} - 1.5) < bool 1e-9", "60m", [{"labels": journey_labels, "value": 1}]),
            expect('slowatch_slo:burn_rate:ratio{slo="path"}', "60m", []),
        ],
    }
    tests = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [case]}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False, width=1000))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert promtool("check", "rules", str(rules)).returncode == 0

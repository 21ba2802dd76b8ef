"""SLO alerts resolve when slowatch's do: after their condition has been false for `resolve_after`.

20 of 100 probes a minute fail for an hour (a 20x burn: the 1h/5m page tier fires), then none do. The
5m window is clean a few minutes later; both slowatch and the generated rules keep paging for
`resolve_after` (10m) more, so both still page at 70m and neither at 80m.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
import yaml

from slowatch.alerting.events import burn_key
from slowatch.config.schema import Config
from slowatch.generate.prometheus import render_rules
from tests.generate.conftest import binary
from tests.generate.parity import alert_sample, promtool_check, shop_config, slowatch_firing

MINUTES = [(100, 20)] * 60 + [(100, 0)] * 30
PAGE_TIER = [{"severity": "page", "long": "1h", "short": "5m", "budget_percent": 2}]
EXPECT = {60: True, 70: True, 80: False}  # minute -> paging


def config(tmp_path: Path) -> Config:
    return shop_config(tmp_path, burn_tiers=PAGE_TIER, resolve_after="10m")


async def test_slowatch_holds_a_burn_alert_for_resolve_after(tmp_path: Path) -> None:
    start = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()
    firing = await slowatch_firing(config(tmp_path), start, MINUTES)
    assert {m: burn_key("shop", "avail", "page") in firing[m - 1] for m in EXPECT} == EXPECT


@pytest.mark.prometheus
def test_the_generated_burn_alert_is_held_as_long(tmp_path: Path) -> None:
    page = alert_sample("SlowatchErrorBudgetBurn", severity="page", kind="burn_rate")
    expr = 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing"}'
    checks = [{"expr": expr, "eval_time": f"{m}m", "exp_samples": [page] if on else []} for m, on in EXPECT.items()]
    promtool_check(tmp_path, config(tmp_path), {"a 20x burn for an hour, then none": (MINUTES, checks)})


@pytest.mark.prometheus
def test_the_generated_endpoint_down_alert_resolves_at_the_success_threshold(tmp_path: Path) -> None:
    """One probe a minute, failure_threshold 2, success_threshold 3: failures at 2m..5m, successes from 6m.
    slowatch fires at the 2nd failure (3m) and resolves at the 3rd success (8m); so must the rule."""
    cfg = Config.model_validate({
        "server": {"database": str(tmp_path / "slo.db")},
        "endpoints": [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/", "interval": "1m",
                       "alerts": {"failure_threshold": 2, "success_threshold": 3}}],
    })  # fmt: skip
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(cfg))
    down = {"labels": 'ALERTS{alertname="SlowatchEndpointDown",alertstate="firing",endpoint="api",severity="page",'
            'kind="endpoint_down",job="slowatch"}', "value": 1}  # fmt: skip
    expr = 'ALERTS{alertname="SlowatchEndpointDown",alertstate="firing"}'
    expect = {2: False, 3: True, 5: True, 6: True, 7: True, 8: False, 10: False}
    case = {
        "name": "down at 2m..5m",
        "interval": "1m",
        "input_series": [{"series": 'slowatch_probe_success{endpoint="api",instance="a",job="slowatch"}',
                          "values": "1 1 0 0 0 0 1 1 1 1 1 1"}],
        "promql_expr_test": [{"expr": expr, "eval_time": f"{m}m", "exp_samples": [down] if on else []}
                             for m, on in expect.items()],
    }  # fmt: skip
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [case]}))
    proc = subprocess.run([binary("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
